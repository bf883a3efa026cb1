"""What this machine is and which backends it can use: for `doctor` and for every benchmark JSON."""
from __future__ import annotations

import importlib
import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The CPU features that decide which precisions pay off (/proc/cpuinfo flag names). INT8 needs
# VNNI or AMX to beat FP32 (on AVX2 alone OpenVINO's INT8 GEMM peak was below its FP32 peak);
# BF16 needs AVX512-BF16 or AMX, else OpenVINO silently runs f32.
PRECISION_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16", "amx_tile",
                   "asimddp", "i8mm", "bf16", "sve")  # the last four: ARM (dotprod, i8mm, bf16, SVE)


def isa_features() -> list[str]:
    """The precision-relevant ISA flags this CPU reports, in PRECISION_FLAGS order."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    return [name for name in PRECISION_FLAGS if name in flags]


def openvino_capabilities() -> list[str]:
    """OpenVINO's own word on this CPU (OPTIMIZATION_CAPABILITIES: FP32, BF16, INT8, ...); [] without OpenVINO."""
    try:
        import openvino as ov
    except ImportError:
        return []
    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(mod, "__version__", None) or getattr(mod, "get_version", lambda: "?")()


BACKENDS = {
    # name: (import name, extra that installs it)
    "torch": ("torch", None),
    "onnxruntime": ("onnxruntime", None),
    "openvino": ("openvino", None),
    "nncf": ("nncf", None),
    "onnx": ("onnx", None),
    "tensorrt": ("tensorrt", "tensorrt"),
}


def backend_versions() -> dict[str, str | None]:
    return {name: _version(mod) for name, (mod, _) in BACKENDS.items()}


def gpus() -> list[str]:
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return []


def describe() -> dict:
    """Device description embedded in every benchmark result so runs stay comparable."""
    return {
        "cpu": cpu_model(),
        "isa": isa_features(),
        "openvino_capabilities": openvino_capabilities(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpus": gpus(),
        "versions": {k: v for k, v in backend_versions().items() if v},
    }
