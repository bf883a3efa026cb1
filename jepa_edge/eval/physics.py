"""Intuitive physics by violation of expectation (surprise), as in the V-JEPA intuitive-physics study.

For a matched pair (possible, impossible) the clips are identical up to the first frame `d` where
they differ. The window of `num_frames` frames is placed so its context slots end just before `d`
when the clip allows: then both clips give the predictor the same past, and only the future
differs. Surprise = L1 between the predictor's tokens for the future slots and the layer-normed
target tokens of those slots, averaged over the window's future tokens. Scores per violation type:
relative accuracy (share of pairs where the possible clip is less surprising; ties count half) and
AUROC (impossible vs possible surprise over all clips of that type).

Object permanence is scored on balanced quadruplets, as IntPhys does: a vanish pair and an appear
pair from the same scene. Vanish alone is confounded: the impossible clip has one object less to
predict, so a model that knows nothing of permanence finds it less surprising. Across the
quadruplet every future (object comes out / nothing comes out) occurs once as possible and once as
impossible, so only the context (did an object go behind the occluder?) can separate them:
"permanence" is the share of quadruplets where the two impossible clips together are more
surprising than the two possible ones. The mean relative accuracy averages the balanced scores
(permanence, teleport, morph), not the confounded halves.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from jepa_edge.data.clips import VIOLATIONS, make_vo_pair
from jepa_edge.data.transforms import Normalization
from jepa_edge.errors import ConfigError
from jepa_edge.models.vit import gather_tokens
from jepa_edge.training.common import layer_norm_features
from jepa_edge.training.data import future_masks

PHYSICS_SEED = 2_000_003  # held out from training seeds
PERMANENCE_HALVES = ("vanish", "appear")  # pairs of one seed share a scene: together, a quadruplet


def auroc(negatives, positives) -> float:
    """P(positive score > negative score), ties half (Mann-Whitney U / (n_neg * n_pos))."""
    neg, pos = np.asarray(negatives, float), np.asarray(positives, float)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(neg) * len(pos)))


def relative_accuracy(possible, impossible) -> float:
    p, i = np.asarray(possible, float), np.asarray(impossible, float)
    return float(np.mean((p < i) + 0.5 * (p == i)))


def balanced_relative_accuracy(possible_a, impossible_a, possible_b, impossible_b) -> float:
    """IntPhys' relative score: per matched quadruplet, impossible_a + impossible_b > possible_a + possible_b."""
    p = np.asarray(possible_a, float) + np.asarray(possible_b, float)
    return relative_accuracy(p, np.asarray(impossible_a, float) + np.asarray(impossible_b, float))


def first_divergence(a: np.ndarray, b: np.ndarray) -> int:
    diff = np.flatnonzero([(x != y).any() for x, y in zip(a, b)])
    return int(diff[0]) if len(diff) else len(a)


def window(d: int, length: int, num_frames: int, ctx_frames: int) -> int:
    """Start of the window whose context ends right before frame d (clamped into the clip)."""
    return int(np.clip(d - ctx_frames, 0, length - num_frames))


@torch.no_grad()
def surprise_scores(encoder, predictor, clips: np.ndarray, starts, norm: Normalization, ctx_slots: int,
                    mask_index: int, targets_fn: Callable[[torch.Tensor], torch.Tensor], batch: int = 32) -> np.ndarray:
    """clips uint8 [n, L, H, W, 3]; one window per clip starting at starts[i] -> surprise [n]."""
    cfg = encoder.cfg
    grid = cfg.grid
    out = []
    for s in range(0, len(clips), batch):
        xs = torch.stack([norm(clips[i, starts[i] : starts[i] + cfg.num_frames]) for i in range(s, min(len(clips), s + batch))])
        m = future_masks(grid, ctx_slots, len(xs))
        tgt = m.tgt[:, 0]  # [B, Nt]
        z = encoder.forward_features(xs, m.ctx)  # [B, Nc, D]
        pred = predictor(z, m.ctx, tgt, mask_index=mask_index).float()  # [B, Nt, D_out]
        target = gather_tokens(layer_norm_features(targets_fn(xs).float()), tgt)  # [B, Nt, D_out]
        out.append((pred - target).abs().mean((1, 2)))
    return torch.cat(out).numpy()


def vo_pairs(kind: str, n: int, frames: int, size: int, seed: int = PHYSICS_SEED):
    return [make_vo_pair((seed, i), kind, frames=frames, size=size) for i in range(n)]


def physics_eval(encoder, predictor, norm: Normalization, mask_index: int,
                 targets_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, n_pairs: int = 40,
                 clip_frames: int = 16, kinds=VIOLATIONS, ctx_slots: int | None = None, pairs=None) -> dict:
    """Surprise-based scores per violation type. `targets_fn` maps an input batch to the tokens the
    predictor predicts (the encoder itself, or the teacher for a distilled student)."""
    cfg = encoder.cfg
    if not cfg.is_video:
        raise ConfigError("the intuitive-physics probe needs a video model (num_frames > 1): "
                          "an image model has no future frames to predict")
    t = cfg.grid[0]
    ctx_slots = t - 1 if ctx_slots is None else ctx_slots
    if not 1 <= ctx_slots < t:
        raise ConfigError(f"ctx_slots must be in 1..{t - 1} for {t} temporal slots")
    targets_fn = targets_fn or encoder
    results, scores = {}, {}
    for kind in kinds:
        kind_pairs = pairs[kind] if pairs is not None else vo_pairs(kind, n_pairs, clip_frames, cfg.img_size)
        poss = np.stack([p.frames for p, _ in kind_pairs])
        imp = np.stack([i.frames for _, i in kind_pairs])
        L = poss.shape[1]
        starts = [window(first_divergence(a, b), L, cfg.num_frames, ctx_slots * cfg.tubelet_size) for a, b in zip(poss, imp)]
        sp = surprise_scores(encoder, predictor, poss, starts, norm, ctx_slots, mask_index, targets_fn)
        si = surprise_scores(encoder, predictor, imp, starts, norm, ctx_slots, mask_index, targets_fn)
        scores[kind] = sp, si
        results[kind] = {
            "relative_accuracy": relative_accuracy(sp, si),
            "auroc": auroc(sp, si),
            "surprise_possible": float(sp.mean()),
            "surprise_impossible": float(si.mean()),
            "pairs": len(kind_pairs),
        }
    balanced = [k for k in kinds if k not in PERMANENCE_HALVES]
    if all(k in kinds for k in PERMANENCE_HALVES):
        (sp_v, si_v), (sp_a, si_a) = (scores[k] for k in PERMANENCE_HALVES)
        results["permanence"] = {"relative_accuracy": balanced_relative_accuracy(sp_v, si_v, sp_a, si_a),
                                 "auroc": auroc(np.r_[sp_v, sp_a], np.r_[si_v, si_a]),
                                 "quadruplets": len(sp_v), "made_of": list(PERMANENCE_HALVES)}
        balanced.insert(0, "permanence")
    if balanced:
        results["mean_relative_accuracy"] = float(np.mean([results[k]["relative_accuracy"] for k in balanced]))
        results["mean_of"] = balanced
    return results
