"""Probe metrics for the accuracy gate: a task number whose drop `--max-drop` bounds.

`world-position`: the eval command's linear probe (jepa_edge.eval) of the agent's position from
pooled encoder tokens, R^2 on held-out world clips, computed from whatever session is being
gated, so FP32 and INT8 are scored by exactly the same procedure.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from jepa_edge.errors import ConfigError


def world_position_probe(enc_cfg, config: dict, *, clips: int = 24, frames: int = 4, seed: int | None = None
                         ) -> Callable:
    from jepa_edge.eval.features import EVAL_SEED, held_out_clips, model_normalization
    from jepa_edge.eval.probes import position_probes

    if enc_cfg.is_video:
        raise ConfigError("the world-position probe gate supports image encoders; gate video encoders on cosine")
    data = held_out_clips(clips, frames, enc_cfg.img_size, seed=EVAL_SEED if seed is None else seed)
    norm = model_normalization(config)
    x = np.stack([norm(f).numpy() for f in data.frames.reshape(-1, *data.frames.shape[2:])])  # [n*L, C, H, W]
    import torch

    def probe(session) -> float:
        name, out = session.inputs[0].name, session.outputs[0].name
        fixed = session.inputs[0].shape[0]
        step = fixed if isinstance(fixed, int) else 16
        z = np.concatenate([session.run({name: x[i:i + step]})[out] for i in range(0, len(x), step)])
        tokens = torch.from_numpy(z.reshape(clips, frames, *z.shape[1:]))  # [n, L, N, D]
        r = position_probes(tokens, data.agent, data.objects, kinds=("pooled",))
        return float(r["agent"]["pooled"]["r2"])

    probe.metric = "world agent-position probe R^2 (pooled tokens)"
    return probe


PROBES = {"world-position": world_position_probe}


def make_probe(name: str, enc_cfg, config: dict) -> Callable:
    if name not in PROBES:
        raise ConfigError(f"unknown probe {name!r}; known: {', '.join(PROBES)}")
    return PROBES[name](enc_cfg, config)
