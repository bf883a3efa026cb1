"""The latent spec: everything that turns a camera frame into the latent the AC predictor plans in.

Training writes it into the model dir (config.json: "normalization", "encoder", and train-ac's
"ac" recipe); export copies it into every bundle's manifest; the robot reads it from the bundle
alone. A bundle copied to a robot without its training folder therefore plans in exactly the latent
space it was trained in. Numpy only: the robot side needs no torch.

The constants below are the one place they are written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# How train-ac makes per-frame latents (training/latents.py frame_latents): a video encoder sees the
# frame repeated num_frames times and its temporal slots are averaged; tokens are layer-normed.
LATENT_RECIPE = {"frame_input": "repeat_to_num_frames", "slots": "mean", "norm": "layer_norm"}


def layer_norm_tokens(z: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Each token normalized over its features, no affine: the latent space the AC predictor is
    trained in (training/common.layer_norm_features)."""
    mu = z.mean(-1, keepdims=True)
    return (z - mu) / np.sqrt(((z - mu) ** 2).mean(-1, keepdims=True) + eps)


@dataclass(frozen=True)
class LatentSpec:
    mean: tuple[float, ...] = IMAGENET_MEAN  # input normalization the encoder was trained with
    std: tuple[float, ...] = IMAGENET_STD
    img_size: int = 0  # encoder input side in pixels (0: unknown, e.g. a predictor-only model)
    tokens_per_frame: int = 0  # h * w: a video encoder's temporal slots are averaged to this many
    input_blur: float = 0.0  # the encoder's input low-pass sigma in pixels (inside the graph; informative)
    layer_norm: bool = False  # layer-norm each token (no affine): the AC predictor's latent space
    action_repeat: int = 1  # world steps one predictor step looks ahead
    # How a planned action moves the robot state (planning.kinematics.StateUpdate.to_dict()), None: unknown
    state_update: dict | None = None
    # Planner settings measured for this predictor (planning.config.PlannerConfig field -> value)
    planner: dict = field(default_factory=dict)
    # The predictor's action / state inputs are (x - mean) / std ({"mean": [...], "std": [...]}, from a
    # robot dataset's stats, train-ac --data); None: raw values (the built-in world)
    action_norm: dict | None = None
    state_norm: dict | None = None

    @classmethod
    def from_model_config(cls, config: dict) -> "LatentSpec":
        """The spec a model dir's config.json records (its encoder, normalization and AC recipe)."""
        enc = config.get("encoder") or {}
        norm = config.get("normalization") or {}
        ac = config.get("ac") or {}
        side, patch = int(enc.get("img_size") or 0), int(enc.get("patch_size") or 0)
        return cls(mean=tuple(float(v) for v in norm.get("mean", IMAGENET_MEAN)),
                   std=tuple(float(v) for v in norm.get("std", IMAGENET_STD)),
                   img_size=side, tokens_per_frame=(side // patch) ** 2 if side and patch else 0,
                   input_blur=float(enc.get("input_blur") or 0.0), layer_norm=ac.get("norm") == "layer_norm",
                   action_repeat=int(ac.get("action_repeat", 1)), state_update=ac.get("state_update"),
                   planner=dict(ac.get("planner") or {}), action_norm=ac.get("action_norm"),
                   state_norm=ac.get("state_norm"))

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "img_size": self.img_size,
                "tokens_per_frame": self.tokens_per_frame, "input_blur": self.input_blur,
                "layer_norm": self.layer_norm, "action_repeat": self.action_repeat,
                "state_update": self.state_update, "planner": dict(self.planner),
                # written only when set, so bundles without them read as before
                **{k: v for k, v in (("action_norm", self.action_norm), ("state_norm", self.state_norm)) if v is not None}}

    @classmethod
    def from_dict(cls, d: dict) -> "LatentSpec":
        """Raises TypeError/ValueError naming what is wrong (the manifest reader turns it into one line)."""
        if not isinstance(d, dict):
            raise TypeError("latent must be a mapping")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"latent has unknown fields {unknown}")
        spec = cls(**{**d, "mean": tuple(d.get("mean", IMAGENET_MEAN)), "std": tuple(d.get("std", IMAGENET_STD)),
                      "planner": dict(d.get("planner") or {})})
        if len(spec.mean) != len(spec.std) or not all(isinstance(v, (int, float)) for v in (*spec.mean, *spec.std)):
            raise TypeError("latent mean and std must be lists of numbers of equal length")
        if not isinstance(spec.layer_norm, bool) or not isinstance(spec.action_repeat, int) or spec.action_repeat < 1:
            raise TypeError("latent layer_norm must be a bool and action_repeat an integer >= 1")
        if spec.state_update is not None and not isinstance(spec.state_update, dict):
            raise TypeError("latent state_update must be a mapping or null")
        for name in ("action_norm", "state_norm"):
            n = getattr(spec, name)
            if n is None:
                continue
            if not isinstance(n, dict) or set(n) != {"mean", "std"} or len(n["mean"]) != len(n["std"]) or not all(
                    isinstance(v, (int, float)) for v in (*n["mean"], *n["std"])) or any(v <= 0 for v in n["std"]):
                raise TypeError(f"latent {name} must be null or {{mean: [...], std: [...]}} of equal length, std > 0")
        return spec
