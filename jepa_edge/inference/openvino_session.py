"""OpenVINO backend: runs IR bundles (`model.xml` + `model.bin`) on an Intel CPU (or GPU/NPU).

Precision on CPU is a *runtime* choice: the IR stores weights (fp32, fp16-compressed or int8 with
FakeQuantize), and INFERENCE_PRECISION_HINT decides what the non-quantized math runs in. OpenVINO's
default on CPUs with AMX/AVX512-BF16 is bf16, so an fp32 bundle pins f32 explicitly.
"""
from __future__ import annotations

import os

import numpy as np

from jepa_edge.errors import import_extra
from jepa_edge.inference.session import InferenceSession, TensorSpec

# bundle precision -> INFERENCE_PRECISION_HINT; None keeps the device default (int8: let the
# plugin pick for the layers left in float, as deployed)
# int8w (weight-only INT8) pins f32 math: the weights are decompressed into it
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": None, "int8w": "f32"}


# OpenVINO pins each compiled model's threads by default, and two one-thread models in one process
# (the loop's encoder and planner) were pinned to the same core while the other idled: on 2 cores
# the planner got 69% of core 0 beside perception. The OS spreads unpinned threads
# (benchmarks/bench_loop.py --ov-cpu-pinning measures both).
CPU_PINNING = False


def _import_ov():
    return import_extra("openvino", "OpenVINO", "openvino", "or pip install openvino")


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
        cfg["ENABLE_CPU_PINNING"] = CPU_PINNING
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

    def executed_precision(self):
        """The precision the compiled model runs (runtime graph + hint), not the one asked for."""
        from jepa_edge.inference.precision import from_openvino

        return from_openvino(self.compiled, self.precision)

    def effective_config(self) -> dict:
        keys = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")
        return {k: str(self.compiled.get_property(k)) for k in keys}

    def close(self) -> None:
        self._req = None
        self.compiled = None


class BatchedOpenVINO(InferenceSession):
    """An OpenVINO AC-predictor bundle recompiled for the planner's batch.

    The openvino target exports batch 1 (static shapes), but a planner pushes all its samples
    through in one call; calling a batch-1 model 256 times would cost 256 dispatches. The IR's
    batch axis is reshaped to `batch` (the numbers are identical row by row: a batch-1 IR of a
    transformer has no batch-dependent constants; LatentDynamics pads the last chunk). A shared-frame
    bundle keeps its tokens at batch 1: the one frame every sample plans from."""

    backend = "openvino"

    def __init__(self, base: InferenceSession, batch: int):
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(base.bundle_dir / base.manifest.entry))
        shared = base.inputs[0].name if base.manifest is not None and base.manifest.shared_frame else None
        inputs = [TensorSpec(s.name, (1 if s.name == shared else batch, *s.shape[1:]), s.dtype) for s in base.inputs]
        model.reshape({s.name: list(s.shape) for s in inputs})
        cfg = dict(getattr(base, "config", {}) or {"PERFORMANCE_HINT": "LATENCY"})
        self.compiled = core.compile_model(model, "CPU", cfg)
        self._req = self.compiled.create_infer_request()
        super().__init__(inputs, [TensorSpec(s.name, (batch, *s.shape[1:]), s.dtype) for s in base.outputs])
        self.precision = base.precision
        self.bind(base.latent, base.manifest, base.bundle_dir)
        self._ports = [(s.name, self.compiled.output(i)) for i, s in enumerate(self.outputs)]
        base.close()

    def executed_precision(self):
        from jepa_edge.inference.precision import from_openvino

        return from_openvino(self.compiled, self.precision)

    def run(self, inputs):
        res = self._req.infer({s.name: np.ascontiguousarray(inputs[s.name], np.float32) for s in self.inputs})
        return {name: np.array(res[port]) for name, port in self._ports}

    def close(self) -> None:
        self._req = self.compiled = None
