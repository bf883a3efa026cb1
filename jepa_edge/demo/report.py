"""The demo's report folder and its one summary table.

report/
  report.md      what ran (every command, status, wall-clock), the numbers, the plots, how to rerun
  summary.json   the same as data: steps, metrics (value == what the table printed), machine, sizes
  *.png          the steps' plots (loss curves, eval, bench), copied, plus step_times.png
"""
from __future__ import annotations

import shutil
from pathlib import Path

from jepa_edge.chain import verdict as V
from jepa_edge.demo.plan import REFERENCE, DemoSizes, Layout
from jepa_edge.utils.files import atomic_write_json, atomic_write_text, read_json

SCHEMA = "jepa-edge-demo"
SCHEMA_VERSION = 2  # 2: verdicts, the chain and the reference model
STATUS_STYLE = {"ok": "green", "failed": "red", "skipped": "yellow", "not run": "dim"}


HOW_TO_READ = """How to read them:
- **loss**: the JEPA L1 loss on layer-normed target tokens; it should fall (see the loss plots).
- **probe R²**: a ridge regression from frozen features to the true positions, on held-out clips
  (1 = perfect, 0 = no better than the mean). Small budgets give small R²; `jepa-edge eval --random-init`
  gives the floor to compare with.
- **AC rollout L1 vs copy-last**: the action-conditioned predictor's error on future latents against
  the baseline that predicts "nothing changes"; lower than copy-last means the predictor uses the actions.
- **INT8 token cosine**: per-token cosine between INT8 and FP32 outputs on the calibration set's
  held-out split; the export fails (non-zero exit, bundle marked failed_gate) below its thresholds.
- **latency**: single-image p50/p99 with one thread, all rows timed interleaved in one run.
- **goal reaching**: episodes in the built-in world through the firmware simulator; `random` is the
  floor and `oracle` (the world's controller on true state) the ceiling for the planner. The
  reference model (reference:tabletop-reach, the `tabletop-reach` recipe's result) is what your own
  model is compared against: `jepa-edge train --recipe tabletop-reach` rebuilds it."""


def demo_verdicts(layout: Layout, sizes: DemoSizes, status: dict[str, str]) -> list[V.Verdict]:
    """The report's opening table: the demo's own chain (its AC predictor against copy-last, the
    INT8 gates, its student against random), the reference model's goal reaching, the loop's tick p99."""
    out: list[V.Verdict] = []
    chain_report = layout.chain / "report.json"
    if chain_report.exists():
        for d in read_json(chain_report, ValueError, "rerun the demo").get("verdicts", []):
            d = {k: v for k, v in d.items() if k != "verdict"}
            out.append(V.Verdict(**{**d, "stage": f"own {d['stage']}"}))
    else:
        out.append(V.Verdict("own chain", "the demo's own chain", "-", "", None, f"not measured: train {status.get('train')}"))
    if status.get("reference") == "ok":
        out += V.goal_reaching("reference", layout.reference_json, threshold=sizes.reference_threshold,
                               who=f"{REFERENCE} INT8")[:1]
    else:
        out.append(V.Verdict("reference", f"{REFERENCE} INT8: goals reached", "-", f"≥ {100 * sizes.reference_threshold:.0f}%",
                             None, f"not measured: the step {status.get('reference')}"))
    what = "real-time loop: perception tick p99 (planner running)"
    if status.get("loop") == "ok":
        s = read_json(layout.loop_json, ValueError, "rerun the loop step")["summary"]
        p99 = (s["stages_ms"].get("tick") or {}).get("p99")
        shown = f"{p99:.1f} ms ({s['ticks']} ticks, replans {s['planner']['replan_rate_hz']} Hz)" if p99 is not None else "-"
        out.append(V.Verdict("loop", what, shown, f"≤ {sizes.loop_p99_ms:g} ms",
                             None if p99 is None else p99 <= sizes.loop_p99_ms,
                             "" if p99 is None or p99 <= sizes.loop_p99_ms else
                             f"{100 * s['deadline_miss_rate']:.1f}% deadline misses; a loaded machine slows the tick"))
    else:
        out.append(V.Verdict("loop", what, "-", f"≤ {sizes.loop_p99_ms:g} ms", None,
                             f"not measured: the step {status.get('loop')}"))
    return out


