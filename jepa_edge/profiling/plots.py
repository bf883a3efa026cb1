"""PNG plots of bench results: the quality-vs-latency Pareto front and the latency histograms."""
from __future__ import annotations

import os

import numpy as np

from jepa_edge.profiling.results import BenchResult, BenchRow
from jepa_edge.utils.files import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a robot or in CI
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower latency x, higher quality y),
    ordered by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_q = [], -np.inf
    for i in order:
        if points[i][1] > best_q:
            front.append(i)
            best_q = points[i][1]
    return front


def _plottable(result: BenchResult) -> list[BenchRow]:
    return [r for r in result.rows if r.latency is not None and r.quality.get("cos_mean") is not None]


def pareto_plot(results: list[BenchResult], out: str | os.PathLike, labels: list[str] | None = None) -> None:
    """Quality (mean per-token cosine vs FP32) against p50 latency; one marker per result file,
    error bars from p50 to p99, the Pareto front of each result as a step line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = "os^Dv<>"
    for k, res in enumerate(results):
        rows = _plottable(res)
        if not rows:
            continue
        name = (labels[k] if labels else None) or res.device.get("cpu", f"result {k}")
        x = [r.latency.p50_ms for r in rows]
        y = [r.quality["cos_mean"] for r in rows]
        xerr = [[0] * len(rows), [r.latency.p99_ms - r.latency.p50_ms for r in rows]]
        ax.errorbar(x, y, xerr=xerr, fmt=markers[k % len(markers)], capsize=3, label=f"{name} (bar: p50 to p99)")
        for r, xi, yi in zip(rows, x, y):
            ax.annotate(f"{r.backend}/{r.label}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
        front = pareto_front(list(zip(x, y)))
        ax.step([x[i] for i in front], [y[i] for i in front], where="post", alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("latency p50 (ms, log scale)")
    ax.set_ylabel("quality: mean per-token cosine vs FP32")
    model = results[0].model.get("name", "model") if results else "model"
    ax.set_title(f"{model}: quality vs latency (upper left is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, out)


def latency_histograms(result: BenchResult, out: str | os.PathLike) -> None:
    """One panel per timed row: the distribution of every timed run, p50 and p99 marked."""
    plt = _plt()
    rows = [r for r in result.rows if r.latency is not None and r.latency.samples_ms]
    n = max(1, len(rows))
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), dpi=110, squeeze=False)
    for ax, r in zip(axes.flat, rows):
        s = np.asarray(r.latency.samples_ms)
        ax.hist(s, bins=min(50, max(10, s.size // 5)), color="tab:blue", alpha=0.8)
        for v, style, name in ((r.latency.p50_ms, "-", "p50"), (r.latency.p99_ms, "--", "p99")):
            ax.axvline(v, color="k", linestyle=style, linewidth=1)
            ax.text(v, ax.get_ylim()[1] * 0.9, f" {name} {v:.2f}", fontsize=7)
        ax.set_title(f"{r.backend}/{r.label} ({s.size} runs)", fontsize=9)
        ax.set_xlabel("ms")
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    if not rows:
        axes.flat[0].text(0.5, 0.5, "no timed rows", ha="center")
    fig.suptitle(f"{result.model.get('name', 'model')}: latency per run, interleaved", fontsize=10)
    fig.tight_layout()
    _save(fig, out)


def _save(fig, out):
    plt = _plt()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
