"""Where does OpenVINO INT8 ViT time go, and which lever the package controls moves it?

vit_small/16 at 224 (seeded random init), INT8 IR variants x compile settings, all timed in ONE
interleaved rotation together with the INT8 matrix-product peak kernel, so every row's
"% of peak" = model ops / p50 / peak p50-throughput is measured under the same conditions.

IR variants (built with the export helper's own functions, cached; see IR_VARIANTS):
  export       what `jepa-edge export --target openvino --precision int8` produces today
               (dynamo ONNX opset 18 -> OpenVINO, static shape -> NNCF transformer, mixed preset)
  perf-preset  NNCF preset "performance": symmetric int8 activations (no zero-point math)
  no-sq        SmoothQuant off
  float-attention(-perf)  attention (ScaledDotProductAttention) kept in float by NNCF ignored scope
  torch-direct(-fap)      ov.convert_model straight from torch instead of the ONNX file
Compile settings (on the export IR): threads 1, CPU pinning off, TBB static partitioner.

    python benchmarks/bench_int8_levers.py [--iters 100] [--variants export,perf-preset] [--profile]

Writes benchmarks/results/bench_int8_levers.json (+ per-type op profiles with --profile).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

# name -> how the IR is made: route (the export's ONNX path, or ov.convert_model straight from
# torch), NNCF preset, SmoothQuant on/off, attention (OpenVINO's ScaledDotProductAttention) left in float
IR_VARIANTS = {
    "export": dict(route="onnx", preset="mixed", sq=True, float_attention=False),
    "perf-preset": dict(route="onnx", preset="performance", sq=True, float_attention=False),
    "no-sq": dict(route="onnx", preset="mixed", sq=False, float_attention=False),
    "float-attention": dict(route="onnx", preset="mixed", sq=True, float_attention=True),
    "float-attention-perf": dict(route="onnx", preset="performance", sq=True, float_attention=True),
    "torch-direct": dict(route="torch", preset="mixed", sq=True, float_attention=False),
    "torch-direct-fap": dict(route="torch", preset="performance", sq=True, float_attention=True),
}


def attention_ops(model) -> list[str]:
    """Names of the attention ops NNCF would quantize: OpenVINO ScaledDotProductAttention nodes (the
    frontends re-fuse a decomposed SDPA) and MatMuls whose inputs are both activations."""
    def is_const(port):
        node = port.get_source_output().get_node()
        while node.get_type_name() in ("Convert", "Reshape", "Transpose") and node.get_input_size():
            node = node.input(0).get_source_output().get_node()
        return node.get_type_name() == "Constant"

    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() == "ScaledDotProductAttention"
            or op.get_type_name() == "MatMul" and not any(is_const(op.input(i)) for i in range(2))]


COMPILE_VARIANTS = {  # name -> extra compile config, applied to the export IR
    "threads=1": {"INFERENCE_NUM_THREADS": 1},
    "no-pinning": {"ENABLE_CPU_PINNING": False},
    "tbb-static": {"TBB_PARTITIONER": "STATIC"},
}


def build_ir(name: str, model_dir: Path, calib: str, cache: Path, subset: int) -> Path:
    """One INT8 IR per variant, cached by name under the model's cache folder."""
    import openvino as ov

    out = cache / f"{name}-{subset}" / "model.xml"
    if out.is_file():
        return out
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.quant import openvino_export as ovx
    from jepa_edge.quant.calibration import load_calibration_set
    from jepa_edge.quant.onnx_export import encoder_io, export_onnx

    enc = load_model_dir(model_dir).encoder.eval()
    io = encoder_io(enc.cfg)
    static = {io.inputs[0].name: [1, *io.inputs[0].shape[1:]]}
    v = IR_VARIANTS[name]
    if v["route"] == "torch":
        import torch

        fp32 = ov.convert_model(enc, example_input=torch.zeros(static["pixels"]), input=[static["pixels"]])
        fp32.inputs[0].set_names({"pixels"})
    else:
        onnx_path = out.parent / "fp32.onnx"
        export_onnx(enc, io, onnx_path, dynamic_batch=True)
        fp32 = ovx.convert(onnx_path, static)
    scheme = ovx.NNCFScheme(subset_size=subset, preset=v["preset"], smooth_quant_alpha=None if v["sq"] else -1.0,
                            ignored_names=tuple(attention_ops(fp32)) if v["float_attention"] else ())
    q = ovx.quantize(fp32, load_calibration_set(calib), scheme)
    ovx.save_ir(q, out, "int8")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="vit_small/16")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--subset", type=int, default=64, help="NNCF calibration samples per IR (ranges do not change speed)")
    ap.add_argument("--variants", default=",".join([*IR_VARIANTS, *COMPILE_VARIANTS]))
    ap.add_argument("--profile", action="store_true", help="also record a per-type op profile of each IR")
    ap.add_argument("--threads", type=int, help="INFERENCE_NUM_THREADS for every configuration and the peak")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu (with --threads 1): CPU ms per run, for A/B while other jobs load the machine")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_int8_levers.json")
    args = ap.parse_args()

    import openvino as ov

    from jepa_edge.models.config import EncoderConfig
    from jepa_edge.models.flops import encoder_macs
    from jepa_edge.models.model_dir import read_config
    from jepa_edge.profiling.bench import default_cache_dir, default_calibration, model_info_from_dir, random_model_dir
    from jepa_edge.profiling.bench import peak_runners
    from jepa_edge.profiling.peak import measure_peak
    from jepa_edge.profiling.profile import profile_openvino
    from jepa_edge.profiling.timer import TimingConfig, openvino_runner, time_interleaved

    cache = default_cache_dir()
    model_dir = random_model_dir(args.arch, args.img_size, cache)
    cfg = EncoderConfig.from_dict(read_config(model_dir)["encoder"])
    ops = 2 * encoder_macs(cfg)
    calib = default_calibration(model_info_from_dir(model_dir), cache)
    wanted = [v for v in args.variants.split(",") if v]
    irs = {}
    for name in [v for v in wanted if v in IR_VARIANTS] + (["export"] if set(wanted) & set(COMPILE_VARIANTS) else []):
        if name not in irs:
            t0 = time.perf_counter()
            irs[name] = build_ir(name, model_dir, calib, cache / "levers" / model_dir.name, args.subset)
            print(f"IR {name}: {irs[name]} ({time.perf_counter() - t0:.0f} s)", flush=True)

    core = ov.Core()
    x = np.random.default_rng(0).standard_normal((1, 3, args.img_size, args.img_size)).astype(np.float32)
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu needs --threads 1")
    base = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}  # what OpenVINOSession sets for int8
    if args.threads:
        base["INFERENCE_NUM_THREADS"] = args.threads
    configs = {n: (irs[n], base) for n in wanted if n in IR_VARIANTS}
    configs.update({n: (irs["export"], {**base, **COMPILE_VARIANTS[n]}) for n in wanted if n in COMPILE_VARIANTS})
    runners = {n: openvino_runner(core.compile_model(str(xml), "CPU", c), [x]) for n, (xml, c) in configs.items()}
    peaks = measure_peak(("int8",), args.threads, seconds=0.3, cuda=False)
    runner, peak_ops = peak_runners(peaks, ("int8",), args.threads)["int8"]
    runners["peak/int8"] = runner
    print(f"timing {len(runners)} configurations interleaved, {args.iters} rounds", flush=True)
    outcome = time_interleaved(runners, TimingConfig(args.warmup, args.iters, keep_samples=False, clock=args.clock))
    pst = outcome["peak/int8"].stats
    peak_gops = peak_ops / (pst.p50_ms / 1e3) / 1e9
    rows = {}
    for n, (xml, c) in configs.items():
        st = outcome[n].stats
        if st is None:
            rows[n] = {"error": outcome[n].error}
            continue
        gops = ops / (st.p50_ms / 1e3) / 1e9
        rows[n] = {"ir": str(xml), "config": {k: str(v) for k, v in c.items()}, "p50_ms": st.p50_ms, "p99_ms": st.p99_ms,
                   "gops": gops, "pct_peak": 100 * gops / peak_gops}
        if args.profile and n in IR_VARIANTS:
            prof = profile_openvino(str(xml), [x], runs=20, warmup=3, config={k: v for k, v in c.items() if k != "PERFORMANCE_HINT"})
            rows[n]["profile_by_type"] = [{"type": o.op_type, "kernel": o.kernel, "ms": round(o.ms, 3), "n": o.calls}
                                          for o in prof.by_type()[:8]]
    for n, r in rows.items():
        if "p50_ms" in r:
            print(f"{n:14s} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['gops']:7.0f} GOP/s  {r['pct_peak']:5.1f}% of peak")
    print(f"peak int8 (same rotation): {peak_gops:.0f} GOP/s ({peaks['int8'].kernel}, {peaks['int8'].shape})")
    load = None
    try:
        import os

        load = os.getloadavg()
    except OSError:
        pass
    atomic_write_json(args.out, {
        "what": "INT8 OpenVINO levers for a ViT: IR variants and compile settings, interleaved with the peak kernel",
        "command": "python " + " ".join(sys.argv), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": describe(), "model": {"arch": args.arch, "img_size": args.img_size, "ops": ops},
        "iters": args.iters, "warmup": args.warmup, "threads": args.threads, "clock": args.clock, "loadavg_after": load,
        "peak_int8": {"gops": peak_gops, "p50_ms": pst.p50_ms, "kernel": peaks["int8"].kernel, "shape": peaks["int8"].shape,
                      "sweep": peaks["int8"].tried},
        "rows": rows,
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
