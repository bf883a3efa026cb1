"""OpenVINO's fused-attention path against the package's ONNX path, side by side on this CPU:

    python benchmarks/bench_sdpa.py [--threads 2] [--iters 60] [--out benchmarks/results/sdpa_<isa>.json]

vit_small/16@224 (random init) is converted two ways: (1) as `jepa-edge export` does, torch -> ONNX
(dynamo, opset 18) -> OpenVINO, where attention arrives as MatMul + Softmax; (2) directly with
`openvino.convert_model(torch_module)`, where the CPU plugin sees one ScaledDotProductAttention op
per block. Each is run in FP32 and BF16 (runtime hint) and INT8 (NNCF, transformer preset, 32 random
calibration images: a speed comparison, not an accuracy one), all six timed round-robin in one run.
The JSON records the op counts of each IR, the layer types the CPU plugin compiled, the executed
precision, the INT8 vs BF16 ratio of each path, and the CPU's ISA.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jepa_edge.utils.device_info import describe, isa_tag
from jepa_edge.utils.files import atomic_write_json


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    import nncf
    import openvino as ov
    import torch

    from jepa_edge.inference.precision import from_openvino
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.profiling.timer import TimingConfig, time_interleaved
    from jepa_edge.quant.onnx_export import encoder_io, export_onnx

    t0, load_before = time.time(), os.getloadavg()
    torch.manual_seed(0)
    encoder = build_encoder("vit_small", img_size=224).eval()
    shape = [1, 3, 224, 224]
    x = torch.randn(*shape)
    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(encoder, encoder_io(encoder.cfg), Path(tmp) / "vit_small.onnx")
        via_onnx = core.read_model(str(onnx_path))
        via_onnx.reshape({"pixels": shape})
        direct = ov.convert_model(encoder, example_input=x, input=shape)
        rng = np.random.default_rng(0)
        calib = nncf.Dataset([rng.standard_normal(shape).astype(np.float32) for _ in range(32)])
        int8 = {path: nncf.quantize(m, calib, model_type=nncf.ModelType.TRANSFORMER,
                                    preset=nncf.QuantizationPreset.MIXED, subset_size=32)
                for path, m in (("onnx", via_onnx), ("direct", direct))}
    base = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
            "ENABLE_CPU_PINNING": False}
    rows, runners = {}, {}
    for path, fp32_model in (("onnx", via_onnx), ("direct", direct)):
        for precision, model, hint in (("fp32", fp32_model, "f32"), ("bf16", fp32_model, "bf16"),
                                       ("int8", int8[path], None)):
            compiled = core.compile_model(model, "CPU", {**base, **({"INFERENCE_PRECISION_HINT": hint} if hint else {})})
            ir_ops = collections.Counter(op.get_type_name() for op in model.get_ordered_ops())
            runtime = collections.Counter(op.get_rt_info()["layerType"].astype(str)
                                          for op in compiled.get_runtime_model().get_ordered_ops())
            key = f"{path}-{precision}"
            rows[key] = {"path": path, "precision": precision, "executed": from_openvino(compiled, precision).label,
                         "ir_ops": {k: ir_ops[k] for k in ("ScaledDotProductAttention", "MatMul", "Softmax", "FakeQuantize")},
                         "runtime_layers": dict(runtime.most_common(10))}
            request, feed = compiled.create_infer_request(), {0: x.numpy()}
            runners[key] = lambda request=request, feed=feed: request.infer(feed)
    timing = time_interleaved(runners, TimingConfig(warmup=5, iters=args.iters, keep_samples=False))
    for key, outcome in timing.items():
        rows[key]["p50_ms"] = round(outcome.stats.p50_ms, 2) if outcome.stats else None
        rows[key]["error"] = outcome.error
        print(f"{key:14s} {rows[key]['executed']:12s} p50 {rows[key]['p50_ms']} ms  ir {rows[key]['ir_ops']}", flush=True)
    ratios = {path: round(rows[f"{path}-bf16"]["p50_ms"] / rows[f"{path}-int8"]["p50_ms"], 3)
              for path in ("onnx", "direct") if rows[f"{path}-bf16"]["p50_ms"] and rows[f"{path}-int8"]["p50_ms"]}
    print("INT8 vs BF16 speed-up:", ratios)
    result = {"what": "vit_small/16@224 through ONNX vs openvino.convert_model (SDPA ops), FP32/BF16/INT8, interleaved",
              "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "machine": describe(),
              "isa": isa_tag(), "threads": args.threads, "iters": args.iters, "rows": rows,
              "int8_vs_bf16": ratios, "earlier_xeon_int8_vs_bf16": 1.46,
              "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "seconds": round(time.time() - t0, 1)}
    out = args.out or f"benchmarks/results/sdpa_{isa_tag()}.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
