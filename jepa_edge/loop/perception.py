"""Perception: one camera frame -> one latent (the encoder session's tokens for that frame).

Preprocessing matches training (`jepa_edge.data.transforms`): centre-crop to a square, resize to
the encoder's input size, scale to [0, 1], normalize with the mean/std the model recorded, NCHW.
Done in numpy/OpenCV so a tick never pays for torch's dispatch.
"""
from __future__ import annotations

import cv2
import numpy as np

from jepa_edge.latent import LatentSpec, layer_norm_tokens
from jepa_edge.inference.session import InferenceSession




class NonFiniteLatent(RuntimeError):
    """The encoder produced NaN or Inf: its output must not reach the planner."""


class LatentEncoder:
    """Frames to latents as `latent` (jepa_edge/latent.py) says: its normalization, and for a video
    encoder (input [1, C, T, H, W]) the frame repeated T times with its temporal slots averaged to
    `latent.tokens_per_frame` = h * w. `layer_norm`: normalize each token over its features (no
    affine), the latent space the AC predictor is trained in (training/latents.py)."""

    def __init__(self, session: InferenceSession, latent: LatentSpec | None = None, layer_norm: bool = False):
        latent = latent or session.latent or LatentSpec()
        self.session = session
        self.layer_norm = layer_norm
        spec = session.inputs[0]
        self.frames = spec.shape[2] if len(spec.shape) == 5 and isinstance(spec.shape[2], int) else 1
        self.tokens_per_frame = latent.tokens_per_frame
        if len(spec.shape) == 5 and not self.tokens_per_frame:
            raise ValueError(f"video encoder input {spec.name}{list(spec.shape)}: its latent spec has no tokens_per_frame (h * w)")
        side = spec.shape[-1] if spec.shape and isinstance(spec.shape[-1], int) else None
        self.img_size = side or latent.img_size
        if not self.img_size:
            raise ValueError(f"encoder input {spec.name}{list(spec.shape)} has no fixed size and its latent spec none")
        self.input_name = spec.name
        self.mean = np.asarray(latent.mean, np.float32).reshape(1, 1, 3)
        self.std = np.asarray(latent.std, np.float32).reshape(1, 1, 3)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> float32 [1, 3, S, S]."""
        h, w = image.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        img = image[y:y + s, x:x + s]
        if s != self.img_size:
            interp = cv2.INTER_AREA if s > self.img_size else cv2.INTER_LINEAR
            img = cv2.resize(img, (self.img_size, self.img_size), interpolation=interp)
        x = (img.astype(np.float32) * (1.0 / 255.0) - self.mean) / self.std  # [S, S, 3]
        x = x.transpose(2, 0, 1)[None]  # [1, 3, S, S]
        if self.frames > 1:  # a static clip for a video encoder: [1, 3, T, S, S]
            x = np.repeat(x[:, :, None], self.frames, axis=2)
        return np.ascontiguousarray(x)

    def encode(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> latent tokens [N, D]; raises NonFiniteLatent on NaN/Inf."""
        out = self.session.run({self.input_name: self.preprocess(image)})
        z = np.asarray(next(iter(out.values())), np.float32)[0]  # [N, D]
        if self.frames > 1:  # average the temporal slots: [t*h*w, D] -> [h*w, D]
            z = z.reshape(-1, self.tokens_per_frame, z.shape[-1]).mean(0)
        if self.layer_norm:
            z = layer_norm_tokens(z)
        if not np.isfinite(z).all():
            bad = int((~np.isfinite(z)).sum())
            raise NonFiniteLatent(f"encoder output has {bad} NaN/Inf values of {z.size}")
        return z
