"""TensorRT check for a machine with an NVIDIA GPU: build engines through `jepa-edge export` and run them.

    python export/check_tensorrt.py [--model MODEL_DIR] [--arch vit_tiny/16 --img-size 224] [--json OUT]

Without TensorRT it says so and exits 3, having built nothing. With it: records a small world
calibration set, exports the encoder to the `tensorrt` target in fp32, fp16 and int8 (Q/DQ,
gated in ONNX Runtime and again on the engine), loads each engine through jepa_edge.inference.load,
and prints per-token cosine to torch fp32 and p50/p99 latency (batch 1, host copies included).
Also runs the kit path: a jetson-orin-nano int8 kit whose build_engine.sh is executed when
trtexec is on PATH.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--arch", default="vit_tiny/16")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    try:
        import tensorrt
    except ImportError:
        print("TensorRT is not installed: pip install 'jepa-edge[tensorrt]' (on a Jetson it comes with JetPack). "
              "Nothing was built.")
        return 3
    import torch

    from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.calib_sources import encoder_samples
    from jepa_edge.quant.calibration import SmallCalibrationWarning, write_calibration_set
    from jepa_edge.quant.onnx_export import token_cosine
    from jepa_edge.quant.pipeline import export
    from jepa_edge.inference import load_bundle
    from jepa_edge.utils.device_info import describe

    print(f"TensorRT {tensorrt.__version__}; GPUs: {describe()['gpus'] or 'none visible to torch'}")
    work = Path(tempfile.mkdtemp(prefix="trt-check-"))
    report = {"tensorrt": tensorrt.__version__, "machine": describe(), "rows": {}}
    try:
        if args.model:
            model_dir = Path(args.model)
        else:
            torch.manual_seed(0)
            model_dir = save_model_dir(work / "model", ModelDir(encoder=build_encoder(args.arch, img_size=args.img_size)))
        b = load_model_dir(model_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallCalibrationWarning)
            calib = write_calibration_set(work / "calib", encoder_samples("world", b.encoder_cfg, b.config, n=96),
                                          count=64, held_out=32, source={"kind": "world"},
                                          normalization=b.config.get("normalization"))
        held = calib.arrays("heldout", limit=8)["pixels"]
        with torch.inference_mode():
            ref = b.encoder(torch.from_numpy(held)).numpy()
        for precision in ("fp32", "fp16", "int8"):
            row = report["rows"].setdefault(precision, {})
            try:
                res = export(model_dir, "tensorrt", precision, calib=calib, out=work / f"trt-{precision}")
                sess = load_bundle(res.path, allow_failed_gate=True)
                got = np.concatenate([sess.run({"pixels": held[i:i + 1]})["tokens"] for i in range(len(held))])
                x = held[:1]
                for _ in range(10):
                    sess.run({"pixels": x})
                t = []
                for _ in range(args.iterations):
                    t0 = time.perf_counter()
                    sess.run({"pixels": x})
                    t.append((time.perf_counter() - t0) * 1e3)
                cos = token_cosine(got, ref)
                row.update(status=res.manifest.status, built=res.manifest.scheme.get("precision"),
                           fell_back=res.manifest.scheme.get("fell_back_from"), cos_mean=float(cos.mean()),
                           cos_p1=float(np.percentile(cos, 1)), p50_ms=float(np.percentile(t, 50)),
                           p99_ms=float(np.percentile(t, 99)))
            except Exception as e:  # report and go on: one failed precision is a result too
                row.update(status=f"failed: {type(e).__name__}: {e}")
            print(precision, json.dumps(row))
        kit = export(model_dir, "jetson-orin-nano", "int8", calib=calib, out=work / "kit")
        if shutil.which("trtexec"):
            r = subprocess.run(["bash", str(kit.path / "build_engine.sh")], capture_output=True, text=True)
            report["kit_build_rc"] = r.returncode
            print(f"kit build_engine.sh exit {r.returncode}")
            if r.returncode == 0:
                r = subprocess.run([sys.executable, str(kit.path / "run_engine.py"), str(kit.path), "--iterations", "50"],
                                   capture_output=True, text=True)
                report["kit_run"] = r.stdout[-2000:]
                print(r.stdout[-800:])
        else:
            report["kit_build_rc"] = "trtexec not on PATH: kit generated, not built"
            print(report["kit_build_rc"])
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.get("status") == "ok" for r in report["rows"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
