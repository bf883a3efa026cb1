"""The V-JEPA 2-AC action-conditioned predictor: given the encoder tokens of frames 0..T-1 and the
action and robot state of each frame, predict the tokens of frames 1..T.

Matches facebookresearch/vjepa2 `src/models/ac_predictor.py` (VisionTransformerPredictorAC with
ACBlock / ACRoPEAttention) numerically, written export-first:

- per frame the sequence is [action, state, (extrinsics), patch_1 .. patch_HW]; the conditioning
  tokens are interleaved with the patches, so every frame is one block of K + H*W tokens;
- attention is block-causal across frames: a token of frame t sees every token of frames <= t.
  The frame-level mask is a registered buffer, expanded to tokens with expand/reshape;
- RoPE (jepa_edge/models/rope.py, the V-JEPA 2 flavour): the head dim is split into three equal
  even parts rotated by frame, row and column (the rest is left as is); conditioning tokens get
  only the frame part. One rotation table covers the whole interleaved sequence, giving
  conditioning tokens row = column = 0, an exact identity rotation (cos 0 = 1, sin 0 = 0): the
  same numbers as the official per-token-type loop, without the loop. The tables are buffers;
- no Python loop over samples or token types: one qkv matmul per block for all tokens, so a
  planner can push hundreds of candidate action sequences through in one batch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from jepa_edge.errors import ConfigError, DataError
from jepa_edge.models.attention import MLP, Attention
from jepa_edge.models.config import _from_dict
from jepa_edge.models.rope import apply_rope, rope_tables_from_axes

MLPS = ("gelu", "swiglu")


@dataclass(frozen=True)
class ACPredictorConfig:
    embed_dim: int  # width of the encoder tokens read and predicted
    predictor_embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16  # the released model: 64-wide heads
    action_dim: int = 7  # DROID: end-effector delta (xyz, rpy, gripper)
    state_dim: int = 7  # the official code encodes states with the action width
    extrinsics_dim: int = 0  # 0: no extrinsics token (the released model); official: action_dim - 1
    img_size: int = 256
    patch_size: int = 16
    max_frames: int = 32  # most frames per call; official: num_frames // tubelet_size (64 // 2)
    mlp_ratio: float = 4.0
    mlp: str = "gelu"  # "swiglu" = the official use_silu=True variant
    wide_silu: bool = True  # SwiGLU hidden = 2/3 of mlp_ratio * width, rounded up to 8
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    use_rope: bool = True
    frame_causal: bool = True

    def __post_init__(self):
        w, h = self.predictor_embed_dim, self.num_heads
        if w % h:
            raise ConfigError(f"ACPredictorConfig: predictor_embed_dim {w} is not divisible by num_heads {h}")
        if self.use_rope and (w // h) % 2:
            raise ConfigError(f"ACPredictorConfig: RoPE needs an even head dim, got {w} / {h} = {w / h:g}")
        if self.img_size % self.patch_size:
            raise ConfigError(
                f"ACPredictorConfig: img_size {self.img_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.mlp not in MLPS:
            raise ConfigError(f"ACPredictorConfig: mlp must be one of {MLPS}, got {self.mlp!r}")
        for name in ("embed_dim", "depth", "action_dim", "state_dim", "max_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ACPredictorConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.extrinsics_dim < 0:
            raise ConfigError(f"ACPredictorConfig: extrinsics_dim must be >= 0, got {self.extrinsics_dim}")

    @property
    def grid(self) -> tuple[int, int]:
        side = self.img_size // self.patch_size
        return (side, side)

    @property
    def tokens_per_frame(self) -> int:
        h, w = self.grid
        return h * w

    @property
    def cond_tokens(self) -> int:
        """Conditioning tokens per frame: action, state (and extrinsics)."""
        return 3 if self.extrinsics_dim else 2

    @property
    def head_dim(self) -> int:
        return self.predictor_embed_dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        hidden = int(self.predictor_embed_dim * self.mlp_ratio)
        if self.mlp == "swiglu" and self.wide_silu:
            hidden = (int(2 * hidden / 3) + 7) // 8 * 8
        return hidden

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ACPredictorConfig":
        return _from_dict(cls, d, "ACPredictorConfig")


# ---------------------------------------------------------------- positions and mask

def ac_token_positions(num_frames: int, grid: tuple[int, int], cond_tokens: int):
    """(frame, row, col) positions [N] of the interleaved sequence of `num_frames` frames.

    Conditioning tokens (the first `cond_tokens` of each frame) get row = col = 0: a rotation by
    angle 0 is the identity, so they are rotated by the frame part only, as in the official model.
    """
    h, w = grid
    per_frame = cond_tokens + h * w
    idx = torch.arange(num_frames * per_frame)
    frame, slot = idx // per_frame, idx % per_frame
    patch = (slot - cond_tokens).clamp(min=0)
    is_patch = slot >= cond_tokens
    row = torch.where(is_patch, patch // w, 0)
    col = torch.where(is_patch, patch % w, 0)
    return frame, row, col


def block_causal_mask(frame_mask: torch.Tensor, num_frames: int, per_frame: int) -> torch.Tensor:
    """Expand a [F, F] frame mask to a [T*per_frame, T*per_frame] token mask (True = may attend)."""
    m = frame_mask[:num_frames, :num_frames]  # [T, T]
    m = m[:, None, :, None].expand(num_frames, per_frame, num_frames, per_frame)
    return m.reshape(num_frames * per_frame, num_frames * per_frame)


# ---------------------------------------------------------------- modules

class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)  # gate
        self.fc2 = nn.Linear(dim, hidden)  # value
        self.fc3 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc3(F.silu(self.fc1(x)) * self.fc2(x))


class ACBlock(nn.Module):
    def __init__(self, cfg: ACPredictorConfig):
        super().__init__()
        width = cfg.predictor_embed_dim
        self.norm1 = nn.LayerNorm(width, eps=cfg.norm_eps)
        self.attn = Attention(width, cfg.num_heads, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(width, eps=cfg.norm_eps)
        self.mlp = (SwiGLU if cfg.mlp == "swiglu" else MLP)(width, cfg.mlp_hidden)

    def forward(self, x, rope, attn_mask):
        x = x + self.attn(self.norm1(x), rope=rope, attn_mask=attn_mask)
        return x + self.mlp(self.norm2(x))


class ActionConditionedPredictor(nn.Module):
    def __init__(self, cfg: ACPredictorConfig, init_std: float = 0.02):
        super().__init__()
        self.cfg = cfg
        width = cfg.predictor_embed_dim
        self.embed = nn.Linear(cfg.embed_dim, width)  # encoder tokens -> predictor width
        self.action_embed = nn.Linear(cfg.action_dim, width)
        self.state_embed = nn.Linear(cfg.state_dim, width)
        self.extrinsics_embed = nn.Linear(cfg.extrinsics_dim, width) if cfg.extrinsics_dim else None
        self.blocks = nn.ModuleList(ACBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(width, eps=cfg.norm_eps)
        self.proj = nn.Linear(width, cfg.embed_dim)  # back to the encoder width
        frames = torch.ones(cfg.max_frames, cfg.max_frames, dtype=torch.bool)
        if cfg.frame_causal:
            frames = torch.tril(frames)
        # Constants of the architecture, not weights: kept out of the state dict. Calls with
        # fewer frames use a prefix of them (the sequence of T frames is a prefix of max_frames').
        self.register_buffer("frame_mask", frames, persistent=False)  # [F, F], True = may attend
        if cfg.use_rope:
            pos = ac_token_positions(cfg.max_frames, cfg.grid, cfg.cond_tokens)
            cos, sin = rope_tables_from_axes(*pos, cfg.head_dim)  # [F*(K+HW), head_dim]
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights(init_std)

    def _init_weights(self, std: float) -> None:
        """The official init (for training from scratch): truncated normal linears, zero biases,
        identity norms, and each residual branch's output scaled by 1/sqrt(2 * layer)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std)  # cut at +-2 absolute, as the official
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            for layer, blk in enumerate(self.blocks, start=1):
                blk.attn.proj.weight.div_(math.sqrt(2.0 * layer))
                last = blk.mlp.fc3 if isinstance(blk.mlp, SwiGLU) else blk.mlp.fc2
                last.weight.div_(math.sqrt(2.0 * layer))

    def _check_inputs(self, tokens, actions, states, extrinsics) -> int:
        cfg = self.cfg
        n = cfg.tokens_per_frame
        if tokens.dim() != 3 or tokens.shape[-1] != cfg.embed_dim or tokens.shape[1] % n:
            raise DataError(
                f"AC predictor: tokens must be [B, T*{n}, {cfg.embed_dim}] ({cfg.grid[0]}x{cfg.grid[1]} "
                f"patches per frame), got {list(tokens.shape)}"
            )
        T = tokens.shape[1] // n
        if T > cfg.max_frames:
            raise DataError(f"AC predictor: {T} frames given, this model takes at most {cfg.max_frames}")
        want = [("actions", actions, cfg.action_dim), ("states", states, cfg.state_dim)]
        if cfg.extrinsics_dim:
            if extrinsics is None:
                raise DataError(f"AC predictor: this model needs extrinsics [B, T, {cfg.extrinsics_dim}]")
            want.append(("extrinsics", extrinsics, cfg.extrinsics_dim))
        elif extrinsics is not None:
            raise DataError("AC predictor: extrinsics given, but this model has no extrinsics token")
        for name, t, dim in want:
            if t.dim() != 3 or t.shape[1] != T or t.shape[2] != dim:
                raise DataError(f"AC predictor: {name} must be [B, {T}, {dim}] for {T} frames, got {list(t.shape)}")
        return T

    def forward(self, tokens, actions, states, extrinsics=None):
        """tokens [B, T*H*W, D_enc], actions [B, T, A], states [B, T, S] (extrinsics [B, T, E])
        -> [B, T*H*W, D_enc]: block t is the prediction of frame t+1's tokens."""
        cfg = self.cfg
        T = self._check_inputs(tokens, actions, states, extrinsics)
        B, n, K = tokens.shape[0], cfg.tokens_per_frame, cfg.cond_tokens
        x = self.embed(tokens).view(B, T, n, -1)  # [B, T, HW, W]
        cond = [self.action_embed(actions), self.state_embed(states)]
        if self.extrinsics_embed is not None:
            cond.append(self.extrinsics_embed(extrinsics))
        x = torch.cat([torch.stack(cond, dim=2), x], dim=2).flatten(1, 2)  # [B, T*(K+HW), W]
        N = T * (K + n)
        rope = (self.rope_cos[:N], self.rope_sin[:N]) if cfg.use_rope else None
        mask = block_causal_mask(self.frame_mask, T, K + n)
        for blk in self.blocks:
            x = blk(x, rope, mask)
        x = x.view(B, T, K + n, -1)[:, :, K:].flatten(1, 2)  # drop conditioning tokens: [B, T*HW, W]
        return self.proj(self.norm(x))

    def forward_shared_frame(self, tokens, actions, states, extrinsics=None):
        """Planning: B candidate actions from one frame. tokens [1, H*W, D_enc] (one frame),
        actions [B, 1, A], states [B, 1, S] (extrinsics [B, 1, E]) -> [B, H*W, D_enc], the same
        numbers as forward(tokens.expand(B, -1, -1), ...).

        Why: a sampling planner pushes hundreds of actions through the predictor from the same frame,
        and in the first block the frame's tokens do not depend on the action. Their embedding, norm,
        qkv and RoPE are computed once, not B times. Their attention is split exactly, not approximated:
        a patch query's softmax runs over the frame's keys (shared: scores, exp-sum and weighted values
        once) and the sample's conditioning keys (K per sample), joined by log-sum-exp. Only the
        conditioning tokens and everything after the first attention are per sample. One frame only:
        with more, the context frames after the first are predictions that differ per sample."""
        cfg = self.cfg
        if tokens.dim() != 3 or tokens.shape[0] != 1 or tokens.shape[1] != cfg.tokens_per_frame:
            raise DataError(f"AC predictor (shared frame): tokens must be [1, {cfg.tokens_per_frame}, {cfg.embed_dim}], "
                            f"one frame for every sample, got {list(tokens.shape)}")
        B, K, n = actions.shape[0], cfg.cond_tokens, cfg.tokens_per_frame
        cond = [self.action_embed(actions[:, 0]), self.state_embed(states[:, 0])]
        if self.extrinsics_embed is not None:
            cond.append(self.extrinsics_embed(extrinsics[:, 0]))
        x_cond = torch.stack(cond, dim=1)  # [B, K, W]
        x_frame = self.embed(tokens)  # [1, HW, W]
        rope = (self.rope_cos[:K + n], self.rope_sin[:K + n]) if cfg.use_rope else None
        first = self.blocks[0]
        attn_cond, attn_frame = _shared_frame_attention(first.attn, first.norm1(x_cond), first.norm1(x_frame), rope, K)
        x = torch.cat([x_cond + attn_cond, x_frame + attn_frame], dim=1)  # [B, K+HW, W]
        x = x + first.mlp(first.norm2(x))
        for blk in self.blocks[1:]:
            x = blk(x, rope, None)  # one frame: every token sees every token
        return self.proj(self.norm(x[:, K:]))

    def predict_next(self, tokens, actions, states, extrinsics=None):
        """Only the prediction for the frame after the last one: [B, H*W, D_enc] (planning)."""
        return self.forward(tokens, actions, states, extrinsics)[:, -self.cfg.tokens_per_frame :]


