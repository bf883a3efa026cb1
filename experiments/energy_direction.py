"""Does a planning energy tell the planner which way to go? (perfect model, no predictor)

    python experiments/energy_direction.py --models teacher=runs/distill_bench/teacher/model ... \
        [--random-init] [--episodes 10] [--out experiments/results/energy_direction.json]

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

The measurement itself is jepa_edge/eval/energy_direction.py; `jepa-edge diagnose` runs it on one
encoder (model dir or bundle) and its AC predictor with a pass/fail verdict.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from jepa_edge.eval.energy_direction import HELD, HORIZONS, PREDICTED, frame_encoder, has_predictor, \
    predictor_dynamics, score
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
ENERGIES = {"l1": ("l1", 0.0), "l1_smooth_0.125": ("l1_smooth", 0.125), "l1_smooth_0.25": ("l1_smooth", 0.25),
            "l1_smooth_0.5": ("l1_smooth", 0.5)}


def score_model(model_dir: str, random_init: bool, episodes: int, threads: int) -> dict:
    """The measurement lives in jepa_edge/eval/energy_direction.py (`jepa-edge diagnose` gives it a
    verdict); this script scores several models, four energies and the state-held rollouts."""
    encode, size = frame_encoder(model_dir, threads=threads, random_init=random_init)
    dynamics = {}
    if has_predictor(model_dir) and not random_init:  # a random-init encoder has no predictor of its own
        dynamics = {PREDICTED: predictor_dynamics(model_dir, threads),
                    HELD: predictor_dynamics(model_dir, threads, hold_state=True)}
    return score(encode, size, dynamics, episodes=episodes, horizons=HORIZONS, energies=ENERGIES)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=MODEL_DIR")
    ap.add_argument("--random-init", action="store_true", help="also score each architecture at random init")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "energy_direction.json"))
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
            result["models"][key] = {"path": path, **score_model(path, rnd, args.episodes, args.threads)}
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
