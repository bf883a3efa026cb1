"""Does more compute close the teacher's probe gap? sweep_teacher.py's recipes at many times the
samples that 30 minutes of the 2-core CPU afford, trained side by side on one GPU and scored there.

Each variant first times a few of its own steps (side by side with the others, so the timing sees
the shared GPU), then trains as many steps as fit in --train-s, then runs `jepa-edge eval`'s probes
(position R² pooled / per patch / dense, object permanence) on --probe-clips held-out clips. The
best finished model dir (agent R² per patch) is packed for the trip back under the device tool's
file limits, for distillation or more evals here.

    there: python experiments/teacher_scale.py --device cuda --out-dir $OUT
           (the defaults fit one 15-minute lease with the machine's start-up: ~170 s on an H200,
           which gave vrp8_d6 60 ms and vrp8_d6_dense 79 ms a step of 64 clips, side by side)
    here:  cat OUT/teacher.tar.part-* | tar x -C runs/teacher_scale   (-> runs/teacher_scale/NAME/model)
A CPU smoke run: python experiments/teacher_scale.py --device cpu --batch 4 --dataset-size 16 --train-s 20
    --probe-clips 8 --vo-pairs 4 --deadline 200 --out-dir /tmp/ts
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from bench_distill import EVAL, short  # noqa: E402
from sweep_teacher import VARIANTS, config  # noqa: E402

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

PART_BYTES = 15 * 2**20  # under the device tool's 16 MiB a file


def seconds_per_step(cfg, tmp: Path) -> float:
    """Wall seconds of one training step, from two short runs after a warm-up run (the difference
    cancels start-up; the warm-up takes the one-time costs: CUDA context, kernel selection)."""
    from jepa_edge.training.pretrain import pretrain

    quick = replace(cfg, dataset_size=cfg.batch_size, warmup_steps=1, ckpt_every=100_000)
    took = []
    for steps in (2, 4, 24):
        t0 = time.perf_counter()
        pretrain(replace(quick, steps=steps), tmp / f"calib{steps}", progress=False)
        took.append(time.perf_counter() - t0)
    return max(1e-3, (took[2] - took[1]) / 20)


def run_one(name: str, args) -> dict:
    import torch

    from jepa_edge.data.clips import make_clip
    from jepa_edge.eval.run import evaluate
    from jepa_edge.training.pretrain import pretrain

    torch.set_num_threads(args.threads)
    work = Path(args.work) / name
    budget = config(name, device=args.device)  # the recipe at its CPU budget's steps and batch
    base = replace(budget, batch_size=args.batch, lr=args.lr, start_lr=args.lr / 10,
                   dataset_size=args.dataset_size, precision=args.precision, log_every=50)
    s_step = seconds_per_step(base, work)
    t0 = time.perf_counter()
    for i in range(8):
        make_clip((0, i), frames=16, size=base.img_size)
    render_s = (time.perf_counter() - t0) / 8 * base.dataset_size  # the first epoch renders every clip once
    steps = max(10, int(0.85 * (args.train_s - render_s) / s_step))
    cfg = replace(base, steps=steps, warmup_steps=max(1, steps // 20), ckpt_every=steps)
    cpu_samples = budget.steps * budget.batch_size
    row = {"name": name, "config": asdict(cfg), "s_per_step_calibrated": round(s_step, 4),
           "samples": steps * cfg.batch_size, "cpu_budget_samples": cpu_samples,
           "x_cpu_budget": round(steps * cfg.batch_size / cpu_samples, 1),
           "epochs": round(steps * cfg.batch_size / cfg.dataset_size, 1)}
    print(f"{name}: {s_step * 1e3:.0f} ms/step -> {steps} steps ({row['x_cpu_budget']}x the CPU budget's samples)", flush=True)
    t0 = time.perf_counter()
    s = pretrain(cfg, work / "run", progress=False)
    row.update(train_s=round(time.perf_counter() - t0, 1), final_loss=s["final_loss"], model_dir=s["model_dir"])
    print(f"{name}: trained in {row['train_s']} s, loss {s['final_loss']:.4f}", flush=True)
    Path(args.row_json).write_text(json.dumps(row))  # kept even if the eval runs out of time
    t0 = time.perf_counter()
    opts = replace(EVAL, probe_clips=args.probe_clips, vo_pairs=args.vo_pairs, plan_episodes=0)
    res = evaluate(s["model_dir"], opts=opts)
    row.update(eval_s=round(time.perf_counter() - t0, 1), eval_options=asdict(opts), summary=short(res))
    return row


def pack(model_dir: Path, name: str, out_dir: Path, part_bytes: int = PART_BYTES) -> list[str]:
    """model_dir -> out_dir/teacher.tar.part-aa, -ab, ... (each under the tool's size limit);
    `cat teacher.tar.part-* | tar x` gives back NAME/model."""
    tar_path = out_dir / "teacher.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(model_dir, arcname=f"{name}/model")
    data, parts = tar_path.read_bytes(), []
    tar_path.unlink()
    for k, i in enumerate(range(0, len(data), part_bytes)):
        part = out_dir / f"teacher.tar.part-{chr(97 + k // 26)}{chr(97 + k % 26)}"
        part.write_bytes(data[i : i + part_bytes])
        parts.append(part.name)
    return parts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["vrp8_d6", "vrp8_d6_dense"], choices=sorted(VARIANTS))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=8e-4, help="peak; the CPU recipe's 4e-4 at batch 12, ~sqrt-scaled")
    ap.add_argument("--dataset-size", type=int, default=4000, help="the CPU runs' data set: compute is what changes")
    ap.add_argument("--train-s", type=float, default=110.0, help="training seconds per variant (all side by side)")
    ap.add_argument("--deadline", type=float, default=245.0, help="seconds: what has not finished is killed")
    ap.add_argument("--probe-clips", type=int, default=1000, help="1,000 fit the deadline; README's rows use 2,000 (here)")
    ap.add_argument("--vo-pairs", type=int, default=EVAL.vo_pairs)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--out-dir", type=Path, required=True, help="teacher_scale.json and the packed model go here")
    ap.add_argument("--work", default="/tmp/teacher_scale")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--row-json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        Path(args.row_json).write_text(json.dumps(run_one(args.one, args)))
        return 0

    t_start, out = time.perf_counter(), args.out_dir / "teacher_scale.json"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    rows_json = {n: Path(args.work) / f"{n}.row.json" for n in args.variants}
    Path(args.work).mkdir(parents=True, exist_ok=True)
    for path in rows_json.values():  # an earlier run's rows must not pass for this one's
        path.unlink(missing_ok=True)
    procs = {n: subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--one", n, "--row-json", str(rows_json[n])],
                                 env=env) for n in args.variants}
    while any(p.poll() is None for p in procs.values()) and time.perf_counter() - t_start < args.deadline:
        time.sleep(2)
    result = {"what": __doc__.splitlines()[0], "command": "python experiments/teacher_scale.py " + " ".join(sys.argv[1:]),
              "machine": describe(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": {}}
    for n, p in procs.items():
        rc = p.poll()  # read once: a process may end between two reads
        status = "ok" if rc == 0 else f"failed (exit {rc})" if rc is not None else "killed at the deadline"
        if rc is None:
            p.kill()
        row = json.loads(rows_json[n].read_text()) if rows_json[n].exists() else {"name": n}
        if status != "ok" and "train_s" in row:
            status += " (trained; eval unfinished)"
        result["rows"][n] = {**row, "status": status}
        print(f"{n:16s} {status:30s} {row.get('summary', {})}", flush=True)
    trained = [r for r in result["rows"].values() if "model_dir" in r and Path(r["model_dir"]).exists()]
    if trained:
        best = max(trained, key=lambda r: r.get("summary", {}).get("agent_r2_patch", -1))
        result["packed"] = {"name": best["name"], "parts": pack(Path(best["model_dir"]), best["name"], args.out_dir)}
    atomic_write_json(out, result)
    print(f"wrote {out} after {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
