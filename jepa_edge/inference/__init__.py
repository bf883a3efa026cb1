"""Inference: one `InferenceSession` interface over every backend; `load_bundle(dir)` opens an exported bundle."""
from jepa_edge.inference.load import load_bundle
from jepa_edge.inference.session import InferenceSession, TensorSpec

__all__ = ["load_bundle", "InferenceSession", "TensorSpec"]
