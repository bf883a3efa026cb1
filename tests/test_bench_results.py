"""Result schema round trip, refusal of foreign/newer files, compare table, Pareto front, PNGs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from jepa_edge.errors import DataError
from jepa_edge.profiling import plots
from jepa_edge.profiling.peak import PeakResult
from jepa_edge.profiling.results import (BenchResult, BenchRow, compare_table, load_result, result_table,
                                         save_result)
from jepa_edge.profiling.timer import LatencyStats, TimingConfig


def _row(backend, precision, p50, cos=0.999, status="ok", reason=""):
    shape = 1 + np.random.default_rng(0).exponential(0.1, 60)  # same shape for every row: p50 scales exactly
    lat = LatencyStats.from_samples(p50 * shape, TimingConfig(5, 60)) if status == "ok" else None
    return BenchRow(backend, precision, status, reason, size_mb=3.2, latency=lat,
                    quality={"cos_mean": cos, "cos_p1": cos - 0.01, "cos_min": cos - 0.02} if lat else {},
                    mem_mb=40.0, gops=9.2 / p50 * 1e3 if lat else None, pct_peak=31.5 if lat else None)


def _result(cpu="Xeon", scale=1.0, extra_row=True):
    rows = [_row("openvino", "int8", 10.5 * scale), _row("openvino", "fp32", 41 * scale, cos=1.0),
            _row("foo", "fp32", 0, status="failed_build", reason="unknown target 'foo'")]
    if extra_row:
        rows.append(_row("onnxruntime", "int8", 19 * scale, cos=0.995))
    return BenchResult(rows, {"cpu": cpu, "cores": 2, "gpus": [], "versions": {"openvino": "2026.4"}},
                       {"warmup": 5, "iters": 60, "loadavg_before": 0.1, "loadavg_after": 0.2},
                       {"name": "vit_small/16@224", "macs": 4_600_000_000},
                       {"int8": PeakResult("int8", "cpu", 3000.0, "openvino MatMul chain", "brgemm_avx512_amx_i8", "512x1024 x8")})


def test_round_trip(tmp_path):
    res = _result()
    save_result(res, tmp_path / "r.json")
    back = load_result(tmp_path / "r.json")
    assert back.to_dict() == json.loads((tmp_path / "r.json").read_text())
    assert back.row("openvino", "int8").latency == res.row("openvino", "int8").latency
    assert back.peak["int8"].kernel == "brgemm_avx512_amx_i8"
    assert back.row("foo", "fp32").status == "failed_build"


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d.update(schema="something-else"), "not a jepa-edge bench result"),
    (lambda d: d.update(schema_version=99), "newer than this jepa-edge"),
    (lambda d: d.update(surprise=1), "unknown keys"),
    (lambda d: d["rows"][0].update(status="great"), "malformed"),
    (lambda d: d["rows"][0].pop("backend"), "malformed"),
])
def test_foreign_or_broken_results_are_refused(tmp_path, mutate, msg):
    d = _result().to_dict()
    mutate(d)
    (tmp_path / "r.json").write_text(json.dumps(d))
    with pytest.raises(DataError, match=msg):
        load_result(tmp_path / "r.json")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="no such bench result"):
        load_result(tmp_path / "nope.json")
    (tmp_path / "half.json").write_text('{"schema": "jepa-edge-bench", "rows": [')
    with pytest.raises(DataError, match="cannot read"):
        load_result(tmp_path / "half.json")


def test_bad_status_is_rejected():
    with pytest.raises(ValueError):
        BenchRow("openvino", "int8", status="fast")


def _render(renderable) -> str:
    c = Console(width=200, record=True)
    c.print(renderable)
    return c.export_text()


def test_tables_say_why_a_row_failed_and_compare_side_by_side():
    text = _render(result_table(_result()))
    assert "failed_build [1]" in text and "[1] foo/fp32: unknown target 'foo'" in text
    a, b = _result("desk"), _result("jetson", scale=2.0, extra_row=False)
    text = _render(compare_table(a, b, names=("desk", "jetson")))
    line = next(l for l in text.splitlines() if "openvino/int8" in l)
    assert "2.00x" in line
    ort = next(l for l in text.splitlines() if "onnxruntime/int8" in l)
    assert "absent" in ort


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 100), st.floats(0.5, 1.0)), min_size=1, max_size=20))
def test_pareto_front_property(points):
    front = plots.pareto_front(points)
    on = set(front)
    for i in front:  # nothing beats a front point on both axes
        assert not any(points[j][0] < points[i][0] and points[j][1] > points[i][1] for j in range(len(points)))
    for i in set(range(len(points))) - on:  # everything else is matched or beaten by a front point
        assert any(points[j][0] <= points[i][0] and points[j][1] >= points[i][1] for j in front)
    assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)


def test_plots_are_pngs(tmp_path):
    plots.pareto_plot([_result("desk"), _result("jetson", 2.0)], tmp_path / "p.png", labels=["desk", "jetson"])
    plots.latency_histograms(_result(), tmp_path / "h.png")
    empty = BenchResult([], {"cpu": "x"})
    plots.latency_histograms(empty, tmp_path / "e.png")
    for name in ("p.png", "h.png", "e.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
