"""Build a runnable loop from a RobotConfig: sessions, planner, robot + camera, goal latent.

Models are artifact bundles (any backend, through `jepa_edge.inference.load`) or plain model dirs
(run eagerly through the torch session). The AC predictor is opened twice when the surprise
monitor is on: the planner thread and the perception thread each own one session, so neither
waits for the other and no backend has to be re-entrant.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from jepa_edge.errors import ConfigError, import_extra
from jepa_edge.loop.loop import LoopParts
from jepa_edge.loop.perception import LatentEncoder
from jepa_edge.planning.planner import LatentDynamics, RandomPlanner, make_planner
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.loop.config import RobotConfig
from jepa_edge.inference.load import load_bundle
from jepa_edge.inference.manifest import read_manifest
from jepa_edge.inference.openvino_session import BatchedOpenVINO
from jepa_edge.inference.session import InferenceSession, TensorSpec
from jepa_edge.latent import LatentSpec


def load_session(path: str | Path, part: str, threads: int = 1, batch: int = 0,
                 trust_unverified: bool = False) -> InferenceSession:
    """An encoder or AC-predictor session from a bundle dir (manifest.json) or a model dir (config.json).
    `batch`: the planner's samples per call, for bundles exported with a fixed batch of 1.
    `trust_unverified`: open one whose content hashes are missing or wrong (models.trust_unverified)."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        session = load_bundle(path, threads=threads, trust_unverified=trust_unverified)
        if session.manifest.part != part:
            raise ConfigError(f"{path} is a bundle of the {session.manifest.part}, but models.{_key(part)} needs the {part}")
        if batch > 1 and session.backend == "openvino" and session.inputs[0].shape[0] == 1:
            session = BatchedOpenVINO(session, batch)
        return session
    if (path / "config.json").is_file():
        return _torch_from_model_dir(path, part, threads, trust_unverified)
    raise ConfigError(f"models.{_key(part)} = {str(path)!r} is neither an artifact bundle (manifest.json) nor a "
                      "model dir (config.json)")


def _key(part: str) -> str:
    return "encoder" if part == "encoder" else "predictor"


def _model_dir_module():
    """jepa_edge.models.model_dir: a model dir runs eagerly in torch, which a core (robot) install lacks."""
    for module in ("torch", "safetensors"):
        import_extra(module, "PyTorch (for a model dir)", "train", "or export a bundle with `jepa-edge export` and run that")
    from jepa_edge.models import model_dir

    return model_dir


def _torch_from_model_dir(path: Path, part: str, threads: int, trust_unverified: bool = False) -> InferenceSession:
    from jepa_edge.inference.torch_session import TorchSession

    load_model_dir = _model_dir_module().load_model_dir

    bundle = load_model_dir(path, trust_unverified=trust_unverified)
    spec = LatentSpec.from_model_config(bundle.config)
    enc = bundle.encoder_cfg
    s, n, d = enc.img_size, enc.num_patches, enc.embed_dim
    if part == "encoder":
        shape = (1, enc.in_chans, enc.num_frames, s, s) if enc.is_video else (1, enc.in_chans, s, s)
        return TorchSession(bundle.encoder, [TensorSpec("image", shape)], [TensorSpec("tokens", (1, n, d))],
                            threads=threads).bind(spec)
    ac = bundle.ac_predictor
    if ac is None:
        raise ConfigError(f"{path} holds no action-conditioned predictor: train one with `jepa-edge train-ac` "
                          "or point models.predictor at one")
    c = ac.cfg
    # any number of frames per call (the eager module takes them all): T frames in, frames 1..T out
    return TorchSession(ac, [TensorSpec("tokens", ("batch", "frames*tokens", c.embed_dim)),
                             TensorSpec("actions", ("batch", "frames", c.action_dim)),
                             TensorSpec("states", ("batch", "frames", c.state_dim))],
                        [TensorSpec("next_tokens", ("batch", "frames*tokens", c.embed_dim))], threads=threads).bind(spec)


