"""OpenVINO backend: runs IR bundles (`model.xml` + `model.bin`) on an Intel CPU (or GPU/NPU).

Precision on CPU is a *runtime* choice: the IR stores weights (fp32, fp16-compressed or int8 with
FakeQuantize), and INFERENCE_PRECISION_HINT decides what the non-quantized math runs in. OpenVINO's
default on CPUs with AMX/AVX512-BF16 is bf16, so an fp32 bundle pins f32 explicitly.
"""
from __future__ import annotations

import os

import numpy as np

from jepa_edge.errors import MissingExtraError
from jepa_edge.runtime.session import InferenceSession, TensorSpec

# bundle precision -> INFERENCE_PRECISION_HINT; None keeps the device default (int8: let the
# plugin pick for the layers left in float, as deployed)
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": None}


def _import_ov():
    try:
        import openvino
    except ImportError as e:
        raise MissingExtraError("OpenVINO", "openvino", "or pip install openvino") from e
    return openvino


def _specs(ports) -> list[TensorSpec]:
    out = []
    for p in ports:
        shape = tuple(d.get_length() if d.is_static else "dyn" for d in p.get_partial_shape())
        out.append(TensorSpec(p.get_any_name(), shape, p.get_element_type().to_dtype().name))
    return out


class OpenVINOSession(InferenceSession):
    backend = "openvino"

    def __init__(self, model_path: str | os.PathLike, inputs: list[TensorSpec] | None = None,
                 outputs: list[TensorSpec] | None = None, *, precision: str = "fp32", device: str = "CPU",
                 threads: int | None = None, hint: str = "LATENCY", streams: int | None = None,
                 inference_precision: str | None = None, perf_counters: bool = False, config: dict | None = None):
        ov = _import_ov()
        self.core = ov.Core()
        model = self.core.read_model(str(model_path))
        if inputs:  # pin dynamic axes to the manifest's concrete shape (static shapes compile faster kernels)
            concrete = {s.name: list(s.shape) for s in inputs if all(isinstance(d, int) for d in s.shape)}
            if concrete and any(model.input(n).get_partial_shape().is_dynamic for n in concrete):
                model.reshape(concrete)
        cfg = {"PERFORMANCE_HINT": hint}
        if hint == "LATENCY":
            cfg["NUM_STREAMS"] = str(streams or 1)
        elif streams:
            cfg["NUM_STREAMS"] = str(streams)
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = int(threads)
        # inference_precision="default" leaves the plugin's own choice (bf16 on AMX/AVX512-BF16 CPUs)
        want = inference_precision or PRECISION_HINTS.get(precision)
        if want and want != "default" and device.startswith("CPU"):
            cfg["INFERENCE_PRECISION_HINT"] = want
        if perf_counters:
            cfg["PERF_COUNT"] = True
        cfg.update(config or {})
        self.config = cfg
        self.model_path = str(model_path)
        self.compiled = self.core.compile_model(model, device, cfg)
        self._req = self.compiled.create_infer_request()
        super().__init__(inputs or _specs(self.compiled.inputs), outputs or _specs(self.compiled.outputs))
        self.precision = precision
        self.device = device
        self._out_ports = [(s.name, self.compiled.output(s.name)) for s in self.outputs]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {s.name: np.ascontiguousarray(inputs[s.name], dtype=np.float32) for s in self.inputs}
        res = self._req.infer(feeds)
        return {name: np.array(res[port]) for name, port in self._out_ports}

    def perf_counters(self) -> list:
        """Per-layer profiling info of the last run (needs perf_counters=True)."""
        return self._req.get_profiling_info()

    def effective_config(self) -> dict:
        keys = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")
        return {k: str(self.compiled.get_property(k)) for k in keys}

    def close(self) -> None:
        self._req = None
        self.compiled = None