def summary_dict(demo) -> dict:
    from jepa_edge.demo.plan import sizes_dict
    from jepa_edge.utils.device_info import describe

    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "command": demo.command, "machine": describe(), "sizes": sizes_dict(demo.sizes),
        "started": demo.started, "seconds": round(demo.seconds, 1),
        "cpu_seconds": round(sum(s.cpu_seconds for s in demo.steps), 1), "ok": demo.ok, "exit_code": demo.exit_code,
        "interrupted": demo.interrupted, "out": str(demo.out),
        "thresholds_met": "{}/{}".format(*V.verdict_counts(demo.verdicts)),
        "verdicts": [v.to_dict() for v in demo.verdicts],
        "steps": [s.to_dict() for s in demo.steps],
        "metrics": [m.to_dict() for m in demo.metrics],
    }


def write_report(demo, report_dir: Path) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = []
    for s in demo.steps:
        names = [Path(p).name for p in s.plots]
        for p in s.plots:  # a step with several plots of one name (train's loss.png): name them by folder
            folder = f"{Path(p).parent.name}-" if names.count(Path(p).name) > 1 else ""
            dst = report_dir / f"{s.name}-{folder}{Path(p).name}"
            shutil.copy2(p, dst)
            plots.append((s, dst.name))
    if any(s.seconds for s in demo.steps):
        step_times_png(demo, report_dir / "step_times.png")
        plots.append((None, "step_times.png"))
    summary = summary_dict(demo)
    summary["plots"] = [name for _, name in plots]
    atomic_write_json(report_dir / "summary.json", summary)
    atomic_write_text(report_dir / "report.md", report_markdown(demo, summary, plots))
    return report_dir


def report_markdown(demo, summary: dict, plots) -> str:
    m = summary["machine"]
    passed, held = V.verdict_counts(demo.verdicts)
    verdict = (f"all steps ran, {passed} of {held} thresholds met" if demo.ok else
               "interrupted" if demo.interrupted else f"FAILED: {', '.join(s.name for s in demo.failed) or 'see below'}")
    lines = [
        f"# jepa-edge demo ({demo.sizes.name}): {verdict}", "",
        *(["--quick: tiny sizes that check every step runs; its numbers are not held to the thresholds.", ""]
          if demo.sizes.name == "quick" else []),
        *V.verdict_markdown(demo.verdicts), "",
        f"`{demo.command}` took {demo.seconds:.0f} s on {m.get('cpu')} ({m.get('cores')} cores, "
        f"{', '.join(m.get('gpus') or []) or 'no GPU'}), started {demo.started}.", "",
        "CPU s is this process's CPU time (all threads): on a busy machine wall-clock grows, CPU time much less.", "",
        "Every step below is a public `jepa-edge` command; run them one by one to reproduce the demo.", "",
        "## Steps", "",
        "| # | step | status | seconds | CPU s | command |", "|---|---|---|---:|---:|---|",
    ]
    for i, s in enumerate(demo.steps, 1):
        lines.append(f"| {i} | {s.title} | {s.status} | {s.seconds:.1f} | {s.cpu_seconds:.1f} | `{s.command}` |")
    notes = [s for s in demo.steps if s.note and s.status == "ok"]
    if notes:
        lines += [""] + [f"- {s.name}: {s.note}" for s in notes]
    bad = [s for s in demo.steps if s.status in ("failed", "skipped")]
    if bad:
        lines += ["", "## What went wrong", ""]
        for s in bad:
            lines.append(f"- **{s.name}** {s.status}: {s.error}. Rerun: `{s.command}`")
            if s.status == "failed" and s.note.startswith("Traceback"):
                lines += ["", "```", s.note.rstrip(), "```", ""]
    lines += ["", "## Numbers", "", "| step | what | value | unit |", "|---|---|---:|---|"]
    for x in demo.metrics:
        lines.append(f"| {x.step} | {x.label} | {x.display} | {x.unit} |")
    lines += ["", HOW_TO_READ]
    if plots:
        lines += ["", "## Plots", ""]
        for s, name in plots:
            lines += [f"### {s.title if s else 'wall-clock per step'}", "", f"![{name}]({name})", ""]
    lines += ["", "## Next", "",
              "- Rerun a single step with its command above; a rerun of the demo into the same folder reuses "
              "every stage of its chain whose inputs did not change.",
              "- The full recipe: `jepa-edge train --recipe tabletop-reach --out runs/reach` (about 1.5 h on 2 cores).",
              "- Bring your own teacher: `jepa-edge convert` an official I-JEPA / V-JEPA checkpoint, then "
              "`jepa-edge distill --teacher MODEL_DIR`.",
              f"- Copy `{demo.out}/bundles/jetson-orin-nano/` to the board and follow its README.md.",
              "", f"Machine-readable: `summary.json` (schema {SCHEMA} v{SCHEMA_VERSION}).", ""]
    return "\n".join(lines)


