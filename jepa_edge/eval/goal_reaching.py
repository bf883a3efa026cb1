"""Goal-reaching evaluation: success rate, final distance, steps to goal, planning time per action.

In the built-in world (camera.source = "world"), each episode is `tasks.start_episode(seed)`: a
scene and a goal image (the same scene with the agent, or an object, somewhere else), behind the
firmware simulator. On a Gymnasium env (camera.source = "gym", `run --env ID`), DINO-WM's protocol:
reset to the seed, `sim.goal_horizon` random actions (each lasting one plan step), the last frame
and state are the goal; reset to the same seed and plan toward that frame; success when the env's
state (`sim.success_state`) is within `sim.success_tolerance` of the goal's. Every method runs
through the same loop, camera and encoder, in lockstep (one action per step, as the AC predictor
was trained), replanning every step; only the planner differs:

    random   uniform random actions within the bounds (the floor)
    teacher  CEM/MPPI over the FP32 teacher's encoder + AC predictor
    student  the same over the student (e.g. the INT8 bundle)
    oracle   the ceiling: the world's controller on ground-truth state (built-in world), or the
             goal's true actions replayed (Gymnasium env)

`sim.n_objects`, `sim.occluder` and `sim.palette` vary the built-in world (episodes and goal images
alike) away from the one the models were trained on; the results then say how (`world_variation`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jepa_edge.errors import ConfigError
from jepa_edge.loop.assemble import assemble, latent_spec, load_session, planner_settings
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


class ReplayPlanner:
    """The oracle on a Gymnasium env: replays the actions that produced the goal (a `Planner` that
    ignores the latents), then the stop action. The env's step count says where it is in them."""

    def __init__(self, robot, goal, horizon: int):
        self.robot, self.goal, self.horizon = robot, goal, horizon

    def plan(self, obs: Observation, goal: np.ndarray, warm: np.ndarray | None = None,
             budget: PlanBudget | None = None) -> PlanResult:
        import time

        t = time.perf_counter()
        k = self.robot.steps // self.goal.repeat
        rest = self.goal.actions[k:k + self.horizon]
        pad = np.repeat(self.robot.stop_action()[None] if len(rest) == 0 else
                        (rest[-1:] if self.robot.action_mode == "absolute" else np.zeros_like(rest[-1:])),
                        self.horizon - len(rest), axis=0)
        actions = np.concatenate([rest, pad]).astype(np.float32)
        return PlanResult(actions, PlanInfo(0, 0, (time.perf_counter() - t) * 1e3, float("nan"), 0.0))


@dataclass(frozen=True)
class GymSuccess:
    """When a Gymnasium episode counts as reached: `spec` (robot/gym.py StateSpec) within `tolerance`."""

    spec: object
    tolerance: float

    @classmethod
    def resolve(cls, cfg: RobotConfig, robot) -> "GymSuccess":
        from jepa_edge.robot.gym import StateSpec

        u = robot.env.unwrapped
        text = cfg.sim.success_state or getattr(u, "success_state", "")
        tol = cfg.sim.success_tolerance or float(getattr(u, "success_tolerance", 0.0) or 0.0)
        if tol <= 0:
            raise ConfigError(f"goal reaching on {robot.env_id} needs sim.success_tolerance (the distance on "
                              f"sim.success_state = {text or 'the state'!r} that counts as reached)")
        return cls(StateSpec(text), tol)

    def distance(self, robot, goal) -> float:
        return float(np.linalg.norm(self.spec.read(robot) - goal.state))


def eval_config(cfg: RobotConfig) -> RobotConfig:
    """Lockstep at the world's step, replanning every step, no surprise slow-downs, and the full
    `planner.iterations` every time (no wall-clock budget): results must not depend on how busy
    the machine was. Planning time per action is still measured and reported."""
    from jepa_edge.data.tasks import TASK_CONFIG

    if cfg.camera.source not in ("world", "gym"):
        raise ConfigError("goal-reaching evaluation runs in simulation: the built-in world (camera.source = 'world', "
                          "link.url = 'sim') or a Gymnasium env (--env ID)")
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


def world_variation(cfg: RobotConfig) -> dict:
    """The sim.n_objects / occluder / palette set away from the built-in world's own ({} when none)."""
    sim = cfg.sim
    return {k: v for k, v, varied in (("n_objects", sim.n_objects, sim.n_objects != 0),
                                      ("occluder", list(sim.occluder or ()), sim.occluder is not None),
                                      ("palette", sim.palette, sim.palette != "default")) if varied}