def latent_spec(path: str | Path | None) -> LatentSpec | None:
    """The latent spec a bundle's manifest or a model dir's config.json records (None: no path).
    A bundle is read alone: never the model dir it was exported from."""
    if not path:
        return None
    path = Path(path)
    if (path / "manifest.json").is_file():
        return read_manifest(path, verify=False).latent
    if (path / "config.json").is_file():
        return LatentSpec.from_model_config(_model_dir_module().read_config(path))
    raise ConfigError(f"{path} is neither an artifact bundle (manifest.json) nor a model dir (config.json)")


def make_encoder(session: InferenceSession, models, predictor_path: str = "") -> LatentEncoder:
    """The perception stage, in the latent space the AC predictor was trained in: normalization and
    token grid from the encoder's own spec, the layer norm from the predictor's (`models.latent_norm`
    forces it)."""
    spec = session.latent or LatentSpec(mean=models.mean, std=models.std)
    if models.latent_norm == "auto":
        layer_norm = (latent_spec(predictor_path) or spec).layer_norm
    else:
        layer_norm = models.latent_norm == "layer_norm"
    return LatentEncoder(session, spec, layer_norm=layer_norm)


def make_state_update(cfg: RobotConfig, predictor_path: str | Path, world_cfg=None) -> StateUpdate | None:
    """How the planner moves the robot state over its horizon (`planner.state_update`): the
    kinematics train-ac recorded with the predictor, else the simulated world's own."""
    if cfg.planner.state_update == "hold":
        return None
    spec = latent_spec(predictor_path)
    record = spec.state_update if spec is not None else None
    if record:
        return StateUpdate.from_dict(record)
    if world_cfg is not None:
        return StateUpdate.for_world(world_cfg)
    if cfg.planner.state_update == "integrate":
        raise ConfigError(f"planner.state_update = 'integrate', but {predictor_path} records no robot kinematics "
                          "(its latent spec's state_update): retrain it with `jepa-edge train-ac`, or set "
                          "planner.state_update = 'hold'")
    return None


MEASURED_PLANNER_KEYS = ("energy", "smooth_sigma", "delta_scale")  # what train-ac's planner search chooses


def planner_settings(cfg: RobotConfig, spec: LatentSpec | None) -> tuple[RobotConfig, str]:
    """(cfg with the planner settings the predictor records applied, one line saying where each came
    from). A recorded setting (LatentSpec.planner: train-ac's measurement, in the model dir and every
    bundle exported from it) applies unless the robot TOML, a flag or an `override` set that key
    (`cfg.explicit_keys`), whatever its value."""
    recorded = dict(spec.planner) if spec is not None and spec.planner else {}
    taken = {f"planner.{k}": v for k, v in recorded.items() if f"planner.{k}" not in cfg.explicit_keys}
    if taken:
        try:
            cfg = cfg.override(taken).with_explicit(cfg.explicit_keys)  # recorded, not set by the user
        except ConfigError as e:
            raise ConfigError(f"the AC predictor's recorded planner settings {recorded}: {e}") from None
    p, groups = cfg.planner, []
    for key in MEASURED_PLANNER_KEYS:
        if key == "smooth_sigma" and p.energy != "l1_smooth":
            continue
        value = getattr(p, key)
        shown = f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
        source = ("measured by train-ac" if f"planner.{key}" in taken else "from the config"
                  if f"planner.{key}" in cfg.explicit_keys else "default: the predictor records none")
        if groups and groups[-1][1] == source:
            groups[-1][0].append(shown)
        else:
            groups.append(([shown], source))
    return cfg, "planner settings: " + ", ".join(f"{', '.join(items)} ({source})" for items, source in groups)


