"""Does a planning energy tell the planner which way to go? (perfect model, no predictor)

    python benchmarks/energy_direction.py --models teacher=runs/distill_bench/teacher/model ... \
        [--random-init] [--episodes 10] [--out benchmarks/results/energy_direction.json]

For each reach episode of the loop's evaluation (seeds 1000...), the agent moves from its start in
16 directions at full speed for H world steps (H = 1, 3, 6: 0.05 to 0.3 table units), every end
frame is encoded as the loop encodes it, and each energy of planning/energy.py is scored:

- `spearman`: rank correlation, over the 16 end points, of energy with the distance still to go
  (1: the energy ranks directions exactly as the true distance does; 0: no direction signal);
- `best_closer`: share of episodes whose lowest-energy direction ends closer to the goal than the
  start (a random direction: about 0.5).

This is what a horizon-H planner with a perfect predictor would see; plannability in `jepa-edge
eval` scores the same energies over a grid of positions instead. When the model dir holds an AC
predictor (and --random-init is off for it), the same scores are also computed on its H-step
rollouts through the planner's own `LatentDynamics` (the action held over the H steps), under
"<energy> (predicted)": what the planner really sees. The robot state fed to the predictor is
integrated step by step as the planner does (planning/kinematics.py); "(predicted, state held)" rows
keep it at the start's, as the planner did before it integrated.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from closed_loop_ceiling import simulate_held
from jepa_edge.data.tasks import TASK_CONFIG, start_episode
from jepa_edge.eval.features import model_normalization
from jepa_edge.eval.plannability import encode_images, spearman
from jepa_edge.eval.run import random_like
from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.loop.assemble import load_session, make_state_update
from jepa_edge.planning.energy import make_energy
from jepa_edge.planning.planner import LatentDynamics
from jepa_edge.loop.config import RobotConfig
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
ENERGIES = {"l1": ("l1", 0.0), "l1_smooth_0.125": ("l1_smooth", 0.125), "l1_smooth_0.25": ("l1_smooth", 0.25),
            "l1_smooth_0.5": ("l1_smooth", 0.5)}
HORIZONS = (1, 3, 6)


@torch.no_grad()
def score(model_dir: str, random_init: bool, episodes: int, directions: int = 16) -> dict:
    bundle = load_model_dir(model_dir)
    bundle = (random_like(bundle) if random_init else bundle).eval()
    enc, norm = bundle.encoder, model_normalization(bundle.config)
    size = enc.cfg.img_size
    angles = np.linspace(0, 2 * np.pi, directions, endpoint=False)
    moves = np.stack([np.cos(angles), np.sin(angles)], 1)
    energies = {name: make_energy(kind, sigma) for name, (kind, sigma) in ENERGIES.items()}
    # The trained predictor, in the planner's own rollout (a random-init encoder has no predictor of its own).
    dynamics = {}
    if bundle.ac_predictor is not None and not random_init:
        session = load_session(model_dir, "ac_predictor", torch.get_num_threads())
        kinematics = make_state_update(RobotConfig(), model_dir, TASK_CONFIG)
        dynamics = {" (predicted)": LatentDynamics(session, state_update=kinematics),
                    " (predicted, state held)": LatentDynamics(session)}
    sources = ("", *dynamics)
    rows = {(name + src, H): {"spearman": [], "best_closer": []} for name in ENERGIES for src in sources for H in HORIZONS}
    for seed in range(1000, 1000 + episodes):
        world, goal = start_episode(seed, size=size)
        start = world.state.copy()
        z_goal, z_start = encode_images(enc, [goal.image, world.render(size)], norm).numpy()  # [N, D] each
        d0 = np.hypot(*(start.agent_pos - goal.state.agent_pos))
        for H in HORIZONS:
            frames, ends = simulate_held(world, moves, H, size)
            dist = [np.hypot(*(s.agent_pos - goal.state.agent_pos)) for s in ends]
            latents = {"": encode_images(enc, frames, norm).numpy()}
            held = np.repeat(moves[:, None].astype(np.float32), H, axis=1)  # [16, H, 2]
            for src, dyn in dynamics.items():
                latents[src] = dyn.rollout(z_start, held, start.proprio())
            dist = np.asarray(dist)
            for src, z in latents.items():
                for name, energy in energies.items():
                    e = energy(z, z_goal)
                    rows[(name + src, H)]["spearman"].append(spearman(e, dist))
                    rows[(name + src, H)]["best_closer"].append(bool(dist[np.argmin(e)] < d0))
    return {key: {f"H{H}": {k: round(float(np.mean(v)), 3) for k, v in rows[(key, H)].items()} for H in HORIZONS}
            for key in dict.fromkeys(k for k, _ in rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=MODEL_DIR")
    ap.add_argument("--random-init", action="store_true", help="also score each architecture at random init")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "energy_direction.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "episodes": args.episodes, "horizons_steps": HORIZONS,
              "step_table_units": 0.05, "models": {}}
    for spec in args.models:
        name, _, path = spec.partition("=")
        for rnd in (False, True) if args.random_init else (False,):
            t = time.time()
            key = name + (" (random init)" if rnd else "")
            result["models"][key] = {"path": path, **score(path, rnd, args.episodes)}
            print(f"{key} ({time.time() - t:.0f} s)")
            for energy, by_h in result["models"][key].items():
                if energy != "path":
                    print(f"  {energy:16s} " + "  ".join(f"{h}: rho {v['spearman']:+.2f} closer {v['best_closer']:.2f}"
                                                        for h, v in by_h.items()))
    result["load_avg_after"] = os.getloadavg()
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
