"""Every backend x precision side by side on this CPU, with the precision that actually executed and
the choice `jepa-edge export --precision auto` makes (issue 27).

    python benchmarks/bench_precision.py                  # the shipped reference student + vit_small/16@224
    python benchmarks/bench_precision.py --student runs/dq/student/model --calib runs/dq/calibration/encoder

One interleaved `run_bench` per model (torch fp32/bf16, ONNX Runtime fp32/int8, OpenVINO
fp32/bf16/fp16/int8/int8w): p50/p99, bundle size and the RSS that loading + warming each one added,
the executed precision read from the compiled model (a request that fell back is labelled
`bf16 → fp32 (...)`), then `profiling.choose.choose` on the rows `--precision auto` would measure
here. Writes benchmarks/results/precision_<isa>.json (isa: `device_info.isa_tag()`, e.g.
avx512_vnni_bf16, avx2, amx). vit_small is random-init (latency does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MATRIX = {"torch": ("fp32", "bf16"), "onnxruntime": ("fp32", "int8"),
          "openvino": ("fp32", "bf16", "fp16", "int8", "int8w")}


def bench_model(name: str, model_dir: Path, calib: str | None, args) -> dict:
    from jepa_edge.profiling import choose as C
    from jepa_edge.profiling.bench import BenchConfig, model_info_from_dir, run_bench
    from jepa_edge.profiling.results import result_table, save_result
    from jepa_edge.profiling.timer import TimingConfig
    from jepa_edge.utils.device_info import isa_features, openvino_capabilities
    from rich.console import Console

    precisions = tuple(dict.fromkeys(p for ps in MATRIX.values() for p in ps))
    cfg = BenchConfig(backends=tuple(MATRIX), precisions=precisions, threads=args.threads,
                      timing=TimingConfig(args.warmup, args.iters), calib=calib, peak=not args.no_peak,
                      peak_seconds=0.2)
    info = model_info_from_dir(model_dir)
    info["name"] = name
    res = run_bench(model_dir, cfg, model_info=info, log=lambda s: print(f"  [{name}] {s}", flush=True))
    res.rows = [r for r in res.rows if r.precision in MATRIX.get(r.backend, ())]  # drop the unsupported cells
    Console(width=160).print(result_table(res))
    save_result(res, RESULTS / "bench_runs" / f"precision_{re.sub(r'[^A-Za-z0-9@._-]+', '_', name).strip('_')}.json")
    isa, caps = isa_features(), openvino_capabilities()
    pairs = set(C.candidates(("onnxruntime", "openvino"), isa, caps))
    try:
        choice = C.choose([r for r in res.rows if (r.backend, r.precision) in pairs], isa, caps).to_dict()
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        choice = {"error": str(e)}
    rows = []
    for r in res.rows:
        lat = r.latency
        rows.append({"backend": r.backend, "precision_requested": r.precision, "label": r.label,
                     "precision_executed": (r.executed or {}).get("executed"),
                     "executed_source": (r.executed or {}).get("source"), "executed_ops": (r.executed or {}).get("ops"),
                     "status": r.status, "reason": r.reason,
                     "p50_ms": lat and round(lat.p50_ms, 3), "p99_ms": lat and round(lat.p99_ms, 3),
                     "size_mb": r.size_mb, "mem_mb": r.mem_mb, "cos_mean": r.quality.get("cos_mean"),
                     "pct_peak": r.pct_peak, "auto_candidate": (r.backend, r.precision) in pairs})
    return {"model": info, "rows": rows, "auto": choice, "settings": res.settings,
            "peak": {k: v.to_dict() for k, v in res.peak.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="reference:tabletop-reach",
                    help="a trained student's model dir, or reference:NAME (default %(default)s)")
    ap.add_argument("--calib", default="", help="its calibration set (held-out split; a reference's: its own)")
    ap.add_argument("--no-vit-small", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--no-peak", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    from jepa_edge.chain.reference import reference_layout
    from jepa_edge.models.model_dir import resolve_model_path
    from jepa_edge.profiling.bench import default_cache_dir, random_model_dir
    from jepa_edge.utils.resources import REFERENCE_PREFIX
    from jepa_edge.utils.device_info import describe, isa_tag

    t0 = time.time()
    load0 = os.getloadavg()
    models = {}
    student, calib = resolve_model_path(args.student), args.calib or None
    if calib is None and args.student.startswith(REFERENCE_PREFIX):  # the calibration its INT8 bundles were built from
        calib = str(reference_layout(args.student).calib("encoder"))
    if (student / "config.json").is_file():
        name = f"student ({args.student})"
        models[name] = bench_model(name, student, calib, args)
    else:
        print(f"no student at {student}: give --student MODEL_DIR", file=sys.stderr)
    if not args.no_vit_small:
        vs = random_model_dir("vit_small/16", 224, default_cache_dir())
        models["vit_small/16@224"] = bench_model("vit_small/16@224", vs, None, args)
    out = args.out or RESULTS / f"precision_{isa_tag()}.json"
    doc = {"what": "every backend x precision, side by side (one interleaved run per model), the precision that "
                   "executed (read from the compiled model) and `--precision auto`'s choice",
           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "isa_tag": isa_tag(), "device": describe(), "loadavg_before": [round(x, 2) for x in load0],
           "loadavg_after": [round(x, 2) for x in os.getloadavg()], "seconds": round(time.time() - t0, 1),
           "auto_rule": "fastest measured p50 among rows that ran the precision asked for and passed the gate; "
                        "the ISA prior (INT8 pays with VNNI/AMX, BF16 with AVX512-BF16/AMX) only breaks near-ties "
                        "(within 5%) (jepa_edge/profiling/choose.py)",
           "models": models}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    for name, m in models.items():
        print(f"{name}: {m['auto'].get('line', m['auto'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