class SharedFramePredictor(nn.Module):
    """The AC predictor's `forward_shared_frame` as a module's forward: what `jepa-edge export`
    traces for a planning bundle (tokens with batch 1, actions and states with the planner's batch)."""

    def __init__(self, predictor: ActionConditionedPredictor):
        super().__init__()
        self.predictor = predictor
        self.cfg = predictor.cfg

    def forward(self, tokens, actions, states, extrinsics=None):
        return self.predictor.forward_shared_frame(tokens, actions, states, extrinsics)


def _shared_frame_attention(attn: Attention, h_cond, h_frame, rope, K: int):
    """The first block's attention for B conditioning blocks h_cond [B, K, W] and one frame
    h_frame [1, HW, W] every sample shares -> (out_cond [B, K, W], out_frame [B, HW, W]), equal to
    `attn` over their concatenation [B, K+HW, W]."""
    def heads(x):  # [b, m, W] -> q, k, v [b, heads, m, head_dim]
        b, m, W = x.shape
        return attn.qkv(x).reshape(b, m, 3, attn.num_heads, W // attn.num_heads).permute(2, 0, 3, 1, 4).unbind(0)

    qc, kc, vc = heads(h_cond)
    qf, kf, vf = heads(h_frame)
    if rope is not None:
        cos, sin = rope
        qc, kc = apply_rope(qc, cos[:K], sin[:K]), apply_rope(kc, cos[:K], sin[:K])
        qf, kf = apply_rope(qf, cos[K:], sin[K:]), apply_rope(kf, cos[K:], sin[K:])
    scale = qc.shape[-1] ** -0.5
    # Frame queries: softmax over [frame keys (shared), conditioning keys (per sample)].
    s_ff = (qf @ kf.transpose(-1, -2)) * scale  # [1, h, HW, HW]: once
    m_ff = s_ff.amax(-1, keepdim=True)
    e_ff = torch.exp(s_ff - m_ff)
    num_ff, den_ff = e_ff @ vf, e_ff.sum(-1, keepdim=True)  # [1, h, HW, hd], [1, h, HW, 1]
    s_fc = (qf @ kc.transpose(-1, -2)) * scale  # [B, h, HW, K]
    m = torch.maximum(m_ff, s_fc.amax(-1, keepdim=True))  # the joint max, for a stable exp
    shared = torch.exp(m_ff - m)
    e_fc = torch.exp(s_fc - m)
    out_frame = (shared * num_ff + e_fc @ vc) / (shared * den_ff + e_fc.sum(-1, keepdim=True))
    # Conditioning queries: few per sample, over all keys.
    w = torch.softmax(torch.cat([qc @ kc.transpose(-1, -2), qc @ kf.transpose(-1, -2)], -1) * scale, -1)
    out_cond = w[..., :K] @ vc + w[..., K:] @ vf  # [B, h, K, hd]
    B, W = out_frame.shape[0], h_cond.shape[-1]
    merge = lambda o: attn.proj(o.transpose(1, 2).reshape(B, o.shape[2], W))  # noqa: E731
    return merge(out_cond), merge(out_frame)
