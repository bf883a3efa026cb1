"""Official checkpoint formats -> our model dir. One pure converter module per format; this table
is the whole list of official layouts (the CLI's --format choices: these plus "hf", a transformers
save_pretrained dir or hf://ORG/NAME[@REV], read by checkpoints/hf.py)."""
from __future__ import annotations

import importlib
from pathlib import Path

from jepa_edge.checkpoints.official import check_finite, read_official

# format -> (module, function, what it holds). Each function: (checkpoint dict, **flags) -> (config, state dict)
FORMATS: dict[str, tuple[str, str, str]] = {
    "ijepa": ("jepa_edge.checkpoints.ijepa", "convert_ijepa", "I-JEPA image encoder (+ predictor)"),
    "vjepa": ("jepa_edge.checkpoints.vjepa", "convert_vjepa", "V-JEPA video encoder, 3D sin-cos (+ predictor)"),
    "vjepa2": ("jepa_edge.checkpoints.vjepa2", "convert_vjepa2", "V-JEPA 2 video encoder, 3D RoPE (+ predictor)"),
    "vjepa2.1": ("jepa_edge.checkpoints.vjepa2_1", "convert_vjepa2_1", "V-JEPA 2.1 encoder from ema_encoder"),
    "vjepa2-ac": ("jepa_edge.checkpoints.vjepa2_ac", "convert_vjepa2_ac", "V-JEPA 2-AC encoder + AC predictor"),
}


def converter(fmt: str):
    from jepa_edge.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"unknown checkpoint format {fmt!r}; known: {', '.join(FORMATS)}")
    module, func, _ = FORMATS[fmt]
    return getattr(importlib.import_module(module), func)


# Not an official file: a transformers save_pretrained dir or hf://ORG/NAME[@REV] (checkpoints/hf.py).
HF_FORMAT = "hf"


def detect_format(src) -> str | None:
    """"hf" for an hf:// reference or a folder whose config.json names a transformers model_type;
    None otherwise (an official file: its layout cannot be told from the file, --format says it)."""
    from jepa_edge.checkpoints.hf import is_hf_url, looks_like_hf_dir

    if is_hf_url(str(src)) or (Path(src).is_dir() and looks_like_hf_dir(src)):
        return HF_FORMAT
    return None


def convert_checkpoint(src, dst, fmt: str | None = None, **flags) -> Path:
    """Read an official file (or a Hugging Face model: `fmt` "hf", or None to detect it), convert it,
    check it against our modules, write a model dir at `dst`."""
    from jepa_edge.errors import CheckpointError, ConfigError
    from jepa_edge.models.model_dir import bundle_from_state, save_model_dir

    detected = detect_format(src)
    if fmt is None and detected is None and not Path(src).exists():
        raise CheckpointError(f"{src}: no such file or directory")
    if fmt is None and detected is None:
        raise ConfigError(f"{src}: pass --format ({', '.join([*FORMATS, HF_FORMAT])}); only Hugging Face model "
                          "dirs (config.json with a model_type) and hf:// references are detected")
    if fmt == HF_FORMAT or (fmt is None and detected == HF_FORMAT):
        from jepa_edge.checkpoints.hf import convert_hf_dir

        return convert_hf_dir(src, dst, **flags)
    if detected == HF_FORMAT:
        raise ConfigError(f"{src} is a Hugging Face model (config.json names a model_type), not an official "
                          f"{fmt} file: pass --format hf, or leave --format out")
    ckpt = read_official(src)
    config, state = converter(fmt)(ckpt, **{k: v for k, v in flags.items() if v is not None})
    check_finite(state, str(src))
    bundle = bundle_from_state(config, state, what=str(src))
    source = dict(config.get("source", {}), file=Path(src).name)
    return save_model_dir(dst, bundle, source=source)


__all__ = ["FORMATS", "HF_FORMAT", "convert_checkpoint", "converter", "detect_format", "read_official"]
