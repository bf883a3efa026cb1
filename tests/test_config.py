"""jepa_edge.utils.config: TOML -> frozen dataclass, type checks incl. Literal choices, dotted overrides,
flags with help text from the source's comments; the training commands' --config."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Literal, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_edge.errors import ConfigError
from jepa_edge.utils import config as C


@dataclass(frozen=True)
class Inner:
    mode: Literal["a", "b"] = "a"  # "a" or "b"
    # how many; above and
    # on two lines
    count: int = 3  # and beside
    ratio: float = 0.5
    pair: tuple[float, float] = (0.0, 1.0)  # exactly two numbers


@dataclass(frozen=True)
class Outer:
    name: str  # required, no default
    inner: Inner = field(default_factory=Inner)  # the inner section
    maybe: int | None = None  # None: unset
    on: bool = True  # 100% on (a literal percent sign)


@dataclass(frozen=True)
class Child(Outer):
    extra: str = "x"
    maybe: int | None = 4  # redeclared with its own comment


def test_help_text_comes_from_the_comments():
    assert C.field_help(Inner) == {"mode": '"a" or "b"', "count": "how many; above and on two lines and beside",
                                   "pair": "exactly two numbers"}
    h = C.field_help(Child)
    assert h["name"] == "required, no default" and h["inner"] == "the inner section"  # inherited
    assert h["maybe"] == "redeclared with its own comment" and "extra" not in h


def test_build_checks_types_choices_unknown_and_missing_keys():
    cfg = C.build(Outer, {"name": "n", "inner": {"mode": "b", "count": 2, "ratio": 1, "pair": [1, 2]}})
    assert cfg.inner == Inner("b", 2, 1.0, (1.0, 2.0)) and isinstance(cfg.inner.ratio, float)
    cases = [
        ({"name": "n", "inner": {"mode": "c"}}, r"inner.mode = 'c': must be one of a, b"),
        ({"name": "n", "inner": {"count": 2.5}}, "inner.count must be an integer"),
        ({"name": "n", "inner": {"count": True}}, "inner.count must be an integer"),
        ({"name": "n", "inner": {"pair": [1, 2, 3]}}, "inner.pair must have 2 numbers"),
        ({"name": "n", "inner": {"bogus": 1}}, r"\[inner\] unknown key\(s\) bogus; known: count, mode, pair, ratio"),
        ({"name": "n", "inner": 3}, r"\[inner\] must be a table"),
        ({"name": "n", "on": "yes"}, "on must be true or false"),
        ({}, "missing required key"),
    ]
    for data, message in cases:
        with pytest.raises(ConfigError, match=message):
            C.build(Outer, data)


def test_override_is_checked_and_reruns_post_init():
    cfg = C.build(Outer, {"name": "n"})
    new = C.override(cfg, {"inner.count": 7, "maybe": 2, "name": "m"})
    assert (new.inner.count, new.maybe, new.name, new.inner.mode) == (7, 2, "m", "a")
    with pytest.raises(ConfigError, match="inner.mode = 'z'"):
        C.override(cfg, {"inner.mode": "z"})
    with pytest.raises(ConfigError, match="unknown key"):
        C.override(cfg, {"nope.x": 1})
    from jepa_edge.loop.config import RobotConfig

    with pytest.raises(ConfigError, match="planner.elites must be >= 1"):  # validate() runs on the copy
        RobotConfig().override({"planner.elites": 0})


def test_check_choices_catches_a_config_built_in_python():
    from jepa_edge.loop.config import RobotConfig
    from jepa_edge.planning.config import PlannerConfig

    with pytest.raises(ConfigError, match="planner.kind = 'x': must be one of cem, mppi"):
        RobotConfig(planner=PlannerConfig(kind="x"))


def test_planner_literals_match_the_modules_that_implement_them():
    from jepa_edge.planning.config import PlannerConfig
    from jepa_edge.planning.energy import ENERGIES
    from jepa_edge.planning.kinematics import STATE_UPDATES

    hints = C.field_types(PlannerConfig)
    assert set(get_args(hints["energy"])) == set(ENERGIES)
    assert set(get_args(hints["state_update"])) == set(STATE_UPDATES)


def test_flags_have_help_choices_and_override_only_when_given():
    p = argparse.ArgumentParser()
    assert C.add_flags(p, Outer) == 7
    flags = {a.option_strings[0]: a for a in p._actions if a.option_strings and a.dest.startswith(C.FLAG_PREFIX)}
    assert flags["--inner.mode"].choices == ["a", "b"]
    assert flags["--inner.count"].help == "how many; above and on two lines and beside (default: 3)"
    assert flags["--name"].help.endswith("(required)")
    p.format_help()  # the "%" in a comment is escaped for argparse
    assert "100% on" in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args(["--inner.mode", "c"])
    args = p.parse_args(["--inner.count", "5", "--on", "false", "--inner.pair", "0.1,0.2"])
    assert C.flag_values(args) == {"inner.count": 5, "on": False, "inner.pair": (0.1, 0.2)}
    q = argparse.ArgumentParser()
    C.add_flags(q, Child, dotted=False)
    args = q.parse_args(["--no-on", "--extra", "y", "--inner.count", "2"])
    assert C.flag_values(args) == {"on": False, "extra": "y", "inner.count": 2}


def test_load_merges_file_then_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('name = "file"\nmaybe = 1\n[inner]\ncount = 9\n')
    cfg = C.load(Outer, toml, {"maybe": 5})
    assert (cfg.name, cfg.maybe, cfg.inner.count) == ("file", 5, 9)
    toml.write_text('name = "file"\ntypo = 1\n')
    with pytest.raises(ConfigError, match=r"c.toml: unknown key\(s\) typo"):
        C.load(Outer, toml)
    with pytest.raises(ConfigError, match="does not exist"):
        C.load(Outer, tmp_path / "missing.toml")


JUNK = st.one_of(st.integers(-5, 2000), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(), st.none(),
                 st.lists(st.floats(allow_nan=True), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                  max_size=2))


def _robot_keys():
    from jepa_edge.loop.config import RobotConfig

    return [(s, f.name) for s, cls in C.field_types(RobotConfig).items() for f in dataclasses.fields(cls)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_robot_keys()), JUNK), max_size=4))
def test_any_robot_toml_gives_a_config_or_a_config_error(items):
    """Whatever a user writes in any section, the answer is a config or a ConfigError naming a key."""
    from jepa_edge.loop.config import RobotConfig

    data: dict = {}
    for (section, key), value in items:
        data.setdefault(section, {})[key] = value
    try:
        RobotConfig.from_dict(data)
    except ConfigError:
        pass


# --- the training commands: --config FILE.toml, flags on top ------------------------------------------

def test_training_config_file_and_flags(tmp_path):
    from jepa_edge.cli import command_parser
    from jepa_edge.training.cli_args import config_from_args
    from jepa_edge.training.distill import DistillConfig
    from jepa_edge.training.pretrain import PretrainConfig

    toml = tmp_path / "recipe.toml"
    toml.write_text('steps = 800\nmasking = "random"\nlr = 4e-4\ndense = true\n')
    p = command_parser("pretrain")
    args = p.parse_args(["--config", str(toml), "--steps", "10", "--no-dense", "--out", str(tmp_path / "o")])
    cfg = config_from_args(PretrainConfig, args)
    assert (cfg.steps, cfg.masking, cfg.lr, cfg.dense, cfg.arch) == (10, "random", 4e-4, False, "vit_small")
    toml.write_text("stpes = 800\n")
    with pytest.raises(ConfigError, match=r"recipe.toml: unknown key\(s\) stpes"):
        config_from_args(PretrainConfig, p.parse_args(["--config", str(toml), "--out", "o"]))
    toml.write_text('precision = "fp16"\n')
    with pytest.raises(ConfigError, match="precision = 'fp16': must be one of fp32, bf16"):
        config_from_args(PretrainConfig, p.parse_args(["--config", str(toml), "--out", "o"]))
    with pytest.raises(SystemExit):
        p.parse_args(["--masking", "grid", "--out", "o"])  # a Literal field: argparse choices
    d = command_parser("distill")
    with pytest.raises(ConfigError, match="--teacher required"):
        config_from_args(DistillConfig, d.parse_args(["--out", "o"]))
    toml.write_text('teacher = "runs/t/model"\nstudent_arch = "vit_nano"\n')
    cfg = config_from_args(DistillConfig, d.parse_args(["--config", str(toml), "--out", "o"]))
    assert (cfg.teacher, cfg.student_arch) == ("runs/t/model", "vit_nano")


def test_training_cli_reports_a_bad_config_as_one_line(tmp_path, capsys):
    from jepa_edge.cli import main

    toml = tmp_path / "r.toml"
    toml.write_text("bogus = 1\n")
    assert main(["train-ac", "--config", str(toml), "--encoder", "x", "--out", str(tmp_path / "o")]) == 2
    assert "unknown key(s) bogus" in capsys.readouterr().err
