"""RoPE pair rotation, as exported: unbind + stack (before) vs one Gather + sign (now), measured on
the INT8 OpenVINO AC predictor at the planner's batch, interleaved in one run.

The stack exports as a Concat on a size-1 innermost axis, which OpenVINO's CPU plugin runs with
its reference kernel. Both variants go through the same `jepa-edge export` pipeline and gate.

    python benchmarks/bench_rope.py --model runs/distill_bench/student_ac/model --calib runs/distill_bench/calib/ac

Writes benchmarks/results/rope.json.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.models import rope  # noqa: E402
from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402


def rotate_pairs_stack(x: torch.Tensor) -> torch.Tensor:
    """The previous formulation (same numbers)."""
    x0, x1 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((-x1, x0), dim=-1).flatten(-2)


VARIANTS = {"unbind+stack": rotate_pairs_stack, "gather+sign": rope.rotate_pairs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model dir with an ac_predictor")
    ap.add_argument("--calib", required=True, help="AC-predictor calibration set (jepa-edge calibrate --part ac_predictor)")
    ap.add_argument("--batch", type=int, default=256, help="planner samples per predictor call")
    ap.add_argument("--threads", type=int, default=1, help="the loop gives each session one thread")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rope.json")
    ap.add_argument("--export-only", nargs=2, metavar=("VARIANT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    from jepa_edge.profiling.timer import TimingConfig, session_runner, time_interleaved
    from jepa_edge.quant.calibration import load_calibration_set
    from jepa_edge.quant.pipeline import export
    from jepa_edge.loop.assemble import load_session

    if args.export_only:  # child process: one variant, so no tracing state crosses variants
        name, out = args.export_only
        with mock.patch.object(rope, "rotate_pairs", VARIANTS[name]):
            export(args.model, "openvino-cpu", "int8", out=out, calib=load_calibration_set(args.calib),
                   part="ac_predictor", frames=1, overwrite=True, log=None)
        return 0

    from jepa_edge.inference.manifest import read_manifest

    work = Path(tempfile.mkdtemp(prefix="bench-rope-"))
    runners, gates = {}, {}
    for name in VARIANTS:
        # In one process the second export reused the first one's traced rotation (both came out
        # with the stack), hence a fresh interpreter per variant.
        subprocess.run([sys.executable, __file__, "--model", args.model, "--calib", args.calib,
                        "--export-only", name, str(work / name)], check=True)
        gates[name] = read_manifest(work / name).gate
        s = load_session(work / name, "ac_predictor", threads=args.threads, batch=args.batch)
        feeds = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(i.dtype) for i in s.inputs}
        runners[name] = session_runner(s, feeds)
    out = time_interleaved(runners, TimingConfig(warmup=3, iters=args.iters, keep_samples=False))
    import openvino as ov

    ops = {n: [op.get_type_name() for op in ov.Core().read_model(str(work / n / "model.xml")).get_ops()] for n in VARIANTS}
    rows = {n: {"p50_ms": round(o.stats.p50_ms, 2), "p99_ms": round(o.stats.p99_ms, 2),
                "concat_ops": ops[n].count("Concat"), "gather_ops": ops[n].count("Gather"),
                "gate_cos_mean": (gates[n] or {}).get("cos_mean")} for n, o in out.items()}
    speedup = rows["unbind+stack"]["p50_ms"] / rows["gather+sign"]["p50_ms"]
    for n, r in rows.items():
        print(f"{n:14s} p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms")
    print(f"speed-up {speedup:.2f}x -> {args.out}")
    atomic_write_json(args.out, {
        "what": "INT8 OpenVINO AC predictor, RoPE rotation formulations, interleaved", "command": "python " + " ".join(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": describe(), "model": args.model,
        "batch": args.batch, "threads": args.threads, "iters": args.iters, "rows": rows, "speedup_p50": round(speedup, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
