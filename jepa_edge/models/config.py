"""Frozen configs for the encoder and the mask-token predictor.

A config is everything needed to rebuild a module's shapes; weights live elsewhere (safetensors).
`to_dict()` / `from_dict()` round-trip through config.json; unknown keys are an error, so a file
written by a newer or different tool is refused instead of silently half-read.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from jepa_edge.errors import ConfigError

POSITIONS = ("sincos", "rope")


def _from_dict(cls, d: dict, what: str):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{what}: unknown keys {unknown}; known keys are {sorted(names)}")
    try:
        return cls(**d)
    except TypeError as e:  # a required key is missing
        raise ConfigError(f"{what}: {e}") from None


@dataclass(frozen=True)
class _GridMixin:
    """Token-grid arithmetic shared by encoder and predictor configs."""

    @property
    def is_video(self) -> bool:
        return self.num_frames > 1

    @property
    def grid(self) -> tuple[int, int, int]:
        """(t, h, w) token grid; t == 1 for images."""
        side = self.img_size // self.patch_size
        t = self.num_frames // self.tubelet_size if self.is_video else 1
        return (t, side, side)

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def _check_grid(self, what: str) -> None:
        if self.pos not in POSITIONS:
            raise ConfigError(f"{what}: pos must be one of {POSITIONS}, got {self.pos!r}")
        if self.img_size % self.patch_size:
            raise ConfigError(f"{what}: img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.is_video and self.num_frames % self.tubelet_size:
            raise ConfigError(
                f"{what}: num_frames {self.num_frames} is not a multiple of tubelet_size {self.tubelet_size}"
            )


@dataclass(frozen=True)
class EncoderConfig(_GridMixin):
    arch: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224
    in_chans: int = 3
    num_frames: int = 1
    tubelet_size: int = 2
    pos: str = "sincos"  # "sincos": fixed 2D/3D table added to the patches; "rope": 3D RoPE in attention
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    # sigma (pixels at img_size) of a Gaussian low-pass before the patch embedding; 0: none. Why:
    # a small sharp object changes the tokens by an amount that depends on where it sits against the
    # patch grid, which makes a latent distance ripple at the patch period (vit.InputBlur)
    input_blur: float = 0.0

    def __post_init__(self):
        self._check_grid("EncoderConfig")
        if not 0.0 <= self.input_blur <= self.img_size / 8:
            raise ConfigError(f"EncoderConfig: input_blur is a Gaussian sigma in pixels, 0 <= sigma <= img_size / 8 "
                              f"= {self.img_size / 8:g}; got {self.input_blur}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"EncoderConfig: embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.pos == "rope" and (self.embed_dim // self.num_heads) % 2:
            raise ConfigError("EncoderConfig: RoPE needs an even head dim (embed_dim / num_heads)")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)  # int() as the official code: 1408 * 48/11 -> 6144

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        return _from_dict(cls, d, "EncoderConfig")


@dataclass(frozen=True)
class PredictorConfig(_GridMixin):
    """The I-JEPA / V-JEPA mask-token predictor: a narrow ViT over context tokens + mask tokens."""

    embed_dim: int  # width of the encoder tokens it reads
    predictor_embed_dim: int = 384
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224
    num_frames: int = 1
    tubelet_size: int = 2
    pos: str = "sincos"
    num_mask_tokens: int = 1  # I-JEPA: 1; V-JEPA: 2; V-JEPA 2: 10 (one per mask family)
    out_dim: int | None = None  # None: embed_dim; distillation sets the teacher width
    qkv_bias: bool = True
    norm_eps: float = 1e-6

    def __post_init__(self):
        self._check_grid("PredictorConfig")
        if self.predictor_embed_dim % self.num_heads:
            raise ConfigError(
                f"PredictorConfig: predictor_embed_dim {self.predictor_embed_dim} is not divisible by "
                f"num_heads {self.num_heads}"
            )
        if self.num_mask_tokens < 1:
            raise ConfigError("PredictorConfig: num_mask_tokens must be >= 1")

    @property
    def head_dim(self) -> int:
        return self.predictor_embed_dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.predictor_embed_dim * self.mlp_ratio)

    @property
    def output_dim(self) -> int:
        return self.out_dim or self.embed_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PredictorConfig":
        return _from_dict(cls, d, "PredictorConfig")


def __getattr__(name):
    # ACPredictorConfig lives with its model (jepa_edge/models/ac_predictor.py); re-exported lazily
    # so `from jepa_edge.models.config import ACPredictorConfig` works as the contract says.
    if name == "ACPredictorConfig":
        from jepa_edge.models.ac_predictor import ACPredictorConfig

        return ACPredictorConfig
    raise AttributeError(name)
