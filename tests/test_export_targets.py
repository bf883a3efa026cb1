"""The target table and request validation: every bad request fails before any work, with a
message that says what to do."""
import numpy as np
import pytest

from jepa_edge.cli import main
from jepa_edge.errors import ConfigError
from jepa_edge.quant import pipeline
from jepa_edge.quant.targets import all_targets, get_target, load_profile, validate_request


def test_builtin_and_profile_targets():
    t = all_targets()
    assert {"onnx", "onnxruntime", "openvino", "tensorrt", "torch", "jetson-orin-nano", "jetson-agx-orin",
            "jetson-orin-nx", "openvino-cpu"} <= set(t)
    assert t["jetson-agx-orin"].dla_cores == 2 and t["jetson-orin-nano"].dla_cores == 0
    assert t["jetson-agx-orin"].kit and t["jetson-agx-orin"].backend == "tensorrt"
    assert "int8" in t["openvino"].precisions and "bf16" not in t["onnxruntime"].precisions


def test_profile_toml_unknown_keys_are_errors(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text('backend = "tensorrt"\nprecisions = ["fp16"]\ndla_cors = 2\n')
    with pytest.raises(ConfigError, match="unknown keys.*dla_cors"):
        load_profile(p)
    p.write_text('backend = "tensorrt"\nprecisions = ["fp16", "int4"]\n')
    with pytest.raises(ConfigError, match="precisions"):
        load_profile(p)
    p.write_text('backend = "tensorrt"\nprecisions = ["fp16"]\ndla_cores = 1\nkit = true\n')
    assert get_target(str(p)).name == "board"


@pytest.mark.parametrize("kw, match", [
    (dict(target="onnxruntime", precision="int8"), "INT8 needs calibration data"),
    (dict(target="jetson-orin-nano", precision="fp16", dla_core=0), "has no DLA cores.*jetson-agx-orin"),
    (dict(target="jetson-agx-orin", precision="fp16", dla_core=2), "DLA core.*0..1"),
    (dict(target="jetson-agx-orin", precision="fp32", dla_core=0), "DLA runs only fp16 or int8"),
    (dict(target="onnxruntime", precision="bf16"), "does not support bf16; it supports fp32, int8"),
    (dict(target="openvino", precision="int4"), "unknown precision"),
    (dict(target="coreml", precision="fp32"), "unknown target 'coreml'"),
])
def test_validate_request_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        validate_request(**kw)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the pipeline gets as far as exporting anything."""
    def boom(*a, **k):
        raise AssertionError("work started before the request was validated")

    monkeypatch.setattr(pipeline, "export_onnx", boom)
    monkeypatch.setattr(pipeline, "load_source", boom)


@pytest.mark.parametrize("argv, match", [
    (["--target", "onnxruntime", "--precision", "int8"], "INT8 needs calibration data"),
    (["--target", "jetson-orin-nano", "--precision", "int8", "--calib", "x", "--dla-core", "0"], "no DLA cores"),
    (["--target", "openvino", "--precision", "int4"], "unknown precision"),
    (["--target", "onnxruntime", "--precision", "fp16"], "does not support fp16"),
    (["--target", "tensorrt", "--precision", "fp16"], r"pip install 'jepa-edge\[tensorrt\]'"),
])
def test_cli_bad_requests_exit_2_before_work(tmp_path, capsys, no_work, argv, match):
    if "tensorrt" in argv and _has_tensorrt():
        pytest.skip("TensorRT is installed here: building is possible")
    out = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "model"), *argv, "--out", str(out)]) == 2
    import re

    assert re.search(match, capsys.readouterr().err)
    assert not out.exists()


def _has_tensorrt():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def test_calibration_shape_mismatch_fails_before_export(tmp_path, monkeypatch):
    import warnings

    import torch

    from jepa_edge.errors import DataError
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.calibration import SmallCalibrationWarning, write_calibration_set

    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", ModelDir(encoder=build_encoder("vit_tiny", img_size=32, depth=1)))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        write_calibration_set(tmp_path / "calib16", ({"pixels": rng.standard_normal((3, 16, 16)).astype(np.float32)}
                                                     for _ in range(10)), count=6, held_out=2, source={})
    monkeypatch.setattr(pipeline, "export_onnx", lambda *a, **k: (_ for _ in ()).throw(AssertionError("work started")))
    with pytest.raises(DataError, match=r"per-sample shape \[3, 16, 16\] but the encoder expects \[3, 32, 32\]"):
        pipeline.export(tmp_path / "model", "onnxruntime", "int8", calib=tmp_path / "calib16", out=tmp_path / "b", log=None)
    assert main(["export", str(tmp_path / "model"), "--target", "openvino", "--precision", "int8",
                 "--calib", str(tmp_path / "calib16"), "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b").exists()


def test_list_targets_prints_the_table(capsys):
    assert main(["export", "--list-targets"]) == 0
    out = capsys.readouterr().out
    assert "jetson-agx-orin" in out and "openvino-cpu" in out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(target=st.sampled_from(sorted(all_targets()) + ["nope", ""]),
       precision=st.sampled_from(["fp32", "fp16", "bf16", "int8", "INT8", "fp8", ""]),
       part=st.sampled_from(["encoder", "ac_predictor", "predictor"]),
       calib=st.sampled_from([None, "", "world"]), dla=st.one_of(st.none(), st.integers(-2, 3)),
       batch=st.integers(-1, 10))
def test_validate_request_accepts_exactly_what_the_table_allows(target, precision, part, calib, dla, batch):
    try:
        req = validate_request(target, precision, part=part, calib=calib, dla_core=dla, batch=batch)
    except ConfigError:
        return
    t = all_targets()[target]
    assert req.precision in t.precisions and part in t.parts and 1 <= batch <= t.max_batch
    assert req.precision != "int8" or calib
    assert dla is None or (0 <= dla < t.dla_cores and req.precision in ("fp16", "int8"))


def test_trt_build_path_follows_the_tensorrt_version(tmp_path):
    t = all_targets()
    assert not t["jetson-orin-nano"].strongly_typed and not t["jetson-agx-orin"].strongly_typed  # TensorRT 10.3
    assert t["jetson-agx-thor"].strongly_typed
    for version, strong in (("10.3", False), ("10.11", False), ("10.12", True), ("11.0", True)):
        p = tmp_path / "b.toml"
        p.write_text(f'backend = "tensorrt"\nprecisions = ["int8"]\nkit = true\ntensorrt = "{version}"\n')
        assert load_profile(p).strongly_typed is strong, version
    p.write_text('backend = "tensorrt"\nprecisions = ["int8"]\ntrt_build = "strong"\n')
    with pytest.raises(ConfigError, match="trt_build"):
        load_profile(p)


def test_qdq_flags_are_refused_off_tensorrt_before_work(tmp_path, capsys, no_work):
    argv = ["export", str(tmp_path / "m"), "--target", "onnxruntime", "--precision", "int8", "--calib", "x",
            "--qdq-tool", "modelopt", "--out", str(tmp_path / "b")]
    assert main(argv) == 2 and "apply to TensorRT targets" in capsys.readouterr().err
    argv = ["export", str(tmp_path / "m"), "--target", "jetson-orin-nano", "--precision", "fp16",
            "--qdq-mode", "int8-dla", "--out", str(tmp_path / "b")]
    assert main(argv) == 2 and "INT8 Q/DQ" in capsys.readouterr().err
