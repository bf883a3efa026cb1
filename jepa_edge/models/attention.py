"""Transformer block pieces shared by the encoder and the predictors (pre-norm ViT block).

Math as the official JEPA code: fused qkv Linear laid out as (3, heads, head_dim), softmax
attention scaled by head_dim^-0.5, exact (erf) GELU, LayerNorm with eps from the config.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from jepa_edge.models.rope import apply_rope


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope=None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)  # [B, N, 3, h, hd]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, h, N, hd]
        if rope is not None:
            cos, sin = rope  # [1 or B, 1, N, hd]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [B, h, N, hd]
        x = x.transpose(1, 2).reshape(B, N, C)  # [B, N, C]
        return self.proj(x)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf GELU, as nn.GELU() in the official code
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qkv_bias: bool = True, norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLP(dim, mlp_hidden)

    def forward(self, x, rope=None, attn_mask=None):
        x = x + self.attn(self.norm1(x), rope=rope, attn_mask=attn_mask)
        return x + self.mlp(self.norm2(x))
