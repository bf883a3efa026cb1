"""Where calibration samples come from: the built-in world, image folders, video files, .npy
arrays, a live camera (encoder inputs), and world trajectories encoded by the model's own encoder
(action-conditioned predictor inputs: token / action / state tuples).

Every source yields per-sample dicts without a batch axis, preprocessed exactly as the model
expects (size, normalization), ready for `calibration.write_calibration_set`.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from jepa_edge.errors import ConfigError, DataError


def _normalization(config: dict):
    from jepa_edge.data.transforms import Normalization

    n = config.get("normalization")
    return Normalization.from_dict(n) if n else Normalization()


def encoder_samples(source: str, enc_cfg, config: dict, *, n: int, seed: int = 0, stride: int = 1) -> Iterator[dict]:
    """Encoder inputs {"pixels": [C,H,W] or [C,T,H,W]} from "world", a folder, a video, a .npy file
    or "camera:<index|/dev/videoN>"."""
    norm = _normalization(config)
    if source.startswith("camera:"):
        yield from camera_samples(source.split(":", 1)[1], enc_cfg, norm, n=n)
        return
    from jepa_edge.data.datasets import open_dataset

    kind = "clips" if enc_cfg.is_video else "images"
    ds = open_dataset(source, kind=kind, size=enc_cfg.img_size, frames=enc_cfg.num_frames, stride=stride,
                      n=n, seed=seed, normalization=norm)
    order = np.random.default_rng(seed).permutation(len(ds)) if source != "world" else range(len(ds))
    for i in order:
        item = ds[int(i)]
        x = item[0] if isinstance(item, tuple) else item
        yield {"pixels": x.numpy().astype(np.float32)}


def camera_samples(device: str, enc_cfg, norm, *, n: int, every_s: float = 0.2) -> Iterator[dict]:
    """Live camera frames, one every `every_s` seconds (spread over a scene, not 300 copies of it)."""
    from jepa_edge.data.transforms import resize_square
    from jepa_edge.robot.camera import open_camera

    if enc_cfg.is_video:
        raise ConfigError("camera calibration records single frames; a video encoder needs clips: record a "
                          "video file and calibrate from it")
    with open_camera(device) as cam:
        for _ in range(n):
            frame = cam.read(timeout=5.0)
            x = norm(resize_square(frame.image, enc_cfg.img_size))
            yield {"pixels": x.numpy().astype(np.float32)}
            time.sleep(every_s)


def ac_samples(bundle, config: dict, *, n: int, frames: int, seed: int = 0, batch: int = 16,
               source: str = "world") -> Iterator[dict]:
    """AC-predictor inputs from world trajectories, or from a robot dataset (LeRobot v3.0 folder, cut and
    normalized as train-ac recorded it in config.json "ac": image key, action repeat, action/state norms):
    {"tokens": [T*N, D], "actions": [T, A], "states": [T, S]}, tokens made by the model's encoder exactly as
    AC training makes them (per-frame, layer-normed)."""
    import torch

    from jepa_edge.data.datasets import RobotEpisodes, WorldTrajectories
    from jepa_edge.training.latents import frame_latents

    if bundle.ac_predictor is None:
        raise ConfigError("the model holds no action-conditioned predictor: train one with `jepa-edge train-ac`")
    enc = bundle.encoder.eval()
    if source == "world":
        ds, order = WorldTrajectories(n, frames, enc.cfg.img_size, seed=seed, normalization=_normalization(config)), range(n)
    else:
        ac = config.get("ac") or {}
        trained = (ac.get("config") or {})
        ds = RobotEpisodes(source, "trajectories", enc.cfg.img_size, frames, int(ac.get("action_repeat") or 1),
                           normalization=_normalization(config), image_key=(ac.get("data") or {}).get("image_key"),
                           state_key=trained.get("state_key") or "observation.state",
                           action_key=trained.get("action_key") or "action",
                           action_norm=ac.get("action_norm"), state_norm=ac.get("state_norm"))
        order = np.random.default_rng(seed).permutation(len(ds))[:n]
        n = len(order)
    for start in range(0, n, batch):
        items = [ds[int(i)] for i in order[start:start + batch]]
        clips = torch.stack([c for c, _, _ in items])                    # [b, C, T, H, W]
        with torch.inference_mode():
            z = frame_latents(enc, clips).flatten(1, 2).numpy()           # [b, T*N, D]
        for k, (_, a, s) in enumerate(items):
            yield {"tokens": z[k].astype(np.float32), "actions": a.numpy().astype(np.float32),
                   "states": s.numpy().astype(np.float32)}


def check_source(source: str) -> None:
    from pathlib import Path

    if source == "world" or source.startswith("camera:") or Path(source).exists():
        return
    raise DataError(f"calibration source {source!r} does not exist: use 'world', an image folder, a video file, "
                    f"a .npy file or camera:<index|/dev/videoN>")
