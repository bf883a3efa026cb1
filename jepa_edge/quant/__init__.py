"""INT8 quantization and compilation: calibration sets, the target table, one module per backend
(ONNX, ONNX Runtime QDQ, OpenVINO/NNCF, TensorRT Q/DQ + Jetson kit), the accuracy gate and the
bundle manifest. `export(model_dir, target, precision, ...)` is the entry point."""


def __getattr__(name):
    # lazy: `import jepa_edge.quant.targets` must not pull torch, onnx and openvino in
    if name in ("export", "ExportResult"):
        from jepa_edge.quant import pipeline

        return getattr(pipeline, name)
    if name == "GateConfig":
        from jepa_edge.quant.gate import GateConfig

        return GateConfig
    raise AttributeError(name)


__all__ = ["export", "ExportResult", "GateConfig"]
