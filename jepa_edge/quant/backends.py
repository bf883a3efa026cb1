"""One small builder per backend: (export context) -> Manifest, files written into ctx.stage.

Each builder makes its artifact, opens it through the same session class `runtime.load` uses
(so what the gate measures is what users run), and hands quantized variants to the gate's retry
loop as a `quantize(exclude, narrow) -> session` function.
"""
from __future__ import annotations

import shutil

from jepa_edge.quant.gate import layer_sensitivity


def build_torch(ctx):
    from jepa_edge.models.model_dir import save_model_dir
    from jepa_edge.inference.torch_session import TorchSession

    if ctx.src.path is not None:  # copy the exact files, so the source hash still applies
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(ctx.src.path / name, ctx.stage / name)
    else:
        save_model_dir(ctx.stage, ctx.src.bundle)
    if ctx.precision != "fp32":
        ctx.check(TorchSession(ctx.module, ctx.io.inputs, ctx.io.outputs, precision=ctx.precision))
    return ctx.manifest("model.safetensors", scheme={"dtype": ctx.precision})


def build_onnx(ctx):
    import onnx

    from jepa_edge.quant import ort_quant
    from jepa_edge.inference.ort_session import OrtSession

    entry = ctx.stage / "model.onnx"
    if ctx.precision == "fp32":
        shutil.copy2(ctx.fp32_onnx, entry)
        return ctx.manifest("model.onnx", scheme={"weights": "fp32"})
    if ctx.precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # inputs/outputs stay fp32 so callers feed the same arrays; LayerNorm in fp16 is the usual
        # source of error, so it runs in fp32
        half = convert_float_to_float16(onnx.load(str(ctx.fp32_onnx)), keep_io_types=True,
                                        op_block_list=["LayerNormalization"])
        onnx.save(half, str(entry))
        ctx.check(OrtSession(entry, precision="fp16"))
        return ctx.manifest("model.onnx", scheme={"weights": "fp16", "float_ops": ["LayerNormalization"]})

    base = ctx.ort_scheme or ort_quant.OrtQuantScheme(max_samples=min(300, ctx.calib.count("calib")))
    tries = []

    def quantize(exclude, narrow):
        scheme = base.with_(exclude_nodes=tuple(exclude), op_types=ort_quant.MATMUL_OPS if narrow else base.op_types)
        path = ctx.work / f"int8-{len(tries)}.onnx"
        ort_quant.quantize_onnx(ctx.fp32_onnx, path, ctx.calib, scheme)
        tries.append((path, scheme))
        return OrtSession(path, precision="int8")

    def rank():
        return layer_sensitivity(ctx.fp32_onnx, ctx.calib, ort_quant.quantized_nodes(tries[0][0]),
                                 symmetric_activations=base.symmetric_activations)

    result, _ = ctx.gated(quantize, rank, narrow=True if base.op_types is None else None)
    path, scheme = tries[-1]
    shutil.copy2(path, entry)
    return ctx.manifest("model.onnx", scheme={**scheme.to_dict(), "tool": "onnxruntime.quantization",
                                              "kept_float": [k["node"] for k in result.kept_float]})


