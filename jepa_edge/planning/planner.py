"""Planning in latent space: the `Planner` protocol and the AC predictor as its world model.

    plan(obs, goal, warm, budget) -> PlanResult(actions [horizon, action_dim], info)

`obs` is what the robot sees now (`Observation`: the frame's encoder tokens [N, D] and its
proprioception), `goal` the goal latent [N, D], `warm` the previous plan shifted to now (or None),
`budget` the caller's `PlanBudget` (milliseconds and the overrun policy's shrink factor). Everything
a planner reports comes back in the result; nothing is read from or written to a planner from outside.

`SamplingPlanner` (CEM in planning/cem.py, MPPI in planning/mppi.py) samples action sequences, rolls
every one of them through the action-conditioned predictor in one batched call per horizon step, and
scores the predicted final latent by its distance to the goal latent (planning/energy.py: L1, the
V-JEPA 2-AC energy, or L1 over the blurred token grid; `planner.delta_scale` scores the predicted
change scaled down). The search stops at `iterations` or when the next iteration would not fit in
the budget, whichever comes first: on a robot the budget in milliseconds is the one that matters.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from jepa_edge.errors import ConfigError, DataError
from jepa_edge.planning.energy import make_energy
from jepa_edge.latent import layer_norm_tokens
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.planning.config import ROLLOUT_CONTEXTS, PlannerConfig
from jepa_edge.inference.session import InferenceSession


class LatentDynamics:
    """The AC predictor session as the planner's world model.

    The predictor is block-causal across frames: given T frames it predicts frames 1..T, and the
    prediction of frame k depends on frames < k only. A horizon-H rollout is H calls, each with the
    whole sample batch, in one of two ways (`context`):

    - "history" (V-JEPA 2-AC's planner, notebooks/utils/mpc_utils.py): call k sees the current
      frame and the k-1 frames predicted so far, which is how `train-ac`'s rollout loss trains it;
    - "last": call k sees only the frame predicted last (one frame per call: the cheapest, and what
      a predictor trained with `--one-step` expects).

    `renorm` layer-normalises every predicted frame before it is fed back or scored, as the official
    planner does (`normalize_reps`): the latents the predictor was trained on are layer-normed.
    With a `state_update` (planning/kinematics.py) each planned action is integrated into the state the
    next call sees, as V-JEPA 2-AC's planner does; without one the state is held at its current value.

    A predictor trained on a robot dataset (`train-ac --data`) reads normalized actions and states,
    (x - mean) / std with the dataset's stats: the session's latent spec carries them, and they are
    applied here, so the planner, the kinematics and the robot all stay in the robot's own units.

    A session exported for a fixed number of frames F (`jepa-edge export --frames F`) takes calls of
    up to F frames: the frames after those given are zero-filled, which block-causality makes
    harmless. History rollouts need F >= the horizon; a one-frame session serves "last" only.

    A shared-frame bundle (the default one-frame export for ONNX Runtime and OpenVINO) takes the
    current frame once, with batch 1, and does the frame's share of the first block once for every
    sample (ActionConditionedPredictor.forward_shared_frame): it serves horizon-1 plans, whose every
    sample starts from the same frame.
    """

    def __init__(self, session: InferenceSession, max_batch: int = 0, state_update: StateUpdate | None = None,
                 context: str = "last", renorm: bool = False):
        self.session = session
        names = [s.name for s in session.inputs]
        if len(names) not in (2, 3):
            raise ConfigError(f"AC predictor session must take (tokens, actions[, states]), got inputs {names}")
        if context not in ROLLOUT_CONTEXTS:
            raise ConfigError(f"planner.rollout_context must be one of {ROLLOUT_CONTEXTS}, got {context!r}")
        self.token_name = names[0]
        self.action_name = next((n for n in names[1:] if "action" in n.lower()), names[1])
        rest = [n for n in names[1:] if n != self.action_name]
        self.state_name = rest[0] if rest else None
        specs = {s.name: s for s in session.inputs}
        action_shape = specs[self.action_name].shape
        self.frames = _static(action_shape, 1) if len(action_shape) == 3 else 1  # 0: any number
        self.context, self.renorm = context, renorm
        self.action_dim = _static(action_shape, -1)
        self.state_dim = _static(specs[self.state_name].shape, -1) if self.state_name else 0
        self.shared_frame = session.manifest is not None and session.manifest.shared_frame
        fixed_batch = _static(action_shape, 0)
        self.max_batch = fixed_batch or max_batch or 0
        self.pad_to_batch = bool(fixed_batch)
        if state_update is not None and self.state_name:
            state_update.check(self.action_dim, self.state_dim)
        self.state_update = state_update if self.state_name else None
        spec = session.latent
        self.action_norm = _affine(spec.action_norm if spec else None, self.action_dim, "actions")
        self.state_norm = _affine(spec.state_norm if spec else None, self.state_dim, "states")
        self.calls = 0

    def check_horizon(self, horizon: int) -> None:
        """History rollouts need a session that takes `horizon` frames."""
        if self.shared_frame and horizon > 1:
            raise ConfigError(f"planner.horizon {horizon}: this AC predictor bundle takes one frame shared by every sample "
                              "(horizon 1); for longer plans export it with `jepa-edge export --part ac_predictor "
                              "--no-shared-frame`")
        if self.context == "history" and self.frames and horizon > self.frames:
            raise ConfigError(f"planner.horizon {horizon} with rollout_context \"history\" needs an AC predictor "
                              f"that takes {horizon} frames; this bundle takes {self.frames}: export it with "
                              f"`jepa-edge export --part ac_predictor --frames {horizon}`")

    def step(self, z: np.ndarray, actions: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
        """z [B, N, D], actions [B, A], states [B, S] -> next-frame tokens [B, N, D]."""
        return self.predict(z[:, None], actions[:, None], None if states is None else states[:, None])

    def predict(self, frames: np.ndarray, actions: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
        """frames [B, T, N, D], actions [B, T, A], states [B, T, S] -> the tokens of frame T+1 [B, N, D]."""
        B = frames.shape[0]
        if not self.max_batch or B <= self.max_batch:
            return self._run(frames, actions, states)
        outs = [self._run(frames[i:i + self.max_batch], actions[i:i + self.max_batch],
                          None if states is None else states[i:i + self.max_batch])
                for i in range(0, B, self.max_batch)]
        return np.concatenate(outs)[:B]

    def _run(self, frames, actions, states) -> np.ndarray:
        n, T, N, D = frames.shape
        if states is None:
            states = np.zeros((n, T, self.state_dim), np.float32)
        if self.frames > T:  # a fixed-frame export: zero-fill the frames after the last one given
            pad = self.frames - T
            frames = np.concatenate([frames, np.zeros((n, pad, N, D), frames.dtype)], 1)
            actions = np.concatenate([actions, np.zeros((n, pad, actions.shape[-1]), actions.dtype)], 1)
            states = np.concatenate([states, np.repeat(states[:, -1:], pad, 1)], 1)
        if self.shared_frame:
            if T != 1 or (n > 1 and frames.strides[0] != 0 and not (frames == frames[:1]).all()):
                raise DataError("this AC predictor bundle takes one frame shared by every sample (planning from the "
                                "current frame); for other inputs export it with `jepa-edge export --part ac_predictor "
                                "--no-shared-frame`")
            frames = frames[:1]
        if self.pad_to_batch and n < self.max_batch:  # an export with a fixed batch: pad, then cut
            pad = self.max_batch - n
            actions, states = (np.concatenate([a, np.repeat(a[-1:], pad, 0)]) for a in (actions, states))
            if not self.shared_frame:
                frames = np.concatenate([frames, np.repeat(frames[-1:], pad, 0)])
        if self.action_norm is not None:
            actions = (actions - self.action_norm[0]) / self.action_norm[1]
        if self.state_norm is not None:
            states = (states - self.state_norm[0]) / self.state_norm[1]
        feeds = {self.token_name: np.ascontiguousarray(frames.reshape(len(frames), -1, D), dtype=np.float32),
                 self.action_name: np.ascontiguousarray(actions, dtype=np.float32)}
        if self.state_name:
            feeds[self.state_name] = np.ascontiguousarray(states, dtype=np.float32)
        self.calls += 1
        out = next(iter(self.session.run(feeds).values()))[:n]  # [n, frames*N, D]: predictions of frames 1..
        nxt = out[:, (T - 1) * N:T * N]
        return layer_norm_tokens(nxt) if self.renorm else nxt

    def rollout(self, z0: np.ndarray, actions: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """z0 [N, D], actions [B, H, A], state [S] -> predicted final tokens [B, N, D]."""
        B, H, _ = actions.shape
        z = np.broadcast_to(z0[None], (B, *z0.shape))  # [B, N, D]
        states = None if state is None or not self.state_name else np.broadcast_to(state[None], (B, len(state)))
        seen, seen_states = [z], [states]  # the frames (and states) a history call sees
        for h in range(H):
            if self.context == "history":
                z = self.predict(np.stack(seen, 1), actions[:, :h + 1],
                                 None if states is None else np.stack(seen_states, 1))
            else:
                z = self.step(z, actions[:, h], states)
            if self.state_update is not None and states is not None and h + 1 < H:
                states = self.state_update(states, actions[:, h])
            seen.append(z)
            seen_states.append(states)
        return z


def scaled_change_energy(energy, z_now: np.ndarray, z_end: np.ndarray, z_goal: np.ndarray, scale: float) -> np.ndarray:
    """energy(z_now + scale * (z_end - z_now), z_goal) [B] for z_end [B, N, D]: planner.delta_scale.

    Why: the AC predictors measured here move the latent about twice as far as the world does
    (README), and L1 is not linear, so the size of that exaggerated change, not only its direction,
    decides which candidate wins. As the scale goes to 0 the energy becomes its first-order change
    along each predicted step, the sum of sign(z_now - z_goal) * (z_end - z_now) (both blurred, for
    l1_smooth): the candidate whose predicted change points most downhill wins, and standing still
    loses to any move that helps.

    Both energies are a norm of (z - z_goal), so |z_now + s (z_end - z_now) - z_goal| equals
    s |z_end - z_goal'| with the goal moved once to z_goal' = z_now + (z_goal - z_now) / s: the
    scale costs one [N, D] update per call, not a pass over every sample."""
    if scale == 1:
        return energy(z_end, z_goal)
    return np.float32(scale) * energy(z_end, z_now + (z_goal - z_now) / np.float32(scale))


def _affine(norm: dict | None, dim: int, what: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) arrays of a recorded normalization, checked against the predictor's input width."""
    if norm is None:
        return None
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    if dim and len(mean) != dim:
        raise ConfigError(f"the predictor's latent spec normalizes {len(mean)}-d {what}, but it takes {dim}-d {what}: "
                          "re-export the bundle from its model dir")
    return mean, std


def _static(shape, axis: int) -> int:
    dim = shape[axis] if shape else None
    return dim if isinstance(dim, int) and dim > 0 else 0


@dataclass(frozen=True)
class Observation:
    """What a planner plans from: one frame's latent and the robot state when it was captured."""

    z: np.ndarray  # [N, D] encoder tokens
    state: np.ndarray | None = None  # [S] proprioception (None when the robot reports none)
    t_frame: float = 0.0  # capture time on the loop's clock
    tick: int = 0  # the perception tick that produced it


@dataclass(frozen=True)
class PlanBudget:
    """How much a replan may spend, set by the caller for each call."""

    ms: float | None = None  # wall-clock budget; None = the planner's own (planner.budget_ms)
    scale: float = 1.0  # the overrun policy's shrink factor (loop/scheduler.py): samples, ms and iterations scale with it


@dataclass(frozen=True)
class PlanInfo:
    iterations: int  # iterations actually run (budget may stop before cfg.iterations)
    samples: int  # samples per iteration
    elapsed_ms: float
    energy: float  # best energy seen (NaN: the planner scores nothing)
    budget_ms: float  # the budget applied (after scaling); 0 = none


@dataclass(frozen=True)
class PlanResult:
    actions: np.ndarray  # [horizon, action_dim]
    info: PlanInfo


@runtime_checkable
class Planner(Protocol):
    """Anything the loop can plan with: sampling MPC (CEM, MPPI), random actions, the evaluation's oracle."""

    def plan(self, obs: Observation, goal: np.ndarray, warm: np.ndarray | None = None,
             budget: PlanBudget | None = None) -> PlanResult:
        """Actions from `obs` towards `goal`; `warm` [horizon, action_dim] or None; `budget` None = the planner's own."""
        ...


class SamplingPlanner(ABC):
    """Sampling-based MPC over action sequences in latent space (satisfies `Planner`)."""

    def __init__(self, dynamics: LatentDynamics, cfg: PlannerConfig):
        self.dynamics = dynamics
        self.cfg = cfg
        self.low = np.asarray(cfg.action_low, np.float32)
        self.high = np.asarray(cfg.action_high, np.float32)
        if dynamics.action_dim and dynamics.action_dim != len(self.low):
            raise ConfigError(f"planner action bounds have {len(self.low)} dims, the predictor takes "
                              f"{dynamics.action_dim}: set planner.action_low/action_high to {dynamics.action_dim} values")
        self.rng = np.random.default_rng(cfg.seed)
        self.energy = make_energy(cfg.energy, cfg.smooth_sigma)
        dynamics.check_horizon(cfg.horizon)

    @property
    def shape(self) -> tuple[int, int]:
        return self.cfg.horizon, len(self.low)

    def samples_for(self, scale: float) -> int:
        return max(8, int(round(self.cfg.samples * scale)))

    def energies(self, z_now, z_goal, seqs, state) -> np.ndarray:
        return scaled_change_energy(self.energy, z_now, self.dynamics.rollout(z_now, seqs, state), z_goal,
                                    self.cfg.delta_scale)

    def initial_mean(self, warm: np.ndarray | None) -> np.ndarray:
        if warm is None:
            return np.clip(np.zeros(self.shape, np.float32), self.low, self.high)
        warm = np.asarray(warm, np.float32)
        if warm.shape != self.shape:
            raise ValueError(f"warm start has shape {warm.shape}, planner plans {self.shape}")
        return np.clip(warm, self.low, self.high)

    def plan(self, obs: Observation, goal: np.ndarray, warm: np.ndarray | None = None,
             budget: PlanBudget | None = None) -> PlanResult:
        """Best action sequence [horizon, action_dim] within the budget (None: planner.budget_ms)."""
        budget = budget or PlanBudget()
        scale = budget.scale
        budget_ms = (self.cfg.budget_ms if budget.ms is None else budget.ms) * max(scale, 0.1)
        z_now, state = obs.z, obs.state
        t0 = time.perf_counter()
        mean = self.initial_mean(warm)
        std = np.full(self.shape, self.cfg.init_std, np.float32)
        n = self.samples_for(scale)
        best, it, per_iter = np.inf, 0, 0.0
        max_iters = max(1, int(round(self.cfg.iterations * min(1.0, scale * 2))))
        while it < max_iters:
            elapsed = (time.perf_counter() - t0) * 1e3
            if it > 0 and elapsed + per_iter > budget_ms:
                break  # the next iteration would not fit: stop with what we have
            noise = self.rng.standard_normal((n, *self.shape)).astype(np.float32)
            seqs = np.clip(mean[None] + std[None] * noise, self.low, self.high)  # [n, H, A]
            seqs[0] = mean  # the incumbent competes, so an iteration never makes the plan worse
            e = self.energies(z_now, goal, seqs, state)
            best = min(best, float(np.nanmin(e)) if np.isfinite(e).any() else np.inf)
            mean, std = self.update(seqs, e, mean, std)
            it += 1
            per_iter = (time.perf_counter() - t0) * 1e3 / it
        info = PlanInfo(it, n, (time.perf_counter() - t0) * 1e3, best, budget_ms)
        return PlanResult(np.clip(mean, self.low, self.high), info)

    @abstractmethod
    def update(self, seqs, energies, mean, std) -> tuple[np.ndarray, np.ndarray]:
        """New sampling mean and std from the scored samples."""


class RandomPlanner:
    """Uniform random actions within the bounds: the goal-reaching baseline (satisfies `Planner`)."""

    def __init__(self, cfg: PlannerConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.low = np.asarray(cfg.action_low, np.float32)
        self.high = np.asarray(cfg.action_high, np.float32)

    def plan(self, obs: Observation, goal: np.ndarray, warm: np.ndarray | None = None,
             budget: PlanBudget | None = None) -> PlanResult:
        t0 = time.perf_counter()
        out = self.rng.uniform(self.low, self.high, (self.cfg.horizon, len(self.low))).astype(np.float32)
        return PlanResult(out, PlanInfo(0, 0, (time.perf_counter() - t0) * 1e3, float("nan"), 0.0))


def make_planner(dynamics: LatentDynamics, cfg: PlannerConfig) -> SamplingPlanner:
    from jepa_edge.planning.cem import CEMPlanner
    from jepa_edge.planning.mppi import MPPIPlanner

    return {"cem": CEMPlanner, "mppi": MPPIPlanner}[cfg.kind](dynamics, cfg)
