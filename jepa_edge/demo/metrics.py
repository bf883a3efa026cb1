"""The numbers the demo's summary quotes, read from the files each step wrote.

A `Metric` carries its value already rounded to what is printed (`display`), and `value` is parsed
back from `display`: the summary table and summary.json can never disagree. Readers take the step's
own JSON/JSON-lines outputs (never its terminal text), so they follow the commands' stable files.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from jepa_edge.demo.plan import Layout


@dataclass(frozen=True)
class Metric:
    key: str  # stable id, e.g. "bench.openvino.int8.p50_ms"
    label: str  # what the summary table prints
    display: str  # the printed value
    value: float | int | str | None  # `display` parsed back (numbers), for JSON readers
    unit: str = ""
    step: str = ""  # the step that produced it

    def to_dict(self) -> dict:
        return asdict(self)


def metric(key: str, label: str, x, unit: str = "", digits: int = 3, decimals: int | None = None,
           step: str = "") -> Metric:
    """Round `x` to `digits` significant figures, or to `decimals` places (scores near 1 stay
    readable: 0.9996 rather than 1); ints stay ints; value = float(display)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return Metric(key, label, "-", None, unit, step)
    if isinstance(x, bool) or isinstance(x, str):
        return Metric(key, label, str(x), str(x), unit, step)
    if isinstance(x, int):
        return Metric(key, label, str(x), x, unit, step)
    if decimals is not None:
        display = f"{float(x):.{decimals}f}"
        return Metric(key, label, display, float(display), unit, step)
    display = f"{float(x):.{digits}g}"
    if "e" in display:  # keep the table readable: 0.000123 rather than 1.23e-04
        display = f"{float(x):.{digits + 3}f}".rstrip("0").rstrip(".")
    return Metric(key, label, display, float(display), unit, step)


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _last_loss(run_dir: Path) -> float | None:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return None
    losses = [json.loads(line)["loss"] for line in path.read_text().splitlines()
              if line.strip() and "loss" in json.loads(line)]
    return losses[-1] if losses else None


def _first_loss(run_dir: Path) -> float | None:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.strip() and "loss" in (r := json.loads(line)):
            return r["loss"]
    return None


# --------------------------------------------------------------------------- per step

def training(run_dir: Path, prefix: str, label: str) -> list[Metric]:
    return [metric(f"{prefix}.loss_first", f"{label} loss, first logged step", _first_loss(run_dir)),
            metric(f"{prefix}.loss_final", f"{label} loss, last logged step", _last_loss(run_dir))]


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


# The eval JSON's headline numbers (`jepa-edge eval --out DIR` writes DIR/eval.json): key, label.
EVAL_HEADLINES = (
    ("probes.agent.pooled.r2", "probe R², agent position (pooled)"),
    ("probes.agent.patch.r2", "probe R², agent position (patch)"),
    ("probes.objects.patch.r2", "probe R², object positions (patch)"),
    ("physics.permanence.relative_accuracy", "surprise rel. accuracy, object permanence (vanish + appear)"),
    ("physics.vanish.relative_accuracy", "surprise rel. accuracy, vanish alone (confounded)"),
    ("physics.teleport.relative_accuracy", "surprise rel. accuracy, teleport"),
    ("physics.morph.relative_accuracy", "surprise rel. accuracy, morph"),
    ("agreement.cka_pooled", "teacher/student linear CKA (pooled)"),
    ("agreement.cosine_tokens", "teacher/student cosine (tokens)"),
    ("plannability.spearman", "plannability: energy vs distance to goal (Spearman)"),
)


def evaluation(eval_json: Path, prefix: str = "eval", random_init: bool = False) -> list[Metric]:
    """Headline numbers of `jepa-edge eval`; for the random-init floor only the probes mean anything."""
    d = _read_json(eval_json)
    keys = [(k, label) for k, label in EVAL_HEADLINES if not random_init or k.startswith(("probes.", "plannability."))]
    tag = ", random init" if random_init else ""
    out = [metric(f"{prefix}.{k}", f"{label}{tag}", _get(d, k), decimals=3)
           for k, label in keys if _get(d, k) is not None]
    for reach, hit in (_get(d, "plannability.descent_hit") or {}).items():  # keys like "0.1": not dotted paths
        out.append(metric(f"{prefix}.plannability.descent_hit@{reach}",
                          f"plannability: goal reached by greedy descent, lookahead {reach}{tag}", hit, decimals=2))
    for h in ("1", "2", "4") if not random_init else ():
        r = _get(d, f"rollout.{h}")
        if r:
            out.append(metric(f"{prefix}.rollout.{h}.ac_l1", f"AC rollout L1, {h} step(s)", r["ac_l1"]))
            out.append(metric(f"{prefix}.rollout.{h}.copy_last_l1", f"copy-last baseline L1, {h} step(s)",
                              r["copy_last_l1"]))
    return out


