"""Clips of the built-in world, and matched possible/impossible pairs for violation-of-expectation.

An impossible clip is the possible clip with exactly one declared edit from time `t` on, applied
to the recorded states before rendering, so physics, actions and every other object stay
identical:
  vanish   - the object disappears while fully behind the occluder and never comes back;
  appear   - the mirror of vanish: the object is nowhere in the possible clip, and in the impossible
             one it appears while fully behind the occluder and comes out. A vanish and an appear
             pair from the same seed share one scene, so together they are the balanced quadruplet
             of IntPhys (see eval/physics.py: an object that is not there is less to predict, so
             vanish alone rewards a model without object permanence);
  teleport - the object jumps by a fixed offset in full view (and stays offset);
  morph    - the object changes shape and colour in full view.
Every pair is built on a "crossing" scenario: one object is launched so that it passes fully
behind the occluder and comes out again inside the clip, so object permanence is testable.
"""
from __future__ import annotations

import numpy as np

from jepa_edge.data.policies import make_policy
from jepa_edge.data.world import PALETTES, SHAPES, Clip, TabletopWorld, WorldConfig, visible_fraction
from jepa_edge.errors import ConfigError

VIOLATIONS = ("vanish", "appear", "teleport", "morph")
MIN_VO_FRAMES = 10


def launch_across_occluder(world: TabletopWorld, rng: np.random.Generator, frames: int) -> int:
    """Put one object beside the occluder with the speed to cross it within ~55% of the clip,
    and move every other body out of its corridor. Returns the object's index."""
    cfg = world.cfg
    s = world.state
    r, ra, n = cfg.object_radius, cfg.agent_radius, cfg.n_objects
    x0, y0, x1, y1 = cfg.occluder
    k = int(rng.integers(n))
    direction = rng.choice([-1.0, 1.0])          # +1: left to right
    y = rng.uniform(y0 + r + 0.02, y1 - r - 0.02)
    gap = rng.uniform(0.01, 0.08)
    start = x0 - r - gap if direction > 0 else x1 + r + gap
    end = x1 + r + 0.03 if direction > 0 else x0 - r - 0.03
    lo, hi = cfg.wall + r, 1 - cfg.wall - r
    start = float(np.clip(start, lo, hi))
    distance = abs(end - start)
    t_cross = frames * cfg.dt * rng.uniform(0.4, 0.55)
    d = cfg.damping
    speed = d * distance / (1 - np.exp(-d * t_cross)) if d > 0 else distance / t_cross
    # Slow enough that at least one frame shows the object fully hidden.
    speed = min(speed, 0.8 * (x1 - x0 - 2 * r) / cfg.dt)
    s.obj_pos[k] = [start, y]
    s.obj_vel[k] = [direction * speed, rng.uniform(-0.04, 0.04)]
    # Everything else: resample outside the corridor |y' - y| < 2r + margin, without overlaps.
    placed = [(s.obj_pos[k], r)]
    for i in [*range(n), -1]:
        if i == k:
            continue
        rad = ra if i < 0 else r
        for _ in range(500):
            p = rng.uniform(cfg.wall + rad, 1 - cfg.wall - rad, size=2)
            if abs(p[1] - y) > r + rad + 0.03 and all(np.hypot(*(p - q)) > rad + qr + 0.01 for q, qr in placed):
                break
        placed.append((p, rad))
        if i < 0:
            s.agent_pos = p
        else:
            s.obj_pos[i] = p
            s.obj_vel[i] *= 0.5       # keep bystanders calm so they rarely hit the crossing object
    world.set_state(s)
    return k


def make_clip(seed, frames: int = 16, size: int = 64, cfg: WorldConfig | None = None,
              policy: str = "explore", cross: bool = False, render: bool = True, action_repeat: int = 1) -> Clip:
    """A clip of `frames` frames from world seed `seed` (int or tuple of ints).

    `cross=True` launches one object across the occluder (see launch_across_occluder).
    `action_repeat=k` holds each action for k world steps and keeps every k-th frame (frame skip):
    one clip step is then k world steps, as for a predictor that looks k steps ahead per call."""
    if action_repeat < 1:
        raise ConfigError(f"action_repeat must be >= 1, got {action_repeat}")
    cfg = cfg or WorldConfig()
    seed = tuple(np.atleast_1d(seed).tolist())
    world = TabletopWorld(cfg, seed=seed)
    if cross:
        launch_across_occluder(world, np.random.default_rng((*seed, 1)), frames * action_repeat)
    policy_fn = make_policy(policy, cfg, (*seed, 2))
    if action_repeat == 1:
        return world.rollout(policy_fn, frames, size=size, render=render)
    held = {}

    def every_kth(s):  # the policy decides on every k-th step; the steps between repeat its action
        if (s.t - t0) % action_repeat == 0:
            held["a"] = policy_fn(s)
        return held["a"]

    t0 = world.t
    states, actions = world.record(every_kth, frames * action_repeat)
    return Clip.from_states(states[::action_repeat], actions[::action_repeat], world.renderer, size, render=render)


def _crossing_times(visible: np.ndarray) -> tuple[int, int] | None:
    """(first fully hidden frame after being visible, first visible frame after that)."""
    T = len(visible)
    for t in range(1, T):
        if not visible[t] and visible[:t].any():
            back = np.flatnonzero(visible[t:])
            return (t, t + int(back[0])) if len(back) else None
    return None


