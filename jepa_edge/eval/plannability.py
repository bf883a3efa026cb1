"""Can a planner reach a goal image in this encoder's latent space? (the reach task, perfect model)

The loop's planners minimise the L1 distance between a predicted latent and the goal image's latent
(REFERENCE.md). That only works if the distance falls as the agent nears the goal. This check takes
the predictor out of the question: for each goal-reaching episode it renders the agent on a grid
of positions over the table (everything else as at the start), encodes every frame exactly as the
loop does (frame latents, layer-normed), and scores the energy landscape:

- `spearman`: rank correlation of energy with the true distance to the goal (1 = a perfect funnel);
- `argmin_hit`: share of episodes whose lowest-energy grid position is within `radius` of the goal
  (the goal is recognisable at all);
- `descent_hit[lookahead]`: share of episodes where greedy descent from the start position over
  the grid ends within `radius` of the goal, each step moving to the lowest energy within
  `lookahead` table units: a planner with a perfect predictor whose horizon reaches that far
  (the loop's default: 2 steps x 0.05 = 0.1). The goal is reachable by following the energy.

A low `descent_hit` with a high `argmin_hit` means a narrow basin: the goal is recognised only
once the agent is nearly there, and no predictor or planner budget will fix that with plain L1.
The same scores for the planner's `l1_smooth` energy (planning/energy.py), which blurs the latent
difference over the token grid to widen that basin, sit under "l1_smooth".
"""
from __future__ import annotations

import numpy as np
import torch

from jepa_edge.data.tasks import start_episode
from jepa_edge.data.transforms import Normalization
from jepa_edge.planning.energy import make_energy
from jepa_edge.training.latents import frame_latents


def encode_images(encoder, images: list[np.ndarray], norm: Normalization) -> torch.Tensor:
    """uint8 [H, W, 3] frames -> their tokens [B, N, D], encoded as the loop encodes them."""
    x = torch.stack([norm(im) for im in images])  # [B, C, H, W]
    return frame_latents(encoder, x)[:, 0]  # [B, N, D]


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank (scipy's rankdata 'average', less 1)."""
    a = np.asarray(a).ravel()
    ranks = np.empty(len(a))
    ranks[np.argsort(a, kind="stable")] = np.arange(len(a))
    _, group, counts = np.unique(a, return_inverse=True, return_counts=True)
    return (np.bincount(group, weights=ranks) / counts)[group]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation, ties averaged (scipy is not a dependency). Ties occur: two actions that
    both push the agent into a wall end in the same frame."""
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def agent_on_grid(world, axis: np.ndarray, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of the world's current scene with the agent moved to every (x, y) of `axis` x `axis`
    (x-major) and those positions [G*G, 2]; the world is left at the last of them."""
    start, images, positions = world.state.copy(), [], []
    for x in axis:
        for y in axis:
            s = start.copy()
            s.agent_pos = np.array([x, y])
            world.set_state(s)
            positions.append((x, y))
            images.append(world.render(size))
    return images, np.asarray(positions)


def greedy_descent(energy: np.ndarray, start: tuple[int, int], max_steps: int, reach: int = 1) -> tuple[int, int]:
    """Move to the lowest-energy cell within `reach` cells (what a planner's horizon can see) until
    none is lower."""
    n = energy.shape[0]
    i, j = start
    steps = range(-reach, reach + 1)
    for _ in range(max_steps):
        nbrs = [(i + a, j + b) for a in steps for b in steps if 0 <= i + a < n and 0 <= j + b < n]
        bi, bj = min(nbrs, key=lambda p: energy[p])
        if energy[bi, bj] >= energy[i, j]:  # a plateau or a minimum: a planner has nothing to follow
            break
        i, j = bi, bj
    return i, j


@torch.no_grad()
def plannability(encoder: torch.nn.Module, norm: Normalization, episodes: int = 20, grid: int = 17,
                 radius: float = 0.1, lookaheads: tuple[float, ...] = (0.1, 0.3), first_seed: int = 1000,
                 smooth_sigma: float = 0.25) -> dict:
    """Scores for plain L1 (top level) and for the planner's `l1_smooth` energy (under "l1_smooth")."""
    size = encoder.cfg.img_size
    axis = np.linspace(0.1, 0.9, grid)
    spacing = float(axis[1] - axis[0])
    energies = {"l1": make_energy("l1"), "l1_smooth": make_energy("l1_smooth", smooth_sigma)}
    scores = {name: {"spearman": [], "argmin_hit": [], "descent_hit": {f"{r:g}": [] for r in lookaheads}}
              for name in energies}
    for seed in range(first_seed, first_seed + episodes):
        world, goal = start_episode(seed, size=size)
        start = world.state.copy()
        images, positions = agent_on_grid(world, axis, size)
        z, z_goal = encode_images(encoder, images, norm).numpy(), encode_images(encoder, [goal.image], norm)[0].numpy()
        dist = np.hypot(*(positions - goal.state.agent_pos).T)
        cell = tuple(int(k) for k in np.clip(np.rint((start.agent_pos - axis[0]) / spacing), 0, grid - 1))
        for name, energy_fn in energies.items():
            energy, sc = energy_fn(z, z_goal), scores[name]
            sc["spearman"].append(spearman(energy, dist))
            sc["argmin_hit"].append(bool(dist[np.argmin(energy)] <= radius))
            for r in lookaheads:
                end = greedy_descent(energy.reshape(grid, grid), cell, 4 * grid, reach=max(1, round(r / spacing)))
                sc["descent_hit"][f"{r:g}"].append(bool(dist.reshape(grid, grid)[end] <= radius))
    summary = {name: {"spearman": round(float(np.mean(sc["spearman"])), 4),
                      "argmin_hit": round(float(np.mean(sc["argmin_hit"])), 4),
                      "descent_hit": {r: round(float(np.mean(v)), 4) for r, v in sc["descent_hit"].items()}}
               for name, sc in scores.items()}
    return {"episodes": episodes, "grid": grid, "radius": radius, **summary["l1"],
            "l1_smooth": {"smooth_sigma": smooth_sigma, **summary["l1_smooth"]}}
