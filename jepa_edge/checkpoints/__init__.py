"""Official checkpoint formats -> our model dir. One pure converter module per format; this table
is the whole list (the CLI's --format choices come from it)."""
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


def convert_checkpoint(src, dst, fmt: str, **flags) -> Path:
    """Read an official file, convert it, check it against our modules, write a model dir at `dst`."""
    from jepa_edge.models.model_dir import bundle_from_state, save_model_dir

    ckpt = read_official(src)
    config, state = converter(fmt)(ckpt, **{k: v for k, v in flags.items() if v is not None})
    check_finite(state, str(src))
    bundle = bundle_from_state(config, state, what=str(src))
    source = dict(config.get("source", {}), file=Path(src).name)
    return save_model_dir(dst, bundle, source=source)


__all__ = ["FORMATS", "convert_checkpoint", "converter", "read_official"]
