"""The precision that actually executed, read from the compiled model, and the label that says so.

A request is not a fact: OpenVINO runs a `bf16` bundle in f32 on a CPU without AVX512-BF16/AMX and
says so only in its compiled properties; an INT8 graph whose quantizers were folded away runs
float; TensorRT picks per-layer precisions. Every reader here looks at what the runtime compiled:

- OpenVINO: `INFERENCE_PRECISION_HINT` and the runtime (exec) graph's per-op `runtimePrecision`
  and kernel names (`brgemm_avx512_i8` = int8 math; `u8` weights into an `..._f32` kernel =
  weight-only INT8 decompressed into f32 math);
- ONNX Runtime: the providers and the node types of the graph after ORT's own optimizations
  (QLinear*/MatMulInteger*/DynamicQuantize* = int8 math; float MatMul/Gemm = float);
- TensorRT: the layer datatypes of `trtexec --exportLayerInfo` (with `--profilingVerbosity=detailed`),
  or, without them, Q/DQ fused into a layer or the layer feeding it.

`Executed.label` is what tables print: `int8` when the request ran, `bf16 → fp32 (no BF16 on this
CPU)` when it fell back. Precision names are the package's (fp32, fp16, bf16, int8, int8w).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ARROW = "→"


@dataclass
class Executed:
    requested: str
    executed: str                              # fp32 | fp16 | bf16 | int8 | int8w | ? (unknown)
    reason: str = ""                           # why it differs from the request (empty when it does not)
    source: str = ""                           # how it was read (runtime graph, optimized graph, layer info, ...)
    ops: dict = field(default_factory=dict)    # {precision: count} over the heavy ops (matmul / conv / gemm)

    @property
    def fell_back(self) -> bool:
        return self.executed not in (self.requested, "?")

    @property
    def label(self) -> str:
        if not self.fell_back:
            return self.requested
        return f"{self.requested} {ARROW} {self.executed}" + (f" ({self.reason})" if self.reason else "")

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, d: dict) -> "Executed":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def label_of(requested: str, executed: dict | None) -> str:
    """The table label for a row/manifest: the executed record's label, else the bare request."""
    if not executed:
        return requested
    return Executed.from_dict({"requested": requested, **executed}).label


def _dominant(ops: Counter) -> str:
    return ops.most_common(1)[0][0] if ops else "?"


def fallback_reason(requested: str, executed: str, caps: list[str] | None = None, isa: list[str] | None = None) -> str:
    """Why a CPU ran `executed` for a `requested` precision, from what the CPU and OpenVINO report."""
    from jepa_edge.utils.device_info import isa_features, openvino_capabilities

    if requested == executed:
        return ""
    caps = openvino_capabilities() if caps is None else caps
    isa = isa_features() if isa is None else isa
    if requested == "bf16":
        if "BF16" not in caps and not {"avx512_bf16", "amx_bf16", "bf16"} & set(isa):
            return "no BF16 on this CPU"
        return "the runtime chose another precision"
    if requested == "fp16":
        return "no FP16 math on this CPU" if "FP16" not in caps else "the runtime chose another precision"
    if requested in ("int8", "int8w"):
        return "no INT8 kernels for these layers" if "INT8" in caps or not caps else "no INT8 on this CPU"
    return "the runtime chose another precision"


# ---------------------------------------------------------------- OpenVINO

_OV_HEAVY = ("FullyConnected", "MatMul", "Convolution", "GroupConvolution", "ScaledDotProductAttention",
             "GatherMatmul")
_OV_TYPES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8", "i4": "int4", "u4": "int4"}


def _rt(info, key: str) -> str:
    return str(info[key].astype(str)) if key in info else ""


