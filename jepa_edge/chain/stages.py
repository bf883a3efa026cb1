"""The stage table of `jepa-edge train --recipe NAME --out DIR`: teacher -> student -> AC predictor
-> calibration -> INT8 export -> goal evaluation.

Every stage is one public `jepa-edge` command line (as the demo's steps are), so the table is also
the worked example a user can copy, and a stage run by hand into the same folder is one the chain
picks up. The recipe supplies each command's settings (`--recipe`); the table supplies only the
wiring: which stage's output is the next one's input.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from jepa_edge.errors import ConfigError
from jepa_edge.recipe import Recipe

# [eval]'s keys and their defaults: the goal-reaching evaluation the chain ends with
# (threshold: the share of goals the student is held to; 0: none, only "beats random")
EVAL_DEFAULTS = {"goals": 40, "first_seed": 1000, "max_steps": 60, "samples": 256, "iterations": 4, "horizon": 1,
                 "threshold": 0.8}
CALIBRATE_DEFAULTS = {"count": 300, "held_out": 100}
EXPORT_KEYS = ("target", "precision")  # [export]'s keys: `jepa-edge export`'s flags of those names


@dataclass(frozen=True)
class Stage:
    name: str  # also its folder under --out
    title: str
    argv: tuple[str, ...]  # after `jepa-edge`
    inputs: tuple[Path, ...]  # folders whose content the stage reads: hashed into its cache key
    output: Path  # the folder it writes
    done: Path  # exists when the stage succeeded
    section: str  # the recipe table it reads
    training: bool = False  # a training run: a killed one resumes from its newest checkpoint

    @property
    def command(self) -> str:
        return "jepa-edge " + shlex.join(self.argv)


@dataclass(frozen=True)
class ChainLayout:
    out: Path

    @property
    def teacher(self) -> Path:
        return self.out / "pretrain" / "model"

    @property
    def student(self) -> Path:
        return self.out / "distill" / "model"

    @property
    def model(self) -> Path:  # student encoder + AC predictor: what the bundles are made from
        return self.out / "train-ac" / "model"

    def calib(self, part: str) -> Path:
        return self.out / "calibration" / part

    def bundle(self, part: str) -> Path:
        return self.out / "bundles" / part

    @property
    def eval_json(self) -> Path:
        return self.out / "eval" / "goal_reaching.json"


def _check_keys(recipe: Recipe, table: str, known) -> dict:
    found = recipe.section(table)
    unknown = sorted(set(found) - set(known))
    if unknown:
        raise ConfigError(f"recipe {recipe.path}: unknown key(s) {', '.join(unknown)} in [{table}]; "
                          f"known: {', '.join(known)}")
    return found


def eval_settings(recipe: Recipe) -> dict:
    return {**EVAL_DEFAULTS, **_check_keys(recipe, "eval", EVAL_DEFAULTS)}


def export_settings(recipe: Recipe) -> dict:
    """[export], its keys checked (a misspelt one would otherwise be ignored without a word)."""
    return _check_keys(recipe, "export", EXPORT_KEYS)


def check_recipe(recipe: Recipe) -> None:
    """Every table checked before the chain runs anything: a misspelt key of [train-ac] would otherwise
    surface only when that stage starts (after the teacher and the student are trained), and one of
    [calibrate] or [export] never. The training tables are built into their configs, the model dirs
    the chain wires in stood in for by placeholders."""
    from jepa_edge.training.ac import TrainACConfig
    from jepa_edge.training.distill import DistillConfig
    from jepa_edge.training.pretrain import PretrainConfig
    from jepa_edge.utils import config as C

    for table, cls, wired in (("pretrain", PretrainConfig, {}), ("distill", DistillConfig, {"teacher": "-"}),
                              ("train-ac", TrainACConfig, {"encoder": "-"})):
        try:
            C.build(cls, {**wired, **recipe.section(table)})
        except ConfigError as e:
            raise ConfigError(f"recipe {recipe.path}: [{table}] {e}") from None
    _check_keys(recipe, "calibrate", CALIBRATE_DEFAULTS)
    export_settings(recipe)
    eval_settings(recipe)


def int8_stages(recipe: Recipe, model: Path, L: ChainLayout) -> list[Stage]:
    """Calibrate, then export, the encoder and the AC predictor of `model` with the recipe's
    settings, into L.calib(part) and L.bundle(part): the chain's INT8 stages, and how a shipped
    reference model's bundles are built on first use (chain/reference.py)."""
    cal = {**CALIBRATE_DEFAULTS, **_check_keys(recipe, "calibrate", CALIBRATE_DEFAULTS)}
    export = export_settings(recipe)
    sizes = ("--count", str(cal["count"]), "--held-out", str(cal["held_out"]))
    parts = (("encoder", ()), ("ac_predictor", ("--part", "ac_predictor")))
    stages = [Stage(f"calibrate-{part}", f"record the {part}'s INT8 calibration set (+ held-out split)",
                    ("calibrate", str(model), *extra, "--out", str(L.calib(part)), *sizes),
                    inputs=(model,), output=L.calib(part), done=L.calib(part) / "manifest.json", section="calibrate")
              for part, extra in parts]
    for part, extra in parts:
        bundle = L.bundle(part)
        stages.append(Stage(f"export-{part}", f"quantize the {part} ({export.get('target', '?')}, "
                            f"{export.get('precision', '?')}) and gate it against FP32",
                            ("export", str(model), "--recipe", recipe.ref, *extra, "--calib", str(L.calib(part)),
                             "--out", str(bundle), "--json", str(bundle.with_suffix(".json"))),
                            inputs=(model, L.calib(part)), output=bundle, done=bundle.with_suffix(".json"),
                            section="export"))
    return stages


