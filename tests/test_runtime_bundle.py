"""Bundles: manifest + hashes, and `jepa_edge.inference.load` refusing anything it cannot trust.

Uses a tiny hand-built ONNX graph (no torch export), so these tests take well under a second each.
"""
import json
import shutil

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from jepa_edge.errors import BundleError
from jepa_edge.inference.manifest import FORMAT_VERSION, Manifest, read_manifest, write_manifest
from jepa_edge.inference import load_bundle
from jepa_edge.inference.session import TensorSpec

W = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)


def tiny_onnx(path):
    """y = relu(x @ W), x [batch, 3, 8] -> y [batch, 3, 4]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                           helper.make_node("Relu", ["h"], ["y"], name="relu")],
                          "tiny", [x], [y], [numpy_helper.from_array(W, "W")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def make_bundle(d, backend="onnxruntime", status="ok", gate=None):
    d.mkdir(parents=True, exist_ok=True)
    tiny_onnx(d / "model.onnx")
    (d / "notes.txt").write_text("extra file, hashed too\n")
    m = Manifest(backend=backend, target=backend, part="encoder", precision="fp32", entry="model.onnx",
                 inputs=[TensorSpec("x", ("batch", 3, 8))], outputs=[TensorSpec("y", ("batch", 3, 4))],
                 status=status, gate=gate)
    write_manifest(d, m)
    return d


def test_roundtrip_loads_runs_and_lists_every_file(tmp_path):
    d = make_bundle(tmp_path / "b")
    m = read_manifest(d)
    assert set(m.files) == {"model.onnx", "notes.txt"}
    assert m.format_version == FORMAT_VERSION and m.tools["jepa_edge"]
    sess = load_bundle(d)
    x = np.random.default_rng(1).standard_normal((2, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(sess(x), np.maximum(x @ W, 0), rtol=1e-5, atol=1e-5)
    assert sess.manifest.backend == "onnxruntime" and [s.name for s in sess.inputs] == ["x"]


def test_openvino_session_runs_the_same_graph(tmp_path):
    d = make_bundle(tmp_path / "b", backend="onnx")
    import openvino as ov

    ov.save_model(ov.convert_model(str(d / "model.onnx")), str(tmp_path / "ir" / "model.xml"), compress_to_fp16=False)
    m = read_manifest(d)
    ir = tmp_path / "ir"
    m2 = Manifest(**{**m.__dict__, "backend": "openvino", "entry": "model.xml", "files": {}})
    write_manifest(ir, m2)
    sess = load_bundle(ir)
    x = np.random.default_rng(2).standard_normal((2, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(sess(x), np.maximum(x @ W, 0), rtol=1e-4, atol=1e-4)
    assert "32" in sess.effective_config()["INFERENCE_PRECISION_HINT"]  # fp32 bundles pin f32, not bf16


def test_corrupt_file_is_refused(tmp_path):
    d = make_bundle(tmp_path / "b")
    data = bytearray((d / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    (d / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(d)


def test_truncated_file_is_refused(tmp_path):
    d = make_bundle(tmp_path / "b")
    data = (d / "model.onnx").read_bytes()
    (d / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(d)


def test_missing_file_and_missing_manifest_are_refused(tmp_path):
    d = make_bundle(tmp_path / "b")
    (d / "notes.txt").unlink()
    with pytest.raises(BundleError, match="notes.txt is missing"):
        load_bundle(d)
    (d / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(d)


def test_truncated_manifest_is_refused(tmp_path):
    d = make_bundle(tmp_path / "b")
    text = (d / "manifest.json").read_text()
    (d / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match="truncated or corrupt"):
        load_bundle(d)


def test_newer_format_is_refused_with_upgrade_hint(tmp_path):
    d = make_bundle(tmp_path / "b")
    raw = json.loads((d / "manifest.json").read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="newer.*upgrade jepa-edge"):
        load_bundle(d)


def test_failed_gate_bundle_is_not_loaded_by_default(tmp_path):
    d = make_bundle(tmp_path / "b", status="failed_gate", gate={"passed": False, "reason": "mean token cosine 0.9 < 0.99"})
    with pytest.raises(BundleError, match="failed its accuracy gate.*0.9 < 0.99"):
        load_bundle(d)
    assert load_bundle(d, allow_failed_gate=True).run({"x": np.zeros((1, 3, 8), np.float32)})["y"].shape == (1, 3, 4)


def test_unknown_backend_and_copy_elsewhere(tmp_path):
    d = make_bundle(tmp_path / "b")
    moved = tmp_path / "elsewhere" / "b"
    shutil.copytree(d, moved)  # relative paths: a copied bundle still verifies
    assert load_bundle(moved).outputs[0].name == "y"
    m = read_manifest(moved)
    m.backend = "coreml"
    write_manifest(moved, m)  # a signed manifest of a backend this jepa-edge does not know
    with pytest.raises(BundleError, match="coreml"):
        load_bundle(moved)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.dictionaries(st.sampled_from(["format", "format_version", "backend", "entry", "files", "inputs"]),
                                 st.one_of(st.none(), st.integers(), st.text(max_size=10), st.just("jepa-edge-bundle"),
                                           st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                                                    max_size=2),
                                           st.dictionaries(st.text(max_size=8), st.integers(), max_size=2)),
                                 max_size=6).map(lambda d: json.dumps(d).encode())))
def test_any_manifest_bytes_give_a_bundle_error_or_a_manifest(tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("fuzz")
    (d / "manifest.json").write_bytes(blob)
    try:
        read_manifest(d)
    except BundleError:
        pass


FIELDS = ["backend", "target", "part", "precision", "entry", "inputs", "outputs", "files", "status", "gate",
          "format_version", "scheme"]
JUNK = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=6), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=4)), max_size=2),
                 st.just({"model.onnx": {"sha256": "0" * 64, "bytes": 1}}), st.just({"../x": {"sha256": "a", "bytes": 1}}))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(FIELDS), JUNK)
def test_a_mutated_field_gives_a_bundle_error_never_a_crash(tmp_path_factory, field, value):
    d = make_bundle(tmp_path_factory.mktemp("mut"))
    raw = json.loads((d / "manifest.json").read_text())
    raw[field] = value
    (d / "manifest.json").write_text(json.dumps(raw))
    try:
        load_bundle(d)
    except BundleError:
        pass