def calibration(calib_dir: Path, name: str) -> list[Metric]:
    splits = _read_json(Path(calib_dir) / "manifest.json")["splits"]
    return [metric(f"calibration.{name}.{split}", f"{name} calibration set: {split} samples", int(s["count"]))
            for split, s in splits.items()]


def export(summary_json: Path, name: str) -> list[Metric]:
    s = _read_json(summary_json)
    out = [metric(f"export.{name}.status", f"{name}: bundle status", s.get("status"))]
    if s.get("precision"):  # the executed label (`bf16 → fp32 (...)` when the request fell back)
        out.append(metric(f"export.{name}.precision", f"{name}: precision executed", s["precision"]))
    gate = s.get("gate") or {}
    if gate:
        for key, what in (("cos_mean", "mean"), ("cos_p1", "1st pct")):
            out.append(metric(f"export.{name}.{key}", f"{name}: INT8 token cosine to FP32, {what}", gate.get(key),
                              decimals=4))
        if gate.get("kept_float"):
            out.append(metric(f"export.{name}.kept_float", f"{name}: layers kept in float", len(gate["kept_float"])))
    return out


def bench(bench_json: Path) -> list[Metric]:
    d = _read_json(bench_json)
    out = []
    for r in d.get("rows", []):
        key = f"{r['backend']}/{r['precision']}"  # stable id: the request
        ex = r.get("executed") or {}
        shown = f"{r['backend']}/{ex.get('label') or r['precision']}"  # what people read: what executed
        if r.get("status") != "ok" or not r.get("latency"):
            out.append(metric(f"bench.{key}.status", f"{shown}: status", r.get("status")))
            continue
        out.append(metric(f"bench.{key}.p50_ms", f"{shown}: latency p50", r["latency"]["p50_ms"], "ms"))
        out.append(metric(f"bench.{key}.p99_ms", f"{shown}: latency p99", r["latency"]["p99_ms"], "ms"))
        if ex.get("executed"):
            out.append(metric(f"bench.{key}.executed", f"{shown}: precision executed", ex["executed"]))
    return out


def goal_reaching(loop_json: Path, prefix: str = "loop", label: str = "goal reaching") -> list[Metric]:
    d = _read_json(loop_json)
    out = []
    for name, r in d.get("methods", {}).items():
        out.append(metric(f"{prefix}.{name}.success_rate", f"{label}: {name} success rate", r["success_rate"],
                          decimals=2))
        out.append(metric(f"{prefix}.{name}.final_distance", f"{label}: {name} final distance to goal",
                          r.get("final_distance_mean")))
        p50 = (r.get("plan_ms_per_action") or {}).get("p50")
        if name not in ("random", "oracle") and p50 is not None:
            out.append(metric(f"{prefix}.{name}.plan_ms_p50", f"{label}: {name} plan time per action p50",
                              p50, "ms"))
    return out


def realtime_loop(run_json: Path) -> list[Metric]:
    """The real-time loop's timing: the perception tick, deadline misses, the planner's rate."""
    s = _read_json(run_json)["summary"]
    tick = s["stages_ms"].get("tick") or {}
    return [metric("loop.ticks", "loop: perception ticks", s["ticks"]),
            metric("loop.tick_p99_ms", "loop: tick p99", tick.get("p99"), "ms"),
            metric("loop.deadline_miss_rate", "loop: deadline misses", 100 * s["deadline_miss_rate"], "%", decimals=2),
            metric("loop.replan_hz", "loop: replan rate", s["planner"]["replan_rate_hz"], "Hz")]


def chain(layout: Layout) -> list[Metric]:
    """The demo's own chain: each training stage's loss, the INT8 gates, its goal reaching."""
    L = layout
    out = []
    for stage, label in (("pretrain", "teacher"), ("distill", "student"), ("train-ac", "AC predictor")):
        if (L.run_dir(stage) / "metrics.jsonl").exists():
            out += training(L.run_dir(stage), label.split()[0].lower() if stage != "train-ac" else "ac", label)
    for part in ("encoder", "ac_predictor"):
        if L.chain_bundle(part).with_suffix(".json").exists():
            out += export(L.chain_bundle(part).with_suffix(".json"), f"own-{part}")
    eval_json = L.chain / "eval" / "goal_reaching.json"
    if eval_json.exists():
        out += goal_reaching(eval_json, "chain", "own student, goal reaching")
    return out


def readers(layout: Layout) -> dict[str, Callable[[], list[Metric]]]:
    """step name -> a function that reads that step's numbers (after it succeeded)."""
    L = layout
    return {
        "train": lambda: chain(L),
        "export-jetson-orin-nano": lambda: export(L.bundles / "jetson-orin-nano.json", "jetson-orin-nano"),
        "bench": lambda: bench(L.bench_dir / "bench.json"),
        "reference": lambda: goal_reaching(L.reference_json, "reference", "reference, goal reaching"),
        "loop": lambda: realtime_loop(L.loop_json),
    }
