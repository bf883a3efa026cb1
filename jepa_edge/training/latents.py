"""Per-frame latents of a frozen encoder: what the action-conditioned predictor reads and predicts.

As V-JEPA 2-AC, every frame is encoded on its own. A video encoder takes a static clip (the frame
repeated `num_frames` times) and its temporal slots are averaged, so one frame gives one
[h*w, D] grid; an image encoder takes the frame as is. Tokens are layer-normed (no affine), the
space the AC predictor is trained in (jepa_edge/latent.py LATENT_RECIPE). Runtimes reproduce exactly
this from the bundle's latent spec.
"""
from __future__ import annotations

import torch

from jepa_edge.training.common import layer_norm_features


@torch.no_grad()
def frame_latents(encoder: torch.nn.Module, frames: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """frames [B, C, T, H, W] (a clip) or [B, C, H, W] (images) -> [B, T, h*w, D] (T = 1 for images)."""
    cfg = encoder.cfg
    if frames.dim() == 4:
        frames = frames.unsqueeze(2)  # [B, C, 1, H, W]
    B, C, T, H, W = frames.shape
    x = frames.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)  # [B*T, C, H, W]
    t, h, w = cfg.grid
    outs = []
    for s in range(0, B * T, batch):
        xb = x[s : s + batch]
        if cfg.is_video:
            xb = xb.unsqueeze(2).expand(-1, -1, cfg.num_frames, -1, -1)  # static clip [b, C, F, H, W]
            z = encoder(xb).float().reshape(len(xb), t, h * w, -1).mean(1)  # [b, h*w, D]
        else:
            z = encoder(xb).float()  # [b, h*w, D]
        outs.append(layer_norm_features(z))
    return torch.cat(outs).reshape(B, T, h * w, -1)
