"""A robot install without the training stack: `jepa-edge run` on ONNX Runtime INT8 bundles in
simulation, in an interpreter where torch, safetensors, onnx, onnxscript, openvino, nncf and
matplotlib cannot be imported, and `import torch` is never even attempted (an import hook records
every attempt). The bundles are exported first, here, with the full stack. The CI (.ci/run) does
the same from a fresh venv holding the wheel's core dependencies only."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from loop_support import save_tiny_model_dir

EXTRAS_ONLY = ("torch", "safetensors", "onnx", "onnxscript", "openvino", "nncf", "matplotlib")

# Every import statement and importlib.import_module call is recorded; the extras' modules are None
# in sys.modules, so importing one fails as on a core install.
CORE_ONLY = f"""
import builtins, importlib, json, sys
BLOCKED = {EXTRAS_ONLY!r}
attempts = []
for name in BLOCKED:
    sys.modules[name] = None
_import, _import_module = builtins.__import__, importlib.import_module

def _record(name):
    if name and name.split('.')[0] in BLOCKED:
        attempts.append(name)

def hooked_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        _record(name)
    return _import(name, globals, locals, fromlist, level)

def hooked_import_module(name, package=None):
    _record(name)
    return _import_module(name, package)

builtins.__import__, importlib.import_module = hooked_import, hooked_import_module
from jepa_edge.cli import main
try:
    rc = main(sys.argv[1:])
finally:
    loaded = sorted({{m.split('.')[0] for m, v in list(sys.modules.items()) if v is not None}} & set(BLOCKED))
    print("IMPORTS " + json.dumps({{"attempts": attempts, "loaded": loaded}}), file=sys.stderr)
sys.exit(rc)
"""


@pytest.fixture(scope="module")
def int8_bundles(tmp_path_factory):
    """An encoder and an AC predictor, both ONNX Runtime INT8 (QDQ), from a tiny model dir."""
    from jepa_edge.cli import main
    from jepa_edge.quant.calibration import SmallCalibrationWarning
    from jepa_edge.quant.pipeline import export

    d = tmp_path_factory.mktemp("core")
    model = save_tiny_model_dir(d / "model", img_size=32)
    assert main(["calibrate", str(model), "--out", str(d / "calib"), "--count", "16", "--held-out", "8"]) == 0
    assert main(["calibrate", str(model), "--part", "ac_predictor", "--out", str(d / "calib_ac"), "--count", "16",
                 "--held-out", "6", "--frames", "2"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        enc = export(model, "onnxruntime", "int8", calib=d / "calib", out=d / "encoder", log=None)
        ac = export(model, "onnxruntime", "int8", part="ac_predictor", calib=d / "calib_ac", out=d / "ac", log=None)
    assert enc.passed and ac.passed
    return d, enc.path, ac.path


def _core_only(*argv, cwd):
    r = subprocess.run([sys.executable, "-c", CORE_ONLY, *map(str, argv)], capture_output=True, text=True,
                       timeout=180, cwd=cwd)
    line = [x for x in r.stderr.splitlines() if x.startswith("IMPORTS ")]
    assert line, r.stderr[-3000:]
    return r, json.loads(line[-1][len("IMPORTS "):])


def test_run_on_ort_int8_bundles_never_attempts_import_torch(int8_bundles):
    d, encoder, predictor = int8_bundles
    for name in ("encoder", "ac"):
        manifest = json.loads((d / name / "manifest.json").read_text())
        assert manifest["backend"] in ("onnx", "onnxruntime") and manifest["precision"] == "int8"
    out = d / "run"
    r, imports = _core_only("run", "--models.encoder", encoder, "--models.predictor", predictor,
                            "--sim.img_size", "32", "--schedule.duration_s", "3", "--planner.samples", "16",
                            "--planner.horizon", "2", "--schedule.plan_timeout_ms", "3000",
                            "--safety.loop_stall_ms", "3000", "--telemetry.out_dir", out, "--json", d / "run.json",
                            cwd=d)
    assert r.returncode == 0, r.stderr[-3000:]
    tops = {name.split(".")[0] for name in imports["attempts"]}
    assert "torch" not in tops, imports  # never attempted, not merely failed
    assert tops <= {"matplotlib"} and imports["loaded"] == [], imports  # matplotlib: tried for timeline.png only
    report = json.loads((d / "run.json").read_text())
    assert report["ended"]["how"] == "completed" and report["ticks"] >= 20
    assert report["summary"]["planner"]["replans"] >= 3
    assert (out / "telemetry.jsonl").is_file() and not (out / "timeline.png").exists()
    # the PNG needs matplotlib: one line naming the extra, and the run still ends as asked
    assert "timeline.png not written" in r.stderr and "jepa-edge[plots]" in r.stderr


def test_a_model_dir_on_a_core_install_names_the_extra(int8_bundles):
    d, encoder, _ = int8_bundles
    r, _ = _core_only("run", "--models.encoder", d / "model", "--schedule.duration_s", "1", cwd=d)
    assert r.returncode == 2
    err = [x for x in r.stderr.splitlines() if not x.startswith("IMPORTS ")]
    assert len(err) == 1 and "jepa-edge[train]" in err[0] and "export a bundle" in err[0], err
