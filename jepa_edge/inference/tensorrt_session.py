"""TensorRT backend: runs a serialized engine on an NVIDIA GPU (desk GPU or Jetson).

This file is also the Jetson kit's `run_engine.py` (jetson_kit.py copies it verbatim): it needs
only numpy, the `tensorrt` Python package and the CUDA runtime library, which it loads with
ctypes (no torch, no pycuda, no jepa_edge on the robot). Written for the TensorRT 10/11 tensor
API (`execute_async_v3`, named I/O tensors); JetPack 6 ships TensorRT 10.x.

    python3 run_engine.py KIT_DIR [--iterations 200] [--warmup 50] [--json times.json]
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

try:  # inside the package
    from jepa_edge.errors import BundleError, MissingExtraError
    from jepa_edge.inference.session import InferenceSession, TensorSpec
except ImportError:  # standalone copy in a Jetson kit: minimal stand-ins with the same surface
    class BundleError(RuntimeError):
        pass

    class MissingExtraError(RuntimeError):
        def __init__(self, what, extra, hint=""):
            super().__init__(f"{what} is not installed ({hint})" if hint else f"{what} is not installed")

    class TensorSpec:
        def __init__(self, name, shape, dtype="float32"):
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

        @classmethod
        def from_dict(cls, d):
            return cls(d["name"], d["shape"], d.get("dtype", "float32"))

    class InferenceSession:
        def __init__(self, inputs, outputs):
            self.inputs, self.outputs = list(inputs), list(outputs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as e:
        raise MissingExtraError("TensorRT", "tensorrt",
                                "on a Jetson it comes with JetPack: sudo apt install python3-libnvinfer") from e
    return tensorrt


def trt_major(trt) -> int:
    return int(trt.__version__.split(".")[0])


# ----------------------------------------------------------------- CUDA runtime through ctypes

def _cudart_candidates() -> list[str]:
    names = ["libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"]
    names += sorted(glob.glob("/usr/local/cuda*/lib64/libcudart.so*"))
    names += sorted(glob.glob("/usr/local/cuda*/targets/*/lib/libcudart.so*"))  # Jetson layout
    for p in sys.path:  # pip wheels: nvidia-cuda-runtime-cu12 (a dependency of tensorrt-cu12)
        names += sorted(glob.glob(os.path.join(p, "nvidia", "cuda_runtime", "lib", "libcudart.so*")))
    return names


class CudaRuntime:
    """The few CUDA runtime calls an engine needs: device buffers, copies, a stream."""

    H2D, D2H = 1, 2

    def __init__(self):
        self.lib = None
        for name in _cudart_candidates():
            try:
                self.lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if self.lib is None:
            raise MissingExtraError("the CUDA runtime (libcudart.so)", "tensorrt",
                                    "install CUDA / JetPack, or pip install nvidia-cuda-runtime-cu12")
        L, vp, sz = self.lib, ctypes.c_void_p, ctypes.c_size_t
        L.cudaMalloc.argtypes = [ctypes.POINTER(vp), sz]
        L.cudaFree.argtypes = [vp]
        L.cudaMemcpyAsync.argtypes = [vp, vp, sz, ctypes.c_int, vp]
        L.cudaStreamCreate.argtypes = [ctypes.POINTER(vp)]
        L.cudaStreamSynchronize.argtypes = [vp]
        L.cudaStreamDestroy.argtypes = [vp]
        L.cudaGetErrorString.restype = ctypes.c_char_p

    def check(self, err: int, what: str):
        if err != 0:
            raise RuntimeError(f"CUDA {what} failed: {self.lib.cudaGetErrorString(err).decode()} ({err})")

    def malloc(self, nbytes: int) -> int:
        p = ctypes.c_void_p()
        self.check(self.lib.cudaMalloc(ctypes.byref(p), max(int(nbytes), 1)), "cudaMalloc")
        return p.value

    def free(self, ptr: int):
        self.lib.cudaFree(ctypes.c_void_p(ptr))

    def stream(self) -> int:
        s = ctypes.c_void_p()
        self.check(self.lib.cudaStreamCreate(ctypes.byref(s)), "cudaStreamCreate")
        return s.value

    def copy(self, dst: int, src: int, nbytes: int, kind: int, stream: int):
        self.check(self.lib.cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(src), nbytes, kind,
                                            ctypes.c_void_p(stream)), "cudaMemcpyAsync")

    def sync(self, stream: int):
        self.check(self.lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")


# ----------------------------------------------------------------- the session

class TensorRTSession(InferenceSession):
    backend = "tensorrt"

    def __init__(self, engine_path, inputs=None, outputs=None, *, precision: str = "fp32", dla_core: int | None = None,
                 verbose: bool = False):
        trt = import_tensorrt()
        self.trt = trt
        self.precision = precision
        self.logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        if dla_core is not None:
            self.runtime.DLA_core = int(dla_core)
        blob = Path(engine_path).read_bytes()
        self.engine = self.runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise BundleError(f"{engine_path} cannot be deserialized by TensorRT {trt.__version__} on this GPU: "
                              f"engines are tied to the TensorRT version and GPU that built them; rebuild it here "
                              f"(build_engine.sh on a Jetson)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_in = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self._dtype = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}

        def spec(n):
            return TensorSpec(n, tuple(d if d >= 0 else "dyn" for d in self.engine.get_tensor_shape(n)), self._dtype[n].name)

        super().__init__(inputs or [spec(n) for n in names if is_in[n]], outputs or [spec(n) for n in names if not is_in[n]])
        self.cuda = CudaRuntime()
        self.stream = self.cuda.stream()
        self._buf: dict[str, tuple[int, int]] = {}  # name -> (device ptr, capacity bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buf.get(name, (0, 0))
        if cap < nbytes:
            if ptr:
                self.cuda.free(ptr)
            ptr, cap = self.cuda.malloc(nbytes), nbytes
            self._buf[name] = (ptr, cap)
        return ptr

    def run(self, inputs: dict) -> dict:
        ctx, cuda = self.context, self.cuda
        keep = []
        for s in self.inputs:
            a = np.ascontiguousarray(inputs[s.name], dtype=self._dtype[s.name])
            keep.append(a)
            ctx.set_input_shape(s.name, a.shape)
            ptr = self._buffer(s.name, a.nbytes)
            cuda.copy(ptr, a.ctypes.data, a.nbytes, CudaRuntime.H2D, self.stream)
            ctx.set_tensor_address(s.name, ptr)
        outs = {}
        for s in self.outputs:
            shape = tuple(ctx.get_tensor_shape(s.name))
            host = np.empty(shape, dtype=self._dtype[s.name])
            ctx.set_tensor_address(s.name, self._buffer(s.name, host.nbytes))
            outs[s.name] = host
        if not ctx.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name, host in outs.items():
            cuda.copy(host.ctypes.data, self._buf[name][0], host.nbytes, CudaRuntime.D2H, self.stream)
        cuda.sync(self.stream)
        return {k: v.astype(np.float32, copy=False) for k, v in outs.items()}

    def close(self) -> None:
        for ptr, _ in self._buf.values():
            self.cuda.free(ptr)
        self._buf = {}
        if getattr(self, "stream", None):
            self.cuda.lib.cudaStreamDestroy(ctypes.c_void_p(self.stream))
            self.stream = None
        self.context = self.engine = None


# ----------------------------------------------------------------- standalone runner (Jetson kit)

def _kit_specs(kit: Path):
    m = json.loads((kit / "manifest.json").read_text())
    return ([TensorSpec.from_dict(d) for d in m["inputs"]], [TensorSpec.from_dict(d) for d in m["outputs"]],
            m.get("precision", "?"), m.get("scheme", {}).get("dla_core"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run a TensorRT engine with numpy + tensorrt only; print latency.")
    ap.add_argument("path", help="kit folder (with manifest.json and model.engine) or an .engine file")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--input", action="append", default=[], help="NAME=file.npy (default: random inputs)")
    ap.add_argument("--save-output", help="write the outputs of the first run to this .npz")
    ap.add_argument("--json", help="write latency stats to this JSON file")
    args = ap.parse_args(argv)
    path = Path(args.path)
    engine, inputs, outputs, precision, dla = path, None, None, "?", None
    if path.is_dir():
        engine = path / "model.engine"
        inputs, outputs, precision, dla = _kit_specs(path)
        if not engine.is_file():
            print(f"{engine} not found: build it first with: bash {path}/build_engine.sh", file=sys.stderr)
            return 2
    sess = TensorRTSession(engine, inputs, outputs, precision=precision, dla_core=dla)
    given = dict(a.split("=", 1) for a in args.input)
    rng = np.random.default_rng(0)
    feeds = {}
    for s in sess.inputs:
        if s.name in given:
            feeds[s.name] = np.load(given[s.name])
        else:
            shape = [args.batch if not isinstance(d, int) or d < 0 else d for d in s.shape]
            feeds[s.name] = rng.standard_normal(shape).astype(np.float32)
    first = sess.run(feeds)
    if args.save_output:
        np.savez(args.save_output, **first)
    for _ in range(args.warmup):
        sess.run(feeds)
    times = []
    for _ in range(args.iterations):
        t = time.perf_counter()
        sess.run(feeds)
        times.append((time.perf_counter() - t) * 1e3)
    stats = {"engine": str(engine), "tensorrt": sess.trt.__version__, "precision": precision,
             "iterations": args.iterations, "warmup": args.warmup,
             "p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
             "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(np.mean(times)),
             "outputs": {k: list(v.shape) for k, v in first.items()}, "note": "host->device copies included"}
    print(json.dumps(stats, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2) + "\n")
    sess.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
