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
    from jepa_edge.inference.tensorrt_session import TensorRTSession

    with pytest.raises(MissingExtraError, match=r"pip install 'jepa-edge\[tensorrt\]'"):
        TensorRTSession(tmp_path / "model.engine")


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(not _has("tensorrt"), reason="needs TensorRT: pip install 'jepa-edge[tensorrt]' on an NVIDIA GPU machine")
def test_engine_builds_and_matches_onnxruntime(tmp_path):
    """Builds an INT8 engine from the hand-made Q/DQ graph and compares with ONNX Runtime."""
    import onnxruntime as ort

    from jepa_edge.quant.tensorrt_export import EngineSpec, build_engine
    from jepa_edge.inference.tensorrt_session import TensorRTSession

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


# ---------------------------------------------------------------- builder logic with a stand-in
# Not a TensorRT run (that is the GPU test above): a recording stand-in for the few API calls the
# builder makes, so the TensorRT 10 / 11 branches (flags, strongly typed fp16 ONNX, DLA + GPU
# fallback, timing cache, FP16 fallback) are exercised on every CPU machine.

class _Rec:
    def __init__(self, log, name):
        self._log, self._name = log, name

    def __getattr__(self, attr):
        def call(*a, **k):
            self._log.append((self._name, attr, a))
            return _Rec(self._log, f"{self._name}.{attr}")
        return call


def fake_trt(version, fail_int8=False):
    import types

    import importlib.machinery

    log = []
    trt = types.ModuleType("tensorrt")  # a module with a spec: torch's tracer looks tensorrt up by name
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    trt.__version__, trt.log = version, log
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=5, EXPLICIT_BATCH=0)
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8", GPU_FALLBACK="GPU_FALLBACK")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.DeviceType = types.SimpleNamespace(DLA="DLA", GPU="GPU")
    trt.ProfilingVerbosity = types.SimpleNamespace(DETAILED="DETAILED")

    class Config:
        def __init__(self):
            self.flags = set()

        def set_memory_pool_limit(self, pool, size):
            log.append(("workspace", size))

        def set_flag(self, f):
            self.flags.add(f)

        def create_timing_cache(self, blob):
            log.append(("timing_cache_in", len(blob)))
            return "cache"

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

        def add_optimization_profile(self, p):
            pass

        def get_timing_cache(self):
            return types.SimpleNamespace(serialize=lambda: b"cache-bytes")

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            log.append(("network_flags", flags))
            return "network"

        def create_builder_config(self):
            self.config = Config()
            return self.config

        def create_optimization_profile(self):
            return types.SimpleNamespace(set_shape=lambda *a: log.append(("shape",) + a))

        def build_serialized_network(self, network, config):
            log.append(("build", sorted(config.flags), getattr(config, "default_device_type", "GPU"),
                        getattr(config, "DLA_core", None)))
            if fail_int8 and "INT8" in config.flags:
                return None
            return b"engine-bytes"

    class OnnxParser:
        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            log.append(("parse", str(path).rsplit("/", 1)[-1]))
            return True

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


