"""Does a planning energy point the way? (`jepa-edge diagnose`, experiments/energy_direction.py)

For each reach episode of the loop's goal-reaching evaluation (seeds `first_seed`, ...), the agent
moves from its start in `directions` directions at full speed for H world steps (one step: 0.05
table units), every end frame is encoded as the planner's latents are, and each energy of
planning/energy.py is scored against the goal image's latent:

- `spearman`: rank correlation, over the end points, of energy with the distance still to go
  (1: the energy ranks directions exactly as the true distance does; 0: no direction signal);
- `best_closer`: share of episodes whose lowest-energy direction ends closer to the goal than the
  start (a random direction: about 0.5).

Scored on the true end frames, this is what a horizon-H planner with a perfect predictor would
see. With an AC predictor the same scores are computed on its H-step rollouts through the
planner's own `LatentDynamics` (the action held over the H steps, the robot state integrated as
the planner integrates it), under "<energy> (predicted)": what the planner really sees.
`delta_scales` other than 1 also score the rollouts as `planner.delta_scale` does
(z_now + s (z_pred - z_now)). `state_held` adds "(predicted, state held)" rows, the state kept
at the start's, as the planner did before it integrated.

`diagnose` adds a verdict against a stated threshold: an energy passes on a source when, at the
verdict horizon, both its mean rho and its best_closer reach the thresholds; the encoder (and
predictor) pass when one energy passes on the true frames and, with a predictor, through it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import sys

import numpy as np
import torch

from jepa_edge.data.tasks import TASK_CONFIG, start_episode
from jepa_edge.errors import ConfigError
from jepa_edge.eval.plannability import spearman

if TYPE_CHECKING:
    from jepa_edge.training.ac import TrainACConfig

HORIZONS = (1, 3, 6)
STEP_TABLE_UNITS = 0.05  # how far the agent moves in one world step at full speed
PREDICTED, HELD = " (predicted)", " (predicted, state held)"


@dataclass(frozen=True)
class Threshold:
    """What `diagnose` calls pointing the way, at `horizon` world steps ahead. Defaults: the energies
    that planned to >= 80% of goals here scored rho >= 0.4 / closer >= 0.75 through their AC
    predictor at 3 steps; plain L1 on every trained encoder scored rho <= 0.10 (docs/results.md)."""

    horizon: int = 3
    min_spearman: float = 0.3
    min_best_closer: float = 0.7

    def passes(self, row: dict) -> bool:
        return row["spearman"] >= self.min_spearman and row["best_closer"] >= self.min_best_closer


def energy_key(kind: str, smooth_sigma: float) -> str:
    return kind if kind == "l1" else f"{kind}_{smooth_sigma:g}"


def simulate_held(world, actions: np.ndarray, horizon: int, size: int) -> tuple[list[np.ndarray], list]:
    """Each action held for `horizon` world steps from the current state: the end frames and end
    states (what a perfect predictor would say); the world is put back where it was."""
    now, frames, states = world.state.copy(), [], []
    for a in actions:
        world.set_state(now.copy())
        for _ in range(horizon):
            world.step(a)
        frames.append(world.render(size))
        states.append(world.state.copy())
    world.set_state(now)
    return frames, states


def unit_moves(directions: int = 16) -> np.ndarray:
    """[directions, 2] unit vectors, evenly spread from angle 0."""
    angles = np.linspace(0, 2 * np.pi, directions, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], 1)


def frame_encoder(path: str | Path, predictor: str | Path | None = None, threads: int = 1,
                  random_init: bool = False) -> tuple[Callable[[list[np.ndarray]], np.ndarray], int]:
    """(encode, img_size): `encode(frames) -> [B, N, D]` for uint8 RGB frames. A model dir is run in
    PyTorch (layer-normed tokens, the AC predictor's latent space; `random_init`: the same
    architecture with fresh weights); an encoder bundle through its session, preprocessed and
    normalized as the loop's perception stage does."""
    path = Path(path)
    if (path / "config.json").is_file():
        from jepa_edge.eval.features import model_normalization
        from jepa_edge.eval.plannability import encode_images
        from jepa_edge.eval.run import random_like
        from jepa_edge.models.model_dir import load_model_dir

        bundle = load_model_dir(path)
        bundle = (random_like(bundle) if random_init else bundle).eval()
        enc, norm = bundle.encoder, model_normalization(bundle.config)

        @torch.no_grad()
        def encode(frames):
            return encode_images(enc, frames, norm).numpy()

        return encode, enc.cfg.img_size
    if random_init:
        raise ConfigError(f"{path}: random init needs a model dir (config.json), not a bundle")
    from jepa_edge.loop.assemble import load_session, make_encoder
    from jepa_edge.loop.config import ModelsConfig

    latent = make_encoder(load_session(path, "encoder", threads),
                          ModelsConfig(encoder=str(path), predictor=str(predictor or "")), str(predictor or ""))
    return (lambda frames: np.stack([latent.encode(f) for f in frames])), latent.img_size