def chain_stages(recipe: Recipe, out: str | Path, teacher: str | Path | None = None) -> list[Stage]:
    """The ordered stages. `teacher`: an existing teacher model dir instead of the pretrain stage."""
    check_recipe(recipe)
    L = ChainLayout(Path(out))
    r = recipe.ref
    stages: list[Stage] = []
    teacher_dir = Path(teacher) if teacher else L.teacher
    if teacher is None:
        stages.append(Stage("pretrain", "pretrain the teacher", ("pretrain", "--recipe", r, "--out", str(L.out / "pretrain")),
                            inputs=(), output=L.out / "pretrain", done=L.teacher / "config.json", section="pretrain",
                            training=True))
    stages.append(Stage("distill", "distill the student from the teacher",
                        ("distill", "--recipe", r, "--teacher", str(teacher_dir), "--out", str(L.out / "distill")),
                        inputs=(teacher_dir,), output=L.out / "distill", done=L.student / "config.json",
                        section="distill", training=True))
    stages.append(Stage("train-ac", "train the AC predictor on the frozen student, then measure the planner settings",
                        ("train-ac", "--recipe", r, "--encoder", str(L.student), "--out", str(L.out / "train-ac")),
                        inputs=(L.student,), output=L.out / "train-ac", done=L.model / "config.json",
                        section="train-ac", training=True))
    stages += int8_stages(recipe, L.model, L)
    e = eval_settings(recipe)
    stages.append(Stage("eval", f"goal reaching, {e['goals']} reach goals on world seeds from {e['first_seed']}: "
                        "the INT8 student beside random and oracle", (
                            "run", "--episodes", str(e["goals"]), "--first-seed", str(e["first_seed"]),
                            "--methods", "random,student,oracle",
                            "--models.encoder", str(L.bundle("encoder")), "--models.predictor", str(L.bundle("ac_predictor")),
                            "--sim.max_steps", str(e["max_steps"]), "--planner.samples", str(e["samples"]),
                            "--planner.iterations", str(e["iterations"]), "--planner.horizon", str(e["horizon"]),
                            "--json", str(L.eval_json)),
                        inputs=(L.bundle("encoder"), L.bundle("ac_predictor")), output=L.eval_json.parent,
                        done=L.eval_json, section="eval"))
    return stages
