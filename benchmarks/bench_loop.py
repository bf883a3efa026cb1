"""The on-robot loop on this machine: perception tick latency at 30 Hz while the planner replans,
and goal reaching in the built-in world for random / FP32 teacher / INT8 student / oracle.

    python benchmarks/bench_loop.py --encoder STUDENT_INT8 --predictor STUDENT_AC_INT8 \
        [--teacher-encoder TEACHER_DIR --teacher-predictor TEACHER_AC_DIR] \
        [--ticks 3000] [--episodes 50] [--samples 256] [--out benchmarks/results/loop.json]

Models are artifact bundles (any backend) or model dirs. Part 1 runs the real loop in realtime
mode (simulated camera rendering the world, every command through the serial link to the C
firmware simulator) for `--ticks` perception ticks and reports per-stage p50/p99, the tick p99,
deadline misses, frame-to-command latency, replan rate and samples per iteration. Part 2 is
`jepa-edge run --episodes` (lockstep, replanning every world step). The load average before and
after is recorded: this machine is shared, and other work inflates the tails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from jepa_edge.planning.energy import ENERGIES
from jepa_edge.loop.config import load_robot_config
from jepa_edge.planning.config import ROLLOUT_CONTEXTS
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

REPO = Path(__file__).resolve().parents[1]


def latency_run(cfg) -> dict:
    from jepa_edge.loop.assemble import assemble
    from jepa_edge.loop.loop import RobotLoop
    from jepa_edge.loop.telemetry import Telemetry

    asm = assemble(cfg)
    tel = Telemetry()
    try:
        report = RobotLoop(cfg, asm.parts, tel).run()
    finally:
        asm.close()
    s = report.summary
    tick = s["stages_ms"]["tick"]
    period_ms = 1e3 / cfg.schedule.perception_hz
    return {
        "reason": str(report.reason),
        "ticks": s["ticks"],
        "tick_ms": tick,
        "stages_ms": s["stages_ms"],
        "frame_to_command_ms": s["frame_to_command_ms"],
        "frame_age_ms": s["frame_age_ms"],
        "deadline_misses": s["deadline_misses"],
        "skipped_ticks": s["skipped_ticks"],
        "deadline_miss_rate": s["deadline_miss_rate"],
        "planner": s["planner"],
        "targets": {
            "tick_p99_le_33ms": tick.get("p99", 1e9) <= min(33.0, period_ms),
            "misses_le_0.5pct": s["deadline_miss_rate"] <= 0.005,
            "replan_ge_5hz": (s["planner"]["replan_rate_hz"] or 0) >= 5.0,
            "replan_ge_10hz": (s["planner"]["replan_rate_hz"] or 0) >= 0.99 * 10.0,
            "samples_ge_256": (s["planner"]["samples"].get("p50") or 0) >= 256,
        },
        "faults": report.faults,
    }


def planner_profile(cfg, predictors: dict[str, str] | None = None, reps: int = 20) -> dict:
    """Where one replan's time goes (no loop around it; the planner's own threads): per plan() call, the
    predictor session's run(), the numpy work around it (feeds: broadcast/reshape/contiguous copies;
    output slicing), the energy, and the rest (sampling, clip, CEM update, Python). `predictors`: extra
    AC-predictor bundles (name -> path) profiled the same way; then every planner's plan() is timed
    round-robin (interleaved: on a shared machine the ratios are the result, not the milliseconds)."""
    import numpy as np

    from jepa_edge.inference.precision import executed_precision
    from jepa_edge.loop.assemble import load_session
    from jepa_edge.planning.planner import LatentDynamics, Observation, make_planner
    from jepa_edge.profiling.timer import TimingConfig, time_interleaved

    m, pc = cfg.models, cfg.planner
    paths = {"config": m.predictor or m.encoder, **(predictors or {})}
    out, plans = {}, {}
    for name, path in paths.items():
        sess = load_session(path, "ac_predictor", m.planner_threads or m.threads, batch=pc.max_batch or pc.samples)
        dyn = LatentDynamics(sess, pc.max_batch, None, pc.rollout_context, pc.renorm)
        planner = make_planner(dyn, pc)
        n_tok, dim = sess.inputs[0].shape[-2], sess.inputs[0].shape[-1]
        rng = np.random.default_rng(0)
        obs = Observation(rng.standard_normal((n_tok, dim)).astype(np.float32),
                          np.zeros(dyn.state_dim, np.float32) if dyn.state_dim else None)
        goal = rng.standard_normal((n_tok, dim)).astype(np.float32)
        t = {"session_run": 0.0, "dynamics_call": 0.0, "energy": 0.0}
        run0, call0, energy0 = sess.run, dyn._run, planner.energy

        def timed(key, fn, t=t):
            def wrapper(*a, **k):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    t[key] += time.perf_counter() - t0
            return wrapper

        sess.run, dyn._run, planner.energy = timed("session_run", run0), timed("dynamics_call", call0), \
            timed("energy", energy0)
        for _ in range(3):  # warm-up
            planner.plan(obs, goal)
        for k in t:
            t[k] = 0.0
        ms, iters = [], []
        for _ in range(reps):
            r = planner.plan(obs, goal)
            ms.append(r.info.elapsed_ms)
            iters.append(r.info.iterations)
        total = sum(ms) / 1e3
        share = {"predictor_run": t["session_run"], "feeds_and_outputs": t["dynamics_call"] - t["session_run"],
                 "energy": t["energy"], "sampling_update_python": total - t["dynamics_call"] - t["energy"]}
        sess.run, dyn._run, planner.energy = run0, call0, energy0
        out[name] = {"bundle": str(path), "backend": sess.backend, "precision": executed_precision(sess).label,
                     "samples": planner.samples_for(1.0), "iterations_p50": float(np.median(iters)),
                     "plan_ms_p50_alone": round(float(np.median(ms)), 2),
                     "share_pct": {k: round(100 * v / total, 1) for k, v in share.items()},
                     "ms_per_plan": {k: round(1e3 * v / reps, 2) for k, v in share.items()}}
        plans[name] = (planner, sess, lambda planner=planner, obs=obs, goal=goal: planner.plan(obs, goal))
        print(f"  planner profile [{name}] {out[name]['precision']} {out[name]['backend']}: plan p50 "
              f"{out[name]['plan_ms_p50_alone']} ms ({out[name]['iterations_p50']:.0f} it), {out[name]['share_pct']}",
              flush=True)
    if len(plans) > 1:
        timing = time_interleaved({k: v[2] for k, v in plans.items()}, TimingConfig(warmup=2, iters=reps))
        base = timing["config"].stats.p50_ms if timing["config"].stats else None
        for name, o in timing.items():
            if o.stats is not None:
                out[name]["plan_ms_p50_interleaved"] = round(o.stats.p50_ms, 2)
                out[name]["plan_ms_p99_interleaved"] = round(o.stats.p99_ms, 2)
                if base:
                    out[name]["vs_config"] = round(o.stats.p50_ms / base, 3)
        print("  interleaved plan p50 (ms): " + ", ".join(f"{k} {v.get('plan_ms_p50_interleaved')}" for k, v in out.items()))
    for _, sess, _ in plans.values():
        sess.close()
    return out


def make_random_student(out: Path, arch: str, img_size: int) -> tuple[str, str]:
    """Latency-only stand-in before trained models exist: a randomly initialised student (encoder +
    AC predictor, the train-ac defaults) quantized to INT8 for OpenVINO with the public commands.
    Its goal-reaching numbers mean nothing; its timings are those of a trained model of that shape."""
    import subprocess

    import torch

    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    model = out / "model"
    if not (model / "config.json").exists():
        torch.manual_seed(0)
        enc = build_encoder(arch, img_size=img_size).eval()
        ac = ActionConditionedPredictor(ACPredictorConfig(
            embed_dim=enc.cfg.embed_dim, predictor_embed_dim=192, depth=4, num_heads=4, action_dim=2, state_dim=4,
            img_size=img_size, patch_size=enc.cfg.patch_size, max_frames=8)).eval()
        save_model_dir(model, ModelDir(config={"ac": {"norm": "layer_norm"}}, encoder=enc, ac_predictor=ac),
                       source={"kind": "random-init", "note": "latency benchmark stand-in"})
    cli = [sys.executable, "-m", "jepa_edge"]
    steps = [
        ("calib-enc", ["calibrate", str(model), "--out", str(out / "calib-enc"), "--count", "64", "--held-out", "16"]),
        ("calib-ac", ["calibrate", str(model), "--part", "ac_predictor", "--out", str(out / "calib-ac"),
                      "--count", "64", "--held-out", "16"]),
        # Random weights: the accuracy gate has nothing to protect, so it is opened.
        ("enc-int8", ["export", str(model), "--target", "openvino", "--precision", "int8", "--calib",
                      str(out / "calib-enc"), "--out", str(out / "enc-int8"), "--subset-size", "64",
                      "--min-cos-mean", "0", "--min-cos-p1", "-1", "--no-retry"]),
        ("ac-int8", ["export", str(model), "--part", "ac_predictor", "--frames", "1", "--target", "openvino",
                     "--precision", "int8", "--calib", str(out / "calib-ac"), "--out", str(out / "ac-int8"),
                     "--subset-size", "64", "--min-cos-mean", "0", "--min-cos-p1", "-1", "--no-retry"]),
    ]
    for name, argv in steps:
        if not (out / name / "manifest.json").exists():
            subprocess.run(cli + argv, check=True)
    return str(out / "enc-int8"), str(out / "ac-int8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="", help="student encoder (INT8 bundle, or model dir)")
    ap.add_argument("--predictor", default="", help="student AC predictor (default: the encoder's model dir)")
    ap.add_argument("--teacher-encoder", default="", help="FP32 teacher encoder for the goal-reaching comparison")
    ap.add_argument("--teacher-predictor", default="")
    ap.add_argument("--config", default=str(REPO / "examples" / "sim_world.toml"))
    ap.add_argument("--ticks", type=int, default=3000)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--budget-ms", type=float, default=150.0)
    ap.add_argument("--planner", default="cem", choices=("cem", "mppi"))
    ap.add_argument("--horizon", type=int, default=1,
                    help="actions per sequence; each step is one batched predictor call per iteration")
    ap.add_argument("--rollout-context", default="last", choices=ROLLOUT_CONTEXTS,
                    help="what each rollout call sees (planner.rollout_context; history needs an export with --frames >= horizon)")
    ap.add_argument("--renorm", action="store_true", help="layer-norm each predicted frame (planner.renorm)")
    ap.add_argument("--delta-scale", type=float, default=1.0,
                    help="score z_now + S * (z_pred - z_now) (planner.delta_scale)")
    ap.add_argument("--planner-threads", type=int, default=0, help="threads of the planner's predictor session (0 = models.threads)")
    ap.add_argument("--energy", default="l1", choices=ENERGIES, help="planning energy (planning/energy.py)")
    ap.add_argument("--smooth-sigma", type=float, default=0.25, help="l1_smooth: blur sigma, fraction of the grid side")
    ap.add_argument("--action-hz", type=float, default=0.0, help="plan step rate (0 = the replan rate)")
    ap.add_argument("--episodes", type=int, default=50, help="0 skips goal reaching")
    ap.add_argument("--first-seed", type=int, default=1000, help="goal-reaching episodes are seeds first_seed, first_seed + 1, ...")
    ap.add_argument("--max-steps", type=int, default=0, help="world steps per episode (default: the config's sim.max_steps)")
    ap.add_argument("--methods", default="random,teacher,student,oracle",
                    help="which goal-reaching methods to run (teacher needs --teacher-encoder)")
    ap.add_argument("--eval-samples", type=int, default=0, help="samples per iteration in the evaluation (default: --samples)")
    ap.add_argument("--eval-iterations", type=int, default=0,
                    help="planner iterations per action in the evaluation (default: the config's planner.iterations)")
    ap.add_argument("--eval-threads", type=int, default=0,
                    help="threads per session in the evaluation (lockstep: nothing runs beside the planner; default: the config's)")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--ov-cpu-pinning", action="store_true",
                    help="let OpenVINO pin its threads (its default; jepa-edge turns it off: inference/openvino_session.py)")
    ap.add_argument("--profile-planner", action="append", default=[], metavar="NAME=BUNDLE",
                    help="profile one replan (predictor run / feeds / energy / sampling) for the configured "
                         "predictor and these extra AC-predictor bundles (repeatable); 'config' alone: just the configured one")
    ap.add_argument("--planning-hz", type=float, default=0.0, help="schedule.planning_hz (default: the config's)")
    ap.add_argument("--iterations", type=int, default=0, help="planner.iterations (default: the config's)")
    ap.add_argument("--random-student", default="", metavar="DIR",
                    help="no trained student yet: build a random-init one in DIR and quantize it (latency only)")
    ap.add_argument("--random-arch", default="vit_tiny/16")
    ap.add_argument("--random-img-size", type=int, default=64)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "loop.json"))
    args = ap.parse_args(argv)
    if args.random_student:
        args.encoder, args.predictor = make_random_student(Path(args.random_student), args.random_arch,
                                                           args.random_img_size)
        args.episodes = 0  # random weights: goal reaching would measure nothing
    if not args.encoder:
        ap.error("give --encoder (a trained student) or --random-student DIR")

    overrides = {"models.encoder": args.encoder, "models.predictor": args.predictor, "planner.kind": args.planner,
                 "planner.samples": args.samples, "planner.budget_ms": args.budget_ms,
                 "planner.horizon": args.horizon, "planner.energy": args.energy,
                 "planner.rollout_context": args.rollout_context, "planner.renorm": args.renorm,
                 "planner.delta_scale": args.delta_scale,
                 "models.planner_threads": args.planner_threads,
                 "planner.smooth_sigma": args.smooth_sigma, "schedule.action_hz": args.action_hz,
                 "schedule.max_ticks": args.ticks, "schedule.duration_s": 0.0, "telemetry.live": False,
                 "telemetry.out_dir": ""}
    if args.planning_hz:
        overrides["schedule.planning_hz"] = args.planning_hz
    if args.iterations:
        overrides["planner.iterations"] = args.iterations
    cfg = load_robot_config(args.config, overrides)
    if args.ov_cpu_pinning:
        from jepa_edge.inference import openvino_session

        openvino_session.CPU_PINNING = True
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "load_avg_before": os.getloadavg(),
              "models": {"random_init": bool(args.random_student), "student_encoder": args.encoder, "student_predictor": args.predictor or args.encoder,
                         "teacher_encoder": args.teacher_encoder or None,
                         "teacher_predictor": args.teacher_predictor or args.teacher_encoder or None},
              "config": cfg.to_dict(), "ov_cpu_pinning": args.ov_cpu_pinning}
    from jepa_edge.utils.device_info import isa_tag

    result["isa"] = isa_tag()
    if args.profile_planner:
        extra = dict(x.split("=", 1) for x in args.profile_planner if "=" in x)
        result["planner_profile"] = planner_profile(cfg, extra)
    if not args.skip_latency:
        t = time.time()
        result["latency"] = latency_run(cfg)
        result["latency"]["wall_s"] = round(time.time() - t, 1)
        lat = result["latency"]
        print(f"tick p50 {lat['tick_ms'].get('p50')} ms p99 {lat['tick_ms'].get('p99')} ms, misses "
              f"{100 * lat['deadline_miss_rate']:.2f}%, replans {lat['planner']['replan_rate_hz']} Hz x "
              f"{lat['planner']['samples'].get('p50')} samples, iterations p50 {lat['planner']['iterations'].get('p50')}")
    if args.episodes:
        from jepa_edge.eval.goal_reaching import Method, evaluate

        eval_cfg = cfg.override({"planner.samples": args.eval_samples or args.samples,
                                 "planner.iterations": args.eval_iterations or cfg.planner.iterations,
                                 "models.threads": args.eval_threads or cfg.models.threads,
                                 "sim.max_steps": args.max_steps or cfg.sim.max_steps})
        wanted = args.methods.split(",")
        methods = [Method(name, args.teacher_encoder, args.teacher_predictor) if name == "teacher" else Method(name)
                   for name in ("random", "teacher", "student", "oracle")
                   if name in wanted and (name != "teacher" or args.teacher_encoder)]

        def progress(name, done, total, ep):
            print(f"  {name} {done}/{total}: {'reached' if ep['success'] else 'missed'} in {ep['steps']} steps, "
                  f"final distance {ep['final_distance']}, plan {ep['plan_ms_mean']} ms", flush=True)

        res = evaluate(eval_cfg, methods, args.episodes, args.first_seed, progress=progress)
        for m in res["methods"].values():  # the outcome of each seed, to compare methods episode by episode
            m["per_episode"] = [{k: e[k] for k in ("seed", "success", "steps", "final_distance")} for e in m["per_episode"]]
        result["goal_reaching"] = res
        print({k: v["success_rate"] for k, v in res["methods"].items()}, "faulted episodes:",
              {k: v["faulted"] for k, v in res["methods"].items()})
    result["load_avg_after"] = os.getloadavg()
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
