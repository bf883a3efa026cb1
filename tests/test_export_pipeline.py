"""End to end on a tiny ViT (vit_tiny width, 2 blocks, 64 px) and a tiny AC predictor: calibrate
from the built-in world, export to every CPU backend and a Jetson kit, gate, load back, run."""
import json
import subprocess
import sys
import warnings

import pytest
import torch

from jepa_edge.cli import main
from jepa_edge.errors import BundleError
from jepa_edge.quant.calibration import SmallCalibrationWarning, load_calibration_set
from jepa_edge.quant.gate import GateConfig
from jepa_edge.quant.onnx_export import token_cosine
from jepa_edge.quant.openvino_export import NNCFScheme

SMALL_NNCF = NNCFScheme(subset_size=8)  # test speed: statistics from 8 samples
from jepa_edge.quant.pipeline import export
from jepa_edge.inference import load_bundle
from jepa_edge.utils.device_info import isa_features, openvino_capabilities


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    torch.manual_seed(0)
    torch.set_num_threads(2)
    d = tmp_path_factory.mktemp("export")
    enc = build_encoder("vit_tiny", img_size=64, depth=2)
    ac = ActionConditionedPredictor(ACPredictorConfig(embed_dim=192, predictor_embed_dim=64, depth=2, num_heads=4,
                                                      action_dim=2, state_dim=4, img_size=64, max_frames=4))
    save_model_dir(d / "model", ModelDir(encoder=enc, ac_predictor=ac))
    assert main(["calibrate", str(d / "model"), "--out", str(d / "calib" / "world"), "--count", "24",
                 "--held-out", "8"]) == 0
    assert main(["calibrate", str(d / "model"), "--part", "ac_predictor", "--out", str(d / "calib" / "ac"),
                 "--count", "16", "--held-out", "6", "--frames", "2"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        return {"dir": d, "model": d / "model", "calib": load_calibration_set(d / "calib" / "world"),
                "ac_calib": load_calibration_set(d / "calib" / "ac"), "encoder": enc}


def fake_quantizers(xml) -> int:
    import openvino as ov

    return sum(op.get_type_name() == "FakeQuantize" for op in ov.Core().read_model(str(xml)).get_ordered_ops())


def torch_tokens(work, x):
    with torch.inference_mode():
        return work["encoder"](torch.from_numpy(x)).numpy()


def test_ort_int8_bundle_passes_the_gate_and_runs(work):
    from jepa_edge.quant.probes import make_probe

    probe = make_probe("world-position", work["encoder"].cfg, {})
    res = export(work["model"], "onnxruntime", "int8", calib=work["calib"], out=work["dir"] / "ort-int8", log=None,
                 probe=probe, gate=GateConfig(max_drop=0.5))
    m = res.manifest
    assert m.gate["probe_metric"].startswith("world agent-position") and m.gate["probe_drop"] is not None
    assert abs(m.gate["probe_drop"]) <= 0.5 and m.gate["thresholds"]["max_drop"] == 0.5
    assert res.passed and m.status == "ok" and m.backend == "onnxruntime"
    assert res.gate.metrics.cos_mean >= 0.99 and res.gate.metrics.cos_p1 >= 0.95
    assert m.gate["split"] == "heldout" and m.gate["n_samples"] == 8
    assert m.scheme["format"] == "QDQ" and m.scheme["activations"] == "int8" and m.scheme["per_channel"]
    assert m.calibration["hash"] == work["calib"].hash and m.model["source_hash"]
    assert m.scheme["exporter"] == {"name": "dynamo", "opset": 18} and m.scheme["fp32_parity"]["cos_min"] > 0.9999
    assert list(m.latent.mean) == [0.485, 0.456, 0.406] and {"onnxruntime", "jepa_edge"} <= set(m.tools)
    x = work["calib"].arrays("heldout")["pixels"][:3]
    sess = load_bundle(res.path)
    got = sess.run({"pixels": x})["tokens"]
    assert got.shape == (3, 16, 192) and token_cosine(got, torch_tokens(work, x)).mean() > 0.99
    # the ORT CPU flavour is asymmetric: TensorRT's checker must reject it (zero points), not pass it silently
    from jepa_edge.quant.tensorrt_export import check_qdq

    assert "zero-point-0" in {f.rule for f in check_qdq(res.path / "model.onnx")}


def test_openvino_int8_and_bf16(work):
    d = work["dir"]
    x = work["calib"].arrays("heldout")["pixels"][:1]
    ref = torch_tokens(work, x)
    for precision in ("bf16", "int8"):
        res = export(work["model"], "openvino-cpu", precision, calib=work["calib"], out=d / f"ov-{precision}", log=None,
                     nncf_scheme=SMALL_NNCF)
        assert res.passed, res.gate and res.gate.reason
        sess = load_bundle(res.path)
        assert sess.inputs[0].shape == (1, 3, 64, 64)  # the robot-loop profile is static batch 1
        assert token_cosine(sess(x), ref).mean() > 0.99
    work["ov_int8_fq"] = fake_quantizers(d / "ov-int8" / "model.xml")
    assert work["ov_int8_fq"] > 0
    assert json.loads((d / "ov-int8" / "manifest.json").read_text())["scheme"]["model_type"] == "transformer"
    hint = str(load_bundle(d / "ov-bf16").effective_config()["INFERENCE_PRECISION_HINT"])
    ex = json.loads((d / "ov-bf16" / "manifest.json").read_text())["precision_executed"]
    if "BF16" in openvino_capabilities():
        assert "bf16" in hint.replace("bfloat16", "bf16")
        assert ex["executed"] == "bf16" and ex["label"] == "bf16"
    else:  # no AVX512-BF16 / AMX: OpenVINO runs f32, and the manifest says so
        assert "32" in hint
        assert ex["executed"] == "fp32" and ex["label"] == "bf16 → fp32 (no BF16 on this CPU)"
    assert ex["isa"] == isa_features()
    ex8 = json.loads((d / "ov-int8" / "manifest.json").read_text())["precision_executed"]
    if "INT8" in openvino_capabilities():  # int8 kernels ran (with VNNI/AMX or not: paying is another question)
        assert ex8["executed"] == "int8" and ex8["ops"].get("int8", 0) > 0, ex8
    else:
        assert ex8["label"].startswith("int8 → "), ex8


def test_openvino_weight_only_int8(work):
    """int8w: NNCF weight compression, int8 weights decompressed into f32 math, read back as such."""
    res = export(work["model"], "openvino", "int8w", calib=work["calib"], out=work["dir"] / "ov-int8w", log=None)
    assert res.passed and res.manifest.precision_executed["executed"] == "int8w", res.manifest.precision_executed
    assert res.summary()["precision"] == "int8w"
    fp = export(work["model"], "openvino", "fp32", out=work["dir"] / "ov-fp32", log=None)
    assert res.manifest.files["model.bin"]["bytes"] < 0.5 * fp.manifest.files["model.bin"]["bytes"]
    assert fp.manifest.precision_executed["executed"] == "fp32"


def test_failed_gate_retries_keeps_layers_in_float_and_marks_the_bundle(work, capsys):
    impossible = GateConfig(min_cos_mean=1.01)  # nothing meets it: every retry runs, then it fails
    res = export(work["model"], "onnxruntime", "int8", calib=work["calib"], out=work["dir"] / "fail", gate=impossible,
                 log=None)
    assert not res.passed and res.manifest.status == "failed_gate"
    g = res.manifest.gate
    assert len(g["attempts"]) >= 3 and g["kept_float"], g
    kept = g["kept_float"]
    assert kept[0]["sensitivity"] >= kept[-1]["sensitivity"] and kept[0]["module"].startswith(("blocks", "patch"))
    assert res.manifest.scheme["exclude_nodes"] == [k["node"] for k in kept]
    assert "quantization-aware training" in g["reason"]
    with pytest.raises(BundleError, match="failed its accuracy gate"):
        load_bundle(res.path)
    # the CLI says so with a non-zero exit
    rc = main(["export", str(work["model"]), "--target", "onnxruntime", "--precision", "int8", "--calib",
               str(work["calib"].path), "--out", str(work["dir"] / "fail-cli"), "--max-drop", "0", "--no-retry"])
    assert rc == 1 and "accuracy gate FAILED" in capsys.readouterr().out


def test_openvino_retry_keeps_the_most_sensitive_layer_in_float(work):
    if "ov_int8_fq" not in work:
        test_openvino_int8_and_bf16(work)
    gate = GateConfig(min_cos_mean=1.01, max_float_fraction=0.05)  # fails; budget: one layer
    res = export(work["model"], "openvino", "int8", calib=work["calib"], out=work["dir"] / "ov-fail", gate=gate,
                 log=None, nncf_scheme=SMALL_NNCF)
    g = res.manifest.gate
    assert res.manifest.status == "failed_gate" and len(g["attempts"]) == 2 and len(g["kept_float"]) == 1
    kept = g["kept_float"][0]
    assert kept["module"].startswith(("blocks.", "patch_embed")) and res.manifest.scheme["ignored_names"] == [kept["node"]]
    # the name reached NNCF: the written IR has fewer quantizers than the unconstrained one
    assert fake_quantizers(res.path / "model.xml") < work["ov_int8_fq"]


def test_jetson_kit_int8_with_dla(work):
    from jepa_edge.inference.manifest import read_manifest
    from jepa_edge.quant.tensorrt_export import check_qdq, errors_of

    res = export(work["model"], "jetson-agx-orin", "int8", calib=work["calib"], out=work["dir"] / "kit", dla_core=1,
                 log=None)
    kit = res.path
    m = read_manifest(kit)  # verifies every hash
    assert m.status == "kit" and m.backend == "tensorrt" and res.gate.passed
    assert {"model.onnx", "build_engine.sh", "profile.sh", "run_engine.py", "README.md", "checksums.sha256"} <= set(m.files)
    assert errors_of(check_qdq(kit / "model.onnx")) == [] and m.scheme["qdq_check"]["errors"] == 0
    build, prof = (kit / "build_engine.sh").read_text(), (kit / "profile.sh").read_text()
    assert "--int8 --fp16" in build and "--useDLACore=1 --allowGPUFallback" in build and "--stronglyTyped" in build
    assert "--maxShapes=pixels:8x3x64x64" in build and "--timingCacheFile" in build
    for flag in ("--dumpProfile", "--separateProfileRun", "--exportProfile=profile.json", "--useDLACore=1"):
        assert flag in prof
    for script in ("build_engine.sh", "profile.sh"):
        assert subprocess.run(["bash", "-n", str(kit / script)]).returncode == 0
    # engines are built on the board: loading the kit here says so
    with pytest.raises(BundleError, match="build the engine on the device"):
        load_bundle(kit)
    # the runner needs numpy + tensorrt only: it must import with jepa_edge unavailable
    code = ("import sys; sys.modules['jepa_edge'] = None; sys.argv = ['run_engine.py', '--help'];"
            f"exec(compile(open({str(kit / 'run_engine.py')!r}).read(), 'run_engine.py', 'exec'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "numpy + tensorrt" in r.stdout, r.stderr


def test_ac_predictor_exports_and_runs(work):
    res = export(work["model"], "onnxruntime", "int8", part="ac_predictor", calib=work["ac_calib"],
                 out=work["dir"] / "ac-int8", log=None)
    assert res.passed and res.manifest.part == "ac_predictor"
    assert [s.name for s in res.manifest.inputs] == ["tokens", "actions", "states"]
    held = work["ac_calib"].arrays("heldout")
    sess = load_bundle(res.path)
    batch = {k: v[:4] for k, v in held.items()}
    out = sess.run(batch)["next_tokens"]
    assert out.shape == (4, 2 * 16, 192)
    res32 = export(work["model"], "openvino", "fp32", part="ac_predictor", calib=work["ac_calib"],
                   out=work["dir"] / "ac-ov", log=None)
    ov_out = load_bundle(res32.path).run({k: v[:1] for k, v in held.items()})["next_tokens"]
    assert token_cosine(ov_out, out[:1]).mean() > 0.98


def test_export_precision_auto_from_a_target_bench(work, capsys):
    """--precision auto --from-bench: the choice comes from the target device's measurements (faked here:
    an AVX2-only box where INT8 ran slower), is said with both p50s, and is what gets exported."""
    from jepa_edge.profiling.results import BenchResult, BenchRow, save_result
    from jepa_edge.profiling.timer import LatencyStats, TimingConfig

    def row(p, ms):
        return BenchRow("onnxruntime", p, latency=LatencyStats.from_samples([ms] * 3, TimingConfig(0, 3)),
                        executed={"requested": p, "executed": p})
    bench = work["dir"] / "target-bench.json"
    save_result(BenchResult([row("fp32", 112.8), row("int8", 118.0)],
                            {"cpu": "AVX2 box", "isa": ["avx2"], "openvino_capabilities": ["FP32", "INT8"]}), bench)
    out = work["dir"] / "auto"
    rc = main(["export", str(work["model"]), "--target", "onnxruntime", "--precision", "auto", "--from-bench",
               str(bench), "--out", str(out), "--json", str(work["dir"] / "auto.json")])
    text = capsys.readouterr().out
    assert rc == 0 and "chose onnxruntime/fp32 (p50 112.80 ms), runner-up onnxruntime/int8 (p50 118.00 ms)" in text
    summary = json.loads((work["dir"] / "auto.json").read_text())
    assert summary["precision"] == "fp32" and summary["auto"]["chosen"]["precision"] == "fp32"
    assert json.loads((out / "manifest.json").read_text())["precision_executed"]["executed"] == "fp32"


def _one_frame_ac_calib(work):
    path = work["dir"] / "calib" / "ac1"
    if not (path / "manifest.json").is_file():
        assert main(["calibrate", str(work["model"]), "--part", "ac_predictor", "--out", str(path),
                     "--count", "12", "--held-out", "6", "--frames", "1"]) == 0
    return path


def test_one_frame_ac_exports_are_shared_frame_planning_bundles(work):
    """A one-frame AC export to ONNX Runtime or OpenVINO takes the current frame once (tokens batch 1)
    and plans the same as the plain graph; what it cannot serve is refused in one line."""
    import numpy as np

    from jepa_edge.errors import ConfigError, DataError
    from jepa_edge.loop.assemble import load_session
    from jepa_edge.planning.planner import LatentDynamics

    d = work["dir"]
    common = dict(part="ac_predictor", calib=_one_frame_ac_calib(work), log=None)
    shared = export(work["model"], "onnxruntime", "fp32", out=d / "ac1-shared", **common)
    plain = export(work["model"], "onnxruntime", "fp32", out=d / "ac1-plain", shared_frame=False, **common)
    ov = export(work["model"], "openvino", "int8", out=d / "ac1-ov", nncf_scheme=SMALL_NNCF, **common)
    assert shared.manifest.shared_frame and ov.manifest.shared_frame and not plain.manifest.shared_frame
    assert shared.passed and ov.passed and shared.manifest.inputs[0].shape == (1, 16, 192)
    assert shared.manifest.inputs[1].shape[0] == "batch"

    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((16, 192)).astype(np.float32)
    actions = rng.uniform(-1, 1, (40, 1, 2)).astype(np.float32)
    state = rng.standard_normal(4).astype(np.float32)
    want = LatentDynamics(load_session(plain.path, "ac_predictor")).rollout(z0, actions, state)
    for path in (shared.path, ov.path):
        dyn = LatentDynamics(load_session(path, "ac_predictor", batch=32))  # OpenVINO: fixed batch 32, padded
        assert dyn.shared_frame
        got = dyn.rollout(z0, actions, state)
        assert got.shape == want.shape and token_cosine(got, want).min() > (0.9999 if path == shared.path else 0.95)
        with pytest.raises(ConfigError, match="--no-shared-frame"):
            dyn.check_horizon(2)
        with pytest.raises(DataError, match="one frame shared by every sample"):
            dyn.step(rng.standard_normal((3, 16, 192)).astype(np.float32), actions[:3, 0])
    with pytest.raises(ConfigError, match="--shared-frame applies to"):
        export(work["model"], "onnxruntime", "fp32", out=d / "ac2", shared_frame=True, frames=2,
               part="ac_predictor", log=None)


def test_ac_predictor_precision_auto_measures_the_planner_call_and_exports_the_choice(work, capsys):
    d = work["dir"]
    calib = _one_frame_ac_calib(work)
    args = ["export", str(work["model"]), "--part", "ac_predictor", "--precision", "auto", "--target", "openvino"]
    assert main([*args, "--calib", str(calib), "--out", str(d / "ac-auto"), "--json", str(d / "ac-auto.json")]) == 0
    auto = json.loads((d / "ac-auto.json").read_text())["auto"]
    chosen = auto["chosen"]
    assert chosen["backend"] == "openvino" and chosen["p50_ms"] > 0 and "AC predictor at 256 samples" in auto["source"]
    assert all(p["backend"] == "openvino" and p["p50_ms"] > 0 for p in auto["ranked"])
    manifest = json.loads((d / "ac-auto" / "manifest.json").read_text())
    assert manifest["precision"] == chosen["precision"] and manifest["shared_frame"] is True
    assert "precision auto: chose openvino/" in capsys.readouterr().out
    assert main([*args, "--out", str(d / "ac-auto2")]) == 2  # no calibration set: one line, exit 2
    assert "give --calib" in capsys.readouterr().err
