"""A Gymnasium environment with pixel observations standing in for camera + robot.

Any env whose frames the loop can see works:
- a Dict observation with an image (`image_key`, default "pixels": uint8 [H, W, 3]) and a state
  entry (`state_key`; default "state", else the first other entry): the state the AC predictor gets;
- an image Box observation ([H, W, 3]);
- a vector observation from an env that renders `rgb_array` frames (classic control, MuJoCo): the
  frame is `env.render()`, the state the observation vector.
An env with none of these is refused with one line. The action space must be a 1-D Box; its bounds
are the planner's default bounds (`env_defaults` in loop/assemble.py). Actions are "delta"
(velocities, torques: stopping is the zero action) or "absolute" (target positions: stopping
holds the last applied target).

The loop's commands become `env.step(action)` calls: in realtime mode a physics thread steps the
env at its own rate (1 / env.dt) with the newest command, in lockstep mode once per tick. The
validity window is enforced here the way the firmware enforces it: a command older than its
`valid_ms` is replaced by the stop action. Episodes that end are reset, so the loop keeps running
(`auto_reset=False`: the env holds its last frame instead, as a goal-reaching episode wants).

Goals follow DINO-WM's protocol (`sample_goal`): reset to a seed, roll out random actions, take
the last frame and state as the goal, reset to the same seed.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import numpy as np

from jepa_edge.data.gym_env import ACTION_MODES, import_gym, make_env, observation_layout
from jepa_edge.errors import ConfigError
from jepa_edge.robot.camera import RenderCamera
from jepa_edge.robot.faults import StopReason
from jepa_edge.robot.robot import Robot
from jepa_edge.utils.rate import RateTimer

# A goal image for `run --env` without goal.image: env.unwrapped.state set to these. Other envs get
# a DINO-WM goal (random actions from the reset state).
GOAL_STATES = {
    "Pendulum-v1": np.array([0.0, 0.0]),  # upright, at rest
    "MountainCarContinuous-v0": np.array([0.45, 0.0]),  # on the flag
}
@dataclass(frozen=True)
class StateSpec:
    """Which part of the env's state a goal check compares: `NAME[INDEX]`.

    NAME: "obs" (the observation), a key of a Dict observation ("state"), "info.KEY" (the step's info
    dict), or an attribute path of `env.unwrapped` ("data.qpos" for MuJoCo, "state" for classic
    control). INDEX: a slice ("[:2]", "[4:6]") or indices ("[0,2]"); none = the whole vector.
    An empty spec is the robot's state (`GymRobot.state()`)."""

    text: str

    _RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\[([^\]]*)\])?\s*$")

    def __post_init__(self):
        if self.text and not self._RE.match(self.text):
            raise ConfigError(f"sim.success_state = {self.text!r}: write NAME or NAME[INDEX], e.g. 'state[:2]', "
                              "'info.world[4:6]', 'data.qpos[0,1]'")

    def _index(self, v: np.ndarray, idx: str | None) -> np.ndarray:
        if idx is None or not idx.strip():
            return v
        try:
            if ":" in idx:
                parts = [int(p) if p.strip() else None for p in idx.split(":")]
                return v[slice(*parts)]
            return v[[int(p) for p in idx.split(",")]]
        except (ValueError, IndexError, TypeError) as e:
            raise ConfigError(f"sim.success_state = {self.text!r}: index [{idx}] does not apply to a vector of "
                              f"{v.size} values ({e})") from None

    def read(self, robot: "GymRobot") -> np.ndarray:
        if not self.text:
            s = robot.state()
            if s is None:
                raise ConfigError(f"{robot.env_id}: its observation carries no state vector; set sim.success_state "
                                  "(e.g. 'info.KEY[:2]' or an attribute of env.unwrapped such as 'data.qpos[:2]')")
            return np.asarray(s, np.float64).reshape(-1)
        name, idx = self._RE.match(self.text).groups()
        first, *rest = name.split(".")
        obs, info = robot.last_obs, robot.last_info
        if first == "obs":
            value = obs
        elif first == "info":
            value = info
        elif isinstance(obs, dict) and first in obs:
            value = obs[first]
        elif isinstance(info, dict) and first in info:
            value = info[first]
        else:
            value = getattr(robot.env.unwrapped, first, _MISSING)
        for key in rest:
            if value is _MISSING:
                break
            value = value.get(key, _MISSING) if isinstance(value, dict) else getattr(value, key, _MISSING)
        if value is _MISSING:
            keys = sorted(obs) if isinstance(obs, dict) else ["obs"]
            raise ConfigError(f"sim.success_state = {self.text!r}: {robot.env_id} has no {name!r} (observation keys "
                              f"{keys}, info keys {sorted(info or {})}, or an attribute of env.unwrapped)")
        return np.asarray(self._index(np.asarray(value, np.float64).reshape(-1), idx), np.float64)


