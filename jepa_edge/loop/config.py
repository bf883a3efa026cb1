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

Every field is also a command-line flag `--section.field VALUE` (see `add_config_flags`), its help
text the comment beside or above the field here. Loading, type checks (a `Literal[...]` field takes
one of its values), overrides and flags are the generic ones of `jepa_edge.utils.config`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jepa_edge.errors import ConfigError
from jepa_edge.latent import IMAGENET_MEAN, IMAGENET_STD
from jepa_edge.planning.config import PlannerConfig
from jepa_edge.robot.faults import FaultKind
from jepa_edge.utils import config as C

FaultPolicy = Literal["stop", "recover"]  # what a fault of a configurable kind does ([safety])


@dataclass(frozen=True)
class CameraConfig:
    # "world" (simulated camera of the built-in world), "gym" (the Gymnasium env's frames),
    # an OpenCV device index ("0"), a V4L2 path ("/dev/video0"), a GStreamer pipeline ending in
    # appsink (a Jetson CSI camera: "nvarguscamerasrc ! ... ! appsink"; needs OpenCV built with
    # GStreamer) or a video file path.
    source: str = "world"
    fps: float = 30.0  # capture rate asked of a device; playback rate of a video file
    width: int = 0  # 0 = the source's own size
    height: int = 0  # 0 = the source's own size
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
    # Latent space the AC predictor was trained in: "auto" reads the latent spec its bundle (or
    # model dir) records; "layer_norm" or "none" force it.
    latent_norm: Literal["auto", "layer_norm", "none"] = "auto"
    # Normalization for an encoder session that records no latent spec (ImageNet defaults).
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD  # per channel, like models.mean
    # Open model dirs and bundles whose content hashes are missing or do not match (edited by hand,
    # or written by an older jepa-edge): loaded unchecked. `jepa-edge run --trust-unverified` sets it.
    trust_unverified: bool = False


@dataclass(frozen=True)
class GoalConfig:
    image: str = ""  # goal image file, encoded once at start
    latent: str = ""  # .npy file with the goal latent [N, D]
    # In simulation with neither set, the world samples a goal and renders its image.




@dataclass(frozen=True)
class ScheduleConfig:
    mode: Literal["realtime", "lockstep"] = "realtime"  # "realtime" (threads, wall clock) or "lockstep" (one world step per tick)
    perception_hz: float = 30.0  # camera -> encoder ticks per second
    planning_hz: float = 5.0  # replans per second
    action_hz: float = 0.0  # rate of the plan's action steps; 0 = planning_hz
    command_valid_ms: float = 150.0  # firmware stops by itself when no newer COMMAND arrives
    # When planning misses its deadline: "skip" (send no command: the firmware's validity window
    # stops the robot), "hold" (keep executing the shifted previous plan), "shrink" (hold, and cut
    # the planner's sample/iteration budget until it fits again).
    overrun_policy: Literal["skip", "hold", "shrink"] = "hold"
    plan_timeout_ms: float = 1000.0  # a plan older than this is no plan: safe command + fault
    # Niceness added to the planner thread (Linux): when the cores are oversubscribed the kernel
    # runs the perception tick first; planning absorbs the delay (its budget is in ms anyway).
    planner_nice: int = 5
    duration_s: float = 0.0  # stop after this long (0 = until Ctrl-C or the episode ends)
    max_ticks: int = 0  # stop after this many perception ticks (0 = no limit)


@dataclass(frozen=True)
class LinkConfig:
    url: str = "sim"  # "sim" = C firmware simulator on a pty; else a pyserial URL or device path
    baudrate: int = 115200  # serial speed (ignored by pty and socket:// links)
    connect_timeout_s: float = 5.0  # give up when the firmware does not answer the handshake by then


@dataclass(frozen=True)
class SafetyConfig:
    """One policy per configurable fault kind (robot/faults.py FaultKind; `policies` maps them),
    under the kind's name; the other kinds (interrupt, loop_stall, internal) always stop."""

    camera: FaultPolicy = "stop"  # stalled or disconnected camera
    latent: FaultPolicy = "stop"  # NaN/Inf in the encoder output
    backend: FaultPolicy = "stop"  # an inference session raised
    link: FaultPolicy = "stop"  # the serial link is lost
    planner: FaultPolicy = "recover"  # no fresh plan within schedule.plan_timeout_ms
    recover_after_ticks: int = 5  # consecutive healthy ticks before commands resume
    max_fault_s: float = 5.0  # a fault that lasts longer than this ends the run anyway
    loop_stall_ms: float = 500.0  # the watchdog thread ESTOPs if a tick takes longer than this

    def policies(self) -> dict[FaultKind, FaultPolicy]:
        """The configurable fault kinds and their policies."""
        return {FaultKind.CAMERA: self.camera, FaultKind.LATENT: self.latent, FaultKind.BACKEND: self.backend,
                FaultKind.LINK: self.link, FaultKind.PLANNER: self.planner}

    def policy(self, kind: FaultKind) -> FaultPolicy:
        """What a fault of `kind` does."""
        return self.policies().get(kind, "stop")


