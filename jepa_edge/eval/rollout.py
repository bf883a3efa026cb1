"""Action-conditioned rollout error vs the copy-last-latent baseline.

From the latent of the first frame of a held-out trajectory, the AC predictor rolls out h steps
with the recorded actions (and the recorded states of the frames it conditions on), feeding its
own predictions back. Error at horizon h: mean L1 between the predicted and the true latent of
frame h; the baseline predicts "nothing changes" (the latent of frame 0). Both are also reported on
the 10% of tokens that changed most (`moving_*`), where the action's effect is, and on the rest (`still_*`).
"""
from __future__ import annotations

import numpy as np
import torch

from jepa_edge.data.datasets import WorldTrajectories
from jepa_edge.data.transforms import Normalization
from jepa_edge.training.latents import frame_latents

ROLLOUT_SEED = 3_000_003  # held out from training seeds
# The share of each frame's tokens that changed most (by copy-last's error) on which the moving-token
# errors are also reported: where the action's effect is. In scenes at rest the rest barely change,
# so over all tokens copy-last is hard to beat while the motion is what a planner ranks by.
MOVING_SHARE = 0.1


@torch.no_grad()
def rollout_errors(encoder, ac, norm: Normalization, horizons=(1, 2, 4), n: int = 64, seed: int = ROLLOUT_SEED,
                   batch: int = 16, scene: dict | None = None) -> dict:
    """`scene`: WorldTrajectories' scene arguments (cfg, p_cross); default: the world's defaults."""
    H = max(horizons)
    data = WorldTrajectories(n, H + 1, encoder.cfg.img_size, seed=seed, normalization=norm, **(scene or {}))
    pred_err = {h: [] for h in horizons}
    copy_err = {h: [] for h in horizons}
    moving = {h: [] for h in horizons}  # (AC, copy-last) L1 on the tokens that changed most, then on the rest
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
                per_token = (nxt - z[:, k]).abs().mean(-1), (z[:, 0] - z[:, k]).abs().mean(-1)  # [B, N] each
                pred_err[k].append(per_token[0].mean(1))
                copy_err[k].append(per_token[1].mean(1))
                top = per_token[1] >= per_token[1].quantile(1 - MOVING_SHARE, dim=1, keepdim=True)
                still = ~top
                moving[k].append(torch.stack([(e * t).sum() / t.sum() for t in (top, still) for e in per_token]))
    out = {}
    for h in horizons:
        p, c = torch.cat(pred_err[h]).numpy(), torch.cat(copy_err[h]).numpy()
        m = torch.stack(moving[h]).mean(0)
        out[str(h)] = {"ac_l1": float(p.mean()), "copy_last_l1": float(c.mean()),
                       "ratio": float(p.mean() / max(c.mean(), 1e-12)), "ac_wins_share": float(np.mean(p < c)),
                       "moving_ac_l1": float(m[0]), "moving_copy_last_l1": float(m[1]),
                       "still_ac_l1": float(m[2]), "still_copy_last_l1": float(m[3])}
    out["beats_copy_last_at_every_horizon"] = all(out[str(h)]["ac_l1"] < out[str(h)]["copy_last_l1"] for h in horizons)
    return out


def ac_vs_copy_last(model_dir, horizons=(1, 2, 4), n: int = 64, trust_unverified: bool = False) -> dict:
    """`rollout_errors` of the AC predictor in `model_dir` on held-out trajectories of the scenes it
    was trained on (train-ac's --object-speed / --p-cross, from its config.json): a predictor trained
    on objects at rest is judged on objects at rest."""
    from jepa_edge.eval.features import model_normalization
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.training.ac import TrainACConfig, scene_config

    bundle = load_model_dir(model_dir, trust_unverified=trust_unverified).eval()
    if bundle.ac_predictor is None:
        raise ValueError(f"{model_dir} holds no ac_predictor")
    trained = (bundle.config.get("ac") or {}).get("config") or {}
    cfg = TrainACConfig(encoder=str(model_dir), object_speed=trained.get("object_speed"),
                        p_cross=trained.get("p_cross", 0.25))
    scene = {"cfg": scene_config(cfg, bundle.encoder.cfg.img_size), "p_cross": cfg.p_cross}
    horizons = tuple(h for h in horizons if h + 1 <= bundle.ac_predictor.cfg.max_frames)
    return rollout_errors(bundle.encoder, bundle.ac_predictor, model_normalization(bundle.config), horizons, n=n,
                          scene=scene)