def predictor_dynamics(path: str | Path, threads: int = 1, batch: int = 16, hold_state: bool = False):
    """The AC predictor (model dir or bundle) rolled out as the loop's planner rolls it out."""
    from jepa_edge.loop.assemble import load_session, make_state_update
    from jepa_edge.loop.config import RobotConfig
    from jepa_edge.planning.planner import LatentDynamics

    session = load_session(path, "ac_predictor", threads, batch=batch)
    kinematics = None if hold_state else make_state_update(RobotConfig(), path, TASK_CONFIG)
    return LatentDynamics(session, state_update=kinematics)


def has_predictor(path: str | Path) -> bool:
    """A model dir whose config.json names an AC predictor, or an AC-predictor bundle."""
    import json

    path = Path(path)
    if (path / "config.json").is_file():
        return "ac_predictor" in json.loads((path / "config.json").read_text())
    if (path / "manifest.json").is_file():
        return json.loads((path / "manifest.json").read_text()).get("part") == "ac_predictor"
    return False


@torch.no_grad()
def score(encode: Callable, img_size: int, dynamics: dict | None = None, *, episodes: int = 10,
          first_seed: int = 1000, horizons=HORIZONS, energies: dict[str, tuple[str, float]] | None = None,
          delta_scales=(1.0,), directions: int = 16) -> dict:
    """{row key: {"H<h>": {"spearman", "best_closer"}}}: row keys are the energy names (true frames)
    and "<energy><source>" for each dynamics source (e.g. " (predicted)"), with " delta scale <s>"
    appended for s != 1 on predicted sources."""
    from jepa_edge.planning.energy import make_energy
    from jepa_edge.planning.planner import scaled_change_energy

    energies = energies or {"l1": ("l1", 0.0), "l1_smooth_0.25": ("l1_smooth", 0.25)}
    fns = {name: make_energy(kind, sigma) for name, (kind, sigma) in energies.items()}
    dynamics = dynamics or {}
    moves = unit_moves(directions)
    keys = [(name, src, 1.0) for name in fns for src in ("", *dynamics)]
    keys += [(name, src, s) for name in fns for src in dynamics for s in delta_scales if s != 1]

    def key(name, src, s):
        return name + src + (f" delta scale {s:g}" if s != 1 else "")

    rows = {(key(*k), H): {"spearman": [], "best_closer": []} for k in keys for H in horizons}
    for seed in range(first_seed, first_seed + episodes):
        world, goal = start_episode(seed, size=img_size)
        start = world.state.copy()
        z_goal, z_start = encode([goal.image, world.render(img_size)])  # [N, D] each
        d0 = np.hypot(*(start.agent_pos - goal.state.agent_pos))
        for H in horizons:
            frames, ends = simulate_held(world, moves, H, img_size)
            dist = np.asarray([np.hypot(*(s.agent_pos - goal.state.agent_pos)) for s in ends])
            latents = {"": encode(frames)}
            held = np.repeat(moves[:, None].astype(np.float32), H, axis=1)  # [directions, H, 2]
            for src, dyn in dynamics.items():
                latents[src] = dyn.rollout(z_start, held, start.proprio())
            for name, src, s in keys:
                e = scaled_change_energy(fns[name], z_start, latents[src], z_goal, s)
                row = rows[(key(name, src, s), H)]
                row["spearman"].append(spearman(e, dist))
                row["best_closer"].append(bool(dist[np.argmin(e)] < d0))
    return {k: {f"H{H}": {m: round(float(np.mean(v)), 3) for m, v in rows[(k, H)].items()} for H in horizons}
            for k in dict.fromkeys(k for k, _ in rows)}