@dataclass(frozen=True)
class SurpriseConfig:
    enabled: bool = True  # watch the predicted-vs-observed latent distance
    threshold: float = 0.0  # absolute L1 threshold (0 = only the relative one)
    ratio: float = 4.0  # surprise above ratio x running median is an event
    warmup_ticks: int = 20  # ticks before the relative threshold is armed
    policy: Literal["log", "slow", "stop"] = "slow"  # "log", "slow" (scale commands) or "stop" (safe stop, then resume)
    slow_factor: float = 0.3  # policy "slow": commands are multiplied by this
    hold_ticks: int = 15  # how long a slow/stop lasts after the last surprising tick


@dataclass(frozen=True)
class TelemetryConfig:
    out_dir: str = ""  # telemetry.jsonl, summary.json and timeline.png go here ("" = none)
    live: bool = False  # rich live terminal view
    png: bool = True  # write timeline.png beside the JSON lines (needs telemetry.out_dir)


@dataclass(frozen=True)
class SimConfig:
    # "tabletop" (built-in world, behind the firmware simulator) or, with camera.source = "gym", a
    # Gymnasium env id, e.g. "Pendulum-v1" or "jepa_edge/Tabletop-v0" (`jepa-edge run --env ID` sets both)
    world: str = "tabletop"
    seed: int = 0  # the world's seed (object layout, sampled goal)
    img_size: int = 64  # rendered frame size in px (square)
    physics_hz: float = 30.0  # realtime mode: world steps per second
    task: Literal["reach", "push"] = "reach"  # goal-reaching task in the built-in world: "reach" or "push"
    max_steps: int = 200  # goal-reaching episode length (perception ticks)
    success_radius: float = 0.0  # distance to the goal that counts as reached (0 = the task's own)
    # A built-in world the model was not trained on (its episodes and goal images alike, so goals stay reachable):
    n_objects: int = 0  # how many objects: 0 = the task's own (3), else 1..6
    # the occluder screen as x0,y0,x1,y1 in [0, 1] (x0 < x1, y0 < y1); unset = the world's own (0.39,0.08,0.61,0.92)
    occluder: tuple[float, float, float, float] | None = None
    # Colours to draw the world in (data/world.py PALETTES): "default" (the training colours), "shifted"
    # (every object hue turned by 20 degrees) or "background" (other table, wall and occluder colours); the agent keeps its own
    palette: Literal["default", "shifted", "background"] = "default"
    # Gymnasium envs (camera.source = "gym"):
    image_key: str = "pixels"  # the image in a Dict observation (uint8 [H, W, 3]); else the obs or env.render()
    state_key: str = ""  # the robot state in a Dict observation ("" = "state", else its first other entry)
    action_mode: Literal["delta", "absolute"] = "delta"  # "delta" (velocities, torques) or "absolute" (targets)
    # Goal reaching on an env, DINO-WM's protocol: the goal is the frame after this many random actions
    # (each lasting one plan step) from the episode's reset state
    goal_horizon: int = 5
    # What must match the goal's state: NAME[INDEX] of the observation ("state[:2]"), its info
    # ("info.world[4:6]") or env.unwrapped ("data.qpos[0,1]"); "" = the env's own default, else the state
    success_state: str = ""
    success_tolerance: float = 0.0  # Euclidean distance on success_state that counts as reached (0 = the env's own)


@dataclass(frozen=True)
class RobotConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)  # where frames come from and how old one may be when used
    models: ModelsConfig = field(default_factory=ModelsConfig)  # encoder and action-conditioned predictor (bundles or model dirs)
    goal: GoalConfig = field(default_factory=GoalConfig)  # an image, a latent .npy, or (in simulation) one the world samples
    planner: PlannerConfig = field(default_factory=PlannerConfig)  # CEM or MPPI over action sequences, its samples and budget
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)  # rates, command validity window, overrun policy
    link: LinkConfig = field(default_factory=LinkConfig)  # serial link to the firmware ("sim": the C simulator on a pty)
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # what each fault does: "stop" or "recover"
    surprise: SurpriseConfig = field(default_factory=SurpriseConfig)  # predicted-vs-observed latent monitor
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)  # JSON lines, PNG timeline, live view
    sim: SimConfig = field(default_factory=SimConfig)  # the built-in world (or a Gymnasium env) as camera + robot

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RobotConfig":
        return C.build(cls, d)

    def override(self, dotted: dict[str, object]) -> "RobotConfig":
        """Return a copy with {"planner.samples": 512, ...} applied (each value checked); the keys
        join `explicit_keys`."""
        return C.override(self, dotted).with_explicit(self.explicit_keys | dotted_keys(dotted))

    # Which keys were set, not left at their defaults: settings a model records (the planner settings
    # train-ac measured, loop/assemble.py planner_settings) apply only where the user set nothing.
    # Kept beside the fields, not as one: a field would be a TOML key, a flag and part of to_dict().
    # Kept on the config, not returned beside it: every `override` carries it along, so the copies that
    # evaluation and assembly make (eval_config, env_defaults) still know what the user set.
    @property
    def explicit_keys(self) -> frozenset[str]:
        """The dotted keys ("planner.energy") the TOML, a flag or `override` set (equal to the default or not)."""
        return self.__dict__.get("_explicit_keys", frozenset())

    def with_explicit(self, keys) -> "RobotConfig":
        """This config (not a copy), recording `keys` as `explicit_keys`."""
        object.__setattr__(self, "_explicit_keys", frozenset(keys))
        return self


