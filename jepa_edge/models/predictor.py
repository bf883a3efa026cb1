"""The I-JEPA / V-JEPA mask-token predictor.

Context tokens (encoder width) are mapped to the narrow predictor width; one learned mask token
per target position is appended; both get positions (sin-cos table, or RoPE inside attention as
V-JEPA 2); after the blocks and a LayerNorm, the target positions are projected to `output_dim`.

The official code sorts context+target tokens by position before the blocks and unsorts after;
attention without a causal mask is permutation-equivariant, so we skip that (same outputs,
no per-sample loops, exportable).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from jepa_edge.models.attention import Block
from jepa_edge.models.config import PredictorConfig
from jepa_edge.models.pos_embed import sincos_2d, sincos_3d
from jepa_edge.models.rope import rope_tables
from jepa_edge.models.vit import init_vit_weights


class MaskTokenPredictor(nn.Module):
    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        self.cfg = cfg
        P = cfg.predictor_embed_dim
        self.embed = nn.Linear(cfg.embed_dim, P)
        self.mask_tokens = nn.Parameter(torch.zeros(cfg.num_mask_tokens, P))  # zero init, as official
        self.blocks = nn.ModuleList(
            Block(P, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(P, eps=cfg.norm_eps)
        self.proj = nn.Linear(P, cfg.output_dim)
        self.init_buffers()
        init_vit_weights(self, self.blocks)

    def init_buffers(self) -> None:
        """(Re)compute the constant position buffers (see VisionTransformer.init_buffers)."""
        cfg = self.cfg
        t, h, w = cfg.grid
        if cfg.pos == "sincos":
            P = cfg.predictor_embed_dim
            table = sincos_3d(P, t, h, w) if cfg.is_video else sincos_2d(P, h, w)
            self.register_buffer("pos_embed", table)  # [N, P], persistent: checkpoints bring their own
        else:
            cos, sin = rope_tables(cfg.grid, cfg.head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)  # [N, hd]
            self.register_buffer("rope_sin", sin, persistent=False)

    def forward(
        self, ctx_tokens: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor, mask_index: int = 0
    ) -> torch.Tensor:
        """ctx_tokens [B, Nc, D_enc], ctx_idx [B, Nc], tgt_idx [B, Nt] -> [B, Nt, output_dim].

        tgt_idx may also be [B, n_blocks, Nt] (I-JEPA's several target blocks): each block is
        predicted from the same context, output [B, n_blocks, Nt, output_dim].
        `mask_index` picks the learned mask token (V-JEPA uses one per mask family).
        """
        if tgt_idx.dim() == 3:
            B, nb, Nt = tgt_idx.shape
            ctx_tokens = ctx_tokens.repeat_interleave(nb, dim=0)  # [B*nb, Nc, D]
            ctx_idx = ctx_idx.repeat_interleave(nb, dim=0)
            out = self.forward(ctx_tokens, ctx_idx, tgt_idx.reshape(B * nb, Nt), mask_index)
            return out.reshape(B, nb, Nt, -1)

        B, Nc, _ = ctx_tokens.shape
        Nt = tgt_idx.shape[1]
        x = self.embed(ctx_tokens)  # [B, Nc, P]
        tgt = self.mask_tokens[mask_index % self.cfg.num_mask_tokens].expand(B, Nt, -1)  # [B, Nt, P]
        rope = None
        if self.cfg.pos == "sincos":
            x = x + self.pos_embed[ctx_idx]  # gather rows of the constant table
            tgt = tgt + self.pos_embed[tgt_idx]
        else:
            idx = torch.cat([ctx_idx, tgt_idx], dim=1)  # [B, Nc+Nt]
            rope = self.rope_cos[idx].unsqueeze(1), self.rope_sin[idx].unsqueeze(1)  # [B, 1, Nc+Nt, hd]
        x = torch.cat([x, tgt], dim=1)  # [B, Nc+Nt, P]
        for blk in self.blocks:
            x = blk(x, rope=rope)
        x = self.norm(x)
        return self.proj(x[:, Nc:])  # [B, Nt, output_dim]
