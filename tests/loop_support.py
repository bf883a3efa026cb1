"""Small, exactly known models for the loop and planner tests (no training needed).

`AgentPositionEncoder` finds the built-in world's agent (the dark disc) in the frame and embeds its
(x, y) linearly into N x D tokens; `LinearDynamics` moves that embedding by the displacement an
action causes. Together they are a world model whose energy minimum is exactly the goal, so a
planner that works must reach goals with them, and the tests can assert it. Both are real
`InferenceSession`s, used through the same code paths as exported bundles.
"""
from __future__ import annotations

import numpy as np

from jepa_edge.inference.session import InferenceSession, TensorSpec
from jepa_edge.latent import IMAGENET_MEAN, IMAGENET_STD

MEAN = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
STD = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
N_TOKENS, DIM = 4, 8


def embedding(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N_TOKENS * DIM, 2)).astype(np.float32)


class AgentPositionEncoder(InferenceSession):
    backend = "test"

    def __init__(self, img_size: int = 64, seed: int = 0, nan_after: int | None = None):
        super().__init__([TensorSpec("image", (1, 3, img_size, img_size))], [TensorSpec("tokens", (1, N_TOKENS, DIM))])
        self.W = embedding(seed)
        self.calls = 0
        self.nan_after = nan_after  # fault drill: NaN output from this call on

    def position(self, x: np.ndarray) -> np.ndarray:
        rgb = (x * STD + MEAN) * 255.0  # [1, 3, S, S]
        dark = (rgb < 70).all(axis=1)[0]  # the agent disc (35, 35, 40); walls/table/objects are lighter
        ys, xs = np.nonzero(dark)
        S = x.shape[-1]
        if len(xs) == 0:
            return np.array([0.5, 0.5], np.float32)
        return np.array([(xs.mean() + 0.5) / S, (ys.mean() + 0.5) / S], np.float32)

    def run(self, inputs):
        self.calls += 1
        z = (self.W @ self.position(inputs["image"])).reshape(1, N_TOKENS, DIM)
        if self.nan_after is not None and self.calls > self.nan_after:
            z = z.copy()
            z[0, 0, 0] = np.nan
        return {"tokens": z.astype(np.float32)}


class LinearDynamics(InferenceSession):
    """z' = z + W (a * speed * dt): what AgentPositionEncoder would see after one action step."""

    backend = "test"

    def __init__(self, speed_dt: float, seed: int = 0, state_dim: int = 4, delay_s: float = 0.0):
        super().__init__([TensorSpec("tokens", ("batch", N_TOKENS, DIM)), TensorSpec("actions", ("batch", 1, 2)),
                          TensorSpec("states", ("batch", 1, state_dim))],
                         [TensorSpec("next_tokens", ("batch", N_TOKENS, DIM))])
        self.W = embedding(seed)
        self.speed_dt = speed_dt
        self.delay_s = delay_s  # fault drill: a backend slower than the planning budget
        self.batches: list[int] = []

    def run(self, inputs):
        import time

        if self.delay_s:
            time.sleep(self.delay_s)
        z, a = inputs["tokens"], inputs["actions"][:, -1]  # [B, N, D], [B, 2]
        self.batches.append(len(z))
        dz = (a * self.speed_dt) @ self.W.T  # [B, N*D]
        return {"next_tokens": (z + dz.reshape(z.shape)).astype(np.float32)}


class CopyLastDynamics(LinearDynamics):
    """Predicts that nothing changes: surprise = how much the latent moved."""

    def run(self, inputs):
        return {"next_tokens": np.array(inputs["tokens"], np.float32)}


def tiny_random_models(img_size: int = 32, action_dim: int = 2, state_dim: int = 4, seed: int = 0):
    """A randomly initialised vit_nano-class encoder and AC predictor (2 blocks each)."""
    import torch

    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
    from jepa_edge.models.registry import build_encoder

    torch.manual_seed(seed)
    encoder = build_encoder("vit_nano/16", img_size=img_size, depth=2).eval()
    ac = ActionConditionedPredictor(ACPredictorConfig(
        embed_dim=encoder.cfg.embed_dim, predictor_embed_dim=64, depth=2, num_heads=4, action_dim=action_dim,
        state_dim=state_dim, img_size=img_size, patch_size=16, max_frames=4)).eval()
    return encoder, ac


def torch_sessions(encoder, ac, threads: int = 1):
    """Wrap the modules as the torch backend's InferenceSessions (what a torch bundle loads as)."""
    from jepa_edge.inference.session import TensorSpec
    from jepa_edge.inference.torch_session import TorchSession

    s, n, d = encoder.cfg.img_size, encoder.cfg.num_patches, encoder.cfg.embed_dim
    enc = TorchSession(encoder, [TensorSpec("image", (1, 3, s, s))], [TensorSpec("tokens", (1, n, d))], threads=threads)

    def ac_session():
        return TorchSession(ac, [TensorSpec("tokens", ("batch", n, d)), TensorSpec("actions", ("batch", 1, ac.cfg.action_dim)),
                                 TensorSpec("states", ("batch", 1, ac.cfg.state_dim))],
                            [TensorSpec("next_tokens", ("batch", n, d))], threads=threads)
    return enc, ac_session(), ac_session()


def save_tiny_model_dir(path, img_size: int = 32, action_dim: int = 2, state_dim: int = 4, seed: int = 0,
                        config: dict | None = None):
    """A model dir (config.json + safetensors) holding a tiny random encoder and AC predictor."""
    from jepa_edge.models.model_dir import ModelDir, save_model_dir

    encoder, ac = tiny_random_models(img_size, action_dim, state_dim, seed)
    return save_model_dir(path, ModelDir(config=dict(config or {}), encoder=encoder, ac_predictor=ac))


class PixelEncoder(InferenceSession):
    """Sees everything, knows nothing: the frame average-pooled to a 8x8 grid of RGB tokens."""

    backend = "test"

    def __init__(self, img_size: int = 64, grid: int = 8):
        super().__init__([TensorSpec("image", (1, 3, img_size, img_size))], [TensorSpec("tokens", (1, grid * grid, 3))])
        self.grid = grid

    def run(self, inputs):
        x = inputs["image"][0]  # [3, S, S]
        g, S = self.grid, x.shape[-1]
        cells = x.reshape(3, g, S // g, g, S // g).mean(axis=(2, 4))  # [3, g, g]
        return {"tokens": cells.reshape(3, g * g).T[None].astype(np.float32)}


class FailingSession(InferenceSession):
    """Wraps a session; raises (or hangs) from call `after` on: backend-error and stall drills."""

    backend = "test"

    def __init__(self, inner: InferenceSession, after: int, hang_s: float = 0.0):
        super().__init__(inner.inputs, inner.outputs)
        self.inner, self.after, self.hang_s = inner, after, hang_s
        self.calls = 0
        self.hang_ended_at = None

    def run(self, inputs):
        import time

        self.calls += 1
        if self.calls == self.after and self.hang_s:
            time.sleep(self.hang_s)
            self.hang_ended_at = time.monotonic()
        elif self.calls >= self.after and not self.hang_s:
            raise RuntimeError("device lost (injected)")
        return self.inner.run(inputs)
