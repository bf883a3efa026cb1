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
            "samples_ge_256": (s["planner"]["samples"].get("p50") or 0) >= 256,
        },
        "faults": report.faults,
    }


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
    cfg = load_robot_config(args.config, overrides)
    result = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "machine": describe(), "load_avg_before": os.getloadavg(),
              "models": {"random_init": bool(args.random_student), "student_encoder": args.encoder, "student_predictor": args.predictor or args.encoder,
                         "teacher_encoder": args.teacher_encoder or None,
                         "teacher_predictor": args.teacher_predictor or args.teacher_encoder or None},
              "config": cfg.to_dict()}
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
