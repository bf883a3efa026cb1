"""Bench results: one stable JSON schema, so a Jetson run and a desk run (or before/after a change)
can be compared line by line, and a table printer for one result or two side by side.

Schema (`schema: "jepa-edge-bench"`, `schema_version: 1`); unknown top-level keys are refused so a
file from a newer jepa-edge is never half-read:
  created, command, device (jepa_edge.utils.device_info.describe()), settings (warm-up, iterations,
  threads, batch, order), model (name, arch, img_size, macs, ops), peak ({precision: PeakResult}),
  rows ([BenchRow]): backend, precision (as requested), status, reason, bundle, size_mb, quality, latency
  (LatencyStats with every sample), mem_mb, gops, pct_peak, executed (the precision that ran, read
  from the compiled model, and why it differs from the request).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jepa_edge.errors import DataError
from jepa_edge.profiling.peak import PeakResult
from jepa_edge.profiling.timer import LatencyStats
from jepa_edge.utils.files import atomic_write_json

SCHEMA = "jepa-edge-bench"
SCHEMA_VERSION = 1
STATUSES = ("ok", "failed_gate", "failed_build", "failed_run")


@dataclass
class BenchRow:
    backend: str
    precision: str
    status: str = "ok"              # one of STATUSES
    reason: str = ""                # why it is not ok (one line a user can act on)
    bundle: str = ""                # artifact that was timed
    size_mb: float | None = None    # size of the bundle's files
    quality: dict = field(default_factory=dict)  # cos_mean, cos_p1, cos_min vs FP32 (+ probe metrics)
    latency: LatencyStats | None = None
    mem_mb: float | None = None     # peak RSS added by loading + warming up this configuration
    gops: float | None = None       # model ops / p50
    pct_peak: float | None = None   # gops / measured peak of the executed precision, in %
    # the precision that ran, read from the compiled model (jepa_edge/inference/precision.py):
    # {requested, executed, reason, source, ops, label}; `precision` above is the request
    executed: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def label(self) -> str:
        """`int8`, or `bf16 → fp32 (no BF16 on this CPU)` when the request fell back: never a precision
        that did not execute."""
        from jepa_edge.inference.precision import label_of

        return label_of(self.precision, self.executed)

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.precision}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency"] = self.latency.to_dict() if self.latency else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BenchRow":
        d = dict(d)
        d["latency"] = LatencyStats.from_dict(d["latency"]) if d.get("latency") else None
        return cls(**d)


@dataclass
class BenchResult:
    rows: list[BenchRow]
    device: dict
    settings: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    peak: dict[str, PeakResult] = field(default_factory=dict)
    command: str = ""
    created: str = ""

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": self.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": self.command,
            "device": self.device,
            "settings": self.settings,
            "model": self.model,
            "peak": {k: v.to_dict() for k, v in self.peak.items()},
            "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "result") -> "BenchResult":
        if d.get("schema") != SCHEMA:
            raise DataError(f"{where} is not a jepa-edge bench result (schema {d.get('schema')!r}); "
                            f"make one with `jepa-edge bench ... --json OUT`")
        if int(d.get("schema_version", 0)) > SCHEMA_VERSION:
            raise DataError(f"{where} has schema_version {d['schema_version']}, newer than this jepa-edge "
                            f"reads ({SCHEMA_VERSION}): upgrade jepa-edge")
        known = {"schema", "schema_version", "created", "command", "device", "settings", "model", "peak", "rows"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataError(f"{where}: unknown keys {unknown}")
        try:
            return cls(
                rows=[BenchRow.from_dict(r) for r in d["rows"]], device=d["device"], settings=d.get("settings", {}),
                model=d.get("model", {}), peak={k: PeakResult.from_dict(v) for k, v in d.get("peak", {}).items()},
                command=d.get("command", ""), created=d.get("created", ""),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where} is malformed: {type(e).__name__}: {e}") from e

    def row(self, backend: str, precision: str) -> BenchRow | None:
        return next((r for r in self.rows if r.backend == backend and r.precision == precision), None)


def save_result(result: BenchResult, path: str | os.PathLike) -> None:
    atomic_write_json(path, result.to_dict())


def load_result(path: str | os.PathLike) -> BenchResult:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"no such bench result: {path}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read bench result {path}: {e}") from e
    return BenchResult.from_dict(d, where=str(path))


def command_line() -> str:
    return " ".join(["jepa-edge" if i == 0 and a.endswith("jepa-edge") else a for i, a in enumerate(sys.argv)])


# ---------------------------------------------------------------- tables

def _f(x, fmt="{:.2f}", none="-"):
    return none if x is None else fmt.format(x)


def _quality(q: dict) -> str:
    if not q or q.get("cos_mean") is None:
        return "-"
    probe = f", probe {q['probe']:.3f}" if q.get("probe") is not None else ""
    return f"{q['cos_mean']:.4f} / {q['cos_p1']:.3f}{probe}"


def device_line(device: dict) -> str:
    gpus = ", ".join(device.get("gpus") or []) or "no GPU"
    vers = device.get("versions", {})
    libs = ", ".join(f"{k} {vers[k]}" for k in ("openvino", "onnxruntime", "torch", "tensorrt") if k in vers)
    return f"{device.get('cpu', '?')} ({device.get('cores', '?')} cores), {gpus}; {libs}"


def result_table(result: BenchResult):
    """A rich renderable: one row per backend x precision, then one numbered line per row that is
    not ok, saying why (long reasons would wreck the table's columns)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    s = result.settings
    title = (f"{result.model.get('name', 'model')}: {s.get('iters', '?')} runs after {s.get('warmup', '?')} "
             f"warm-up, interleaved, threads={s.get('threads') or 'auto'}")
    if s.get("clock", "wall") != "wall":
        title += f" [{s['clock']} clock: CPU ms per run, not latency]"
    t = Table(title=title, caption=escape(device_line(result.device)))
    for col, just in (("backend", "left"), ("prec", "left"), ("status", "left"), ("MB", "right"),
                      ("cos mean/p1", "right"), ("p50 ms", "right"), ("p90", "right"), ("p99", "right"),
                      ("img/s", "right"), ("mem MB", "right"), ("% peak", "right")):
        t.add_column(col, justify=just, no_wrap=col not in ("status", "prec"))
    notes = []
    for r in result.rows:
        lat = r.latency
        status = r.status
        if r.reason:
            notes.append(f"[{len(notes) + 1}] {r.key}: {r.reason}")
            status = f"{r.status} [{len(notes)}]"
        t.add_row(r.backend, escape(r.label), status, _f(r.size_mb, "{:.1f}"), _quality(r.quality),
                  _f(lat and lat.p50_ms), _f(lat and lat.p90_ms), _f(lat and lat.p99_ms),
                  _f(lat and lat.throughput, "{:.1f}"), _f(r.mem_mb, "{:.0f}"), _f(r.pct_peak, "{:.1f}%"))
    load = ""
    if s.get("loadavg_before") is not None and result.device.get("cores"):
        load = f"load average {s['loadavg_before']} before, {s.get('loadavg_after')} after, on {result.device['cores']} cores"
        if max(s["loadavg_before"], s.get("loadavg_after") or 0) > 0.5 * result.device["cores"]:
            load += ": the machine was busy, expect noise"
    return Group(t, *(Text(n) for n in notes), *([Text(load, style="dim")] if load else []))


def peak_table(peak: dict[str, PeakResult]):
    from rich.table import Table

    t = Table(title="measured matrix-product peak (2 ops per multiply-add)")
    for col in ("precision", "GOP/s", "method", "kernel", "best shape"):
        t.add_column(col, justify="right" if col == "GOP/s" else "left")
    for k, p in peak.items():
        t.add_row(k, f"{p.gops:.0f}", p.method, p.kernel or "-", p.shape)
    return t


def compare_table(a: BenchResult, b: BenchResult, names: tuple[str, str] = ("A", "B")):
    """Side by side, matched on backend/precision; ratio = B p50 / A p50 (< 1: B is faster)."""
    from rich.markup import escape
    from rich.table import Table

    na, nb = names
    t = Table(title=f"{na} vs {nb} (ratio = {nb} p50 / {na} p50)",
              caption=escape(f"{na}: {device_line(a.device)}\n{nb}: {device_line(b.device)}"))
    for col in ("backend/precision", f"{na} status", f"{nb} status", f"{na} p50", f"{nb} p50", "ratio",
                f"{na} p99", f"{nb} p99", f"{na} cos", f"{nb} cos", f"{na} %peak", f"{nb} %peak"):
        t.add_column(col, justify="left" if "status" in col or "/" in col else "right")
    keys = list(dict.fromkeys([r.key for r in a.rows] + [r.key for r in b.rows]))
    for key in keys:
        backend, precision = key.split("/", 1)
        ra, rb = a.row(backend, precision), b.row(backend, precision)
        la, lb = ra and ra.latency, rb and rb.latency
        ratio = lb.p50_ms / la.p50_ms if la and lb and la.p50_ms > 0 else None
        lbl = [r.label for r in (ra, rb) if r is not None and r.label != r.precision]
        key = key + (f" ({'; '.join(dict.fromkeys(lbl))})" if lbl else "")
        t.add_row(escape(key), ra.status if ra else "absent", rb.status if rb else "absent",
                  _f(la and la.p50_ms), _f(lb and lb.p50_ms), _f(ratio, "{:.2f}x"),
                  _f(la and la.p99_ms), _f(lb and lb.p99_ms),
                  _f(ra and ra.quality.get("cos_mean"), "{:.4f}"), _f(rb and rb.quality.get("cos_mean"), "{:.4f}"),
                  _f(ra and ra.pct_peak, "{:.1f}%"), _f(rb and rb.pct_peak, "{:.1f}%"))
    return t
