"""Does the AC predictor move the agent? Predicted vs true latent motion, per candidate action.

    python experiments/ac_motion.py --models NAME=MODEL_DIR ... [--episodes 10] [--horizon 3] \
        [--out experiments/results/ac_motion.json]

From each reach episode's start (seeds 1000...), the 33 held actions of closed_loop_ceiling.py are
run H steps in the world (true end frames, encoded) and through the model dir's AC predictor (as
the loop's planner rolls it out, robot state integrated). Reported:

- `motion_ratio`: mean |z_pred(a) - z_pred(still)| / mean |z_true(a) - z_true(still)|: how much of
  the change an action brings the predictor reproduces (1 = all of it, 0 = it ignores the action);
- `rho_energy`: Spearman correlation, over the candidates, of the energy to the goal computed on
  predicted and on true end latents (does the predictor rank the actions as the world would);
- `closer`: share of episodes whose lowest-energy predicted candidate ends closer to the goal.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from closed_loop_ceiling import candidate_actions, predictor_dynamics, simulate_held
from jepa_edge.data.tasks import goal_distance, start_episode
from jepa_edge.eval.features import model_normalization
from jepa_edge.eval.plannability import encode_images, spearman
from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.planning.energy import ENERGIES, make_energy
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]


@torch.no_grad()
def measure(path: str, episodes: int, horizon: int, energy_names) -> dict:
    bundle = load_model_dir(path).eval()
    enc, norm = bundle.encoder, model_normalization(bundle.config)
    size = enc.cfg.img_size
    dynamics, actions = predictor_dynamics(path), candidate_actions()
    energies = {name: make_energy(name) for name in energy_names}
    ratios, rhos, closer = [], {e: [] for e in energies}, {e: [] for e in energies}
    for seed in range(1000, 1000 + episodes):
        world, goal = start_episode(seed, size=size)
        start = world.state.copy()
        ends, end_states = simulate_held(world, actions, horizon, size)
        dist = [goal_distance(s, goal) for s in end_states]
        z_true = encode_images(enc, ends, norm).numpy()
        z_now, z_goal = encode_images(enc, [world.render(size), goal.image], norm).numpy()
        z_pred = dynamics.rollout(z_now, np.repeat(actions[:, None], horizon, axis=1), start.proprio())
        still = len(actions) - 1  # candidate_actions() ends with standing still
        ratios.append(float(np.abs(z_pred - z_pred[still]).mean() / np.abs(z_true - z_true[still]).mean()))
        for name, energy in energies.items():
            e_pred = energy(z_pred, z_goal)
            rhos[name].append(spearman(e_pred, energy(z_true, z_goal)))
            closer[name].append(dist[int(np.argmin(e_pred))] < goal_distance(start, goal))
    return {"motion_ratio": round(float(np.mean(ratios)), 4),
            **{name: {"rho_energy": round(float(np.nanmean(rhos[name])), 3),
                      "closer": round(float(np.mean(closer[name])), 3)} for name in energies}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=MODEL_DIR")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=3)
    ap.add_argument("--energies", nargs="+", default=list(ENERGIES), choices=ENERGIES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "ac_motion.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "episodes": args.episodes, "horizon": args.horizon, "models": {}}
    for spec in args.models:
        name, _, path = spec.partition("=")
        r = result["models"][name] = {"path": path, **measure(path, args.episodes, args.horizon, args.energies)}
        print(f"{name:28s} predicted motion {r['motion_ratio']:.1%} of the true; "
              + "; ".join(f"{e}: rho {r[e]['rho_energy']:+.2f}, closer {r[e]['closer']:.0%}" for e in args.energies),
              flush=True)
        atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
