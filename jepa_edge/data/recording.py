"""Sources `jepa-edge record` writes robot datasets from: the built-in world and a Gymnasium
environment with pixel observations (a real robot: robot/recording.py, a layer above).

Every source says what it records (fps, state and action sizes, names, action bounds and mode) and
yields (image uint8 HxWx3, state, action) steps: frame t shows the scene before action t acts.
Numpy only (no torch): recording runs on the robot.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jepa_edge.data.gym_env import ACTION_MODES, import_gym, make_env, observation_layout
from jepa_edge.errors import ConfigError, DataError

WORLD_ROBOT_TYPE = "jepa_edge_tabletop"  # robot_type of datasets recorded from the built-in world


def square_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size x size (area filter when shrinking)."""
    import cv2

    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    img = np.ascontiguousarray(img[y:y + s, x:x + s, :3])
    if s == size:
        return img
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)


class SmoothRandomActions:
    """Smooth random exploration inside [low, high]: the action glides (first-order, factor `smooth`)
    toward a target drawn uniformly in the box, redrawn every `hold` steps (a random count in
    [hold_min, hold_max]). Never leaves the box."""

    def __init__(self, low, high, seed=0, smooth: float = 0.3, hold: tuple[int, int] = (5, 20), start=None):
        self.low, self.high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if self.low.shape != self.high.shape or not (np.isfinite(self.low).all() and np.isfinite(self.high).all()) \
                or (self.low > self.high).any():
            raise ConfigError(f"exploration bounds must be finite with low <= high, got {self.low} / {self.high}")
        self.rng = np.random.default_rng(seed)
        self.smooth, self.hold = smooth, hold
        self.a = (self.low + self.high) / 2 if start is None else np.clip(np.asarray(start, np.float64), self.low, self.high)
        self.left, self.target = 0, self.a

    def __call__(self) -> np.ndarray:
        if self.left <= 0:
            self.target = self.rng.uniform(self.low, self.high)
            self.left = int(self.rng.integers(self.hold[0], self.hold[1] + 1))
        self.left -= 1
        self.a = np.clip(self.a + self.smooth * (self.target - self.a), self.low, self.high)
        return self.a.copy()


