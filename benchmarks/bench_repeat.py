"""Do repeated runs of `jepa-edge bench` agree? Runs the same bench N times back to back (each a
whole CLI run: exports come from the cache, peak measured anew) and reports, per row, the p50 of
every run and the spread (max / min - 1). Target (bench issue): within 10% on an idle machine.

    python benchmarks/bench_repeat.py                       # vit_small/16@224, openvino fp32/bf16/int8, 3 runs
    python benchmarks/bench_repeat.py --runs 5 --backends openvino,onnxruntime --precisions fp32,int8

Writes benchmarks/results/bench.json (each run's own JSON is kept next to it under bench_runs/).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--arch", default="vit_small/16")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--backends", default="openvino")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench.json")
    args = ap.parse_args()

    run_dir = args.out.parent / "bench_runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    bench = [sys.executable, "-m", "jepa_edge", "bench", "--arch", args.arch, "--img-size", str(args.img_size),
             "--backends", args.backends, "--precisions", args.precisions, "--iters", str(args.iters)]
    runs = []
    for k in range(args.runs):
        out = run_dir / f"run{k + 1}.json"
        subprocess.run([*bench, "--json", str(out)], check=True)
        d = json.loads(out.read_text())
        runs.append({(r["backend"], r["precision"]): r for r in d["rows"] if r["status"] == "ok"})
        # keep the committed copies small: the per-sample latencies stay out
        for r in d["rows"]:
            if r.get("latency"):
                r["latency"].pop("samples_ms", None)
        atomic_write_json(out, d)

    rows = []
    for key in runs[0]:
        p50 = [r[key]["latency"]["p50_ms"] for r in runs if key in r]
        pct = [r[key].get("pct_peak") for r in runs if key in r]
        spread = max(p50) / min(p50) - 1
        rows.append({"backend": key[0], "precision": key[1], "p50_ms": [round(x, 3) for x in p50],
                     "pct_peak": pct, "spread": round(spread, 4), "within_10pct": spread <= 0.10})
        print(f"{key[0]:12s} {key[1]:5s} p50 {' / '.join(f'{x:.2f}' for x in p50)} ms  spread {100 * spread:.1f}%  "
              f"% of peak {pct}")
    result = {"what": "p50 of repeated `jepa-edge bench` runs, back to back", "command": "python " + " ".join(sys.argv),
              "bench_command": " ".join(bench[2:]), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": describe(), "load_average": os.getloadavg(), "runs": args.runs, "rows": rows,
              "all_within_10pct": all(r["within_10pct"] for r in rows)}
    atomic_write_json(args.out, result)
    print(f"all within 10%: {result['all_within_10pct']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
