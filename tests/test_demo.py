"""`jepa-edge demo` machinery: step table vs the real CLI, failure reporting, verdicts, report.

The end-to-end run (`--quick`) is tests/test_demo_quick.py; these use tiny fake step tables.
"""
import json
from pathlib import Path

import pytest

from jepa_edge.cli import build_parser, main
from jepa_edge.demo import FULL, QUICK, Step, demo_steps
from jepa_edge.demo import runner as R
from jepa_edge.demo.metrics import metric
from jepa_edge.demo.plan import Layout
from jepa_edge.errors import ConfigError


@pytest.mark.parametrize("sizes", [FULL, QUICK], ids=["full", "quick"])
def test_every_step_is_a_valid_public_command_line(sizes, tmp_path):
    parser = build_parser()
    for teacher in (None, tmp_path / "my-teacher"):
        steps = demo_steps(tmp_path / "out", sizes, teacher)
        names = [s.name for s in steps]
        assert len(names) == len(set(names))
        assert names[0] == "train" and ("--teacher" in steps[0].argv) == (teacher is not None)
        for s in steps:
            args = parser.parse_args(list(s.argv))  # a flag the command lacks exits here
            assert args.command == s.argv[0]
            assert s.command.startswith(f"jepa-edge {s.argv[0]} ")
            assert all(n in names[:names.index(s.name)] for n in s.needs), f"{s.name} needs a later step"


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


def test_out_must_be_new_empty_or_a_previous_demo(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        R.prepare_out(tmp_path / "mine")
    R.prepare_out(tmp_path / "new")
    for name in ("chain", "loop"):
        (tmp_path / "new" / name).mkdir()
    R.prepare_out(tmp_path / "new")  # a previous demo: allowed, its outputs get replaced
    R.clear_outputs(tmp_path / "new", keep={"chain"})  # the chain's own cache decides what is stale
    assert (tmp_path / "new" / "chain").exists() and not (tmp_path / "new" / "loop").exists()


def test_reuse_teacher_must_be_a_model_dir(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "d"), "--reuse-teacher", str(tmp_path)]) == 2
    assert "--reuse-teacher" in capsys.readouterr().err


@pytest.mark.parametrize("sizes", [FULL, QUICK], ids=["full", "quick"])
def test_each_size_names_a_shipped_recipe_whose_models_can_be_built(sizes):
    """Widths, heads and grids that fit together (a bad combination fails only minutes into the demo)."""
    from jepa_edge.models.registry import build_predictor
    from jepa_edge.recipe import load_recipe
    from jepa_edge.training.distill import DistillConfig, student_config
    from jepa_edge.training.pretrain import PretrainConfig

    recipe = load_recipe(sizes.recipe)
    teacher = PretrainConfig(**recipe.section("pretrain")).encoder_config()
    distill = DistillConfig(teacher="x", **recipe.section("distill"))
    student = student_config(distill, teacher)
    assert teacher.grid == student.grid  # distillation compares tokens position by position
    assert student.embed_dim < teacher.embed_dim or sizes is QUICK
    build_predictor(teacher, predictor_embed_dim=recipe.section("pretrain")["predictor_width"],
                    depth=recipe.section("pretrain")["predictor_depth"])
    # the AC predictor starts as "copy the last latent": its width must hold the student's
    assert recipe.section("train-ac")["predictor_width"] >= student.embed_dim


def _verdict_layout(tmp_path, *, own_student: float, random: float, reference: float, p99: float) -> Layout:
    """The files the verdicts read, as the steps write them."""
    L = Layout(tmp_path)
    L.chain.mkdir(parents=True)
    from jepa_edge.chain.verdict import Verdict

    own = [Verdict("eval", "INT8 student beats random", f"{own_student:.0%} vs {random:.0%}", "> random",
                   own_student > random).to_dict()]
    (L.chain / "report.json").write_text(json.dumps({"verdicts": own}))
    methods = {"random": {"success_rate": random, "faulted": 0, "final_distance_mean": 0.5},
               "student": {"success_rate": reference, "faulted": 0, "final_distance_mean": 0.1},
               "oracle": {"success_rate": 1.0, "faulted": 0, "final_distance_mean": 0.0}}
    L.reference_json.parent.mkdir(parents=True)
    L.reference_json.write_text(json.dumps({"episodes": 40, "first_seed": 1000, "methods": methods}))
    L.loop_json.parent.mkdir(parents=True)
    summary = {"ticks": 300, "stages_ms": {"tick": {"p99": p99}}, "deadline_miss_rate": 0.01,
               "planner": {"replan_rate_hz": 5.0}}
    L.loop_json.write_text(json.dumps({"summary": summary}))
    return L


def test_verdicts_hold_each_number_to_its_threshold(tmp_path):
    from jepa_edge.demo.report import demo_verdicts

    ok = {"train": "ok", "reference": "ok", "loop": "ok"}
    v = demo_verdicts(_verdict_layout(tmp_path / "a", own_student=0.2, random=0.05, reference=0.85, p99=20.0), FULL, ok)
    assert [x.passed for x in v] == [True, True, True]
    assert v[1].threshold == "≥ 80%" and v[1].shown.startswith("85% of 40") and "oracle 100%" in v[1].shown
    v = demo_verdicts(_verdict_layout(tmp_path / "b", own_student=0.0, random=0.05, reference=0.5, p99=40.0), FULL, ok)
    assert [x.passed for x in v] == [False, False, False]
    assert v[2].reason  # a missed threshold says why
    v = demo_verdicts(_verdict_layout(tmp_path / "c", own_student=0.2, random=0.0, reference=0.9, p99=10.0), FULL,
                      {"train": "ok", "reference": "failed", "loop": "skipped"})
    assert [x.passed for x in v] == [True, None, None] and "not measured" in v[1].reason


def test_a_missed_threshold_is_exit_3_and_said_plainly(tmp_path, monkeypatch, capsys):
    """Every step ran, a number missed its threshold: not "all steps ok", and exit 3 (not with --quick)."""
    def table(out, sizes=QUICK, teacher=None):
        _verdict_layout(Path(out), own_student=0.0, random=0.05, reference=0.5, p99=20.0)
        return [Step(n, n, ("doctor", "--json", "-")) for n in ("train", "reference", "loop")]

    monkeypatch.setattr(R, "demo_steps", table)
    monkeypatch.setattr(R, "clear_outputs", lambda out, keep: None)
    from jepa_edge.demo.runner import run_demo

    result = run_demo(tmp_path / "d", FULL)
    assert result.ok and result.exit_code == 3
    printed = capsys.readouterr().out
    assert "thresholds were missed" in printed and "all 3 steps ok" not in printed
    md = (tmp_path / "d" / "report" / "report.md").read_text()
    assert md.splitlines()[0].endswith("1 of 3 thresholds met") and "**FAIL**" in md
    assert run_demo(tmp_path / "q", QUICK).exit_code == 0  # --quick: tiny sizes, held to no threshold
