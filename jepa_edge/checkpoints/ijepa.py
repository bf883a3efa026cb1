"""I-JEPA (facebookresearch/ijepa): image ViT with a fixed 2D sin-cos table stored in the file,
weights prefixed `module.`; predictor with one mask token. Released: ViT-H/14, ViT-H/16-448, ViT-g/16."""
from __future__ import annotations

from jepa_edge.checkpoints.jepa_vit import Family, convert_family

IJEPA = Family(name="ijepa", pos="sincos", encoder_keys=("target_encoder", "encoder"), giant="vit_giant",
               img_size=224, frames=1, predictor_heads=None)


def convert_ijepa(ckpt: dict, **flags) -> tuple[dict, dict]:
    """Official I-JEPA checkpoint dict -> (config, state dict). Flags: see jepa_vit.convert_family."""
    return convert_family(ckpt, IJEPA, **flags)
