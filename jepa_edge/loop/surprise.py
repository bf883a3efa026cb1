"""Surprise monitor: did the world do what the predictor expected?

Every tick the loop compares the latent the predictor expected for this frame (made one action
step earlier from that frame's latent and the action sent) with what the encoder actually sees:
surprise = mean L1 between the two (the violation-of-expectation signal of the intuitive-physics
eval). A tick is surprising when the score exceeds the absolute `threshold` (if set) or `ratio` x
the typical recent unsurprising score (armed after `warmup_ticks`). The policy then slows the
robot down or stops it for `hold_ticks`, or only logs.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from jepa_edge.loop.config import SurpriseConfig


@dataclass(frozen=True)
class SurpriseEvent:
    tick: int
    score: float
    threshold: float

    def to_dict(self) -> dict:
        return {"tick": self.tick, "score": round(self.score, 6), "threshold": round(self.threshold, 6)}


class SurpriseMonitor:
    def __init__(self, cfg: SurpriseConfig, window: int = 100):
        self.cfg = cfg
        self.recent: deque[float] = deque(maxlen=window)
        self.events: list[SurpriseEvent] = []
        self.ticks_seen = 0
        self.hold_left = 0  # ticks the slow/stop still lasts

    def threshold(self) -> float:
        thresholds = []
        if self.cfg.threshold > 0:
            thresholds.append(self.cfg.threshold)
        if self.cfg.ratio > 0 and self.ticks_seen >= self.cfg.warmup_ticks and self.recent:
            thresholds.append(self.cfg.ratio * self.baseline())
        return min(thresholds) if thresholds else float("inf")

    def baseline(self) -> float:
        """Typical unsurprising score: the median, or the mean when most scores are exactly zero
        (a still scene), so a ratio threshold never collapses to 0."""
        recent = np.asarray(self.recent, np.float64)
        return float(max(np.median(recent), recent.mean()))

    def update(self, z_pred: np.ndarray, z_obs: np.ndarray, tick: int) -> float:
        """Score this tick; returns the score (also decides slow/stop)."""
        score = float(np.abs(z_pred - z_obs).mean())
        limit = self.threshold()
        self.ticks_seen += 1
        if score > limit:
            self.events.append(SurpriseEvent(tick, score, limit))
            self.hold_left = self.cfg.hold_ticks
        else:
            self.recent.append(score)  # the baseline learns only from unsurprising ticks
            self.hold_left = max(0, self.hold_left - 1)
        return score

    @property
    def active(self) -> bool:
        return self.hold_left > 0 and self.cfg.policy != "log"

    def command_scale(self) -> float:
        """Multiply commands by this: 1 normally, slow_factor or 0 while a surprise lasts."""
        if not self.active:
            return 1.0
        return self.cfg.slow_factor if self.cfg.policy == "slow" else 0.0
