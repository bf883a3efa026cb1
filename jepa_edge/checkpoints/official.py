"""Reading official JEPA checkpoint files, and the checks every converter shares.

Official files are `torch.save`d dicts: {"encoder": sd, "predictor": sd, "target_encoder": sd,
"opt": ..., "epoch": ..., ...}, weights prefixed `module.` (DDP) and, for V-JEPA, `backbone.`
(MultiSeqWrapper). They are read with `weights_only=True`: tensors and plain containers only,
no arbitrary pickled code runs. Anything unreadable becomes one CheckpointError saying what the
file looks like and what to do, not a traceback from inside torch.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import torch

from jepa_edge.errors import CheckpointError

WRAPPER_PREFIXES = ("module.", "backbone.")


def read_official(path) -> dict:
    """torch.load(path, weights_only=True) -> dict, with clear errors for missing, truncated,
    non-checkpoint and pickle-code files."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file: pass the official .pth.tar/.pt "
                              f"file itself (e.g. {path}/<name>.pth.tar)" + _listing(path))
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: file is empty")
    is_zip = zipfile.is_zipfile(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if not is_zip and head[:2] == b"PK":
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (a zip archive without its directory); "
                              "download it again")
    if not is_zip and head[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (starts with {head!r}); "
                              "expected an official .pth.tar/.pt file")
    if is_zip:
        check_zip_crcs(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception as e:  # the boundary to torch: every failure becomes one actionable line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Weights only load failed" in str(e):
            raise CheckpointError(
                f"{path}: holds pickled Python objects beyond tensors, which jepa-edge will not execute "
                "(weights_only=True); re-save its state dicts with torch.save in a trusted environment"
            ) from None
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint, truncated or corrupt ({msg})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def _listing(path: Path) -> str:
    try:
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".tar", ".pt", ".pth", ".ckpt"))
    except OSError:
        return ""
    return f"; checkpoint-like files in it: {', '.join(found[:5])}" if found else ""


def check_zip_crcs(path: Path) -> None:
    """torch.load ignores the CRC-32 that the zip format keeps for every member, so a bit-rotted
    download loads with altered tensors. Check every member's CRC first and name the first bad one."""
    import zlib

    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every member, compares its CRC-32
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {e}); "
                              "download it again") from None
    if bad is not None:
        raise CheckpointError(f"{path}: member {bad} fails its CRC-32 check (the file is corrupt: bit rot or a bad "
                              "download); download it again")


def check_finite(state: dict, what: str) -> None:
    """Refuse NaN/Inf weights, naming the tensors: a model built from them embeds everything to NaN."""
    bad = [k for k, v in state.items()
           if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{what}: {len(bad)} tensor(s) hold NaN or Inf values: {abbrev(bad)}; the checkpoint "
                              "is corrupt or from a diverged run")


def is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def select_state(ckpt: dict, key: str | None, preference: tuple[str, ...], what: str) -> tuple[str, dict]:
    """The sub-dict to convert: `key` if given, else the first of `preference` present.
    A bare state dict (no sub-dicts) is taken as it is."""
    if is_state_dict(ckpt):
        return "<state dict>", ckpt
    found = [k for k, v in ckpt.items() if isinstance(v, dict) and is_state_dict(v)]
    if key is not None:
        if key not in ckpt:
            raise CheckpointError(f"no {key!r} in the checkpoint; it holds {sorted(map(str, ckpt))} "
                                  f"(state dicts: {found})")
        if not is_state_dict(ckpt[key]):
            raise CheckpointError(f"{key!r} in the checkpoint is not a state dict of tensors")
        return key, ckpt[key]
    for k in preference:
        if k in found:
            return k, ckpt[k]
    raise CheckpointError(f"no {what} state dict in the checkpoint (looked for {list(preference)}); "
                          f"it holds {sorted(map(str, ckpt))}; pass --key")


def strip_wrapper_prefixes(sd: dict) -> dict:
    """Drop leading `module.` / `backbone.` as the official loaders do."""
    out = {}
    for key, value in sd.items():
        name = key
        while name.startswith(WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if name in out:
            raise CheckpointError(f"two keys map to {name!r} after removing wrapper prefixes (one is {key!r})")
        out[name] = value
    return out


def block_count(sd: dict, prefix: str) -> int:
    """1 + the highest block index under `prefix` (gaps then show up as missing keys)."""
    idx = [int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))]
    if not idx:
        raise CheckpointError(f"no {prefix}N.* keys: not a JEPA transformer state dict")
    return max(idx) + 1


def need(sd: dict, key: str, what: str) -> torch.Tensor:
    if key not in sd:
        shown = ", ".join(sorted(sd)[:8]) + (" ..." if len(sd) > 8 else "")
        raise CheckpointError(f"missing {key!r} ({what}); keys found: {shown}")
    return sd[key]


def source_record(fmt: str, encoder_key: str, dropped: list[str], ckpt: dict) -> dict:
    """The `source` entry of a converted model's config: the format, which sub-dict held the encoder,
    the tensors left out on purpose, and the training epoch when the file records one."""
    source = {"format": fmt, "encoder_key": encoder_key}
    if dropped:
        source["dropped_unused"] = dropped
    if isinstance(ckpt.get("epoch"), int):
        source["epoch"] = ckpt["epoch"]
    return source


def abbrev(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def check_keys(expected: dict[str, tuple], got: dict[str, torch.Tensor], what: str, to_official=lambda k: k) -> None:
    """Refuse any missing key, unexpected key or shape mismatch, naming them (official names),
    in model order (patch embedding, blocks 0..n, final norm) so the first ones shown say the most."""
    missing = [to_official(k) for k in expected if k not in got]
    unexpected = [to_official(k) for k in got if k not in expected]
    mismatched = [
        f"{to_official(k)} {list(got[k].shape)} (expected {list(s)})"
        for k, s in expected.items()
        if k in got and tuple(got[k].shape) != tuple(s)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {abbrev(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {abbrev(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {abbrev(mismatched)}")
        raise CheckpointError(f"{what} does not match the architecture: " + "; ".join(parts))
