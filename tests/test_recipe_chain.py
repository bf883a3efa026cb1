"""Recipes (jepa_edge/recipe.py, recipes/*.toml), `--recipe` on the training commands and export,
the chain `jepa-edge train --recipe R --out DIR` (chain/stages.py, chain/runner.py, chain/verdict.py)
and the reference models (chain/reference.py, models/model_dir.py fp16 weights, `reference:NAME`).

The chain runs on a tiny recipe (1-layer vit_nano, 3 steps per training stage, ONNX Runtime INT8):
about 15 s on one thread, once for the module; the tests that change its recipe afterwards check
which stages rerun (read from report.json) rather than timing them.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from jepa_edge import cli
from jepa_edge.errors import CheckpointError, ConfigError

# the tiny recipe: each table is what the command of that name reads
TINY = {
    "pretrain": {"arch": "vit_nano", "depth": 1, "img_size": 32, "patch_size": 8, "num_frames": 1,
                 "predictor_width": 64, "predictor_depth": 1, "dataset_size": 16, "batch_size": 4, "steps": 3,
                 "warmup_steps": 1, "ckpt_every": 2},
    "distill": {"student_arch": "vit_nano", "student_depth": 1, "predictor_width": 64, "predictor_depth": 1,
                "dataset_size": 16, "batch_size": 4, "steps": 3, "warmup_steps": 1, "ckpt_every": 2},
    "train-ac": {"depth": 1, "frames": 3, "rollout_steps": 1, "n_trajectories": 8, "batch_size": 4, "steps": 3,
                 "warmup_steps": 1, "planner_search_s": 2.0},
    "calibrate": {"count": 8, "held_out": 4},
    "export": {"target": "onnxruntime", "precision": "int8"},
    "eval": {"goals": 2, "max_steps": 5, "samples": 16, "iterations": 1},
}
STAGES = ["pretrain", "distill", "train-ac", "calibrate-encoder", "calibrate-ac_predictor", "export-encoder",
          "export-ac_predictor", "eval"]


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v) if isinstance(v, str) else repr(v)


def write_recipe(path: Path, changes: dict | None = None, *, head: str = 'format = 1\nversion = "test"\n'
                 'description = "tiny"\n') -> Path:
    """The tiny recipe with `changes` ({table: {key: value}}) applied, as a TOML file."""
    tables = {name: dict(table) for name, table in TINY.items()}
    for name, table in (changes or {}).items():
        tables.setdefault(name, {}).update(table)
    lines = [head.rstrip("\n")]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    assert tomllib.loads(path.read_text())["pretrain"] == tables["pretrain"]  # the writer writes what it's given
    return path


def train(recipe: Path, out: Path, *extra: str, env: dict | None = None) -> tuple[int, dict, str]:
    """`jepa-edge train --recipe RECIPE --out OUT --threads 1` in-process -> (exit code, report.json, stderr)."""
    err = io.StringIO()
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"JEPA_EDGE_THREADS": "1", **(env or {})}.items():  # run_chain sets it: undone on leaving
            mp.setenv(k, v)
        try:
            with contextlib.redirect_stderr(err):
                code = cli.main(["-q", "train", "--recipe", str(recipe), "--out", str(out), "--threads", "1", *extra])
        finally:
            torch.set_num_threads(threads)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
    return code, report, err.getvalue()


def statuses(report: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["stages"]}


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The tiny recipe's whole chain, run once; `snapshot` holds copies of what later tests read (the
    tests that change the recipe rerun stages in `out`)."""
    from jepa_edge.recipe import load_recipe

    root = tmp_path_factory.mktemp("chain")
    recipe = write_recipe(root / "tiny.toml")
    out = root / "out"
    cache = root / "cache"
    t = time.perf_counter()
    code, report, err = train(recipe, out, env={"JEPA_EDGE_CACHE": str(cache)})
    seconds = time.perf_counter() - t
    snap = root / "snapshot"
    snap.mkdir()
    shutil.copy2(out / "report.json", snap / "report.json")
    for stage in ("pretrain", "distill", "train-ac"):
        shutil.copytree(out / stage / "model", snap / stage / "model")
    return SimpleNamespace(root=root, recipe=recipe, out=out, cache=cache, code=code, report=report, err=err,
                           seconds=seconds, sha256=load_recipe(recipe).sha256, snapshot=snap,
                           chain_state=json.loads((out / "chain.json").read_text()))