def step_times_png(demo, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(reversed(demo.steps))
    colours = {"ok": "tab:green", "failed": "tab:red", "skipped": "tab:orange", "not run": "tab:gray"}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(steps) + 1.2))
    ax.barh([s.name for s in steps], [s.seconds for s in steps], color=[colours[s.status] for s in steps])
    ax.set_xlabel("wall-clock seconds")
    ax.set_title(f"jepa-edge demo ({demo.sizes.name}): {demo.seconds:.0f} s in all")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def summary_table(demo):
    """One table: a row per step with its status, wall-clock and numbers (`label: value unit`)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"jepa-edge demo ({demo.sizes.name}): {demo.seconds:.0f} s", show_lines=True)
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("numbers", no_wrap=True)
    for s in demo.steps:
        numbers = "\n".join(f"{m.label}: {m.display}" + (f" {m.unit}" if m.unit else "") for m in s.metrics)
        if s.status != "ok" and s.error:
            numbers = (numbers + "\n" if numbers else "") + s.error
        table.add_row(s.name, Text(s.status, style=STATUS_STYLE[s.status]), f"{s.seconds:.1f} s", Text(numbers))
    return table


def print_summary(demo, console) -> None:
    console.print()
    console.print(summary_table(demo))
    passed, held = V.verdict_counts(demo.verdicts)
    console.print(V.verdict_table(demo.verdicts, f"verdicts: {passed} of {held} thresholds met"
                                  + (" (--quick: not held to them)" if demo.sizes.name == "quick" else "")))
    console.print(f"report: {demo.report_dir / 'report.md'}  (summary.json and plots next to it)",
                  highlight=False, soft_wrap=True)
    for s in demo.failed:
        console.print(f"step '{s.name}' failed: {s.error}", style="red", markup=False, highlight=False, soft_wrap=True)
        console.print(f"  rerun it with: {s.command}", markup=False, highlight=False, soft_wrap=True)
    if demo.ok and demo.exit_code == 0:
        console.print(f"[green]demo finished: all {len(demo.steps)} steps ok in {demo.seconds:.0f} s[/green]")
    elif demo.ok:
        missed = "; ".join(f"{v.stage}: {v.what} {v.shown} (threshold {v.threshold})" for v in demo.thresholds_missed)
        console.print(f"[yellow]demo finished, every step ran, but thresholds were missed[/yellow]: {missed}",
                      soft_wrap=True)
    else:
        console.print("[red]demo did not finish cleanly[/red]: exit code "
                      f"{demo.exit_code}")
