"""Bundle manifest: what a compiled artifact is, where it came from, and the hash of every file.

`write_manifest` is the last step of every export (so a half-written bundle has no manifest);
`read_manifest(verify=True)` is the first step of every load: it refuses a bundle whose format is
newer than this code, whose manifest is truncated, or whose files are missing, cut short or altered.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from jepa_edge.errors import BundleError
from jepa_edge.inference.session import TensorSpec
from jepa_edge.latent import LatentSpec
from jepa_edge.utils.files import atomic_write_json, canonical_json_sha256, read_json, sha256_file

FORMAT = "jepa-edge-bundle"
FORMAT_VERSION = 2  # bump on any change an older loader would misread
# 2: the latent spec travels in the manifest (1 read it from the source model dir on disk)
OLDEST_READABLE = 2
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest_sha256"
STATUSES = ("ok", "failed_gate", "kit")


@dataclass
class Manifest:
    backend: str                   # which session runs it: torch | onnx | onnxruntime | openvino | tensorrt
    target: str                    # target table entry it was built for
    part: str                      # encoder | ac_predictor
    precision: str                 # as requested: fp32 | fp16 | bf16 | int8 | int8w
    entry: str                     # the file the session opens (model.onnx, model.xml, model.engine, ...)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    scheme: dict = field(default_factory=dict)         # quantization scheme / compiler options
    model: dict = field(default_factory=dict)          # source_hash, arch, config of the source model dir
    latent: LatentSpec | None = None                   # how frames become the planner's latent (jepa_edge/latent.py)
    layout: str = "NCHW"
    # AC predictor for planning: input 0 (tokens) is one frame with batch 1 that every sample shares,
    # the others carry the batch (ActionConditionedPredictor.forward_shared_frame)
    shared_frame: bool = False
    calibration: dict | None = None                    # name, hash, count, held_out
    gate: dict | None = None                           # accuracy-gate results (see quant/gate.py)
    status: str = "ok"                                 # ok | failed_gate | kit (engine still to be built on device)
    # as executed on the machine that exported it (read from the compiled model: see inference/precision.py):
    # {requested, executed, reason, source, ops, label, cpu, isa}; null: not read (older bundle, kit)
    precision_executed: dict | None = None
    tools: dict = field(default_factory=dict)          # library versions that produced it
    files: dict = field(default_factory=dict)          # relpath -> {"sha256", "bytes"}
    created: str = ""
    manifest_sha256: str = ""                          # sha256 of this manifest's canonical content (itself left out)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["inputs"] = [s.to_dict() for s in self.inputs]
        d["outputs"] = [s.to_dict() for s in self.outputs]
        d["latent"] = self.latent.to_dict() if self.latent is not None else None
        # format first so a human (or an older loader) sees it before anything else
        return {"format": d.pop("format"), "format_version": d.pop("format_version"), **d}

    def check_types(self) -> None:
        """Raise TypeError naming the first field whose type is wrong (a hand-edited or foreign file)."""
        for name in ("backend", "target", "part", "precision", "entry", "status", "layout", "created", "format"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string")
        for name in ("scheme", "model", "tools", "files"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a mapping")
        for name in ("calibration", "gate", "precision_executed"):
            if not isinstance(getattr(self, name), (dict, type(None))):
                raise TypeError(f"{name} must be a mapping or null")
        if self.status not in STATUSES:
            raise TypeError(f"status {self.status!r} is not one of {STATUSES}")
        for spec in self.inputs + self.outputs:
            if not (isinstance(spec.name, str) and isinstance(spec.dtype, str)
                    and all(isinstance(d, (int, str)) and not isinstance(d, bool) for d in spec.shape)):
                raise TypeError(f"bad tensor spec {spec}")
        if not isinstance(self.shared_frame, bool):
            raise TypeError("shared_frame must be true or false")
        if not isinstance(self.latent, (LatentSpec, type(None))):
            raise TypeError("latent must be a latent spec or null")
        if not self.inputs or not self.outputs:
            raise TypeError("inputs and outputs must be non-empty")

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        d = dict(d)
        for key in ("inputs", "outputs"):
            if not isinstance(d.get(key, []), list) or not all(isinstance(s, dict) for s in d.get(key, [])):
                raise TypeError(f"{key} must be a list of tensor specs")
        d["inputs"] = [TensorSpec.from_dict(s) for s in d.get("inputs", [])]
        d["outputs"] = [TensorSpec.from_dict(s) for s in d.get("outputs", [])]
        if d.get("latent") is not None:
            d["latent"] = LatentSpec.from_dict(d["latent"])
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise BundleError(f"manifest has unknown fields {unknown}: written by a newer jepa-edge? upgrade it")
        return cls(**d)


def tool_versions() -> dict:
    from jepa_edge import __version__
    from jepa_edge.utils.device_info import backend_versions

    return {"jepa_edge": __version__, **{k: v for k, v in backend_versions().items() if v}}


def hash_files(bundle_dir: Path) -> dict:
    """sha256 + size of every file under the bundle except the manifest itself."""
    out = {}
    for p in sorted(bundle_dir.rglob("*")):
        if p.is_file() and p.name != MANIFEST and not p.name.startswith("."):
            out[p.relative_to(bundle_dir).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return out


def write_manifest(bundle_dir: str | os.PathLike, manifest: Manifest) -> Manifest:
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / manifest.entry).is_file():
        raise BundleError(f"bundle {bundle_dir}: entry file {manifest.entry} was not written")
    manifest.files = hash_files(bundle_dir)
    manifest.created = manifest.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest.tools = manifest.tools or tool_versions()
    d = json.loads(json.dumps(manifest.to_dict()))  # exactly what a reader will see
    manifest.manifest_sha256 = d[MANIFEST_HASH] = canonical_json_sha256(d, MANIFEST_HASH)
    atomic_write_json(bundle_dir / MANIFEST, d)
    return manifest


def read_manifest(bundle_dir: str | os.PathLike, verify: bool = True, trust_unverified: bool = False) -> Manifest:
    """`verify`: the manifest's own content hash and every file's size and sha256; a manifest without
    its content hash is refused unless `trust_unverified` (which reads the bundle unchecked)."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle_dir} is not a jepa-edge bundle: no {MANIFEST} (export it with `jepa-edge export`)")
    raw = read_json(path, BundleError, "re-export the bundle")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"{path} is not a {FORMAT} manifest")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{path}: format_version missing or not an integer")
    if version < OLDEST_READABLE:
        raise BundleError(f"bundle {bundle_dir} has format version {version}, which does not carry its latent spec "
                          f"(this jepa-edge reads {OLDEST_READABLE}-{FORMAT_VERSION}): export it again with "
                          f"`jepa-edge export MODEL_DIR ...` from its model dir")
    if version > FORMAT_VERSION:
        raise BundleError(f"bundle {bundle_dir} has format version {version}, newer than this jepa-edge reads "
                          f"({FORMAT_VERSION}): upgrade jepa-edge (pip install -U jepa-edge)")
    try:
        manifest = Manifest.from_dict(raw)
        manifest.check_types()
        for rel, meta in manifest.files.items():
            if not (isinstance(meta, dict) and isinstance(meta.get("sha256"), str) and isinstance(meta.get("bytes"), int)):
                raise TypeError(f"files[{rel!r}] needs sha256 and bytes")
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise TypeError(f"file {rel!r} points outside the bundle")
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise BundleError(f"{path} is incomplete or malformed ({e}); re-export the bundle") from e
    if verify and not trust_unverified:
        if not raw.get(MANIFEST_HASH):
            raise BundleError(f"{path} carries no {MANIFEST_HASH}, so nothing proves the bundle is as exported "
                              f"(hand-made, or from an older jepa-edge); export it again, or pass --trust-unverified "
                              f"(trust_unverified=True) to load it unchecked")
        if canonical_json_sha256(raw, MANIFEST_HASH) != raw[MANIFEST_HASH]:
            raise BundleError(f"{path} was modified after export (its content no longer matches {MANIFEST_HASH}); "
                              f"export it again, or pass --trust-unverified to load it as it is")
        verify_files(bundle_dir, manifest)
    return manifest


def verify_files(bundle_dir: Path, manifest: Manifest) -> None:
    if manifest.entry not in manifest.files:
        raise BundleError(f"bundle {bundle_dir}: manifest does not list its entry file {manifest.entry}")
    for rel, meta in manifest.files.items():
        p = bundle_dir / rel
        if not p.is_file():
            raise BundleError(f"bundle {bundle_dir} is incomplete: {rel} is missing; copy the whole folder again")
        size = p.stat().st_size
        if size != meta["bytes"]:
            raise BundleError(f"bundle {bundle_dir}: {rel} is {size} bytes, manifest says {meta['bytes']} "
                              f"(truncated copy?); copy the whole folder again")
        if sha256_file(p) != meta["sha256"]:
            raise BundleError(f"bundle {bundle_dir}: {rel} does not match its sha256 in the manifest "
                              f"(corrupt or modified); re-export or copy it again")
