"""Teacher pretraining -> distilled student vs the same student from scratch -> AC predictor.

Writes experiments/results/distill.json: the command, the machine, every config, wall-clock and
CPU seconds per stage, and the probe numbers (position R², violation-of-expectation accuracy and
AUROC, teacher agreement, AC rollout vs copy-last), with each target of the issue checked.

    python experiments/bench_distill.py                 # the default budget (~1 h of 2 CPU cores)
    python experiments/bench_distill.py --quick         # a few minutes: checks the pipeline, not the targets
    python experiments/bench_distill.py --reuse         # skip stages whose model dir already exists

Model dirs land in --runs (default runs/distill_bench): teacher/model, student/model,
student_scratch/model, student_ac/model.

Wall-clock on a machine shared with other jobs measures the neighbours too: every stage also
records the CPU seconds of its process (all threads), and cpu_seconds / cores estimates the wall
clock of a dedicated machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.eval.run import EvalOptions, evaluate  # noqa: E402
from jepa_edge.training.ac import TrainACConfig, train_ac  # noqa: E402
from jepa_edge.training.distill import DistillConfig, distill  # noqa: E402
from jepa_edge.training.pretrain import PretrainConfig, pretrain  # noqa: E402
from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

# The default budget. Grid: 64 px, patch 16 -> 4x4 tokens per slot; 6 frames / tubelet 2 -> 3 slots.
TEACHER = PretrainConfig(arch="vit_small", img_size=64, patch_size=16, num_frames=6, tubelet_size=2,
                         predictor_width=192, predictor_depth=6, dataset_size=4000, batch_size=12, steps=800,
                         lr=4e-4, start_lr=4e-5, warmup_steps=40, ema_start=0.996, ema_end=1.0,
                         var_weight=1.0, cov_weight=0.04, ckpt_every=50, log_every=5)
STUDENT = dict(student_arch="vit_tiny", predictor_width=192, predictor_depth=6, dataset_size=4000, batch_size=16,
               steps=800, lr=5e-4, start_lr=5e-5, warmup_steps=40, ema_start=0.99, ema_end=0.999, dense=True,
               ckpt_every=50, log_every=5)
AC = dict(predictor_width=192, depth=4, num_heads=4, frames=8, rollout_steps=2, n_trajectories=1000, batch_size=16,
          steps=600, lr=3e-4, ckpt_every=100, log_every=10)
# 2,000 probe clips: the patch probe has h*w*D weights per coordinate (6,144 for the teacher), and
# at 300 clips its R² still rose steeply with more data and ranked the models differently
# (probe_scaling.py, probe_scaling.json); ridge on 12,000 rows takes minutes per model here.
EVAL = EvalOptions(probe_clips=2000, vo_pairs=40, rollout_trajectories=64)

QUICK_TEACHER = replace(TEACHER, depth=2, dataset_size=64, steps=10, warmup_steps=2, ckpt_every=5)
QUICK_STUDENT = {**STUDENT, "student_depth": 2, "dataset_size": 64, "steps": 10, "warmup_steps": 2, "ckpt_every": 5}
QUICK_AC = {**AC, "depth": 1, "n_trajectories": 16, "steps": 5, "warmup_steps": 1, "ckpt_every": 5}
# The FP32 teacher's own AC predictor, for the teacher column of goal reaching (bench_loop.py):
# the teacher's width (identity init needs it) at half the depth, to keep planning affordable.
TEACHER_AC = {**AC, "predictor_width": None, "depth": 2, "num_heads": 6}
QUICK_EVAL = EvalOptions(probe_clips=12, vo_pairs=4, rollout_trajectories=8)

TARGETS = {
    "teacher_agent_r2": 0.9,
    "teacher_permanence_relative_accuracy": 0.9,  # balanced vanish + appear quadruplets
    "student_keeps_fraction": 0.95,
    "teacher_minutes": 30,
    "student_minutes": 15,
}


def short(res: dict) -> dict:
    """The headline numbers of one evaluation."""
    out = {}
    for target, kinds in res.get("probes", {}).items():
        for kind, r in kinds.items():
            out[f"{target}_r2_{kind}"] = round(r["r2"], 4)
    for target, r in res.get("probes_pixels", {}).items():
        out[f"{target}_r2_pixels"] = round(r["r2"], 4)
    phys = res.get("physics", {})
    for kind, r in phys.items():
        if isinstance(r, dict):
            out[f"{kind}_relative_accuracy"] = round(r["relative_accuracy"], 4)
            out[f"{kind}_auroc"] = round(r["auroc"], 4)
    if "mean_relative_accuracy" in phys:
        out["mean_relative_accuracy"] = round(phys["mean_relative_accuracy"], 4)
    for k, v in res.get("agreement", {}).items():
        out[f"agreement_{k}"] = round(v, 4)
    for h, r in res.get("rollout", {}).items():
        if isinstance(r, dict):
            out[f"rollout_{h}_ac_l1"] = round(r["ac_l1"], 5)
            out[f"rollout_{h}_copy_last_l1"] = round(r["copy_last_l1"], 5)
    plan = res.get("plannability")
    if plan:
        out["plan_spearman"], out["plan_argmin_hit"] = plan["spearman"], plan["argmin_hit"]
        out.update({f"plan_descent_hit@{r}": h for r, h in plan["descent_hit"].items()})
    return out


class Bench:
    def __init__(self, args):
        self.args, self.runs = args, Path(args.runs)
        self.result_path = Path(args.json)
        self.results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": describe(),
                        "torch_threads": torch.get_num_threads(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "stages": {}, "evals": {}, "targets": TARGETS}

    def save(self):
        atomic_write_json(self.result_path, self.results)

    def stage(self, name: str, fn, cfg, out: Path):
        model_dir = out / "model"
        if self.args.reuse and (model_dir / "config.json").exists():
            rec = json.loads((model_dir / "config.json").read_text())
            self.results["stages"].setdefault(name, {"reused": str(model_dir)})
            print(f"[{name}] reusing {model_dir}", flush=True)
            return rec
        # A killed benchmark continues each stage from its newest checkpoint (bit-exact resume).
        resume = (out / "checkpoints" / "latest.json").exists()
        print(f"[{name}] training -> {model_dir}" + (" (resuming)" if resume else ""), flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        summary = fn(cfg, out, progress=self.args.progress, resume=resume)
        self.results["stages"][name] = {
            "config": asdict(cfg), "model_dir": str(model_dir), "steps": summary["steps"],
            "final_loss": summary["final_loss"], "train_seconds": round(summary["seconds"], 1),
            "wall_seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(summary["cpu_seconds"], 1),
            "process_cpu_seconds": round(time.process_time() - c0, 1),
            # The whole stage (distillation includes building the teacher feature cache); after a
            # resume only the training loop's saved clocks are known.
            "cpu_minutes": round(((time.process_time() - c0) if not summary["resumed_from"] else summary["cpu_seconds"]) / 60, 2),
            "resumed_from_step": summary["resumed_from"],
        }
        # a dedicated 2-core machine: one thread takes cpu_minutes; two threads at best half of it
        st = self.results["stages"][name]
        st["dedicated_2core_minutes_estimate"] = round(st["cpu_minutes"] / 2, 2)
        if summary["resumed_from"]:
            # train_seconds / cpu_seconds add up the segments saved in the checkpoints (what an
            # uninterrupted run costs); wall_seconds is this process only.
            self.results["stages"][name]["note"] = "resumed from a checkpoint"
        self.save()
        return summary

    def evaluate(self, name: str, model, teacher=None, random_init=False):
        print(f"[eval {name}]", flush=True)
        t0 = time.perf_counter()
        res = evaluate(model, teacher, replace(self.opts, random_init=random_init))
        res["wall_seconds"] = round(time.perf_counter() - t0, 1)
        self.results["evals"][name] = {"summary": short(res), "full": res}
        self.save()
        return res


def checks(r: dict) -> dict:
    ev = {k: v["summary"] for k, v in r["evals"].items()}
    st = r["stages"]
    t, s, sc, rnd = ev.get("teacher", {}), ev.get("student", {}), ev.get("student_scratch", {}), ev.get("teacher_random_init", {})
    out = {}
    if t and rnd:
        probe_keys = [k for k in t if k.endswith("_r2_pooled") or k.endswith("_r2_patch") or k.endswith("relative_accuracy")]
        out["teacher_beats_random_init_on_every_probe"] = {k: [t[k], rnd.get(k)] for k in probe_keys}
        out["teacher_agent_r2_pooled>=0.9"] = t.get("agent_r2_pooled", 0) >= 0.9
        out["teacher_permanence_relative_accuracy>=0.9"] = t.get("permanence_relative_accuracy", 0) >= 0.9
    if t and s:
        keep = {}
        for k in ("agent_r2_pooled", "agent_r2_patch", "objects_r2_pooled", "objects_r2_patch", "mean_relative_accuracy",
                  "permanence_relative_accuracy"):
            if k in t and k in s and t[k] > 0:
                keep[k] = round(s[k] / t[k], 4)
        out["student_fraction_of_teacher"] = keep
        out["student_keeps>=95%"] = all(v >= 0.95 for v in keep.values()) if keep else None
    srnd = ev.get("student_random_init", {})
    if s and srnd:
        out["student_vs_its_random_init"] = {k: [s[k], srnd.get(k)] for k in s if k in srnd and "_r2_" in k}
    if s and sc:
        out["student_beats_scratch"] = {k: [s[k], sc.get(k)] for k in s if k in sc and not k.startswith("agreement")}
    ac = ev.get("student_ac", {})
    if ac:
        out["ac_beats_copy_last_at_every_horizon"] = r["evals"]["student_ac"]["full"]["rollout"]["beats_copy_last_at_every_horizon"]
    for name, limit in (("teacher", 30), ("student", 15)):
        if name in st and "cpu_seconds" in st[name]:
            out[f"{name}_dedicated_minutes_estimate<={limit}"] = st[name]["dedicated_2core_minutes_estimate"] <= limit
            out[f"{name}_wall_minutes"] = round(st[name]["wall_seconds"] / 60, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs" / "distill_bench"))
    ap.add_argument("--json", default=str(ROOT / "experiments" / "results" / "distill.json"))
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the pipeline in minutes")
    ap.add_argument("--reuse", action="store_true", help="skip stages whose model dir exists")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("JEPA_EDGE_THREADS", "0")) or None)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--only", default="", help="comma list of stages to run (teacher,student,scratch,ac,teacher_ac,eval)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    teacher_cfg, student_kw, ac_kw = (QUICK_TEACHER, QUICK_STUDENT, QUICK_AC) if args.quick else (TEACHER, STUDENT, AC)
    only = set(filter(None, args.only.split(",")))
    want = lambda s: not only or s in only  # noqa: E731
    b = Bench(args)
    b.opts = QUICK_EVAL if args.quick else EVAL
    b.results["eval_options"] = asdict(b.opts)
    if b.result_path.exists() and args.reuse:
        prev = json.loads(b.result_path.read_text())
        b.results["stages"].update(prev.get("stages", {}))
        b.results["stages_command"] = prev.get("stages_command", prev.get("command"))  # who trained the reused models
        b.results["earlier_commands"] = [*prev.get("earlier_commands", []), prev.get("command")]
        b.results["evals"].update(prev.get("evals", {}))
    runs = b.runs
    teacher_dir, student_dir = runs / "teacher" / "model", runs / "student" / "model"
    scratch_dir, ac_dir = runs / "student_scratch" / "model", runs / "student_ac" / "model"

    if want("teacher"):
        b.stage("teacher", pretrain, teacher_cfg, runs / "teacher")
    student_cfg = DistillConfig(teacher=str(teacher_dir), **student_kw)
    if want("student"):
        b.stage("student", distill, student_cfg, runs / "student")
    # The same student trained from scratch (JEPA pretraining) with the same steps and batch.
    scratch_cfg = replace(teacher_cfg, arch=student_cfg.student_arch, depth=student_cfg.student_depth,
                          predictor_width=student_cfg.predictor_width, predictor_depth=student_cfg.predictor_depth,
                          steps=student_cfg.steps, batch_size=student_cfg.batch_size, lr=student_cfg.lr,
                          start_lr=student_cfg.start_lr, warmup_steps=student_cfg.warmup_steps)
    if want("ac"):  # before the scratch baseline: the loop, export and bench helpers need student + AC first
        b.stage("student_ac", train_ac, TrainACConfig(encoder=str(student_dir), **ac_kw), runs / "student_ac")
    if want("teacher_ac") and (only or args.quick):  # on request: not part of the default budget
        b.stage("teacher_ac", train_ac, TrainACConfig(encoder=str(teacher_dir), **(QUICK_AC if args.quick else TEACHER_AC)),
                runs / "teacher_ac")
    if want("scratch"):
        b.stage("student_scratch", pretrain, scratch_cfg, runs / "student_scratch")
    if want("eval"):
        b.evaluate("teacher", teacher_dir)
        b.evaluate("teacher_random_init", teacher_dir, random_init=True)
        b.evaluate("student", student_dir, teacher=teacher_dir)
        b.evaluate("student_random_init", student_dir, random_init=True)
        b.evaluate("student_scratch", scratch_dir)
        b.evaluate("student_ac", ac_dir)
    b.results["checks"] = checks(b.results)
    b.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    b.save()
    print(json.dumps(b.results["checks"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
