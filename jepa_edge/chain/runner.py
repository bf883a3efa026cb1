"""Run a recipe's stage table (stages.py): each stage is `jepa_edge.cli.main(argv)`, what a user would type.

A stage is skipped when the chain already ran it with the same key: a sha256 over its command line,
its recipe table, the content of every folder it reads (utils/files.py dir_hash, as bench's bundle
cache) and the jepa-edge version. A change anywhere upstream changes the key, and so every key after
it. A training stage that was killed resumes from its newest checkpoint (`--resume`, which refuses
a checkpoint of another config); one whose key changed starts over (`--overwrite`, which moves the
old run aside atomically). The other stages are quick and rerun from scratch.

The chain's state is DIR/chain.json, written atomically after every stage; its report is
DIR/report.md and DIR/report.json, opening with the verdicts (verdict.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from jepa_edge.chain import verdict as V
from jepa_edge.chain.stages import ChainLayout, Stage, chain_stages, eval_settings
from jepa_edge.recipe import Recipe
from jepa_edge.utils.files import atomic_write_json, atomic_write_text, dir_hash, read_json

STATE = "chain.json"


@dataclass
class StageRun:
    name: str
    title: str
    command: str
    status: str = "not run"  # ran | resumed | cached | failed | skipped
    seconds: float = 0.0  # this run's wall time (0 for cached)
    built_seconds: float = 0.0  # what building it took (cached: the earlier run's; training: its own clock)
    error: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "command": self.command, "status": self.status,
                "seconds": round(self.seconds, 1), "built_seconds": round(self.built_seconds, 1), "error": self.error}


@dataclass
class ChainResult:
    recipe: dict
    out: Path
    stages: list[StageRun]
    verdicts: list[V.Verdict] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> list[StageRun]:
        return [s for s in self.stages if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0: every stage ran and every threshold was met; 1: a stage failed; 3: every stage ran, a
        threshold was missed; 130: interrupted."""
        if self.interrupted:
            return 130
        if self.failed:
            return 1
        return 3 if any(v.passed is False for v in self.verdicts) else 0

    def to_dict(self) -> dict:
        passed, held = V.verdict_counts(self.verdicts)
        return {"recipe": self.recipe, "out": str(self.out), "seconds": round(self.seconds, 1),
                "built_seconds": round(sum(s.built_seconds for s in self.stages), 1),
                "interrupted": self.interrupted, "thresholds_met": f"{passed}/{held}",
                "verdicts": [v.to_dict() for v in self.verdicts], "stages": [s.to_dict() for s in self.stages]}


