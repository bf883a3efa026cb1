"""Robot config: one frozen dataclass per section, loaded from TOML; unknown keys are an error.

A robot TOML has the sections below (every one optional, every field has a default):

    [camera]    where frames come from and how old one may be when the loop uses it
    [models]    encoder and action-conditioned predictor (artifact bundles or model dirs)
    [goal]      the goal: an image, a latent .npy file, or one sampled by the simulated world
    [planner]   CEM or MPPI over action sequences, its samples and its budget in ms
    [schedule]  perception and planning rates, command validity window, overrun policy
    [link]      serial link URL to the firmware ("sim" starts the C firmware simulator on a pty)
    [safety]    what each fault does: "stop" (ESTOP, clean shutdown) or "recover"
    [surprise]  predicted-vs-observed latent monitor: threshold and what to do above it
    [telemetry] JSON lines, PNG timeline, live terminal view
    [sim]       the built-in world (or a Gymnasium env) standing in for camera + robot

Every field is also a command-line flag `--section.field VALUE` (see `add_config_flags`).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from jepa_edge.errors import ConfigError
from jepa_edge.planning.config import ROLLOUT_CONTEXTS, PlannerConfig
from jepa_edge.planning.energy import ENERGIES
from jepa_edge.planning.kinematics import STATE_UPDATES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAULT_POLICIES = ("stop", "recover")


@dataclass(frozen=True)
class CameraConfig:
    # "world" (simulated camera of the built-in world), "gym" (the Gymnasium env's render),
    # an OpenCV device index ("0"), a V4L2 path ("/dev/video0") or a video file path.
    source: str = "world"
    fps: float = 30.0  # capture rate asked of a device; playback rate of a video file
    width: int = 0  # 0 = the source's own size
    height: int = 0
    max_age_ms: float = 100.0  # read_latest refuses frames older than this (a stalled camera)
    loop_video: bool = False  # replay a video file from the start when it ends


@dataclass(frozen=True)
class ModelsConfig:
    encoder: str = ""  # artifact bundle dir (manifest.json) or model dir (config.json)
    predictor: str = ""  # AC predictor bundle/model dir; empty = same model dir as the encoder
    threads: int = 1  # intra-op threads per session: perception and planning share 2 cores
    # threads of the planner's predictor session (0 = `threads`): its batched calls are the heaviest
    # work in the loop, and the planner thread runs niced, so perception keeps its core first
    planner_threads: int = 0
    # Latent space the AC predictor was trained in: "auto" reads the recipe train-ac recorded in
    # the model dir ("ac" in config.json); "layer_norm" or "none" force it.
    latent_norm: str = "auto"
    # Normalization used when the bundle does not record one (ImageNet defaults).
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class GoalConfig:
    image: str = ""  # goal image file, encoded once at start
    latent: str = ""  # .npy file with the goal latent [N, D]
    # In simulation with neither set, the world samples a goal and renders its image.




@dataclass(frozen=True)
class ScheduleConfig:
    mode: str = "realtime"  # "realtime" (threads, wall clock) or "lockstep" (one world step per tick)
    perception_hz: float = 30.0
    planning_hz: float = 5.0
    action_hz: float = 0.0  # rate of the plan's action steps; 0 = planning_hz
    command_valid_ms: float = 150.0  # firmware stops by itself when no newer COMMAND arrives
    # When planning misses its deadline: "skip" (send no command: the firmware's validity window
    # stops the robot), "hold" (keep executing the shifted previous plan), "shrink" (hold, and cut
    # the planner's sample/iteration budget until it fits again).
    overrun_policy: str = "hold"
    plan_timeout_ms: float = 1000.0  # a plan older than this is no plan: safe command + fault
    # Niceness added to the planner thread (Linux): when the cores are oversubscribed the kernel
    # runs the perception tick first; planning absorbs the delay (its budget is in ms anyway).
    planner_nice: int = 5
    duration_s: float = 0.0  # stop after this long (0 = until Ctrl-C or the episode ends)
    max_ticks: int = 0  # stop after this many perception ticks (0 = no limit)


@dataclass(frozen=True)
class LinkConfig:
    url: str = "sim"  # "sim" = C firmware simulator on a pty; else a pyserial URL or device path
    baudrate: int = 115200
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class SafetyConfig:
    camera: str = "stop"  # stalled or disconnected camera
    latent: str = "stop"  # NaN/Inf in the encoder output
    backend: str = "stop"  # an inference session raised
    link: str = "stop"  # the serial link is lost
    planner: str = "recover"  # no fresh plan within schedule.plan_timeout_ms
    recover_after_ticks: int = 5  # consecutive healthy ticks before commands resume
    max_fault_s: float = 5.0  # a fault that lasts longer than this ends the run anyway
    loop_stall_ms: float = 500.0  # the watchdog thread ESTOPs if a tick takes longer than this


@dataclass(frozen=True)
class SurpriseConfig:
    enabled: bool = True
    threshold: float = 0.0  # absolute L1 threshold (0 = only the relative one)
    ratio: float = 4.0  # surprise above ratio x running median is an event
    warmup_ticks: int = 20  # ticks before the relative threshold is armed
    policy: str = "slow"  # "log", "slow" (scale commands) or "stop" (safe stop, then resume)
    slow_factor: float = 0.3
    hold_ticks: int = 15  # how long a slow/stop lasts after the last surprising tick


@dataclass(frozen=True)
class TelemetryConfig:
    out_dir: str = ""  # telemetry.jsonl, summary.json and timeline.png go here ("" = none)
    live: bool = False  # rich live terminal view
    png: bool = True


@dataclass(frozen=True)
class SimConfig:
    world: str = "tabletop"  # "tabletop" (built-in world) or a Gymnasium env id, e.g. "Pendulum-v1"
    seed: int = 0
    img_size: int = 64
    physics_hz: float = 30.0  # realtime mode: world steps per second
    task: str = "reach"  # goal-reaching task in the built-in world: "reach" or "push"
    max_steps: int = 200  # goal-reaching episode length (perception ticks)
    success_radius: float = 0.0  # distance to the goal that counts as reached (0 = the task's own)


@dataclass(frozen=True)
class RobotConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    goal: GoalConfig = field(default_factory=GoalConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    surprise: SurpriseConfig = field(default_factory=SurpriseConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    sim: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RobotConfig":
        return _build(cls, d, "")

    def override(self, dotted: dict[str, object]) -> "RobotConfig":
        """Return a copy with {"planner.samples": 512, ...} applied (values already typed)."""
        sections = {}
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            sections.setdefault(section, {})[name] = value
        changed = {}
        for section, values in sections.items():
            if section not in _section_types():
                raise ConfigError(f"unknown config section '{section}'")
            changed[section] = _build(_section_types()[section], {**dataclasses.asdict(getattr(self, section)), **values}, section)
        return replace(self, **changed)


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(RobotConfig)
    return {f.name: hints[f.name] for f in fields(RobotConfig)}


def _coerce(value, hint, where: str):
    """Check/convert one TOML value against its field type; raise ConfigError naming the key."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where} must be a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # camera.source = 0 is a device index
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


