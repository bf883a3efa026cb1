"""The built-in tabletop world as a Gymnasium environment: `gymnasium.make("jepa_edge/Tabletop-v0")`.

Importing this module registers it (gymnasium is optional: without it the module imports and
registers nothing); `GymRobot` and `record --env` import it first, and `gymnasium.make("jepa_edge.data.tabletop_env:
jepa_edge/Tabletop-v0")` imports it by name. It is the world of the goal-reaching tasks
(`data.tasks.TASK_CONFIG`: objects at rest), stepped at its own dt (0.1 s), with

    observation  {"pixels": uint8 [S, S, 3] (the rendered frame), "state": float32 [4] (agent x, y, vx, vy)}
    action       Box [-1, 1]^2: the agent's velocity (times max_speed), a delta action
    info         "world": the full ground-truth vector (WorldState.vector(): agent, then per object
                 x, y, vx, vy, visible), for success checks such as "info.world[4:6]" (object 0)

Goal success defaults (`success_state`, `success_tolerance`): the agent within its radius of the goal
position, as the built-in "reach" task counts it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from jepa_edge.data.tasks import TASK_CONFIG
from jepa_edge.data.world import TabletopWorld

ENV_ID = "jepa_edge/Tabletop-v0"

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError:  # the [gym] extra is not installed: nothing to register
    gym = None


if gym is not None:

    class TabletopEnv(gym.Env):
        metadata = {"render_modes": ["rgb_array"], "render_fps": round(1.0 / TASK_CONFIG.dt)}
        # what counts as reached in the DINO-WM protocol when the user sets nothing (sim.success_*)
        success_state = "state[:2]"
        success_tolerance = TASK_CONFIG.agent_radius

        def __init__(self, render_mode: str | None = "rgb_array", img_size: int = 64, n_objects: int = TASK_CONFIG.n_objects):
            self.cfg = replace(TASK_CONFIG, img_size=img_size, n_objects=n_objects)
            self.render_mode = render_mode
            self.dt = self.cfg.dt
            self.world = TabletopWorld(self.cfg, seed=0)
            s = img_size
            self.observation_space = spaces.Dict({
                "pixels": spaces.Box(0, 255, (s, s, 3), np.uint8),
                "state": spaces.Box(-np.inf, np.inf, (4,), np.float32),
            })
            self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

        def _obs(self) -> dict:
            return {"pixels": self.world.render(self.cfg.img_size), "state": self.world.state.proprio()}

        def _info(self) -> dict:
            return {"world": self.world.state.vector()}

        def reset(self, *, seed: int | None = None, options: dict | None = None):
            super().reset(seed=seed)
            self.world.reset(seed if seed is not None else int(self.np_random.integers(2**31)))
            return self._obs(), self._info()

        def step(self, action):
            self.world.step(np.clip(np.asarray(action, np.float64).reshape(2), -1.0, 1.0))
            return self._obs(), 0.0, False, False, self._info()

        def render(self):
            return self.world.render(self.cfg.img_size)

    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=f"{__name__}:TabletopEnv", max_episode_steps=200)
