"""Training data as a pure function of (seed, step): which samples and which masks step `s` uses.

That is what makes `--resume` exact and a DDP run equal to a 1-process run: every rank computes
the same global batch of indices and masks for step `s` and keeps its own rows.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from jepa_edge.data.transforms import IMAGENET, Normalization
from jepa_edge.errors import ConfigError, DataError
from jepa_edge.models.masks import MaskBatch, MultiBlockMasker2D, RandomMasker, vjepa_maskers


# ----------------------------------------------------------------------------- sample order
class StepSampler:
    """Global batch of dataset indices for step s: epochs are seeded permutations of the dataset,
    read in order, so step s needs no history (sampling without replacement within an epoch)."""

    def __init__(self, n: int, global_batch: int, seed: int):
        if n < 1:
            raise DataError("the training data is empty")
        self.n, self.batch, self.seed = n, global_batch, seed
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng((self.seed, 7919, epoch)).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        pos = step * self.batch + np.arange(self.batch)
        out = np.empty(self.batch, dtype=np.int64)
        for epoch in np.unique(pos // self.n):
            sel = pos // self.n == epoch
            out[sel] = self._permutation(int(epoch))[pos[sel] % self.n]
        return out

    def epoch_of(self, step: int) -> int:
        return (step * self.batch) // self.n


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The torch.Generator for the masks (or any randomness) of one step."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 16 + stream)


def load_rows(dataset, indices) -> torch.Tensor:
    """Stack dataset[i] for the given indices (samples are tensors, or dicts/tuples whose first
    tensor is the input)."""
    xs = []
    for i in indices:
        s = dataset[int(i)]
        if isinstance(s, dict):
            s = s["x"] if "x" in s else next(v for v in s.values() if isinstance(v, torch.Tensor))
        elif isinstance(s, (tuple, list)):
            s = s[0]
        xs.append(s)
    return torch.stack(xs)


# ----------------------------------------------------------------------------- built-in world
@dataclass(frozen=True)
class WorldSpec:
    """Samples of the built-in world: clip i is world seed (seed, i); half of the clips launch
    an object across the occluder so object permanence is seen in training."""

    size: int = 64
    frames: int = 1  # 1: single images (a random frame of a clip)
    seed: int = 0
    n: int = 4000  # distinct samples (a fixed data set; epochs repeat it)
    clip_frames: int = 16  # length of the simulated episode a sample is cut from
    cross_fraction: float = 0.5
    policy: str = "explore"


class WorldSamples(torch.utils.data.Dataset):
    """Normalized float32 [C, H, W] (frames == 1) or [C, T, H, W] samples of the built-in world,
    rendered once and kept as uint8 in memory."""

    def __init__(self, spec: WorldSpec, norm: Normalization = IMAGENET):
        if spec.frames > spec.clip_frames:
            raise ConfigError(f"world samples of {spec.frames} frames need clip_frames >= {spec.frames}")
        self.spec, self.norm = spec, norm
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.spec.n

    def frames(self, i: int) -> np.ndarray:
        if i not in self._cache:
            self._cache[i] = self._render(i)
        return self._cache[i]

    def _render(self, i: int) -> np.ndarray:
        from jepa_edge.data.clips import make_clip

        s = self.spec
        rng = np.random.default_rng((s.seed, i, 11))
        cross = rng.random() < s.cross_fraction
        clip = make_clip((s.seed, i), frames=s.clip_frames, size=s.size, policy=s.policy, cross=cross)
        start = int(rng.integers(0, s.clip_frames - s.frames + 1))
        f = clip.frames[start : start + s.frames]
        return f[0] if s.frames == 1 else f

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.norm(self.frames(int(i)))

    def describe(self) -> dict:
        from dataclasses import asdict

        return {"source": "world", **asdict(self.spec), "normalization": self.norm.to_dict()}


def build_training_data(source: str, img_size: int, num_frames: int, n: int, seed: int,
                        frame_stride: int = 1, norm: Normalization = IMAGENET, image_key: str | None = None):
    """'world' -> the built-in world; a path -> robot dataset (LeRobot v3.0) / image folder / video
    file(s) / .npy (real data). `image_key`: the robot dataset's camera (default: its first)."""
    if source == "world" and image_key is not None:
        raise ConfigError("--image-key names a camera of a robot dataset (--data DATASET), not of the built-in world")
    if source == "world":
        return WorldSamples(WorldSpec(size=img_size, frames=num_frames, seed=seed, n=n,
                                      clip_frames=max(16, num_frames)), norm)
    from jepa_edge.data.datasets import open_dataset

    data = open_dataset(source, kind="clips" if num_frames > 1 else "images", size=img_size,
                        frames=num_frames, stride=frame_stride, seed=seed, normalization=norm, image_key=image_key)
    if len(data) == 0:
        raise DataError(f"--data {source}: no samples")
    return data


# ----------------------------------------------------------------------------- masks
MASKINGS = ("blocks", "random")


@dataclass(frozen=True)
class FutureMasker:
    """Context = the first `c` temporal slots, target = the rest (c drawn per batch in
    [min_ctx, t-1]). This is the mask the intuitive-physics probe uses, so training on it
    teaches the predictor to predict the future from the past."""

    grid_thw: tuple[int, int, int]
    min_ctx: int = 1

    def __call__(self, batch_size: int, generator: torch.Generator) -> MaskBatch:
        t, h, w = self.grid_thw
        if t < 2:
            raise ConfigError("future masks need a video model with at least 2 temporal slots")
        c = int(torch.randint(self.min_ctx, t, (1,), generator=generator).item())
        return future_masks(self.grid_thw, c, batch_size)


def future_masks(grid_thw: tuple[int, int, int], ctx_slots: int, batch_size: int) -> MaskBatch:
    t, h, w = grid_thw
    per = h * w
    ctx = torch.arange(ctx_slots * per).expand(batch_size, -1)  # [B, c*h*w]
    tgt = torch.arange(ctx_slots * per, t * per).expand(batch_size, -1).unsqueeze(1)  # [B, 1, (t-c)*h*w]
    return MaskBatch(ctx.contiguous(), tgt.contiguous())


def check_masking(masking: str, ratio: float) -> None:
    """--masking / --mask-ratio, checked when the config is made (before any data or model)."""
    if masking not in MASKINGS:
        raise ConfigError(f"masking must be one of {MASKINGS}, got {masking!r}")
    RandomMasker.check_ratio(ratio)


def mask_families(grid_thw: tuple[int, int, int], future: bool = True, masking: str = "blocks",
                  ratio: float = 0.75) -> list:
    """blocks: I-JEPA's one 2D multi-block family, or V-JEPA's short- and long-range tubes;
    random: one uniform random family (RandomMasker). Video adds (ours) the future-frames family.
    The list index is the predictor's mask_index."""
    t, h, w = grid_thw
    check_masking(masking, ratio)
    if masking == "random":
        fams = [RandomMasker(grid_thw, ratio)]
    elif t == 1:
        return [MultiBlockMasker2D((h, w), min_keep=min(10, max(2, h * w // 6)))]  # small grids keep fewer
    else:
        fams = list(vjepa_maskers(grid_thw))
    if future and t > 1:
        fams.append(FutureMasker(grid_thw))
    return fams


def masks_for_step(families: list, global_batch: int, seed: int, step: int, rows: slice) -> list[MaskBatch]:
    """The masks of step `step` for the global batch, cut to this rank's rows."""
    out = []
    for k, fam in enumerate(families):
        m = fam(global_batch, step_generator(seed, step, stream=1 + k))
        out.append(MaskBatch(m.ctx[rows], m.tgt[rows]))
    return out
