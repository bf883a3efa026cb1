"""Calibration sets: preprocessed model inputs recorded once, reused by every INT8 export.

On disk (`calibration/<name>/`):
    manifest.json        source, per-sample input specs, normalization, counts, shard hashes, set hash
    calib-00000.npz ...  samples the quantizers compute ranges from
    heldout-00000.npz    samples kept apart for the accuracy gate (never seen by calibration)
Shards are plain `.npz` (no pickles, loaded with allow_pickle=False); one key per model input
(`pixels` for the encoder; `tokens`, `actions`, `states` for the action-conditioned predictor),
each with a leading sample axis. The set hash covers the specs and every shard, so a bundle's
manifest can name exactly the data its scales came from.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from jepa_edge.errors import DataError
from jepa_edge.inference.session import TensorSpec
from jepa_edge.utils.files import atomic_path, atomic_write_json, sha256_bytes, sha256_file

FORMAT = "jepa-edge-calibration"
FORMAT_VERSION = 1
MIN_RECOMMENDED = 300  # NNCF's default subset; NVIDIA recommends >= 500
SPLITS = ("calib", "heldout")
DEFAULT_ROOT = "calibration"


class SmallCalibrationWarning(UserWarning):
    """Fewer calibration samples than recommended: ranges (and the gate) will be noisy."""


@dataclass(frozen=True)
class CalibrationSet:
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def hash(self) -> str:
        return self.manifest["hash"]

    @property
    def specs(self) -> list[TensorSpec]:
        """Per-sample specs (no batch axis)."""
        return [TensorSpec(n, tuple(s["shape"]), s["dtype"]) for n, s in self.manifest["inputs"].items()]

    def count(self, split: str = "calib") -> int:
        return self.manifest["splits"][split]["count"]

    def arrays(self, split: str = "calib", limit: int | None = None) -> dict[str, np.ndarray]:
        """All samples of a split stacked: name -> [n, *shape]."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}")
        parts: dict[str, list[np.ndarray]] = {s.name: [] for s in self.specs}
        n = 0
        for shard in self.manifest["splits"][split]["shards"]:
            with np.load(self.path / shard["file"], allow_pickle=False) as z:
                for k in parts:
                    parts[k].append(z[k])
            n += shard["count"]
            if limit is not None and n >= limit:
                break
        if n == 0:
            raise DataError(f"calibration set {self.name}: the {split} split is empty; record more samples")
        return {k: np.concatenate(v)[:limit] for k, v in parts.items()}

    def samples(self, split: str = "calib", limit: int | None = None, batch: int = 1) -> Iterator[dict]:
        """Batches of `batch` samples: name -> [batch, *shape] (what quantizers and sessions consume)."""
        arrays = self.arrays(split, limit)
        n = len(next(iter(arrays.values())))
        for i in range(0, n, batch):
            yield {k: v[i:i + batch] for k, v in arrays.items()}

    def check_matches(self, model_inputs: list[TensorSpec], what: str = "the model") -> None:
        """Refuse (before any work) a set whose inputs do not fit the model: names and per-sample shapes."""
        mine = {s.name: tuple(s.shape) for s in self.specs}
        want = {s.name: tuple(s.shape[1:]) for s in model_inputs}  # model specs carry the batch axis
        if set(mine) != set(want):
            raise DataError(f"calibration set {self.name!r} records inputs {sorted(mine)} but {what} takes "
                            f"{sorted(want)}: record a set for this model part")
        for k in want:
            concrete = all(isinstance(d, int) for d in want[k])
            if concrete and mine[k] != want[k]:
                raise DataError(f"calibration set {self.name!r}: input {k!r} has per-sample shape {list(mine[k])} "
                                f"but {what} expects {list(want[k])}; record it again at the model's input size")


def _shard_name(split: str, i: int) -> str:
    return f"{split}-{i:05d}.npz"


def _set_hash(inputs: dict, splits: dict) -> str:
    payload = json.dumps({"inputs": inputs, "shards": {s: [x["sha256"] for x in v["shards"]] for s, v in splits.items()}},
                         sort_keys=True)
    return sha256_bytes(payload.encode())


