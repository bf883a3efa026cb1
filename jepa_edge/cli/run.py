"""`jepa-edge run --config ROBOT.toml`: the on-robot loop (or, with --episodes, a goal-reaching evaluation).

Every field of the robot TOML is also a flag, `--section.field VALUE` (see examples/*.toml).
Exit codes: 0 ended as asked, 3 a fault stopped the robot, 4 the robot never confirmed its stop
(the firmware's watchdog window is what stops it then), 130 interrupted (Ctrl-C / SIGTERM); in
every case the robot got a zero command and an ESTOP first, and the report is written.
Flags override the TOML, which overrides the defaults shown below.
"""
from __future__ import annotations

import json
import shlex

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError, MissingExtraError
from jepa_edge.loop.config import add_config_flags, flag_overrides, load_robot_config


def add_arguments(p) -> None:
    p.add_argument("--config", help="robot TOML (examples/sim_world.toml, examples/robot_ttyACM0.toml)")
    p.add_argument("--env", default="", metavar="ID",
                   help="a Gymnasium env with pixel observations as camera + robot, e.g. Pendulum-v1 or "
                        "jepa_edge/Tabletop-v0 (sets camera.source = 'gym' and sim.world = ID; the [gym] extra)")
    p.add_argument("--episodes", type=int, default=0, help="goal-reaching evaluation: this many episodes per method "
                   "(on an --env: DINO-WM's protocol, sim.goal_horizon random actions make the goal)")
    _output.add_json_flag(p, "the run report (with --episodes: the evaluation results)")
    p.add_argument("--methods", default="random,student,oracle",
                   help="evaluation methods, comma separated: random, teacher, student, oracle "
                        "(teacher needs --teacher-encoder)")
    p.add_argument("--teacher-encoder", default="", help="FP32 teacher encoder (model dir or bundle) for --episodes")
    p.add_argument("--teacher-predictor", default="", help="teacher AC predictor (default: the teacher encoder's dir)")
    p.add_argument("--first-seed", type=int, default=1000, help="episode seeds are first-seed .. first-seed+N-1")
    p.add_argument("--trust-unverified", action="store_true",
                   help="open model dirs and bundles whose content hashes are missing or wrong (models.trust_unverified)")
    add_config_flags(p)


def run(args) -> int:
    overrides = flag_overrides(args)
    if args.trust_unverified:
        overrides["models.trust_unverified"] = True
    if args.env:
        overrides.update({"camera.source": "gym", "sim.world": args.env})
    cfg = with_reference_bundles(load_robot_config(args.config, overrides))
    # The bridge logs link events (ESTOP acknowledged, reconnects) as warnings, one line each: the
    # CLI's logging setup (cli/_output.py) prints them unless -q.
    if args.episodes:
        return _evaluate(cfg, args)
    return _run_loop(cfg, args)


def with_reference_bundles(cfg):
    """models.encoder = "reference:NAME": the shipped reference model's INT8 bundles (built on first
    use, then cached) as encoder and, unless another is given, as predictor."""
    from jepa_edge.utils.resources import REFERENCE_PREFIX  # not model_dir: a core install has no torch

    name = cfg.models.encoder
    if not name.startswith(REFERENCE_PREFIX):
        return cfg
    from jepa_edge.chain.reference import reference_bundles

    encoder, predictor = reference_bundles(name, say=_output.info)
    own = cfg.models.predictor not in ("", name)
    return cfg.override({"models.encoder": str(encoder), "models.predictor": cfg.models.predictor if own else str(predictor)})


def _run_loop(cfg, args) -> int:
    from jepa_edge.loop.assemble import assemble
    from jepa_edge.loop.loop import RobotLoop
    from jepa_edge.loop.telemetry import LiveView, Telemetry

    console = _output.console(stderr=True)
    asm = assemble(cfg)  # config/model/link errors surface here, before anything moves
    cfg = asm.cfg  # with a Gymnasium env's action bounds and the predictor's planner settings filled in
    if asm.planner_note:
        _output.info(asm.planner_note)
    telemetry = Telemetry(cfg.telemetry.out_dir or None)
    loop = RobotLoop(cfg, asm.parts, telemetry)
    try:
        if cfg.telemetry.live:
            with LiveView(telemetry):
                report = loop.run()
        else:
            report = loop.run()
    finally:
        robot_stats = _robot_stats(asm.robot)
        asm.close()
        telemetry.close()
    out = report.to_dict()
    out["robot"] = robot_stats
    out["config"] = cfg.to_dict()
    if cfg.telemetry.out_dir:
        telemetry.write_report(out)
        if cfg.telemetry.png:
            try:
                telemetry.write_timeline(report.faults)
            except MissingExtraError as e:  # the run itself is done: say so, keep its exit code
                console.print(f"timeline.png not written: {e}", markup=False, soft_wrap=True)
    _output.write_json(args, out)
    _print_summary(console, report)
    if report.stop_warning:
        console.print(f"[bold red]{report.stop_warning}[/bold red]")
    if report.error:  # after the robot is stopped: the details go to the report, one line here
        console.print(f"[red]internal error[/red] (robot stopped): {report.reason}; traceback in the report")
    return report.exit_code


