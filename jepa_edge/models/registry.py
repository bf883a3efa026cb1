"""Named encoder sizes and builders.

Widths/depths/heads are the official ones (I-JEPA, V-JEPA, V-JEPA 2). Heads cannot be read from
weights, which is why the name matters: `vit_giant` has 16 heads (I-JEPA), `vit_giant_xformers`
22 (V-JEPA 2). `vit_nano` is ours: the smallest student for a robot's CPU.
An arch string may carry the patch size: "vit_small/16" == vit_small with patch_size=16.
"""
from __future__ import annotations

from jepa_edge.errors import ConfigError
from jepa_edge.models.config import EncoderConfig, PredictorConfig

# name -> (embed_dim, depth, num_heads)
ARCHS: dict[str, tuple[int, int, int]] = {
    "vit_nano": (128, 12, 2),
    "vit_tiny": (192, 12, 3),
    "vit_small": (384, 12, 6),
    "vit_base": (768, 12, 12),
    "vit_large": (1024, 24, 16),
    "vit_huge": (1280, 32, 16),
    "vit_giant": (1408, 40, 16),
    "vit_giant_xformers": (1408, 40, 22),
}
# The giants use a 6144-wide MLP (1408 * 48/11); everything else 4x.
MLP_RATIOS: dict[str, float] = {"vit_giant": 48 / 11, "vit_giant_xformers": 48 / 11}

PREDICTOR_WIDTH, PREDICTOR_DEPTH = 384, 12  # the official narrow predictor


def parse_arch(arch: str) -> tuple[str, int | None]:
    """"vit_small/16" -> ("vit_small", 16); "vit_small" -> ("vit_small", None)."""
    name, _, patch = arch.partition("/")
    if name not in ARCHS:
        raise ConfigError(f"unknown arch {name!r}; known: {', '.join(ARCHS)}")
    if patch and not patch.isdigit():
        raise ConfigError(f"bad patch size in arch {arch!r} (expected e.g. vit_small/16)")
    return name, int(patch) if patch else None


def _config(cls, kw: dict, what: str):
    """A misspelled override is a TypeError from the dataclass; report it as a ConfigError."""
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"{what}: {e}") from None


def encoder_config(arch: str, **overrides) -> EncoderConfig:
    name, patch = parse_arch(arch)
    dim, depth, heads = ARCHS[name]
    kw = dict(arch=name, embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=MLP_RATIOS.get(name, 4.0))
    if patch is not None:
        kw["patch_size"] = patch
    return _config(EncoderConfig, {**kw, **overrides}, f"encoder_config({arch!r})")


def build_encoder(arch: str, **overrides):
    from jepa_edge.models.vit import VisionTransformer

    return VisionTransformer(encoder_config(arch, **overrides))


def predictor_config(enc_cfg: EncoderConfig, **overrides) -> PredictorConfig:
    """A predictor matching the encoder's grid and positions. Heads default to the encoder's
    (I-JEPA / V-JEPA), or 12 when those do not divide the predictor width (V-JEPA 2's choice for its
    22-head giant)."""
    width = overrides.get("predictor_embed_dim", PREDICTOR_WIDTH)
    heads = enc_cfg.num_heads if width % enc_cfg.num_heads == 0 else 12
    kw = dict(
        embed_dim=enc_cfg.embed_dim,
        predictor_embed_dim=width,
        depth=PREDICTOR_DEPTH,
        num_heads=heads,
        patch_size=enc_cfg.patch_size,
        img_size=enc_cfg.img_size,
        num_frames=enc_cfg.num_frames,
        tubelet_size=enc_cfg.tubelet_size,
        pos=enc_cfg.pos,
        num_mask_tokens=2 if enc_cfg.is_video else 1,  # V-JEPA: one per mask family (short, long range)
        qkv_bias=enc_cfg.qkv_bias,
        norm_eps=enc_cfg.norm_eps,
    )
    return _config(PredictorConfig, {**kw, **overrides}, "predictor_config")


def build_predictor(enc_cfg: EncoderConfig, **overrides):
    from jepa_edge.models.predictor import MaskTokenPredictor

    return MaskTokenPredictor(predictor_config(enc_cfg, **overrides))