# --- recipes -------------------------------------------------------------------------------------

def test_shipped_recipes_load_and_every_table_builds(tmp_path):
    from jepa_edge.chain.stages import CALIBRATE_DEFAULTS, chain_stages, eval_settings
    from jepa_edge.quant.targets import get_target
    from jepa_edge.recipe import RECIPE_FORMAT, SECTIONS, load_recipe, recipe_names, recipes_dir
    from jepa_edge.training.ac import TrainACConfig
    from jepa_edge.training.distill import DistillConfig
    from jepa_edge.training.pretrain import PretrainConfig
    from jepa_edge.utils import config as C

    names = recipe_names()
    assert {"tabletop-reach", "demo", "demo-quick"} <= set(names)
    for name in names:
        r = load_recipe(name)
        assert r.name == name and r.ref == name and r.path == recipes_dir() / f"{name}.toml"
        raw = r.path.read_bytes()
        data = tomllib.loads(raw.decode())
        assert data["format"] == RECIPE_FORMAT == 1
        assert r.version == data["version"] and r.version and r.description
        assert r.sha256 == hashlib.sha256(raw).hexdigest()
        assert set(r.sections) == set(SECTIONS), f"{name}: every stage's table is written out"
        pre = C.build(PretrainConfig, r.section("pretrain"))
        pre.encoder_config()  # arch, patch and depth agree
        C.build(DistillConfig, {**r.section("distill"), "teacher": "x"})
        C.build(TrainACConfig, {**r.section("train-ac"), "encoder": "x"})
        assert set(r.section("calibrate")) <= set(CALIBRATE_DEFAULTS)
        export = r.section("export")
        assert set(export) == {"target", "precision"}
        assert export["precision"] in get_target(export["target"]).precisions
        assert eval_settings(r) == {**eval_settings(r), **data["eval"]}
        stages = chain_stages(r, tmp_path / name)
        assert [s.name for s in stages] == STAGES
        assert [s.name for s in chain_stages(r, tmp_path / name, teacher=tmp_path / "t")] == STAGES[1:]
        r.section("pretrain")["steps"] = -1  # a copy: the recipe stays as read
        assert r.section("pretrain") == data["pretrain"]
    assert load_recipe("tabletop-reach").section("eval")["threshold"] == 0.8