def openvino_ops(compiled) -> Counter:
    """{precision: count} over the heavy ops of a compiled model's runtime graph. Weight-only INT8 (u8/i8
    runtime precision into a float kernel) counts as int8w; int8 math (an *_i8 / *_u8 kernel) as int8."""
    ops: Counter = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if _rt(info, "layerType") not in _OV_HEAVY:
            continue
        rp, kernel = _rt(info, "runtimePrecision"), _rt(info, "primitiveType").lower()
        p = _OV_TYPES.get(rp, rp or "?")
        if p in ("int8", "int4") and not any(t in kernel for t in ("i8", "u8", "int8")) and \
                any(t in kernel for t in ("f32", "bf16", "f16")):
            p = "int8w"  # compressed weights decompressed into float math
        ops[p] += 1
    return ops


def from_openvino(compiled, requested: str, caps: list[str] | None = None) -> Executed:
    """What an OpenVINO compiled model runs. The hint decides the float math; the heavy ops of the
    runtime graph decide int8 (math) vs int8w (weights only) vs float."""
    try:
        raw = compiled.get_property("INFERENCE_PRECISION_HINT")
        hint = raw.get_type_name() if hasattr(raw, "get_type_name") else str(raw)  # ov.Type -> "f32"
    except Exception:  # noqa: BLE001 - a device without the property (GPU/NPU plugins differ)
        hint = ""
    ops = openvino_ops(compiled)
    float_p = "bf16" if "bf" in hint.lower() else "fp16" if "16" in hint else "fp32"
    if requested == "int8w":
        ex = "int8w" if ops.get("int8w") else _dominant(ops) if ops else float_p
    elif requested == "int8":
        ex = "int8" if ops.get("int8") else _dominant(ops) if ops else float_p
    else:  # float request: the hint is the plugin's word, the graph confirms it
        ex = float_p
        if ops and float_p not in ops:
            ex = _dominant(ops)
    return Executed(requested, ex, fallback_reason(requested, ex, caps) if ex != requested else "",
                    f"openvino runtime graph (INFERENCE_PRECISION_HINT={hint or '?'})", dict(ops))


# ---------------------------------------------------------------- ONNX Runtime

_ORT_INT8 = ("QLinearMatMul", "QLinearConv", "MatMulInteger", "ConvInteger", "MatMulIntegerToFloat",
             "DynamicQuantizeMatMul", "QGemm", "QAttention", "DynamicQuantizeLSTM", "QLinearAdd")
_ORT_FLOAT = ("MatMul", "Gemm", "Conv", "FusedMatMul", "FusedGemm", "FusedConv", "Attention", "MultiHeadAttention",
              "NhwcFusedConv")


def onnx_heavy_ops(model) -> Counter:
    """{precision: count} over the matmul/conv nodes of an (optimized) ONNX graph."""
    import onnx

    init_types = {i.name: i.data_type for i in model.graph.initializer}
    vi = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.value_info) + list(model.graph.input)}
    ops: Counter = Counter()
    for n in model.graph.node:
        if n.op_type in _ORT_INT8:
            ops["int8"] += 1
        elif n.op_type in _ORT_FLOAT:
            t = next((init_types.get(i) or vi.get(i) for i in n.input if init_types.get(i) or vi.get(i)), None)
            ops["fp16" if t == onnx.TensorProto.FLOAT16 else "bf16" if t == onnx.TensorProto.BFLOAT16 else "fp32"] += 1
        elif n.op_type == "MatMulNBits":
            ops["int8w"] += 1
    return ops


