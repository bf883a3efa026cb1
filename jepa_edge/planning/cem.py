"""Cross-entropy method: sample around a Gaussian, refit it to the elites (V-JEPA 2-AC, DINO-WM)."""
from __future__ import annotations

import numpy as np

from jepa_edge.planning.planner import SamplingPlanner


class CEMPlanner(SamplingPlanner):
    def update(self, seqs, energies, mean, std):
        # NaN energies (a diverging predictor) must never be picked as elites.
        energies = np.where(np.isfinite(energies), energies, np.inf)
        k = min(self.cfg.elites, len(energies))
        elite = seqs[np.argpartition(energies, k - 1)[:k]]  # [k, H, A]
        m = self.cfg.momentum
        new_mean = m * mean + (1 - m) * elite.mean(0)
        new_std = m * std + (1 - m) * elite.std(0)
        return new_mean.astype(np.float32), np.maximum(new_std, self.cfg.min_std).astype(np.float32)
