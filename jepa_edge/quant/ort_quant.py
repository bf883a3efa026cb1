"""ONNX Runtime static INT8: `quant_pre_process`, then `quantize_static` to QDQ.

Scheme (see REFERENCE.md "INT8 and compilation"): QDQ format, S8S8 (int8 activations and int8
weights), per-channel weights, MinMax calibration on the calibration split. Only the matrix
products (MatMul, Gemm, Conv) are quantized by default: they are where the time goes and where
INT8 kernels exist; LayerNorm, GELU, the residual Adds and the Softmax stay float, which is what
ViTs need (their activations carry outliers that a per-tensor int8 scale flattens). A wider
scheme (`op_types=None`: everything ORT can quantize) exists for experiments; the gate's first
retry narrows it back to matrix products. Further retries keep named nodes in float
(`exclude_nodes`), chosen by per-layer sensitivity (quant/gate.py).

The same code makes TensorRT's explicit-quantization graph with `symmetric_activations=True`
(zero point 0 everywhere), see tensorrt_export.py.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from jepa_edge.errors import MissingExtraError

MATMUL_OPS = ("MatMul", "Gemm", "Conv")


@dataclass(frozen=True)
class OrtQuantScheme:
    op_types: tuple[str, ...] | None = MATMUL_OPS   # None: every op type ORT can quantize
    exclude_nodes: tuple[str, ...] = ()            # node names kept in float
    per_channel: bool = True
    activations: str = "int8"                       # "int8" (S8S8) or "uint8" (U8S8)
    symmetric_activations: bool = False             # True for TensorRT (zero point 0)
    quantize_bias: bool = True                      # int32 bias DQ (ORT); TensorRT wants float biases
    calibrate_method: str = "minmax"                # minmax | entropy | percentile
    max_samples: int = 300
    # Op types whose outputs get no Q/DQ (ORT's OpTypesToExcludeOutputQuantization). TensorRT's
    # recipe quantizes the inputs of weighted ops only: a Q/DQ on a MatMul output sits between the
    # MatMul and its bias Add (breaking that fusion) and quantizes the attention logits before Softmax.
    no_output_qdq: tuple[str, ...] = ()
    # Extra ORT quantizer options for schemes that need them (TensorRT DLA: every op type quantized).
    all_op_types: bool = False                      # op_types = every op type in the graph (Q/DQ on every tensor)

    def to_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        d["format"] = "QDQ"
        d["weights"] = "int8"
        return d

    def with_(self, **kw) -> "OrtQuantScheme":
        return OrtQuantScheme(**{**asdict(self), **kw})


def _import_quant():
    try:
        from onnxruntime import quantization
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise MissingExtraError("onnxruntime quantization tools", "onnxruntime", "pip install onnxruntime") from e
    return quantization, quant_pre_process


def preprocess(fp32_onnx: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Symbolic shape inference so every tensor the quantizer meets has a known shape.

    ORT's graph optimizations are skipped here on purpose: they would rename nodes (the gate reports
    and excludes layers by name) and the session applies them anyway when it loads the QDQ model.
    """
    _, quant_pre_process = _import_quant()
    try:
        quant_pre_process(str(fp32_onnx), str(out), skip_optimization=True, skip_symbolic_shape=False)
    except TypeError:
        # ORT's symbolic inference cannot merge a static batch of 1 with a symbolic batch (a shared-frame
        # AC predictor: tokens [1, ...], actions [batch, ...]); ONNX's own shape inference can.
        quant_pre_process(str(fp32_onnx), str(out), skip_optimization=True, skip_symbolic_shape=True)
    return Path(out)


def _reader(q, calib, limit: int):
    """An onnxruntime CalibrationDataReader over the calibration split (batches of one sample)."""

    class CalibReader(q.CalibrationDataReader):
        def __init__(self):
            self._it = iter(calib.samples("calib", limit=limit, batch=1))

        def get_next(self):
            return next(self._it, None)

    return CalibReader()


def quantize_onnx(fp32_onnx: str | os.PathLike, out: str | os.PathLike, calib, scheme: OrtQuantScheme = OrtQuantScheme(),
                  ) -> Path:
    """fp32 ONNX + calibration set -> QDQ INT8 ONNX at `out`."""
    q, _ = _import_quant()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    act = q.QuantType.QInt8 if scheme.activations == "int8" else q.QuantType.QUInt8
    method = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
              "percentile": q.CalibrationMethod.Percentile}[scheme.calibrate_method]
    extra = {
        "ActivationSymmetric": scheme.symmetric_activations,
        "WeightSymmetric": True,
        # Dynamo graphs share one initializer between identical tensors (all LayerNorm gammas of
        # ones); never let the quantizer rewrite a shared weight for one consumer only.
        "DedicatedQDQPair": False,
        "CalibMovingAverage": False,
        "QuantizeBias": scheme.quantize_bias,
    }
    if scheme.no_output_qdq:
        extra["OpTypesToExcludeOutputQuantization"] = list(scheme.no_output_qdq)
    with tempfile.TemporaryDirectory(prefix="jepa-ortq-") as tmp:
        pre = preprocess(fp32_onnx, Path(tmp) / "pre.onnx")
        op_types = list(scheme.op_types) if scheme.op_types else None
        if scheme.all_op_types:
            import onnx

            op_types = sorted({n.op_type for n in onnx.load(str(pre), load_external_data=False).graph.node})
        q.quantize_static(
            str(pre), str(out), _reader(q, calib, scheme.max_samples), quant_format=q.QuantFormat.QDQ, activation_type=act,
            weight_type=q.QuantType.QInt8, per_channel=scheme.per_channel,
            op_types_to_quantize=op_types,
            nodes_to_exclude=list(scheme.exclude_nodes), calibrate_method=method, extra_options=extra,
            calibration_providers=["CPUExecutionProvider"])
    return out


def quantized_nodes(qdq_onnx) -> list[str]:
    """Names of the compute nodes that read a DequantizeLinear output (the ones running in INT8)."""
    import onnx

    model = onnx.load(str(qdq_onnx), load_external_data=False) if not hasattr(qdq_onnx, "graph") else qdq_onnx
    dq_out = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return [n.name for n in model.graph.node
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(i in dq_out for i in n.input)]
