"""Loop telemetry: one JSON line per tick and per plan, a summary with p50/p99, a PNG timeline,
and a live terminal view.

What a robotics engineer asks after a run: how long did each stage take (p50/p99), how old was
the frame when its command left (frame-to-command latency), how many deadlines were missed, how
often and how well did the planner replan, and what went wrong when.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

from jepa_edge.errors import MissingExtraError
from jepa_edge.utils.files import atomic_path, atomic_write_json

TICK_STAGES = ("camera", "encode", "surprise", "command", "tick")  # ms fields of a tick record


def percentiles(values) -> dict:
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3), "mean": round(float(a.mean()), 3)}


class Telemetry:
    """Collects tick and plan records (thread-safe); streams them to `out_dir/telemetry.jsonl`."""

    def __init__(self, out_dir: str | Path | None = None):
        self.out_dir = Path(out_dir) if out_dir else None
        self.ticks: list[dict] = []
        self.plans: list[dict] = []
        self._lock = threading.Lock()
        self._file = None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # Line-buffered: `tail -f` shows every tick as it happens (one small write per tick).
            self._file = open(self.out_dir / "telemetry.jsonl", "w", buffering=1)
        self.t0 = time.monotonic()

    def tick(self, rec: dict) -> None:
        with self._lock:
            self.ticks.append(rec)
            if self._file:
                self._file.write(json.dumps({"type": "tick", **rec}) + "\n")

    def plan(self, rec: dict) -> None:
        with self._lock:
            self.plans.append(rec)
            if self._file:
                self._file.write(json.dumps({"type": "plan", **rec}) + "\n")

    def event(self, rec: dict) -> None:
        with self._lock:
            if self._file:
                self._file.write(json.dumps({"type": "event", **rec}) + "\n")

    def summary(self, last: int | None = None) -> dict:
        with self._lock:
            ticks = self.ticks[-last:] if last else list(self.ticks)
            since = ticks[0]["t"] if (last and ticks) else float("-inf")
            plans = [p for p in self.plans if p.get("t", 0.0) >= since]  # the plans of the same window
        stages = {s: percentiles(t.get(f"{s}_ms") for t in ticks) for s in TICK_STAGES}
        misses = sum(1 for t in ticks if t.get("deadline_miss"))
        skipped = sum(t.get("skipped_before", 0) for t in ticks)
        span = (ticks[-1]["t"] - ticks[0]["t"]) if len(ticks) > 1 else 0.0
        plan_span = (plans[-1]["t"] - plans[0]["t"]) if len(plans) > 1 else 0.0
        kinds: dict[str, int] = {}
        for t in ticks:
            kinds[t.get("cmd", "?")] = kinds.get(t.get("cmd", "?"), 0) + 1
        return {
            "ticks": len(ticks),
            "tick_rate_hz": round((len(ticks) - 1) / span, 3) if span > 0 else None,
            "stages_ms": stages,
            "frame_to_command_ms": percentiles(t.get("f2c_ms") for t in ticks),
            "frame_age_ms": percentiles(t.get("frame_age_ms") for t in ticks),
            "plan_age_ms": percentiles(t.get("plan_age_ms") for t in ticks),
            "deadline_misses": misses,
            "skipped_ticks": skipped,
            "deadline_miss_rate": round((misses + skipped) / max(1, len(ticks) + skipped), 5),
            "repeated_frames": sum(1 for t in ticks if t.get("repeated_frame")),
            "commands": kinds,
            "surprise": percentiles(t.get("surprise") for t in ticks),
            "planner": {
                "replans": len(plans),
                "replan_rate_hz": round((len(plans) - 1) / plan_span, 3) if plan_span > 0 else None,
                "plan_ms": percentiles(p.get("plan_ms") for p in plans),
                "iterations": percentiles(p.get("iterations") for p in plans),
                "samples": percentiles(p.get("samples") for p in plans),
                "overruns": sum(1 for p in plans if p.get("overrun")),
                "discarded": sum(1 for p in plans if p.get("discarded")),
                "errors": sum(1 for p in plans if p.get("error")),
            },
        }

    def close(self) -> None:
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None

    def write_report(self, report: dict) -> Path | None:
        if not self.out_dir:
            return None
        path = self.out_dir / "summary.json"
        atomic_write_json(path, report)
        return path

    def write_timeline(self, events: list[dict] = ()) -> Path | None:
        """PNG: per-stage latency, frame-to-command latency, planner time, surprise; faults marked."""
        if not self.out_dir or not self.ticks:
            return None
        try:
            import matplotlib
        except ImportError as e:  # a robot (core) install: the JSON lines and summary are written anyway
            raise MissingExtraError("matplotlib (for timeline.png)", "plots", "or set telemetry.png = false") from e

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t = np.array([r["t"] for r in self.ticks])
        fig, axes = plt.subplots(4, 1, figsize=(11, 9), sharex=True)
        for stage in ("camera", "encode", "surprise", "command", "tick"):
            axes[0].plot(t, [r.get(f"{stage}_ms") or np.nan for r in self.ticks], lw=0.8, label=stage)
        miss = [r["t"] for r in self.ticks if r.get("deadline_miss")]
        axes[0].plot(miss, [0] * len(miss), "rx", ms=4, label="deadline miss")
        axes[0].set_ylabel("stage ms"); axes[0].legend(fontsize=7, ncol=6, loc="upper right")
        axes[1].plot(t, [r.get("f2c_ms") or np.nan for r in self.ticks], lw=0.8, label="frame->command")
        axes[1].plot(t, [r.get("frame_age_ms") or np.nan for r in self.ticks], lw=0.8, label="frame age")
        axes[1].set_ylabel("ms"); axes[1].legend(fontsize=7, loc="upper right")
        if self.plans:
            tp = [p["t"] for p in self.plans]
            axes[2].plot(tp, [p.get("plan_ms", np.nan) for p in self.plans], ".-", lw=0.8, ms=3, label="plan ms")
            ax2 = axes[2].twinx()
            ax2.step(tp, [p.get("iterations", 0) for p in self.plans], where="post", color="gray", lw=0.8, label="iterations")
            ax2.set_ylabel("iterations")
            over = [p["t"] for p in self.plans if p.get("overrun")]
            axes[2].plot(over, [0] * len(over), "rx", ms=4, label="overrun")
        axes[2].set_ylabel("plan ms"); axes[2].legend(fontsize=7, loc="upper left")
        axes[3].plot(t, [r.get("surprise") if r.get("surprise") is not None else np.nan for r in self.ticks], lw=0.8, label="surprise")
        axes[3].set_ylabel("surprise"); axes[3].set_xlabel("s since start")
        for ev in events:
            for ax in axes:
                ax.axvline(ev["t"], color="red" if ev.get("action") == "stop" else "orange", lw=0.8, alpha=0.7)
            axes[3].annotate(ev.get("kind", ""), (ev["t"], 0), fontsize=7, rotation=90, va="bottom")
        fig.suptitle("jepa-edge loop timeline")
        fig.tight_layout()
        path = self.out_dir / "timeline.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
        plt.close(fig)
        return path


class LiveView:
    """A rich live table of the last ~2 s, refreshed twice a second from its own thread."""

    def __init__(self, telemetry: Telemetry, window: int = 60):
        from rich.live import Live

        self.telemetry = telemetry
        self.window = window
        self._live = Live(get_renderable=self._render, refresh_per_second=2, transient=False)

    def _render(self):
        from rich.table import Table

        s = self.telemetry.summary(last=self.window)
        table = Table(title=f"jepa-edge run  ticks={len(self.telemetry.ticks)}  rate={s['tick_rate_hz']} Hz  "
                            f"misses={s['deadline_misses']}+{s['skipped_ticks']} skipped")
        table.add_column("stage"); table.add_column("p50 ms", justify="right"); table.add_column("p99 ms", justify="right")
        for stage, p in s["stages_ms"].items():
            table.add_row(stage, str(p.get("p50", "-")), str(p.get("p99", "-")))
        for name in ("frame_to_command_ms", "frame_age_ms", "plan_age_ms"):
            table.add_row(name.removesuffix("_ms"), str(s[name].get("p50", "-")), str(s[name].get("p99", "-")))
        pl = s["planner"]
        table.add_row("plan", str(pl["plan_ms"].get("p50", "-")), str(pl["plan_ms"].get("p99", "-")))
        table.caption = (f"replan {pl['replan_rate_hz']} Hz, iters p50 {pl['iterations'].get('p50', '-')}, "
                         f"samples {pl['samples'].get('p50', '-')}, overruns {pl['overruns']}; commands {s['commands']}")
        return table

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        self._live.__exit__(*exc)
