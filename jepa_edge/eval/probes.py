"""Linear probes: closed-form ridge regression from frozen features to ground-truth positions.

Features are the mean-pooled tokens of a slot ("pooled", D dims) or all its tokens concatenated
("patch", h*w*D dims). A third, "dense", asks each token what it covers (DINO-style dense linear
probing): one D-weight ridge, shared by every token, maps a token to the share of its area the agent
covers, and a linear readout maps the slot's h*w coverage estimates to the agent's position. The
whole chain is linear in the tokens, but it has D + h*w weights instead of the patch probe's h*w*D,
so it is not starved of data, and it reads position only from where the tokens say the agent is.
Splits are by clip (no frame of a held-out clip is seen in training), in k
folds so every clip is held out once; ridge's lambda is picked on a validation part of the
training clips from a log grid, then the probe is refit on all training clips. Score: R^2 of the
out-of-fold predictions, averaged over output coordinates.
"""
from __future__ import annotations

import numpy as np
import torch

from jepa_edge.errors import DataError

LAMBDAS = tuple(10.0 ** k for k in range(-3, 6))


def _probe_device() -> str:
    """The probe's float64 algebra (n x n kernels of up to ~25k-dim features) runs on a GPU when
    there is one: minutes on one CPU thread, a fraction of a second there."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination, averaged uniformly over output columns."""
    y, pred = np.asarray(y, np.float64).reshape(len(y), -1), np.asarray(pred, np.float64).reshape(len(y), -1)
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    return float(np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-12)))


