"""Any Gymnasium env with pixel observations in the loop: the built-in world registered as
jepa_edge/Tabletop-v0, DINO-WM's goal protocol (random-rollout goals, replayed-action oracle),
Dict/array observations, env action bounds, absolute actions, and one line for an env without pixels."""
import json
import os

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium", reason="the [gym] extra")

from jepa_edge.errors import ConfigError  # noqa: E402
from jepa_edge.eval.goal_reaching import Method, evaluate  # noqa: E402
from jepa_edge.loop.assemble import env_defaults  # noqa: E402
from jepa_edge.loop.config import RobotConfig  # noqa: E402
from jepa_edge.robot.gym import GymRobot, StateSpec  # noqa: E402

from loop_support import AgentPositionEncoder, LinearDynamics  # noqa: E402

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
TABLETOP = "jepa_edge/Tabletop-v0"


class NoPixels(gym.Env):
    """A vector observation and no rgb_array rendering: nothing for a camera to see."""
    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, False, False, {}


class Slider(gym.Env):
    """Dict observation ("pixels" + "pos"), absolute actions in [0, 10]: the block goes to the target."""
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Dict({"pixels": gym.spaces.Box(0, 255, (16, 16, 3), np.uint8),
                                                  "pos": gym.spaces.Box(0.0, 10.0, (1,), np.float32)})
        self.action_space = gym.spaces.Box(0.0, 10.0, (1,), np.float32)
        self.pos = 0.0

    def _obs(self):
        img = np.zeros((16, 16, 3), np.uint8)
        img[:, int(self.pos * 1.5), :] = 255
        return {"pixels": img, "pos": np.array([self.pos], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 5.0
        return self._obs(), {"where": self.pos}

    def step(self, action):
        self.pos += 0.5 * (float(action[0]) - self.pos)  # moves halfway to the commanded position
        return self._obs(), 0.0, False, False, {"where": self.pos}


for env_id, cls in (("test/NoPixels-v0", NoPixels), ("test/Slider-v0", Slider)):
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=cls)


def test_the_builtin_world_is_a_gymnasium_env():
    import jepa_edge.data.tabletop_env  # noqa: F401  (registers it)

    env = gym.make(TABLETOP)
    obs, info = env.reset(seed=3)
    assert obs["pixels"].shape == (64, 64, 3) and obs["pixels"].dtype == np.uint8
    assert obs["state"].shape == (4,) and info["world"].shape == (4 + 5 * 3,)
    obs2, *_ = env.step(np.array([1.0, 0.0], np.float32))
    assert obs2["state"][0] > obs["state"][0]  # the agent moved right
    again, _ = env.reset(seed=3)
    assert np.array_equal(again["pixels"], obs["pixels"])  # a seed is a scene
    env.close()


def test_dino_wm_goal_reaching_on_the_tabletop_env():
    """Goal = the frame after random actions from reset(seed); an exact latent model reaches it, the
    replayed true actions reach it, random mostly does not."""
    cfg = RobotConfig().override({"camera.source": "gym", "sim.world": TABLETOP, "sim.goal_horizon": 10,
                                  "sim.max_steps": 40, "planner.samples": 64, "planner.elites": 8,
                                  "planner.iterations": 3})
    enc = AgentPositionEncoder(64)
    res = evaluate(cfg, [Method("student", encoder_session=enc, predictor_session=LinearDynamics(0.05)),
                         Method("oracle", encoder_session=enc), Method("random", encoder_session=enc)],
                   episodes=3, first_seed=7)
    assert res["task"] == f"gym:{TABLETOP}" and res["protocol"]["goal_horizon"] == 10
    m = res["methods"]
    assert m["student"]["success_rate"] == 1.0 and m["oracle"]["success_rate"] == 1.0
    assert m["random"]["success_rate"] < 1.0
    assert m["random"]["final_distance_mean"] > m["student"]["final_distance_mean"]
    for ep in m["oracle"]["per_episode"]:
        # goals are never reached at the start (redrawn), and every method starts from the same state
        assert ep["start_distance"] > TABLETOP_TOL
    starts = {name: [e["start_distance"] for e in r["per_episode"]] for name, r in m.items()}
    assert starts["student"] == starts["oracle"] == starts["random"]


TABLETOP_TOL = 0.05  # the env's own success_tolerance (the agent's radius)


def test_replayed_actions_reach_the_goal_state_exactly():
    robot = GymRobot(TABLETOP, seed=5, realtime=False, auto_reset=False)
    try:
        goal = robot.sample_goal(5, horizon=6, success=StateSpec("info.world[:2]"))
        start = StateSpec("info.world[:2]").read(robot)
        assert robot.steps == 0 and np.linalg.norm(start - goal.state) > 0  # back at the reset state
        for a in goal.actions:
            robot.send(a, 1000.0)
            robot.advance()
        assert np.allclose(StateSpec("state[:2]").read(robot), goal.state)
        assert np.array_equal(robot.render(), goal.image)
    finally:
        robot.close()


def test_dict_observation_absolute_actions_and_env_bounds():
    cfg = env_defaults(RobotConfig().override({"camera.source": "gym", "sim.world": "test/Slider-v0"}))
    assert cfg.planner.action_low == (0.0,) and cfg.planner.action_high == (10.0,)  # the env's bounds
    robot = GymRobot("test/Slider-v0", realtime=False, action_mode="absolute", auto_reset=False)
    try:
        assert robot.render().shape == (16, 16, 3) and robot.state().tolist() == [5.0]
        robot.send(np.array([9.0]), 1000.0)
        robot.advance()
        assert robot.state().tolist() == [7.0]
        robot.send(np.array([9.0]), 0.0)  # expired at once: an absolute robot holds its last target
        import time

        time.sleep(0.002)
        robot.advance()
        assert robot.state().tolist() == [8.0] and robot.applied[-1].tolist() == [9.0]
        assert StateSpec("info.where").read(robot).tolist() == [8.0]
        assert StateSpec("pos[0]").read(robot).tolist() == [8.0]
        with pytest.raises(ConfigError, match="has no 'nope'"):
            StateSpec("nope[:2]").read(robot)
    finally:
        robot.close()
    with pytest.raises(ConfigError, match="write NAME or NAME"):
        StateSpec("state[:2")
    with pytest.raises(ConfigError, match="takes 1-d actions, but planner.action_low.* are 3-d"):
        from jepa_edge.loop.assemble import make_robot

        make_robot(RobotConfig().override({"camera.source": "gym", "sim.world": "test/Slider-v0",
                                           "planner.action_low": (0.0,) * 3, "planner.action_high": (1.0,) * 3}))


def test_an_env_without_pixel_observations_is_one_line(capsys):
    from jepa_edge.cli import main

    with pytest.raises(ConfigError, match="test/NoPixels-v0 has no pixel observations"):
        GymRobot("test/NoPixels-v0", realtime=False)
    assert main(["run", "--env", "test/NoPixels-v0", "--models.encoder", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no pixel observations" in err[0] and "AddRenderObservation" in err[0], err


def test_cli_env_flag_evaluates_with_random_and_oracle(tmp_path):
    """`run --env ID --episodes N` on a model dir; the planner's bounds come from the env."""
    pytest.importorskip("pygame", reason="classic-control rendering needs pygame (the [gym] extra)")
    from loop_support import save_tiny_model_dir

    from jepa_edge.cli import main

    model = save_tiny_model_dir(tmp_path / "model", img_size=32, action_dim=1, state_dim=3)
    out = tmp_path / "eval.json"
    assert main(["run", "--env", "Pendulum-v1", "--models.encoder", str(model), "--episodes", "1",
                 "--sim.max_steps", "6", "--sim.success_state", "obs[:2]", "--sim.success_tolerance", "0.05",
                 "--planner.samples", "8", "--planner.elites", "2", "--planner.iterations", "1",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["task"] == "gym:Pendulum-v1" and res["planner"]["action_low"] == [-2.0]
    assert set(res["methods"]) == {"random", "student", "oracle"} and "--env Pendulum-v1" in res["command"]
    for r in res["methods"].values():
        assert r["faulted"] == 0 and r["per_episode"][0]["start_distance"] > 0.05
