"""The CUDA paths on a machine with an NVIDIA GPU and no network (run by gpu_check.sh, < 5 min).

1. torch CUDA latency of vit_tiny/16 and vit_small/16 at 224, batch 1, in fp32 (TF32 off),
   fp16 and bf16: warm-up, then per-iteration CUDA-synchronized timing; p50/p99 and % of the
   measured matrix-product peak of that precision on this GPU.
2. TensorRT, when `import tensorrt` works: FP16 engine of vit_small/16 built from our ONNX export
   with the export helper's builder, run through jepa_edge's TensorRT session, compared with
   torch fp32 (per-token cosine); then the Jetson kit's INT8 engine (a 10.3 weakly typed and a
   strongly typed profile) built by the kit's build_engine.sh (trtexec on PATH) or the Python
   builder. When TensorRT does not import, one clear line says so.

Needs only torch, numpy, rich (and onnx/onnxscript for the TensorRT part), all on a stock CUDA
PyTorch image; OpenVINO/NNCF are not imported. Prints a table, writes OUT_DIR/gpu_check.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHS = ("vit_tiny/16", "vit_small/16")
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def cuda_latency(model, x, warmup: int, iters: int) -> dict:
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize()
        times = np.empty(iters)
        for i in range(iters):
            t0 = time.perf_counter()
            model(x)
            torch.cuda.synchronize()  # one batch-1 request end to end, as a robot loop sees it
            times[i] = (time.perf_counter() - t0) * 1e3
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(times.mean()), "iters": iters, "warmup": warmup}


def torch_rows(warmup: int, iters: int, peaks: dict) -> list[dict]:
    import torch

    from jepa_edge.models.flops import encoder_macs
    from jepa_edge.models.registry import build_encoder

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for arch in ARCHS:
        torch.manual_seed(0)
        ref_model = build_encoder(arch, img_size=224).eval()
        ops = 2 * encoder_macs(ref_model.cfg)
        x32 = torch.randn(1, 3, 224, 224)
        for name, dt in DTYPES.items():
            row = {"backend": "torch-cuda", "model": arch, "precision": name}
            try:
                dtype = getattr(torch, dt)
                model = build_encoder(arch, img_size=224).eval()
                model.load_state_dict(ref_model.state_dict())
                model = model.cuda().to(dtype)
                row.update(cuda_latency(model, x32.cuda().to(dtype), warmup, iters))
                # what ran: the weights' dtype (TF32 is off, so fp32 matmuls are fp32)
                row["precision_executed"] = TORCH_EXECUTED.get(str(next(model.parameters()).dtype), "?")
                pk = peaks.get(f"cuda:{name}")
                row["tops"] = ops / (row["p50_ms"] / 1e3) / 1e12
                row["pct_peak"] = 100 * row["tops"] * 1e3 / pk.gops if pk else None
                row["status"] = "ok"
                del model
            except Exception as e:  # noqa: BLE001 - one failing precision is a row, not the end
                row.update(status="failed", reason=f"{type(e).__name__}: {e}".splitlines()[0])
            rows.append(row)
        torch.cuda.empty_cache()
    return rows


TORCH_EXECUTED = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}


def trt_executed(sess, precision: str) -> tuple[str, dict]:
    """Per-layer precisions of a built engine, from TensorRT's engine inspector (the same JSON as
    `trtexec --exportLayerInfo`), read by jepa_edge.inference.precision.from_trt_layers."""
    from jepa_edge.inference.precision import from_trt_layers

    try:
        import tensorrt as trt

        engine = getattr(sess, "engine", None)
        info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
        ex = from_trt_layers(info, precision)
        return ex.executed, ex.to_dict()
    except Exception as e:  # noqa: BLE001 - the label says it was not read; never the request
        return "?", {"source": f"not read: {type(e).__name__}: {e}".splitlines()[0]}


def tensorrt_rows(warmup: int, iters: int, log) -> tuple[list[dict], str]:
    try:
        import tensorrt as trt
    except ImportError:
        return [], ("TensorRT is NOT installed here (`import tensorrt` failed): engine build and run skipped. "
                    "Install the [tensorrt] extra (pip install 'jepa-edge[tensorrt]') where a package index is reachable.")
    import torch

    from jepa_edge.models.flops import encoder_macs
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.profiling.timer import TimingConfig, session_runner, time_one
    from jepa_edge.quant.onnx_export import encoder_io, export_onnx, token_cosine
    from jepa_edge.quant.tensorrt_export import EngineSpec, build_engine
    from jepa_edge.inference.tensorrt_session import TensorRTSession

    rows = []
    arch = "vit_small/16"
    torch.manual_seed(0)
    model = build_encoder(arch, img_size=224).eval()
    io = encoder_io(model.cfg, batch=1)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model, encoder_io(model.cfg), Path(tmp) / "model.onnx", dynamic_batch=True, max_batch=2)
        shapes = {io.inputs[0].name: ([1, 3, 224, 224],) * 3}
        for precision in ("fp32", "fp16"):
            row = {"backend": "tensorrt", "model": arch, "precision": precision, "tensorrt": trt.__version__}
            try:
                t0 = time.perf_counter()
                engine = Path(tmp) / f"{precision}.engine"
                info = build_engine(onnx_path, engine, EngineSpec(precision, shapes), log=log)
                row["build_s"] = time.perf_counter() - t0
                row["engine"] = info
                sess = TensorRTSession(engine, io.inputs, io.outputs, precision=precision)
                row["precision_executed"], row["executed"] = trt_executed(sess, precision)
                out = sess.run({io.inputs[0].name: x})[io.outputs[0].name]
                cos = token_cosine(out, ref)
                row["cos_mean"], row["cos_min"] = float(cos.mean()), float(cos.min())
                st = time_one(session_runner(sess, {io.inputs[0].name: x}), TimingConfig(warmup, iters, keep_samples=False))
                row.update(p50_ms=st.p50_ms, p90_ms=st.p90_ms, p99_ms=st.p99_ms, mean_ms=st.mean_ms, iters=st.iters,
                           tops=2 * encoder_macs(model.cfg) / (st.p50_ms / 1e3) / 1e12, status="ok")
                sess.close()
            except Exception as e:  # noqa: BLE001
                row.update(status="failed", reason=f"{type(e).__name__}: {e}".splitlines()[0])
                log(traceback.format_exc())
            rows.append(row)
    rows += kit_rows(log)
    return rows, f"TensorRT {trt.__version__}: engines built and run"


def kit_rows(log) -> list[dict]:
    """The Jetson kit's own INT8 graph (default placement, then strongly typed) built into engines here:
    by the kit's build_engine.sh when trtexec is on PATH, else by the package's Python builder."""
    import shutil
    import subprocess
    import warnings

    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.calib_sources import encoder_samples
    from jepa_edge.quant.calibration import SmallCalibrationWarning, write_calibration_set
    from jepa_edge.quant.pipeline import export
    from jepa_edge.quant.tensorrt_export import EngineSpec, build_engine

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        torch.manual_seed(0)
        enc = build_encoder("vit_nano/8", img_size=64, depth=6)
        save_model_dir(d / "model", ModelDir(encoder=enc))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallCalibrationWarning)
            calib = write_calibration_set(d / "calib", encoder_samples("world", enc.cfg, {}, n=80), count=64, held_out=16,
                                          source={"kind": "world"})
        for target in ("jetson-orin-nano", "jetson-agx-thor"):
            row = {"backend": "tensorrt-kit", "model": f"vit_nano/8@64 {target}", "precision": "int8"}
            try:
                kit = export(d / "model", target, "int8", calib=calib, out=d / target, log=None).path
                if shutil.which("trtexec"):
                    r = subprocess.run(["bash", str(kit / "build_engine.sh")], capture_output=True, text=True)
                    row.update(built_by="build_engine.sh", rc=r.returncode, log_tail=(r.stdout + r.stderr)[-1500:])
                    row["status"] = "ok" if r.returncode == 0 else "failed"
                else:
                    st = kit / "model.strongly-typed.onnx"
                    info = build_engine(kit / "model.onnx", kit / "model.engine",
                                        EngineSpec("int8", {"pixels": ([1, 3, 64, 64],) * 3}), log=log)
                    row.update(built_by="tensorrt_export.build_engine (no trtexec on PATH)", engine=info,
                               strongly_typed_onnx=st.is_file(), status="ok")
            except Exception as e:  # noqa: BLE001
                row.update(status="failed", reason=f"{type(e).__name__}: {e}".splitlines()[0])
                log(traceback.format_exc())
            rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()
    t_start = time.perf_counter()
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    from jepa_edge.utils.device_info import describe

    result = {"what": "CUDA paths: torch CUDA fp32/fp16/bf16 and TensorRT (if installed), batch 1, 224 px",
              "command": "bash benchmarks/gpu_check.sh", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": describe()}
    try:
        import torch
    except ImportError:
        console.print("torch is not installed: nothing to check")
        return 2
    if not torch.cuda.is_available():
        console.print("no CUDA GPU visible to torch: nothing to check (this script is for NVIDIA machines)")
        result["status"] = "no CUDA GPU"
        _write(args.out_dir, result, console)
        return 2
    from jepa_edge.profiling.peak import cuda_peaks

    peaks = cuda_peaks(seconds=0.3)
    result["peak"] = {k: v.to_dict() for k, v in peaks.items()}
    result["rows"] = torch_rows(args.warmup, args.iters, peaks)
    trt_rows, trt_note = tensorrt_rows(args.warmup, args.iters, log=lambda s: None)
    result["rows"] += trt_rows
    result["tensorrt"] = trt_note
    result["seconds"] = time.perf_counter() - t_start

    t = Table(title=f"gpu_check: {', '.join(result['device']['gpus'])}, batch 1, 224 px, {args.iters} runs after {args.warmup} warm-up")
    for col in ("backend", "model", "prec", "status", "p50 ms", "p90", "p99", "TOP/s", "% peak", "cos vs fp32"):
        t.add_column(col, justify="left" if col in ("backend", "model", "prec", "status") else "right")
    f = lambda v, fmt="{:.3f}": "-" if v is None else fmt.format(v)  # noqa: E731
    for r in result["rows"]:
        t.add_row(r["backend"], r["model"], _label(r), r["status"] if r["status"] == "ok" else r.get("reason", "failed"),
                  f(r.get("p50_ms")), f(r.get("p90_ms")), f(r.get("p99_ms")), f(r.get("tops"), "{:.1f}"),
                  f(r.get("pct_peak"), "{:.1f}%"), f(r.get("cos_mean"), "{:.5f}"))
    console.print(t)
    pk = Table(title="measured matrix-product peak on this GPU")
    for col in ("precision", "TOP/s", "method", "shape"):
        pk.add_column(col)
    for k, v in peaks.items():
        pk.add_row(k, f"{v.gops / 1e3:.0f}", v.method, v.shape)
    console.print(pk)
    console.print(trt_note, markup=False)  # "[tensorrt]" is text, not a rich style tag
    _write(args.out_dir, result, console)
    return 0


def _label(row: dict) -> str:
    """The precision column: the request when it ran, `int8 → fp16` when it did not, `? (not read)` unknown."""
    ex = row.get("precision_executed")
    if ex in (None, "?"):
        return f"{row['precision']} (executed not read)" if row.get("status") == "ok" else row["precision"]
    return row["precision"] if ex == row["precision"] else f"{row['precision']} → {ex}"


def _write(out_dir: Path, result: dict, console) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "gpu_check.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
