"""`jepa-edge demo` machinery: step table vs the real CLI, failure reporting, teacher cache, report.

The end-to-end run (`--quick`) is tests/test_demo_quick.py; these use tiny fake step tables.
"""
import json
from pathlib import Path

import pytest

from jepa_edge.cli import build_parser, main
from jepa_edge.demo import FULL, QUICK, Step, demo_steps
from jepa_edge.demo import runner as R
from jepa_edge.demo.metrics import metric
from jepa_edge.demo.plan import teacher_argv, teacher_cache_key
from jepa_edge.errors import ConfigError


@pytest.mark.parametrize("sizes", [FULL, QUICK], ids=["full", "quick"])
def test_every_step_is_a_valid_public_command_line(sizes, tmp_path):
    parser = build_parser()
    for teacher in (None, tmp_path / "my-teacher"):
        steps = demo_steps(tmp_path / "out", sizes, teacher)
        names = [s.name for s in steps]
        assert len(names) == len(set(names))
        assert ("teacher" in names) == (teacher is None)
        for s in steps:
            args = parser.parse_args(list(s.argv))  # a flag the command lacks exits here
            assert args.command == s.argv[0]
            assert s.command.startswith(f"jepa-edge {s.argv[0]} ")
            assert all(n in names[:names.index(s.name)] for n in s.needs), f"{s.name} needs a later step"


def test_teacher_cache_key_ignores_out_and_follows_every_other_flag(tmp_path):
    a = teacher_cache_key(teacher_argv(QUICK, tmp_path / "a"))
    assert a == teacher_cache_key(teacher_argv(QUICK, tmp_path / "b"))
    assert a != teacher_cache_key(teacher_argv(FULL, tmp_path / "a"))
    from dataclasses import replace
    assert a != teacher_cache_key(teacher_argv(replace(QUICK, teacher_steps=QUICK.teacher_steps + 1), tmp_path / "a"))


def test_metric_value_is_what_is_printed():
    m = metric("k", "x", 0.99996, decimals=4)
    assert (m.display, m.value) == ("1.0000", 1.0)
    m = metric("k", "x", 12.3456, "ms")
    assert (m.display, m.value) == ("12.3", 12.3)
    assert metric("k", "x", 0.000123).display == "0.000123"
    assert metric("k", "x", 7).value == 7 and metric("k", "x", float("nan")).display == "-"
    assert metric("k", "x", "kit").value == "kit"


def _fake_table(out, sizes=QUICK, teacher=None):
    """ok, failing, dependent-on-failing, independent-ok: what the runner must do with each."""
    return [
        Step("first", "a command that works", ("doctor", "--json", "-")),
        Step("broken", "a command that fails", ("export", str(Path(out) / "missing-model"), "--target", "onnx",
                                                 "--out", str(Path(out) / "x"))),
        Step("after-broken", "needs the failed step", ("doctor",), needs=("broken",)),
        Step("independent", "does not need it", ("doctor", "--json", "-"), outputs=(str(Path(out) / "never-written"),)),
        Step("last", "still runs", ("doctor", "--json", "-")),
    ]