def run_gym_episode(cfg: RobotConfig, method: Method, seed: int, encoder_session, predictor_session) -> dict:
    """One DINO-WM episode on a Gymnasium env (module docstring)."""
    spec = latent_spec(cfg.models.predictor or cfg.models.encoder)
    repeat = spec.action_repeat if spec is not None else 1
    found: dict = {}

    def make_goal(robot):
        found["success"] = GymSuccess.resolve(cfg, robot)
        found["goal"] = robot.sample_goal(seed, cfg.sim.goal_horizon, repeat, found["success"].spec,
                                          min_distance=found["success"].tolerance)  # not reached at the start
        return found["goal"]

    asm = assemble(cfg, episode_seed=seed, encoder_session=encoder_session,
                   predictor_sessions=None if predictor_session is None else (predictor_session, None),
                   random_actions=method.name in ("random", "oracle"), make_goal=make_goal)
    robot, goal, success = asm.robot, found["goal"], found["success"]
    if method.name == "oracle":
        asm.parts.planner = ReplayPlanner(robot, goal, asm.cfg.planner.horizon)
    telemetry = Telemetry()
    reached: dict = {}
    start = success.distance(robot, goal)

    def on_tick(tick: int, rec: dict) -> bool:
        if success.distance(robot, goal) <= success.tolerance:
            reached["steps"] = tick
            return True
        return False

    try:
        report = RobotLoop(asm.cfg, asm.parts, telemetry, on_tick=on_tick).run()
        distance = success.distance(robot, goal)
    finally:
        asm.close()
    return _episode_result(seed, reached, report, distance, telemetry, start_distance=round(start, 4))


def _episode_result(seed, reached, report, distance, telemetry, **extra) -> dict:
    plans = [p["plan_ms"] for p in telemetry.plans if p.get("plan_ms") is not None]
    return {"seed": seed, "success": "steps" in reached, "steps": reached.get("steps", report.ticks),
            "final_distance": round(distance, 4), **extra,
            "plan_ms_mean": round(float(np.mean(plans)), 3) if plans else None,
            "replans": len(plans), "reason": str(report.reason), "ended": report.reason.how.value,
            "fault": report.reason.stop.kind.value if report.reason.by_fault and report.reason.stop.kind else None}


def run_episode(cfg: RobotConfig, method: Method, seed: int, encoder_session, predictor_session) -> dict:
    from jepa_edge.data.tasks import goal_distance, is_success

    if cfg.camera.source == "gym":
        return run_gym_episode(cfg, method, seed, encoder_session, predictor_session)

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
    return _episode_result(seed, reached, report, distance, telemetry)


def ended_by_fault(episode: dict) -> bool:
    """The safety layer ended this episode (a backend or link fault, an internal error), not the planner."""
    return Ending(episode["ended"]) in (Ending.FAULT, Ending.INTERNAL)


def evaluate(cfg: RobotConfig, methods: list[Method], episodes: int, first_seed: int = 1000, progress=None) -> dict:
    """Run every method on the same `episodes` seeds; returns per-method results."""
    from jepa_edge.loop.assemble import env_defaults

    cfg = env_defaults(eval_config(cfg))  # a Gymnasium env's action bounds, found once
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
        # the planner settings this method's predictor records, unless the config set them (assemble
        # applies the same per episode); said once per method, in the results
        planned, note = planner_settings(mcfg, predictor.latent) if predictor is not None else (mcfg, "")
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
            **({"planner": {k: getattr(planned.planner, k) for k in ("energy", "smooth_sigma", "delta_scale")},
                "planner_settings": note} if note else {}),
            "per_episode": per_episode,
        }
    out = {"episodes": episodes, "first_seed": first_seed, "task": cfg.sim.task, "max_steps": cfg.sim.max_steps,
           "planner": asdict(cfg.planner), "methods": results}
    variation = world_variation(cfg)
    if variation:  # a world the models were not trained on: said in the results (absent by default)
        out["world_variation"] = variation
    if cfg.camera.source == "gym":  # DINO-WM's protocol on a Gymnasium env
        out["task"] = f"gym:{cfg.sim.world}"
        out["protocol"] = {"env": cfg.sim.world, "goal_horizon": cfg.sim.goal_horizon,
                           "success_state": cfg.sim.success_state, "success_tolerance": cfg.sim.success_tolerance,
                           "action_mode": cfg.sim.action_mode}
    return out
