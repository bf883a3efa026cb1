"""Scripted policies for the built-in world: exploration for action-conditioned training data, and
an oracle controller on ground-truth state (the upper baseline of goal-reaching evaluation).

A policy is a callable `state -> action` (action in [-1, 1]^2); its randomness comes from its own
seed, so a rollout is a pure function of (world seed, policy seed).
"""
from __future__ import annotations

import numpy as np

from jepa_edge.errors import ConfigError


def _toward(pos, target, cfg, slow_radius: float = 0.0) -> np.ndarray:
    """Action that moves the agent toward `target`, reaching it in one step when close (deadbeat)."""
    err = np.asarray(target, float) - pos
    a = err / (cfg.max_speed * cfg.dt)
    m = np.abs(a).max()
    return a / m if m > 1 else a


class RandomPolicy:
    """Piecewise-constant random actions, each held for a few steps: smooth enough to push things."""

    def __init__(self, seed=0, hold: tuple[int, int] = (2, 8), p_still: float = 0.1):
        self.rng = np.random.default_rng(seed)
        self.hold, self.p_still = hold, p_still
        self.left, self.action = 0, np.zeros(2)

    def __call__(self, state) -> np.ndarray:
        if self.left <= 0:
            self.left = int(self.rng.integers(self.hold[0], self.hold[1] + 1))
            still = self.rng.random() < self.p_still
            self.action = np.zeros(2) if still else self.rng.uniform(-1, 1, size=2)
        self.left -= 1
        return self.action.copy()


class PushPolicy:
    """Walk behind an object and push it toward a target point, then pick another object.

    With `target` given it pushes that object to that point (the oracle's push controller);
    otherwise targets are random, half of them across the occluder so objects go behind it."""

    def __init__(self, cfg, seed=0, obj: int | None = None, target=None, noise: float = 0.15,
                 patience: int = 40):
        self.cfg, self.rng, self.noise, self.patience = cfg, np.random.default_rng(seed), noise, patience
        self.fixed = obj is not None
        self.obj, self.target = obj, None if target is None else np.asarray(target, float)
        self.steps = 0
        self._orbit = None          # way round the object while walking behind it: +1 / -1

    def _new_target(self, state):
        cfg, rng = self.cfg, self.rng
        self.obj = int(rng.integers(len(state.obj_pos)))
        lo, hi = cfg.wall + 2 * cfg.object_radius, 1 - cfg.wall - 2 * cfg.object_radius
        x0, _, x1, _ = cfg.occluder
        p = state.obj_pos[self.obj]
        if rng.random() < 0.5:  # across the occluder
            x = rng.uniform(lo, x0) if p[0] > (x0 + x1) / 2 else rng.uniform(x1, hi)
            self.target = np.array([x, rng.uniform(lo, hi)])
        else:
            self.target = rng.uniform(lo, hi, size=2)
        self.steps = 0
        self._orbit = None

    def __call__(self, state) -> np.ndarray:
        cfg = self.cfg
        if self.target is None or (not self.fixed and self.steps > self.patience):
            self._new_target(state)
        self.steps += 1
        obj = state.obj_pos[self.obj]
        to_goal = self.target - obj
        dist = np.hypot(*to_goal)
        if dist < 0.5 * cfg.object_radius:
            if not self.fixed:
                self._new_target(state)
            return np.zeros(2)
        u = to_goal / dist
        speed = min(cfg.max_speed, cfg.damping * dist + 0.03) if cfg.damping > 0 else cfg.max_speed
        # Push against the object's sideways drift too: a pushed object keeps sliding.
        v = state.obj_vel[self.obj]
        drift = v - (v @ u) * u
        u = u - drift / speed
        u = u / np.hypot(*u)
        contact = cfg.agent_radius + cfg.object_radius
        rel = state.agent_pos - obj
        along = rel @ u                         # < 0: the agent is behind the object
        side = rel - along * u
        if along < -0.5 * contact and np.hypot(*side) < 0.5 * contact:
            # Aligned: push through, slowing down near the target because a pushed object keeps
            # sliding about v / damping after contact ends.
            lateral = side / (cfg.max_speed * cfg.dt)           # re-centre behind the object
            a = np.clip(u * speed / cfg.max_speed - 0.5 * lateral, -1, 1)
        else:
            a = _toward(state.agent_pos, self._approach(state.agent_pos, obj, u, contact), cfg)
        a = a + self.rng.normal(0, self.noise, size=2) if self.noise else a
        return np.clip(a, -1, 1)


    def _approach(self, agent, obj, u, contact) -> np.ndarray:
        """Next waypoint toward the spot behind the object: straight there when the agent is
        already on that side, otherwise around the object on a circle, the free way round."""
        cfg = self.cfg
        rel = agent - obj
        ang_agent = np.arctan2(rel[1], rel[0])
        ang_behind = np.arctan2(-u[1], -u[0])
        turn = (ang_behind - ang_agent + np.pi) % (2 * np.pi) - np.pi
        if abs(turn) < 0.6:
            self._orbit = None
            return obj - u * (contact + 0.01)
        radius = contact + 0.04
        lo, hi = cfg.wall + cfg.agent_radius, 1 - cfg.wall - cfg.agent_radius
        # Keep going round the same way (no dithering); turn back only where a wall blocks.
        first = self._orbit if self._orbit is not None else (np.sign(turn) or 1.0)
        for direction in (first, -first):
            ang = ang_agent + direction * 0.7
            w = np.clip(obj + radius * np.array([np.cos(ang), np.sin(ang)]), lo, hi)
            if np.hypot(*(w - obj)) > contact + 0.005:      # along a wall is fine, into the object not
                self._orbit = direction
                return w
        return obj - u * (contact + 0.01)


class ExplorationPolicy:
    """Alternates random and pushing segments: diverse actions plus purposeful contact."""

    def __init__(self, cfg, seed=0, p_push: float = 0.5, segment: tuple[int, int] = (8, 24)):
        self.rng = np.random.default_rng(seed)
        self.random = RandomPolicy(self.rng.integers(2**31))
        self.push = PushPolicy(cfg, self.rng.integers(2**31))
        self.p_push, self.segment = p_push, segment
        self.left, self.current = 0, self.random

    def __call__(self, state) -> np.ndarray:
        if self.left <= 0:
            self.left = int(self.rng.integers(self.segment[0], self.segment[1] + 1))
            self.current = self.push if self.rng.random() < self.p_push else self.random
        self.left -= 1
        return self.current(state)


class StillPolicy:
    def __call__(self, state) -> np.ndarray:
        return np.zeros(2)


def make_policy(name: str, cfg, seed=0):
    """Policy by name: explore (default data), random, push, still."""
    table = {
        "explore": lambda: ExplorationPolicy(cfg, seed),
        "random": lambda: RandomPolicy(seed),
        "push": lambda: PushPolicy(cfg, seed),
        "still": lambda: StillPolicy(),
    }
    if name not in table:
        raise ConfigError(f"unknown policy {name!r}; choose one of {sorted(table)}")
    return table[name]()


class OracleController:
    """Acts on ground-truth state to reach a `tasks.Goal`: the evaluation's upper baseline."""

    def __init__(self, goal, cfg):
        self.goal, self.cfg = goal, cfg
        if goal.kind == "push":
            self.pusher = PushPolicy(cfg, obj=goal.object, target=goal.state.obj_pos[goal.object], noise=0.0)

    def __call__(self, state) -> np.ndarray:
        if self.goal.kind == "reach":
            return _toward(state.agent_pos, self.goal.state.agent_pos, self.cfg)
        return self.pusher(state)
