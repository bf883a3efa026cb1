"""ONNX Runtime backend: runs `.onnx` bundles (fp32, fp16, int8 QDQ) on the CPU or CUDA provider."""
from __future__ import annotations

import os

import numpy as np

from jepa_edge.errors import import_extra
from jepa_edge.inference.session import InferenceSession, TensorSpec

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def _import_ort():  # a core dependency, but a broken install should still say what to do
    return import_extra("onnxruntime", "onnxruntime", "all", "a core dependency: pip install onnxruntime")


def specs_of(ort_args) -> list[TensorSpec]:
    return [TensorSpec(a.name, tuple(d if isinstance(d, int) else str(d) for d in a.shape),
                       _ORT_TYPES.get(a.type, a.type)) for a in ort_args]


class OrtSession(InferenceSession):
    backend = "onnxruntime"

    def __init__(self, model_path: str | os.PathLike, inputs: list[TensorSpec] | None = None,
                 outputs: list[TensorSpec] | None = None, *, precision: str = "fp32", threads: int | None = None,
                 providers: list[str] | None = None, profile_prefix: str | None = None,
                 optimization: str = "all", spin: bool = False):
        ort = _import_ort()
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        # ORT's worker threads busy-wait after every run by default. On a 2-core robot that burns the
        # cores the camera, the planner and the other sessions need, and in an interleaved benchmark
        # it charges ORT's spinning to whichever model runs next; spin=True only for a dedicated core.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
        so.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[optimization]
        if profile_prefix:  # ONNX Runtime's own per-op profiler (used by `jepa-edge profile`)
            so.enable_profiling = True
            so.profile_file_prefix = str(profile_prefix)
        self.model_path = str(model_path)
        self.ort_session = ort.InferenceSession(self.model_path, so, providers=providers or ["CPUExecutionProvider"])
        self._opt_level = so.graph_optimization_level
        super().__init__(inputs or specs_of(self.ort_session.get_inputs()), outputs or specs_of(self.ort_session.get_outputs()))
        self.precision = precision
        self._out_names = [s.name for s in self.outputs]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {s.name: np.ascontiguousarray(inputs[s.name], dtype=s.dtype) for s in self.inputs}
        return dict(zip(self._out_names, self.ort_session.run(self._out_names, feeds)))

    def executed_precision(self):
        """The precision the session runs: node types of its graph after ORT's optimizations, on the
        providers it actually got (a second, read-only session writes the optimized graph)."""
        from jepa_edge.inference.precision import from_ort

        return from_ort(self.model_path, self.precision, self.ort_session.get_providers(), self._opt_level)

    def end_profiling(self) -> str:
        """Stop the profiler and return the path of its JSON trace."""
        return self.ort_session.end_profiling()

    def close(self) -> None:
        self.ort_session = None
