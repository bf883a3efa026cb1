"""How a planned action moves the robot's own state (proprioception) in an imagined rollout.

The AC predictor reads the robot state of every frame beside its tokens, and learns to lean on it:
the state says exactly where the end effector is. A rollout of H steps therefore needs the state
of each imagined frame. V-JEPA 2-AC's planner integrates every planned action into the pose
(`compute_new_pose` in the official MPC code); holding the state at its current value instead tells
the predictor, at every step after the first, that the robot has not moved, and the predicted
latents stop following the actions (experiments/energy_direction.py measures both).

`StateUpdate` is that integration for a state whose position slots move by `step` per unit action
per predictor step and whose velocity slots (if any) read the commanded velocity:

    state[position] = clip(state[position] + step * action, low, high)
    state[velocity] = velocity_scale * action

The built-in world: state (x, y, vx, vy), action = velocity / max_speed, one step = dt seconds.
A delta-pose robot (DROID, V-JEPA 2-AC): position = every action slot, step = 1, no velocity.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jepa_edge.errors import ConfigError

STATE_UPDATES = ("auto", "integrate", "hold")


@dataclass(frozen=True)
class StateUpdate:
    position: tuple[int, ...]  # state slot moved by each action dim (one per action dim)
    step: float  # position change per unit action per predictor step
    velocity: tuple[int, ...] = ()  # state slots set to the commanded velocity (one per action dim, or none)
    velocity_scale: float = 0.0  # velocity per unit action
    low: float = -np.inf  # bounds of the position slots (the workspace)
    high: float = np.inf

    def __post_init__(self):
        if not self.position:
            raise ConfigError("StateUpdate: position needs one state slot per action dim")
        if self.velocity and len(self.velocity) != len(self.position):
            raise ConfigError(f"StateUpdate: velocity has {len(self.velocity)} slots, position {len(self.position)}")
        if not self.low < self.high:
            raise ConfigError(f"StateUpdate: low {self.low} must be below high {self.high}")

    @classmethod
    def for_world(cls, cfg, action_repeat: int = 1) -> "StateUpdate":
        """The built-in world's agent (data/world.py): proprio (x, y, vx, vy), clipped to the table;
        one predictor step holds the action for `action_repeat` world steps."""
        margin = cfg.wall + cfg.agent_radius
        return cls(position=(0, 1), step=cfg.max_speed * cfg.dt * action_repeat, velocity=(2, 3), velocity_scale=cfg.max_speed,
                   low=margin, high=1 - margin)

    def check(self, action_dim: int, state_dim: int) -> None:
        """Refuse a state update that does not fit the predictor's action and state widths (0: unknown)."""
        if action_dim and len(self.position) != action_dim:
            raise ConfigError(f"state update moves {len(self.position)} state slots, the AC predictor takes "
                              f"{action_dim}-dim actions: record a matching one, or set planner.state_update = 'hold'")
        slots = (*self.position, *self.velocity)
        if min(slots) < 0 or (state_dim and max(slots) >= state_dim):
            raise ConfigError(f"state update uses state slots {slots}, the AC predictor's state has {state_dim}: "
                              "set planner.state_update = 'hold' or record the right slots")

    def __call__(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """states [B, S], actions [B, A] -> the states after the actions [B, S] (a new array)."""
        out = np.array(states, np.float32, copy=True)
        pos = list(self.position)
        out[:, pos] = np.clip(out[:, pos] + self.step * actions, self.low, self.high)
        if self.velocity:
            out[:, list(self.velocity)] = self.velocity_scale * actions
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(position=list(self.position), velocity=list(self.velocity),
                 low=None if np.isinf(self.low) else self.low, high=None if np.isinf(self.high) else self.high)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StateUpdate":
        try:
            return cls(position=tuple(int(i) for i in d["position"]), step=float(d["step"]),
                       velocity=tuple(int(i) for i in d.get("velocity") or ()),
                       velocity_scale=float(d.get("velocity_scale") or 0.0),
                       low=-np.inf if d.get("low") is None else float(d["low"]),
                       high=np.inf if d.get("high") is None else float(d["high"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"state update record {d!r} is malformed ({e}): it needs position and step") from e
