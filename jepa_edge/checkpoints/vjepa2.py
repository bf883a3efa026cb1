"""V-JEPA 2 (facebookresearch/vjepa2): video ViT with 3D RoPE in attention (no position table),
weights prefixed `module.backbone.`; predictor 384 wide, 12 deep, 12 heads (the released configs'
pred_num_heads), 10 mask tokens. Released: ViT-L, ViT-H, ViT-g (22 heads), ViT-g/384; 256 px.

The released files still carry `pos_embed` (and the predictor's `predictor_pos_embed`) that the
RoPE model never reads; exactly those are dropped (and listed in config.json's source).
The weights do not fix the input size or the clip length: flags, default 256 px and 16 frames.
"""
from __future__ import annotations

from jepa_edge.checkpoints.jepa_vit import Family, convert_encoder_state, convert_family

VJEPA2 = Family(name="vjepa2", pos="rope", encoder_keys=("target_encoder", "encoder"), giant="vit_giant_xformers",
                img_size=256, frames=16, predictor_heads=12, leftovers=("pos_embed",),
                predictor_leftovers=("predictor_pos_embed",))


def convert_vjepa2(ckpt: dict, **flags) -> tuple[dict, dict]:
    """Official V-JEPA 2 checkpoint dict -> (config, state dict). Flags: see jepa_vit.convert_family."""
    return convert_family(ckpt, VJEPA2, **flags)


def convert_vjepa2_encoder(encoder_sd: dict, **flags):
    """Just the encoder of a V-JEPA 2 file (used by the V-JEPA 2-AC converter):
    -> (EncoderConfig, our encoder state dict, dropped leftover keys)."""
    return convert_encoder_state(encoder_sd, VJEPA2, **flags)
