"""TensorRT: explicit-quantization ONNX, a placement checker, and an engine builder.

INT8 on TensorRT goes through Q/DQ nodes in the ONNX ("explicit quantization"); implicit
calibration (IInt8EntropyCalibrator2) was deprecated in 10.1 and is gone in 11. What TensorRT
expects of those nodes, and what `check_qdq` enforces:
  - int8, symmetric: every zero point is an int8 zero (uint8 or non-zero is rejected);
  - scales are positive, finite constants;
  - activations per-tensor (scalar scale), weights per-channel along the output-channel axis
    (Conv: 0; MatMul B[K, N]: last axis; Gemm: 0 with transB=1, else 1), one scale per channel;
  - each activation Q feeds only DQs (a Q->DQ pair TensorRT can fuse into the next layer);
  - each DQ reads a Q output or an int8 weight initializer (never an int32 bias: TensorRT has no
    int32 DequantizeLinear, so biases stay float);
  - matrix products are quantized on both data inputs, otherwise TensorRT runs them in float and
    the Q/DQ only cost time (reported as a warning).
The Q/DQ graph is made by the ONNX Runtime quantizer (quant/ort_quant.py) with symmetric
activations and float biases, checked, then run in ONNX Runtime for the accuracy gate, so the
INT8 numbers are verified on a machine without a GPU before the engine is built on the device.

The engine builder uses the TensorRT Python API and imports TensorRT only when called:
  - TensorRT 10: weakly typed network; precision by builder flags (FP16 for the float layers,
    INT8 so Q/DQ layers run in int8);
  - TensorRT 11: strongly typed network (the only kind left): precision comes from the ONNX
    tensor types, so fp16 means an fp16 ONNX (converted here, LayerNorm kept fp32);
  - FP16 fallback: if the INT8 build fails the fp16 engine is built and the manifest says so;
  - timing cache reused across builds; optional DLA core with GPU fallback.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jepa_edge.errors import JepaEdgeError
from jepa_edge.inference.tensorrt_session import import_tensorrt, trt_major


class QDQPlacementError(JepaEdgeError):
    """The Q/DQ ONNX breaks a TensorRT explicit-quantization rule."""


def trt_scheme(max_samples: int = 300, exclude=()):
    """The ORT quantizer settings that produce TensorRT-style Q/DQ."""
    from jepa_edge.quant.ort_quant import MATMUL_OPS, OrtQuantScheme

    return OrtQuantScheme(op_types=MATMUL_OPS, exclude_nodes=tuple(exclude), per_channel=True, activations="int8",
                          symmetric_activations=True, quantize_bias=False, max_samples=max_samples)


def make_qdq_onnx(fp32_onnx, out, calib, exclude=(), max_samples: int = 300) -> Path:
    from jepa_edge.quant.ort_quant import quantize_onnx

    return quantize_onnx(fp32_onnx, out, calib, trt_scheme(max_samples, exclude))


# ----------------------------------------------------------------- placement checker

@dataclass(frozen=True)
class Finding:
    severity: str   # "error": TensorRT refuses or misreads it; "warning": legal but wasted
    node: str
    rule: str
    message: str

    def __str__(self):
        return f"{self.severity}: {self.node}: {self.message} [{self.rule}]"


def _consts(model) -> dict[str, np.ndarray]:
    import onnx

    out = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = onnx.numpy_helper.to_array(a.t)
    return out


def _weight_axis(consumer, input_index: int, rank: int) -> int | None:
    if consumer.op_type in ("Conv", "ConvTranspose"):
        return 0 if consumer.op_type == "Conv" else 1
    if consumer.op_type == "MatMul" and input_index == 1:
        return rank - 1
    if consumer.op_type == "Gemm" and input_index == 1:
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return None


def check_qdq(onnx_model) -> list[Finding]:
    """Check a Q/DQ ONNX (path or ModelProto) against TensorRT's explicit-quantization rules."""
    import onnx

    model = onnx.load(str(onnx_model)) if not hasattr(onnx_model, "graph") else onnx_model
    g = model.graph
    consts = _consts(model)
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for k, i in enumerate(n.input):
            consumers.setdefault(i, []).append((n, k))
    found: list[Finding] = []

    def add(sev, node, rule, msg):
        found.append(Finding(sev, node.name or node.op_type, rule, msg))

    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        found.append(Finding("error", "<model>", "opset", f"opset {opset} < 13: per-channel Q/DQ needs 13+"))
    qdq = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        found.append(Finding("error", "<model>", "no-qdq", "no QuantizeLinear/DequantizeLinear nodes: not an explicit-quantization graph"))
    for n in qdq:
        scale = consts.get(n.input[1]) if len(n.input) > 1 else None
        if scale is None:
            add("error", n, "const-scale", f"scale {n.input[1] if len(n.input) > 1 else '?'} is not a constant")
            continue
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            add("error", n, "positive-scale", "scale must be positive and finite")
        if len(n.input) > 2 and n.input[2]:
            zp = consts.get(n.input[2])
            if zp is None:
                add("error", n, "const-zero-point", "zero point is not a constant")
            elif zp.dtype != np.int8:
                add("error", n, "int8", f"zero point is {zp.dtype}, TensorRT needs int8 (symmetric)")
            elif np.any(zp != 0):
                add("error", n, "zero-point-0", "zero point must be 0 (symmetric quantization)")
        is_weight = n.op_type == "DequantizeLinear" and n.input[0] in consts
        if n.op_type == "DequantizeLinear":
            src = consts.get(n.input[0])
            if src is not None and src.dtype != np.int8:
                add("error", n, "int8-input", f"dequantizes a {src.dtype} constant (TensorRT has no {src.dtype} DQ; "
                    f"keep biases float)")
            if src is None:
                p = producer.get(n.input[0])
                if p is None or p.op_type != "QuantizeLinear":
                    add("error", n, "q-dq-pair", "an activation DequantizeLinear must read a QuantizeLinear output")
        if n.op_type == "QuantizeLinear":
            bad = [c.op_type for c, _ in consumers.get(n.output[0], []) if c.op_type != "DequantizeLinear"]
            if bad:
                add("error", n, "q-dq-pair", f"QuantizeLinear output feeds {bad}, not only DequantizeLinear")
        if is_weight:
            w = consts[n.input[0]]
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            axis = axis % max(w.ndim, 1)
            for c, k in consumers.get(n.output[0], []):
                want = _weight_axis(c, k, w.ndim)
                if scale.size == 1:
                    add("warning", n, "per-channel-weights", f"weights of {c.name} are per-tensor; per-channel keeps accuracy")
                elif want is not None and axis != want:
                    add("error", n, "weight-axis", f"per-channel axis {axis} for {c.op_type} {c.name}, TensorRT "
                        f"needs the output-channel axis {want}")
                elif scale.size != w.shape[axis]:
                    add("error", n, "weight-axis", f"{scale.size} scales for {w.shape[axis]} channels")
        elif scale.size != 1:
            add("error", n, "per-tensor-activations", f"activation scale has {scale.size} values; TensorRT needs per-tensor")
    dq_out = {n.output[0] for n in qdq if n.op_type == "DequantizeLinear"}
    for n in g.node:
        if n.op_type in ("MatMul", "Gemm", "Conv"):
            q = [i in dq_out for i in n.input[:2]]
            if any(q) and not all(q):
                add("warning", n, "both-inputs", f"only {'AB'[q.index(True)]} input is quantized: TensorRT runs this "
                    f"{n.op_type} in float and the Q/DQ cost time")
    int8_io = [v.name for v in list(g.input) + list(g.output) if v.type.tensor_type.elem_type == onnx.TensorProto.INT8]
    for name in int8_io:
        found.append(Finding("error", name, "float-io", "graph inputs/outputs must stay float"))
    return found