def write_calibration_set(out_dir: str | os.PathLike, samples: Iterable[dict[str, np.ndarray]], *, count: int,
                          held_out: int, source: dict, normalization: dict | None = None,
                          shard_size: int = 64, progress=None) -> CalibrationSet:
    """Record `count` calibration + `held_out` gate samples from `samples` (per-sample dicts, no batch axis).

    The held-out samples come first from the stream so that calibration never sees them; the shard
    files are written atomically and the manifest last, so an interrupted recording leaves no set.
    """
    out = Path(out_dir)
    if (out / "manifest.json").exists():
        raise DataError(f"{out} already holds a calibration set; choose another name or delete it")
    if count < 1 or held_out < 0:
        raise DataError("need count >= 1 calibration samples and held_out >= 0")
    if count < MIN_RECOMMENDED:
        warnings.warn(f"{count} calibration samples is below the recommended {MIN_RECOMMENDED}: INT8 ranges "
                      f"may be noisy", SmallCalibrationWarning, stacklevel=2)
    out.mkdir(parents=True, exist_ok=True)
    stream = iter(samples)
    specs: dict | None = None
    splits = {}
    for split, n_split in (("heldout", held_out), ("calib", count)):
        shards, buf, written = [], [], 0
        while written + len(buf) < n_split:
            try:
                s = next(stream)
            except StopIteration:
                done = sum(v["count"] for v in splits.values()) + written + len(buf)
                raise DataError(f"the source ran out after {done} samples; {count + held_out} were asked for "
                                f"(--count {count} + --held-out {held_out})") from None
            s = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in s.items()}
            got = {k: {"shape": list(v.shape), "dtype": "float32"} for k, v in s.items()}
            if specs is None:
                specs = got
            elif got != specs:
                raise DataError(f"sample shapes changed mid-recording: {got} vs {specs}")
            if not all(np.isfinite(v).all() for v in s.values()):
                raise DataError("a calibration sample contains NaN or inf; check the source and preprocessing")
            buf.append(s)
            if len(buf) == shard_size or written + len(buf) == n_split:
                name = _shard_name(split, len(shards))
                with atomic_path(out / name) as tmp:
                    with open(tmp, "wb") as f:
                        np.savez(f, **{k: np.stack([b[k] for b in buf]) for k in specs})
                shards.append({"file": name, "count": len(buf), "sha256": sha256_file(out / name)})
                written += len(buf)
                if progress:
                    progress(len(buf))
                buf = []
        splits[split] = {"count": written, "shards": shards}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source, "inputs": specs,
        "normalization": normalization, "splits": splits,
    }
    manifest["hash"] = _set_hash(specs, splits)
    atomic_write_json(out / "manifest.json", manifest)
    return CalibrationSet(out, manifest)


def resolve_calibration_path(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    p = Path(name_or_path)
    if (p / "manifest.json").exists():
        return p
    base = Path(root or os.environ.get("JEPA_EDGE_CALIBRATION", DEFAULT_ROOT))
    if (base / p / "manifest.json").exists():
        return base / p
    raise DataError(f"no calibration set {str(name_or_path)!r} (looked in {p} and {base / p}); "
                    f"record one with `jepa-edge calibrate --out {base / p.name}`")


def load_calibration_set(name_or_path: str | os.PathLike, root=None, verify: bool = True) -> CalibrationSet:
    path = resolve_calibration_path(name_or_path, root)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}/manifest.json is truncated or corrupt: {e}") from e
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path} is not a jepa-edge calibration set")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(f"calibration set {path} has format version {manifest['format_version']}, newer than "
                        f"this jepa-edge reads ({FORMAT_VERSION}): upgrade jepa-edge")
    if verify:
        for split in SPLITS:
            for shard in manifest["splits"][split]["shards"]:
                f = path / shard["file"]
                if not f.is_file() or sha256_file(f) != shard["sha256"]:
                    raise DataError(f"calibration set {path}: shard {shard['file']} is missing or altered; record it again")
        if _set_hash(manifest["inputs"], manifest["splits"]) != manifest["hash"]:
            raise DataError(f"calibration set {path}: manifest hash does not match its contents")
    cs = CalibrationSet(path, manifest)
    if cs.count("calib") < MIN_RECOMMENDED:
        warnings.warn(f"calibration set {cs.name!r} has {cs.count('calib')} samples, fewer than the recommended "
                      f"{MIN_RECOMMENDED}", SmallCalibrationWarning, stacklevel=2)
    return cs
