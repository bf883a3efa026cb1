"""torch Datasets with one interface, for the built-in world and for real data.

Images come out as float32 [C, H, W], clips as float32 [C, T, H, W], normalized with the
dataset's `normalization` (record it in the model config). Trajectories add actions [T, 2] and
proprio states [T, 4]. With `with_truth=True` the world datasets also return the ground-truth
state vector(s) (see WorldState.vector) for probes. Every item is a pure function of
(seed, index), so runs are reproducible with any number of DataLoader workers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from jepa_edge.data.clips import VIOLATIONS, make_clip, make_vo_pair
from jepa_edge.data.policies import make_policy
from jepa_edge.data.sources import (
    clip_indices, clip_span, clip_starts, list_images, list_videos, load_npy, read_image,
    read_video_frames, rgb_axis, to_uint8_rgb, video_frame_count,
)
from jepa_edge.data.transforms import IMAGENET, Normalization, resize_frames
from jepa_edge.data.world import TabletopWorld, WorldConfig
from jepa_edge.errors import ConfigError, DataError


class FrameDataset(Dataset):
    """Shared attributes: size (None: as stored), frames (None for images), normalization."""

    size: int | None = None
    frames: int | None = None
    normalization: Normalization = IMAGENET

    def describe(self) -> dict:
        """What a model trained on this data should record about its input."""
        return {"source": type(self).__name__, "size": self.size, "frames": self.frames,
                "normalization": self.normalization.to_dict()}


# ---- the built-in world --------------------------------------------------------------------------
class WorldImages(FrameDataset):
    """Single frames of the world after 0..max_steps exploration steps from a fresh seed (a reset
    already scatters agent and objects; the steps add contacts and motion)."""

    def __init__(self, n: int = 10_000, size: int = 64, cfg: WorldConfig | None = None, seed: int = 0,
                 normalization: Normalization = IMAGENET, policy: str = "explore", max_steps: int = 8,
                 with_truth: bool = False):
        _check_n(n)
        self.n, self.size, self.seed, self.policy = n, size, seed, policy
        self.normalization, self.max_steps, self.with_truth = normalization, max_steps, with_truth
        self.world = TabletopWorld(cfg or WorldConfig(img_size=size))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        _check_index(i, self.n)
        w = self.world
        w.reset((self.seed, i))
        steps = int(np.random.default_rng((self.seed, i, 3)).integers(0, self.max_steps + 1))
        policy = make_policy(self.policy, w.cfg, (self.seed, i, 2))
        s = w.state
        for _ in range(steps):
            s = w.step(policy(s))
        x = self.normalization(w.render(self.size))
        return (x, torch.from_numpy(w.state.vector())) if self.with_truth else x


class WorldClips(FrameDataset):
    """Clips of the world; a share `p_cross` of them sends an object across the occluder."""

    def __init__(self, n: int = 2_000, frames: int = 16, size: int = 64, cfg: WorldConfig | None = None,
                 seed: int = 0, normalization: Normalization = IMAGENET, policy: str = "explore",
                 p_cross: float = 0.5, with_truth: bool = False, action_repeat: int = 1):
        _check_n(n)
        clip_span(frames, 1)
        self.n, self.frames, self.size, self.seed, self.policy = n, frames, size, seed, policy
        self.cfg = cfg or WorldConfig(img_size=size)
        self.normalization, self.p_cross, self.with_truth = normalization, p_cross, with_truth
        self.action_repeat = action_repeat  # world steps per clip step (clips.make_clip)

    def __len__(self):
        return self.n

    def clip(self, i: int):
        _check_index(i, self.n)
        cross = bool(np.random.default_rng((self.seed, i, 4)).random() < self.p_cross)
        return make_clip((self.seed, i), self.frames, self.size, self.cfg, self.policy, cross=cross,
                         action_repeat=self.action_repeat)

    def __getitem__(self, i):
        c = self.clip(i)
        x = self.normalization(c.frames)                                # [C, T, H, W]
        if self.with_truth:
            truth = np.stack([s.vector() for s in c.world_states()])    # [T, S_full]
            return x, torch.from_numpy(truth)
        return x


class WorldTrajectories(WorldClips):
    """(clip [C,T,H,W], actions [T,2], states [T,4]) for action-conditioned training."""

    def __init__(self, n: int = 2_000, frames: int = 8, size: int = 64, **kw):
        kw.setdefault("p_cross", 0.25)
        super().__init__(n, frames, size, **kw)

    def __getitem__(self, i):
        c = self.clip(i)
        return (self.normalization(c.frames), torch.from_numpy(c.actions), torch.from_numpy(c.states))


class WorldVOPairs(FrameDataset):
    """Matched (possible [C,T,H,W], impossible [C,T,H,W], t) pairs of one violation kind, where t
    is the first frame that differs in the underlying scene (see clips.make_vo_pair)."""

    def __init__(self, n: int = 100, kind: str = "vanish", frames: int = 16, size: int = 64,
                 cfg: WorldConfig | None = None, seed: int = 0, normalization: Normalization = IMAGENET):
        _check_n(n)
        if kind not in VIOLATIONS:
            raise ConfigError(f"unknown violation {kind!r}; choose one of {VIOLATIONS}")
        self.n, self.kind, self.frames, self.size, self.seed = n, kind, frames, size, seed
        self.cfg, self.normalization = cfg or WorldConfig(img_size=size), normalization

    def __len__(self):
        return self.n

    def pair(self, i: int):
        _check_index(i, self.n)
        return make_vo_pair((self.seed, i), self.kind, self.frames, self.size, self.cfg)

    def __getitem__(self, i):
        possible, impossible = self.pair(i)
        return (self.normalization(possible.frames), self.normalization(impossible.frames),
                impossible.violation["t"])


# ---- real data --------------------------------------------------------------------------------------
class ImageFolder(FrameDataset):
    """Every image under a folder (recursive, sorted), centre-cropped and resized to `size`."""

    def __init__(self, root, size: int | None = 224, normalization: Normalization = IMAGENET):
        self.files = list_images(root)
        self.root, self.size, self.normalization = Path(root), size, normalization

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        _check_index(i, len(self))
        return self.normalization(resize_frames(read_image(self.files[i]), self.size))


class VideoFiles(FrameDataset):
    """Clips of `frames` frames taken every `stride` frames, cut every `hop` frames from every video
    (a file or all videos under a folder). Videos shorter than one clip are left out."""

    def __init__(self, source, frames: int = 16, stride: int = 1, size: int | None = 224,
                 hop: int | None = None, normalization: Normalization = IMAGENET):
        span = clip_span(frames, stride)
        self.videos = list_videos(source)
        self.frames, self.stride, self.size, self.normalization = frames, stride, size, normalization
        self.index: list[tuple[int, int]] = []           # (video, start frame)
        self.frame_counts = [video_frame_count(p) for p in self.videos]
        for v, n in enumerate(self.frame_counts):
            self.index += [(v, s) for s in clip_starts(n, frames, stride, hop)]
        if not self.index:
            raise DataError(f"{source}: no video is long enough for a clip of {frames} frames at stride "
                            f"{stride} ({span} frames; longest has {max(self.frame_counts)}); "
                            "lower --frames or --stride")

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        _check_index(i, len(self))
        v, start = self.index[i]
        clip = read_video_frames(self.videos[v], start, self.frames, self.stride)  # [T, H, W, 3]
        return self.normalization(resize_frames(clip, self.size))


class NpyArrays(FrameDataset):
    """Frames from a .npy file: [N,H,W,3] images, [N,T,H,W,3] clips, or with `frames` set, clips
    cut from the frame sequence of a 4-D array (stride, hop as in VideoFiles). uint8 or float
    [0, 1]; channels first is accepted too. Optional aligned `actions` [N,(T,)A] and `states`
    [N,(T,)S] .npy files turn it into a trajectory source."""

    def __init__(self, path, size: int | None = None, frames: int | None = None, stride: int = 1,
                 hop: int | None = None, normalization: Normalization = IMAGENET,
                 actions=None, states=None):
        self.path, self.size, self.normalization, self.stride = Path(path), size, normalization, stride
        self.array = load_npy(path)
        self.axis = rgb_axis(self.array.shape, self.array.dtype, str(path), ndim=(4, 5))
        if frames is not None and self.array.ndim == 4:      # one long video, cut into clips
            self.starts = clip_starts(len(self.array), frames, stride, hop)
            if not self.starts:
                raise DataError(f"{path}: {len(self.array)} frames are too few for a clip of {frames} "
                                f"frames at stride {stride}; lower frames or stride")
            self.frames = frames
        else:
            self.starts = None
            self.frames = self.array.shape[1] if self.array.ndim == 5 else None
            if frames is not None and frames != self.frames:
                raise DataError(f"{path}: holds clips of {self.frames} frames but {frames} were asked for")
        self.extras = {name: self._aligned(name, p) for name, p in (("actions", actions), ("states", states))
                       if p is not None}

    def _aligned(self, name, p) -> np.ndarray:
        a = load_npy(p)
        if a.dtype.kind not in "fiu":
            raise DataError(f"{p}: {name} must be numeric, got dtype {a.dtype}")
        n_frames = len(self.array)
        lead = (n_frames,) if self.starts is not None or self.frames is None else (n_frames, self.frames)
        if a.ndim != len(lead) + 1 or a.shape[:len(lead)] != lead:
            raise DataError(f"{p}: {name} must have shape [{', '.join(map(str, lead))}, dim] to match "
                            f"{self.path} of shape {self.array.shape}, got {a.shape}")
        return a

    def __len__(self):
        return len(self.starts) if self.starts is not None else len(self.array)

    def __getitem__(self, i):
        _check_index(i, len(self))
        if self.starts is not None:
            idx = clip_indices(self.starts[i], self.frames, self.stride)
            frames, sel = self.array[idx], idx
        else:
            frames, sel = self.array[i], i
        axis = self.axis - 1 if self.starts is None else self.axis
        x = self.normalization(resize_frames(to_uint8_rgb(frames, axis, str(self.path)), self.size))
        if not self.extras:
            return x
        return (x, *(torch.from_numpy(np.array(a[sel], dtype=np.float32)) for a in self.extras.values()))


# ---- robot datasets (LeRobot v3.0 layout, data/lerobot.py) ------------------------------------------
class RobotEpisodes(FrameDataset):
    """Images, clips or trajectories cut from the episodes of a LeRobot v3.0 dataset folder.

    Every episode is decoded once (each video file front to back) and kept as uint8 at `size`.
    kind "images": every frame; "clips": `frames` frames every `stride` frames, cut every clip span;
    "trajectories": (clip [C,T,H,W], actions [T,A], states [T,S]) where one step is `stride` dataset
    frames (the action repeat): its action is the mean of the `stride` actions it spans (exact when the
    recording held each action that long, `record --action-repeat`), its state the first one's.
    Actions and states are normalized with `action_norm` / `state_norm` ({"mean", "std"}; None: raw)."""

    def __init__(self, root, kind: str = "clips", size: int | None = 64, frames: int = 8, stride: int = 1,
                 hop: int | None = None, normalization: Normalization = IMAGENET, image_key: str | None = None,
                 state_key: str | None = "observation.state", action_key: str | None = "action",
                 action_norm: dict | None = None, state_norm: dict | None = None):
        from jepa_edge.data.lerobot import RobotDataset

        traj = kind == "trajectories"
        self.data = RobotDataset(root, image_key=image_key, state_key=state_key if traj else None,
                                 action_key=action_key if traj else None)
        if traj and (self.data.state_key is None or self.data.action_key is None):
            raise ConfigError("trajectories need --state-key and --action-key")
        self.kind, self.size, self.normalization, self.stride = kind, size, normalization, stride
        self.frames = None if kind == "images" else frames
        self.action_norm, self.state_norm = action_norm, state_norm
        self.episodes, self.index = [], []
        for ep in self.data.iter_episodes():
            k = len(self.episodes)
            self.episodes.append((resize_frames(ep.frames, size), ep.actions, ep.states))
            if kind == "images":
                self.index += [(k, t) for t in range(len(ep))]
            else:
                span = clip_span(frames, stride) + (stride - 1 if traj else 0)  # a step's actions: `stride` rows
                self.index += [(k, s) for s in clip_starts(len(ep) - (span - clip_span(frames, stride)), frames, stride, hop)]
        if not self.index:
            longest = max((len(e[0]) for e in self.episodes), default=0)
            raise DataError(f"{root}: no episode is long enough for a clip of {frames} frames every {stride} "
                            f"(longest has {longest}); lower --frames or --action-repeat")

    def __len__(self):
        return len(self.index)

    @staticmethod
    def _norm(x: np.ndarray, norm: dict | None) -> torch.Tensor:
        if norm is not None:
            x = (x - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
        return torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def __getitem__(self, i):
        _check_index(i, len(self))
        k, start = self.index[i]
        frames, actions, states = self.episodes[k]
        if self.kind == "images":
            return self.normalization(frames[start])
        idx = clip_indices(start, self.frames, self.stride)
        x = self.normalization(frames[idx])
        if self.kind == "clips":
            return x
        a = actions[start:start + self.frames * self.stride].reshape(self.frames, self.stride, -1).mean(1)
        return x, self._norm(a, self.action_norm), self._norm(states[idx], self.state_norm)

    @property
    def seed(self) -> int:
        return 0

    def describe(self) -> dict:
        return {**self.data.describe(), "kind": self.kind, "size": self.size, "frames": self.frames,
                "stride": self.stride, "n": len(self), "normalization": self.normalization.to_dict(),
                "action_norm": self.action_norm, "state_norm": self.state_norm}


# ---- helpers -------------------------------------------------------------------------------------------
def _check_n(n):
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ConfigError(f"dataset length must be an integer >= 1, got {n!r}")


def _check_index(i, n):
    if not -n <= i < n:
        raise IndexError(f"index {i} out of range for a dataset of {n} items")


def open_dataset(source: str, *, kind: str = "images", size: int = 64, frames: int = 16, stride: int = 1,
                 n: int = 10_000, seed: int = 0, normalization: Normalization = IMAGENET,
                 image_key: str | None = None) -> FrameDataset:
    """A dataset from a CLI `--data` value: "world", a robot dataset folder (LeRobot v3.0 layout), a
    folder of images or videos, a video file, or a .npy file. `kind` is images, clips or trajectories."""
    if kind not in ("images", "clips", "trajectories"):
        raise ConfigError(f"kind must be images, clips or trajectories, got {kind!r}")
    norm = dict(normalization=normalization)
    if source == "world":
        if kind == "images":
            return WorldImages(n, size, seed=seed, **norm)
        cls = WorldClips if kind == "clips" else WorldTrajectories
        return cls(n, frames, size, seed=seed, **norm)
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file or folder (use 'world' for the built-in world)")
    from jepa_edge.data.lerobot import is_robot_dataset

    if is_robot_dataset(path):
        return RobotEpisodes(path, kind, size, frames, stride, image_key=image_key, **norm)
    if image_key is not None:
        raise ConfigError(f"--image-key {image_key} names a feature of a robot dataset; {source} is not one "
                          "(no meta/info.json)")
    if kind == "trajectories":
        raise ConfigError(f"{source}: trajectories (frames + actions + states) come from 'world' or from "
                          "NpyArrays(path, actions=..., states=...) in Python")
    if path.suffix == ".npy":
        return NpyArrays(path, size, frames=frames if kind == "clips" else None, stride=stride, **norm)
    if path.is_file() or (kind == "clips" and path.is_dir()):
        if kind != "clips":
            raise ConfigError(f"{source}: a video gives clips; use kind='clips' (or a folder of images)")
        return VideoFiles(path, frames, stride, size, **norm)
    return ImageFolder(path, size, **norm)
