"""The planning energy as a map over the agent's position: does it funnel to the goal?

    python experiments/energy_landscape.py --models NAME=MODEL_DIR ... [--input-blur 0 2] \
        [--episodes 10] [--energies l1 l1_smooth] [--out experiments/results/energy_landscape.json]

For each reach episode (seeds 1000...), the agent is placed on a 19 x 19 grid over the table (all
else as at the episode's start), each frame is encoded, and the energy to the goal image's latent
is mapped. Two numbers per map:

- `rho`: Spearman correlation of the energy with the agent's distance to the goal;
- `descent`: share of grid cells from which repeatedly jumping to the lowest-energy cell within 3
  cells (about 3 world steps: a planner's lookahead with a perfect predictor) ends at the goal.

`--input-blur S` re-encodes with the encoder's input low-pass set to S pixels (EncoderConfig
.input_blur; the weights are unchanged), to see what the patch grid's aliasing does to the map.
A PNG shows the first episodes' maps.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jepa_edge.data.tasks import start_episode
from jepa_edge.eval.features import model_normalization
from jepa_edge.eval.plannability import agent_on_grid, encode_images, greedy_descent, spearman
from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.models.vit import with_input_blur
from jepa_edge.planning.energy import ENERGIES, make_energy
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
GRID = np.linspace(0.08, 0.92, 19)
LOOKAHEAD = 3  # cells


def energy_maps(encoder, norm, seed: int, energies: dict) -> tuple[dict, np.ndarray]:
    """{energy: [G, G] map, rows y, columns x} and the goal's grid cell (row, column), for episode `seed`."""
    world, goal = start_episode(seed, size=encoder.cfg.img_size)
    frames, _ = agent_on_grid(world, GRID, encoder.cfg.img_size)  # x-major
    z = encode_images(encoder, frames, norm).numpy()
    z_goal = encode_images(encoder, [goal.image], norm).numpy()[0]
    g = len(GRID)
    cell = (int(np.argmin(np.abs(GRID - goal.state.agent_pos[1]))), int(np.argmin(np.abs(GRID - goal.state.agent_pos[0]))))
    return {name: fn(z, z_goal).reshape(g, g).T for name, fn in energies.items()}, np.array(cell)


def descent_share(M: np.ndarray, goal: np.ndarray) -> float:
    """Share of start cells from which descent to the lowest cell within LOOKAHEAD ends by the goal."""
    g = M.shape[0]
    ends = [greedy_descent(M, start, g * g, reach=LOOKAHEAD) for start in np.ndindex(g, g)]
    return sum(int(np.abs(np.array(end) - goal).max() <= 1) for end in ends) / g / g


def distance_map(goal: np.ndarray) -> np.ndarray:
    ii, jj = np.meshgrid(np.arange(len(GRID)), np.arange(len(GRID)), indexing="ij")
    return np.hypot(ii - goal[0], jj - goal[1])


def plot(maps: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(maps)
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        M, goal = maps[key]
        ax.imshow(M, extent=(GRID[0], GRID[-1], GRID[-1], GRID[0]))
        ax.plot(GRID[goal[1]], GRID[goal[0]], "r*")
        ax.set_title(key, fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle("energy to the goal (red star) vs agent position; dark = low", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=MODEL_DIR")
    ap.add_argument("--input-blur", type=float, nargs="+", default=[0.0, 2.0])
    ap.add_argument("--energies", nargs="+", default=list(ENERGIES), choices=ENERGIES)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "experiments" / "results" / "energy_landscape.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    energies = {name: make_energy(name) for name in args.energies}
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "grid": len(GRID), "lookahead_cells": LOOKAHEAD, "episodes": args.episodes,
              "models": {}}
    shown = {}
    for spec in args.models:
        name, _, path = spec.partition("=")
        bundle = load_model_dir(path).eval()
        norm = model_normalization(bundle.config)
        result["models"][name] = {"path": path}
        for sigma in args.input_blur:
            t = time.time()
            encoder = with_input_blur(bundle.encoder, sigma).eval()
            rows = {e: {"rho": [], "descent": []} for e in energies}
            for k, seed in enumerate(range(1000, 1000 + args.episodes)):
                with torch.no_grad():
                    maps, goal = energy_maps(encoder, norm, seed, energies)
                for e, M in maps.items():
                    rows[e]["rho"].append(spearman(M.ravel(), distance_map(goal).ravel()))
                    rows[e]["descent"].append(descent_share(M, goal))
                    if k == 0:
                        shown[f"{name} blur {sigma:g} {e}"] = (M, goal)
            entry = {e: {"rho_mean": round(float(np.mean(r["rho"])), 3),
                         "descent_mean": round(float(np.mean(r["descent"])), 3),
                         "descent_per_episode": [round(v, 3) for v in r["descent"]]} for e, r in rows.items()}
            result["models"][name][f"input_blur {sigma:g}"] = entry
            for e, v in entry.items():
                print(f"{name:18s} input blur {sigma:<4g} {e:10s}: rho {v['rho_mean']:+.2f}, descent reaches the goal "
                      f"from {v['descent_mean']:.0%} of cells ({time.time() - t:.0f} s)", flush=True)
            atomic_write_json(args.out, result)
    png = Path(args.out).with_suffix(".png")
    plot(shown, png)
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
