"""`jepa-edge record OUT --world | --env ID | --camera SRC --link URL`: record a robot dataset.

Writes OUT in the LeRobotDataset v3.0 layout (meta/info.json, stats, episodes; data/ parquet;
videos/ mp4; docs/datasets.md), which `distill --data OUT` and `train-ac --data OUT` train on and
LeRobot's own tools read. Sources:
  --world            the built-in world and its exploration policy
  --env ID           a Gymnasium environment with pixel observations (an image, a dict with
                     "pixels" plus a state entry, or a vector observation with rgb_array rendering);
                     smooth random actions inside its Box action space
  --camera --link    a real robot: smooth random actions inside the robot config's action bounds
                     (--config ROBOT.toml: planner.action_low/high, schedule.command_valid_ms),
                     each valid for the firmware's command window; on any fault the robot gets a
                     zero command and an ESTOP, as in `run`, and the episode in progress is dropped
An existing OUT is appended to. Each episode is committed atomically when it ends: a recording
killed mid-episode keeps every finished episode. Exit codes as `run`: 0 done, 3 a fault stopped the
robot, 4 the robot never confirmed its stop, 130 interrupted.
"""
from __future__ import annotations

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def add_arguments(p) -> None:
    p.add_argument("out", help="dataset folder (created, or appended to)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--world", action="store_true", help="record the built-in world")
    src.add_argument("--env", metavar="ID", help="record a Gymnasium environment with pixel observations")
    src.add_argument("--camera", metavar="SRC",
                     help="real robot: camera device index, /dev/video*, or a video file (needs --link)")
    p.add_argument("--link", metavar="URL", help="real robot: serial port, pty path, socket:// URL, or 'sim' "
                                                 "(the C firmware simulator)")
    p.add_argument("--config", metavar="ROBOT.toml", help="real robot: limits and schedule (planner.action_low/high, "
                                                          "schedule.command_valid_ms, camera.max_age_ms)")
    p.add_argument("--episodes", type=int, default=10, help="episodes to record (default 10)")
    p.add_argument("--steps", type=int, default=100, help="steps per episode at most (default 100)")
    p.add_argument("--size", type=int, default=64, help="frame side in pixels (centre-cropped, resized; default 64)")
    p.add_argument("--seed", type=int, default=0, help="episode e uses seed (SEED, first index + e)")
    p.add_argument("--fps", type=int, default=0,
                   help="frames per second (default: the world's 1/dt, the env's render_fps, 10 for a robot)")
    p.add_argument("--action-repeat", type=int, default=1, help="hold each exploration action this many steps")
    p.add_argument("--task", default="", help="task description stored with every episode")
    p.add_argument("--policy", default="explore", help="--world: explore, random, push or still")
    p.add_argument("--action-mode", default="delta", choices=("delta", "absolute"),
                   help="--env: what the env's actions mean (recorded in info.json with the bounds)")
    p.add_argument("--state-obs-key", default=None, help="--env with dict observations: the state entry")
    p.add_argument("--max-action", type=float, default=1.0,
                   help="real robot: explore within this fraction of the action bounds (default 1)")
    _output.add_json_flag(p, "the recording summary")


