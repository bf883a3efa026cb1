"""Verdicts: a number, the threshold it is held to, and pass/fail, one row per claim a report makes.

The chain's report and the demo's open with a table of these, so that "every step ran" can never
stand in for "it works": a step that ran and missed its threshold is a FAIL row with the reason.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from jepa_edge.utils.files import read_json


@dataclass(frozen=True)
class Verdict:
    stage: str  # where the number comes from: "train-ac", "export-encoder", "eval", ...
    what: str  # what is measured, in words
    shown: str  # the number as the report prints it ("85% of 40 goals")
    threshold: str  # what it is held to ("≥ 80%"); "" for a number reported without one
    passed: bool | None  # None: no threshold, or not measured (then `reason` says why)
    reason: str = ""  # why it failed or was not measured

    @property
    def label(self) -> str:
        return {True: "pass", False: "FAIL", None: "-" if not self.reason else "not measured"}[self.passed]

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.label}


def verdict_counts(verdicts: list[Verdict]) -> tuple[int, int]:
    """(passed, held to a threshold)."""
    held = [v for v in verdicts if v.threshold]
    return sum(v.passed is True for v in held), len(held)


def verdict_table(verdicts: list[Verdict], title: str):
    """A rich Table of the verdicts (FAIL rows in red)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, justify in (("stage", "left"), ("what", "left"), ("value", "right"), ("threshold", "left"),
                         ("verdict", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for v in verdicts:
        label = {"FAIL": "[bold red]FAIL[/bold red]", "pass": "[green]pass[/green]"}.get(v.label, v.label)
        table.add_row(v.stage, v.what + (f" [dim]({v.reason})[/dim]" if v.reason else ""), v.shown, v.threshold, label)
    return table


def verdict_markdown(verdicts: list[Verdict]) -> list[str]:
    lines = ["| stage | what | value | threshold | verdict |", "|---|---|---|---|---|"]
    for v in verdicts:
        what = v.what + (f" ({v.reason})" if v.reason else "")
        lines.append(f"| {v.stage} | {what} | {v.shown} | {v.threshold} | {'**FAIL**' if v.passed is False else v.label} |")
    return lines


# --- verdicts read from what the stages wrote ------------------------------------------------------

def ac_beats_copy_last(stage: str, model_dir, horizon: int = 1) -> Verdict:
    """The AC predictor's rollout L1 `horizon` steps ahead against predicting "nothing changes",
    on held-out trajectories of the scenes it trained on (eval/rollout.py ac_vs_copy_last)."""
    from jepa_edge.eval.rollout import ac_vs_copy_last

    what = f"AC predictor L1 {horizon} step ahead vs copy-last (held-out trajectories)"
    try:
        r = ac_vs_copy_last(model_dir, horizons=(horizon,))[str(horizon)]
    except (OSError, ValueError) as e:
        return Verdict(stage, what, "-", "< copy-last", None, f"not measured: {e}")
    beats = r["ac_l1"] < r["copy_last_l1"]
    moving = (f"the 10% of tokens that change most: {r['moving_ac_l1']:.4f} vs {r['moving_copy_last_l1']:.4f}; "
              f"the rest: {r['still_ac_l1']:.4f} vs {r['still_copy_last_l1']:.4f}")
    return Verdict(stage, what, f"{r['ac_l1']:.4f} vs {r['copy_last_l1']:.4f}", "< copy-last", beats,
                   "" if beats else moving)


def int8_cosine(stage: str, export_json, part: str) -> Verdict:
    """The export's accuracy gate: mean token cosine of the INT8 bundle against FP32 on held-out data."""
    what = f"INT8 {part}: token cosine vs FP32 (held-out)"
    try:
        summary = read_json(export_json, ValueError, "rerun the export")
    except Exception as e:  # noqa: BLE001 - a missing or unreadable summary is "not measured"
        return Verdict(stage, what, "-", "≥ 0.99", None, f"not measured: {e}")
    gate = summary.get("gate") or {}
    floor = (gate.get("thresholds") or {}).get("min_cos_mean", 0.99)
    cos = gate.get("cos_mean")
    if cos is None:
        return Verdict(stage, what, "-", f"≥ {floor:g}", None, "the export ran no gate")
    reason = "" if gate.get("passed") else gate.get("reason", "")
    return Verdict(stage, what, f"{cos:.4f}", f"≥ {floor:g}", bool(cos >= floor and gate.get("passed")), reason)


def _rate(m: dict) -> str:
    return f"{100 * m['success_rate']:.0f}%"


def goal_reaching(stage: str, goal_json, *, method: str = "student", threshold: float | None = None,
                  who: str = "INT8 student") -> list[Verdict]:
    """From a `run --episodes` JSON: `method`'s success (held to `threshold` when given) with random
    and oracle beside it, and whether it beats random."""
    try:
        res = read_json(goal_json, ValueError, "rerun the evaluation")
    except Exception as e:  # noqa: BLE001
        return [Verdict(stage, f"{who}: goals reached", "-", "", None, f"not measured: {e}")]
    methods = res["methods"]
    m = methods[method]
    n, seed = res["episodes"], res["first_seed"]
    beside = ", ".join(f"{k} {_rate(methods[k])}" for k in ("random", "oracle") if k in methods)
    shown = f"{_rate(m)} of {n} ({beside})" if beside else f"{_rate(m)} of {n}"
    what = f"{who}: goals reached, world seeds {seed}-{seed + n - 1}"
    out = []
    if threshold is not None:
        reason = "" if m["success_rate"] >= threshold else (
            f"{m['faulted']} episodes ended by a fault" if m["faulted"] else
            f"mean final distance {m['final_distance_mean']:.2f}")
        out.append(Verdict(stage, what, shown, f"≥ {100 * threshold:.0f}%", m["success_rate"] >= threshold, reason))
    if "random" in methods:
        r = methods["random"]
        out.append(Verdict(stage, f"{who} beats random", f"{_rate(m)} vs {_rate(r)}", "> random",
                           m["success_rate"] > r["success_rate"]))
    return out
