"""TensorRT explicit quantization: the placement checker on hand-built Q/DQ graphs (each rule
broken once), and the GPU-only engine path, which skips cleanly here."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from jepa_edge.errors import MissingExtraError
from jepa_edge.quant.tensorrt_export import check_qdq, errors_of

RNG = np.random.default_rng(0)


def graph(*, zp_dtype=np.int8, zp_value=0, w_axis=1, act_scale=(0.05,), q_feeds_relu=False, bias_int32=False,
          one_sided=False, dynamic_scale=False, negative_scale=False, opset=18):
    """x[1,4,8] -Q/DQ-> MatMul(DQ(W int8 [8,6] per-channel)) -> y[1,4,6], mutated per rule."""
    inits = [numpy_helper.from_array(np.array(act_scale, np.float32).reshape(-1) if len(act_scale) > 1
                                     else np.array(-act_scale[0] if negative_scale else act_scale[0], np.float32), "xs"),
             numpy_helper.from_array(np.array(zp_value, zp_dtype), "xz"),
             numpy_helper.from_array(RNG.integers(-127, 128, (8, 6)).astype(np.int8), "Wq"),
             numpy_helper.from_array(np.full((6 if w_axis == 1 else 8,), 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros((6 if w_axis == 1 else 8,), np.int8), "wz")]
    nodes = []
    scale_in = "xs"
    if dynamic_scale:
        nodes.append(helper.make_node("ReduceMax", ["x"], ["dyn_scale"], keepdims=0, name="dyn"))
        scale_in = "dyn_scale"
    nodes += [helper.make_node("QuantizeLinear", ["x", scale_in, "xz"], ["xq"], name="x_q"),
              helper.make_node("DequantizeLinear", ["xq", scale_in, "xz"], ["xd"], name="x_dq"),
              helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], axis=w_axis, name="w_dq")]
    a = "x" if one_sided else "xd"
    nodes.append(helper.make_node("MatMul", [a, "Wd"], ["mm"], name="matmul"))
    out = "mm"
    if q_feeds_relu:
        nodes.append(helper.make_node("Relu", ["xq"], ["r"], name="relu_on_int8"))
    if bias_int32:
        inits += [numpy_helper.from_array(np.arange(6, dtype=np.int32), "bq"),
                  numpy_helper.from_array(np.array(0.0005, np.float32), "bs")]
        nodes += [helper.make_node("DequantizeLinear", ["bq", "bs"], ["bd"], name="bias_dq"),
                  helper.make_node("Add", ["mm", "bd"], ["y"], name="bias_add")]
        out = "y"
    outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 4, 6])]
    if q_feeds_relu:
        outputs.append(helper.make_tensor_value_info("r", TensorProto.INT8, [1, 4, 8]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])], outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def rules(model, severity="error"):
    return {f.rule for f in check_qdq(model) if f.severity == severity}


def test_a_well_placed_graph_passes_and_runs_in_onnxruntime():
    m = graph()
    assert check_qdq(m) == []
    import onnxruntime as ort

    onnx.checker.check_model(m)
    y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": RNG.standard_normal((1, 4, 8)).astype(np.float32)})[0]
    assert y.shape == (1, 4, 6) and np.isfinite(y).all()


@pytest.mark.parametrize("kw, rule", [
    (dict(zp_dtype=np.uint8, zp_value=128), "int8"),
    (dict(zp_value=3), "zero-point-0"),
    (dict(w_axis=0), "weight-axis"),
    (dict(act_scale=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)), "per-tensor-activations"),
    (dict(q_feeds_relu=True), "q-dq-pair"),
    (dict(q_feeds_relu=True), "float-io"),
    (dict(bias_int32=True), "int8-input"),
    (dict(dynamic_scale=True), "const-scale"),
    (dict(negative_scale=True), "positive-scale"),
    (dict(opset=12), "opset"),
])
def test_each_broken_rule_is_reported_as_an_error(kw, rule):
    assert rule in rules(graph(**kw))


def test_a_half_quantized_matmul_is_a_warning_not_an_error():
    m = graph(one_sided=True)
    assert "both-inputs" in rules(m, "warning") and not errors_of(check_qdq(m))


def test_a_float_graph_is_not_an_explicit_quantization_graph():
    m = graph()
    del m.graph.node[:3]  # drop Q, DQ, weight DQ
    assert "no-qdq" in rules(m)


def _has(mod):
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_has("tensorrt"), reason="TensorRT is installed: the message test is for machines without it")
def test_missing_tensorrt_says_which_extra(tmp_path):
    from jepa_edge.runtime.tensorrt_session import TensorRTSession

    with pytest.raises(MissingExtraError, match=r"pip install 'jepa-edge\[tensorrt\]'"):
        TensorRTSession(tmp_path / "model.engine")


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(not _has("tensorrt"), reason="needs TensorRT: pip install 'jepa-edge[tensorrt]' on an NVIDIA GPU machine")
def test_engine_builds_and_matches_onnxruntime(tmp_path):
    """Builds an INT8 engine from the hand-made Q/DQ graph and compares with ONNX Runtime."""
    import onnxruntime as ort

    from jepa_edge.quant.tensorrt_export import EngineSpec, build_engine
    from jepa_edge.runtime.tensorrt_session import TensorRTSession

    m = graph()
    onnx.save(m, str(tmp_path / "q.onnx"))
    info = build_engine(tmp_path / "q.onnx", tmp_path / "q.engine",
                        EngineSpec("int8", {"x": ([1, 4, 8],) * 3}, timing_cache=str(tmp_path / "t.cache")))
    assert (tmp_path / "t.cache").stat().st_size > 0 and info["bytes"] > 0
    x = RNG.standard_normal((1, 4, 8)).astype(np.float32)
    ref = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with TensorRTSession(tmp_path / "q.engine") as sess:
        got = sess.run({"x": x})["mm"]
    np.testing.assert_allclose(got, ref, rtol=0.05, atol=0.05)
