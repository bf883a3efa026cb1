"""V-JEPA (facebookresearch/jepa): video ViT with 2x16x16 tubelets (Conv3d) and a fixed 3D sin-cos
table stored in the file, weights prefixed `module.backbone.`; predictor with 2 mask tokens.
Released: ViT-L/16, ViT-H/16 (224), ViT-H/16-384, 16 frames."""
from __future__ import annotations

from jepa_edge.checkpoints.jepa_vit import Family, convert_family

VJEPA = Family(name="vjepa", pos="sincos", encoder_keys=("target_encoder", "encoder"), giant="vit_giant",
               img_size=224, frames=16, predictor_heads=None)


def convert_vjepa(ckpt: dict, **flags) -> tuple[dict, dict]:
    """Official V-JEPA checkpoint dict -> (config, state dict). Flags: see jepa_vit.convert_family."""
    return convert_family(ckpt, VJEPA, **flags)