def from_ort(model_path: str | os.PathLike, requested: str, providers: list[str], optimization_level=None) -> Executed:
    """What an ONNX Runtime session runs: its graph after ORT's optimizations (QDQ pairs around a MatMul
    fuse into QLinearMatMul only where the provider has INT8 kernels), on the providers it got."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="jepa-edge-ort-opt-") as tmp:
        so = ort.SessionOptions()
        so.log_severity_level = 3  # the optimized copy is for reading, not for running elsewhere
        if optimization_level is not None:
            so.graph_optimization_level = optimization_level
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(model_path), so, providers=providers)
        ops = onnx_heavy_ops(onnx.load(so.optimized_model_filepath, load_external_data=False))
    ex = "int8" if requested == "int8" and ops.get("int8") else _dominant(ops) if ops else requested
    if requested != "int8" and ops.get(requested):
        ex = requested
    reason = ""
    if ex != requested:
        reason = ("the quantized nodes were not fused into INT8 kernels on " + ",".join(providers)
                  if requested == "int8" else f"{ex} nodes on " + ",".join(providers))
    return Executed(requested, ex, reason, "onnxruntime optimized graph on " + ",".join(providers), dict(ops))


# ---------------------------------------------------------------- TensorRT

_TRT_DTYPES = (("int8", "int8"), ("fp8", "fp8"), ("half", "fp16"), ("fp16", "fp16"), ("bf16", "bf16"),
               ("float", "fp32"), ("fp32", "fp32"), ("int4", "int4"))
_TRT_HEAVY = ("CaskGemm", "CaskConvolution", "Gemm", "Convolution", "MatrixMultiply", "CaskFlashAttention",
              "gemm", "Myelin")


def _trt_dtype(fmt: str) -> str | None:
    f = fmt.lower()
    return next((p for key, p in _TRT_DTYPES if key in f), None)


def from_trt_layers(path_or_data, requested: str) -> Executed:
    """Per-layer precisions of a TensorRT engine from `trtexec --exportLayerInfo` JSON (copied back from
    the device). With `--profilingVerbosity=detailed` each layer lists its inputs' Format/Datatype
    (exact); without it, a GEMM/convolution counts as int8 when a QuantizeLinear is fused into it or
    into the layer feeding it (inferred, and the source says so)."""
    data = path_or_data if isinstance(path_or_data, dict) else json.loads(Path(path_or_data).read_text())
    layers = data.get("Layers", [])
    ops: Counter = Counter()
    exact = False
    prev_name = ""
    for layer in layers:
        if isinstance(layer, str):  # --profilingVerbosity=layer_names_only
            layer = {"Name": layer, "LayerType": ""}
        name, kind = str(layer.get("Name", "")), str(layer.get("LayerType", ""))
        heavy = any(h.lower() in kind.lower() for h in _TRT_HEAVY if h != "Myelin") or \
            ("Myelin" in kind and "MatMul" in name)
        if heavy:
            fmts = [str(t.get("Format/Datatype", "")) for t in layer.get("Inputs", []) if isinstance(t, dict)]
            dts = [d for d in (_trt_dtype(f) for f in fmts) if d]
            if dts:
                exact = True
                ops[dts[0]] += 1
            else:
                q = "QuantizeLinear" in name or "QuantizeLinear" in prev_name
                ops["int8" if q else "?"] += 1
        prev_name = name
    if not exact and ops.get("?") and ops.get("int8"):  # inferred: the unquantized gemms run the float default
        ops["fp16/fp32"] = ops.pop("?")
    ex = "int8" if requested == "int8" and ops.get("int8") else _dominant(ops)
    if requested != "int8" and ops.get(requested):
        ex = requested
    src = "trtexec layer info (" + ("exact datatypes" if exact else "inferred from Q/DQ fusion in layer names; "
                                     "--profilingVerbosity=detailed records exact datatypes") + ")"
    return Executed(requested, ex, "" if ex in (requested, "?") else "TensorRT chose it per layer", src, dict(ops))


def executed_precision(session) -> Executed:
    """What a session runs: its own reader where the backend has one (OpenVINO, ONNX Runtime); torch and
    TensorRT sessions run the dtype/engine they were built with (TensorRT's per-layer truth comes from
    the kit's layer info: `from_trt_layers`)."""
    reader = getattr(session, "executed_precision", None)
    if reader is not None:
        return reader()
    p = getattr(session, "precision", "fp32")
    return Executed(p, p, "", f"{getattr(session, 'backend', '?')} session dtype")
