"""Where does closed-loop goal reaching fail: in the encoder's energy landscape, or in the AC predictor?

    python experiments/closed_loop_ceiling.py --models NAME=MODEL_DIR ... [--horizons 3 6] \
        [--episodes 10] [--first-seed 1000] [--max-steps 60] [--energy l1] [--delta-scale 1 0.25] \
        [--out experiments/results/closed_loop_ceiling.json]

A planner without optimizer noise, in the loop's reach episodes (seeds 1000...): every world step,
each of 33 candidate actions (16 directions at full and at 40% speed, and standing still), held
for H steps, is scored by the energy of its final latent to the goal image's latent; the best one
is executed for one step, and the search starts again (receding horizon). Each `--delta-scale` S
scores z_now + S * (z_end - z_now) instead of z_end (planner.delta_scale). Two world models score
the candidates:

- `true`: the world itself (each candidate is simulated and its end frame encoded): a perfect
  predictor, so what fails here fails in the encoder's energy landscape (local minima);
- `predicted`: the model dir's AC predictor, rolled out as the loop's planner rolls it out
  (LatentDynamics, robot state integrated action by action).

CEM in the loop searches a continuous space with a few hundred samples instead; this search is
exhaustive over a coarse set, so neither its successes nor its failures come from sampling noise.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jepa_edge.data.tasks import TASK_CONFIG, goal_distance, is_success, start_episode
from jepa_edge.eval.energy_direction import simulate_held  # noqa: F401 (ac_motion.py imports it from here)
from jepa_edge.eval.features import model_normalization
from jepa_edge.eval.plannability import encode_images
from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.loop.assemble import load_session, make_state_update
from jepa_edge.planning.energy import ENERGIES, make_energy
from jepa_edge.planning.planner import LatentDynamics, scaled_change_energy
from jepa_edge.loop.config import PlannerConfig, RobotConfig
from jepa_edge.planning.config import ROLLOUT_CONTEXTS
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]


def candidate_actions() -> np.ndarray:
    """[33, 2]: 16 directions at full speed (on the [-1, 1]^2 box) and at 40% of it, and still."""
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    unit = np.stack([np.cos(angles), np.sin(angles)], 1)
    full = unit / np.abs(unit).max(1, keepdims=True)
    return np.concatenate([full, 0.4 * full, np.zeros((1, 2))]).astype(np.float32)


def predictor_dynamics(model_dir: str, context: str = "last", renorm: bool = False) -> LatentDynamics:
    """The model dir's AC predictor, rolled out as the loop's planner rolls it out (state integrated)."""
    session = load_session(model_dir, "ac_predictor", torch.get_num_threads())
    return LatentDynamics(session, state_update=make_state_update(RobotConfig(), model_dir, TASK_CONFIG),
                          context=context, renorm=renorm)


@torch.no_grad()
def run(bundle, dynamics: LatentDynamics | None, horizon: int, episodes: int, max_steps: int, energy_name: str,
        delta_scale: float, first_seed: int, smooth_sigma: float) -> dict:
    """Success over the reach episodes; `dynamics` None scores candidates on the true end frames."""
    enc, norm = bundle.encoder, model_normalization(bundle.config)
    size = enc.cfg.img_size
    energy = make_energy(energy_name, smooth_sigma)
    actions = candidate_actions()

    def encode(frames) -> np.ndarray:
        return encode_images(enc, frames, norm).numpy()

    rows = []
    for seed in range(first_seed, first_seed + episodes):
        world, goal = start_episode(seed, size=size)
        z_goal = encode([goal.image])[0]
        steps, reached = 0, False
        while steps < max_steps and not reached:
            now = world.state.copy()
            z_now = encode([world.render(size)])[0]
            if dynamics is None:
                z = encode(simulate_held(world, actions, horizon, size)[0])
            else:
                z = dynamics.rollout(z_now, np.repeat(actions[:, None], horizon, axis=1), now.proprio())
            world.step(actions[int(np.argmin(scaled_change_energy(energy, z_now, z, z_goal, delta_scale)))])
            steps += 1
            reached = is_success(world.state, goal)
        rows.append({"seed": seed, "success": reached, "steps": steps,
                     "final_distance": round(goal_distance(world.state, goal), 4)})
    return {"success_rate": float(np.mean([r["success"] for r in rows])),
            "final_distance_mean": round(float(np.mean([r["final_distance"] for r in rows])), 4),
            "per_episode": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=MODEL_DIR")
    ap.add_argument("--horizons", type=int, nargs="+", default=[3, 6])
    ap.add_argument("--sources", nargs="+", default=["true", "predicted"], choices=("true", "predicted"))
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1000, help="episodes are seeds first_seed, first_seed + 1, ...")
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument("--energy", default="l1", choices=ENERGIES)
    ap.add_argument("--smooth-sigma", type=float, nargs="+", default=[PlannerConfig.smooth_sigma],
                    help="l1_smooth: blur sigma, fraction of the grid side (planner.smooth_sigma); several run one after another")
    ap.add_argument("--context", default="last", choices=ROLLOUT_CONTEXTS,
                    help="what each rollout call sees (planner.rollout_context)")
    ap.add_argument("--renorm", action="store_true", help="layer-norm each predicted frame (planner.renorm)")
    ap.add_argument("--delta-scale", type=float, nargs="+", default=[1.0],
                    help="score z_now + S * (z_end - z_now) (planner.delta_scale); several run one after another")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "closed_loop_ceiling.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "episodes": args.episodes, "first_seed": args.first_seed, "max_steps": args.max_steps,
              "candidates": len(candidate_actions()), "energy": args.energy, "context": args.context,
              "renorm": args.renorm, "models": {}}
    for spec in args.models:
        name, _, path = spec.partition("=")
        result["models"][name] = {"path": path}
        bundle = load_model_dir(path).eval()
        dynamics = {"true": None, "predicted": predictor_dynamics(path, args.context, args.renorm) if "predicted" in args.sources else None}
        for H, source, L, sigma in itertools.product(args.horizons, args.sources, args.delta_scale, args.smooth_sigma):
            t = time.time()
            res = run(bundle, dynamics[source], H, args.episodes, args.max_steps, args.energy, L, args.first_seed, sigma)
            res["seconds"] = round(time.time() - t, 1)
            key = (f"H{H} {source}" + (f" delta scale {L:g}" if L != 1 else "")
                   + (f" sigma {sigma:g}" if args.energy == "l1_smooth" and sigma != PlannerConfig.smooth_sigma else ""))
            result["models"][name][key] = res
            print(f"{name} {key:36s}: success {res['success_rate']:.0%}, final distance "
                  f"{res['final_distance_mean']:.3f} ({res['seconds']:.0f} s)", flush=True)
            atomic_write_json(args.out, {**result, "load_avg_after": os.getloadavg()})  # partial results survive
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
