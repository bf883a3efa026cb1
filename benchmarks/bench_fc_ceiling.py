"""How far can INT8 go for vit_small/16 at 224 on this CPU? The ceiling set by its own matrix shapes.

The bench issues ask OpenVINO INT8 for >= 40% of the measured INT8 peak and >= 1.6x over the best
non-INT8 precision (BF16 on AMX). The peak is a chain of large square products; a ViT at batch 1
multiplies [196, 384] rows. This times, in ONE interleaved rotation:
  model int8 / model bf16   the INT8 IR and the FP32 IR under the BF16 hint (bench_quantize's bundles)
  linears int8 / bf16 / fp32  only the model's 48 fully connected layers at its own shapes
                            (profiling.peak.vit_linears_model): the model with attention, norms and
                            GELU made free
  peak int8 / peak bf16     the peak kernels of `jepa-edge bench`
If the linears alone stay under 40% of the INT8 peak, or under 1.6x their BF16 twin, no
choice of layout, hint or fusion in the rest of the model can reach the target on this machine.

    python benchmarks/bench_quantize.py --arch vit_small/16 --img-size 224 --work runs/bq2   # the bundles
    python benchmarks/bench_fc_ceiling.py --bundles runs/bq2/bundles

Writes benchmarks/results/fc_ceiling.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundles", type=Path, default=ROOT / "runs" / "bq2" / "bundles",
                    help="folder with bench_quantize.py's ov-int8 and ov-fp32 bundles of vit_small/16 at 224")
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, help="INFERENCE_NUM_THREADS for everything (default: OpenVINO's)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fc_ceiling.json")
    args = ap.parse_args()

    import openvino as ov

    from jepa_edge.models.config import EncoderConfig
    from jepa_edge.models.flops import encoder_macs
    from jepa_edge.profiling.bench import peak_runners
    from jepa_edge.profiling.peak import measure_peak, vit_linears_model
    from jepa_edge.profiling.timer import TimingConfig, openvino_runner, time_interleaved
    from jepa_edge.inference.manifest import read_manifest

    xml = {p: args.bundles / f"ov-{p}" / "model.xml" for p in ("int8", "fp32")}
    missing = [str(x) for x in xml.values() if not x.is_file()]
    if missing:
        ap.error(f"missing {missing}: run bench_quantize.py --arch vit_small/16 --img-size 224 --work "
                 f"{args.bundles.parent} first")
    cfg = EncoderConfig.from_dict(read_manifest(args.bundles / "ov-int8").model["config"])  # verifies the hashes
    t, h, w = cfg.grid
    tokens, dim, mlp, blocks = t * h * w, cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio), cfg.depth
    model_ops = 2 * encoder_macs(cfg)

    core = ov.Core()
    base = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if args.threads:
        base["INFERENCE_NUM_THREADS"] = args.threads
    hint = {"int8": {}, "bf16": {"INFERENCE_PRECISION_HINT": "bf16"}, "fp32": {"INFERENCE_PRECISION_HINT": "f32"}}
    pixels = np.random.default_rng(0).standard_normal((1, 3, cfg.img_size, cfg.img_size)).astype(np.float32)
    rows = np.random.default_rng(1).uniform(-1, 1, (tokens, dim)).astype(np.float32)
    runners, ops = {}, {}
    for p, src in (("int8", "int8"), ("bf16", "fp32")):
        runners[f"model {p}"] = openvino_runner(core.compile_model(str(xml[src]), "CPU", {**base, **hint[p]}), [pixels])
        ops[f"model {p}"] = model_ops
    for p in ("int8", "bf16", "fp32"):
        model, n = vit_linears_model(tokens, dim, mlp, blocks, "int8" if p == "int8" else "fp32")
        runners[f"linears {p}"] = openvino_runner(core.compile_model(model, "CPU", {**base, **hint[p]}), [rows])
        ops[f"linears {p}"] = n
    peaks = measure_peak(("int8", "bf16"), args.threads, seconds=0.3, cuda=False)
    for p, (runner, n) in peak_runners(peaks, ("int8", "bf16"), args.threads).items():
        runners[f"peak {p}"], ops[f"peak {p}"] = runner, n

    print(f"timing {len(runners)} configurations interleaved, {args.iters} rounds "
          f"(linears: {blocks} blocks x 4 on [{tokens}, {dim}], mlp {mlp})", flush=True)
    outcome = time_interleaved(runners, TimingConfig(args.warmup, args.iters, keep_samples=False))
    res = {}
    for name, o in outcome.items():
        if o.stats is None:
            res[name] = {"error": o.error}
            continue
        res[name] = {"p50_ms": round(o.stats.p50_ms, 3), "p99_ms": round(o.stats.p99_ms, 3), "ops": ops[name],
                     "gops": round(ops[name] / (o.stats.p50_ms / 1e3) / 1e9, 1)}
    peak8 = res["peak int8"]["gops"]
    for r in res.values():
        if "gops" in r:
            r["pct_int8_peak"] = round(100 * r["gops"] / peak8, 1)

    def ratio(a, b):
        return round(res[b]["p50_ms"] / res[a]["p50_ms"], 3)
    summary = {
        "model_int8_pct_of_int8_peak": res["model int8"]["pct_int8_peak"],
        "linears_int8_pct_of_int8_peak": res["linears int8"]["pct_int8_peak"],
        "model_int8_vs_bf16": ratio("model int8", "model bf16"),
        "linears_int8_vs_bf16": ratio("linears int8", "linears bf16"),
        "share_of_model_int8_time_in_linears": round(res["linears int8"]["p50_ms"] / res["model int8"]["p50_ms"], 3),
    }
    print(f"{'configuration':16s} {'p50 ms':>8s} {'p99 ms':>8s} {'GOP/s':>8s} {'% int8 peak':>12s}")
    for name, r in res.items():
        if "gops" in r:
            print(f"{name:16s} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['gops']:8.0f} {r['pct_int8_peak']:12.1f}")
        else:
            print(f"{name:16s} error: {r['error']}")
    for k, v in summary.items():
        print(f"{k}: {v}")
    atomic_write_json(args.out, {
        "what": "INT8 ceiling of vit_small/16@224 on this CPU: the model vs its own linear layers vs the peak kernels, one rotation",
        "command": "python " + " ".join(sys.argv), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": describe(), "load_average": os.getloadavg(), "iters": args.iters, "threads": args.threads,
        "shapes": {"tokens": tokens, "dim": dim, "mlp": mlp, "blocks": blocks},
        "peaks_swept": {p: pk.to_dict() for p, pk in peaks.items()}, "rows": res, "summary": summary,
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
