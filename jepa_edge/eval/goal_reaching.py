"""Goal-reaching evaluation in the built-in world: success rate, steps to goal, planning time per action.

Each episode is `tasks.start_episode(seed)`: a scene and a goal image (the same scene with the
agent, or an object, somewhere else). Every method runs through the same loop, camera, encoder
and firmware simulator, in lockstep at the world's own step (dt = 0.1 s: one action per step, as
the AC predictor was trained), replanning every step; only the planner differs:

    random   uniform random actions within the bounds (the floor)
    teacher  CEM/MPPI over the FP32 teacher's encoder + AC predictor
    student  the same over the student (e.g. the INT8 bundle)
    oracle   the world's controller acting on ground-truth state (the ceiling)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jepa_edge.errors import ConfigError
from jepa_edge.loop.assemble import assemble, latent_spec, load_session
from jepa_edge.loop.loop import Ending, RobotLoop
from jepa_edge.planning.planner import Observation, PlanBudget, PlanInfo, PlanResult
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.telemetry import Telemetry, percentiles


@dataclass(frozen=True)
class Method:
    name: str  # random | teacher | student | oracle
    encoder: str = ""  # model dir or bundle (teacher/student)
    predictor: str = ""
    # Already-open sessions (programmatic use, tests) instead of paths.
    encoder_session: object = None
    predictor_session: object = None


class GroundTruthPlanner:
    """The oracle: the world's own controller on true state, through the same loop and firmware
    (a `Planner` that ignores the latents: it reads the world)."""

    def __init__(self, world, goal, horizon: int):
        from jepa_edge.data.policies import OracleController

        self.world, self.horizon = world, horizon
        self.controller = OracleController(goal, world.cfg)

    def plan(self, obs: Observation, goal: np.ndarray, warm: np.ndarray | None = None,
             budget: PlanBudget | None = None) -> PlanResult:
        import time

        t = time.perf_counter()
        a = np.asarray(self.controller(self.world.state), np.float32)
        info = PlanInfo(0, 0, (time.perf_counter() - t) * 1e3, float("nan"), 0.0)
        return PlanResult(np.repeat(a[None], self.horizon, axis=0), info)


def eval_config(cfg: RobotConfig) -> RobotConfig:
    """Lockstep at the world's step, replanning every step, no surprise slow-downs, and the full
    `planner.iterations` every time (no wall-clock budget): results must not depend on how busy
    the machine was. Planning time per action is still measured and reported."""
    from jepa_edge.data.tasks import TASK_CONFIG

    if cfg.camera.source != "world":
        raise ConfigError("goal-reaching evaluation runs in the built-in world: set camera.source = 'world', link.url = 'sim'")
    hz = 1.0 / TASK_CONFIG.dt
    # a predictor trained with --action-repeat k looks k world steps ahead per action: its plan's
    # actions last k steps, and the loop still replans (and acts) every step
    spec = latent_spec(cfg.models.predictor or cfg.models.encoder)
    repeat = spec.action_repeat if spec is not None else 1
    return cfg.override({"schedule.mode": "lockstep", "schedule.perception_hz": hz, "schedule.planning_hz": hz,
                         "schedule.action_hz": hz / repeat, "schedule.max_ticks": cfg.sim.max_steps, "surprise.enabled": False,
                         "telemetry.live": False, "planner.budget_ms": 1e9,
                         # Lockstep waits for the planner between commands: a window shorter than
                         # planning time would let the firmware watchdog stop the agent mid-episode
                         # (the firmware simulator's longest window is 1 s).
                         "schedule.command_valid_ms": max(cfg.schedule.command_valid_ms, 1000.0)})


def run_episode(cfg: RobotConfig, method: Method, seed: int, encoder_session, predictor_session) -> dict:
    from jepa_edge.data.tasks import goal_distance, is_success

    asm = assemble(cfg, episode_seed=seed, encoder_session=encoder_session,
                   predictor_sessions=None if predictor_session is None else (predictor_session, None),
                   random_actions=method.name in ("random", "oracle"))
    if method.name == "oracle":
        asm.parts.planner = GroundTruthPlanner(asm.world, asm.goal, cfg.planner.horizon)
    telemetry = Telemetry()
    reached: dict = {}

    def on_tick(tick: int, rec: dict) -> bool:
        if is_success(asm.world.state, asm.goal):
            reached["steps"] = tick
            return True
        return False

    try:
        report = RobotLoop(cfg, asm.parts, telemetry, on_tick=on_tick).run()
        distance = goal_distance(asm.world.state, asm.goal)
    finally:
        asm.close()
    plans = [p["plan_ms"] for p in telemetry.plans if p.get("plan_ms") is not None]
    return {"seed": seed, "success": "steps" in reached, "steps": reached.get("steps", report.ticks),
            "final_distance": round(distance, 4), "plan_ms_mean": round(float(np.mean(plans)), 3) if plans else None,
            "replans": len(plans), "reason": str(report.reason), "ended": report.reason.how.value,
            "fault": report.reason.stop.kind.value if report.reason.by_fault and report.reason.stop.kind else None}


def ended_by_fault(episode: dict) -> bool:
    """The safety layer ended this episode (a backend or link fault, an internal error), not the planner."""
    return Ending(episode["ended"]) in (Ending.FAULT, Ending.INTERNAL)


def evaluate(cfg: RobotConfig, methods: list[Method], episodes: int, first_seed: int = 1000, progress=None) -> dict:
    """Run every method on the same `episodes` seeds; returns per-method results."""
    cfg = eval_config(cfg)
    results = {}
    for method in methods:
        enc_path = method.encoder or cfg.models.encoder
        if not enc_path and method.encoder_session is None:
            raise ConfigError("evaluation needs an encoder (models.encoder) even for random/oracle: "
                              "every method sees the world through the same perception stage")
        own = []  # sessions opened here, closed here
        encoder = method.encoder_session
        if encoder is None:
            encoder = load_session(enc_path, "encoder", cfg.models.threads, trust_unverified=cfg.models.trust_unverified)
            own.append(encoder)
        # A method with its own encoder (the teacher) plans with its own predictor: the one given, else
        # the AC predictor in its encoder's model dir; never the student's from models.predictor. The
        # same path decides the latent recipe below (assemble reads an empty one as the encoder's).
        pred_path = method.predictor or (enc_path if method.encoder else cfg.models.predictor or enc_path)
        predictor = None
        if method.name in ("teacher", "student"):
            predictor = method.predictor_session
            if predictor is None:
                predictor = load_session(pred_path, "ac_predictor", cfg.models.threads,
                                         batch=cfg.planner.max_batch or cfg.planner.samples,
                                         trust_unverified=cfg.models.trust_unverified)
                own.append(predictor)
        # Each method's own model dirs decide its latent space (normalization, latent recipe) and,
        # through eval_config, its plan's action period (a frame-skip predictor's k world steps).
        mcfg = eval_config(cfg.override({"models.encoder": enc_path or "", "models.predictor": pred_path or ""}))
        per_episode = []
        try:
            for k in range(episodes):
                per_episode.append(run_episode(mcfg, method, first_seed + k, encoder, predictor))
                if progress:
                    progress(method.name, k + 1, episodes, per_episode[-1])
                if Ending(per_episode[-1]["ended"]) is Ending.INTERRUPTED:
                    # the loop turned Ctrl-C / SIGTERM into a safe stop of this episode; the
                    # evaluation stops too, rather than start the next episode
                    raise KeyboardInterrupt(f"{method.name} episode {k + 1} of {episodes}: {per_episode[-1]['reason']}")
        finally:
            for s in own:
                s.close()
        wins = [e for e in per_episode if e["success"]]
        results[method.name] = {
            "encoder": enc_path or repr(encoder),
            "predictor": (pred_path or repr(predictor)) if predictor is not None else None,
            "episodes": episodes,
            "successes": len(wins),
            "success_rate": round(len(wins) / max(1, episodes), 4),
            "steps_to_goal": percentiles(e["steps"] for e in wins),
            "final_distance_mean": round(float(np.mean([e["final_distance"] for e in per_episode])), 4),
            # Episodes the safety layer ended (a backend or link fault): a success rate over them
            # measures the fault, not the planner.
            "faulted": sum(ended_by_fault(e) for e in per_episode),
            "plan_ms_per_action": percentiles(e["plan_ms_mean"] for e in per_episode),
            "per_episode": per_episode,
        }
    return {"episodes": episodes, "first_seed": first_seed, "task": cfg.sim.task, "max_steps": cfg.sim.max_steps,
            "planner": asdict(cfg.planner), "methods": results}