def _fp32_graph(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4, 6])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g", [x], [y],
                          [numpy_helper.from_array(RNG.standard_normal((8, 6)).astype(np.float32), "W")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.mark.parametrize("version", ["10.3.0", "10.12.0", "11.0.0"])
def test_builder_branches_for_tensorrt_10_and_11(tmp_path, monkeypatch, version):
    import sys

    from jepa_edge.quant import tensorrt_export as tx

    trt = fake_trt(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    _fp32_graph(tmp_path / "m.onnx")
    (tmp_path / "t.cache").write_bytes(b"old")
    spec = tx.EngineSpec("fp16", {"x": ([1, 4, 8], [1, 4, 8], [4, 4, 8])}, 512, dla_core=1,
                         timing_cache=str(tmp_path / "t.cache"))
    info = tx.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", spec, log=None)
    log = trt.log
    build = next(e for e in log if e[0] == "build")
    assert ("timing_cache_in", 3) in log and (tmp_path / "t.cache").read_bytes() == b"cache-bytes"
    assert ("workspace", 512 << 20) in log and build[2:] == ("DLA", 1) and "GPU_FALLBACK" in build[1]
    if version == "10.3.0":  # before 10.12: weakly typed, precision by builder flags
        assert ("network_flags", 0) in log and "FP16" in build[1] and not info["strongly_typed"]
        assert ("parse", "m.onnx") in log
    else:  # 10.12+ and 11: strongly typed, no precision flags; the graph itself is fp16 (inputs stay fp32)
        assert ("network_flags", 1 << 5) in log and "FP16" not in build[1] and info["strongly_typed"]
        parsed = next(e[1] for e in log if e[0] == "parse")
        half = onnx.load(str(tmp_path / parsed))
        assert half.graph.initializer[0].data_type == TensorProto.FLOAT16
        assert half.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT


def test_int8_build_failure_falls_back_to_fp16(tmp_path, monkeypatch):
    import sys

    from jepa_edge.quant import tensorrt_export as tx

    trt = fake_trt("10.3.0", fail_int8=True)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    onnx.save(graph(), str(tmp_path / "q.onnx"))
    _fp32_graph(tmp_path / "fp32.onnx")
    info = tx.build_engine(tmp_path / "q.onnx", tmp_path / "e.engine", tx.EngineSpec("int8", {"x": ([1, 4, 8],) * 3}),
                           fallback_onnx=tmp_path / "fp32.onnx", log=None)
    assert info["precision"] == "fp16" and info["fell_back_from"] == "int8"
    assert [e[1] for e in trt.log if e[0] == "parse"] == ["q.onnx", "fp32.onnx"]
    assert (tmp_path / "e.engine").read_bytes() == b"engine-bytes"


class _HostCuda:
    """Stand-in for the ctypes CUDA runtime: 'device' buffers are host buffers, copies are memmoves."""

    H2D, D2H = 1, 2

    def __init__(self):
        import ctypes

        self.ctypes, self.bufs, self.lib = ctypes, {}, None

    def malloc(self, n):
        b = self.ctypes.create_string_buffer(int(n))
        self.bufs[self.ctypes.addressof(b)] = b
        return self.ctypes.addressof(b)

    def free(self, p):
        self.bufs.pop(p, None)

    def stream(self):
        return 0

    def copy(self, dst, src, n, kind, stream):
        self.ctypes.memmove(dst, src, n)

    def sync(self, stream):
        pass


def add_fake_runtime(trt, weight):
    """An 'engine' computing y = x @ weight, with TensorRT 10's named-tensor API."""
    import ctypes
    import types

    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
    trt.nptype = lambda dt: np.float32

    class Context:
        def __init__(self):
            self.shapes, self.addr = {}, {}

        def set_input_shape(self, name, shape):
            self.shapes[name] = tuple(shape)

        def get_tensor_shape(self, name):
            return (*self.shapes["x"][:-1], weight.shape[1])

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr

        def execute_async_v3(self, stream):
            shape = self.shapes["x"]
            n = int(np.prod(shape))
            x = np.frombuffer((ctypes.c_float * n).from_address(self.addr["x"]), np.float32).reshape(shape)
            y = (x @ weight).astype(np.float32)
            ctypes.memmove(self.addr["y"], y.ctypes.data, y.nbytes)
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["x", "y"][i]

        def get_tensor_mode(self, n):
            return "in" if n == "x" else "out"

        def get_tensor_dtype(self, n):
            return "float"

        def get_tensor_shape(self, n):
            return (-1, 4, 8) if n == "x" else (-1, 4, weight.shape[1])

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, blob):
            return Engine() if blob == b"engine-bytes" else None

    trt.Runtime = Runtime
    trt.Logger.VERBOSE = 0
    return trt


def test_tensorrt_session_binds_named_tensors_and_refuses_foreign_engines(tmp_path, monkeypatch):
    import sys

    from jepa_edge.errors import BundleError
    from jepa_edge.inference import tensorrt_session as ts

    w = RNG.standard_normal((8, 6)).astype(np.float32)
    monkeypatch.setitem(sys.modules, "tensorrt", add_fake_runtime(fake_trt("10.3.0"), w))
    monkeypatch.setattr(ts, "CudaRuntime", _HostCuda)
    (tmp_path / "e.engine").write_bytes(b"engine-bytes")
    with ts.TensorRTSession(tmp_path / "e.engine") as sess:
        assert [s.name for s in sess.inputs] == ["x"] and sess.inputs[0].shape == ("dyn", 4, 8)
        for b in (1, 3, 2):  # buffers grow and are reused across batch sizes
            x = RNG.standard_normal((b, 4, 8)).astype(np.float32)
            np.testing.assert_allclose(sess(x), x @ w, rtol=1e-5, atol=1e-5)
    (tmp_path / "other.engine").write_bytes(b"built elsewhere")
    with pytest.raises(BundleError, match="rebuild it here"):
        ts.TensorRTSession(tmp_path / "other.engine")


def test_export_to_the_desk_tensorrt_target_with_stand_ins(tmp_path, monkeypatch):
    """The `tensorrt` target (engine built here) end to end: export -> manifest -> runtime.load."""
    import sys

    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.pipeline import export
    from jepa_edge.inference import load_bundle
    from jepa_edge.inference import tensorrt_session as ts

    w = RNG.standard_normal((8, 6)).astype(np.float32)
    monkeypatch.setitem(sys.modules, "tensorrt", add_fake_runtime(fake_trt("10.3.0"), w))
    monkeypatch.setattr(ts, "CudaRuntime", _HostCuda)
    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", ModelDir(encoder=build_encoder("vit_tiny", img_size=32, depth=1)))
    res = export(tmp_path / "model", "tensorrt", "fp32", out=tmp_path / "trt", log=None)
    m = res.manifest
    assert m.entry == "model.engine" and m.status == "ok" and m.scheme["tensorrt"] == "10.3.0"
    assert (tmp_path / "trt" / "model.engine").read_bytes() == b"engine-bytes"
    assert isinstance(load_bundle(res.path), ts.TensorRTSession)


# ---------------------------------------------------------------- placement: NVIDIA's recipe (issue 28)

MODELOPT_FIXTURE = __import__("pathlib").Path(__file__).parent / "data" / "modelopt" / "modelopt_vit_micro_int8.onnx"


class _Calib:
    """The two methods of a CalibrationSet the quantizers call, over random-normal samples."""

    def __init__(self, n=8, size=16):
        self.x = np.random.default_rng(1).standard_normal((n, 3, size, size)).astype(np.float32)

    def samples(self, split, limit=None, batch=1):
        for i in range(min(limit or len(self.x), len(self.x))):
            yield {"pixels": self.x[i:i + 1]}

    def count(self, split):
        return len(self.x)


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    """A depth-1 micro ViT's fp32 ONNX and its Q/DQ graphs: the new default and the old placement."""
    import torch

    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.onnx_export import encoder_io, export_onnx
    from jepa_edge.quant.ort_quant import quantize_onnx
    from jepa_edge.quant.tensorrt_export import make_qdq_onnx, trt_scheme

    d = tmp_path_factory.mktemp("micro")
    torch.manual_seed(0)
    model = build_encoder("vit_nano/8", img_size=16, depth=1, embed_dim=32, num_heads=2).eval()
    export_onnx(model, encoder_io(model.cfg), d / "fp32.onnx", dynamic_batch=True, max_batch=4)
    calib = _Calib()
    make_qdq_onnx(d / "fp32.onnx", d / "default.onnx", calib, max_samples=8)
    old = trt_scheme(8).with_(no_output_qdq=())  # the placement before issue 28: ORT's output Q/DQ
    quantize_onnx(d / "fp32.onnx", d / "old.onnx", calib, old)
    return d


def _warnings(model, mode="int8"):
    return [f for f in check_qdq(model, mode) if f.severity == "warning"]


def test_checker_passes_modelopts_graph_with_float_weights_through_q_dq():
    m = onnx.load(str(MODELOPT_FIXTURE))
    inits = {i.name for i in m.graph.initializer}
    weight_q = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in inits]
    assert weight_q, "the fixture must hold modelopt's float -> Q -> DQ weights"
    assert check_qdq(m) == []  # no error, and none of the recipe warnings (output Q/DQ, Softmax input, DQ->Cast)


