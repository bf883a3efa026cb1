"""PyTorch backend: the eager reference. A torch bundle holds the model dir's config.json and
safetensors; the session runs one part of it (encoder or action-conditioned predictor)."""
from __future__ import annotations

import numpy as np

from jepa_edge.errors import import_extra
from jepa_edge.inference.session import InferenceSession, TensorSpec

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _import_torch():
    return import_extra("torch", "PyTorch", "train", "install the CPU build of torch first: see README")


class TorchSession(InferenceSession):
    backend = "torch"

    def __init__(self, module, inputs: list[TensorSpec], outputs: list[TensorSpec], *, precision: str = "fp32",
                 threads: int | None = None, device: str = "cpu"):
        torch = _import_torch()
        super().__init__(inputs, outputs)
        if threads:
            torch.set_num_threads(int(threads))
        self.precision = precision
        self._dtype = getattr(torch, _DTYPES[precision])
        self.device = device
        self.module = module.eval().to(device=device, dtype=self._dtype)
        self._torch = torch

    @classmethod
    def from_model_dir(cls, model_dir, part: str, inputs, outputs, verify: bool = True, **kw) -> "TorchSession":
        from jepa_edge.models.model_dir import load_model_dir

        bundle = load_model_dir(model_dir, verify=verify)
        module = getattr(bundle, part, None)
        if module is None:
            from jepa_edge.errors import BundleError

            raise BundleError(f"{model_dir} holds no {part}")
        return cls(module, inputs, outputs, **kw)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(inputs[s.name], dtype=np.float32)).to(self.device, self._dtype)
                for s in self.inputs]
        with torch.inference_mode():
            y = self.module(*args)
        ys = y if isinstance(y, (tuple, list)) else (y,)
        return {s.name: t.float().cpu().numpy() for s, t in zip(self.outputs, ys)}