def test_recipe_errors_name_what_is_wrong(tmp_path):
    from jepa_edge.chain.stages import chain_stages
    from jepa_edge.recipe import load_recipe, recipe_names

    def one_line_error(fn, *needles):
        with pytest.raises(ConfigError) as e:
            fn()
        msg = str(e.value)
        assert "\n" not in msg, msg
        for n in needles:
            assert n in msg, (n, msg)
        return msg

    msg = one_line_error(lambda: load_recipe("no-such-recipe"), "no-such-recipe")
    for name in recipe_names():
        assert name in msg
    one_line_error(lambda: load_recipe(tmp_path / "missing.toml"), "missing.toml", "does not exist")

    bad_table = write_recipe(tmp_path / "t1.toml", {"pretrian": {"steps": 3}})
    one_line_error(lambda: load_recipe(bad_table), "[pretrian]", "pretrain")
    one_line_error(lambda: load_recipe(write_recipe(tmp_path / "t2.toml", head="format = 2\n")), "format = 2")
    one_line_error(lambda: load_recipe(write_recipe(tmp_path / "t3.toml", head='version = "x"\n')), "format")
    (tmp_path / "t4.toml").write_text("format = 1\n[pretrain\n")
    one_line_error(lambda: load_recipe(tmp_path / "t4.toml"), "not valid TOML")

    # a misspelt key of a later stage's table is named before any stage runs
    for table, key in (("eval", "goalz"), ("calibrate", "cuont"), ("export", "precison")):
        r = load_recipe(write_recipe(tmp_path / f"{table}.toml", {table: {key: 1}}))
        one_line_error(lambda: chain_stages(r, tmp_path / "out"), key, f"[{table}]")
    # ... and of a training table
    for table, key in (("pretrain", "stepz"), ("distill", "techer"), ("train-ac", "frame")):
        r = load_recipe(write_recipe(tmp_path / f"{table}.toml", {table: {key: 1}}))
        one_line_error(lambda: chain_stages(r, tmp_path / "out"), key, f"[{table}]")
    r = load_recipe(write_recipe(tmp_path / "value.toml", {"train-ac": {"steps": "many"}}))
    one_line_error(lambda: chain_stages(r, tmp_path / "out"), "[train-ac]", "steps", "integer")
    with pytest.raises(KeyError, match="bogus"):
        load_recipe(bad_table.with_name("eval.toml")).section("bogus")

    # the chain refuses such a recipe with exit 2 and writes nothing
    code = cli.main(["-q", "train", "--recipe", str(tmp_path / "calibrate.toml"), "--out", str(tmp_path / "o")])
    assert code == 2 and not (tmp_path / "o").exists()
    assert cli.main(["-q", "train", "--recipe", "no-such-recipe", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_training_flags_override_config_override_recipe(tmp_path):
    from jepa_edge.training.cli_args import config_from_args, recipe_and_overrides
    from jepa_edge.training.distill import DistillConfig
    from jepa_edge.training.pretrain import PretrainConfig

    recipe = write_recipe(tmp_path / "tiny.toml", {"pretrain": {"lr": 0.002, "masking": "random"}})
    toml = tmp_path / "over.toml"
    toml.write_text("steps = 5\nbatch_size = 6\nmasking = \"blocks\"\n")
    parser = cli.build_parser()

    args = parser.parse_args(["pretrain", "--recipe", str(recipe), "--config", str(toml), "--steps", "7",
                              "--out", "o"])
    cfg = config_from_args(PretrainConfig, args, section="pretrain")
    default = PretrainConfig()
    assert cfg.steps == 7  # flag > config > recipe
    assert cfg.batch_size == 6  # config > recipe
    assert cfg.masking == "blocks"  # config > recipe
    assert cfg.lr == 0.002 and cfg.img_size == 32 and cfg.arch == "vit_nano"  # recipe > default
    assert default.img_size != 32 and default.lr != 0.002
    assert cfg.mask_ratio == default.mask_ratio  # default where nobody says
    _, overrides, record = recipe_and_overrides(args, "pretrain")
    assert overrides == {"steps": 7, "batch_size": 6, "masking": "blocks"}
    from jepa_edge.recipe import load_recipe

    r = load_recipe(recipe)
    assert record == {"name": "tiny", "version": "test", "sha256": r.sha256,
                      "overrides": {"batch_size": 6, "masking": "blocks", "steps": 7}, "stage": "pretrain"}

    # the recipe alone; a flag alone
    only = config_from_args(PretrainConfig, parser.parse_args(["pretrain", "--recipe", str(recipe), "--out", "o"]),
                            section="pretrain")
    assert (only.steps, only.batch_size, only.masking) == (3, 4, "random")
    flag = config_from_args(PretrainConfig, parser.parse_args(["pretrain", "--steps", "9", "--out", "o"]),
                            section="pretrain")
    assert flag.steps == 9 and flag.img_size == default.img_size
    assert recipe_and_overrides(parser.parse_args(["pretrain", "--out", "o"]), "pretrain")[2] is None

    # distill: the recipe names no teacher, a flag does
    d_args = parser.parse_args(["distill", "--recipe", str(recipe), "--teacher", "t", "--out", "o"])
    d = config_from_args(DistillConfig, d_args, section="distill")
    assert d.teacher == "t" and d.steps == 3 and d.student_arch == "vit_nano"
    with pytest.raises(ConfigError, match="--teacher"):
        config_from_args(DistillConfig, parser.parse_args(["distill", "--recipe", str(recipe), "--out", "o"]),
                         section="distill")
    # an unknown key in the command's table: one line naming the key and the recipe
    bad = write_recipe(tmp_path / "bad.toml", {"pretrain": {"stepz": 3}})
    with pytest.raises(ConfigError) as e:
        config_from_args(PretrainConfig, parser.parse_args(["pretrain", "--recipe", str(bad), "--out", "o"]),
                         section="pretrain")
    assert "stepz" in str(e.value) and str(bad) in str(e.value) and "\n" not in str(e.value)


# --- the chain -----------------------------------------------------------------------------------

def test_chain_runs_every_stage_and_reports_verdicts(chain):
    from jepa_edge.chain.stages import chain_stages
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.recipe import load_recipe

    report = chain.report
    assert chain.code in (0, 3), chain.err[-3000:]
    assert statuses(report) == {s: "ran" for s in STAGES}
    for stage in chain_stages(load_recipe(chain.recipe), chain.out):
        assert stage.done.exists(), stage.name
        assert chain.chain_state["stages"][stage.name]["status"] == "ok"
    assert report["recipe"] == {"name": "tiny", "version": "test", "sha256": chain.sha256, "overrides": {}}
    assert not report["interrupted"] and report["built_seconds"] > 0

    verdicts = report["verdicts"]
    by_stage = {}
    for v in verdicts:
        by_stage.setdefault(v["stage"], []).append(v)
    for part in ("encoder", "ac_predictor"):
        (row,) = by_stage[f"export-{part}"]
        assert "INT8" in row["what"] and "cosine" in row["what"] and row["threshold"] == "≥ 0.99"
        gate = json.loads((chain.out / "bundles" / f"{part}.json").read_text())["gate"]
        assert row["shown"] == f"{gate['cos_mean']:.4f}"
        assert row["passed"] is bool(gate["passed"] and gate["cos_mean"] >= 0.99)
    eval_rows = by_stage["eval"]
    assert any("goals reached" in v["what"] and v["threshold"] == "≥ 80%" for v in eval_rows)  # EVAL_DEFAULTS threshold
    assert any(v["what"].endswith("beats random") for v in eval_rows)
    assert any("copy-last" in v["what"] for v in by_stage["train-ac"])
    held = [v for v in verdicts if v["threshold"]]
    assert report["thresholds_met"] == f"{sum(v['passed'] is True for v in held)}/{len(held)}"
    assert chain.code == (3 if any(v["passed"] is False for v in verdicts) else 0)

    md = (chain.out / "report.md").read_text()
    assert md.startswith("# jepa-edge train --recipe tiny (version test)")
    assert md.index("| stage | what |") < md.index("| stage | status |")  # verdicts first
    for s in report["stages"]:
        assert f"| {s['name']} | ran |" in md and s["command"] in md

    # the bundles were made with the recipe's [export] table
    for part in ("encoder", "ac_predictor"):
        manifest = json.loads((chain.out / "bundles" / part / "manifest.json").read_text())
        assert (manifest["target"], manifest["precision"], manifest["part"]) == ("onnxruntime", "int8", part)
    eval_json = json.loads((chain.out / "eval" / "goal_reaching.json").read_text())
    assert eval_json["episodes"] == 2 and eval_json["first_seed"] == 1000
    assert set(eval_json["methods"]) == {"random", "student", "oracle"}

    # each training stage's model dir records the recipe (and still verifies after the amendment)
    wiring = {"pretrain": {}, "distill": {"teacher": str(chain.out / "pretrain" / "model")},
              "train-ac": {"encoder": str(chain.out / "distill" / "model")}}
    for stage, overrides in wiring.items():
        model = chain.snapshot / stage / "model"
        config = json.loads((model / "config.json").read_text())
        assert config["recipe"] == {"name": "tiny", "version": "test", "sha256": chain.sha256,
                                    "overrides": overrides, "stage": stage}
        load_model_dir(model)  # config_sha256 re-signed by amend_config


def test_chain_rerun_is_cached_and_a_changed_table_reruns_from_its_stage(chain):
    out, recipe = chain.out, chain.recipe
    env = {"JEPA_EDGE_CACHE": str(chain.cache)}

    t = time.perf_counter()
    code, report, err = train(recipe, out, env=env)
    seconds = time.perf_counter() - t
    assert code == chain.code, err[-3000:]
    assert statuses(report) == {s: "cached" for s in STAGES}
    assert seconds < max(10.0, chain.seconds / 2), seconds  # ~3 s (the verdicts are measured again)
    assert all(s["seconds"] == 0 and s["built_seconds"] == chain.chain_state["stages"][s["name"]]["seconds"]
               for s in report["stages"])
    assert [v["what"] for v in report["verdicts"]] == [v["what"] for v in chain.report["verdicts"]]
    assert "| pretrain | cached | 0 (built in " in (out / "report.md").read_text()

    # [eval] only: the eval stage alone reruns
    write_recipe(recipe, {"eval": {"samples": 8}})
    code, report, err = train(recipe, out, env=env)
    assert code in (0, 3), err[-3000:]
    assert statuses(report) == {**{s: "cached" for s in STAGES}, "eval": "ran"}
    assert report["recipe"]["sha256"] != chain.sha256
    assert "--planner.samples 8" in report["stages"][-1]["command"]

    # [train-ac]: train-ac (a fresh run over the old one) and everything after it; not the teacher or student
    before = (out / "train-ac" / "metrics.jsonl").read_text()
    write_recipe(recipe, {"eval": {"samples": 8}, "train-ac": {"steps": 4}})
    code, report, err = train(recipe, out, env=env)
    assert code in (0, 3), err[-3000:]
    assert statuses(report) == {"pretrain": "cached", "distill": "cached", **{s: "ran" for s in STAGES[2:]}}
    from jepa_edge.recipe import load_recipe

    config = json.loads((out / "train-ac" / "model" / "config.json").read_text())
    assert config["recipe"]["sha256"] == load_recipe(recipe).sha256 != chain.sha256
    after = (out / "train-ac" / "metrics.jsonl").read_text()
    steps = [json.loads(line).get("step", -1) for line in after.splitlines()]
    assert after != before and max(steps) == 3  # a run of 4 steps (0..3), not the old one's lines
    assert not [p for p in out.rglob("*") if "overwritten" in p.name]  # the old run moved aside, then deleted
    state = json.loads((out / "chain.json").read_text())
    assert all(state["stages"][s]["status"] == "ok" for s in STAGES)

    # and the whole of it is cached again
    code, report, _ = train(recipe, out, env=env)
    assert statuses(report) == {s: "cached" for s in STAGES}


def test_an_interrupted_chain_stops_and_says_so(tmp_path, monkeypatch):
    """A stage that exits 130 (Ctrl-C) ends the chain: exit 130, no verdicts, the stage left "started"
    in chain.json (so the rerun resumes it)."""
    ran = []
    monkeypatch.setattr(cli, "main", lambda argv: ran.append(argv) or 130)
    from jepa_edge.chain.runner import run_chain
    from jepa_edge.recipe import load_recipe

    out = tmp_path / "out"
    result = run_chain(load_recipe(write_recipe(tmp_path / "tiny.toml")), out, say=lambda line: None)
    assert result.exit_code == 130 and result.interrupted and not result.verdicts
    assert [a[0] for a in ran] == ["pretrain"]
    assert json.loads((out / "chain.json").read_text())["stages"]["pretrain"]["status"] == "started"
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True and statuses(report)["pretrain"] == "ran"  # cut short
    assert set(statuses(report).values()) <= {"ran", "not run"}


@pytest.fixture(scope="module")
def failing_chain(chain):
    """The tiny recipe with an export target that does not exist, on the chain's teacher (--teacher):
    distill, train-ac and calibration run, the export fails, what follows is skipped."""
    root = chain.root / "failing"
    root.mkdir()
    teacher = root / "teacher"
    shutil.copytree(chain.snapshot / "pretrain" / "model", teacher)
    recipe = write_recipe(root / "broken.toml", {"export": {"target": "no-such-target"},
                                                 "train-ac": {"ckpt_every": 2}})
    out = root / "out"
    code, report, err = train(recipe, out, "--teacher", str(teacher), env={"JEPA_EDGE_CACHE": str(chain.cache)})
    return SimpleNamespace(recipe=recipe, out=out, teacher=teacher, code=code, report=report, err=err,
                           md=(out / "report.md").read_text(), state=json.loads((out / "chain.json").read_text()))


def test_a_failed_stage_stops_the_chain_and_the_report_names_it(failing_chain):
    f = failing_chain
    assert f.code == 1, f.err[-3000:]
    assert statuses(f.report) == {"distill": "ran", "train-ac": "ran", "calibrate-encoder": "ran",
                                  "calibrate-ac_predictor": "ran", "export-encoder": "failed",
                                  "export-ac_predictor": "skipped", "eval": "skipped"}
    runs = {s["name"]: s for s in f.report["stages"]}
    assert runs["export-encoder"]["error"].startswith("exit 2")
    assert runs["export-ac_predictor"]["error"] == runs["eval"]["error"] == "export-encoder failed"
    assert runs["distill"]["command"].endswith(f"--teacher {f.teacher} --out {f.out / 'distill'}")
    assert "no-such-target" in f.err  # the export's own error line
    assert "export-encoder failed (exit 2" in f.err and runs["export-encoder"]["command"] in f.err
    assert f.state["stages"]["export-encoder"]["status"] == "failed"
    assert "export-ac_predictor" not in f.state["stages"]  # never started
    assert "| export-encoder | failed (exit 2" in f.md
    assert "| eval | skipped (export-encoder failed) |" in f.md
    stages = {v["stage"] for v in f.report["verdicts"]}
    assert "eval" not in stages and "export-ac_predictor" not in stages
    (row,) = [v for v in f.report["verdicts"] if v["stage"] == "export-encoder"]
    assert row["passed"] is None and row["verdict"] == "not measured"
    assert not (f.out / "eval").exists()


def test_a_killed_training_stage_resumes_from_its_checkpoint(failing_chain):
    """train-ac killed after its step-2 checkpoint (model dir not written, chain.json says started):
    the rerun resumes it (--resume), finishes step 3, and gets the weights of the uninterrupted run."""
    f = failing_chain
    run = f.out / "train-ac"
    ckpts = run / "checkpoints"
    assert (ckpts / "step_00000002").is_dir() and (ckpts / "step_00000003").is_dir()
    weights = file_sha(run / "model" / "model.safetensors")
    shutil.rmtree(run / "model")
    shutil.rmtree(ckpts / "step_00000003")
    (ckpts / "latest.json").write_text(json.dumps({"step": 2, "path": "step_00000002"}))
    state = json.loads((f.out / "chain.json").read_text())
    state["stages"]["train-ac"]["status"] = "started"
    (f.out / "chain.json").write_text(json.dumps(state))

    code, report, err = train(f.recipe, f.out, "--teacher", str(f.teacher))
    assert code == 1, err[-3000:]  # the export still fails
    st = statuses(report)
    assert (st["distill"], st["train-ac"], st["calibrate-encoder"], st["export-encoder"]) == \
        ("cached", "resumed", "ran", "failed")
    assert json.loads((f.out / "chain.json").read_text())["stages"]["train-ac"]["status"] == "ok"
    assert (ckpts / "step_00000003").is_dir()
    assert file_sha(run / "model" / "model.safetensors") == weights  # bit-exact on one thread
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["recipe"]["stage"] == "train-ac"
    assert config["recipe"]["overrides"] == {"encoder": str(f.out / "distill" / "model")}  # --resume: no setting


def test_export_takes_target_and_precision_from_the_recipe_unless_given(chain, tmp_path):
    model = chain.snapshot / "train-ac" / "model"
    out = tmp_path / "bundle"
    code = cli.main(["-q", "export", str(model), "--recipe", str(chain.recipe), "--precision", "fp32",
                     "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["target"], manifest["precision"]) == ("onnxruntime", "fp32")  # target from [export]
    # a misspelt [export] key is refused, not ignored
    bad = write_recipe(tmp_path / "bad.toml", {"export": {"precison": "fp16"}})
    assert cli.main(["-q", "export", str(model), "--recipe", str(bad), "--out", str(tmp_path / "b2")]) == 2
    assert not (tmp_path / "b2").exists()
    # the chain's INT8 bundles took both from the recipe (test_chain_runs_every_stage_and_reports_verdicts)


# --- reference models ----------------------------------------------------------------------------

@pytest.fixture
def reference(chain, tmp_path, monkeypatch):
    """The tiny chain packed as reference `tinyref`, with `reference:` looking in tmp_path/ref."""
    from jepa_edge.chain.reference import pack_reference
    from jepa_edge.utils import resources

    dest = tmp_path / "ref" / "tinyref"
    info = pack_reference(chain.snapshot, dest, made_by="jepa-edge train --recipe tiny", packed_by="test")
    real = resources.shipped
    monkeypatch.setattr(resources, "shipped", lambda name: tmp_path / "ref" if name == "reference" else real(name))
    return SimpleNamespace(dest=dest, info=info, source=chain.snapshot / "train-ac" / "model")


def test_pack_reference_stores_fp16_without_the_mask_predictor(reference):
    from safetensors import safe_open

    from jepa_edge.models.model_dir import load_model_dir

    dest, source = reference.dest, reference.source
    original = load_model_dir(source)
    assert original.predictor is not None  # so leaving it out is a real change
    params, buffers = set(), {}
    for part, module in original.parts().items():
        params |= {f"{part}.{k}" for k, _ in module.named_parameters()}
        buffers |= {f"{part}.{k}": v.dtype for k, v in module.state_dict().items() if f"{part}.{k}" not in params}
    with safe_open(str(dest / "model" / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
        assert keys and not [k for k in keys if k.startswith("predictor.")]
        expected = {k for k in params | set(buffers) if not k.startswith("predictor.")}
        assert keys == expected
        for k in keys:
            t = f.get_tensor(k)
            assert t.dtype == (torch.float16 if k in params else buffers[k]), k
    config = json.loads((dest / "model" / "config.json").read_text())
    assert config["parts"] == ["encoder", "ac_predictor"] and "predictor" not in config
    assert config["weights_dtype"] == "float16" and config["source"]["kind"] == "reference"
    assert config["ac"] == json.loads((source / "config.json").read_text())["ac"]  # planner settings kept
    src_bytes = (source / "model.safetensors").stat().st_size
    assert (dest / "model" / "model.safetensors").stat().st_size < 0.6 * src_bytes

    # loads back as fp32 modules computing what the fp32 original does, to fp16 precision
    packed = load_model_dir(dest / "model")
    assert packed.predictor is None
    assert all(p.dtype == torch.float32 for m in packed.parts().values() for p in m.parameters())
    torch.manual_seed(0)
    cfg = original.encoder_cfg
    x = torch.randn(2, cfg.in_chans, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        want, got = original.encoder(x), packed.encoder(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).abs().max() <= 1e-2 * want.abs().max()
    assert not torch.equal(got, want)  # fp16 weights: close, not the same
    for (name, p), q in zip(original.ac_predictor.named_parameters(), packed.ac_predictor.parameters()):
        assert torch.equal(p.detach().half().float(), q.detach()), name

    # reference.json: every file's sha256, the recipe, the chain's verdicts; files readable by all
    info = json.loads((dest / "reference.json").read_text())
    assert info == reference.info
    assert set(info["files"]) == {"model/config.json", "model/model.safetensors"}
    for rel, sha in info["files"].items():
        assert file_sha(dest / rel) == sha
    assert info["bytes"] == sum((dest / rel).stat().st_size for rel in info["files"])
    assert info["recipe"]["name"] == "tiny" and info["weights_dtype"] == "float16"
    assert info["chain"]["verdicts"] == json.loads((reference.source.parents[1] / "report.json").read_text())["verdicts"]
    for p in (dest / "reference.json", dest / "model" / "model.safetensors", dest / "model" / "config.json"):
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_reference_name_resolves_verifies_and_catches_tampering(reference):
    import jepa_edge
    from jepa_edge.chain.reference import reference_info, verify_reference
    from jepa_edge.models.model_dir import resolve_model_path

    dest = reference.dest
    assert resolve_model_path("reference:tinyref") == dest / "model"
    assert verify_reference("tinyref") == verify_reference("reference:tinyref") == dest / "model"
    assert reference_info("tinyref")["name"] == "tinyref"
    bundle = jepa_edge.load("reference:tinyref")
    assert bundle.predictor is None and bundle.ac_predictor is not None
    with pytest.raises(ConfigError, match="no reference model 'nope'; shipped: tinyref"):
        jepa_edge.load("reference:nope")

    weights = dest / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="model/model.safetensors is missing or does not match"):
        verify_reference("tinyref")
    with pytest.raises(CheckpointError, match="sha256"):
        jepa_edge.load("reference:tinyref")
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    verify_reference("tinyref")
    (dest / "model" / "config.json").unlink()
    with pytest.raises(ConfigError, match="model/config.json is missing"):
        verify_reference("tinyref")


def test_reference_bundles_are_built_once_and_cached(reference, chain, tmp_path, monkeypatch):
    from jepa_edge.chain import reference as R
    from jepa_edge.utils import resources

    recipes = tmp_path / "recipes"  # the reference's recipe, as if shipped
    recipes.mkdir()
    write_recipe(recipes / "tiny.toml")
    patched = resources.shipped
    monkeypatch.setattr(resources, "shipped", lambda name: recipes if name == "recipes" else patched(name))
    monkeypatch.setenv("JEPA_EDGE_CACHE", str(tmp_path / "cache"))
    said = []
    enc, ac = R.reference_bundles("reference:tinyref", say=said.append)
    assert len(said) == 1 and "building its INT8 bundles once" in said[0]
    assert enc.is_relative_to(tmp_path / "cache" / "reference") and ac.parent == enc.parent
    for path, part in ((enc, "encoder"), (ac, "ac_predictor")):
        m = json.loads((path / "manifest.json").read_text())
        assert (m["target"], m["precision"], m["part"]) == ("onnxruntime", "int8", part)

    # the second call builds nothing
    monkeypatch.setattr(cli, "main", lambda argv: pytest.fail(f"rebuilt: {argv}"))
    said.clear()
    assert R.reference_bundles("tinyref", say=said.append) == (enc, ac) and not said


def _shipped_references() -> list[str]:
    from jepa_edge.utils.resources import MissingPackageData, shipped

    try:
        return sorted(p.parent.name for p in shipped("reference").glob("*/reference.json"))
    except MissingPackageData:
        pytest.skip("this checkout has no reference/ models")


def test_unknown_reference_names_the_shipped_ones():
    import jepa_edge

    names = _shipped_references()
    with pytest.raises(ConfigError) as e:
        jepa_edge.load("reference:nope")
    assert str(e.value) == f"no reference model 'nope'; shipped: {', '.join(names)}"
    assert "tabletop-reach" in names


def test_the_shipped_references_match_their_hashes_and_recipes():
    from jepa_edge.chain.reference import reference_info, verify_reference
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.recipe import load_recipe

    for name in _shipped_references():
        model = verify_reference(name)
        info = reference_info(name)
        assert info["weights_dtype"] == "float16"
        # its INT8 bundles are built with this recipe's [calibrate] and [export] (reference_bundles)
        assert load_recipe(info["recipe"]["name"]).version == info["recipe"]["version"]
        bundle = load_model_dir(model)
        assert bundle.predictor is None and bundle.ac_predictor is not None
        assert all(p.dtype == torch.float32 for m in bundle.parts().values() for p in m.parameters())
