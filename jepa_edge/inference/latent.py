"""The latent space a bundle's tokens live in, in numpy: what perception and planning share."""
from __future__ import annotations

import numpy as np

def layer_norm_tokens(z: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Each token normalized over its features, no affine: the latent space the AC predictor is
    trained in (training/common.layer_norm_features)."""
    mu = z.mean(-1, keepdims=True)
    return (z - mu) / np.sqrt(((z - mu) ** 2).mean(-1, keepdims=True) + eps)