def _robot_stats(robot) -> dict:
    out = {"estops_sent": getattr(robot, "estops", None), "stop_confirmed": getattr(robot, "stop_confirmed", None)}
    for name in ("watchdog_stops", "estop_faults"):
        if hasattr(robot, name):
            out[f"firmware_{name}"] = getattr(robot, name)
    link = getattr(robot, "link", None)
    if link is not None:
        try:
            s = link.stats()
            out["link"] = {k: s.to_dict()[k] for k in ("connected", "commands_sent", "commands_dropped", "rtt_p50_ms",
                                                       "rtt_p99_ms", "disconnects", "faults", "watchdog_stops")}
        except Exception:
            pass
    return out


def _print_summary(console, report) -> None:
    from rich.table import Table

    s = report.summary
    table = Table(title=f"jepa-edge run: {report.reason} ({report.ticks} ticks)")
    table.add_column("what"); table.add_column("p50", justify="right"); table.add_column("p99", justify="right")
    for stage, p in s["stages_ms"].items():
        table.add_row(f"{stage} ms", str(p.get("p50", "-")), str(p.get("p99", "-")))
    for key in ("frame_to_command_ms", "frame_age_ms", "plan_age_ms"):
        table.add_row(key.replace("_ms", " ms"), str(s[key].get("p50", "-")), str(s[key].get("p99", "-")))
    pl = s["planner"]
    table.add_row("plan ms", str(pl["plan_ms"].get("p50", "-")), str(pl["plan_ms"].get("p99", "-")))
    table.add_row("planner iterations", str(pl["iterations"].get("p50", "-")), str(pl["iterations"].get("p99", "-")))
    console.print(table)
    console.print(f"deadline misses {s['deadline_misses']} + {s['skipped_ticks']} skipped ticks "
                  f"({100 * s['deadline_miss_rate']:.2f}%), replans {pl['replans']} at {pl['replan_rate_hz']} Hz, "
                  f"overruns {pl['overruns']}, commands {s['commands']}")
    for f in report.faults:
        console.print(f"  fault t={f['t']:.2f}s tick {f['tick']}: {f['kind']} -> {f['action']}: {f['detail']}")
    if report.surprise_events:
        console.print(f"  surprise events: {len(report.surprise_events)} (first at tick {report.surprise_events[0]['tick']})")


def _command_line(args) -> str:
    """The command that reproduces this evaluation (from the parsed flags, not sys.argv)."""
    parts = ["jepa-edge", "run"]
    for flag in ("config", "env", "episodes", "methods", "teacher_encoder", "teacher_predictor", "first_seed", "json"):
        value = getattr(args, flag)
        if value not in (None, ""):
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    for key, value in flag_overrides(args).items():
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        parts.append(f"--{key}={shown}")
    return " ".join(shlex.quote(p) for p in parts)


def _evaluate(cfg, args) -> int:
    from rich.table import Table

    from jepa_edge.eval.goal_reaching import Method, ended_by_fault, evaluate
    from jepa_edge.utils.device_info import describe

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(names) - {"random", "teacher", "student", "oracle"}
    if unknown:
        raise ConfigError(f"--methods: unknown {sorted(unknown)}; choose from random, teacher, student, oracle")
    if "teacher" in names and not args.teacher_encoder:
        raise ConfigError("--methods teacher needs --teacher-encoder (the FP32 teacher's model dir or bundle)")
    methods = [Method(n, args.teacher_encoder, args.teacher_predictor) if n == "teacher" else Method(n) for n in names]
    with _output.progress() as progress:
        tasks = {}

        def report(name, done, total, episode):
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done)

        results = evaluate(cfg, methods, args.episodes, args.first_seed, progress=report)
    for name, r in results["methods"].items():
        if r.get("planner_settings"):
            _output.info(f"{name}: {r['planner_settings']}")
    results["command"] = _command_line(args)
    results["machine"] = describe()
    protocol = results.get("protocol")
    about = f", goal after {protocol['goal_horizon']} random actions" if protocol else ""
    if results.get("world_variation"):  # a world the models were not trained on
        about += ", world varied: " + ", ".join(f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}"
                                                for k, v in results["world_variation"].items())
    table = Table(title=f"goal reaching ({results['task']}{about}, {args.episodes} episodes, "
                        f"<= {results['max_steps']} steps)")
    for col in ("method", "success", "steps to goal p50", "final distance", "plan ms / action p50"):
        table.add_column(col, justify="right")
    for name, r in results["methods"].items():
        table.add_row(name, f"{100 * r['success_rate']:.0f}%", str(r["steps_to_goal"].get("p50", "-")),
                      f"{r['final_distance_mean']:.3f}", str(r["plan_ms_per_action"].get("p50", "-")))
    _output.results_console(args).print(table)
    for name, r in results["methods"].items():
        if r["faulted"]:  # the safety layer ended these episodes: say why, not just "0%"
            reasons = sorted({e["reason"].splitlines()[0][:160] for e in r["per_episode"] if ended_by_fault(e)})
            _output.say(args, f"warning: {name}: {r['faulted']} of {r['episodes']} episodes ended by a fault: "
                              f"{'; '.join(reasons)}")
    if args.json:
        _output.write_json(args, results)
    else:
        print(json.dumps({k: v["success_rate"] for k, v in results["methods"].items()}))
    return 0
