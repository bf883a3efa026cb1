"""INT8 side by side on this CPU -> benchmarks/results/quantize.json.

    python benchmarks/bench_quantize.py                      # vit_small/16 at 224, random init
    python benchmarks/bench_quantize.py --model runs/student # a trained student (model dir)
    python benchmarks/bench_quantize.py --quick              # smoke run: few samples, few iterations

Exports the encoder through the same `jepa_edge.quant.export` users call (calibrated on the built-in
world unless --calib is given, gated on its held-out split), loads every bundle back through
`jepa_edge.inference.load`, and times, interleaved round-robin at batch 1 with the same threads:
PyTorch FP32 eager, ONNX Runtime FP32 / INT8, OpenVINO FP32 / BF16 (the plugin's default hint) /
FP16 / INT8. Reports medians and p99, INT8 per-token cosine to FP32 on held-out data, and the
ratios the quantization issue asks for (OpenVINO INT8 >= 1.6x its best non-INT8, >= 4x torch).
Random weights have no outliers and flatter every INT8 result: pass --model for judged numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "quantize.json"


def stats(ms) -> dict:
    a = np.asarray(ms, np.float64)
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p90_ms": round(float(np.percentile(a, 90)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3), "min_ms": round(float(a.min()), 3)}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model dir (the trained student); default: --arch with random init")
    ap.add_argument("--arch", default="vit_small/16")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--calib", help="existing calibration set (name or path); default: record from the world")
    ap.add_argument("--calib-count", type=int, default=300)
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=200, help="timed runs per configuration")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quality-samples", type=int, default=32, help="held-out samples for the cosine columns")
    ap.add_argument("--work", help="keep bundles here (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="time the bundles already in --work/bundles (no re-export)")
    ap.add_argument("--block", type=int, default=10,
                    help="runs per configuration per turn; the first of each block is dropped (cache refill)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--quick", action="store_true", help="smoke run: 32 calibration samples, 10 iterations")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.quick:
        args.calib_count, args.held_out, args.iterations, args.warmup, args.quality_samples = 32, 16, 10, 3, 8
    return args


def prepare_model(args, work: Path) -> tuple[Path, str]:
    if args.model:
        return Path(args.model), "model dir " + str(args.model)
    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    torch.manual_seed(args.seed)
    path = work / "model"
    save_model_dir(path, ModelDir(encoder=build_encoder(args.arch, img_size=args.img_size)))
    return path, f"{args.arch} at {args.img_size}, random init (no trained student given)"


def prepare_calib(args, model_dir: Path, work: Path):
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.quant.calib_sources import encoder_samples
    from jepa_edge.quant.calibration import SmallCalibrationWarning, load_calibration_set, write_calibration_set

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        if args.calib:
            return load_calibration_set(args.calib)
        if args.reuse and (work / "calib").exists():
            return load_calibration_set(work / "calib")
        b = load_model_dir(model_dir)
        n = args.calib_count + args.held_out
        samples = encoder_samples("world", b.encoder_cfg, b.config, n=n, seed=args.seed)
        return write_calibration_set(work / "calib", samples, count=args.calib_count, held_out=args.held_out,
                                     source={"kind": "world", "seed": args.seed}, normalization=b.config.get("normalization"))


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.quant.onnx_export import encoder_io, token_cosine
    from jepa_edge.quant.openvino_export import NNCFScheme
    from jepa_edge.quant.ort_quant import OrtQuantScheme
    from jepa_edge.inference.manifest import read_manifest
    from jepa_edge.quant.pipeline import export
    from jepa_edge.inference import load_bundle
    from jepa_edge.inference.torch_session import TorchSession
    from jepa_edge.utils.device_info import describe
    from jepa_edge.utils.files import atomic_write_json

    torch.set_num_threads(args.threads)
    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="bench-quantize-")
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model_dir, model_desc = prepare_model(args, work)
    calib = prepare_calib(args, model_dir, work)
    print(f"model: {model_desc}; calibration: {calib.count('calib')} + {calib.count('heldout')} held-out ({calib.path})")

    n_cal = calib.count("calib")
    exports = {  # bundle name -> (target, precision)
        "ort-fp32": ("onnxruntime", "fp32"), "ort-int8": ("onnxruntime", "int8"),
        "ov-fp32": ("openvino-cpu", "fp32"), "ov-fp16": ("openvino-cpu", "fp16"), "ov-int8": ("openvino-cpu", "int8"),
    }
    results, bundles = {}, {}
    for name, (target, precision) in exports.items():
        t, path = time.perf_counter(), work / "bundles" / name
        if args.reuse and (path / "manifest.json").exists():
            manifest, how = read_manifest(path), "reused"
            g = manifest.gate
        else:
            res = export(model_dir, target, precision, out=path, calib=calib, overwrite=True, log=None,
                         ort_scheme=OrtQuantScheme(max_samples=n_cal), nncf_scheme=NNCFScheme(subset_size=n_cal))
            manifest, g, how = res.manifest, (res.gate.to_dict() if res.gate else None), "exported"
        bundles[name] = path
        results[name] = {"target": target, "precision": precision, "status": manifest.status, "how": how,
                         "export_s": round(time.perf_counter() - t, 1),
                         "size_mb": round(sum(f["bytes"] for f in manifest.files.values()) / 2**20, 2),
                         "gate": {k: g.get(k) for k in ("passed", "cos_mean", "cos_p1", "cos_worst", "kept_float")} if g else None}
        print(f"{how} {name}: {manifest.status} in {results[name]['export_s']} s")

    bundle = load_model_dir(model_dir)
    enc = bundle.encoder.eval()
    th = args.threads
    sessions = {}
    io = encoder_io(enc.cfg, batch=1)  # images [1, C, H, W] or clips [1, C, T, H, W]
    spec_in, spec_out = io.inputs, io.outputs
    sessions["torch fp32 eager"] = lambda: TorchSession(enc, spec_in, spec_out, threads=th)
    sessions["onnxruntime fp32"] = lambda: load_bundle(bundles["ort-fp32"], threads=th)
    sessions["onnxruntime int8"] = lambda: load_bundle(bundles["ort-int8"], threads=th, allow_failed_gate=True)
    sessions["openvino fp32"] = lambda: load_bundle(bundles["ov-fp32"], threads=th)
    sessions["openvino bf16 (default hint)"] = lambda: load_bundle(bundles["ov-fp32"], threads=th, inference_precision="default")
    sessions["openvino fp16"] = lambda: load_bundle(bundles["ov-fp16"], threads=th)
    sessions["openvino int8"] = lambda: load_bundle(bundles["ov-int8"], threads=th, allow_failed_gate=True)
    opened, rows = {}, {}
    for name, make in sessions.items():
        try:
            opened[name] = make()
            rows[name] = {"status": "ok"}
            if hasattr(opened[name], "effective_config"):
                rows[name]["openvino_config"] = opened[name].effective_config()
        except Exception as e:  # one row fails, the run goes on
            rows[name] = {"status": f"failed: {type(e).__name__}: {e}"}

    held = calib.arrays("heldout", limit=args.quality_samples)["pixels"]
    with torch.inference_mode():
        ref = torch.cat([enc(torch.from_numpy(held[i:i + 1])) for i in range(len(held))]).numpy()
    for name, sess in opened.items():
        got = np.concatenate([sess.run({"pixels": held[i:i + 1]})[sess.outputs[0].name] for i in range(len(held))])
        cos = token_cosine(got, ref)
        rows[name].update(cos_vs_torch_fp32_mean=round(float(cos.mean()), 5),
                          cos_vs_torch_fp32_p1=round(float(np.percentile(cos, 1)), 5),
                          cos_vs_torch_fp32_worst=round(float(cos.min()), 5))

    x = held[:1]
    names = list(opened)
    times = {n: [] for n in names}
    rng = np.random.default_rng(args.seed)
    for n in names:
        for _ in range(args.warmup):
            opened[n].run({"pixels": x})
    # Interleaved in blocks, in a shuffled order every turn: drift hits every configuration alike,
    # while each block runs on warm caches as a deployed model does (the first run refills them
    # after the other models and is dropped).
    while min(len(v) for v in times.values()) < args.iterations:
        for n in rng.permutation(names):
            sess = opened[n]
            for k in range(args.block + 1):
                t = time.perf_counter()
                sess.run({"pixels": x})
                if k:
                    times[n].append((time.perf_counter() - t) * 1e3)
    for n in names:
        rows[n]["latency"] = stats(times[n])

    p50 = {n: rows[n]["latency"]["p50_ms"] for n in names}
    ov_float = {n: p50[n] for n in names if n.startswith("openvino") and "int8" not in n}
    best_ov = min(ov_float, key=ov_float.get) if ov_float else None
    ratios = {}
    if "openvino int8" in p50 and best_ov:
        ratios["openvino_int8_vs_best_openvino_non_int8"] = round(p50[best_ov] / p50["openvino int8"], 3)
        ratios["best_openvino_non_int8"] = best_ov
    if "openvino int8" in p50 and "torch fp32 eager" in p50:
        ratios["openvino_int8_vs_torch_fp32_eager"] = round(p50["torch fp32 eager"] / p50["openvino int8"], 3)
    if "onnxruntime int8" in p50 and "onnxruntime fp32" in p50:
        ratios["onnxruntime_int8_vs_onnxruntime_fp32"] = round(p50["onnxruntime fp32"] / p50["onnxruntime int8"], 3)
    targets = {
        "openvino_int8_ge_1.6x_best_non_int8": ratios.get("openvino_int8_vs_best_openvino_non_int8", 0) >= 1.6,
        "openvino_int8_ge_4x_torch_eager": ratios.get("openvino_int8_vs_torch_fp32_eager", 0) >= 4.0,
        "int8_cos_mean_ge_0.99": all(rows[n].get("cos_vs_torch_fp32_mean", 0) >= 0.99 for n in names if "int8" in n),
        "int8_cos_p1_ge_0.95": all(rows[n].get("cos_vs_torch_fp32_p1", 0) >= 0.95 for n in names if "int8" in n),
    }
    out = {
        "command": "python " + " ".join([sys.argv[0].replace(str(Path.cwd()) + "/", ""), *(argv or sys.argv[1:])]),
        "machine": describe(), "model": model_desc, "threads": args.threads, "batch": 1,
        "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
        "load_average": os.getloadavg(),
        "calibration": {"source": calib.manifest.get("source"), "count": calib.count("calib"),
                        "heldout": calib.count("heldout"), "hash": calib.hash},
        "method": {"warmup": args.warmup, "iterations": args.iterations, "order": f"interleaved in blocks of {args.block} (+1 dropped), shuffled per turn",
                   "ort_spinning": "off (OrtSession default)",
                   "quality": f"per-token cosine to torch fp32 on {len(held)} held-out samples"},
        "exports": results, "rows": rows, "ratios_p50": ratios, "targets_met": targets,
        "quick": args.quick, "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write_json(args.out, out)
    print(f"\n{'configuration':30s} {'p50 ms':>8s} {'p99 ms':>8s} {'cos mean':>9s} {'cos p1':>8s}")
    for n in rows:
        r = rows[n]
        if "latency" not in r:
            print(f"{n:30s} {r['status']}")
            continue
        print(f"{n:30s} {r['latency']['p50_ms']:8.2f} {r['latency']['p99_ms']:8.2f} "
              f"{r['cos_vs_torch_fp32_mean']:9.5f} {r['cos_vs_torch_fp32_p1']:8.5f}")
    print(f"ratios (p50): {ratios}\ntargets met: {targets}\nwrote {args.out}")
    for sess in opened.values():
        sess.close()
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
