"""`jepa-edge demo --quick` end to end, as a new user runs it (a subprocess, fresh teacher cache).

The longest test of the suite (about 1-2 min on 2 idle cores): every step is a real command on
tiny models (the `demo-quick` recipe) and the shipped reference model. It checks what the demo
promises: exit 0, every step ok, the report folder's files, the verdict table first in the report,
and that each number the summary table printed is the one in summary.json.
"""
import json
import os
import subprocess
import sys

import pytest

EXPECTED_STEPS = ["train", "export-jetson-orin-nano", "bench", "reference", "loop"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "JEPA_EDGE_CACHE": str(tmp_path / "cache"), "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-m", "jepa_edge", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=580)
    printed = proc.stdout
    assert proc.returncode == 0, f"demo failed:\n{printed[-6000:]}\n{proc.stderr[-3000:]}"

    report = out / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert [s["name"] for s in summary["steps"]] == EXPECTED_STEPS
    assert {s["name"]: s["status"] for s in summary["steps"]} == {n: "ok" for n in EXPECTED_STEPS}
    assert summary["ok"] is True and summary["exit_code"] == 0 and summary["machine"]["cores"]

    # every step's command was printed before it ran, in order
    positions = [printed.index(f"$ {s['command']}") for s in summary["steps"]]
    assert positions == sorted(positions)

    # the report folder: markdown, JSON, the steps' plots and the wall-clock plot
    md = (report / "report.md").read_text()
    assert str(report / "report.md") in printed
    for name in ["step_times.png", "train-pretrain-loss.png", "train-distill-loss.png", "train-train-ac-loss.png", "bench-pareto.png", "bench-latency.png"]:
        assert (report / name).stat().st_size > 1000, name
        assert f"]({name})" in md and name in summary["plots"]

    # the printed summary numbers are those in summary.json (and in report.md)
    metrics = summary["metrics"]
    keys = {m["key"] for m in metrics}
    for needed in ["teacher.loss_final", "student.loss_final", "ac.loss_final", "export.own-encoder.cos_mean",
                   "export.own-ac_predictor.cos_mean", "chain.student.success_rate",
                   "bench.onnxruntime/int8.p50_ms", "reference.student.success_rate", "reference.oracle.success_rate",
                   "loop.tick_p99_ms"]:
        assert needed in keys, needed
    table = printed[printed.rindex("jepa-edge demo (quick)"):]
    for m in metrics:
        shown = f"{m['label']}: {m['display']}" + (f" {m['unit']}" if m["unit"] else "")
        assert shown in table, shown
        assert f"| {m['label']} | {m['display']} |" in md
        if isinstance(m["value"], (int, float)):
            assert float(m["display"]) == m["value"]
    for s in summary["steps"]:
        assert f"`{s['command']}`" in md
        assert s["seconds"] > 0

    # the report opens with the verdicts: each number against its threshold
    stages = [v["stage"] for v in summary["verdicts"]]
    assert {"own train-ac", "own export-encoder", "own eval", "reference", "loop"} <= set(stages)
    assert md.index("| stage | what | value | threshold | verdict |") < md.index("## Steps")
    assert "verdicts:" in printed and "(--quick: not held to them)" in printed