def errors_of(findings) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


# ----------------------------------------------------------------- fp16 ONNX (TensorRT 11 strongly typed)

def to_fp16_onnx(src, dst) -> Path:
    """fp32 (or Q/DQ) ONNX -> fp16 compute, fp32 I/O; Q/DQ and LayerNorm stay fp32 (Casts around them)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True,
                                    op_block_list=["LayerNormalization", "QuantizeLinear", "DequantizeLinear"])
    onnx.save(half, str(dst))
    return Path(dst)


# ----------------------------------------------------------------- engine builder

@dataclass(frozen=True)
class EngineSpec:
    precision: str                       # fp32 | fp16 | int8 (int8: the ONNX carries Q/DQ)
    shapes: dict                         # input name -> (min, opt, max) shapes
    workspace_mb: int = 1024
    dla_core: int | None = None
    timing_cache: str | None = None      # file read before and written after the build
    fp16_fallback: bool = True


def build_engine(onnx_path, engine_path, spec: EngineSpec, fallback_onnx=None, log=print) -> dict:
    """Build and serialize an engine; returns what was built (precision actually used, TRT version).

    fallback_onnx: the fp32 graph to build in fp16 if the INT8 (Q/DQ) build fails."""
    log = log or (lambda *_: None)
    trt = import_tensorrt()
    major = trt_major(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly = major >= 11
    flags = 0
    if strongly:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif major < 10:  # TensorRT 8.x/9.x still need the (now default) explicit-batch flag
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    source = onnx_path
    if strongly and spec.precision in ("fp16", "int8"):
        source = to_fp16_onnx(onnx_path, Path(engine_path).with_name("strongly-typed.fp16.onnx"))
    if not parser.parse_from_file(str(source)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise JepaEdgeError(f"TensorRT {trt.__version__} cannot parse {source}: {errs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    if not strongly:
        if spec.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # float layers run fp16 (the fallback for what is not int8)
        if spec.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # honour the Q/DQ nodes
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in spec.shapes.items():
        profile.set_shape(name, tuple(lo), tuple(opt), tuple(hi))
    config.add_optimization_profile(profile)
    cache_path = Path(spec.timing_cache) if spec.timing_cache else None
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path and cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    if spec.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(spec.dla_core)
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # attention/LayerNorm/GELU are not DLA layers
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        if spec.precision == "int8" and spec.fp16_fallback and fallback_onnx is not None:
            log("TensorRT could not build the INT8 engine; falling back to FP16")
            info = build_engine(fallback_onnx, engine_path, EngineSpec("fp16", spec.shapes, spec.workspace_mb,
                                spec.dla_core, spec.timing_cache, False), log=log)
            return {**info, "fell_back_from": "int8"}
        raise JepaEdgeError(f"TensorRT {trt.__version__} failed to build the {spec.precision} engine (see its log)")
    Path(engine_path).write_bytes(bytes(blob))
    if cache_path:
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return {"tensorrt": trt.__version__, "precision": spec.precision, "strongly_typed": strongly,
            "dla_core": spec.dla_core, "bytes": Path(engine_path).stat().st_size}


def profile_shapes(io_spec, target) -> dict:
    """Optimization profile: batch 1..max_batch, tuned for opt_batch; other axes as exported."""
    out = {}
    for s in io_spec.inputs:
        rest = [int(d) for d in s.shape[1:]]
        out[s.name] = ([1, *rest], [target.opt_batch, *rest], [target.max_batch, *rest])
    return out


# ----------------------------------------------------------------- pipeline builder

def build(ctx):
    """Export-pipeline step for TensorRT targets: Q/DQ ONNX (+ check + ORT gate), then a Jetson kit
    (engine built on the board) or an engine built on this machine's GPU."""
    from jepa_edge.quant import jetson_kit
    from jepa_edge.inference.ort_session import OrtSession

    t = ctx.req.target
    onnx_file = ctx.work / "model.onnx"
    scheme = {"explicit_quantization": ctx.precision == "int8", "workspace_mb": t.workspace_mb,
              "dla_core": ctx.req.dla_core, "max_batch": t.max_batch, "opt_batch": t.opt_batch}
    if ctx.precision == "int8":
        tries = []
        n_cal = min(300, ctx.calib.count("calib"))

        def quantize(exclude, narrow):
            path = ctx.work / f"qdq-{len(tries)}.onnx"
            make_qdq_onnx(ctx.fp32_onnx, path, ctx.calib, exclude, n_cal)
            findings = check_qdq(path)
            bad = errors_of(findings)
            if bad:
                raise QDQPlacementError("Q/DQ graph breaks TensorRT placement rules: " + "; ".join(map(str, bad[:5])))
            tries.append((path, findings))
            return OrtSession(path, precision="int8")  # the gate runs the Q/DQ graph in ONNX Runtime

        def rank():
            from jepa_edge.quant.gate import layer_sensitivity
            from jepa_edge.quant.ort_quant import quantized_nodes

            return layer_sensitivity(ctx.fp32_onnx, ctx.calib, quantized_nodes(tries[0][0]), symmetric_activations=True)

        result, _ = ctx.gated(quantize, rank)
        path, findings = tries[-1]
        shutil.copy2(path, onnx_file)
        scheme.update(trt_scheme(n_cal).to_dict())
        scheme["kept_float"] = [k["node"] for k in result.kept_float]
        scheme["qdq_check"] = {"errors": 0, "warnings": [str(f) for f in findings]}
        scheme["gate_runtime"] = "onnxruntime (Q/DQ graph on CPU)"
    else:
        shutil.copy2(ctx.fp32_onnx, onnx_file)
    if t.kit:
        return jetson_kit.write_kit(ctx, onnx_file, scheme)
    # build here (desk GPU): engine + session; the gate measures the engine itself for non-int8
    from jepa_edge.inference.tensorrt_session import TensorRTSession

    spec = EngineSpec(ctx.precision, profile_shapes(ctx.io, t), t.workspace_mb, ctx.req.dla_core,
                      str(ctx.work / "timing.cache"))
    info = build_engine(onnx_file, ctx.stage / "model.engine", spec, fallback_onnx=ctx.fp32_onnx, log=ctx.say)
    scheme.update(info)
    sess = TensorRTSession(ctx.stage / "model.engine", ctx.io.inputs, ctx.io.outputs, precision=info["precision"],
                           dla_core=ctx.req.dla_core)
    if ctx.precision != "fp32":
        ort_gate = ctx.gate_result
        ctx.say("      the engine itself vs FP32:")
        engine_gate = ctx.check(sess)  # what runs is what is judged
        if ort_gate is not None and engine_gate is not None:
            scheme["ort_qdq_gate"] = ort_gate.to_dict()
            engine_gate.kept_float, engine_gate.attempts = ort_gate.kept_float, ort_gate.attempts
    sess.close()
    m = ctx.manifest("model.engine", scheme=scheme)
    m.precision = info["precision"]
    return m
