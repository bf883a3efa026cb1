"""The declarative target table: what each export target supports, validated before any work.

Built-in targets are generic backends; device profiles (Jetson boards, a tuned OpenVINO CPU) live
as TOML files in `export/targets/` so a new board is a new file, not new code. Every request
(`--target`, `--precision`, `--calib`, `--dla-core`) is checked here, so a bad flag fails in
milliseconds instead of after a ten-minute calibration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from jepa_edge.errors import ConfigError
from jepa_edge.utils.resources import shipped

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int8w")  # int8w: weight-only INT8 (f32 math), OpenVINO
BACKENDS = ("torch", "onnx", "onnxruntime", "openvino", "tensorrt")
PARTS = ("encoder", "ac_predictor")
TRT_BUILDS = ("auto", "weakly-typed", "strongly-typed")


@dataclass(frozen=True)
class Target:
    name: str
    backend: str                    # one of BACKENDS: which session runs the bundle
    precisions: tuple[str, ...]     # what this target can be asked for
    description: str = ""
    dynamic_batch: bool = True      # keep a dynamic batch axis in the exported graph
    max_batch: int = 8              # upper bound of the batch axis (TensorRT optimization profile)
    opt_batch: int = 1              # the batch size engines are tuned for
    parts: tuple[str, ...] = PARTS  # which model parts may be exported to it
    device: str = "CPU"             # OpenVINO device / "GPU" for TensorRT
    dla_cores: int = 0              # NVDLA cores on the board (0: none)
    workspace_mb: int = 1024        # TensorRT builder workspace
    kit: bool = False               # engine is built on the device: emit a Jetson kit instead
    tensorrt: str = ""              # TensorRT version on the device (engines are version-bound)
    jetpack: str = ""
    # TensorRT build path: "weakly-typed" (--int8 --fp16 builder flags: TensorRT 10 before 10.12),
    # "strongly-typed" (--stronglyTyped, precision from the ONNX types: 10.12+ deprecates weak typing,
    # 11 removes it), or "auto": from `tensorrt`.
    trt_build: str = "auto"
    openvino_hint: str = "LATENCY"  # OpenVINO PERFORMANCE_HINT for the session
    source: str = "built-in"        # where the profile came from (file path for TOML profiles)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError(f"target {self.name!r}: unknown backend {self.backend!r} (known: {', '.join(BACKENDS)})")
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.precisions:
            raise ConfigError(f"target {self.name!r}: precisions must be a non-empty subset of {PRECISIONS}, got {self.precisions}")
        bad = [p for p in self.parts if p not in PARTS]
        if bad:
            raise ConfigError(f"target {self.name!r}: unknown parts {bad} (known: {', '.join(PARTS)})")
        if self.trt_build not in TRT_BUILDS:
            raise ConfigError(f"target {self.name!r}: trt_build must be one of {', '.join(TRT_BUILDS)}, got {self.trt_build!r}")
        if self.dla_cores < 0 or not 1 <= self.opt_batch <= self.max_batch:
            raise ConfigError(f"target {self.name!r}: need dla_cores >= 0 and 1 <= opt_batch <= max_batch")

    @property
    def strongly_typed(self) -> bool:
        """Whether engines for this profile are built strongly typed (see trt_build)."""
        if self.trt_build != "auto":
            return self.trt_build == "strongly-typed"
        parts = [int(p) for p in (self.tensorrt or "10").split(".")[:2] if p.isdigit()] + [0, 0]
        return (parts[0], parts[1]) >= (10, 12)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


# Generic backends. Why these precisions: ORT's CPU provider has no fast fp16/bf16 kernels for
# ViT ops (it would run slower than fp32); OpenVINO on CPU runs bf16/fp16 via its inference
# precision hint; TensorRT INT8 is explicit Q/DQ only (implicit calibration is gone in TRT 11).
BUILTIN_TARGETS: tuple[Target, ...] = (
    Target("torch", "torch", ("fp32", "bf16"), "PyTorch eager (the reference), safetensors inside"),
    Target("onnx", "onnx", ("fp32", "fp16", "int8"), "portable ONNX (int8 = QDQ S8S8, per-channel weights)"),
    Target("onnxruntime", "onnxruntime", ("fp32", "int8"), "ONNX Runtime CPU session (int8 = static QDQ S8S8)"),
    Target("openvino", "openvino", ("fp32", "bf16", "fp16", "int8", "int8w"),
           "OpenVINO IR for Intel CPUs (int8 via NNCF; int8w = NNCF weight-only INT8, f32 math)",
           dynamic_batch=False, max_batch=1),
    Target("tensorrt", "tensorrt", ("fp32", "fp16", "int8"), "TensorRT engine built on this machine's NVIDIA GPU",
           device="GPU"),
)


def profile_dirs() -> list[Path]:
    """Where TOML profiles are read from: $JEPA_EDGE_TARGETS (os.pathsep-separated), then the profiles
    shipped with jepa-edge (export/targets/ in the repository, package data in a wheel)."""
    dirs = [Path(p) for p in os.environ.get("JEPA_EDGE_TARGETS", "").split(os.pathsep) if p]
    dirs.append(shipped("targets"))  # a missing folder is a broken install: say so, never list fewer targets
    return dirs


def load_profile(path: str | os.PathLike) -> Target:
    """One TOML profile -> Target. Unknown keys are an error (a typo must not silently do nothing)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read target profile {path}: {e}") from e
    known = {f.name for f in fields(Target)} - {"source"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"target profile {path}: unknown keys {unknown} (known: {sorted(known)})")
    raw.setdefault("name", path.stem)
    for key in ("precisions", "parts"):
        if key in raw:
            raw[key] = tuple(raw[key])
    try:
        return Target(**raw, source=str(path))
    except TypeError as e:
        raise ConfigError(f"target profile {path}: {e}") from e