def build_openvino(ctx):
    from jepa_edge.quant import openvino_export as ovx
    from jepa_edge.inference.openvino_session import PRECISION_HINTS, OpenVINOSession

    t = ctx.req.target
    static = None if t.dynamic_batch else {s.name: list(s.shape) for s in ctx.bundle_io.inputs}
    xml = ctx.stage / "model.xml"
    scheme = {"ir": "fp16-compressed" if ctx.precision == "fp16" else "fp32", "device": t.device,
              "hint": t.openvino_hint, "inference_precision": PRECISION_HINTS[ctx.precision],
              "static_shapes": static is not None}

    def session(path, precision):
        return OpenVINOSession(path, ctx.bundle_io.inputs, ctx.bundle_io.outputs, precision=precision,
                               device=t.device, hint=t.openvino_hint)

    if ctx.precision == "int8w":
        ovx.save_ir(ovx.compress_weights(ovx.convert(ctx.fp32_onnx, static)), xml, "int8w")
        ctx.check(session(xml, "int8w"))
        return ctx.manifest("model.xml", scheme={**scheme, "ir": "int8 weights (nncf.compress_weights INT8_ASYM)",
                                                 "tool": "nncf", "weights": "int8 per-channel asymmetric",
                                                 "activations": "fp32"})
    if ctx.precision != "int8":
        ovx.save_ir(ovx.convert(ctx.fp32_onnx, static), xml, ctx.precision)
        if ctx.precision != "fp32":
            ctx.check(session(xml, ctx.precision))
        return ctx.manifest("model.xml", scheme=scheme)

    base = ctx.nncf_scheme or ovx.NNCFScheme(subset_size=min(300, ctx.calib.count("calib")))
    tries = []

    def quantize(exclude, narrow):
        nn = base.with_(ignored_names=tuple(exclude))
        validation = None
        if nn.accuracy_control:
            validation = _nncf_validation(ctx)
        q = ovx.quantize(ovx.convert(ctx.fp32_onnx, static), ctx.calib, nn, validation=validation)
        path = ovx.save_ir(q, ctx.work / f"int8-{len(tries)}" / "model.xml", "int8")
        tries.append((path, nn))
        return session(path, "int8")

    def rank():
        return ovx.map_to_ir(layer_sensitivity(ctx.fp32_onnx, ctx.calib), ctx.fp32_onnx, ovx.convert(ctx.fp32_onnx))

    result, _ = ctx.gated(quantize, rank)
    path, nn = tries[-1]
    for suffix in (".xml", ".bin"):
        shutil.copy2(path.with_suffix(suffix), xml.with_suffix(suffix))
    return ctx.manifest("model.xml", scheme={**scheme, **nn.to_dict(),
                                             "kept_float": [k["node"] for k in result.kept_float]})


def _nncf_validation(ctx):
    """(held-out items, metric fn, max_drop) for nncf.quantize_with_accuracy_control: the metric is the
    mean per-token cosine to the FP32 ONNX outputs, so NNCF's drop is the gate's cosine drop."""
    import numpy as np

    from jepa_edge.quant.onnx_export import token_cosine

    held = ctx.heldout()
    ref, _ = ctx.reference(held)
    n = len(ref)
    items = [{k: v[i:i + 1] for k, v in held.items()} for i in range(n)]

    def metric(compiled, data):
        got = np.concatenate([np.asarray(compiled(item)[0]) for item in data])
        return float(token_cosine(got, ref[:len(got)]).mean())

    max_drop = ctx.gate_cfg.max_drop if ctx.gate_cfg.max_drop is not None else 1.0 - ctx.gate_cfg.min_cos_mean
    return items, metric, max_drop


def executed(ctx, manifest) -> dict:
    """The precision the staged artifact runs on this machine, read from the compiled model, with the
    machine it was read on (a bundle copied to another CPU may run differently: bench reads it again)."""
    from jepa_edge.inference.precision import Executed, executed_precision
    from jepa_edge.utils.device_info import cpu_model, isa_features

    path = ctx.stage / manifest.entry
    t = ctx.req.target
    if manifest.status == "kit" or manifest.backend == "tensorrt":
        ex = Executed(manifest.precision, "?", "", "TensorRT picks layer precisions when the engine is built: "
                      "read them from the kit's profile (trtexec layer info)")
    elif manifest.backend == "openvino":
        from jepa_edge.inference.openvino_session import OpenVINOSession

        sess = OpenVINOSession(path, ctx.bundle_io.inputs, ctx.bundle_io.outputs, precision=manifest.precision,
                               device=t.device, hint=t.openvino_hint)
        ex = executed_precision(sess)
        sess.close()
    elif manifest.backend in ("onnx", "onnxruntime"):
        from jepa_edge.inference.ort_session import OrtSession

        ex = executed_precision(OrtSession(path, precision=manifest.precision))
    else:
        ex = Executed(manifest.precision, manifest.precision, "", f"{manifest.backend} dtype")
    return {**ex.to_dict(), "cpu": cpu_model(), "isa": isa_features()}


def build_tensorrt(ctx):
    from jepa_edge.quant import tensorrt_export

    return tensorrt_export.build(ctx)


BUILDERS = {"torch": build_torch, "onnx": build_onnx, "onnxruntime": build_onnx, "openvino": build_openvino,
            "tensorrt": build_tensorrt}