class SourceFault(Exception):
    """A source stopped by a fault (the robot is already stopped); `reason`: a robot.faults.StopReason."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


@dataclass
class SourceSpec:
    """What a source records (the writer's features)."""

    fps: int
    state_dim: int
    action_dim: int
    robot_type: str
    state_names: list = field(default_factory=list)
    action_names: list = field(default_factory=list)
    action_info: dict = field(default_factory=dict)  # low, high, mode (delta | absolute)


# ----------------------------------------------------------------------------- built-in world
class WorldSource:
    """The built-in tabletop world: the exploration policy (or `policy`), its proprio (x, y, vx, vy)
    as the state, the agent velocity command in [-1, 1]^2 as the action; fps = 1 / dt."""

    def __init__(self, size: int = 64, seed: int = 0, policy: str = "explore", action_repeat: int = 1):
        from jepa_edge.data.world import TabletopWorld, WorldConfig

        self.cfg = WorldConfig(img_size=size)
        self.world, self.size, self.seed, self.policy, self.repeat = TabletopWorld(self.cfg), size, seed, policy, action_repeat
        fps = 1.0 / self.cfg.dt
        if abs(fps - round(fps)) > 1e-6:
            raise ConfigError(f"the world's dt {self.cfg.dt} is not 1/integer seconds")
        self.spec = SourceSpec(int(round(fps)), 4, 2, WORLD_ROBOT_TYPE, ["x", "y", "vx", "vy"], ["vx", "vy"],
                               {"low": [-1.0, -1.0], "high": [1.0, 1.0], "mode": "delta",
                                "meaning": "agent velocity command, full scale = max_speed"})

    def episode(self, index: int, steps: int):
        from jepa_edge.data.policies import make_policy

        w = self.world
        w.reset((self.seed, index))
        policy = make_policy(self.policy, self.cfg, (self.seed, index, 2))
        a = np.zeros(2)
        for t in range(steps):
            s = w.state
            if t % self.repeat == 0:
                a = np.clip(np.asarray(policy(s), np.float64), -1, 1)
            yield w.render(self.size), s.proprio(), a
            w.step(a)

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------- Gymnasium
class GymSource:
    """A Gymnasium environment with pixel observations, read as the loop reads it (data/gym_env.py):
    dict observations with "pixels" (or `pixels_key`) plus a state entry, or vector observations with
    frames from render_mode="rgb_array"; image-only observations have no state to record (refused).
    Actions: a Box of finite bounds, explored smoothly at random inside them, recorded as given to
    the env; `action_mode` (delta | absolute) is written into info.json with the bounds."""

    def __init__(self, env_id: str, size: int = 64, seed: int = 0, state_key: str | None = None,
                 pixels_key: str = "pixels", action_mode: str = "delta", action_repeat: int = 1,
                 env_kwargs: dict | None = None):
        if action_mode not in ACTION_MODES:
            raise ConfigError(f"--action-mode must be one of {ACTION_MODES}, got {action_mode!r}")
        gym = import_gym()
        self.env = make_env(env_id, **dict(env_kwargs or {}))
        try:
            self.layout = observation_layout(self.env, env_id, image_key=pixels_key, state_key=state_key or "",
                                             label=f"--env {env_id}", state_key_flag="--state-obs-key")
            if self.layout.state is None:
                raise DataError(f"--env {env_id}: observations are images only, with no state to record; "
                                "use an env with dict observations (pixels plus a state entry)")
            act = self.env.action_space
            if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1:
                raise DataError(f"--env {env_id}: action space {act} is not a 1-D Box (continuous actions)")
            if not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
                raise DataError(f"--env {env_id}: action space {act} has infinite bounds; exploration needs finite ones")
        except Exception:
            self.env.close()
            raise
        fps = self.env.metadata.get("render_fps") or 0
        state_dim = self.layout.state_dim(self.env)
        self.env_id, self.size, self.seed, self.repeat = env_id, size, seed, action_repeat
        self.low, self.high = act.low.astype(np.float64), act.high.astype(np.float64)
        n_act = act.shape[0]
        self.spec = SourceSpec(int(round(fps or 30)), state_dim, n_act, f"gymnasium:{self.env.spec.id}",
                               [f"{self.layout.state_key or 'obs'}_{i}" for i in range(state_dim)],
                               [f"action_{i}" for i in range(n_act)],
                               {"low": self.low.tolist(), "high": self.high.tolist(), "mode": action_mode})

    def _split(self, obs) -> tuple[np.ndarray, np.ndarray]:
        return square_resize(self.layout.frame(obs, self.env), self.size), self.layout.state_of(obs)

    def episode(self, index: int, steps: int):
        obs, _ = self.env.reset(seed=self.seed * 100_003 + index)
        policy = SmoothRandomActions(self.low, self.high, seed=(self.seed, index, 5))
        a = policy()
        for t in range(steps):
            if t % self.repeat == 0:
                a = policy()
            img, state = self._split(obs)
            yield img, state, a.astype(np.float32)
            obs, _, terminated, truncated, _ = self.env.step(a.astype(self.env.action_space.dtype))
            if terminated or truncated:
                return

    def close(self) -> None:
        self.env.close()


def record(source, writer, episodes: int, steps: int, *, min_steps: int = 2, task: str = "", on_step=None,
           first_index: int = 0) -> dict:
    """Record `episodes` episodes of at most `steps` steps from `source` into `writer`; each is
    committed when it ends (shorter than `min_steps`: dropped). A SourceFault drops the episode in
    progress and ends the recording. Returns a summary."""
    done, frames, dropped = [], 0, 0
    fault = None
    for e in range(episodes):
        try:
            for img, state, action in source.episode(first_index + e, steps):
                writer.add_frame(img, state, action)
                if on_step is not None:
                    on_step()
        except SourceFault as f:
            writer.discard_episode()
            fault = f.reason
            break
        except BaseException:
            writer.discard_episode()
            raise
        if writer.frames_in_episode < min_steps:
            writer.discard_episode()
            dropped += 1
            continue
        frames += writer.frames_in_episode
        done.append(writer.end_episode(task))
    return {"episodes_recorded": len(done), "frames_recorded": frames, "episodes_dropped": dropped,
            "episode_indices": done, "fault": None if fault is None else str(fault),
            "fault_kind": None if fault is None or fault.kind is None else fault.kind.value}
