"""Fixed sin-cos position tables (I-JEPA 2D, V-JEPA 3D), computed in float64 like the official numpy code.

Token order everywhere is (t, h, w) row-major: index = t*H*W + h*W + w.
"""
from __future__ import annotations

import math

import torch


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """[M] positions -> [M, dim] = [sin(pos*omega), cos(pos*omega)], omega_j = 10000^(-j/(dim/2))."""
    assert dim % 2 == 0, "sin-cos width must be even"
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega  # [dim/2]
    out = pos.reshape(-1).to(torch.float64)[:, None] * omega[None, :]  # [M, dim/2]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(dim: int, h: int, w: int, order: str = "hw") -> torch.Tensor:
    """[h*w, dim]: half the channels encode the row, half the column.

    order "hw" (V-JEPA, V-JEPA 2): row first. order "wh" (I-JEPA): its meshgrid puts the column first.
    """
    rows = torch.arange(h).repeat_interleave(w)  # [h*w]
    cols = torch.arange(w).repeat(h)  # [h*w]
    first, second = (rows, cols) if order == "hw" else (cols, rows)
    return torch.cat([sincos_1d(dim // 2, first), sincos_1d(dim // 2, second)], dim=1).float()


def sincos_3d(dim: int, t: int, h: int, w: int, uniform_power: bool = True) -> torch.Tensor:
    """[t*h*w, dim]: channels split over (time, row, column), time first, as V-JEPA.

    uniform_power=False gives time D/2 and rows/columns D/4 each; True gives each axis ceil(D/6)*2,
    cut back to D (the V-JEPA pretraining configs set uniform_power: true).
    """
    if uniform_power:
        dt = dh = dw = int(math.ceil(dim / 6) * 2)
    else:
        dt, dh, dw = dim // 2, dim // 4, dim // 4
    ts = torch.arange(t).repeat_interleave(h * w)
    rows = torch.arange(h).repeat_interleave(w).repeat(t)
    cols = torch.arange(w).repeat(t * h)
    table = torch.cat([sincos_1d(dt, ts), sincos_1d(dh, rows), sincos_1d(dw, cols)], dim=1)
    return table[:, :dim].float()
