"""Teacher/student agreement on the same inputs: linear CKA and cosine after a linear map.

The two models may differ in width, so cosine is measured after a least-squares linear map from
student to teacher features, fitted on one half of the samples and scored on the other half.
Linear CKA (Kornblith et al. 2019) needs no map: it compares the two similarity structures.
"""
from __future__ import annotations

import numpy as np
import torch


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """X [n, d1], Y [n, d2] -> CKA in [0, 1] (1: same representation up to rotation and scale)."""
    X = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    Y = torch.as_tensor(np.asarray(Y), dtype=torch.float64)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    num = (Y.T @ X).pow(2).sum()
    den = (X.T @ X).pow(2).sum().sqrt() * (Y.T @ Y).pow(2).sum().sqrt()
    return float(num / den.clamp_min(1e-12))


def mapped_cosine(student: np.ndarray, teacher: np.ndarray, ridge: float = 1e-3, seed: int = 0) -> float:
    """Mean cosine between teacher rows and linearly mapped student rows on held-out rows."""
    S = torch.as_tensor(np.asarray(student), dtype=torch.float64)
    T = torch.as_tensor(np.asarray(teacher), dtype=torch.float64)
    perm = torch.as_tensor(np.random.default_rng(seed).permutation(len(S)))
    fit, test = perm[: len(S) // 2], perm[len(S) // 2 :]
    Sf = torch.cat([S[fit], torch.ones(len(fit), 1, dtype=S.dtype)], 1)
    A = torch.linalg.solve(Sf.T @ Sf + ridge * len(fit) * torch.eye(Sf.shape[1], dtype=S.dtype), Sf.T @ T[fit])
    St = torch.cat([S[test], torch.ones(len(test), 1, dtype=S.dtype)], 1)
    return float(torch.nn.functional.cosine_similarity(St @ A, T[test], dim=1).mean())


def agreement(student_tokens: torch.Tensor, teacher_tokens: torch.Tensor, max_tokens: int = 4000, seed: int = 0) -> dict:
    """tokens [n, ..., N, D_s] and [n, ..., N, D_t] of the same inputs (same token grid)."""
    s = student_tokens.reshape(-1, student_tokens.shape[-2], student_tokens.shape[-1])
    t = teacher_tokens.reshape(-1, teacher_tokens.shape[-2], teacher_tokens.shape[-1])
    pooled_s, pooled_t = s.mean(1).numpy(), t.mean(1).numpy()
    flat_s, flat_t = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1])
    idx = np.random.default_rng(seed).permutation(len(flat_s))[:max_tokens]
    tok_s, tok_t = flat_s[idx].numpy(), flat_t[idx].numpy()
    return {
        "cka_pooled": linear_cka(pooled_s, pooled_t),
        "cka_tokens": linear_cka(tok_s, tok_t),
        "cosine_tokens": mapped_cosine(tok_s, tok_t, seed=seed),
        "cosine_pooled": mapped_cosine(pooled_s, pooled_t, seed=seed),
    }
