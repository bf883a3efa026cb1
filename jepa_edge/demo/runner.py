"""Run the demo's step table: each step is `jepa_edge.cli.main(argv)`, exactly what a user would type.

Before a step runs, its command line is printed; after, its wall-clock, status and numbers are
recorded. A failed step does not stop the steps that do not depend on it; the ones that do are
skipped, and the report names the failed step and the command that reruns it. Ctrl-C stops the
demo after writing the report of what ran.

The demo's own chain (`train --recipe demo --out DIR/chain`) caches each stage by its inputs'
content hash, so a second demo into the same folder retrains nothing that has not changed
(`--no-cache` starts it over). The reference model's INT8 bundles are built once and cached in
$JEPA_EDGE_CACHE (default ~/.cache/jepa-edge).
"""
from __future__ import annotations

import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

from jepa_edge.chain.verdict import Verdict
from jepa_edge.demo import metrics as M
from jepa_edge.demo.plan import FULL, DemoSizes, Layout, Step, demo_steps
from jepa_edge.errors import ConfigError

MARKER = ".jepa-edge-demo"  # says "this folder is a demo's; the demo may rewrite it"
# What the demo writes under --out: cleared before a rerun, except the chain (its stages decide).
OWNED = ("chain", "bundles", "bench", "reference", "loop", "report", "cache")


@dataclass
class StepResult:
    name: str
    title: str
    command: str
    status: str = "not run"  # ok | failed | skipped | not run
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process (all threads) during the step
    exit_code: int | None = None
    error: str = ""
    note: str = ""  # e.g. a traceback
    plots: list[str] = field(default_factory=list)
    metrics: list[M.Metric] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "command": self.command, "status": self.status,
                "seconds": round(self.seconds, 1), "cpu_seconds": round(self.cpu_seconds, 1),
                "exit_code": self.exit_code, "error": self.error,
                "note": self.note, "plots": self.plots, "metrics": [m.to_dict() for m in self.metrics]}


@dataclass
class DemoResult:
    out: Path
    sizes: DemoSizes
    command: str
    steps: list[StepResult]
    seconds: float = 0.0
    started: str = ""
    interrupted: bool = False
    report_dir: Path | None = None
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(s.status == "ok" for s in self.steps)

    @property
    def thresholds_missed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.passed is False]

    @property
    def exit_code(self) -> int:
        """0: every step ran and every threshold was met (--quick: its tiny sizes are held to none);
        1: a step failed; 3: every step ran, a threshold was missed; 130: interrupted."""
        if not self.ok:
            return 130 if self.interrupted else 1
        return 3 if self.thresholds_missed and self.sizes.name != "quick" else 0

    @property
    def metrics(self) -> list[M.Metric]:
        return [m for s in self.steps for m in s.metrics]

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.status == "failed"]


def prepare_out(out: Path) -> None:
    """Use an empty or missing folder, or one a previous demo wrote (its outputs are replaced)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"--out {out} is not empty and was not written by `jepa-edge demo`; "
                          "give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `jepa-edge demo`; rerunning the demo here replaces its contents\n")


def clear_outputs(out: Path, keep: set[str]) -> None:
    for name in OWNED:
        if name not in keep and (out / name).exists():
            shutil.rmtree(out / name)


# ----------------------------------------------------------------------------- one step

def call_cli(argv: tuple[str, ...]) -> int:
    """`jepa-edge ARGV` in this process; sys.argv is what the user's shell would have given."""
    from jepa_edge.cli import main

    saved = sys.argv
    sys.argv = ["jepa-edge", *argv]
    try:
        return main(list(argv))
    except SystemExit as e:  # argparse: bad flags exit 2 after printing usage
        return e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = saved


