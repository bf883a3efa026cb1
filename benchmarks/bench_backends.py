"""Backends side by side: torch / ONNX Runtime / OpenVINO x fp32 / bf16 / int8, one interleaved run
per model, with the measured matrix-product peak in the same rotation.

    python benchmarks/bench_backends.py                           # vit_tiny/16 and vit_small/16 at 224
    python benchmarks/bench_backends.py --model-dir runs/student --calib calibration/world --iters 300
    python benchmarks/bench_backends.py --repeat 3                # run-to-run agreement at p50

Without --model-dir the encoders are seeded random-init (latency does not depend on the weights;
the quality column then only says the export is faithful). Writes, per model,
benchmarks/results/bench_backends_<model>.json plus a Pareto and a histogram PNG next to it; with
--repeat N the bench runs N times in separate processes and bench_backends_repeat_<model>.json
records the spread of p50 per row (target: within 10% on an idle machine).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def bench_cmd(source: list[str], args, out: Path, plots: bool) -> list[str]:
    cmd = [sys.executable, "-m", "jepa_edge", "bench", *source, "--backends", args.backends,
           "--precisions", args.precisions, "--iters", str(args.iters), "--warmup", str(args.warmup), "--json", str(out)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.calib:
        cmd += ["--calib", args.calib]
    if plots:
        cmd += ["--plot", str(out.with_suffix(".pareto.png")), "--hist", str(out.with_suffix(".hist.png"))]
    return cmd


def spread(paths: list[Path]) -> dict:
    """Per row: the p50 of each run and (max - min) / median."""
    runs = [json.loads(p.read_text()) for p in paths]
    rows = {}
    for r in runs[0]["rows"]:
        key = f"{r['backend']}/{r['precision']}"
        p50s = [next((x["latency"]["p50_ms"] for x in run["rows"]
                      if f"{x['backend']}/{x['precision']}" == key and x.get("latency")), None) for run in runs]
        if all(v is not None for v in p50s):
            med = sorted(p50s)[len(p50s) // 2]
            rows[key] = {"p50_ms": p50s, "spread": (max(p50s) - min(p50s)) / med}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", help="arch(s) to bench (default: vit_tiny/16, vit_small/16)")
    ap.add_argument("--model-dir", help="bench this model dir instead of random-init archs")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--backends", default="torch,onnxruntime,openvino")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--calib")
    ap.add_argument("--repeat", type=int, default=1, help="run the bench this many times (separate processes)")
    args = ap.parse_args()

    sources = [([args.model_dir], Path(args.model_dir).name)] if args.model_dir else \
        [(["--arch", a, "--img-size", str(args.img_size)], f"{a.replace('/', '-')}-{args.img_size}")
         for a in (args.arch or ["vit_tiny/16", "vit_small/16"])]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for source, name in sources:
        outs = []
        for i in range(args.repeat):
            out = RESULTS / (f"bench_backends_{name}.json" if i == 0 else f"bench_backends_{name}.run{i + 1}.json")
            cmd = bench_cmd(source, args, out, plots=(i == 0))
            print("$", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=False, cwd=ROOT)
            if out.is_file():
                outs.append(out)
        if args.repeat > 1 and len(outs) > 1:
            rows = spread(outs)
            rep = {"command": "python " + " ".join(sys.argv), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "runs": [str(p.relative_to(ROOT)) for p in outs], "rows": rows,
                   "max_spread": max((r["spread"] for r in rows.values()), default=None)}
            (RESULTS / f"bench_backends_repeat_{name}.json").write_text(json.dumps(rep, indent=2) + "\n")
            for key, r in rows.items():
                print(f"{key:24s} p50 {' '.join(f'{v:.2f}' for v in r['p50_ms'])} ms  spread {100 * r['spread']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
