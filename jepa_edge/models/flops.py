"""Parameter and multiply-accumulate counts (analytic, no tracing)."""
from __future__ import annotations

import torch.nn as nn

from jepa_edge.models.config import EncoderConfig, PredictorConfig


def count_params(module: nn.Module) -> int:
    """Number of parameters (buffers such as position tables are not counted)."""
    return sum(p.numel() for p in module.parameters())


def _block_macs(n: int, d: int, hidden: int) -> int:
    qkv = n * d * 3 * d
    attn = 2 * n * n * d  # q @ k^T and attn @ v
    proj = n * d * d
    mlp = 2 * n * d * hidden
    return qkv + attn + proj + mlp


def encoder_macs(cfg: EncoderConfig) -> int:
    """MACs of one forward pass at batch 1 (vit_small/16 at 224: ~4.6 G). Norms, softmax, GELU and
    RoPE are elementwise and left out, as is customary."""
    n = cfg.num_patches
    patch = n * cfg.embed_dim * cfg.in_chans * cfg.patch_size**2 * (cfg.tubelet_size if cfg.is_video else 1)
    return patch + cfg.depth * _block_macs(n, cfg.embed_dim, cfg.mlp_hidden)


def predictor_macs(cfg: PredictorConfig, n_ctx: int, n_tgt: int) -> int:
    """MACs of one predictor pass with `n_ctx` context and `n_tgt` target tokens."""
    n, p = n_ctx + n_tgt, cfg.predictor_embed_dim
    return n_ctx * cfg.embed_dim * p + cfg.depth * _block_macs(n, p, cfg.mlp_hidden) + n_tgt * p * cfg.output_dim