def stage_key(stage: Stage, recipe: Recipe) -> str:
    from jepa_edge import __version__

    # the recipe by its table's content, not by its name: a copy of a recipe that changes only a later
    # table reuses the stages before it
    argv = ["<recipe>" if a == recipe.ref else a for a in stage.argv]
    blob = json.dumps({"argv": argv, "recipe": recipe.section(stage.section),
                       "inputs": {str(p): dir_hash(p) for p in stage.inputs}, "jepa_edge": __version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _load_state(out: Path) -> dict:
    try:
        state = read_json(out / STATE, ValueError, "")
        return state if isinstance(state, dict) and isinstance(state.get("stages"), dict) else {"stages": {}}
    except Exception:  # noqa: BLE001 - no state (or an unreadable one): every stage is checked afresh
        return {"stages": {}}


def _training_clock(stage: Stage) -> float:
    """A training stage's own wall clock (its metrics' last "time": it continues across resumes, so
    a run resumed here, or run by hand before, counts whole); 0 for other stages."""
    if not stage.training:
        return 0.0
    try:
        lines = (stage.output / "metrics.jsonl").read_text().splitlines()
        return float(json.loads(lines[-1]).get("time", 0.0)) if lines else 0.0
    except (OSError, ValueError):
        return 0.0


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def run_chain(recipe: Recipe, out: str | Path, *, teacher: str | Path | None = None, threads: int | None = None,
              say=print) -> ChainResult:
    from jepa_edge.cli import main as cli_main
    from jepa_edge.training.common import holds_run

    out = Path(out)
    stages = chain_stages(recipe, out, teacher)  # the recipe checked before anything is written
    out.mkdir(parents=True, exist_ok=True)
    if threads:  # the training commands read it (cli_args.apply_threads); the others use torch's setting
        os.environ["JEPA_EDGE_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)
    state = _load_state(out)
    state["recipe"] = recipe.record()
    result = ChainResult(recipe=recipe.record(), out=out,
                         stages=[StageRun(s.name, s.title, s.command) for s in stages])
    t0 = time.perf_counter()
    blocked = ""
    try:
        for i, (stage, run) in enumerate(zip(stages, result.stages), 1):
            head = f"[{i}/{len(stages)}] {stage.name}: {stage.title}"
            if blocked:
                run.status, run.error = "skipped", f"{blocked} failed"
                say(f"{head}: skipped ({blocked} failed)")
                continue
            key = stage_key(stage, recipe)
            seen = state["stages"].get(stage.name, {})
            if seen.get("status") == "ok" and seen.get("key") == key and stage.done.exists():
                run.status = "cached"
                run.built_seconds = max(float(seen.get("seconds", 0.0)), _training_clock(stage))
                say(f"{head}: cached (same inputs, key {key})")
                continue
            argv = list(stage.argv)
            run.status = "ran"
            if stage.training and holds_run(stage.output):
                if seen.get("key") in (None, key):  # killed mid-run, or run by hand with the recipe
                    argv.append("--resume")
                    run.status = "resumed"
                else:
                    argv.append("--overwrite")
            elif not stage.training:
                _remove(stage.output)
                _remove(stage.done)
            say(f"{head}\n  $ jepa-edge {' '.join(argv)}")
            state["stages"][stage.name] = {"key": key, "status": "started", "command": run.command}
            atomic_write_json(out / STATE, state)
            t = time.perf_counter()
            code = cli_main(argv)
            run.seconds = time.perf_counter() - t
            run.built_seconds = max(run.seconds, _training_clock(stage))
            if code == 130:
                raise KeyboardInterrupt
            if code != 0 or not stage.done.exists():
                run.status, run.error = "failed", f"exit {code}" + ("" if stage.done.exists() else f", no {stage.done}")
                blocked = stage.name
                state["stages"][stage.name].update(status="failed", seconds=round(run.seconds, 1))
            else:
                state["stages"][stage.name].update(status="ok", seconds=round(run.built_seconds, 1))
            atomic_write_json(out / STATE, state)
            say(f"  {stage.name}: {run.status} in {run.seconds:.0f} s" + (f" ({run.error})" if run.error else ""))
    except KeyboardInterrupt:
        result.interrupted = True
    result.seconds = time.perf_counter() - t0
    if not result.interrupted:
        result.verdicts = chain_verdicts(recipe, out, {s.name: s for s in result.stages})
    write_report(result)
    return result


def chain_verdicts(recipe: Recipe, out: Path, runs: dict[str, StageRun]) -> list[V.Verdict]:
    L = ChainLayout(out)
    verdicts: list[V.Verdict] = []
    if runs["train-ac"].status not in ("failed", "skipped"):
        verdicts.append(V.ac_beats_copy_last("train-ac", L.model))
        verdicts.append(planner_settings_row(L.model))
    for part in ("encoder", "ac_predictor"):
        if runs[f"export-{part}"].status != "skipped":
            verdicts.append(V.int8_cosine(f"export-{part}", L.bundle(part).with_suffix(".json"), part))
    if runs["eval"].status not in ("failed", "skipped"):
        threshold = eval_settings(recipe)["threshold"]
        verdicts += V.goal_reaching("eval", L.eval_json, threshold=threshold or None)
    return verdicts


def planner_settings_row(model_dir: Path) -> V.Verdict:
    """The planner settings train-ac measured (no threshold: what `run` will plan with)."""
    try:
        ac = read_json(model_dir / "config.json", ValueError, "rerun train-ac").get("ac") or {}
    except Exception as e:  # noqa: BLE001
        return V.Verdict("train-ac", "planner settings measured", "-", "", None, f"not measured: {e}")
    found = ac.get("planner_search") or {}
    if not found.get("measured"):
        return V.Verdict("train-ac", "planner settings measured", "-", "", None,
                         found.get("reason", "no planner search recorded"))
    shown = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in found["chosen"].items())
    return V.Verdict("train-ac", f"planner settings measured on {found['episodes']} episodes "
                     f"(seeds {found['seeds'][0]}-{found['seeds'][1]})", shown, "", None)


def write_report(result: ChainResult) -> None:
    d = result.to_dict()
    atomic_write_json(result.out / "report.json", d)
    passed, held = V.verdict_counts(result.verdicts)
    lines = [f"# jepa-edge train --recipe {result.recipe['name']} (version {result.recipe['version']})", "",
             f"Thresholds met: **{passed} of {held}**. Wall time this run {result.seconds / 60:.1f} min; "
             f"the stages' own build time {d['built_seconds'] / 60:.1f} min.", ""]
    lines += V.verdict_markdown(result.verdicts)
    lines += ["", "| stage | status | seconds | command |", "|---|---|---|---|"]
    for s in result.stages:
        built = s.status == "cached" or s.built_seconds > s.seconds + 1  # cached, or a resumed/hand-run training stage
        shown = f"{s.seconds:.0f}" + (f" (built in {s.built_seconds:.0f})" if built else "")
        lines.append(f"| {s.name} | {s.status}{' (' + s.error + ')' if s.error else ''} | {shown} | `{s.command}` |")
    atomic_write_text(result.out / "report.md", "\n".join(lines) + "\n")