class Ridge:
    """Closed-form ridge, primal when the feature dim is at most the sample count, dual/kernel
    otherwise. Features are standardized with the training mean/std; the intercept is the training
    target mean. `fit(..., many_lambdas=True)` eigendecomposes the Gram matrix once, so predicting
    at any lambda is cheap (for the lambda search); otherwise each lambda costs one Cholesky
    solve, several times cheaper than the eigendecomposition (for the refit at the chosen lambda)."""

    def fit(self, X: np.ndarray, Y: np.ndarray, many_lambdas: bool = True) -> "Ridge":
        self.device = _probe_device()
        X = torch.as_tensor(np.asarray(X), dtype=torch.float64, device=self.device)
        Y = torch.as_tensor(np.asarray(Y), dtype=torch.float64, device=self.device).reshape(len(X), -1)
        if X.ndim != 2 or len(X) < 2:
            raise DataError(f"ridge needs features [n>=2, d], got {tuple(X.shape)}")
        sd = X.std(0)
        # A feature constant over the training rows gets weight 0; scale 1 keeps it from exploding
        # on test rows where it varies (e.g. a pixel the agent never covered in training).
        self.mu, self.sd = X.mean(0), torch.where(sd > 1e-6, sd, torch.ones_like(sd))
        self.ymu = Y.mean(0)
        Xs, Yc = (X - self.mu) / self.sd, Y - self.ymu
        self.primal = Xs.shape[1] <= Xs.shape[0]
        # primal: W = (Xs'Xs + lam I)^-1 Xs'Yc; dual: alpha = (Xs Xs' + lam I)^-1 Yc, W = Xs' alpha
        self._gram, self._rhs = (Xs.T @ Xs, Xs.T @ Yc) if self.primal else (Xs @ Xs.T, Yc)
        self._Xs = None if self.primal else Xs
        self._evals, self._solved = None, {}
        if many_lambdas:
            evals, basis = torch.linalg.eigh(self._gram)
            self._evals, self._basis, self._proj = evals.clamp_min(0), basis, basis.T @ self._rhs
            self._gram = None
        return self

    def _coef(self, lam: float) -> torch.Tensor:
        """W [d, k] (primal) or alpha [n, k] (dual) at lambda."""
        if self._evals is not None:
            return self._basis @ (self._proj / (self._evals + lam)[:, None])
        if lam not in self._solved:
            eye = torch.eye(len(self._gram), dtype=self._gram.dtype, device=self.device)
            self._solved[lam] = torch.cholesky_solve(self._rhs, torch.linalg.cholesky(self._gram + lam * eye))
        return self._solved[lam]

    def weights(self, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(W [d, k], b [k]) in the raw feature space: predict(X) = X @ W + b."""
        coef = self._coef(lam)
        W = (coef if self.primal else self._Xs.T @ coef) / self.sd[:, None]
        return W, self.ymu - self.mu @ W

    def predict(self, X: np.ndarray, lam: float) -> np.ndarray:
        W, b = self.weights(lam)
        return (torch.as_tensor(np.asarray(X), dtype=torch.float64, device=self.device) @ W + b).cpu().numpy()


def _folds(groups: np.ndarray, folds: int, seed: int):
    """Row masks (fit, val, train, test) of each fold: every clip is held out once; val is a fifth
    of the training clips (for lambda), fit the rest."""
    ids = np.unique(groups)
    if len(ids) < max(4, folds):
        raise DataError(f"a probe needs at least {max(4, folds)} clips, got {len(ids)}")
    ids = np.random.default_rng(seed).permutation(ids)
    for fold in range(folds):
        test_ids = ids[fold::folds]
        train_ids = np.setdiff1d(ids, test_ids)
        n_val = max(1, len(train_ids) // 5)
        val_ids, fit_ids = train_ids[:n_val], train_ids[n_val:]
        yield tuple(np.isin(groups, which) for which in (fit_ids, val_ids, train_ids, test_ids))


def ridge_probe(X: np.ndarray, Y: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0,
                lambdas=LAMBDAS) -> dict:
    """Cross-validated by clip: every clip is held out once (k folds); in each fold lambda is chosen
    on a validation fifth of the training clips, the probe is refit on all training clips and
    predicts the held-out clips. R^2 is computed over all out-of-fold predictions.
    X [n, d], Y [n, k], groups [n] (clip id of every row)."""
    return ridge_probes(X, {"y": Y}, groups, folds, seed, lambdas)["y"]


def ridge_probes(X: np.ndarray, targets: dict[str, np.ndarray], groups: np.ndarray, folds: int = 5, seed: int = 0,
                 lambdas=LAMBDAS) -> dict[str, dict]:
    """ridge_probe for several targets of the same features: the eigendecompositions (the cost)
    are shared, lambda is still chosen per target. targets: name -> Y [n, k]."""
    Ys = {t: np.asarray(Y, np.float64).reshape(len(X), -1) for t, Y in targets.items()}
    cols = np.cumsum([0] + [Y.shape[1] for Y in Ys.values()])
    span = {t: slice(a, b) for t, a, b in zip(Ys, cols[:-1], cols[1:])}
    Y = np.concatenate(list(Ys.values()), axis=1)
    ids = np.unique(groups)
    pred = np.zeros_like(Y)
    chosen = {t: [] for t in Ys}
    for fit, val, train, test in _folds(groups, folds, seed):
        r = Ridge().fit(X[fit], Y[fit])
        val_pred = {lam: r.predict(X[val], lam) for lam in lambdas}
        r = Ridge().fit(X[train], Y[train], many_lambdas=False)
        for t, cs in span.items():
            best = max(lambdas, key=lambda lam: r2_score(Y[val, cs], val_pred[lam][:, cs]))
            chosen[t].append(best)
            pred[test, cs] = r.predict(X[test], best)[:, cs]
    return {t: {"r2": r2_score(Y[:, cs], pred[:, cs]), "lambdas": chosen[t], "folds": folds, "n": len(Y), "clips": len(ids),
                "features": X.shape[1]}
            for t, cs in span.items()}


def coverage(pos: np.ndarray, radius: float, grid: int, sub: int = 8) -> np.ndarray:
    """pos [..., 2] in [0, 1] (x, y) -> [..., grid*grid]: share of each token's area inside a disc of
    `radius` at pos (sub x sub sample points per token), in the encoder's row-major token order."""
    lead, pos = pos.shape[:-1], pos.reshape(-1, 2)
    c = (np.arange(grid * sub) + 0.5) / (grid * sub)  # sample points along one axis
    inside = ((c[None, None, :] - pos[:, 0, None, None]) ** 2
              + (c[None, :, None] - pos[:, 1, None, None]) ** 2) <= radius ** 2  # [n, y, x]
    return inside.reshape(len(pos), grid, sub, grid, sub).mean((2, 4)).reshape(*lead, grid * grid)


def dense_probe(tokens: torch.Tensor, cover: np.ndarray, Y: np.ndarray, groups: np.ndarray, folds: int = 5,
                seed: int = 0, lambdas=LAMBDAS, max_token_rows: int = 200_000, readout_lambda: float = 1.0) -> dict:
    """tokens [n, N, D] (one row per slot), cover [n, N] (what each token covers), Y [n, k] (position).
    Per fold: a token -> coverage ridge shared by all tokens (lambda chosen on the validation clips,
    fitted on at most `max_token_rows` seeded (slot, token) rows of the training clips: D weights need
    far fewer), then a coverage -> position ridge fitted on the training clips' coverage estimates.
    Returns R^2 of the held-out positions and of the held-out coverage maps."""
    n, N, D = tokens.shape
    Z = tokens.float()
    cover, Y = np.asarray(cover, np.float64).reshape(n, N), np.asarray(Y, np.float64).reshape(n, -1)
    rng = np.random.default_rng(seed)

    def token_rows(rows: np.ndarray):
        idx = np.flatnonzero(rows)[:, None] * N + np.arange(N)  # (slot, token) pairs of these slots
        idx = idx.reshape(-1)
        if len(idx) > max_token_rows:
            idx = np.sort(rng.choice(idx, max_token_rows, replace=False))
        return Z.reshape(n * N, D)[idx].numpy(), cover.reshape(-1)[idx]

    def estimate(r: Ridge, lam: float, rows: np.ndarray) -> np.ndarray:
        W, b = r.weights(lam)
        return (Z[torch.from_numpy(rows)] @ W.cpu().float() + b.cpu().float()).squeeze(-1).double().numpy()  # [rows, N]

    pred, pred_cover, chosen = np.zeros_like(Y), np.zeros_like(cover), []
    for fit, val, train, test in _folds(groups, folds, seed):
        r = Ridge().fit(*token_rows(fit))
        lam = max(lambdas, key=lambda lam: r2_score(cover[val].reshape(-1), estimate(r, lam, val).reshape(-1)))
        r = Ridge().fit(*token_rows(train), many_lambdas=False)
        readout = Ridge().fit(estimate(r, lam, train), Y[train], many_lambdas=False)
        pred_cover[test] = estimate(r, lam, test)
        pred[test] = readout.predict(pred_cover[test], readout_lambda)
        chosen.append(lam)
    return {"r2": r2_score(Y, pred), "coverage_r2": r2_score(cover.reshape(-1), pred_cover.reshape(-1)),
            "lambdas": chosen, "folds": folds, "n": n, "clips": len(np.unique(groups)), "features": D + N}


def position_probes(tokens: torch.Tensor, agent: np.ndarray, objects: np.ndarray,
                    kinds: tuple[str, ...] = ("pooled", "patch"), seed: int = 0,
                    agent_cover: np.ndarray | None = None) -> dict:
    """tokens [n_clips, S, N, D]; agent [n_clips, S, 2]; objects [n_clips, S, n_obj, 2] ->
    {"agent": {"pooled": {...}, "patch": {...}}, "objects": {...}}. With agent_cover [n_clips, S, N]
    (the agent's coverage of every token) the agent also gets the "dense" probe."""
    n, S, N, D = tokens.shape
    groups = np.repeat(np.arange(n), S)
    feats = {}
    if "pooled" in kinds:
        feats["pooled"] = tokens.mean(2).reshape(n * S, D).numpy()
    if "patch" in kinds:
        feats["patch"] = tokens.reshape(n * S, N * D).numpy()
    targets = {"agent": agent.reshape(n * S, -1), "objects": objects.reshape(n * S, -1)}
    by_kind = {k: ridge_probes(X, targets, groups, seed=seed) for k, X in feats.items()}
    out = {t: {k: by_kind[k][t] for k in feats} for t in targets}
    if agent_cover is not None:
        out["agent"]["dense"] = dense_probe(tokens.reshape(n * S, N, D), agent_cover.reshape(n * S, N),
                                            targets["agent"], groups, seed=seed)
    return out


def pixel_probes(frames: np.ndarray, agent: np.ndarray, objects: np.ndarray, size: int = 16, seed: int = 0) -> dict:
    """The floor any encoder must beat: the same ridge probe on the raw frames, area-downsampled to
    size x size. frames uint8 [n_clips, L, H, W, 3]; agent [n_clips, L, 2]; objects [n_clips, L, n_obj, 2]."""
    import cv2

    n, L = frames.shape[:2]
    flat = frames.reshape(n * L, *frames.shape[2:])
    X = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in flat])
    X = X.reshape(n * L, -1).astype(np.float32) / 255.0
    groups = np.repeat(np.arange(n), L)
    return ridge_probes(X, {"agent": agent.reshape(n * L, -1), "objects": objects.reshape(n * L, -1)}, groups, seed=seed)