def read_image(path: str | Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ConfigError(f"goal.image {path} cannot be read as an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class Assembly:
    parts: LoopParts
    robot: object
    world: object = None  # the built-in world (simulation), for success checks
    goal: object = None  # jepa_edge.data.tasks.Goal in the built-in world
    sessions: list = field(default_factory=list)
    cfg: RobotConfig | None = None  # the config the parts were built from (env_defaults applied)
    planner_note: str = ""  # where the planner settings came from (`planner_settings`); "" without a planner

    def close(self) -> None:
        for s in self.sessions:
            try:
                s.close()
            except Exception:
                pass
        try:
            self.robot.close()
        except Exception:
            pass


def make_robot(cfg: RobotConfig, episode_seed: int | None = None):
    """(robot, camera, world, goal) for the configured camera source and link."""
    realtime = cfg.schedule.mode == "realtime"
    source = cfg.camera.source
    if source == "world":
        if cfg.link.url != "sim":
            raise ConfigError("camera.source = 'world' simulates the robot too: set link.url = 'sim'")
        from jepa_edge.data.tasks import start_episode, task_config
        from jepa_edge.robot.sim_robot import SimRobot

        # the task's world, or the variation sim.n_objects / occluder / palette ask for: the goal is
        # sampled and drawn in the same world the agent moves in, so it stays reachable
        world_cfg = task_config(cfg.sim.img_size, cfg.sim.n_objects, cfg.sim.occluder, cfg.sim.palette)
        seed = cfg.sim.seed if episode_seed is None else episode_seed
        world, goal = start_episode(seed, world_cfg, kind=cfg.sim.task, size=cfg.sim.img_size)
        if cfg.sim.success_radius > 0:
            goal = replace(goal, radius=cfg.sim.success_radius)
        physics_hz = cfg.sim.physics_hz if realtime else cfg.schedule.perception_hz
        robot = SimRobot(world, img_size=cfg.sim.img_size, realtime=realtime, physics_hz=physics_hz,
                         connect_timeout_s=cfg.link.connect_timeout_s, command_valid_ms=cfg.schedule.command_valid_ms,
                         action_bounds=(cfg.planner.action_low, cfg.planner.action_high))
        return robot, robot.camera(cfg.camera.fps), world, goal
    if source == "gym":
        from jepa_edge.robot.gym import GymRobot

        robot = GymRobot(cfg.sim.world, seed=cfg.sim.seed if episode_seed is None else episode_seed,
                         realtime=realtime, physics_hz=0.0 if realtime else cfg.schedule.perception_hz,
                         image_key=cfg.sim.image_key, state_key=cfg.sim.state_key, action_mode=cfg.sim.action_mode,
                         auto_reset=realtime)
        if robot.action_dim != len(cfg.planner.action_low):
            robot.close()
            raise ConfigError(f"{cfg.sim.world} takes {robot.action_dim}-d actions, but planner.action_low/action_high "
                              f"are {len(cfg.planner.action_low)}-d: fix them, or leave them unset for the env's bounds")
        return robot, robot.camera(cfg.camera.fps), None, None
    from jepa_edge.robot.camera import open_camera
    from jepa_edge.robot.robot import LinkRobot

    if cfg.link.url == "sim":
        raise ConfigError(f"link.url = 'sim' needs a simulated camera (camera.source = 'world' or 'gym'), "
                          f"not {source!r}: give the board's serial port, e.g. /dev/ttyACM0")
    camera = open_camera(source, cfg.camera.fps, cfg.camera.width, cfg.camera.height, cfg.camera.loop_video)
    robot = LinkRobot(cfg.link.url, cfg.link.baudrate, action_dim=len(cfg.planner.action_low),
                      connect_timeout_s=cfg.link.connect_timeout_s, command_valid_ms=cfg.schedule.command_valid_ms,
                      action_bounds=(cfg.planner.action_low, cfg.planner.action_high))
    return robot, camera, None, None


def env_defaults(cfg: RobotConfig) -> RobotConfig:
    """With a Gymnasium env (camera.source = "gym"), planner bounds left at their defaults become the
    env's own action bounds (`run --env Pendulum-v1` plans torques in [-2, 2])."""
    from jepa_edge.planning.config import PlannerConfig

    if cfg.camera.source != "gym":
        return cfg
    default = PlannerConfig()
    if (cfg.planner.action_low, cfg.planner.action_high) != (default.action_low, default.action_high):
        return cfg  # the user's own bounds (make_robot checks their dimension)
    from jepa_edge.robot.gym import env_action_bounds

    # the env is made and checked here as the loop will use it: a bad env fails before any model loads
    low, high = env_action_bounds(cfg.sim.world, image_key=cfg.sim.image_key, state_key=cfg.sim.state_key,
                                  action_mode=cfg.sim.action_mode)
    if not all(np.isfinite(low + high)):
        raise ConfigError(f"{cfg.sim.world}'s action space is unbounded ({low}..{high}): set planner.action_low/action_high")
    return cfg.override({"planner.action_low": low, "planner.action_high": high})


def goal_latent(cfg: RobotConfig, encoder: LatentEncoder, robot, goal) -> np.ndarray:
    if cfg.goal.latent:
        path = Path(cfg.goal.latent)
        if not path.is_file():
            raise ConfigError(f"goal.latent {path} does not exist")
        z = np.load(path, allow_pickle=False).astype(np.float32)
        return z[0] if z.ndim == 3 else z
    if cfg.goal.image:
        return encoder.encode(read_image(cfg.goal.image))
    if goal is not None:
        return encoder.encode(goal.image)
    if hasattr(robot, "goal_image"):
        return encoder.encode(robot.goal_image())
    raise ConfigError("no goal: set goal.image or goal.latent (only the simulations sample their own)")


def assemble(cfg: RobotConfig, *, episode_seed: int | None = None, encoder_session: InferenceSession | None = None,
             predictor_sessions: tuple[InferenceSession, InferenceSession | None] | None = None,
             random_actions: bool = False, make_goal=None) -> Assembly:
    """Everything `RobotLoop` needs. Sessions may be passed in (tests, evaluation reusing them).
    `make_goal(robot)`: the episode's goal (an object with `.image`), e.g. a Gymnasium env's DINO-WM goal.
    Run the loop with `Assembly.cfg` (a Gymnasium env's action bounds filled in: `env_defaults`)."""
    cfg = env_defaults(cfg)
    m = cfg.models
    sessions = []
    if encoder_session is None:
        if not m.encoder:
            raise ConfigError("models.encoder is not set: give an encoder bundle or model dir")
        encoder_session = load_session(m.encoder, "encoder", m.threads, trust_unverified=m.trust_unverified)
        sessions.append(encoder_session)
    if predictor_sessions is None and not random_actions:
        path = m.predictor or m.encoder
        planner_s = load_session(path, "ac_predictor", m.planner_threads or m.threads,
                                 batch=cfg.planner.max_batch or cfg.planner.samples, trust_unverified=m.trust_unverified)
        surprise_s = (load_session(path, "ac_predictor", 1, trust_unverified=m.trust_unverified)
                      if cfg.surprise.enabled else None)
        predictor_sessions = (planner_s, surprise_s)
        sessions += [s for s in predictor_sessions if s is not None]
    encoder = make_encoder(encoder_session, m, m.predictor)
    robot, camera, world, goal = make_robot(cfg, episode_seed)
    try:
        if make_goal is not None:
            goal = make_goal(robot)
        robot.connect()
        z_goal = goal_latent(cfg, encoder, robot, goal)
    except BaseException:
        robot.close()
        raise
    note = ""
    if random_actions:
        planner, surprise = RandomPlanner(cfg.planner), None
    else:
        cfg, note = planner_settings(cfg, predictor_sessions[0].latent)
        kinematics = make_state_update(cfg, m.predictor or m.encoder, world.cfg if world is not None else None)
        dynamics = LatentDynamics(predictor_sessions[0], cfg.planner.max_batch, kinematics,
                                  cfg.planner.rollout_context, cfg.planner.renorm)
        planner = make_planner(dynamics, cfg.planner)
        surprise = LatentDynamics(predictor_sessions[1]) if predictor_sessions[1] is not None else None
    parts = LoopParts(camera=camera, encoder=encoder, planner=planner, robot=robot, z_goal=z_goal,
                      surprise_dynamics=surprise)
    return Assembly(parts, robot, world, goal, sessions, cfg, note)
