"""What this machine is and which backends it can use: for `doctor` and for every benchmark JSON."""
from __future__ import annotations

import importlib
import importlib.util
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
    """The installed version, from the package metadata: nothing is imported (a robot's core install
    never attempts torch). A module with no metadata (TensorRT from JetPack's apt packages) is asked."""
    from importlib import metadata, util

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        pass
    if util.find_spec(module) is None:
        return None
    mod = importlib.import_module(module)
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


def nvidia_gpus() -> list[dict]:
    """NVIDIA GPUs with compute capability: from torch.cuda when it sees them, else `nvidia-smi` (a machine
    with a driver but a CPU-only torch); [] when neither finds one. Imports torch only when asked."""
    try:
        if importlib.util.find_spec("torch") is None:  # a core install: not even an attempt
            raise ImportError("torch")
        import torch

        if torch.cuda.is_available():
            return [{"name": torch.cuda.get_device_name(i),
                     "compute_capability": "{}.{}".format(*torch.cuda.get_device_capability(i)), "source": "torch.cuda"}
                    for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    out = _run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"])
    gpus = []
    for line in (out or "").splitlines():
        name, _, cc = line.rpartition(",")
        if name.strip():
            gpus.append({"name": name.strip(), "compute_capability": cc.strip(), "source": "nvidia-smi"})
    return gpus


def _run(argv: list[str], timeout: float = 5.0) -> str | None:
    """A tool's stdout, or None when it is absent, fails or hangs (doctor must never stall on it)."""
    import shutil
    import subprocess

    if shutil.which(argv[0]) is None:
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def is_jetson() -> bool:
    if os.path.exists("/etc/nv_tegra_release"):
        return True
    try:
        with open("/proc/device-tree/compatible", "rb") as f:
            return b"tegra" in f.read().lower()
    except OSError:
        return False


def jetson_power(tegrastats_s: float = 1.0) -> dict | None:
    """On a Jetson: the power mode (`nvpmodel -q`), the clock state (`jetson_clocks --show`, needs root,
    else null) and tegrastats samples over `tegrastats_s` (RAM, CPU/GPU load and clocks, temperatures,
    rails). None elsewhere: the numbers of a Jetson run mean little without its power mode."""
    if not is_jetson():
        return None
    out: dict = {"nvpmodel": _run(["nvpmodel", "-q"]), "jetson_clocks": _run(["jetson_clocks", "--show"])}
    samples: list[str] = []
    if tegrastats_s > 0:
        import shutil
        import subprocess

        if shutil.which("tegrastats"):
            try:
                r = subprocess.run(["tegrastats", "--interval", "200"], capture_output=True, text=True,
                                   timeout=tegrastats_s)
                samples = r.stdout.splitlines()
            except subprocess.TimeoutExpired as e:  # tegrastats runs until stopped: the timeout is the sample
                raw = e.stdout or b""
                samples = (raw.decode(errors="replace") if isinstance(raw, bytes) else raw).splitlines()
            except OSError:
                pass
    out["tegrastats"] = samples
    try:
        with open("/etc/nv_tegra_release") as f:
            out["l4t"] = f.readline().strip()
    except OSError:
        pass
    return out


def precision_advice(isa: list[str] | None = None, caps: list[str] | None = None,
                     gpus_cc: list[dict] | None = None) -> list[dict]:
    """Which precisions pay off here and why: [{device, precision, pays: yes|no|maybe, why}].

    The ISA prior `export --precision auto` starts from (it then measures): INT8 pays with VNNI
    (AVX-512 VNNI, AVX-VNNI) or AMX, not on AVX2 alone; BF16 needs AVX512-BF16 or AMX (without,
    OpenVINO runs f32); on ARM, dotprod/i8mm for INT8 and bf16 for BF16; on NVIDIA, tensor cores
    by compute capability."""
    isa = isa_features() if isa is None else isa
    caps = openvino_capabilities() if caps is None else caps
    f = set(isa)
    arm = bool(f & {"asimddp", "i8mm", "bf16", "sve"}) or platform.machine().lower() in ("aarch64", "arm64")
    rows = [{"device": "cpu", "precision": "fp32", "pays": "yes", "why": "the baseline every CPU runs"}]
    if arm:
        i8 = [x for x in ("asimddp", "i8mm") if x in f]
        rows.append({"device": "cpu", "precision": "int8", "pays": "yes" if i8 else "no",
                     "why": f"{'/'.join(i8)} int8 dot products" if i8 else "no dotprod/i8mm: int8 math is not faster"})
        rows.append({"device": "cpu", "precision": "bf16", "pays": "yes" if "bf16" in f else "no",
                     "why": "bf16 dot products (BFDOT/BFMMLA)" if "bf16" in f else "no bf16 instructions"})
    else:
        vnni = [x for x in ("amx_int8", "avx512_vnni", "avx_vnni") if x in f]
        rows.append({"device": "cpu", "precision": "int8", "pays": "yes" if vnni else "no",
                     "why": (f"{', '.join(vnni)}: int8 dot products" if vnni else
                             "no VNNI/AMX: OpenVINO's INT8 GEMM peak was measured below its FP32 peak on AVX2 "
                             "(83 GOP/s vs 159 GFLOP/s, 2 cores), INT8 ViTs ran slower than FP32")
                            + ("" if "INT8" in caps or not caps else "; OpenVINO reports no INT8")})
        bf = [x for x in ("amx_bf16", "avx512_bf16") if x in f]
        rows.append({"device": "cpu", "precision": "bf16", "pays": "yes" if bf or "BF16" in caps else "no",
                     "why": (f"{', '.join(bf)}: bf16 math" if bf else
                             "no AVX512-BF16/AMX: OpenVINO runs a bf16 request in f32 (the label says so)")})
        rows.append({"device": "cpu", "precision": "fp16", "pays": "yes" if "FP16" in caps else "no",
                     "why": "OpenVINO reports FP16 math" if "FP16" in caps else
                     "no FP16 math on this CPU: an fp16 IR is decompressed and runs in f32/bf16"})
    rows.append({"device": "cpu", "precision": "int8w", "pays": "maybe",
                 "why": "weight-only INT8 (NNCF compress_weights): half the weights and their bandwidth, math in "
                        "f32; measure it where full INT8 does not pay"})
    for g in (nvidia_gpus() if gpus_cc is None else gpus_cc):
        try:
            cc = float(g.get("compute_capability") or 0)
        except ValueError:
            cc = 0.0
        name = g.get("name", "GPU")
        rows.append({"device": name, "precision": "fp16", "pays": "yes" if cc >= 7.0 else "maybe",
                     "why": f"compute capability {cc}: " + ("fp16 tensor cores" if cc >= 7.0 else "no tensor cores")})
        rows.append({"device": name, "precision": "int8", "pays": "maybe" if cc >= 7.5 else "no",
                     "why": f"compute capability {cc}: " + ("int8 tensor cores, but ViT INT8 gains over FP16 are often "
                                                            "<10%: measure before choosing" if cc >= 7.5 else
                                                            "no int8 tensor cores")})
        rows.append({"device": name, "precision": "bf16", "pays": "yes" if cc >= 8.0 else "no",
                     "why": f"compute capability {cc}: " + ("bf16 tensor cores" if cc >= 8.0 else "no bf16 tensor cores")})
    return rows


def isa_tag(isa: list[str] | None = None) -> str:
    """A short name for the precision-relevant ISA, for file names: avx512_vnni_bf16, avx2, amx, arm_i8mm_bf16..."""
    f = set(isa_features() if isa is None else isa)
    if "amx_int8" in f or "amx_bf16" in f:
        return "amx"
    if "avx512f" in f:
        return "avx512" + "".join(s for s, flag in (("_vnni", "avx512_vnni"), ("_bf16", "avx512_bf16")) if flag in f)
    if "avx2" in f:
        return "avx2" + ("_vnni" if "avx_vnni" in f else "")
    arm = [s for s in ("asimddp", "i8mm", "bf16", "sve") if s in f]
    return "arm_" + "_".join(arm) if arm else (platform.machine().lower() or "unknown")


def gpus() -> list[str]:
    try:
        if importlib.util.find_spec("torch") is None:  # a core install: not even an attempt
            raise ImportError("torch")
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
        "nvidia": nvidia_gpus(),
        "versions": {k: v for k, v in backend_versions().items() if v},
        **({"jetson": j} if (j := jetson_power()) is not None else {}),
    }
