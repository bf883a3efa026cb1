"""Tiny hand-made bundles for the bench/profile tests: real OpenVINO IR and ONNX files with real
manifests (jepa_edge.inference.manifest), small enough to build in milliseconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jepa_edge.inference.manifest import Manifest, write_manifest
from jepa_edge.inference.session import TensorSpec

TOKENS, DIM = 4, 16
INPUTS = [TensorSpec("pixels", (1, TOKENS, DIM))]
OUTPUTS = [TensorSpec("tokens", (1, TOKENS, DIM))]


def weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((DIM, DIM)).astype(np.float32) / 4, rng.standard_normal(DIM).astype(np.float32)


def reference(x: np.ndarray, seed: int = 0) -> np.ndarray:
    w, b = weights(seed)
    return np.tanh(x @ w + b)


def openvino_ir(path: Path, seed: int = 0) -> Path:
    import openvino as ov
    import openvino.opset13 as ops

    w, b = weights(seed)
    x = ops.parameter([1, TOKENS, DIM], ov.Type.f32, name="pixels")
    y = ops.tanh(ops.add(ops.matmul(x, ops.constant(w), False, False), ops.constant(b)))
    y.output(0).set_names({"tokens"})
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Model([y], [x], "tiny"), str(path), compress_to_fp16=False)
    return path


def onnx_model(path: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, b = weights(seed)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["pixels", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
         helper.make_node("Tanh", ["a"], ["tokens"])],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, TOKENS, DIM])],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, TOKENS, DIM])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def bundle(root: Path, backend: str, precision: str = "fp32", seed: int = 0, status: str = "ok",
           model: dict | None = None) -> Path:
    """A real bundle dir: openvino (model.xml/.bin), onnxruntime (model.onnx) or a tensorrt one
    whose engine is junk (as an engine built for another GPU is, to this machine)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if backend == "openvino":
        openvino_ir(root / "model.xml", seed)
        entry = "model.xml"
    elif backend == "onnxruntime":
        onnx_model(root / "model.onnx", seed)
        entry = "model.onnx"
    elif backend == "tensorrt":
        (root / "model.engine").write_bytes(b"\x00engine built on an Orin Nano\x00" * 8)
        entry = "model.engine"
    else:
        raise ValueError(backend)
    gate = {"reason": "mean cosine 0.91 < 0.99"} if status == "failed_gate" else None
    write_manifest(root, Manifest(backend, backend, "encoder", precision, entry, INPUTS, OUTPUTS,
                                  scheme={"hint": "LATENCY"}, status=status, gate=gate, model=model or {}))
    return root
