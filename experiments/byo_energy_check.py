"""Does the latent L1 energy point the way on Arm2Link-v0? (issue 24 follow-up; tuning seeds only)

For each seed: goal = frame after 20 uniform random actions (as `run`'s DINO-WM protocol); from the
start, 16 directions held for k steps; each end frame is encoded by the torch encoder of a model dir
and scored by the mean L1 of layer-normed tokens to the goal's. Reported per encoder and k: Spearman
rho between the energy and the true fingertip distance to the goal (mean over seeds), and how often
the lowest-energy direction ends closer to the goal than the start (best_closer; the true best's rate
is the ceiling); and greedy closed-loop success with the true next frames (a perfect one-step predictor). Usage: PYTHONPATH=. python experiments/byo_energy_check.py MODEL_DIR... [--json OUT]
"""
from __future__ import annotations

import argparse
import json

import gymnasium
import numpy as np
import torch

from experiments.envs.arm2link import box_directions, reach_goal  # (the import registers Arm2Link-v0)
from jepa_edge.data.transforms import IMAGENET
from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.training.latents import frame_latents


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def encode(enc, frames):
    with torch.no_grad():
        z = frame_latents(enc, IMAGENET(np.stack(frames)).permute(1, 0, 2, 3))[:, 0]
    return torch.nn.functional.layer_norm(z, z.shape[-1:])


def greedy(enc, env, dirs, seeds, max_steps=25, tol=0.1):
    """Closed loop on TRUE next frames (a ceiling for a perfect one-step predictor): each step tries the
    16 directions at 3 scales, keeps the lowest-energy one; success = tip within tol of the goal's at any step."""
    dirs = np.concatenate([dirs * s for s in (1.0, 0.5, 0.25)])  # 48 candidates: 16 directions x 3 scales
    wins = []
    for seed in seeds:
        env.reset(seed=seed)
        q0 = env.q.copy()
        rng = np.random.default_rng(seed)
        for _ in range(20):
            env.step(rng.uniform(-1, 1, 2))
        goal_tip, zg = env.tip.copy(), encode(enc, [env.render()])
        env.q, ok = q0.copy(), False
        for _ in range(max_steps):
            q, frames = env.q.copy(), []
            for d in dirs:
                env.q = q.copy()
                env.step(d)
                frames.append(env.render())
            e = (encode(enc, frames) - zg).abs().mean((1, 2)).numpy()
            env.q = q.copy()
            env.step(dirs[e.argmin()])
            if np.linalg.norm(env.tip - goal_tip) <= tol:
                ok = True
                break
        wins.append(ok)
    return {"success": round(float(np.mean(wins)), 3), "episodes": len(wins), "max_steps": max_steps, "tolerance": tol}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--seeds", type=int, nargs=2, default=[500, 520])
    ap.add_argument("--holds", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--json")
    args = ap.parse_args()
    env = gymnasium.make("Arm2Link-v0", render_mode="rgb_array").unwrapped
    dirs = box_directions()
    cases = []  # (start tip, goal tip, goal frame, {k: (end tips, end frames)})
    for seed in range(*args.seeds):
        q0, goal_tip, goal_frame = reach_goal(env, seed)
        ends = {}
        for k in args.holds:
            tips, frames = [], []
            for d in dirs:
                env.q = q0.copy()
                for _ in range(k):
                    env.step(d)
                tips.append(env.tip.copy())
                frames.append(env.render())
            ends[k] = (np.array(tips), np.stack(frames))
        env.q = q0.copy()
        cases.append((env.tip.copy(), goal_tip, goal_frame, ends))
    out = {}
    for m in args.models:
        enc = load_model_dir(m).encoder.eval()
        res = {}
        for k in args.holds:
            rhos, closer, ceiling = [], [], []
            for start_tip, goal_tip, goal_frame, ends in cases:
                tips, frames = ends[k]
                with torch.no_grad():
                    z = frame_latents(enc, IMAGENET(np.concatenate([goal_frame[None], frames])).permute(1, 0, 2, 3))[:, 0]
                z = torch.nn.functional.layer_norm(z, z.shape[-1:])
                e = (z[1:] - z[:1]).abs().mean((1, 2)).numpy()
                dist = np.linalg.norm(tips - goal_tip, axis=1)
                d0 = np.linalg.norm(start_tip - goal_tip)
                rhos.append(spearman(e, dist))
                closer.append(bool(dist[e.argmin()] < d0))
                ceiling.append(bool(dist.min() < d0))
            res[f"hold_{k}"] = {"rho_mean": round(float(np.mean(rhos)), 3), "best_closer": round(float(np.mean(closer)), 3),
                                "true_best_closer": round(float(np.mean(ceiling)), 3)}
        res["greedy_true_frames"] = greedy(enc, env, dirs, range(*args.seeds))
        out[m] = res
        print(m, json.dumps(res))
    if args.json:
        json.dump({"seeds": args.seeds, "holds": args.holds, "results": out}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
