"""A Gymnasium environment with `rgb_array` rendering standing in for camera + robot.

The loop's commands become `env.step(action)` calls: in realtime mode a physics thread steps the
env at its own rate (1 / env.dt) with the newest command, in lockstep mode once per tick. The
validity window is enforced here the way the firmware enforces it: a command older than its
`valid_ms` is replaced by a zero action. Episodes that end are reset, so the loop keeps running.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from jepa_edge.errors import ConfigError, MissingExtraError
from jepa_edge.robot.camera import RenderCamera
from jepa_edge.robot.faults import StopReason
from jepa_edge.robot.robot import Robot
from jepa_edge.utils.rate import RateTimer

# A goal image needs the env put into its goal state: (what to set on env.unwrapped.state).
GOAL_STATES = {
    "Pendulum-v1": np.array([0.0, 0.0]),  # upright, at rest
    "MountainCarContinuous-v0": np.array([0.45, 0.0]),  # on the flag
}


class GymRobot(Robot):
    def __init__(self, env_id: str, seed: int = 0, realtime: bool = True, physics_hz: float = 0.0):
        # Robots run headless: classic-control envs draw with pygame/SDL, which needs no display
        # or sound card for rgb_array rendering.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        try:
            import gymnasium as gym
        except ImportError as e:
            raise MissingExtraError("gymnasium", "gym") from e
        try:
            self.env = gym.make(env_id, render_mode="rgb_array")
        except Exception as e:
            raise ConfigError(f"cannot make Gymnasium env {env_id!r}: {e}") from None
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ConfigError(f"{env_id}: the loop needs a continuous 1-D Box action space, got {space}")
        self.env_id = env_id
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.action_dim = space.shape[0]
        self.seed = seed
        self.realtime = realtime
        dt = getattr(self.env.unwrapped, "dt", None) or 1.0 / (self.env.metadata.get("render_fps") or 30)
        self.dt = 1.0 / physics_hz if physics_hz else float(dt)
        self.lock = threading.Lock()
        self.env.reset(seed=seed)
        self._command = np.zeros(self.action_dim, np.float32)
        self._deadline = 0.0
        self.steps = 0
        self.resets = 0
        self.estopped = False
        self.applied: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def camera(self, fps: float) -> RenderCamera:
        return RenderCamera(self.render, fps if self.realtime else 0.0, name=self.env_id)

    def render(self) -> np.ndarray:
        with self.lock:
            return np.asarray(self.env.render())

    def goal_image(self) -> np.ndarray:
        goal = GOAL_STATES.get(self.env_id)
        if goal is None:
            raise ConfigError(f"no built-in goal for {self.env_id}: give goal.image or goal.latent")
        with self.lock:
            u = self.env.unwrapped
            saved = np.array(u.state, copy=True)
            u.state = goal.copy()
            image = np.asarray(self.env.render())
            u.state = saved
        return image

    def connect(self) -> None:
        if self.realtime and self._thread is None:
            self._thread = threading.Thread(target=self._physics, name="gym-physics", daemon=True)
            self._thread.start()

    def send(self, action: np.ndarray, valid_ms: float) -> None:
        with self.lock:
            if self.estopped:
                return
            self._command = np.clip(np.asarray(action, np.float32), self.low, self.high)
            self._deadline = time.monotonic() + valid_ms / 1e3

    def safe_stop(self, reason: StopReason) -> bool:
        with self.lock:
            self.estopped = True
            self._command = np.zeros(self.action_dim, np.float32)
            self._deadline = 0.0
        return True  # in-process: the env gets no further action

    def _step_once(self) -> None:
        with self.lock:
            valid = time.monotonic() <= self._deadline and not self.estopped
            a = self._command if valid else np.zeros(self.action_dim, np.float32)
            _, _, terminated, truncated, _ = self.env.step(a)
            self.applied.append(a.copy())
            self.steps += 1
            if terminated or truncated:
                self.env.reset(seed=self.seed + self.resets + 1)
                self.resets += 1

    def _physics(self) -> None:
        timer = RateTimer(1.0 / self.dt, self._stop)
        while not self._stop.is_set():
            timer.wait()
            if not self._stop.is_set():
                self._step_once()

    def advance(self) -> None:
        self._step_once()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.env.close()
