"""OpenVINO IR: FP32 / FP16 conversion and INT8 post-training quantization with NNCF.

- fp32 / bf16: the IR keeps fp32 weights; bf16 is OpenVINO's *runtime* inference precision on
  CPUs with AVX512-BF16/AMX (the session sets the hint), so both share one IR.
- fp16: weights compressed to fp16 in the IR (half the file), run with the f16 hint.
- int8w: `nncf.compress_weights` (INT8_ASYM, per channel, no data): weights stored int8 and
  decompressed into f32 math at run time. Half the file and the weight bandwidth; for CPUs where
  full INT8 does not pay (no VNNI/AMX) it often keeps FP32 speed.
- int8: `nncf.quantize(..., model_type=ModelType.TRANSFORMER)`: the transformer preset (mixed:
  symmetric weights, asymmetric activations), SmoothQuant to move activation outliers into the
  weights, fast bias correction; `ignored_names` keeps layers the gate found sensitive in float.
  `quantize_with_accuracy_control` is NNCF's own revert-until-within-max_drop loop (slower).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from jepa_edge.errors import import_extra


@dataclass(frozen=True)
class NNCFScheme:
    subset_size: int = 300
    preset: str = "mixed"                  # mixed: symmetric weights, asymmetric activations
    smooth_quant_alpha: float | None = None  # None: NNCF's transformer default
    fast_bias_correction: bool = True
    ignored_names: tuple[str, ...] = ()
    ignored_types: tuple[str, ...] = ()    # e.g. ("ScaledDotProductAttention",): attention left in float
    accuracy_control: bool = False         # use nncf.quantize_with_accuracy_control

    def to_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {**d, "tool": "nncf", "model_type": "transformer", "weights": "int8 per-channel"}

    def with_(self, **kw) -> "NNCFScheme":
        return NNCFScheme(**{**asdict(self), **kw})


def _import():
    return (import_extra("openvino", "OpenVINO", "export", "pip install openvino nncf"),
            import_extra("nncf", "NNCF", "export", "pip install openvino nncf"))


def convert(fp32_onnx: str | os.PathLike, static_shapes: dict[str, list[int]] | None = None):
    """ONNX -> in-memory ov.Model (optionally reshaped to static shapes: faster kernels on CPU)."""
    ov, _ = _import()
    model = ov.convert_model(str(fp32_onnx))
    if static_shapes:
        model.reshape(static_shapes)
    return model


def save_ir(model, out_xml: str | os.PathLike, precision: str) -> Path:
    """Write model.xml + model.bin. Only fp16 compresses weights; int8 weights are already int8."""
    ov, _ = _import()
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out_xml), compress_to_fp16=(precision == "fp16"))
    return out_xml


def compress_weights(model):
    """ov.Model -> the same model with INT8 (asymmetric, per-channel) weights, activations in float."""
    _, nncf = _import()
    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)


def _ignored_scope(nncf, names, types=()):
    if not names and not types:
        return None
    # ONNX node names survive conversion; a Conv with bias becomes "<name>/WithoutBiases" + an Add.
    expanded = sorted({x for n in names for x in (n, f"{n}/WithoutBiases")})
    return nncf.IgnoredScope(names=expanded, types=list(types), validate=False)


def _advanced(nncf, scheme: NNCFScheme):
    if scheme.smooth_quant_alpha is None:
        return None
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters

    return nncf.AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=scheme.smooth_quant_alpha))


def quantize(model, calib, scheme: NNCFScheme = NNCFScheme(), validation=None):
    """ov.Model + calibration set -> INT8 ov.Model.

    validation: (heldout_items, validation_fn, max_drop) for accuracy control, where validation_fn
    follows NNCF: (compiled_model, items) -> metric (higher is better).
    """
    ov, nncf = _import()
    names = [p.get_any_name() for p in model.inputs]

    def to_feed(sample):  # one calibration sample dict -> what the OpenVINO model takes
        return {n: sample[n] for n in names}

    items = list(calib.samples("calib", limit=scheme.subset_size, batch=1))
    dataset = nncf.Dataset(items, to_feed)
    preset = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}[scheme.preset]
    common = dict(preset=preset, subset_size=min(scheme.subset_size, len(items)), model_type=nncf.ModelType.TRANSFORMER,
                  fast_bias_correction=scheme.fast_bias_correction, ignored_scope=_ignored_scope(nncf, scheme.ignored_names, scheme.ignored_types))
    if scheme.accuracy_control:
        if validation is None:
            raise ValueError("accuracy control needs held-out data and a metric")
        held, fn, max_drop = validation
        return nncf.quantize_with_accuracy_control(
            model, dataset, nncf.Dataset(list(held), to_feed), fn, max_drop=max_drop,
            drop_type=nncf.DropType.ABSOLUTE, advanced_quantization_parameters=_advanced(nncf, scheme), **common)
    return nncf.quantize(model, dataset, advanced_parameters=_advanced(nncf, scheme), **common)


def map_to_ir(ranking: list[dict], fp32_onnx, model) -> list[dict]:
    """Translate a sensitivity ranking of ONNX nodes to names in the OpenVINO model.

    Conversion keeps ONNX node names, except where it fuses: the two MatMuls of an attention
    become one ScaledDotProductAttention named after the exporter's SDPA node. A node whose name
    is gone is mapped to the surviving node of the same exporter scope; duplicates are merged.
    """
    from jepa_edge.quant.gate import node_scopes

    kinds = ("MatMul", "Convolution", "ScaledDotProductAttention")
    present = {op.get_friendly_name().rsplit("/WithoutBiases", 1)[0] for op in model.get_ordered_ops()
               if op.get_type_name() in kinds}
    scopes = node_scopes(fp32_onnx)
    by_scope: dict[str, list[str]] = {}
    for name, sc in scopes.items():
        if sc:
            by_scope.setdefault(sc[-1], []).append(name)
    out, seen = [], set()
    for r in ranking:
        name = r["node"]
        if name not in present:
            group = by_scope.get((scopes.get(name) or [""])[-1], [])
            name = next((n for n in group if n in present), None)
        if name is None or name in seen:
            continue
        seen.add(name)
        out.append({**r, "node": name, "onnx_node": r["node"]})
    return out