def test_failed_step_is_named_with_its_rerun_command_and_the_demo_exits_nonzero(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(R, "demo_steps", _fake_table)
    monkeypatch.setenv("JEPA_EDGE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    code = main(["demo", "--quick", "--out", str(out)])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 1
    summary = json.loads((out / "report" / "summary.json").read_text())
    status = {s["name"]: s["status"] for s in summary["steps"]}
    assert status == {"first": "ok", "broken": "failed", "after-broken": "skipped", "independent": "failed",
                      "last": "ok"}
    assert summary["exit_code"] == 1 and summary["ok"] is False
    broken = next(s for s in summary["steps"] if s["name"] == "broken")
    assert broken["exit_code"] == 2 and broken["command"].startswith("jepa-edge export ")
    assert "did not write" in next(s for s in summary["steps"] if s["name"] == "independent")["error"]
    assert f"rerun it with: {broken['command']}" in printed
    assert "missing-model is not a jepa-edge model dir" in captured.err  # the command's own message
    report = (out / "report" / "report.md").read_text()
    assert "## What went wrong" in report and f"Rerun: `{broken['command']}`" in report
    assert (out / "report" / "step_times.png").stat().st_size > 0
    assert str(out / "report" / "report.md") in printed


def test_each_command_is_printed_before_it_runs(tmp_path, monkeypatch, capsys):
    def table(out, sizes=QUICK, teacher=None):
        return [Step("one", "one", ("doctor", "--json", "-")), Step("two", "two", ("doctor", "--json", "-"))]

    monkeypatch.setattr(R, "demo_steps", table)
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    first = printed.index("$ jepa-edge doctor --json -")
    assert printed.index('"torch"', first) > first  # doctor's own output comes after its command line
    assert printed.count("$ jepa-edge doctor --json -") == 2


def _fake_teacher_run(run_dir: Path, key: str) -> None:
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text("{}")
    (run_dir / "loss.png").write_bytes(b"png")
    (run_dir / R.CACHE_KEY_FILE).write_text(json.dumps({"key": key}))


def test_teacher_is_reused_from_the_cache_only_when_its_hash_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_EDGE_CACHE", str(tmp_path / "cache"))
    step = demo_steps(tmp_path / "out", QUICK)[0]
    assert step.name == "teacher" and step.cache_key
    run_dir = tmp_path / "out" / "teacher"
    assert R.reuse_cached_teacher(step, run_dir, use_cache=True) == ""  # nothing cached yet
    _fake_teacher_run(R.cache_root() / f"teacher-{step.cache_key}", "some-other-key")
    assert R.reuse_cached_teacher(step, run_dir, use_cache=True) == ""  # wrong hash: retrain
    (R.cache_root() / f"teacher-{step.cache_key}" / R.CACHE_KEY_FILE).write_text(json.dumps({"key": step.cache_key}))
    assert R.reuse_cached_teacher(step, run_dir, use_cache=False) == ""  # --no-cache
    note = R.reuse_cached_teacher(step, run_dir, use_cache=True)
    assert "cache" in note and (run_dir / "model" / "config.json").exists() and (run_dir / "loss.png").exists()
    assert "reused from" in R.reuse_cached_teacher(step, run_dir, use_cache=False)  # now in --out itself


def test_out_must_be_new_empty_or_a_previous_demo(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        R.prepare_out(tmp_path / "mine")
    R.prepare_out(tmp_path / "new")
    (tmp_path / "new" / "student").mkdir()
    R.prepare_out(tmp_path / "new")  # a previous demo: allowed, its outputs get replaced
    R.clear_outputs(tmp_path / "new", keep=set())
    assert not (tmp_path / "new" / "student").exists()


def test_reuse_teacher_must_be_a_model_dir(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "d"), "--reuse-teacher", str(tmp_path)]) == 2
    assert "--reuse-teacher" in capsys.readouterr().err


@pytest.mark.parametrize("sizes", [FULL, QUICK], ids=["full", "quick"])
def test_the_models_each_size_asks_for_can_be_built(sizes):
    """Widths, heads and grids that fit together (a bad combination fails only minutes into the demo)."""
    from jepa_edge.models.registry import build_predictor, encoder_config

    def enc(arch, depth):
        return encoder_config(arch, img_size=sizes.img_size, patch_size=sizes.patch_size,
                              **({} if depth is None else {"depth": depth}))

    teacher, student = enc(sizes.teacher_arch, sizes.teacher_depth), enc(sizes.student_arch, sizes.student_depth)
    assert teacher.grid == student.grid  # distillation compares tokens position by position
    assert student.embed_dim < teacher.embed_dim or sizes is QUICK
    for cfg in (teacher, student):
        build_predictor(cfg, predictor_embed_dim=sizes.predictor_width, depth=sizes.predictor_depth)