def test_default_tensorrt_graph_quantizes_inputs_only(micro):
    import onnx as _onnx

    m = _onnx.load(str(micro / "default.onnx"))
    producer = {o: n for n in m.graph.node for o in n.output}
    fed_by_product = [n.name for n in m.graph.node if n.op_type == "QuantizeLinear"
                      and getattr(producer.get(n.input[0]), "op_type", None) in ("MatMul", "Gemm", "Conv")]
    assert fed_by_product == []
    dq = {n.output[0] for n in m.graph.node if n.op_type == "DequantizeLinear"}
    assert not [n for n in m.graph.node if n.op_type == "Softmax" and n.input[0] in dq]
    assert [n for n in m.graph.node if n.op_type == "MatMul" and all(i in dq for i in n.input[:2])]
    assert check_qdq(m) == []


def test_checker_flags_output_qdq_and_softmax_input_qdq(micro):
    rules = {f.rule for f in _warnings(micro / "old.onnx")}
    assert {"output-qdq", "softmax-input"} <= rules and not errors_of(check_qdq(micro / "old.onnx"))
    assert not {"output-qdq", "softmax-input"} & {f.rule for f in _warnings(micro / "old.onnx", "int8-dla")}


def test_int8_dla_places_qdq_on_every_tensor(micro):
    from jepa_edge.quant.tensorrt_export import TrtQuantScheme, make_qdq_onnx

    out = make_qdq_onnx(micro / "fp32.onnx", micro / "dla.onnx", _Calib(), max_samples=8,
                        scheme=TrtQuantScheme(mode="int8-dla"))
    m = onnx.load(str(out))
    dq = {n.output[0] for n in m.graph.node if n.op_type == "DequantizeLinear"}
    for op in ("LayerNormalization", "Softmax", "Add", "MatMul", "Conv"):
        assert any(n.op_type == op and n.input[0] in dq for n in m.graph.node), op
    assert errors_of(check_qdq(m, "int8-dla")) == []


