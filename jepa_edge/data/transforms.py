"""uint8 RGB frames -> normalized float32 tensors, channels first.

The `Normalization` used for training is written into the model dir's config.json
(`{"normalization": {"mean": [...], "std": [...]}}`) so every runtime preprocesses the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from jepa_edge.errors import ConfigError, DataError
from jepa_edge.latent import IMAGENET_MEAN, IMAGENET_STD



@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        mean, std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(mean) != 3 or len(std) != 3 or not all(s > 0 for s in std):
            raise ConfigError(f"normalization needs 3 means and 3 positive stds, got {self.mean}, {self.std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        if set(d) != {"mean", "std"}:
            raise ConfigError(f"normalization must have exactly 'mean' and 'std', got keys {sorted(d)}")
        return cls(tuple(d["mean"]), tuple(d["std"]))

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [..., H, W, 3] -> float32 [3, ..., H, W]: [H,W,3] -> [C,H,W], [T,H,W,3] -> [C,T,H,W]."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.shape[-1] != 3:
            raise DataError(f"expected uint8 RGB frames [..., H, W, 3], got {frames.dtype} {frames.shape}")
        # One table lookup per channel writes the normalized values straight into the
        # channels-first layout: a single pass, faster than float math + transpose.
        lut = self._lut()
        out = np.empty((3,) + frames.shape[:-1], np.float32)
        for c in range(3):
            np.take(lut[c], frames[..., c], out=out[c])
        return torch.from_numpy(out)

    def _lut(self) -> np.ndarray:
        lut = self.__dict__.get("_lut_cache")
        if lut is None:
            levels = np.arange(256, dtype=np.float64) / 255.0
            lut = ((levels[None] - np.array(self.mean)[:, None]) / np.array(self.std)[:, None]).astype(np.float32)
            object.__setattr__(self, "_lut_cache", lut)   # [3, 256]; a cache, not a field
        return lut

    def denormalize(self, x: torch.Tensor) -> np.ndarray:
        """Inverse of __call__, for pictures: float [3, ..., H, W] -> uint8 [..., H, W, 3]."""
        shape = (3,) + (1,) * (x.dim() - 1)
        x = x.detach().cpu().float() * torch.tensor(self.std).view(shape) + torch.tensor(self.mean).view(shape)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).movedim(0, -1).numpy()


IMAGENET = Normalization()


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to size x size (area filter when shrinking)."""
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    img = img[y:y + s, x:x + s]
    if s == size:
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def resize_frames(frames: np.ndarray, size: int | None) -> np.ndarray:
    """resize_square on [H,W,3] or on every frame of [T,H,W,3]; size None keeps the frames as they are."""
    if size is None:
        return frames
    if frames.ndim == 3:
        return resize_square(frames, size)
    return np.stack([resize_square(f, size) for f in frames])
