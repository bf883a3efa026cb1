"""3D rotary position embedding as in V-JEPA 2 (`RoPEAttention` in vjepa2/src/models/utils/modules.py).

Each head's channels are split into three equal even-sized segments (time, row, column) of
`2 * ((head_dim // 3) // 2)` channels; leftover channels are not rotated. Within a segment of size S,
channel pairs (2k, 2k+1) are rotated as (x0, x1) -> (x0*cos - x1*sin, x1*cos + x0*sin), and the angle
of channel i is pos * omega_{i mod S/2}: the official code repeats the S/2 frequencies end to end
(`.repeat(..., 2)`) rather than interleaving them. That is a known quirk the released weights
depend on, so we reproduce it exactly.

The cos/sin tables for the whole token grid are built once as constant buffers; masked inputs
gather rows of them, so nothing here depends on data-dependent Python control flow.
"""
from __future__ import annotations

import torch


def rope_segment_dim(head_dim: int) -> int:
    return 2 * ((head_dim // 3) // 2)


def _segment_angles(pos: torch.Tensor, seg: int) -> torch.Tensor:
    """[N] positions -> [N, seg] angles with the official end-to-end frequency repeat."""
    omega = torch.arange(seg // 2, dtype=torch.float32)
    omega /= seg / 2.0
    omega = 1.0 / 10000**omega  # [seg/2], float32 like the official code
    freq = pos.to(torch.float32)[:, None] * omega[None, :]  # [N, seg/2]
    return freq.repeat(1, 2)  # [N, seg]


def rope_tables(grid: tuple[int, int, int], head_dim: int, positions: torch.Tensor | None = None):
    """cos, sin tables [N, head_dim] for token indices `positions` (default: the whole grid).

    `positions` may be float (the AC predictor snaps rows/columns to a reference grid); here they are
    flat token indices decomposed into (t, h, w) with the grid's row-major order.
    """
    _, h, w = grid
    idx = torch.arange(grid[0] * h * w) if positions is None else positions
    t_pos, rem = idx // (h * w), idx % (h * w)
    h_pos, w_pos = rem // w, rem % w
    return rope_tables_from_axes(t_pos, h_pos, w_pos, head_dim)


def rope_tables_from_axes(t_pos, h_pos, w_pos, head_dim: int):
    """cos, sin [N, head_dim] from per-axis positions [N] (any of them may be float)."""
    seg = rope_segment_dim(head_dim)
    angles = torch.cat([_segment_angles(p, seg) for p in (t_pos, h_pos, w_pos)], dim=1)  # [N, 3*seg]
    rest = head_dim - 3 * seg
    cos = torch.cat([angles.cos(), torch.ones(angles.shape[0], rest)], dim=1)  # leftover channels: identity
    sin = torch.cat([angles.sin(), torch.zeros(angles.shape[0], rest)], dim=1)
    return cos, sin


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...) over the last dim.

    One Gather with a constant index and a sign, not unbind + stack: exported, the stack becomes
    a Concat on a size-1 innermost axis that OpenVINO runs with its reference kernel: the INT8 AC
    predictor at the planner's batch of 256 took twice as long (benchmarks/bench_rope.py). Exact:
    only a permutation and sign flips."""
    idx = torch.arange(x.shape[-1], device=x.device)
    odd = idx % 2
    swapped = x.index_select(-1, idx + 1 - 2 * odd)  # (x1, x0, x3, x2, ...)
    return swapped * (2 * odd - 1).to(x.dtype)  # (-x1, x0, -x3, x2, ...)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, heads, N, hd]; cos/sin broadcastable to it ([1 or B, 1, N, hd])."""
    return x * cos + rotate_pairs(x) * sin
