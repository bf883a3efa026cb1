"""Multi-block masks for JEPA training, made in the data collator as index tensors.

- `MultiBlockMasker2D` (I-JEPA): per batch one target-block size (scale 0.15-0.2, aspect 0.75-1.5)
  and one context-block size (scale 0.85-1.0, square); per sample 4 target blocks at random
  places and 1 context block restricted to the patches outside every target block, with more than
  `min_keep` (10) patches.
- `MultiBlockMasker3D` (V-JEPA): "tubes" that span time; per batch one block size; per sample the
  union of `num_blocks` blocks is the target, the rest the context. V-JEPA trains with two such
  maskers at once: 8 short-range blocks of spatial scale 0.15 and 2 long-range of 0.7
  (`vjepa_maskers`).

Indices are row-major over the (t, h, w) token grid. To stack a batch, every sample's index list is
cut to the batch's shortest (the official collators do the same), so shapes are rectangular.
Python loops are fine here: this runs in DataLoader workers, never inside a model's forward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import default_collate

from jepa_edge.errors import ConfigError, DataError


@dataclass(frozen=True)
class MaskBatch:
    ctx: torch.Tensor  # [B, Nc] long: kept (context) token indices, sorted
    tgt: torch.Tensor  # [B, n_blocks, Nt] long: target token indices per block, sorted


def _randint(lo: int, hi: int, g: torch.Generator) -> int:
    """Uniform integer in [lo, hi)."""
    return int(torch.randint(lo, hi, (1,), generator=g).item())


def _rand(g: torch.Generator) -> float:
    return float(torch.rand(1, generator=g).item())


def _stack_cut(rows: list[torch.Tensor]) -> torch.Tensor:
    n = min(len(r) for r in rows)
    return torch.stack([r[:n] for r in rows])


class MultiBlockMasker2D:
    def __init__(
        self,
        grid_hw: tuple[int, int],
        enc_scale: tuple[float, float] = (0.85, 1.0),
        pred_scale: tuple[float, float] = (0.15, 0.2),
        aspect_ratio: tuple[float, float] = (0.75, 1.5),
        n_pred: int = 4,
        min_keep: int = 10,
    ):
        self.height, self.width = grid_hw
        self.enc_scale, self.pred_scale, self.aspect_ratio = enc_scale, pred_scale, aspect_ratio
        self.n_pred, self.min_keep = n_pred, min_keep
        if self.height < 2 or self.width < 2:
            raise ConfigError(f"MultiBlockMasker2D: grid {grid_hw} too small (need at least 2x2 patches)")
        if (self.height - 1) * (self.width - 1) <= min_keep:
            raise ConfigError(
                f"MultiBlockMasker2D: a {self.height}x{self.width} grid cannot keep more than min_keep={min_keep} "
                "context patches; use a larger input or a smaller min_keep"
            )

    def _block_size(self, g, scale, aspect) -> tuple[int, int]:
        # One random number drives both scale and aspect, as the official sampler.
        r = _rand(g)
        keep = int(self.height * self.width * (scale[0] + r * (scale[1] - scale[0])))
        ar = aspect[0] + r * (aspect[1] - aspect[0])
        h = max(1, min(int(round(math.sqrt(keep * ar))), self.height - 1))  # strictly inside the grid
        w = max(1, min(int(round(math.sqrt(keep / ar))), self.width - 1))
        return h, w

    def _place(self, size, g) -> torch.Tensor:
        """A [H, W] bool block of `size` at a random top-left corner."""
        h, w = size
        top, left = _randint(0, self.height - h, g), _randint(0, self.width - w, g)
        m = torch.zeros(self.height, self.width, dtype=torch.bool)
        m[top : top + h, left : left + w] = True
        return m

    def _sample(self, p_size, e_size, g):
        for _ in range(100):  # resample the targets if no context block fits around them
            targets = [self._place(p_size, g) for _ in range(self.n_pred)]
            allowed = ~torch.stack(targets).any(0)
            for _ in range(20):
                ctx = self._place(e_size, g) & allowed
                if int(ctx.sum()) > self.min_keep:
                    return ctx.flatten().nonzero().squeeze(1), [t.flatten().nonzero().squeeze(1) for t in targets]
        raise DataError("MultiBlockMasker2D: could not place a context block; lower the target scale")

    def __call__(self, batch_size: int, generator: torch.Generator) -> MaskBatch:
        p_size = self._block_size(generator, self.pred_scale, self.aspect_ratio)
        e_size = self._block_size(generator, self.enc_scale, (1.0, 1.0))
        ctx, tgt = [], []
        for _ in range(batch_size):
            c, ts = self._sample(p_size, e_size, generator)
            ctx.append(c)
            tgt.append(ts)
        n_t = min(len(t) for ts in tgt for t in ts)
        return MaskBatch(_stack_cut(ctx), torch.stack([torch.stack([t[:n_t] for t in ts]) for ts in tgt]))


class MultiBlockMasker3D:
    def __init__(
        self,
        grid_thw: tuple[int, int, int],
        num_blocks: int = 8,
        spatial_scale: tuple[float, float] = (0.15, 0.15),
        temporal_scale: tuple[float, float] = (1.0, 1.0),
        aspect_ratio: tuple[float, float] = (0.75, 1.5),
        max_keep: int | None = None,
    ):
        self.duration, self.height, self.width = grid_thw
        self.num_blocks, self.max_keep = num_blocks, max_keep
        self.spatial_scale, self.temporal_scale, self.aspect_ratio = spatial_scale, temporal_scale, aspect_ratio

    def _block_size(self, g) -> tuple[int, int, int]:
        lo, hi = self.temporal_scale
        t = max(1, int(self.duration * (lo + _rand(g) * (hi - lo))))
        lo, hi = self.spatial_scale
        keep = int(self.height * self.width * (lo + _rand(g) * (hi - lo)))
        lo, hi = self.aspect_ratio
        ar = lo + _rand(g) * (hi - lo)
        h = max(1, min(int(round(math.sqrt(keep * ar))), self.height))
        w = max(1, min(int(round(math.sqrt(keep / ar))), self.width))
        return t, h, w

    def __call__(self, batch_size: int, generator: torch.Generator) -> MaskBatch:
        t, h, w = self._block_size(generator)
        g = generator
        ctx, tgt = [], []
        while len(ctx) < batch_size:
            masked = torch.zeros(self.duration, self.height, self.width, dtype=torch.bool)
            for _ in range(self.num_blocks):
                s, top, left = (_randint(0, self.duration - t + 1, g), _randint(0, self.height - h + 1, g),
                                _randint(0, self.width - w + 1, g))
                masked[s : s + t, top : top + h, left : left + w] = True
            flat = masked.flatten()
            if flat.all():  # empty context: resample, as the official collator
                continue
            ctx.append((~flat).nonzero().squeeze(1))
            tgt.append(flat.nonzero().squeeze(1))
        ctx_t = _stack_cut(ctx)
        if self.max_keep is not None:
            ctx_t = ctx_t[:, : self.max_keep]
        return MaskBatch(ctx_t, _stack_cut(tgt).unsqueeze(1))


class RandomMasker:
    """Uniform random masking over the whole (t, h, w) grid: per sample a fraction `ratio` of the
    tokens is the target (one "block"), the rest the context. Unlike tubes, a masked token's
    neighbours in space and time are usually visible, so predicting it asks for fine local
    content (where exactly a small thing is, how it moved) rather than scene layout; in our sweep
    (experiments/sweep_teacher.py) it raised the agent-position probe. Not in the official recipes
    (`--masking random`)."""

    @staticmethod
    def check_ratio(ratio: float) -> None:
        if not 0.0 < ratio < 1.0:
            raise ConfigError(f"mask ratio must be in (0, 1), got {ratio}")

    def __init__(self, grid_thw: tuple[int, int, int], ratio: float = 0.75):
        self.check_ratio(ratio)
        self.n = math.prod(grid_thw)
        self.n_tgt = min(self.n - 1, max(1, round(self.n * ratio)))

    def __call__(self, batch_size: int, generator: torch.Generator) -> MaskBatch:
        perm = torch.stack([torch.randperm(self.n, generator=generator) for _ in range(batch_size)])
        tgt, ctx = perm[:, : self.n_tgt], perm[:, self.n_tgt :]
        return MaskBatch(ctx.sort(1).values, tgt.sort(1).values.unsqueeze(1))


def vjepa_maskers(grid_thw: tuple[int, int, int]) -> list[MultiBlockMasker3D]:
    """V-JEPA's two mask families: 8 short-range blocks (scale 0.15), 2 long-range (scale 0.7)."""
    return [
        MultiBlockMasker3D(grid_thw, num_blocks=8, spatial_scale=(0.15, 0.15)),
        MultiBlockMasker3D(grid_thw, num_blocks=2, spatial_scale=(0.7, 0.7)),
    ]


class MaskCollator:
    """DataLoader collate_fn: (default-collated batch, MaskBatch) — or a list of MaskBatch when
    given several maskers (V-JEPA's mask families; use the list index as the predictor's mask_index).

    Each call draws its generator seed from torch's global RNG, which DataLoader seeds per worker,
    so runs are reproducible under `torch.manual_seed` and workers do not repeat each other.
    """

    def __init__(self, masker):
        self.maskers = masker if isinstance(masker, (list, tuple)) else None
        self.masker = masker

    def __call__(self, samples):
        batch = default_collate(samples)
        g = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ()).item()))
        if self.maskers is not None:
            return batch, [m(len(samples), g) for m in self.maskers]
        return batch, self.masker(len(samples), g)
