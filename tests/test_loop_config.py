"""Robot TOML: frozen dataclasses, unknown keys and wrong types refused, every field a flag, examples load."""
import argparse
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_edge.errors import ConfigError
from jepa_edge.loop.config import RobotConfig, add_config_flags, flag_overrides, load_robot_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["sim_world.toml", "robot_ttyACM0.toml", "gym_pendulum.toml"])
def test_examples_load(name):
    cfg = load_robot_config(EXAMPLES / name)
    assert isinstance(cfg, RobotConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.planner.samples = 3


def test_unknown_keys_and_sections_are_errors(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text("[planner]\nsamplez = 3\n")
    with pytest.raises(ConfigError, match=r"\[planner\] unknown key\(s\) samplez"):
        load_robot_config(bad)
    bad.write_text("[plannr]\nsamples = 3\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_robot_config(bad)
    bad.write_text("[planner]\nsamples = \"many\"\n")
    with pytest.raises(ConfigError, match="planner.samples must be an integer"):
        load_robot_config(bad)
    bad.write_text("[planner\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_robot_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_robot_config(tmp_path / "missing.toml")


def test_cross_field_validation_names_the_key():
    with pytest.raises(ConfigError, match="schedule.overrun_policy"):
        RobotConfig().override({"schedule.overrun_policy": "panic"})
    with pytest.raises(ConfigError, match="planner.elites"):
        RobotConfig().override({"planner.elites": 0})
    with pytest.raises(ConfigError, match="action_low must be below"):
        RobotConfig().override({"planner.action_low": (1.0, 1.0)})
    with pytest.raises(ConfigError, match="safety.camera"):
        RobotConfig().override({"safety.camera": "ignore"})
    with pytest.raises(ConfigError, match="planner.energy"):
        RobotConfig().override({"planner.energy": "l2"})
    with pytest.raises(ConfigError, match="planner.rollout_context"):
        RobotConfig().override({"planner.rollout_context": "all"})
    with pytest.raises(ConfigError, match="planner.smooth_sigma"):
        RobotConfig().override({"planner.energy": "l1_smooth", "planner.smooth_sigma": 0.0})
    with pytest.raises(ConfigError, match="planner.delta_scale"):
        RobotConfig().override({"planner.delta_scale": 0.0})
    with pytest.raises(ConfigError, match="models.planner_threads"):
        RobotConfig().override({"models.planner_threads": -1})
    with pytest.raises(ConfigError, match="models.threads"):
        RobotConfig().override({"models.threads": 0})


def test_every_field_is_a_flag_and_flags_override_the_toml(tmp_path):
    p = argparse.ArgumentParser()
    add_config_flags(p)
    n_fields = sum(len(dataclasses.fields(type(getattr(RobotConfig(), f.name)))) for f in dataclasses.fields(RobotConfig))
    n_flags = sum(1 for a in p._actions if a.dest.startswith("cfg:"))
    assert n_flags == n_fields
    toml = tmp_path / "r.toml"
    toml.write_text("[planner]\nsamples = 64\nkind = \"mppi\"\n[camera]\nsource = 0\n")
    args = p.parse_args(["--planner.samples", "512", "--planner.action_low=-0.5,-0.5",
                         "--surprise.enabled", "false"])
    cfg = load_robot_config(toml, flag_overrides(args))
    assert cfg.planner.samples == 512 and cfg.planner.kind == "mppi"  # flag wins, TOML kept elsewhere
    assert cfg.planner.action_low == (-0.5, -0.5) and cfg.surprise.enabled is False
    assert cfg.camera.source == "0"  # a device index written as a TOML integer


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["samples", "horizon", "budget_ms", "kind", "bogus", "elites", "energy",
                                       "smooth_sigma", "delta_scale"]),
                       st.one_of(st.integers(-5, 2000), st.floats(allow_nan=True), st.text(max_size=5), st.booleans()),
                       max_size=4))
def test_planner_section_never_crashes_on_junk(section):
    """Whatever a user writes, the answer is a config or a ConfigError, never another exception."""
    try:
        RobotConfig.from_dict({"planner": section})
    except ConfigError:
        pass
