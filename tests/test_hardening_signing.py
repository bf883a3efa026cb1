"""Issue 26, item 6c: a model dir's config.json and a bundle's manifest.json are signed (a sha256 of
their canonical content); an edited one is refused, and one without hashes is refused unless
trust_unverified / --trust-unverified."""
import json

import numpy as np
import pytest
import torch

from jepa_edge.cli import main
from jepa_edge.errors import BundleError, CheckpointError
from jepa_edge.inference import load_bundle
from jepa_edge.inference.manifest import Manifest, read_manifest, write_manifest
from jepa_edge.inference.session import TensorSpec
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.registry import build_encoder


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    return save_model_dir(tmp_path / "m", ModelDir(encoder=build_encoder("vit_nano", img_size=32, patch_size=8, depth=1)))


def edit_json(path, change):
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw, indent=2))


@pytest.mark.parametrize("change", [
    lambda c: c["encoder"].__setitem__("num_heads", 1),
    lambda c: c["encoder"].__setitem__("norm_eps", 1e-3),
    lambda c: c["normalization"]["mean"].__setitem__(0, 0.0),
])
def test_an_edited_config_json_is_refused(model, change):
    load_model_dir(model)  # as written: fine
    edit_json(model / "config.json", change)
    with pytest.raises(CheckpointError, match="modified after it was written.*--trust-unverified"):
        load_model_dir(model)


def test_a_model_dir_without_hashes_needs_trust_unverified(model, tmp_path, capsys):
    edit_json(model / "config.json", lambda c: (c.pop("weights_sha256"), c.pop("config_sha256")))
    with pytest.raises(CheckpointError, match="carries no weights_sha256 or config_sha256"):
        load_model_dir(model)
    assert load_model_dir(model, trust_unverified=True).encoder is not None
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 32, 32), np.float32))
    args = ["embed", str(model), "--input", str(x), "--output", str(tmp_path / "z.npy")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--trust-unverified" in err
    assert main(args + ["--trust-unverified"]) == 0 and np.load(tmp_path / "z.npy").shape[0] == 1


def test_the_weights_hash_still_guards_the_weights(model):
    w = model / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 1
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_model_dir(model)


def tiny_bundle(d):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d.mkdir(parents=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["y"])], "t", [x], [y],
                          [numpy_helper.from_array(np.ones(4, np.float32), "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(d / "model.onnx"))
    write_manifest(d, Manifest(backend="onnxruntime", target="onnxruntime", part="encoder", precision="fp32",
                               entry="model.onnx", inputs=[TensorSpec("x", ("batch", 4))],
                               outputs=[TensorSpec("y", ("batch", 4))], model={"config": {"norm_eps": 1e-6}}))
    return d


def test_an_edited_manifest_is_refused(tmp_path):
    d = tiny_bundle(tmp_path / "b")
    assert read_manifest(d).manifest_sha256
    load_bundle(d)
    edit_json(d / "manifest.json", lambda m: m["model"]["config"].__setitem__("norm_eps", 1e-3))
    with pytest.raises(BundleError, match="modified after export"):
        load_bundle(d)
    assert load_bundle(d, trust_unverified=True).run({"x": np.zeros((1, 4), np.float32)})["y"].tolist() == [[1.0] * 4]


def test_a_manifest_without_its_hash_needs_trust_unverified(tmp_path):
    d = tiny_bundle(tmp_path / "b")
    edit_json(d / "manifest.json", lambda m: m.pop("manifest_sha256"))
    with pytest.raises(BundleError, match="carries no manifest_sha256.*--trust-unverified"):
        load_bundle(d)
    load_bundle(d, trust_unverified=True)
    # re-written through the writer, it is signed again
    m = read_manifest(d, trust_unverified=True)
    write_manifest(d, m)
    load_bundle(d)
