"""Measured matrix-product peak per precision: the yardstick for "% of peak" in every bench row.

A datasheet peak is not what a model can get on a shared 2-vCPU VM; a measured one is. We run
chains of square matrix products through the same runtime the models use (OpenVINO's CPU plugin:
oneDNN brgemm on AMX/AVX-512) and through torch, and keep the best shape. INT8 is an OpenVINO
model in NNCF's own pattern (FakeQuantize on activations, int8 weights with a per-channel
scale), so it runs the same VNNI/AMX int8 kernels a quantized ViT does; the kernel the plugin
picked is recorded so a silent fallback to bf16 shows up in the result.

Ops are counted as 2 per multiply-accumulate (GOP/s = GFLOP/s for float precisions).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

# (M, K, L): an [M, K] activation through L products with [K, K] weights. A chain amortises the
# per-inference overhead and the input quantization, as a deep model does.
CPU_SHAPES: tuple[tuple[int, int, int], ...] = ((512, 1024, 8), (1024, 1024, 8), (2048, 1024, 4), (256, 2048, 8))
CPU_PRECISIONS = ("fp32", "bf16", "fp16", "int8")
OV_HINT = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


@dataclass(frozen=True)
class PeakResult:
    precision: str
    device: str            # "cpu" or "cuda:N"
    gops: float            # best sustained 1e9 ops/s over the shapes tried
    method: str            # what produced the best number
    kernel: str = ""       # kernel the runtime reported for the products (e.g. brgemm_avx512_amx_i8)
    shape: str = ""        # the best shape, "MxK xL"
    tried: dict = field(default_factory=dict)  # "method shape" -> GOP/s, every measurement

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PeakResult":
        return cls(**d)


def round_gops(gops: float) -> float:
    """4 significant digits: a fixed number of decimals rounds a tiny test kernel's rate to 0."""
    return float(f"{gops:.4g}")


