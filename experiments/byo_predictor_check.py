"""Does the exported INT8 AC predictor rank moves on Arm2Link-v0 as the true frames do? (tuning seeds only)

From each seed's start (goal: after 20 uniform random actions, as `run` does), 48 candidate actions (16
directions x 3 scales) are scored two ways with the INT8 encoder bundle: L1 to the goal latent of the
TRUE next frame, and of the AC predictor's one-step prediction (LatentDynamics, as the planner calls it).
Reported: Spearman rho of each energy with the true next fingertip distance, and greedy closed-loop
success (25 steps, tol 0.1) with the predictor over the same candidates.
Usage: PYTHONPATH=. python experiments/byo_predictor_check.py BUNDLES_DIR [--json OUT]
"""
from __future__ import annotations

import argparse
import json

import gymnasium
import numpy as np

from experiments.envs.arm2link import box_directions, reach_goal  # (the import registers Arm2Link-v0)
from jepa_edge.inference.load import load_bundle
from jepa_edge.loop.perception import LatentEncoder
from jepa_edge.planning.planner import LatentDynamics


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundles")
    ap.add_argument("--seeds", type=int, nargs=2, default=[500, 520])
    ap.add_argument("--json")
    a = ap.parse_args()
    enc = LatentEncoder(load_bundle(f"{a.bundles}/enc-ort-int8"), layer_norm=True)
    dyn = LatentDynamics(load_bundle(f"{a.bundles}/ac-ort-int8"))
    env = gymnasium.make("Arm2Link-v0", render_mode="rgb_array").unwrapped
    d = box_directions()
    cands = np.concatenate([d * s for s in (1.0, 0.5, 0.25)]).astype(np.float32)
    rho_true, rho_pred, wins = [], [], []
    for seed in range(*a.seeds):
        q0, goal_tip, goal_frame = reach_goal(env, seed)
        zg = enc.encode(goal_frame)
        env.q = q0.copy()
        # one-step ranking at the start
        z0 = enc.encode(env.render())
        tips, zt = [], []
        for c in cands:
            env.q = q0.copy()
            env.step(c)
            tips.append(env.tip.copy())
            zt.append(enc.encode(env.render()))
        dist = np.linalg.norm(np.array(tips) - goal_tip, axis=1)
        e_true = np.abs(np.stack(zt) - zg).mean((1, 2))
        zp = dyn.step(np.repeat(z0[None], len(cands), 0), cands, np.repeat(q0[None].astype(np.float32), len(cands), 0))
        e_pred = np.abs(zp - zg).mean((1, 2))
        rho_true.append(spearman(e_true, dist))
        rho_pred.append(spearman(e_pred, dist))
        # greedy closed loop with the predictor
        env.q, ok = q0.copy(), False
        for _ in range(25):
            z = enc.encode(env.render())
            zp = dyn.step(np.repeat(z[None], len(cands), 0), cands,
                          np.repeat(env.q[None].astype(np.float32), len(cands), 0))
            env.step(cands[np.abs(zp - zg).mean((1, 2)).argmin()])
            if np.linalg.norm(env.tip - goal_tip) <= 0.1:
                ok = True
                break
        wins.append(ok)
    res = {"seeds": a.seeds, "rho_true_next_frame": round(float(np.mean(rho_true)), 3),
           "rho_predicted": round(float(np.mean(rho_pred)), 3), "greedy_predictor_success": round(float(np.mean(wins)), 3)}
    print(a.bundles, json.dumps(res))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
