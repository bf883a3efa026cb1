"""Readers and validators for real data: image folders, video files (OpenCV), .npy arrays.

Everything here returns uint8 RGB channels-last arrays; datasets.py turns them into tensors.
Every way the input can be wrong raises DataError saying which file and what to do.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from jepa_edge.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


# ---- clip sampling ---------------------------------------------------------------------------
def clip_span(frames: int, stride: int) -> int:
    """Number of source frames a clip of `frames` frames taken every `stride` frames covers."""
    if not (isinstance(frames, (int, np.integer)) and frames >= 1):
        raise DataError(f"frames per clip must be an integer >= 1, got {frames!r}")
    if not (isinstance(stride, (int, np.integer)) and stride >= 1):
        raise DataError(f"frame stride must be an integer >= 1, got {stride!r}")
    return (int(frames) - 1) * int(stride) + 1


def clip_starts(n_frames: int, frames: int, stride: int, hop: int | None = None) -> list[int]:
    """Start indices of the clips cut from a video of `n_frames` frames, every `hop` frames
    (default: one clip span, so clips do not overlap). Empty when the video is too short."""
    span = clip_span(frames, stride)
    hop = span if hop is None else hop
    if not (isinstance(hop, (int, np.integer)) and hop >= 1):
        raise DataError(f"clip hop must be an integer >= 1, got {hop!r}")
    return list(range(0, max(int(n_frames) - span + 1, 0), int(hop)))


def clip_indices(start: int, frames: int, stride: int) -> np.ndarray:
    return start + np.arange(frames) * stride


# ---- arrays ----------------------------------------------------------------------------------
def rgb_axis(shape: tuple, dtype, what: str = "array", ndim: tuple[int, ...] = (3, 4, 5)) -> int:
    """Check an RGB array's shape and dtype (no data read) and return its channel axis.

    Channels last (..., H, W, 3) is preferred; channels first (N, 3, H, W) / (N, 3, T, H, W) /
    (N, T, 3, H, W) are accepted when the last axis is not 3. uint8, or float in [0, 1]."""
    shape = tuple(int(v) for v in shape)
    if len(shape) not in ndim:
        raise DataError(f"{what}: expected {' or '.join(f'{n}-D' for n in ndim)} RGB data "
                        f"(e.g. [N,H,W,3] images or [N,T,H,W,3] clips), got shape {shape}")
    if 0 in shape:
        raise DataError(f"{what}: empty array of shape {shape}")
    dtype = np.dtype(dtype)
    if dtype != np.uint8 and dtype.kind != "f":
        raise DataError(f"{what}: dtype {dtype} is not supported; store uint8 (0..255) or float in [0, 1]")
    if shape[-1] == 3:
        return len(shape) - 1
    axis = next((a for a in (1, 2) if a < len(shape) - 2 and shape[a] == 3), None)
    if axis is None:
        raise DataError(f"{what}: no RGB axis of size 3 in shape {shape}; store frames as [..., H, W, 3] uint8")
    return axis


def to_uint8_rgb(arr: np.ndarray, axis: int, what: str = "array") -> np.ndarray:
    """Move the channel axis last and convert float [0, 1] to uint8 (validated)."""
    arr = np.asarray(arr)
    if axis != arr.ndim - 1:
        arr = np.moveaxis(arr, axis, -1)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    a = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all() or a.min() < 0 or a.max() > 1:
        got = (f"{(~finite).sum()} NaN/inf values" if not finite.all()
               else f"range {a.min():.3g}..{a.max():.3g}")
        raise DataError(f"{what}: float frames must be finite and in [0, 1] (got {got}); "
                        "or store uint8 0..255")
    return (a * 255 + 0.5).astype(np.uint8)


def check_frames(arr, what: str = "array", ndim: tuple[int, ...] = (3, 4, 5)) -> np.ndarray:
    """Validate an RGB array and return it as uint8 channels-last (see rgb_axis)."""
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(arr).__name__}")
    return to_uint8_rgb(arr, rgb_axis(arr.shape, arr.dtype, what, ndim), what)


def load_npy(path) -> np.ndarray:
    """Memory-mapped .npy; refuses pickled object arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such .npy file")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e}); save with numpy.save") from None


# ---- image folders -----------------------------------------------------------------------------
def _files_below(root: Path, exts, kind: str, not_a_folder: str) -> list[Path]:
    """The files with one of `exts` in `root` or below it, sorted; a DataError names what was
    looked for when `root` is no folder (`not_a_folder`) or holds none (`kind`, e.g. "images")."""
    if not root.is_dir():
        raise DataError(f"{root}: {not_a_folder}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file())
    if not files:
        raise DataError(f"{root}: no {kind} ({', '.join(exts)}) in this folder or below it")
    return files


def list_images(root) -> list[Path]:
    return _files_below(Path(root), IMAGE_EXTS, "images", "not a folder of images")


def read_image(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read this image (corrupt or not an image); remove it or re-save it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ---- video files -------------------------------------------------------------------------------
def list_videos(source) -> list[Path]:
    source = Path(source)
    if source.is_file():
        return [source]
    return _files_below(source, VIDEO_EXTS, "videos", "no such video file or folder")


def _open(path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{path}: OpenCV cannot open this video (corrupt, or a codec it lacks); "
                        "re-encode it, e.g. ffmpeg -i IN -c:v mjpeg OUT.avi")
    return cap


def video_frame_count(path) -> int:
    """Frames in a video; decodes it when the container does not say (or says nonsense)."""
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n <= 0 or n > 10_000_000:
            n = 0
            while cap.grab():
                n += 1
        else:
            ok = cap.grab()  # a readable header over undecodable data still has to fail here
            if not ok:
                n = 0
    finally:
        cap.release()
    if n == 0:
        raise DataError(f"{path}: the video has no decodable frames; re-encode it")
    return n


def read_video_frames(path, start: int, frames: int, stride: int) -> np.ndarray:
    """uint8 [frames, H, W, 3] RGB: frames start, start+stride, ... of a video."""
    cap = _open(path)
    try:
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) != start:   # inexact seek: decode forward
                cap.release()
                cap = _open(path)
                for _ in range(start):
                    cap.grab()
        out = []
        for i in range(clip_span(frames, stride)):
            if not cap.grab():
                raise DataError(f"{path}: frame {start + i} cannot be decoded (truncated video?)")
            if i % stride == 0:
                ok, img = cap.retrieve()
                if not ok:
                    raise DataError(f"{path}: frame {start + i} cannot be decoded (truncated video?)")
                out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return np.stack(out)
    finally:
        cap.release()
