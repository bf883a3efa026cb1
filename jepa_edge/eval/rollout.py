"""Action-conditioned rollout error vs the copy-last-latent baseline.

From the latent of the first frame of a held-out trajectory, the AC predictor rolls out h steps
with the recorded actions (and the recorded states of the frames it conditions on), feeding its
own predictions back. Error at horizon h: mean L1 between the predicted and the true latent of
frame h; the baseline predicts "nothing changes" (the latent of frame 0).
"""
from __future__ import annotations

import numpy as np
import torch

from jepa_edge.data.datasets import WorldTrajectories
from jepa_edge.data.transforms import Normalization
from jepa_edge.training.latents import frame_latents

ROLLOUT_SEED = 3_000_003  # held out from training seeds


@torch.no_grad()
def rollout_errors(encoder, ac, norm: Normalization, horizons=(1, 2, 4), n: int = 64, seed: int = ROLLOUT_SEED,
                   batch: int = 16) -> dict:
    H = max(horizons)
    data = WorldTrajectories(n, H + 1, encoder.cfg.img_size, seed=seed, normalization=norm)
    pred_err = {h: [] for h in horizons}
    copy_err = {h: [] for h in horizons}
    for s in range(0, n, batch):
        items = [data[i] for i in range(s, min(n, s + batch))]
        x = torch.stack([c for c, _, _ in items])  # [B, C, T, H, W]
        a = torch.stack([a for _, a, _ in items])  # [B, T, A]
        st = torch.stack([q for _, _, q in items])  # [B, T, S]
        z = frame_latents(encoder, x)  # [B, T, N, D]
        N = z.shape[2]
        seq = z[:, 0]
        for k in range(1, H + 1):
            nxt = ac(seq, a[:, :k], st[:, :k])[:, -N:].float()  # prediction of frame k
            seq = torch.cat([seq, nxt], dim=1)
            if k in pred_err:
                pred_err[k].append((nxt - z[:, k]).abs().mean((1, 2)))
                copy_err[k].append((z[:, 0] - z[:, k]).abs().mean((1, 2)))
    out = {}
    for h in horizons:
        p, c = torch.cat(pred_err[h]).numpy(), torch.cat(copy_err[h]).numpy()
        out[str(h)] = {"ac_l1": float(p.mean()), "copy_last_l1": float(c.mean()),
                       "ratio": float(p.mean() / max(c.mean(), 1e-12)), "ac_wins_share": float(np.mean(p < c))}
    out["beats_copy_last_at_every_horizon"] = all(out[str(h)]["ac_l1"] < out[str(h)]["copy_last_l1"] for h in horizons)
    return out