def verdict(scores: dict, energies: dict[str, tuple[str, float]], threshold: Threshold, predicted: bool,
            delta_scales=(1.0,)) -> dict:
    """Per-energy checks at the threshold's horizon and the overall pass/fail."""
    h = f"H{threshold.horizon}"
    checks = []
    for name, (kind, sigma) in energies.items():
        sources = [("true", name, 1.0)]
        if predicted:
            sources += [("predicted", name + PREDICTED + (f" delta scale {s:g}" if s != 1 else ""), s)
                        for s in delta_scales]
        for source, k, s in sources:
            row = scores[k][h]
            checks.append({"energy": kind, "smooth_sigma": sigma if kind != "l1" else None, "source": source,
                           "delta_scale": s, "horizon_steps": threshold.horizon, **row, "pass": threshold.passes(row)})
    # An energy passes when it passes on true frames and (with a predictor) through it at some scale.
    candidates = []
    for name, (kind, sigma) in energies.items():
        mine = [c for c in checks if c["energy"] == kind and c["smooth_sigma"] == (sigma if kind != "l1" else None)]
        true_ok = any(c["pass"] for c in mine if c["source"] == "true")
        pred = [c for c in mine if c["source"] == "predicted" and c["pass"]]
        if true_ok and (pred or not predicted):
            best = max(pred, key=lambda c: c["spearman"]) if pred else next(c for c in mine if c["source"] == "true")
            candidates.append(best)
    passed = bool(candidates)
    rec = max(candidates, key=lambda c: c["spearman"]) if candidates else None
    if passed:
        reason = (f"{rec['energy']}" + (f" (sigma {rec['smooth_sigma']:g})" if rec["smooth_sigma"] else "")
                  + f" points the way {threshold.horizon} steps ahead"
                  + (" on true frames and through the AC predictor" if predicted else " on true frames"))
    else:
        reason = (f"no energy reaches rho >= {threshold.min_spearman:g} and best_closer >= "
                  f"{threshold.min_best_closer:g} {threshold.horizon} steps ahead"
                  + (" on true frames and through the AC predictor" if predicted else " on true frames")
                  + ": a latent planner has no direction to follow")
    return {"verdict": "pass" if passed else "fail", "passed": passed, "reason": reason, "checks": checks,
            "recommended": None if rec is None else {
                "planner.energy": rec["energy"], "planner.smooth_sigma": rec["smooth_sigma"],
                "planner.delta_scale": rec["delta_scale"]}}


def diagnose(encoder: str | Path, predictor: str | Path | None = None, *, use_predictor: bool = True,
             episodes: int = 10, first_seed: int = 1000, horizons=HORIZONS,
             energies: dict[str, tuple[str, float]] | None = None, delta_scales=(1.0,),
             threshold: Threshold = Threshold(), threads: int = 1, directions: int = 16) -> dict:
    """Score an encoder (model dir or bundle) and, when given or held in the model dir (unless
    `use_predictor` is False), its AC predictor, and say whether the planning energy points the way
    (`verdict`: "pass" | "fail")."""
    energies = energies or {"l1": ("l1", 0.0), "l1_smooth_0.25": ("l1_smooth", 0.25)}
    horizons = tuple(sorted({*horizons, threshold.horizon}))
    if not use_predictor:
        predictor = None
    elif predictor is None and (Path(encoder) / "config.json").is_file() and has_predictor(encoder):
        predictor = encoder
    encode, size = frame_encoder(encoder, predictor, threads)
    dynamics = {PREDICTED: predictor_dynamics(predictor, threads, directions)} if predictor else {}
    scores = score(encode, size, dynamics, episodes=episodes, first_seed=first_seed, horizons=horizons,
                   energies=energies, delta_scales=delta_scales, directions=directions)
    return {"encoder": str(encoder), "predictor": str(predictor) if predictor else None, "episodes": episodes,
            "first_seed": first_seed, "directions": directions, "horizons_steps": list(horizons),
            "step_table_units": STEP_TABLE_UNITS,
            "threshold": {"horizon_steps": threshold.horizon, "min_spearman": threshold.min_spearman,
                          "min_best_closer": threshold.min_best_closer,
                          "rule": "an energy passes when rho and best_closer both reach these on true frames "
                                  "and, with a predictor, through it"},
            "scores": scores, **verdict(scores, energies, threshold, bool(predictor), delta_scales)}


# --- train-ac's planner search: the settings a predictor plans with, measured ------------------------

SEARCH_FIRST_SEED = 500  # reach episodes 500.. : apart from goal-reaching evaluation's (1000..)
SEARCH_MAX_EPISODES = 50  # seeds 500..549 at most (the hand-tuned settings were chosen on 50 goals)
SEARCH_ENERGIES = {"l1": ("l1", 0.0), **{f"l1_smooth_{s:g}": ("l1_smooth", s) for s in (0.15, 0.25, 0.4)}}
SEARCH_DELTA_SCALES = (1.0, 0.25, 0.05)
SEARCH_RULE = ("highest best_closer through the AC predictor {h} steps ahead, then highest rho there, then the "
               "first in the order searched (l1 before l1_smooth, smaller sigma first, delta_scale 1, 0.25, 0.05)")


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else 0.0


