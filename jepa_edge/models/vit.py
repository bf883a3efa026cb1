"""The JEPA Vision Transformer encoder (I-JEPA images, V-JEPA / V-JEPA 2 video).

Pixels -> (an optional Gaussian low-pass, `input_blur`) -> patch tokens (Conv2d for images, Conv3d
over `tubelet_size` frames for video) -> positions (a fixed sin-cos table added once, or 3D RoPE
inside every attention) -> pre-norm blocks -> final LayerNorm. Parameter names follow the official
code (patch_embed.proj, blocks.i.attn.qkv, norm, ...).

Export-safe: the grid is fixed by the config, position tables are constant buffers, and masks
select tokens with `gather` (no per-sample Python loops).
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from jepa_edge.models.attention import Block
from jepa_edge.models.config import EncoderConfig
from jepa_edge.models.pos_embed import sincos_2d, sincos_3d
from jepa_edge.models.rope import rope_tables


class InputBlur(nn.Module):
    """Separable Gaussian low-pass over H and W of each channel (and frame), edges reflected.

    Anti-aliasing before a strided patch embedding (as blur-pooling does before strided convs): a
    sharp object that straddles a patch border changes more tokens, by a different total amount,
    than one centred in a patch, so the L1 distance between two frames ripples with the object's
    position at the patch period instead of growing with how far it moved. Measured on the built-in
    world by experiments/energy_landscape.py. The taps are a constant buffer rebuilt from the config,
    so checkpoints do not carry them; export sees two small depthwise convolutions."""

    def __init__(self, sigma: float, channels: int):
        super().__init__()
        self.sigma, self.channels = sigma, channels
        self.radius = max(1, math.ceil(3 * sigma))
        self.init_buffers()

    def init_buffers(self) -> None:
        r = torch.arange(-self.radius, self.radius + 1, dtype=torch.float32)
        taps = torch.exp(-0.5 * (r / self.sigma) ** 2)
        self.register_buffer("taps", (taps / taps.sum()).repeat(self.channels, 1), persistent=False)  # [C, K]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape  # [B, C, H, W] or [B, C, T, H, W]
        if x.dim() == 5:  # frames as batch: [B*T, C, H, W]
            x = x.transpose(1, 2).flatten(0, 1)
        C, K, r = self.channels, self.taps.shape[1], self.radius
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), self.taps.view(C, 1, 1, K), groups=C)
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), self.taps.view(C, 1, K, 1), groups=C)
        if len(shape) == 5:
            x = x.view(shape[0], shape[2], C, *shape[3:]).transpose(1, 2)
        return x


class PatchEmbed(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        p = cfg.patch_size
        if cfg.is_video:
            k = (cfg.tubelet_size, p, p)
            self.proj = nn.Conv3d(cfg.in_chans, cfg.embed_dim, kernel_size=k, stride=k)
        else:
            self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=p, stride=p)
        self.blur = InputBlur(cfg.input_blur, cfg.in_chans) if cfg.input_blur > 0 else None

    def forward(self, x):
        if self.blur is not None:
            x = self.blur(x)
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, t, h, w] -> [B, N, D]


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, N, D], idx [B, K] -> [B, K, D]."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def init_vit_weights(module: nn.Module, blocks, std: float = 0.02) -> None:
    """The official init: truncated normal for Linear/Conv, unit LayerNorm, and the output projections
    of block i (1-based) divided by sqrt(2 i)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for i, blk in enumerate(blocks, start=1):
            blk.attn.proj.weight.div_(math.sqrt(2.0 * i))
            blk.mlp.fc2.weight.div_(math.sqrt(2.0 * i))


class VisionTransformer(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.init_buffers()
        init_vit_weights(self, self.blocks)

    def init_buffers(self) -> None:
        """(Re)compute the constant position buffers. Loading builds on the meta device and calls this
        instead of paying for a random init that the weights overwrite anyway."""
        cfg = self.cfg
        t, h, w = cfg.grid
        if self.patch_embed.blur is not None:
            self.patch_embed.blur.init_buffers()
        if cfg.pos == "sincos":
            # Persistent: converted checkpoints bring their own table (I-JEPA orders its 2D halves
            # differently from V-JEPA), so the exact table travels with the weights.
            table = sincos_3d(cfg.embed_dim, t, h, w) if cfg.is_video else sincos_2d(cfg.embed_dim, h, w)
            self.register_buffer("pos_embed", table.unsqueeze(0))  # [1, N, D]
        else:
            cos, sin = rope_tables(cfg.grid, cfg.head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)  # [N, hd]
            self.register_buffer("rope_sin", sin, persistent=False)

    # -- input checks -------------------------------------------------------------------------
    def _expected_shape(self) -> tuple[int, ...]:
        c = self.cfg
        s = c.img_size
        return (c.in_chans, c.num_frames, s, s) if c.is_video else (c.in_chans, s, s)

    def _check_input(self, x: torch.Tensor) -> None:
        want = self._expected_shape()
        if tuple(x.shape[1:]) != want:
            layout = "[B, C, T, H, W]" if self.cfg.is_video else "[B, C, H, W]"
            raise ValueError(f"{self.cfg.arch} expects input {layout} = [B, {', '.join(map(str, want))}], "
                             f"got {list(x.shape)}")

    # -- forward paths --------------------------------------------------------------------------
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = self.patch_embed(x)  # [B, N, D]
        if self.cfg.pos == "sincos":
            x = x + self.pos_embed
        return x

    def _rope(self, masks: torch.Tensor | None):
        if self.cfg.pos != "rope":
            return None
        if masks is None:
            return self.rope_cos[None, None], self.rope_sin[None, None]  # [1, 1, N, hd]
        return self.rope_cos[masks].unsqueeze(1), self.rope_sin[masks].unsqueeze(1)  # [B, 1, K, hd]

    def forward_features(self, x: torch.Tensor, masks: torch.Tensor | list | None = None) -> torch.Tensor:
        """Normed tokens [B, N, D], or of the kept indices `masks` [B, K] -> [B, K, D].

        A list of index tensors (one per mask family, as V-JEPA's multi-mask) is run as one batch:
        the output is the per-mask results concatenated along the batch dim.
        """
        x = self._embed(x)
        if isinstance(masks, (list, tuple)):
            x = x.repeat(len(masks), 1, 1)
            masks = torch.cat(list(masks), dim=0)
        if masks is not None:
            x = gather_tokens(x, masks)  # positions were added before masking
        rope = self._rope(masks)
        for blk in self.blocks:
            x = blk(x, rope=rope)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] (image) or [B, C, T, H, W] (video) -> normed tokens [B, N, D]."""
        return self.forward_features(x)

    def forward_intermediates(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        """Outputs of the blocks at `indices` (negative counts from the end), each through the
        final norm as the official `out_layers`, in block order: list of [B, N, D]."""
        depth = len(self.blocks)
        bad = [i for i in indices if not -depth <= i < depth]
        if bad:
            raise ValueError(f"block indices {bad} out of range for depth {depth}")
        wanted = {i % depth for i in indices}
        x = self._embed(x)
        rope = self._rope(None)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x, rope=rope)
            if i in wanted:
                outs.append(self.norm(x))
        return outs


def with_input_blur(encoder: VisionTransformer, sigma: float | None) -> VisionTransformer:
    """The same weights behind another input low-pass (its taps are config, not weights); None or
    the encoder's own sigma: the encoder itself."""
    if sigma is None or sigma == encoder.cfg.input_blur:
        return encoder
    blurred = VisionTransformer(replace(encoder.cfg, input_blur=sigma))
    blurred.load_state_dict(encoder.state_dict())
    return blurred