def run_step(step: Step, res: StepResult, layout: Layout) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        code = call_cli(step.argv)
        res.exit_code = code
        if code == 130:
            raise KeyboardInterrupt
        if code not in step.ok_codes:
            res.status, res.error = "failed", f"exited with code {code} (its message is printed above)"
            return
        missing = [p for p in step.outputs if not Path(p).exists()]
        if missing:
            res.status, res.error = "failed", f"finished but did not write {', '.join(missing)}"
            return
        reader = M.readers(layout).get(step.name)
        res.metrics = [replace(m, step=step.name) for m in (reader() if reader else [])]
        res.plots = [p for p in step.plots if Path(p).exists()]
        res.status = "ok"
    except KeyboardInterrupt:
        res.status, res.error = "failed", "interrupted (Ctrl-C)"
        raise
    except Exception as e:  # noqa: BLE001 - a crash is this step's failure; the report keeps the traceback
        res.status = "failed"
        res.error = f"{type(e).__name__}: {e}"
        res.note = traceback.format_exc()
    finally:
        res.seconds, res.cpu_seconds = time.perf_counter() - t0, time.process_time() - c0


# ----------------------------------------------------------------------------- the demo

def run_demo(out: str | Path, sizes: DemoSizes = FULL, *, teacher: str | Path | None = None, use_cache: bool = True,
             command: str = "jepa-edge demo", console=None) -> DemoResult:
    """Run every step, write the report folder, print the summary; returns the result (exit_code)."""
    from rich.console import Console

    from jepa_edge.demo.report import demo_verdicts, print_summary, write_report

    console = console or Console(width=None if sys.stdout.isatty() else 160)
    out = Path(out)
    if teacher is not None and not (Path(teacher) / "config.json").exists():
        if (Path(teacher) / "model" / "config.json").exists():  # a pretrain run dir: its model/
            teacher = Path(teacher) / "model"
        else:
            raise ConfigError(f"--reuse-teacher {teacher}: no config.json there (nor in {teacher}/model); "
                              "give a model dir, e.g. runs/demo/chain/pretrain/model")
    prepare_out(out)
    layout = Layout(out)
    steps = demo_steps(out, sizes, teacher)
    clear_outputs(out, keep=set() if not use_cache else {"chain"})

    results = [StepResult(s.name, s.title, s.command) for s in steps]
    demo = DemoResult(out, sizes, command, results, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    t0 = time.perf_counter()
    console.print(f"[bold]jepa-edge demo[/bold] ({sizes.name}): {len(steps)} steps, outputs in {out}")
    if teacher is not None:
        console.print(f"teacher: {teacher} (--reuse-teacher; no pretraining)")
    try:
        by_name = {r.name: r for r in results}
        for i, (step, res) in enumerate(zip(steps, results), 1):
            elapsed = time.perf_counter() - t0
            console.rule(f"[bold]step {i}/{len(steps)}[/bold]: {step.title}  [dim]({_mmss(elapsed)} elapsed)[/dim]")
            blocked = [n for n in step.needs if by_name[n].status != "ok"]
            if blocked:
                res.status, res.error = "skipped", f"needs {', '.join(blocked)}, which did not succeed"
                console.print(f"[yellow]skipped[/yellow]: {res.error}")
                continue
            console.print(f"$ {step.command}", markup=False, highlight=False, soft_wrap=True)
            run_step(step, res, layout)
            if res.status == "ok":
                console.print(f"[green]ok[/green] {step.name} in {res.seconds:.1f} s")
            else:
                console.print(f"[red]FAILED[/red] step '{step.name}' after {res.seconds:.1f} s: {res.error}")
                console.print(f"rerun it with: {step.command}", markup=False, highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        demo.interrupted = True
        console.print("[red]interrupted[/red]: writing the report of what ran")
    demo.seconds = time.perf_counter() - t0
    demo.verdicts = demo_verdicts(layout, sizes, {r.name: r.status for r in results})
    demo.report_dir = write_report(demo, layout.report_dir)
    print_summary(demo, console)
    return demo


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
