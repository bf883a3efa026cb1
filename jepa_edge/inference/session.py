"""`InferenceSession`: the one interface every backend (torch, onnxruntime, openvino, tensorrt) offers.

The loop, the bench and the accuracy gate only ever talk to this, so a bundle built for any
backend drops in unchanged. Names, shapes and dtypes come from the bundle's manifest.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jepa_edge.latent import LatentSpec

if TYPE_CHECKING:  # the manifest module imports TensorSpec from here
    from jepa_edge.inference.manifest import Manifest


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple  # ints, or str for a dynamic axis ("batch")
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), d.get("dtype", "float32"))


class InferenceSession(ABC):
    """run(inputs) -> outputs, both dicts of name -> numpy array."""

    backend: str = "?"
    precision: str = "fp32"
    # What the session was opened from. `load_bundle` binds a bundle's manifest (and its latent
    # spec); a model dir opened eagerly binds the latent spec of its config.json; a bare session
    # (tests, custom backends) has none, and the loop falls back to the robot config's defaults.
    manifest: Manifest | None = None
    bundle_dir: Path | None = None
    latent: LatentSpec | None = None

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)

    def bind(self, latent: LatentSpec | None, manifest: Manifest | None = None,
             bundle_dir: Path | None = None) -> "InferenceSession":
        """Record where this session came from (see the class attributes); returns self."""
        self.latent, self.manifest, self.bundle_dir = latent, manifest, bundle_dir
        return self

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ...

    def __call__(self, *arrays: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Positional convenience: session(x) -> y for single-output models."""
        if len(arrays) != len(self.inputs):
            raise ValueError(
                f"{self.backend} session takes {len(self.inputs)} inputs "
                f"({', '.join(s.name for s in self.inputs)}), got {len(arrays)}"
            )
        out = self.run({s.name: a for s, a in zip(self.inputs, arrays)})
        vals = tuple(out[s.name] for s in self.outputs)
        return vals[0] if len(vals) == 1 else vals

    def close(self) -> None:
        """Release backend resources (engines, contexts). Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}{list(s.shape)}" for s in self.inputs)
        return f"<{type(self).__name__} {self.backend}/{self.precision} ({ins})>"
