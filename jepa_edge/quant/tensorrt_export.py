"""TensorRT: explicit-quantization ONNX, a placement checker, and an engine builder.

INT8 on TensorRT goes through Q/DQ nodes in the ONNX ("explicit quantization"); implicit
calibration (IInt8EntropyCalibrator2) was deprecated in 10.1 and is gone in 11. What TensorRT
expects of those nodes, and what `check_qdq` enforces (errors: TensorRT refuses or misreads it):
  - int8, symmetric: every zero point is an int8 zero (uint8 or non-zero is rejected);
  - scales are positive, finite constants (fp32, or fp16 at opset 19+);
  - activations per-tensor (scalar scale), weights per-channel along the output-channel axis
    (Conv: 0; MatMul B[K, N]: last axis; Gemm: 0 with transB=1, else 1), one scale per channel;
    a weight is either int8 initializer -> DQ or float initializer -> Q -> DQ (both are legal);
  - each activation Q feeds only DQs (a Q->DQ pair TensorRT can fuse into the next layer);
  - each DQ reads a Q output or an int8 weight initializer (never an int32 bias: TensorRT has no
    int32 DequantizeLinear, so biases stay float).
and what it reports as warnings (legal, but against NVIDIA's placement recipe, which is how
modelopt's `modelopt.onnx.quantization` places them):
  - a matrix product quantized on one data input only (TensorRT runs it in float);
  - Q/DQ on the OUTPUT of a MatMul/Gemm/Conv (it sits between the product and its bias Add,
    where it breaks the fusion, and adds a rounding step the recipe does not have);
  - Q/DQ in front of a Softmax (the attention logits: their range is wide and the Softmax
    runs in float anyway);
  - a Cast between a DQ and the MatMul/Gemm/Conv it feeds (strongly typed graphs should
    dequantize straight to the compute type: fp16 scales at opset 19).
The DLA placement (`mode="int8-dla"`: Q/DQ on every tensor, so DLA layers need no float
fallback) expects output and Softmax Q/DQ, so those two are not reported in that mode.

Q/DQ generators (`TrtQuantScheme.tool`):
  - "jepa-edge" (default): the ONNX Runtime quantizer (quant/ort_quant.py) with symmetric
    activations, float biases, per-channel weights, inputs of MatMul/Gemm/Conv only and no
    output Q/DQ (`OpTypesToExcludeOutputQuantization`);
  - "modelopt": NVIDIA's ONNX PTQ (`nvidia-modelopt`, the [modelopt] extra), run on CPU through
    ONNX Runtime; it also quantizes LayerNorm inputs and residual Adds for TensorRT's fused
    transformer kernels.
Either graph is checked, then run in ONNX Runtime for the accuracy gate, so the INT8 numbers are
verified on a machine without a GPU before the engine is built on the device.

The engine builder uses the TensorRT Python API and imports TensorRT only when called:
  - TensorRT 10 before 10.12: weakly typed network; precision by builder flags (FP16 for the
    float layers, INT8 so Q/DQ layers run in int8);
  - TensorRT 10.12+ (weak typing deprecated) and 11 (the only kind left): strongly typed
    network: precision comes from the ONNX tensor types, so fp16 means an fp16 ONNX
    (`to_strongly_typed_onnx`: fp16 Q/DQ scales at opset 19, DQ feeding its op directly,
    LayerNorm kept fp32);
  - FP16 fallback: if the INT8 build fails the fp16 engine is built and the manifest says so;
  - timing cache reused across builds; optional DLA core with GPU fallback.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jepa_edge.errors import ConfigError, JepaEdgeError, MissingExtraError
from jepa_edge.inference.tensorrt_session import import_tensorrt, trt_major


class QDQPlacementError(JepaEdgeError):
    """The Q/DQ ONNX breaks a TensorRT explicit-quantization rule."""


QDQ_TOOLS = ("jepa-edge", "modelopt")
QDQ_MODES = ("int8", "int8-dla")  # int8: inputs of weighted ops only; int8-dla: Q/DQ on every tensor
WEIGHTED_OPS = ("MatMul", "Gemm", "Conv", "ConvTranspose")


@dataclass(frozen=True)
class TrtQuantScheme:
    """How the TensorRT Q/DQ graph is made: which generator, which placement."""
    tool: str = "jepa-edge"          # jepa-edge (ONNX Runtime quantizer, our settings) | modelopt (NVIDIA's)
    mode: str | None = None          # int8 | int8-dla; None: int8-dla with --dla-core, else int8
    max_samples: int = 300
    calibrate_method: str = "minmax"  # minmax (modelopt calls it max) | entropy (modelopt's default)

    def __post_init__(self):
        if self.tool not in QDQ_TOOLS:
            raise ConfigError(f"unknown Q/DQ tool {self.tool!r}; choose one of {', '.join(QDQ_TOOLS)}")
        if self.mode is not None and self.mode not in QDQ_MODES:
            raise ConfigError(f"unknown Q/DQ mode {self.mode!r}; choose one of {', '.join(QDQ_MODES)}")
        if self.calibrate_method not in ("minmax", "entropy"):
            raise ConfigError(f"calibrate_method must be minmax or entropy, not {self.calibrate_method!r}")

    def resolved(self, dla_core: int | None, max_samples: int | None = None) -> "TrtQuantScheme":
        mode = self.mode or ("int8-dla" if dla_core is not None else "int8")
        return replace(self, mode=mode, max_samples=max_samples if max_samples is not None else self.max_samples)


def trt_scheme(max_samples: int = 300, exclude=(), mode: str = "int8"):
    """The ORT quantizer settings that produce TensorRT-style Q/DQ.

    int8: inputs of MatMul/Gemm/Conv only, no Q/DQ on their outputs (so none in front of Softmax);
    int8-dla: every op type quantized, outputs included (Q/DQ on every tensor, modelopt's DLA mode)."""
    from jepa_edge.quant.ort_quant import MATMUL_OPS, OrtQuantScheme

    base = OrtQuantScheme(op_types=MATMUL_OPS, exclude_nodes=tuple(exclude), per_channel=True, activations="int8",
                          symmetric_activations=True, quantize_bias=False, max_samples=max_samples)
    if mode == "int8-dla":
        return base.with_(op_types=None, all_op_types=True)
    return base.with_(no_output_qdq=MATMUL_OPS)


def make_qdq_onnx(fp32_onnx, out, calib, exclude=(), max_samples: int = 300, scheme: TrtQuantScheme | None = None
                  ) -> Path:
    """fp32 ONNX + calibration set -> TensorRT Q/DQ ONNX at `out`, made by scheme.tool."""
    scheme = scheme or TrtQuantScheme(mode="int8")
    mode = scheme.mode or "int8"
    if scheme.tool == "modelopt":
        return modelopt_qdq_onnx(fp32_onnx, out, calib, exclude, max_samples, dla=mode == "int8-dla",
                                 calibrate_method=scheme.calibrate_method)
    from jepa_edge.quant.ort_quant import quantize_onnx

    ort = trt_scheme(max_samples, exclude, mode).with_(calibrate_method=scheme.calibrate_method)
    return quantize_onnx(fp32_onnx, out, calib, ort)


MODELOPT_HINT = ("pip install --no-deps nvidia-modelopt, then its light ONNX dependencies: pip install onnx-graphsurgeon "
                 "onnxslim lief nvidia-ml-py omegaconf pulp pydantic regex tqdm pyyaml (never its [onnx] extra: it "
                 "pulls cupy and onnxruntime-gpu)")


def import_modelopt():
    """modelopt.onnx.quantization, or a MissingExtraError naming the extra."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from modelopt.onnx import quantization
    except ImportError as e:
        raise MissingExtraError(f"nvidia-modelopt ({e})", "modelopt", MODELOPT_HINT) from e
    return quantization


def modelopt_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nvidia-modelopt")
    except PackageNotFoundError:
        return None


def modelopt_qdq_onnx(fp32_onnx, out, calib, exclude=(), max_samples: int = 300, dla: bool = False,
                      calibrate_method: str = "minmax") -> Path:
    """NVIDIA modelopt's INT8 Q/DQ graph of `fp32_onnx`, calibrated on CPU through ONNX Runtime.

    The graph stays fp32 (high_precision_dtype="fp32"): the gate runs it in ONNX Runtime on the host,
    and the strongly typed fp16 variant is made from it like ours (`to_strongly_typed_onnx`)."""
    import json
    import re
    import subprocess
    import sys
    import tempfile

    import_modelopt()  # a missing extra is a MissingExtraError here, not a child's traceback
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {}
    for batch in calib.samples("calib", limit=max_samples, batch=1):
        for k, v in batch.items():
            data.setdefault(k, []).append(v)
    with tempfile.TemporaryDirectory(prefix="jepa-modelopt-") as tmp:
        src = Path(tmp) / "fp32.onnx"  # modelopt writes intermediates beside its input
        shutil.copy2(fp32_onnx, src)
        np.savez(Path(tmp) / "calib.npz", **{k: np.concatenate(v) for k, v in data.items()})
        kw = dict(quantize_mode="int8", calibration_eps=["cpu"],
                  calibration_method="max" if calibrate_method == "minmax" else "entropy",
                  calibration_shapes=",".join(f"{k}:{'x'.join(map(str, (1, *v[0].shape[1:])))}" for k, v in data.items()),
                  high_precision_dtype="fp32", nodes_to_exclude=[f"^{re.escape(n)}$" for n in exclude] or None,
                  target_dla=dla, output_path=str(out.resolve()), log_level="ERROR")
        # modelopt patches ONNX Runtime's quantizer in place (registries, calibrators): run it in a child
        # process so the gate and later ORT quantizations in this one see the stock quantizer
        code = ("import json, sys, numpy as np; from jepa_edge.quant.tensorrt_export import import_modelopt; "
                "a = json.loads(sys.argv[1]); d = dict(np.load(a['calib'])); "
                "import_modelopt().quantize(a['src'], calibration_data=d, **a['kw'])")
        args = json.dumps({"src": str(src), "calib": str(Path(tmp) / "calib.npz"), "kw": kw})
        r = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True)
        if r.returncode != 0 or not out.is_file():
            tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
            raise JepaEdgeError(f"modelopt could not quantize {fp32_onnx}:\n{tail}")
    return out


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


def check_qdq(onnx_model, mode: str = "int8") -> list[Finding]:
    """Check a Q/DQ ONNX (path or ModelProto) against TensorRT's explicit-quantization rules.

    mode "int8": NVIDIA's GPU recipe (inputs of weighted ops); "int8-dla": Q/DQ on every tensor."""
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

    def weight_of(n):
        """The constant a weight Q or DQ quantizes (int8 -> DQ, or float -> Q -> DQ), else None."""
        if n.op_type == "QuantizeLinear":
            return consts.get(n.input[0])
        src = consts.get(n.input[0])
        if src is not None:
            return src
        p = producer.get(n.input[0])
        return consts.get(p.input[0]) if p is not None and p.op_type == "QuantizeLinear" else None

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
        if scale.dtype == np.float16 and opset < 19:
            add("error", n, "fp16-scale-opset", f"fp16 scale at opset {opset}: fp16 Q/DQ needs opset 19+")
        if len(n.input) > 2 and n.input[2]:
            zp = consts.get(n.input[2])
            if zp is None:
                add("error", n, "const-zero-point", "zero point is not a constant")
            elif zp.dtype != np.int8:
                add("error", n, "int8", f"zero point is {zp.dtype}, TensorRT needs int8 (symmetric)")
            elif np.any(zp != 0):
                add("error", n, "zero-point-0", "zero point must be 0 (symmetric quantization)")
        w = weight_of(n)
        if n.op_type == "DequantizeLinear":
            src = consts.get(n.input[0])
            if src is not None and src.dtype != np.int8:
                add("error", n, "int8-input", f"dequantizes a {src.dtype} constant (TensorRT has no {src.dtype} DQ; "
                    f"keep biases float)")
            if src is None:
                p = producer.get(n.input[0])
                if p is None or p.op_type != "QuantizeLinear":
                    add("error", n, "q-dq-pair", "an activation DequantizeLinear must read a QuantizeLinear output")
            casts = [c for c, _ in consumers.get(n.output[0], []) if c.op_type == "Cast"]
            into = [u for c in casts for u, _ in consumers.get(c.output[0], []) if u.op_type in WEIGHTED_OPS]
            if into:
                add("warning", n, "dq-cast", f"DequantizeLinear -> Cast -> {into[0].op_type} {into[0].name}: dequantize "
                    f"straight to the compute type (fp16 scales, opset 19) so TensorRT can fuse the DQ into the INT8 layer")
        if n.op_type == "QuantizeLinear":
            bad = [c.op_type for c, _ in consumers.get(n.output[0], []) if c.op_type != "DequantizeLinear"]
            if bad:
                add("error", n, "q-dq-pair", f"QuantizeLinear output feeds {bad}, not only DequantizeLinear")
            p = producer.get(n.input[0])
            if mode != "int8-dla" and p is not None and p.op_type in WEIGHTED_OPS:
                add("warning", n, "output-qdq", f"Q/DQ on the output of {p.op_type} {p.name}: TensorRT's recipe "
                    f"quantizes the inputs of weighted ops only; this one splits the {p.op_type}+bias fusion and "
                    f"adds rounding error")
        if w is not None and w.dtype in (np.float32, np.float16, np.int8) and w.ndim >= 1:
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            axis = axis % max(w.ndim, 1)
            dq_outs = [n.output[0]] if n.op_type == "DequantizeLinear" else []
            for c, k in (c for o in dq_outs for c in consumers.get(o, [])):
                want = _weight_axis(c, k, w.ndim)
                if want is None and scale.size == 1:
                    continue  # a constant into a non-weighted op (a bias Add under int8-dla): per-tensor is right
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
        if n.op_type == "Softmax" and mode != "int8-dla":
            x = n.input[0]
            if x in dq_out or any(c.op_type == "QuantizeLinear" for c, _ in consumers.get(x, [])):
                add("warning", n, "softmax-input", "Q/DQ on the Softmax input (the attention logits): TensorRT's "
                    "recipe keeps them float")
    int8_io = [v.name for v in list(g.input) + list(g.output) if v.type.tensor_type.elem_type == onnx.TensorProto.INT8]
    for name in int8_io:
        found.append(Finding("error", name, "float-io", "graph inputs/outputs must stay float"))
    return found


def errors_of(findings) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


# ----------------------------------------------------------------- fp16 ONNX (strongly typed TensorRT)

STRONGLY_TYPED_OPSET = 19  # fp16 QuantizeLinear/DequantizeLinear (input, scale and output fp16) need opset 19


def strongly_typed(tensorrt_version: str) -> bool:
    """TensorRT 10.12+ deprecates weakly typed networks and 11 removes them: build strongly typed there."""
    parts = [int(p) for p in str(tensorrt_version).split(".")[:2] if p.isdigit()] + [0, 0]
    return (parts[0], parts[1]) >= (10, 12)


def to_strongly_typed_onnx(src, dst) -> Path:
    """fp32 (or Q/DQ) ONNX -> the graph a strongly typed TensorRT network builds from.

    Compute in fp16 with fp32 graph inputs/outputs; Q/DQ scales become fp16 at opset 19, so each
    DequantizeLinear emits fp16 and feeds its MatMul/Conv directly (no Cast between, which is what
    TensorRT fuses into an INT8 kernel, and what modelopt emits); LayerNorm stays fp32 (Casts around it)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < STRONGLY_TYPED_OPSET:
        from onnx import version_converter

        model = version_converter.convert_version(model, STRONGLY_TYPED_OPSET)
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=["LayerNormalization"])
    _toposort(half.graph)  # the converter appends its input Casts after the nodes that read them
    onnx.save(half, str(dst))
    return Path(dst)


def _toposort(graph) -> None:
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    todo, done = list(graph.node), []
    while todo:
        ready = [n for n in todo if all(i in known for i in n.input)]
        if not ready:  # a cycle or a dangling input: leave the rest in order, the checker will say
            done += todo
            break
        for n in ready:
            known.update(n.output)
        done += ready
        todo = [n for n in todo if n not in ready]
    del graph.node[:]
    graph.node.extend(done)


to_fp16_onnx = to_strongly_typed_onnx  # the name earlier versions used


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
    strongly = strongly_typed(trt.__version__)
    flags = 0
    if strongly:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif major < 10:  # TensorRT 8.x/9.x still need the (now default) explicit-batch flag
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    source = onnx_path
    if strongly and spec.precision in ("fp16", "int8"):
        source = to_strongly_typed_onnx(onnx_path, Path(engine_path).with_name("strongly-typed.fp16.onnx"))
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
        asked = ctx.ort_scheme  # a TrtQuantScheme (--qdq-tool/--qdq-mode), or the generic ORT scheme (--subset-size)
        if asked is not None and getattr(asked, "max_samples", None):
            n_cal = min(int(asked.max_samples), ctx.calib.count("calib"))
        qs = (asked if isinstance(asked, TrtQuantScheme) else TrtQuantScheme()).resolved(ctx.req.dla_core, n_cal)
        if qs.tool == "modelopt":
            import_modelopt()  # say which extra is missing before calibrating anything
        ctx.say(f"      Q/DQ by {qs.tool} ({qs.mode}: "
                + ("every tensor" if qs.mode == "int8-dla" else "inputs of weighted ops, no output Q/DQ") + ")")

        def quantize(exclude, narrow):
            path = ctx.work / f"qdq-{len(tries)}.onnx"
            make_qdq_onnx(ctx.fp32_onnx, path, ctx.calib, exclude, n_cal, scheme=qs)
            findings = check_qdq(path, qs.mode)
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
        if qs.tool == "modelopt":
            scheme.update({"qdq_tool": {"name": "modelopt", "version": modelopt_version(),
                                        "call": "modelopt.onnx.quantization.quantize(quantize_mode='int8', "
                                                f"calibration_eps=['cpu'], target_dla={qs.mode == 'int8-dla'}, "
                                                "high_precision_dtype='fp32')"},
                           "format": "QDQ", "weights": "int8", "per_channel": True, "symmetric_activations": True,
                           "max_samples": n_cal, "calibrate_method": qs.calibrate_method})
        else:
            scheme.update(trt_scheme(n_cal, mode=qs.mode).with_(calibrate_method=qs.calibrate_method).to_dict())
            scheme["qdq_tool"] = {"name": "jepa-edge", "call": "onnxruntime.quantization.quantize_static"}
        scheme["qdq_mode"] = qs.mode
        scheme["qdq_placement"] = ("Q/DQ on every tensor (DLA)" if qs.mode == "int8-dla" else
                                   "inputs of MatMul/Gemm/Conv (weights per-channel), no Q/DQ on their outputs or "
                                   "in front of Softmax" + ("; modelopt adds LayerNorm-input and residual-Add Q/DQ"
                                                            if qs.tool == "modelopt" else ""))
        scheme["kept_float"] = [k["node"] for k in result.kept_float]
        scheme["qdq_check"] = {"errors": 0, "warnings": [str(f) for f in findings], "mode": qs.mode}
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
