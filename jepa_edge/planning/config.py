"""The planner's settings: the `[planner]` section of a robot config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# The choices of the string fields below; a robot TOML or flag with another value is refused, naming
# the key (jepa_edge.utils.config). Energy and StateUpdate list planning/energy.py ENERGIES and
# planning/kinematics.py STATE_UPDATES (tests/test_config.py keeps them equal).
PlannerKind = Literal["cem", "mppi"]
Energy = Literal["l1", "l1_smooth"]
StateUpdateMode = Literal["auto", "integrate", "hold"]
RolloutContext = Literal["last", "history"]
ROLLOUT_CONTEXTS = get_args(RolloutContext)  # planner.rollout_context (planning/planner.py LatentDynamics)


@dataclass(frozen=True)
class PlannerConfig:
    kind: PlannerKind = "cem"  # "cem" or "mppi"
    horizon: int = 1  # actions per sequence (V-JEPA 2-AC plans one step ahead)
    samples: int = 256  # action sequences per iteration, all through the predictor in one call
    iterations: int = 4  # upper bound; budget_ms usually ends planning first
    budget_ms: float = 150.0  # wall-clock planning budget per replan
    elites: int = 32  # CEM: top-k kept per iteration (capped at the samples drawn)
    init_std: float = 0.5  # initial sampling std, in action units
    min_std: float = 0.02  # the sampling std never shrinks below this
    momentum: float = 0.1  # CEM: mean/std smoothing across iterations
    temperature: float = 0.05  # MPPI: softmax temperature on (normalised) energy
    action_low: tuple[float, ...] = (-1.0, -1.0)  # lower bound of each action dimension
    action_high: tuple[float, ...] = (1.0, 1.0)  # upper bound of each action dimension
    max_batch: int = 0  # split the sample batch into chunks of this size (0 = one call)
    # "l1" (V-JEPA 2-AC) or "l1_smooth": L1 after a Gaussian blur over the token grid, which gives
    # the planner a direction when the agent is far from the goal (planning/energy.py)
    energy: Energy = "l1"
    smooth_sigma: float = 0.25  # l1_smooth: blur sigma as a fraction of the token grid's side
    # The robot state the predictor sees over the horizon (planning/kinematics.py): "integrate" each
    # planned action into it, as V-JEPA 2-AC does, with the kinematics train-ac recorded in the
    # model dir (in simulation: the world's own); "hold" keeps the current state; "auto"
    # integrates when those kinematics are known, else holds.
    state_update: StateUpdateMode = "auto"
    # What each rollout call sees (planning/planner.py LatentDynamics): "last" = the frame predicted
    # last (one frame per call, the cheapest); "history" = the current frame and every frame
    # predicted since, as V-JEPA 2-AC's planner and train-ac's rollout loss do (horizon > 1 only)
    rollout_context: RolloutContext = "last"
    renorm: bool = False  # layer-norm each predicted frame, as the official planner (normalize_reps)
    # Score z_now + delta_scale * (z_pred - z_now): below 1 the energy weighs the direction of the
    # predicted change more than its size (planning/planner.py scaled_change_energy); 1 = the prediction
    delta_scale: float = 1.0
    seed: int = 0  # the planner's sampling seed
