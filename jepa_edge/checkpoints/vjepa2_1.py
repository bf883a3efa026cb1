"""V-JEPA 2.1 (facebookresearch/vjepa2): distilled ViT-B / ViT-L students with 3D RoPE, the
V-JEPA 2 encoder architecture; the encoder to use is the EMA copy under `ema_encoder` (the ViT-G
teacher file has it under `target_encoder`), 384 px.

Caveat: the public code snapshot we could read predates 2.1, so this converter assumes the V-JEPA 2
architecture; strict key checks refuse (naming the keys) any file that differs from it.
"""
from __future__ import annotations

from dataclasses import replace

from jepa_edge.checkpoints.jepa_vit import convert_family
from jepa_edge.checkpoints.vjepa2 import VJEPA2

VJEPA2_1 = replace(VJEPA2, name="vjepa2.1", encoder_keys=("ema_encoder", "target_encoder", "encoder"), img_size=384)


def convert_vjepa2_1(ckpt: dict, **flags) -> tuple[dict, dict]:
    """Official V-JEPA 2.1 checkpoint dict -> (config, state dict). Flags: see jepa_vit.convert_family."""
    return convert_family(ckpt, VJEPA2_1, **flags)