def test_strongly_typed_onnx_has_fp16_scales_at_opset_19_and_no_cast_after_dq(micro, tmp_path):
    import onnxruntime as ort

    from jepa_edge.quant.tensorrt_export import to_strongly_typed_onnx

    st = onnx.load(str(to_strongly_typed_onnx(micro / "default.onnx", tmp_path / "st.onnx")))
    onnx.checker.check_model(st)
    assert max(o.version for o in st.opset_import if o.domain in ("", "ai.onnx")) == 19
    consts = {i.name: i for i in st.graph.initializer}
    dqs = [n for n in st.graph.node if n.op_type == "DequantizeLinear"]
    assert dqs and all(consts[n.input[1]].data_type == TensorProto.FLOAT16 for n in dqs)
    cast_after_dq = [c.name for c in st.graph.node if c.op_type == "Cast" and c.input[0] in {n.output[0] for n in dqs}]
    assert cast_after_dq == []
    assert "dq-cast" not in {f.rule for f in check_qdq(st)}
    # and it still computes the same thing (ONNX Runtime runs fp16 Q/DQ at opset 19)
    x = _Calib().x[:2]
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"pixels": x})[0]  # noqa: E731
    a, b = run(tmp_path / "st.onnx"), run(micro / "default.onnx")
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.05


def test_modelopt_missing_names_the_extra(monkeypatch):
    import sys

    from jepa_edge.quant.tensorrt_export import import_modelopt

    monkeypatch.setitem(sys.modules, "modelopt", None)
    monkeypatch.setitem(sys.modules, "modelopt.onnx", None)
    with pytest.raises(MissingExtraError, match=r"jepa-edge\[modelopt\]"):
        import_modelopt()


@pytest.mark.skipif(not _has("modelopt.onnx.quantization"), reason="needs the [modelopt] extra")
def test_modelopt_generator_runs_on_cpu_and_passes_the_checker(micro):
    from jepa_edge.quant.tensorrt_export import TrtQuantScheme, make_qdq_onnx

    out = make_qdq_onnx(micro / "fp32.onnx", micro / "mo.onnx", _Calib(), max_samples=8,
                        scheme=TrtQuantScheme(tool="modelopt", mode="int8"))
    assert errors_of(check_qdq(out)) == [] and not {"output-qdq", "softmax-input"} & {f.rule for f in _warnings(out)}


def test_tensorrt_11_kit_builds_strongly_typed(tmp_path):
    """A TensorRT 11 profile: the kit ships the fp16/opset-19 graph, --stronglyTyped, and says why."""
    import subprocess
    import warnings

    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.calibration import SmallCalibrationWarning, write_calibration_set
    from jepa_edge.quant.pipeline import export

    prof = tmp_path / "board-trt11.toml"
    prof.write_text('backend = "tensorrt"\nprecisions = ["fp16", "int8"]\nkit = true\ntensorrt = "11.0"\n'
                    'jetpack = "8"\nmax_batch = 2\n')
    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", ModelDir(encoder=build_encoder("vit_nano/8", img_size=16, depth=1, embed_dim=32,
                                                                      num_heads=2)))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        calib = write_calibration_set(tmp_path / "calib", ({"pixels": rng.standard_normal((3, 16, 16)).astype(np.float32)}
                                                           for _ in range(12)), count=8, held_out=4, source={})
    res = export(tmp_path / "model", str(prof), "int8", calib=calib, out=tmp_path / "kit", log=None)
    kit, m = res.path, res.manifest
    assert m.status == "kit" and m.scheme["build_path"] == "strongly-typed" and m.scheme["qdq_mode"] == "int8"
    assert m.scheme["qdq_tool"]["name"] == "jepa-edge" and m.scheme["qdq_check"]["warnings"] == []
    st = onnx.load(str(kit / "model.strongly-typed.onnx"))
    dq_out = {n.output[0] for n in st.graph.node if n.op_type == "DequantizeLinear"}
    assert dq_out and not [n for n in st.graph.node if n.op_type == "Cast" and n.input[0] in dq_out]
    build, prof_sh, readme = ((kit / f).read_text() for f in ("build_engine.sh", "profile.sh", "README.md"))
    assert "--stronglyTyped" in build and "model.strongly-typed.onnx" in build
    assert "Build path: strongly typed" in readme and "Q/DQ made by jepa-edge" in readme
    assert "not run on TensorRT hardware" in readme.replace("None of this has run", "not run")
    assert "--useCudaGraph" in prof_sh and "nvpmodel -q" in prof_sh and "power.txt" in prof_sh
    for script in ("build_engine.sh", "profile.sh"):
        assert subprocess.run(["bash", "-n", str(kit / script)]).returncode == 0