def search_planner(model: str | Path, budget_s: float = 30.0, *, first_seed: int = SEARCH_FIRST_SEED,
                   max_episodes: int = SEARCH_MAX_EPISODES, horizon: int = Threshold.horizon,
                   energies: dict[str, tuple[str, float]] | None = None, delta_scales=SEARCH_DELTA_SCALES,
                   directions: int = 16, threads: int = 1) -> tuple[dict, dict]:
    """(planner settings, evidence) for the AC predictor in `model` (a model dir or bundle holding
    both parts): every energy x delta_scale is scored by `score` on reach episodes `first_seed`, ...
    one episode at a time, until `max_episodes` or until the next would pass `budget_s` (at least
    one episode is scored: the best so far is kept). The settings are the best by SEARCH_RULE, as
    PlannerConfig fields ({"energy", "smooth_sigma" (l1_smooth only), "delta_scale"})."""
    import time

    energies = energies or SEARCH_ENERGIES
    t0 = time.monotonic()
    encode, size = frame_encoder(model, model, threads)
    dynamics = {PREDICTED: predictor_dynamics(model, threads, directions)}
    h = f"H{horizon}"
    per_episode: list[dict] = []
    stopped_early = False
    for seed in range(first_seed, first_seed + max_episodes):
        per_episode.append(score(encode, size, dynamics, episodes=1, first_seed=seed, horizons=(horizon,),
                                 energies=energies, delta_scales=delta_scales, directions=directions))
        spent = time.monotonic() - t0
        if len(per_episode) < max_episodes and spent * (len(per_episode) + 1) / len(per_episode) > budget_s:
            stopped_early = True
            break

    def mean(key: str, metric: str) -> float:
        return round(_finite(float(np.mean([_finite(e[key][h][metric]) for e in per_episode]))), 3)

    candidates = []
    for name, (kind, sigma) in energies.items():
        for s in delta_scales:
            key = name + PREDICTED + (f" delta scale {s:g}" if s != 1 else "")
            candidates.append({"energy": kind, "smooth_sigma": sigma if kind != "l1" else None, "delta_scale": s,
                               "best_closer": mean(key, "best_closer"), "spearman": mean(key, "spearman"),
                               "true_frames": {"best_closer": mean(name, "best_closer"),
                                               "spearman": mean(name, "spearman")}})
    best = max(candidates, key=lambda c: (c["best_closer"], c["spearman"]))  # max keeps the first of ties
    settings = {"energy": best["energy"], **({"smooth_sigma": best["smooth_sigma"]} if best["energy"] != "l1" else {}),
                "delta_scale": best["delta_scale"]}
    n = len(per_episode)
    evidence = {"measured": True, "rule": SEARCH_RULE.format(h=horizon), "chosen": settings,
                "seeds": [first_seed, first_seed + n - 1], "episodes": n, "horizon_steps": horizon,
                "directions": directions, "budget_s": budget_s, "seconds": round(time.monotonic() - t0, 2),
                "stopped_early": stopped_early, "candidates": candidates,
                "scored_by": "jepa_edge.eval.energy_direction.score"}
    return settings, evidence


def record_planner_search(model: Path, cfg: "TrainACConfig", progress: bool = False) -> dict:
    """Measure the planner settings of the predictor just saved in `model` (eval/energy_direction.py
    search_planner) and record them in its config.json: "ac"]["planner"] (PlannerConfig field -> value,
    which the latent spec carries into every bundle and `run` plans with) and "ac"]["planner_search"]
    (the evidence: every candidate's scores, the seeds, the time, the rule). The search moves the agent
    in the built-in world, so a predictor trained on a robot dataset (--data) is recorded as not
    measured, with the reason; so is one whose action period is not the world's step."""
    from jepa_edge.models.model_dir import amend_config, read_config

    settings: dict = {}
    if cfg.planner_search_s <= 0:
        evidence = {"measured": False, "reason": "--planner-search-s 0"}
    elif cfg.data != "world":
        evidence = {"measured": False, "reason": "trained on a robot dataset (--data): the search moves the agent "
                    "in the built-in world, which this predictor's actions and states do not drive; set "
                    "planner.energy / planner.delta_scale in the robot config"}
    elif cfg.action_repeat != 1:
        evidence = {"measured": False, "reason": f"--action-repeat {cfg.action_repeat}: the search scores one "
                    "world step per predictor step (eval/energy_direction.py)"}
    else:
        if progress:
            print(f"planner search (up to {cfg.planner_search_s:g} s) ...", file=sys.stderr, flush=True)
        settings, evidence = search_planner(model, cfg.planner_search_s, threads=torch.get_num_threads())
        if progress:
            print(f"planner settings: {', '.join(f'{k} {v:g}' if isinstance(v, float) else f'{k} {v}' for k, v in settings.items())}"
                  f" (measured on {evidence['episodes']} episodes in {evidence['seconds']:g} s)", file=sys.stderr, flush=True)
    amend_config(model, ac={**read_config(model)["ac"], "planner": settings, "planner_search": evidence})
    return evidence