_MISSING = object()


@dataclass
class GymGoal:
    """A DINO-WM goal: the frame and state after `actions` from `reset(seed)`."""

    seed: int
    image: np.ndarray  # uint8 [H, W, 3]
    state: np.ndarray  # the success-state vector at the goal (StateSpec.read)
    actions: np.ndarray  # [H, action_dim]: the true actions (the oracle replays them)
    repeat: int  # env steps each action was held


class GymRobot(Robot):
    def __init__(self, env_id: str, seed: int = 0, realtime: bool = True, physics_hz: float = 0.0, *,
                 image_key: str = "pixels", state_key: str = "", action_mode: str = "delta",
                 auto_reset: bool = True, env_kwargs: dict | None = None):
        if action_mode not in ACTION_MODES:
            raise ConfigError(f"sim.action_mode = {action_mode!r}: choose one of {ACTION_MODES}")
        gym = import_gym()
        self.env = make_env(env_id, **(env_kwargs or {}))
        self.env_id = env_id
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            self.env.close()
            raise ConfigError(f"{env_id}: the loop needs a continuous 1-D Box action space, got {space}")
        try:
            self.layout = observation_layout(self.env, env_id, image_key=image_key, state_key=state_key)
        except ConfigError:
            self.env.close()
            raise
        self.image_key, self.state_key = image_key, self.layout.state_key
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.action_dim = space.shape[0]
        self.action_mode = action_mode
        self.seed = seed
        self.realtime = realtime
        self.auto_reset = auto_reset
        dt = getattr(self.env.unwrapped, "dt", None) or 1.0 / (self.env.metadata.get("render_fps") or 30)
        self.dt = 1.0 / physics_hz if physics_hz else float(dt)
        self.lock = threading.RLock()
        self.steps = 0
        self.resets = 0
        self.done = False
        self.estopped = False
        self.applied: list[np.ndarray] = []
        self.reset(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- observations ----------------------------------------------------------------------------
    def _remember(self, obs, info) -> None:
        self.last_obs, self.last_info = obs, dict(info or {})

    def render(self) -> np.ndarray:
        with self.lock:
            return self.layout.frame(self.last_obs, self.env)

    def state(self) -> np.ndarray | None:
        """The robot state the AC predictor gets: the Dict observation's state key, or the vector observation."""
        with self.lock:
            return self.layout.state_of(self.last_obs)

    def camera(self, fps: float) -> RenderCamera:
        return RenderCamera(self.render, fps if self.realtime else 0.0, name=self.env_id)

    # ---- episodes and goals ----------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        with self.lock:
            obs, info = self.env.reset(seed=self.seed if seed is None else seed)
            self._remember(obs, info)
            self.steps = 0
            self.done = False
            self.applied = []
            self._command = self.stop_action()
            self._deadline = 0.0

    def random_actions(self, n: int, seed: int) -> np.ndarray:
        """`n` actions uniform within the action bounds (the goal's random rollout)."""
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            raise ConfigError(f"{self.env_id}: its action space is unbounded ({self.low}..{self.high}); random goals "
                              "need finite bounds: set planner.action_low/action_high")
        rng = np.random.default_rng((int(seed), 24))
        return rng.uniform(self.low, self.high, (n, self.action_dim)).astype(np.float32)

    def sample_goal(self, seed: int, horizon: int, repeat: int = 1, success: StateSpec | None = None,
                    actions: np.ndarray | None = None, min_distance: float = 0.0, tries: int = 20) -> GymGoal:
        """DINO-WM's goal: reset to `seed`, `horizon` random actions (each held `repeat` env steps), the
        last frame and state; then reset to `seed` again, ready to plan toward it. A goal whose state is
        within `min_distance` of the start (already reached) is drawn again, up to `tries` times."""
        success = success or StateSpec("")
        for attempt in range(1 if actions is not None else tries):
            acts = (self.random_actions(horizon, seed * 1000 + attempt) if actions is None
                    else np.asarray(actions, np.float32))
            self.reset(seed)
            with self.lock:
                start = success.read(self)
                for a in acts:
                    for _ in range(repeat):
                        self._env_step(a)
                goal = GymGoal(seed, self.render(), success.read(self), acts, repeat)
            if np.linalg.norm(goal.state - start) > min_distance:
                break
        self.reset(seed)
        return goal

    def goal_image(self) -> np.ndarray:
        """`run --env` without goal.image: a classic-control env's built-in goal, else a DINO-WM goal
        (five random actions from the episode's seed)."""
        goal = GOAL_STATES.get(self.env_id)
        if goal is None:
            return self.sample_goal(self.seed, horizon=5).image
        with self.lock:
            u = self.env.unwrapped
            saved = np.array(u.state, copy=True)
            u.state = goal.copy()
            image = np.asarray(self.env.render())
            u.state = saved
        return image

    # ---- commands --------------------------------------------------------------------------------
    def stop_action(self) -> np.ndarray:
        """What the env gets with no valid command: zero for delta actions, the last target for absolute ones."""
        if self.action_mode == "absolute" and self.applied:
            return self.applied[-1].copy()
        return np.clip(np.zeros(self.action_dim, np.float32), self.low, self.high)

    def connect(self) -> None:
        if self.realtime and self._thread is None:
            self._thread = threading.Thread(target=self._physics, name="gym-physics", daemon=True)
            self._thread.start()

    def send(self, action: np.ndarray, valid_ms: float) -> None:
        with self.lock:
            if self.estopped:
                return
            self._command = np.clip(np.asarray(action, np.float32).reshape(-1), self.low, self.high)
            self._deadline = time.monotonic() + valid_ms / 1e3

    def safe_stop(self, reason: StopReason) -> bool:
        with self.lock:
            self.estopped = True
            self._command = self.stop_action()
            self._deadline = 0.0
        return True  # in-process: the env gets no further action

    def _env_step(self, a: np.ndarray) -> None:
        if self.done:  # auto_reset=False: the episode ended, the env holds its last frame
            return
        obs, _, terminated, truncated, info = self.env.step(a)
        self._remember(obs, info)
        self.applied.append(np.array(a, np.float32))
        self.steps += 1
        if terminated or truncated:
            if self.auto_reset:
                self.resets += 1
                obs, info = self.env.reset(seed=self.seed + self.resets)
                self._remember(obs, info)
            else:
                self.done = True

    def _step_once(self) -> None:
        with self.lock:
            valid = time.monotonic() <= self._deadline and not self.estopped
            self._env_step(self._command if valid else self.stop_action())

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


def env_action_bounds(env_id: str, **robot_kwargs) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The env's Box action bounds (low, high), for the planner's defaults. The env is made and checked
    as the loop will use it (pixels, state key, action space), so a bad env fails before any model loads."""
    robot = GymRobot(env_id, realtime=False, **robot_kwargs)
    try:
        return tuple(float(v) for v in robot.low), tuple(float(v) for v in robot.high)
    finally:
        robot.close()