def run(args) -> int:
    from jepa_edge.data.lerobot import DatasetWriter
    from jepa_edge.data.recording import GymSource, WorldSource, record

    if args.episodes < 1 or args.steps < 2:
        raise ConfigError("--episodes must be >= 1 and --steps >= 2")
    if args.action_repeat < 1:
        raise ConfigError("--action-repeat must be >= 1")
    if not 8 <= args.size <= 1024 or args.size % 2:
        raise ConfigError(f"--size must be an even number in 8..1024, got {args.size}")
    if args.camera is None and (args.link or args.config):
        raise ConfigError("--link and --config are for a real robot: pass --camera too")
    robot_parts = None
    if args.world:
        source = WorldSource(args.size, args.seed, args.policy, args.action_repeat)
    elif args.env:
        source = GymSource(args.env, args.size, args.seed, state_key=args.state_obs_key, action_mode=args.action_mode,
                           action_repeat=args.action_repeat)
    else:
        source, robot_parts = _robot_source(args)
    spec = source.spec
    fps = args.fps or spec.fps
    if args.fps and not args.camera:
        _output.warn(f"--fps {args.fps} only relabels the recording; the source runs at {spec.fps} steps/s")
    exit_code = 0
    try:
        writer = DatasetWriter(args.out, fps=fps, image_shape=(args.size, args.size, 3), state_dim=spec.state_dim,
                               action_dim=spec.action_dim, robot_type=spec.robot_type, state_names=spec.state_names,
                               action_names=spec.action_names, action_info=spec.action_info)
        first = writer.num_episodes
        with writer, _output.progress() as progress:
            task = progress.add_task(f"record {args.episodes} episodes", total=args.episodes * args.steps)
            summary = record(source, writer, args.episodes, args.steps, task=args.task, first_index=first,
                             on_step=lambda: progress.advance(task))
        if robot_parts is not None:
            exit_code = _stop_robot(robot_parts, summary)
    except BaseException:
        if robot_parts is not None:
            _stop_robot(robot_parts, None)
        raise
    finally:
        source.close()
        if robot_parts is not None:
            for part in robot_parts.values():  # camera, robot, then the simulator (if started)
                try:
                    (part.stop if hasattr(part, "stop") and not hasattr(part, "close") else part.close)()
                except Exception:
                    pass
    summary.update({"out": str(args.out), "total_episodes": writer.info["total_episodes"],
                    "total_frames": writer.info["total_frames"], "fps": fps})
    _output.write_json(args, summary)
    _output.info(f"wrote {summary['episodes_recorded']} episodes ({summary['frames_recorded']} frames) to {args.out}: "
                 f"{summary['total_episodes']} episodes in all")
    if summary.get("fault"):
        _output.warn(f"recording stopped by a fault: {summary['fault']}")
    return exit_code


def _robot_source(args):
    from jepa_edge.robot.recording import RobotSource
    from jepa_edge.loop.config import load_robot_config
    from jepa_edge.robot.camera import open_camera
    from jepa_edge.robot.robot import LinkRobot

    cfg = load_robot_config(args.config)
    url = args.link or (cfg.link.url if args.config else None)
    if not url:
        raise ConfigError("--camera records a real robot: pass --link URL (serial port, pty, socket://, or 'sim')")
    if not 0 < args.max_action <= 1:
        raise ConfigError(f"--max-action must be in (0, 1], got {args.max_action}")
    low = [v * args.max_action for v in cfg.planner.action_low]
    high = [v * args.max_action for v in cfg.planner.action_high]
    parts = {}
    if url == "sim":
        from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator

        parts["simulator"] = start_simulator(config=SimulatorConfig(actuators=len(low)))
        url = parts["simulator"].path
    fps = args.fps or 10
    robot = LinkRobot(url, baudrate=cfg.link.baudrate, action_dim=len(low), connect_timeout_s=cfg.link.connect_timeout_s,
                      state_period_ms=max(5, int(500 / fps)), command_valid_ms=cfg.schedule.command_valid_ms,
                      action_bounds=(tuple(low), tuple(high)))
    camera = open_camera(args.camera, fps=cfg.camera.fps, width=cfg.camera.width, height=cfg.camera.height,
                         loop_video=cfg.camera.loop_video)
    try:
        robot.connect()  # a firmware that cannot do the config is refused here, before anything moves
        camera.open()
    except BaseException:
        robot.close()
        camera.close()
        for p in parts.values():
            p.stop()
        raise
    parts = {"camera": camera, "robot": robot, **parts}
    source = RobotSource(robot, camera, fps=fps, low=low, high=high, valid_ms=cfg.schedule.command_valid_ms,
                         size=args.size, seed=args.seed, max_age_s=cfg.camera.max_age_ms / 1000,
                         action_repeat=args.action_repeat)
    return source, parts


def _stop_robot(parts, summary) -> int:
    """Stop the robot at the end (or after a fault: RobotSource already stopped it). Exit code as run."""
    from jepa_edge.robot.faults import END_OF_RUN, FaultKind, StopReason

    robot = parts["robot"]
    if summary is None:  # an exception escaped: stop for it
        robot.safe_stop(StopReason(FaultKind.INTERNAL, "recording aborted"))
        return 3
    if summary.get("fault"):
        confirmed = getattr(robot, "stop_confirmed", True)
        summary["stop_confirmed"] = confirmed
        if summary.get("fault_kind") == FaultKind.INTERRUPT.value:
            return 130
        return 3 if confirmed else 4
    confirmed = robot.safe_stop(END_OF_RUN)
    summary["stop_confirmed"] = confirmed
    return 0 if confirmed else 4