def all_targets() -> dict[str, Target]:
    table = {t.name: t for t in BUILTIN_TARGETS}
    for d in profile_dirs():
        for p in sorted(d.glob("*.toml")):
            t = load_profile(p)
            table.setdefault(t.name, t)  # built-ins and earlier dirs win: a stray file cannot shadow them
    return table


def get_target(name_or_path: str | Target) -> Target:
    if isinstance(name_or_path, Target):
        return name_or_path
    if str(name_or_path).endswith(".toml"):
        return load_profile(name_or_path)
    table = all_targets()
    if name_or_path not in table:
        raise ConfigError(f"unknown target {name_or_path!r}; known targets: {', '.join(sorted(table))} "
                          f"(or pass a profile .toml path)")
    return table[name_or_path]


@dataclass(frozen=True)
class ExportRequest:
    """A validated request: everything checked before any model is loaded or any byte is written."""
    target: Target
    precision: str
    part: str = "encoder"
    calib: str | None = None
    dla_core: int | None = None
    batch: int = 1
    extra: dict = field(default_factory=dict)


def validate_request(target, precision: str, *, part: str = "encoder", calib=None,
                     dla_core: int | None = None, batch: int = 1) -> ExportRequest:
    t = get_target(target)
    precision = precision.lower()
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision not in t.precisions:
        raise ConfigError(f"target {t.name!r} does not support {precision}; it supports {', '.join(t.precisions)}")
    if part not in t.parts:
        raise ConfigError(f"target {t.name!r} cannot export the {part}; it exports {', '.join(t.parts)}")
    if precision == "int8" and not calib:
        raise ConfigError("INT8 needs calibration data: record a set with `jepa-edge calibrate --out calibration/NAME ...` "
                          "and pass --calib NAME (300+ representative samples)")
    if dla_core is not None:
        if t.dla_cores == 0:
            with_dla = sorted(n for n, x in all_targets().items() if x.dla_cores)
            raise ConfigError(f"target {t.name!r} has no DLA cores; drop --dla-core"
                              + (f" or use a profile with DLA: {', '.join(with_dla)}" if with_dla else ""))
        if not 0 <= dla_core < t.dla_cores:
            raise ConfigError(f"target {t.name!r} has {t.dla_cores} DLA core(s): --dla-core must be 0..{t.dla_cores - 1}")
        if precision not in ("fp16", "int8"):
            raise ConfigError(f"DLA runs only fp16 or int8, not {precision}")
    if not 1 <= batch <= t.max_batch:
        raise ConfigError(f"target {t.name!r} supports batch 1..{t.max_batch}, got {batch}")
    return ExportRequest(t, precision, part, calib, dla_core, batch)