def _build(cls, d, where: str):
    if not isinstance(d, dict):
        raise ConfigError(f"[{where or 'top level'}] must be a table, got {d!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        prefix = f"[{where}] " if where else ""
        raise ConfigError(f"{prefix}unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in d.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key)
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


def _choice(value: str, allowed, key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r}: must be one of {', '.join(allowed)}")


def validate(cfg: RobotConfig) -> None:
    """Cross-field checks; each message says which key to fix."""
    p, s = cfg.planner, cfg.schedule
    _choice(p.kind, ("cem", "mppi"), "planner.kind")
    _choice(p.energy, ENERGIES, "planner.energy")
    _choice(p.state_update, STATE_UPDATES, "planner.state_update")
    _choice(p.rollout_context, ROLLOUT_CONTEXTS, "planner.rollout_context")
    _choice(s.mode, ("realtime", "lockstep"), "schedule.mode")
    _choice(s.overrun_policy, ("skip", "hold", "shrink"), "schedule.overrun_policy")
    _choice(cfg.surprise.policy, ("log", "slow", "stop"), "surprise.policy")
    _choice(cfg.sim.task, ("reach", "push"), "sim.task")
    _choice(cfg.models.latent_norm, ("auto", "layer_norm", "none"), "models.latent_norm")
    for name in ("camera", "latent", "backend", "link", "planner"):
        _choice(getattr(cfg.safety, name), FAULT_POLICIES, f"safety.{name}")
    if len(p.action_low) != len(p.action_high) or not p.action_low:
        raise ConfigError("planner.action_low and planner.action_high must be non-empty and of equal length")
    if any(lo >= hi for lo, hi in zip(p.action_low, p.action_high)):
        raise ConfigError("planner.action_low must be below planner.action_high in every dimension")
    for key, v in (("planner.horizon", p.horizon), ("planner.samples", p.samples), ("planner.iterations", p.iterations),
                   ("models.threads", cfg.models.threads)):
        if v < 1:
            raise ConfigError(f"{key} must be >= 1, got {v}")
    if cfg.models.planner_threads < 0:
        raise ConfigError(f"models.planner_threads must be >= 0 (0 = models.threads), got {cfg.models.planner_threads}")
    if p.elites < 1:  # more elites than samples just means all of them
        raise ConfigError(f"planner.elites must be >= 1, got {p.elites}")
    for key, v in (("schedule.perception_hz", s.perception_hz), ("schedule.planning_hz", s.planning_hz),
                   ("schedule.command_valid_ms", s.command_valid_ms), ("planner.budget_ms", p.budget_ms),
                   ("camera.max_age_ms", cfg.camera.max_age_ms), ("planner.temperature", p.temperature),
                   ("planner.smooth_sigma", p.smooth_sigma), ("planner.delta_scale", p.delta_scale)):
        if not v > 0:
            raise ConfigError(f"{key} must be > 0, got {v}")
    if len(cfg.models.mean) != len(cfg.models.std):
        raise ConfigError("models.mean and models.std must have the same length")


def load_robot_config(path: str | Path | None, overrides: dict[str, object] | None = None) -> RobotConfig:
    """Read ROBOT.toml (or defaults when path is None) and apply dotted overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"robot config {path} does not exist; see examples/*.toml for templates")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        cfg = RobotConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    return cfg.override(overrides or {})


# --- command-line flags: one per field ------------------------------------------------------------

def _flag_type(hint):
    if typing.get_origin(hint) is tuple:
        return lambda s: tuple(float(x) for x in s.split(","))
    if hint is bool:
        def parse_bool(s: str) -> bool:
            if s.lower() in ("1", "true", "yes", "on"):
                return True
            if s.lower() in ("0", "false", "no", "off"):
                return False
            raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")
        return parse_bool
    return hint


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--section.field` for every field; values left unset (None) do not override the TOML."""
    for section, cls in _section_types().items():
        group = parser.add_argument_group(f"[{section}]")
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = ",".join(str(v) for v in default) if isinstance(default, tuple) else default
            group.add_argument(f"--{section}.{f.name}", dest=f"cfg__{section}__{f.name}", default=None,
                               type=_flag_type(hints[f.name]), metavar=type(default).__name__.upper(),
                               help=f"(default: {shown!r})")


def flag_overrides(args: argparse.Namespace) -> dict[str, object]:
    out = {}
    for key, value in vars(args).items():
        if key.startswith("cfg__") and value is not None:
            _, section, name = key.split("__", 2)
            out[f"{section}.{name}"] = value
    return out
