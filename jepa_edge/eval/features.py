"""Frozen features and ground truth of held-out world clips, shared by the probes.

A video encoder sees a clip of `num_frames` frames and yields one token grid per temporal slot
(`tubelet_size` frames); an image encoder sees each frame. Either way a sample is one slot with
its tokens [h*w, D] and the ground truth averaged over the frames the slot covers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jepa_edge.data.clips import make_clip
from jepa_edge.data.transforms import Normalization
from jepa_edge.errors import ConfigError

EVAL_SEED = 1_000_003  # held-out world seeds: never used by training (which uses small seeds)


def model_normalization(config: dict) -> Normalization:
    n = config.get("normalization")
    return Normalization.from_dict(n) if n else Normalization()


@dataclass
class HeldOutClips:
    frames: np.ndarray  # uint8 [n, L, H, W, 3]
    agent: np.ndarray  # [n, L, 2]
    objects: np.ndarray  # [n, L, n_obj, 2]
    visible: np.ndarray  # [n, L, n_obj]


def held_out_clips(n: int, length: int, size: int, seed: int = EVAL_SEED, cross_every: int = 2) -> HeldOutClips:
    clips = [make_clip((seed, i), frames=length, size=size, cross=(i % cross_every == 0)) for i in range(n)]
    return HeldOutClips(
        frames=np.stack([c.frames for c in clips]),
        agent=np.stack([c.positions["agent"] for c in clips]),
        objects=np.stack([c.positions["objects"] for c in clips]),
        visible=np.stack([c.visible for c in clips]),
    )


@torch.no_grad()
def slot_tokens(encoder: torch.nn.Module, frames: np.ndarray, norm: Normalization, batch: int = 32) -> torch.Tensor:
    """frames uint8 [n, L, H, W, 3] -> tokens [n, S, h*w, D]: S slots per clip (video: L // num_frames
    windows of num_frames frames, each num_frames // tubelet slots; images: L frames)."""
    cfg = encoder.cfg
    n, L = frames.shape[:2]
    if frames.shape[2] != cfg.img_size:
        raise ConfigError(f"probe frames are {frames.shape[2]} px but the encoder takes {cfg.img_size} px")
    t, h, w = cfg.grid
    if cfg.is_video:
        windows = L // cfg.num_frames
        if windows < 1:
            raise ConfigError(f"clips of {L} frames are shorter than the model's {cfg.num_frames} frames")
        clips = frames[:, : windows * cfg.num_frames].reshape(n * windows, cfg.num_frames, *frames.shape[2:])
        xs = [norm(c) for c in clips]  # each [C, T, H, W]
    else:
        xs = [norm(f) for f in frames.reshape(n * L, *frames.shape[2:])]  # each [C, H, W]
    out = []
    for s in range(0, len(xs), batch):
        z = encoder(torch.stack(xs[s : s + batch])).float()  # [b, t*h*w, D]
        out.append(z.reshape(len(z), t, h * w, -1))
    z = torch.cat(out)  # [n*windows, t, hw, D] or [n*L, 1, hw, D]
    return z.reshape(n, -1, h * w, z.shape[-1])


def slot_truth(values: np.ndarray, encoder_cfg) -> np.ndarray:
    """Per-frame ground truth [n, L, ...] -> per-slot [n, S, ...] (mean over the slot's frames)."""
    if not encoder_cfg.is_video:
        return values
    k = encoder_cfg.tubelet_size
    n, L = values.shape[:2]
    usable = (L // encoder_cfg.num_frames) * encoder_cfg.num_frames
    v = values[:, :usable]
    return v.reshape(n, usable // k, k, *v.shape[2:]).mean(2)


def agent_coverage(agent: np.ndarray, encoder_cfg) -> np.ndarray | None:
    """Per-frame agent positions [n, L, 2] -> per-slot share of every token the agent's disc covers
    [n, S, h*w] (the dense probe's target), or None for a token grid that is not square."""
    from jepa_edge.data.world import WorldConfig
    from jepa_edge.eval.probes import coverage

    _, h, w = encoder_cfg.grid
    return slot_truth(coverage(agent, WorldConfig().agent_radius, h), encoder_cfg) if h == w else None
