"""Runtime: one `InferenceSession` interface over every backend; `load(bundle)` opens an artifact."""
from jepa_edge.runtime.session import InferenceSession, TensorSpec
from jepa_edge.runtime.load import load  # noqa: E402  (binds the function over the submodule name)

__all__ = ["load", "InferenceSession", "TensorSpec"]
