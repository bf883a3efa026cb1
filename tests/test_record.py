"""`jepa-edge record` from a Gymnasium env and from a robot (the C firmware simulator on a pty, a
video-file camera); the datasets are checked with the independent reader of test_dataset_lerobot."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyarrow")
av = pytest.importorskip("av")
gymnasium = pytest.importorskip("gymnasium")

from bridge_support import needs_cc  # noqa: E402
from jepa_edge.cli import main  # noqa: E402
from test_dataset_lerobot import validate_v3  # noqa: E402


class _DictPixelsEnv(gymnasium.Env):
    """Dict observations: "pixels" plus "agent_pos"; absolute-position actions in [0, 10]^2."""

    metadata = {"render_modes": [], "render_fps": 20}

    def __init__(self):
        from gymnasium import spaces

        self.observation_space = spaces.Dict({"pixels": spaces.Box(0, 255, (48, 64, 3), np.uint8),
                                              "agent_pos": spaces.Box(0, 10, (2,), np.float32)})
        self.action_space = spaces.Box(0.0, 10.0, (2,), np.float32)
        self.pos = np.zeros(2, np.float32)

    def _obs(self):
        img = np.zeros((48, 64, 3), np.uint8)
        x, y = (self.pos / 10 * [63, 47]).astype(int)
        img[max(0, y - 4):y + 4, max(0, x - 4):x + 4] = 255
        return {"pixels": img, "agent_pos": self.pos.copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(0, 10, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        self.pos = np.asarray(action, np.float32)
        return self._obs(), 0.0, False, False, {}


class _NoPixelsEnv(_DictPixelsEnv):
    metadata = {"render_modes": ["human"], "render_fps": 20}

    def __init__(self):
        super().__init__()
        from gymnasium import spaces

        self.observation_space = spaces.Box(0, 10, (2,), np.float32)


gymnasium.register("JepaEdgeTest/DictPixels-v0", entry_point=_DictPixelsEnv, max_episode_steps=7)
gymnasium.register("JepaEdgeTest/NoPixels-v0", entry_point=_NoPixelsEnv)


def test_record_gymnasium_env_with_rendered_pixels(tmp_path):
    out = tmp_path / "pendulum"
    assert main(["-q", "record", str(out), "--env", "Pendulum-v1", "--episodes", "2", "--steps", "10",
                 "--size", "32"]) == 0
    got = validate_v3(out)
    info = got["info"]
    assert info["fps"] == 30 and info["robot_type"] == "gymnasium:Pendulum-v1"
    assert info["features"]["observation.state"]["shape"] == [3]  # cos, sin, angular velocity
    assert info["features"]["action"]["info"] == {"low": [-2.0], "high": [2.0], "mode": "delta"}
    a = np.stack(got["data"].column("action").to_pylist())
    assert (a >= -2).all() and (a <= 2).all() and a.std() > 0


def test_record_gymnasium_dict_observations_and_absolute_actions(tmp_path, capsys):
    out = tmp_path / "dict"
    assert main(["-q", "record", str(out), "--env", "JepaEdgeTest/DictPixels-v0", "--episodes", "3", "--steps", "20",
                 "--size", "32", "--action-mode", "absolute", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    got = validate_v3(out)
    assert summary["episodes_recorded"] == 3 and [e["length"] for e in got["episodes"]] == [7, 7, 7]  # truncated
    info = got["info"]
    assert info["features"]["observation.state"]["names"] == ["agent_pos_0", "agent_pos_1"]
    assert info["features"]["action"]["info"] == {"low": [0.0, 0.0], "high": [10.0, 10.0], "mode": "absolute"}
    # the state recorded with frame t is where the previous absolute action put the agent
    data = got["data"]
    s, a = np.stack(data.column("observation.state").to_pylist()), np.stack(data.column("action").to_pylist())
    np.testing.assert_allclose(s[1:7], a[0:6], atol=1e-5)


def test_record_gymnasium_module_qualified_env_id(tmp_path, monkeypatch):
    """gymnasium's "module:EnvId" form: the module (not yet imported) registers the env, as make() allows."""
    (tmp_path / "jepa_edge_test_envmod.py").write_text(
        "import gymnasium\n"
        "gymnasium.register('JepaEdgeTest/ModuleForm-v0', "
        "entry_point='gymnasium.envs.classic_control.pendulum:PendulumEnv', max_episode_steps=50)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "modform"
    assert main(["-q", "record", str(out), "--env", "jepa_edge_test_envmod:JepaEdgeTest/ModuleForm-v0",
                 "--episodes", "1", "--steps", "4", "--size", "32"]) == 0
    assert validate_v3(out)["info"]["robot_type"] == "gymnasium:JepaEdgeTest/ModuleForm-v0"


def test_record_refuses_an_env_without_pixels(capsys):
    rc = main(["record", "unused", "--env", "JepaEdgeTest/NoPixels-v0", "--episodes", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "--env JepaEdgeTest/NoPixels-v0: observations are Box" in err[0] and "no pixel observations" in err[0]


def _video(path, frames: int, fps: int = 30):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, (i * 3) % 64] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@needs_cc
@pytest.mark.timeout(120)
def test_record_a_robot_through_the_firmware_simulator(tmp_path, capsys):
    from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator

    cam = _video(tmp_path / "cam.mp4", 300)
    toml = tmp_path / "robot.toml"
    toml.write_text("[planner]\naction_low = [-0.5, -0.5]\naction_high = [0.5, 0.5]\n"
                    "[schedule]\ncommand_valid_ms = 200\n[camera]\nloop_video = true\nmax_age_ms = 300\n")
    out = tmp_path / "robot"
    with start_simulator(config=SimulatorConfig(period_us=5_000)) as sim:
        rc = main(["-q", "record", str(out), "--camera", str(cam), "--link", sim.path, "--config", str(toml),
                   "--episodes", "2", "--steps", "8", "--fps", "20", "--size", "32", "--json", "-"])
        summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["stop_confirmed"] is True and summary["fault"] is None, summary["fault"]
    got = validate_v3(out)
    assert got["info"]["total_episodes"] == 2 and got["info"]["fps"] == 20
    feats = got["info"]["features"]
    assert feats["observation.state"]["names"] == ["pos_0", "pos_1", "vel_0", "vel_1"]
    assert feats["action"]["info"]["low"] == [-0.5, -0.5] and feats["action"]["info"]["valid_ms"] == 200
    a = np.stack(got["data"].column("action").to_pylist())
    assert (np.abs(a) <= 0.5 + 1e-6).all()


@needs_cc
@pytest.mark.timeout(120)
def test_record_stops_the_robot_on_a_camera_fault_and_keeps_finished_episodes(tmp_path, capsys):
    from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator

    cam = _video(tmp_path / "cam.mp4", 30, fps=20)  # 1.5 s: runs out before the third episode ends
    out = tmp_path / "robot"
    with start_simulator(config=SimulatorConfig(period_us=5_000)) as sim:
        rc = main(["-q", "record", str(out), "--camera", str(cam), "--link", sim.path, "--episodes", "3",
                   "--steps", "12", "--fps", "20", "--size", "32", "--json", "-"])
        summary = json.loads(capsys.readouterr().out)
    assert rc == 3, summary
    assert summary["fault_kind"] == "camera" and summary["stop_confirmed"] is True
    assert 1 <= summary["episodes_recorded"] <= 2, summary["fault"]  # the episode in progress is dropped
    assert validate_v3(out)["info"]["total_episodes"] == summary["episodes_recorded"]
