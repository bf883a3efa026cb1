"""Goal-reaching tasks in the built-in world (for the planning loop's evaluation).

An episode is `world.reset(seed)` plus `sample_goal(seed)`: the goal is the same scene with the
agent (task "reach") or one object (task "push") somewhere else, and its rendered goal image.
Objects start at rest in task worlds (TASK_CONFIG), so the goal image stays a faithful target.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from jepa_edge.data.world import TabletopWorld, WorldConfig, WorldState, visible_fraction
from jepa_edge.errors import ConfigError

TASK_CONFIG = WorldConfig(object_speed=0.0)
TASKS = ("reach", "push")


def task_config(img_size: int | None = None, n_objects: int = 0, occluder=None, palette: str = "default"
                ) -> WorldConfig:
    """TASK_CONFIG, or a variation of it a model was not trained on: `n_objects` objects (0 = its
    own), the occluder at `occluder` (x0, y0, x1, y1; None = its own), drawn in `palette`."""
    changes: dict = {"palette": palette}
    if img_size is not None:
        changes["img_size"] = img_size
    if n_objects:
        changes["n_objects"] = n_objects
    if occluder is not None:
        changes["occluder"] = tuple(float(v) for v in occluder)
    return replace(TASK_CONFIG, **changes)


@dataclass(frozen=True)
class Goal:
    kind: str                   # "reach" or "push"
    seed: int
    start: WorldState           # the state world.reset(seed) gives
    state: WorldState           # the goal scene
    image: np.ndarray           # uint8 [size, size, 3] render of `state`
    radius: float               # success radius (table units)
    object: int | None = None   # the object to push ("push" only)


def sample_goal(seed, cfg: WorldConfig | None = None, kind: str = "reach", size: int | None = None,
                radius: float | None = None, min_distance: float = 0.25) -> Goal:
    """The goal of episode `seed`: a free position at least `min_distance` from the start."""
    if kind not in TASKS:
        raise ConfigError(f"unknown task {kind!r}; choose one of {TASKS}")
    cfg = cfg or TASK_CONFIG
    world = TabletopWorld(cfg, seed=seed)
    start = world.state
    rng = np.random.default_rng((*np.atleast_1d(seed).tolist(), 11))
    goal = start.copy()
    ra, ro = cfg.agent_radius, cfg.object_radius
    if kind == "reach":
        radius = ra if radius is None else radius
        goal.agent_pos = _free_spot(rng, cfg, ra, start.agent_pos, min_distance, start.obj_pos, ra + ro)
    else:
        radius = ro if radius is None else radius
        k, target = _push_target(rng, cfg, start, min_distance)
        goal.obj_pos[k] = target
        u = (target - start.obj_pos[k]) / np.linalg.norm(target - start.obj_pos[k])
        goal.agent_pos = target - u * (ra + ro + 0.01)   # where a pusher ends up
    goal.agent_vel = np.zeros(2)
    goal = replace(goal, obj_vel=np.zeros_like(goal.obj_vel))
    world.set_state(goal)
    image = world.render(size)
    return Goal(kind, seed, start, world.state, image, float(radius), None if kind == "reach" else k)


def _free_spot(rng, cfg, margin, start, min_distance, obstacles, clearance) -> np.ndarray:
    lo, hi = cfg.wall + margin, 1 - cfg.wall - margin
    for _ in range(2000):
        p = rng.uniform(lo, hi, size=2)
        if (np.hypot(*(p - start)) >= min_distance
                and (len(obstacles) == 0 or np.min(np.hypot(*(obstacles - p).T)) > clearance + 0.01)):
            return p
    raise ConfigError("no free goal position: use fewer objects or a smaller min_distance")


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / max(ab @ ab, 1e-12), 0, 1)
    return np.hypot(*(points - (a + t[:, None] * ab)).T)


def _push_target(rng, cfg, start: WorldState, min_distance: float) -> tuple[int, np.ndarray]:
    """An object and a target it can be pushed to in a straight line: the spot behind it is
    reachable and no other object lies in the corridor."""
    ra, ro = cfg.agent_radius, cfg.object_radius
    lo, hi = cfg.wall + ro + 0.02, 1 - cfg.wall - ro - 0.02
    for attempt in range(6000):
        strict = attempt < 3000  # then accept a crowded corridor: the pusher may shove others
        k = int(rng.integers(cfg.n_objects))
        p = start.obj_pos[k]
        target = rng.uniform(lo, hi, size=2)
        dist = np.hypot(*(target - p))
        if not min_distance <= dist <= 2 * min_distance:
            continue
        if visible_fraction(target[None], ro, cfg.occluder)[0] < 1:
            continue   # the goal image must show the object at its target
        u = (target - p) / dist
        behind = p - u * (ra + ro + 0.01)
        others = np.delete(start.obj_pos, k, 0)
        if (np.any(behind < cfg.wall + ra) or np.any(behind > 1 - cfg.wall - ra)
                or (strict and len(others) and _segment_distance(others, behind, target).min() < ro + max(ra, ro) + 0.02)):
            continue
        return k, target
    raise ConfigError("no pushable goal found: use fewer objects or a smaller min_distance")


def is_success(state: WorldState, goal: Goal) -> bool:
    if goal.kind == "reach":
        return bool(np.hypot(*(state.agent_pos - goal.state.agent_pos)) <= goal.radius)
    k = goal.object
    return bool(np.hypot(*(state.obj_pos[k] - goal.state.obj_pos[k])) <= goal.radius)


def goal_distance(state: WorldState, goal: Goal) -> float:
    """Distance still to go (table units): for reports and dense rewards."""
    if goal.kind == "reach":
        return float(np.hypot(*(state.agent_pos - goal.state.agent_pos)))
    return float(np.hypot(*(state.obj_pos[goal.object] - goal.state.obj_pos[goal.object])))


def start_episode(seed, cfg: WorldConfig | None = None, kind: str = "reach", size: int | None = None
                  ) -> tuple[TabletopWorld, Goal]:
    """A world reset to episode `seed` and its goal."""
    cfg = cfg or TASK_CONFIG
    return TabletopWorld(cfg, seed=seed), sample_goal(seed, cfg, kind, size)