def dotted_keys(d: dict, prefix: str = "") -> frozenset[str]:
    """{"planner": {"energy": "l1"}, "sim.seed": 3} -> {"planner.energy", "sim.seed"}."""
    keys: set[str] = set()
    for k, v in d.items():
        key = f"{prefix}{k}"
        keys |= dotted_keys(v, f"{key}.") if isinstance(v, dict) else {key}
    return frozenset(keys)


MAX_WIRE_VALID_MS = 0xFFFF  # COMMAND's valid_ms is a u16 (firmware_bridge/PROTOCOL.md)


def validate(cfg: RobotConfig) -> None:
    """Cross-field checks; each message says which key to fix."""
    p, s = cfg.planner, cfg.schedule
    C.check_choices(cfg)  # every Literal[...] field (TOML and flags are checked on the way in already)
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
    if not s.command_valid_ms <= MAX_WIRE_VALID_MS:  # also refuses inf and nan
        raise ConfigError(f"schedule.command_valid_ms = {s.command_valid_ms}: the COMMAND frame holds at most "
                          f"{MAX_WIRE_VALID_MS} ms, and the firmware's own limit is lower (its max_valid_ms, checked "
                          f"when the link connects: 1000 ms in the simulator, 500 on the reference sketch)")
    if cfg.sim.goal_horizon < 1 or cfg.sim.success_tolerance < 0:
        raise ConfigError("sim.goal_horizon must be >= 1 and sim.success_tolerance >= 0")
    _validate_world_variation(cfg)
    if len(cfg.models.mean) != len(cfg.models.std):
        raise ConfigError("models.mean and models.std must have the same length")


def _validate_world_variation(cfg: RobotConfig) -> None:
    """sim.n_objects, sim.occluder and sim.palette: within what the built-in world allows, and only for it."""
    from jepa_edge.data.world import PALETTE

    sim = cfg.sim
    if not 0 <= sim.n_objects <= len(PALETTE):
        raise ConfigError(f"sim.n_objects must be 0 (the task's own) or 1..{len(PALETTE)}, got {sim.n_objects}")
    if sim.occluder is not None:
        x0, y0, x1, y1 = sim.occluder
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ConfigError(f"sim.occluder must be x0,y0,x1,y1 with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, "
                              f"got {','.join(map(str, sim.occluder))}")
    varied = [k for k, v in (("sim.n_objects", sim.n_objects != 0), ("sim.occluder", sim.occluder is not None),
                             ("sim.palette", sim.palette != "default")) if v]
    if varied and cfg.camera.source != "world":
        raise ConfigError(f"{', '.join(varied)} vary the built-in world (camera.source = 'world'), "
                          f"not camera.source = {cfg.camera.source!r}: leave them unset")


def load_robot_config(path: str | Path | None, overrides: dict[str, object] | None = None) -> RobotConfig:
    """Read ROBOT.toml (or defaults when path is None) and apply dotted overrides. The keys either
    set are the result's `explicit_keys`."""
    data: dict = {}
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"robot config {path} does not exist; see examples/*.toml for templates")
        data = C.load_toml(path)
    try:
        cfg = RobotConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    return cfg.with_explicit(dotted_keys(data)).override(overrides or {})


# --- command-line flags: one per field ------------------------------------------------------------

def add_config_flags(parser: argparse.ArgumentParser) -> int:
    """Add `--section.field` for every field, in one argument group per section, with the field's
    comment as help; values left unset (None) do not override the TOML. Returns the flag count."""
    return C.add_flags(parser, RobotConfig, dotted=True)


def flag_overrides(args: argparse.Namespace) -> dict[str, object]:
    """{"planner.samples": 512, ...}: the config flags given on the command line."""
    return C.flag_values(args)
