"""MPPI: a softmax-weighted average of all samples (TD-MPC2 style), not only the elites.

Energies are shifted by their minimum and divided by their spread before the softmax, so one
`temperature` works whatever the scale of the latent space.
"""
from __future__ import annotations

import numpy as np

from jepa_edge.planning.planner import SamplingPlanner


class MPPIPlanner(SamplingPlanner):
    def update(self, seqs, energies, mean, std):
        finite = np.isfinite(energies)
        if not finite.any():
            return mean, std
        e = np.where(finite, energies, np.inf)
        spread = float(np.std(e[finite])) + 1e-8
        logits = -(e - e[finite].min()) / (self.cfg.temperature * spread)
        w = np.exp(logits - logits.max())
        w /= w.sum()  # [n]
        new_mean = np.einsum("n,nha->ha", w, seqs)
        new_std = np.sqrt(np.einsum("n,nha->ha", w, (seqs - new_mean[None]) ** 2))
        return new_mean.astype(np.float32), np.maximum(new_std, self.cfg.min_std).astype(np.float32)
