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
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpus": gpus(),
        "versions": {k: v for k, v in backend_versions().items() if v},
    }