def make_vo_pair(seed, kind: str, frames: int = 16, size: int = 64, cfg: WorldConfig | None = None,
                 policy: str = "explore", max_tries: int = 100) -> tuple[Clip, Clip]:
    """(possible, impossible) clips identical except the declared violation `kind`.

    The impossible clip's `violation` says what changed: {"kind", "object", "t", ...}."""
    if kind not in VIOLATIONS:
        raise ConfigError(f"unknown violation {kind!r}; choose one of {VIOLATIONS}")
    if frames < MIN_VO_FRAMES:
        raise ConfigError(f"violation-of-expectation clips need >= {MIN_VO_FRAMES} frames, got {frames}")
    cfg = cfg or WorldConfig()
    base = tuple(np.atleast_1d(seed).tolist())
    world = TabletopWorld(cfg, seed=base)
    for attempt in range(max_tries):
        world.reset((*base, attempt))
        rng = np.random.default_rng((*base, attempt, 7))
        k = launch_across_occluder(world, rng, frames)
        states, actions = world.record(make_policy(policy, cfg, (*base, attempt, 2)), frames)
        vis = np.array([s.obj_visible[k] for s in states])
        crossing = _crossing_times(vis)
        if crossing is None or frames - crossing[1] < 3:
            continue          # the object did not come back out in time: try another scenario
        edit = _EDITS[kind](states, k, crossing, rng, cfg)
        if edit is None:
            continue
        t, apply, info = edit
        possible = _edited(states, 0, _remove(k), cfg) if kind == "appear" else states
        impossible = _edited(possible, t, apply, cfg)
        violation = {"kind": kind, "object": k, "t": t, **info}
        return (Clip.from_states(possible, actions, world.renderer, size),
                Clip.from_states(impossible, actions, world.renderer, size, violation=violation))
    raise ConfigError(f"no {kind} scenario found for seed {seed} in {max_tries} tries; "
                      f"use more frames (got {frames}) or fewer objects (got {cfg.n_objects})")


def _edited(states, t: int, apply, cfg) -> list:
    """Copies of `states` with `apply` done to every state from frame t on (visibility redone)."""
    out = [s.copy() for s in states]
    for s in out[t:]:
        apply(s)
        s.obj_visible = (visible_fraction(s.obj_pos, cfg.object_radius, cfg.occluder) > 1e-6) & s.obj_present
    return out


def _remove(k):
    def apply(s):
        s.obj_present[k] = False
    return apply


def _in_view_times(states, k, cfg, lo: int, hi: int) -> list[int]:
    """Frames t in [lo, hi) where object k is fully visible at t-1 and t."""
    full = [visible_fraction(s.obj_pos[k:k + 1], cfg.object_radius, cfg.occluder)[0] >= 1.0 for s in states]
    return [t for t in range(max(lo, 1), hi) if full[t] and full[t - 1]]


def _vanish(states, k, crossing, rng, cfg):
    return crossing[0], _remove(k), {}


def _appear(states, k, crossing, rng, cfg):
    def apply(s):
        s.obj_present[k] = True
    return crossing[0], apply, {}


def _edit_time(states, k, rng, cfg) -> int | None:
    """A random frame, away from both clip ends, at which object k has been in full view for two
    frames (so the edit is seen); None if there is none."""
    times = _in_view_times(states, k, cfg, 2, len(states) - 3)
    return int(rng.choice(times)) if times else None


def _teleport(states, k, crossing, rng, cfg):
    t = _edit_time(states, k, rng, cfg)
    if t is None:
        return None
    r, ra = cfg.object_radius, cfg.agent_radius
    lo, hi = cfg.wall + r, 1 - cfg.wall - r
    later = states[t:]
    for _ in range(40):
        ang, mag = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.4)
        off = mag * np.array([np.cos(ang), np.sin(ang)])
        ok = True
        for s in later:  # the shifted object must stay on the table and touch nothing
            p = s.obj_pos[k] + off
            others = np.delete(s.obj_pos, k, axis=0)
            if (np.any(p < lo) or np.any(p > hi) or np.hypot(*(s.agent_pos - p)) < r + ra + 0.01
                    or (len(others) and np.min(np.hypot(*(others - p).T)) < 2 * r + 0.01)):
                ok = False
                break
        if ok and visible_fraction((later[0].obj_pos[k] + off)[None], r, cfg.occluder)[0] >= 1.0:
            def apply(s, off=off):
                s.obj_pos[k] = s.obj_pos[k] + off
            return t, apply, {"offset": off.tolist()}
    return None


def _morph(states, k, crossing, rng, cfg):
    t = _edit_time(states, k, rng, cfg)
    if t is None:
        return None
    old_shape = int(states[t].obj_shape[k])
    shape = int(rng.choice([i for i in range(len(SHAPES)) if i != old_shape]))
    used = {tuple(int(v) for v in c) for c in states[t].obj_colour}
    free = [c for c in PALETTES[cfg.palette].objects if c not in used]
    colour = np.array(free[int(rng.integers(len(free)))] if free else states[t].obj_colour[k], np.uint8)

    def apply(s):
        s.obj_shape[k] = shape
        s.obj_colour[k] = colour
    return t, apply, {"shape": SHAPES[shape], "from_shape": SHAPES[old_shape], "colour": colour.tolist()}


_EDITS = {"vanish": _vanish, "appear": _appear, "teleport": _teleport, "morph": _morph}