def _median_seconds(fn, seconds: float, min_runs: int = 3, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ---------------------------------------------------------------- OpenVINO

def openvino_chain_model(m: int, k: int, layers: int, precision: str, seed: int = 0):
    """[m, k] f32 input through `layers` products with constant [k, k] weights.

    int8: NNCF's pattern (symmetric FakeQuantize on activations, int8 weights * per-row scale),
    which the CPU plugin lowers to int8 brgemm with the next FakeQuantize fused as requantization.
    """
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(seed)
    x = inp = ops.parameter([m, k], ov.Type.f32, name="x")
    for _ in range(layers):
        x = _linear(x, k, k, precision, rng)
    return ov.Model([x], [inp], f"peak_{precision}_{m}x{k}x{layers}")


def _linear(x, k: int, n: int, precision: str, rng, gain: float = 1.0):
    """x [m, k] @ W.T with a constant W [n, k]; int8 in NNCF's pattern (see openvino_chain_model)."""
    import openvino as ov
    import openvino.opset13 as ops

    def const(v, dtype=np.float32):
        return ops.constant(np.asarray(v, dtype=dtype))

    if precision == "int8":
        s = 4.0 / 128
        x = ops.fake_quantize(x, const(-128 * s), const(127 * s), const(-128 * s), const(127 * s), 256)
        w_i8 = ops.constant(rng.integers(-127, 128, (n, k), dtype=np.int8))
        w = ops.multiply(ops.convert(w_i8, ov.Type.f32), const(np.full((n, 1), 0.5 * gain / k**0.5)))
    else:
        w = const(gain * rng.standard_normal((n, k)).astype(np.float32) / k**0.5)
    return ops.matmul(x, w, False, True)


def vit_linears_model(tokens: int, dim: int, mlp: int, blocks: int, precision: str, seed: int = 0):
    """Only the fully connected layers of a ViT, at its own shapes: per block qkv (dim -> 3 dim),
    proj (dim -> dim), fc1 (dim -> mlp), fc2 (mlp -> dim) on [tokens, dim] rows. Attention, norms and
    GELU are left out (q + k + v stands in for attention so all of qkv is used): what an INT8 ViT
    would cost if everything but its matrix products were free. Returns (model, ops)."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(seed)
    x = inp = ops.parameter([tokens, dim], ov.Type.f32, name="x")
    for _ in range(blocks):
        q, k, v = ops.split(_linear(x, dim, 3 * dim, precision, rng, gain=3**-0.5), 1, 3).outputs()
        x = _linear(ops.add(ops.add(q, k), v), dim, dim, precision, rng)
        x = _linear(_linear(x, dim, mlp, precision, rng), mlp, dim, precision, rng)
    macs = tokens * blocks * (dim * 3 * dim + dim * dim + 2 * dim * mlp)
    return ov.Model([x], [inp], f"vit_linears_{precision}_{tokens}x{dim}x{blocks}"), 2 * macs


def _matmul_kernels(compiled) -> str:
    """Kernel names (primitiveType) the plugin chose for the products, from the runtime model."""
    kinds = set()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" in info and "FullyConnected" in str(info["layerType"].astype(str)) or \
                "layerType" in info and str(info["layerType"].astype(str)) == "MatMul":
            kinds.add(str(info["primitiveType"].astype(str)))
    return ",".join(sorted(kinds))


def openvino_peak(precision: str, threads: int | None = None, seconds: float = 0.4,
                  shapes=CPU_SHAPES) -> PeakResult:
    import openvino as ov

    core = ov.Core()
    cfg = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    if precision in OV_HINT:
        cfg["INFERENCE_PRECISION_HINT"] = OV_HINT[precision]
    best, tried = None, {}
    for m, k, layers in shapes:
        compiled = core.compile_model(openvino_chain_model(m, k, layers, precision), "CPU", cfg)
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(np.random.default_rng(1).uniform(-1, 1, (m, k)).astype(np.float32)))

        def run():
            request.start_async()
            request.wait()

        sec = _median_seconds(run, seconds)
        gops = 2 * m * k * k * layers / sec / 1e9
        shape = f"{m}x{k} x{layers}"
        tried[f"openvino {shape}"] = round_gops(gops)
        if best is None or gops > best[0]:
            best = (gops, shape, _matmul_kernels(compiled))
    return PeakResult(precision, "cpu", round_gops(best[0]), "openvino MatMul chain", best[2], best[1], tried)


# ---------------------------------------------------------------- torch

def torch_peak(precision: str, device: str = "cpu", seconds: float = 0.4, sizes=None) -> PeakResult:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.int8}[precision]
    cuda = device.startswith("cuda")
    sizes = sizes or ((4096, 8192) if cuda else (1024, 2048))
    best, tried = None, {}
    for n in sizes:
        if precision == "int8":
            a = torch.randint(-127, 128, (n, n), dtype=dtype, device=device)
            b = torch.randint(-127, 128, (n, n), dtype=dtype, device=device)
            op = lambda: torch._int_mm(a, b)  # noqa: E731 - int8 x int8 -> int32, tensor cores on CUDA
        else:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            op = lambda: torch.mm(a, b)  # noqa: E731
        if cuda:
            reps = 10

            def run():
                for _ in range(reps):
                    op()
                torch.cuda.synchronize()
        else:
            reps = 1
            run = op
        with torch.inference_mode():
            sec = _median_seconds(run, seconds) / reps
        gops = 2 * n**3 / sec / 1e9
        tried[f"torch {n}^3"] = round_gops(gops)
        if best is None or gops > best[0]:
            best = (gops, f"{n}x{n}x{n}")
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    return PeakResult(precision, device, round_gops(best[0]), f"torch {'_int_mm' if precision == 'int8' else 'mm'} ({name})",
                      "", best[1], tried)


# ---------------------------------------------------------------- the table

def cpu_supports(precision: str) -> bool:
    """Whether the CPU has native kernels for it (OpenVINO's OPTIMIZATION_CAPABILITIES)."""
    try:
        import openvino as ov

        caps = set(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001 - no OpenVINO: only fp32 via torch
        return precision == "fp32"
    return {"fp32": "FP32", "bf16": "BF16", "fp16": "FP16", "int8": "INT8"}[precision] in caps


def _best(a: PeakResult | None, b: PeakResult) -> PeakResult:
    if a is None:
        return b
    winner = a if a.gops >= b.gops else b
    return PeakResult(winner.precision, winner.device, winner.gops, winner.method, winner.kernel, winner.shape,
                      {**a.tried, **b.tried})


def measure_peak(precisions=CPU_PRECISIONS, threads: int | None = None, seconds: float = 0.4,
                 cuda: bool = True, shapes=CPU_SHAPES) -> dict[str, PeakResult]:
    """Peak per precision on this machine. Keys: "fp32", "bf16", ... for the CPU and
    "cuda:fp16", ... for the first CUDA GPU when torch sees one. A precision the CPU has no kernels
    for is skipped (it would measure an emulation, not a peak)."""
    out: dict[str, PeakResult] = {}
    for p in precisions:
        if not cpu_supports(p):
            continue
        best = None
        try:
            best = _best(best, openvino_peak(p, threads, seconds, shapes))
        except ImportError:
            pass
        if p in ("fp32", "bf16"):
            import torch

            old = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                best = _best(best, torch_peak(p, "cpu", seconds, sizes=tuple(sorted({k for _, k, _ in shapes}))))
            finally:
                torch.set_num_threads(old)
        if best is not None:
            out[p] = best
    if cuda:
        out.update(cuda_peaks(seconds))
    return out


def cuda_peaks(seconds: float = 0.4) -> dict[str, PeakResult]:
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    out = {}
    for p in ("fp32", "fp16", "bf16", "int8"):
        try:
            out[f"cuda:{p}"] = torch_peak(p, "cuda:0", seconds)
        except (RuntimeError, NotImplementedError):
            continue  # e.g. _int_mm unsupported on this GPU/torch
    return out
