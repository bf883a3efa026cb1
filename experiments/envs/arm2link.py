"""A planar two-link arm that reaches: our own small Gymnasium environment for `experiments/byo_env.py`.

Not part of the package, and deliberately unlike the built-in tabletop world (a point agent and
objects seen from above): a two-link arm on a fixed base, seen from above on a dark tiled floor,
orange upper link, cyan forearm, red fingertip. Registered on import as "Arm2Link-v0", so
`jepa-edge record --env experiments.envs.arm2link:Arm2Link-v0` (with the repository root on
PYTHONPATH) makes it through gymnasium's "module:EnvId" form.

- observation: the joint angles (theta1, theta2), rad (a vector Box); frames come from
  render_mode="rgb_array" (64 x 64 uint8).
- action: joint velocities in [-1, 1]^2 (a "delta" action: zero stops); each step turns joint i by
  `SPEED * a_i` rad, within the joint limits.
- success: the fingertip position `tip` (x, y, arm lengths 0.5 + 0.5) within `success_tolerance`
  of the goal's (the attributes `jepa-edge run` reads as sim.success_state / success_tolerance).
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

SIZE = 64
SPEED = 0.25  # rad per step at full action
L1 = L2 = 0.5
LIMITS = np.array([[-np.pi, np.pi], [-2.6, 2.6]])


class Arm2LinkEnv(gymnasium.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    success_state = "tip"
    success_tolerance = 0.1

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode
        self.observation_space = spaces.Box(LIMITS[:, 0].astype(np.float32), LIMITS[:, 1].astype(np.float32))
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.dt = 1.0 / self.metadata["render_fps"]
        self.q = np.zeros(2)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        self._px = np.stack([xx + 0.5, yy + 0.5], -1).astype(np.float64)
        tiles = ((xx // 8 + yy // 8) % 2).astype(np.float64)
        self._floor = np.stack([28 + 10 * tiles, 30 + 10 * tiles, 46 + 12 * tiles], -1)

    @property
    def tip(self) -> np.ndarray:
        return self._joints()[2]

    def _joints(self):
        t1, t2 = self.q
        base = np.zeros(2)
        elbow = base + L1 * np.array([np.cos(t1), np.sin(t1)])
        tip = elbow + L2 * np.array([np.cos(t1 + t2), np.sin(t1 + t2)])
        return base, elbow, tip

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.q = self.np_random.uniform([-1.5, -1.5], [1.5, 1.5])
        return self.q.astype(np.float32), {}

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64).reshape(2), -1, 1)
        self.q = np.clip(self.q + SPEED * a, LIMITS[:, 0], LIMITS[:, 1])
        return self.q.astype(np.float32), 0.0, False, False, {}

    def _segment(self, img, p, q, radius, color):
        d = q - p
        t = np.clip(((self._px - p) @ d) / max(float(d @ d), 1e-9), 0, 1)
        dist = np.linalg.norm(self._px - (p + t[..., None] * d), axis=-1)
        alpha = np.clip(radius + 0.5 - dist, 0, 1)[..., None]
        img[:] = img * (1 - alpha) + alpha * np.asarray(color, np.float64)

    def render(self):
        scale = (SIZE / 2 - 3) / (L1 + L2)
        to_px = lambda v: np.array([SIZE / 2 + scale * v[0], SIZE / 2 - scale * v[1]])
        base, elbow, tip = (to_px(v) for v in self._joints())
        img = self._floor.copy()
        self._segment(img, base, base, 3.5, (235, 235, 235))
        self._segment(img, base, elbow, 2.2, (245, 150, 40))
        self._segment(img, elbow, tip, 1.8, (60, 210, 230))
        self._segment(img, tip, tip, 2.6, (230, 40, 40))
        return img.round().astype(np.uint8)


gymnasium.register(id="Arm2Link-v0", entry_point=Arm2LinkEnv, max_episode_steps=400)


def box_directions(n: int = 16) -> np.ndarray:
    """`n` action directions around the circle, scaled out to the [-1, 1]^2 box's edge: [n, 2]."""
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    d = np.stack([np.cos(ang), np.sin(ang)], 1)
    return d / np.abs(d).max(1, keepdims=True)


def reach_goal(env: Arm2LinkEnv, seed: int, steps: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DINO-WM's goal, as `run --env` draws it: reset to `seed`, take `steps` random actions. Returns
    (the start joint angles, the goal's tip, the goal frame); the env is left at the goal."""
    env.reset(seed=seed)
    q0 = env.q.copy()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, 2))
    return q0, env.tip.copy(), env.render()
