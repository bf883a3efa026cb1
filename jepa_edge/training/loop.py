"""The one training loop behind pretrain, distill and train-ac.

A run is (modules, optimizer, schedule, a `compute_loss(step)` and an `after_step(step)`); the
loop owns everything else: resume from the newest checkpoint, backward + clip + step, metrics
lines, checkpoints every N steps on rank 0, the progress bar and the loss-curve PNG.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from jepa_edge.training import ddp
from jepa_edge.training.common import (
    Checkpointer,
    MetricsLog,
    RunConfig,
    WarmupCosine,
    build_optimizer,
    capture_rng,
    check_resume_config,
    prepare_run_dir,
    config_defaults,
    config_fingerprint,
    plot_loss_curve,
    progress_bar,
    restore_rng,
)


class SimulatedCrash(RuntimeError):
    """Raised by `crash_after_step` (tests): the run dies as if killed, after a real checkpoint."""


@dataclass
class LoopSpec:
    run_dir: Path
    total_steps: int
    modules: dict[str, torch.nn.Module]  # everything whose state is checkpointed (trainable + EMA + heads)
    trainable: list[torch.nn.Module]  # for grad clipping
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    compute_loss: Callable[[int], tuple[torch.Tensor, dict]]  # step -> (loss to backprop, extra metrics)
    after_step: Callable[[int], dict] = lambda step: {}  # e.g. EMA update; returns metrics to log
    config: dict = field(default_factory=dict)  # fingerprint: a resume with another config is refused
    config_defaults: dict = field(default_factory=dict)  # what a field the checkpoint predates must be
    env: ddp.DistEnv = field(default_factory=ddp.DistEnv)
    grad_clip: float = 0.0
    ckpt_every: int = 100
    log_every: int = 10
    resume: bool = False
    overwrite: bool = False  # a fresh run into a dir holding a run replaces it (else: refused)
    progress: bool = True
    description: str = "train"
    crash_after_step: int | None = None  # tests only


def run_loop(spec: LoopSpec) -> dict:
    """Train from the start (or the newest checkpoint with `resume`) to `total_steps`.
    Returns {"final_loss", "steps", "seconds", "resumed_from"}."""
    env = spec.env
    prepare_run_dir(spec.run_dir, resume=spec.resume, overwrite=spec.overwrite, is_main=env.is_main)
    ddp.barrier(env)
    ckpt = Checkpointer(spec.run_dir)
    start, done_seconds, done_cpu = 0, 0.0, 0.0
    if spec.resume:
        state = ckpt.load_latest()
        check_resume_config(state["config"], spec.config, spec.config_defaults)
        for name, m in spec.modules.items():
            m.load_state_dict(state["modules"][name])
        spec.optimizer.load_state_dict(state["optimizer"])
        spec.schedule.load_state_dict(state["schedule"])
        restore_rng(state["rng"])
        start = int(state["step"])
        done_seconds, done_cpu = (float(v) for v in state.get("elapsed", (0.0, 0.0)))
    metrics = MetricsLog(spec.run_dir / "metrics.jsonl", resume_step=start if spec.resume else None) if env.is_main else None
    params = [p for m in spec.trainable for p in m.parameters() if p.requires_grad]
    # Clocks continue across a resume (the checkpoint carries the time spent before it).
    t0, cpu0 = time.perf_counter() - done_seconds, time.process_time() - done_cpu
    last = {}
    try:
        with progress_bar(spec.total_steps, spec.description, spec.progress and env.is_main, start) as update:
            for step in range(start, spec.total_steps):
                loss, extra = spec.compute_loss(step)
                spec.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = None
                if spec.grad_clip > 0:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, spec.grad_clip))
                spec.optimizer.step()
                extra = {**extra, **spec.after_step(step)}
                lr = spec.schedule.lr
                spec.schedule.step()
                done = step + 1
                loss_value = float(ddp.mean_across(loss.detach(), env))
                last = {"step": step, "loss": loss_value}
                if env.is_main and (step % spec.log_every == 0 or done == spec.total_steps):
                    rec = {"step": step, "loss": loss_value, "lr": lr, **_floats(extra)}
                    if grad_norm is not None:
                        rec["grad_norm"] = grad_norm
                    rec["time"] = round(time.perf_counter() - t0, 3)
                    metrics.log(rec)
                update(loss=loss_value)
                if done % spec.ckpt_every == 0 or done == spec.total_steps:
                    _save(ckpt, spec, done, (time.perf_counter() - t0, time.process_time() - cpu0))
                if spec.crash_after_step is not None and done >= spec.crash_after_step:
                    raise SimulatedCrash(f"simulated crash after step {done}")
    finally:
        if metrics is not None:
            metrics.close()
    if env.is_main:
        plot_loss_curve(spec.run_dir / "metrics.jsonl", spec.run_dir / "loss.png", spec.description)
    # cpu_seconds: CPU time of this process over all its threads (on a shared machine the wall
    # clock measures the neighbours too; cpu_seconds / cores is the dedicated-machine estimate).
    return {"final_loss": last.get("loss"), "steps": spec.total_steps, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0, "resumed_from": start}


def run_command(cfg: RunConfig, kind: str, env: ddp.DistEnv, trainable: list[torch.nn.Module], **spec) -> dict:
    """run_loop as pretrain, distill and train-ac use it: AdamW + warm-up/cosine over `trainable`,
    steps, clipping and cadence from the command's RunConfig, and a fingerprint (the whole config,
    the kind of run, the world size) that a --resume must match. `spec`: the other LoopSpec fields."""
    optimizer = build_optimizer(trainable, cfg.optim)
    fingerprint = {**config_fingerprint(cfg), "kind": kind, "world_size": env.world_size}
    return run_loop(LoopSpec(
        total_steps=cfg.steps, trainable=trainable, optimizer=optimizer,
        schedule=WarmupCosine(optimizer, cfg.steps, cfg.optim), config=fingerprint, config_defaults=config_defaults(cfg),
        env=env,
        grad_clip=cfg.grad_clip, ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, **spec,
    ))


def _save(ckpt: Checkpointer, spec: LoopSpec, step: int, elapsed: tuple[float, float]) -> None:
    if spec.env.is_main:
        ckpt.save(step, {
            "step": step,
            "data_position": step,  # samples and masks of step s are functions of (seed, s)
            "elapsed": elapsed,  # (wall seconds, CPU seconds) spent up to this checkpoint
            "config": spec.config,
            "modules": {name: m.state_dict() for name, m in spec.modules.items()},
            "optimizer": spec.optimizer.state_dict(),
            "schedule": spec.schedule.state_dict(),
            "rng": capture_rng(),
        })
    ddp.barrier(spec.env)


def _floats(d: dict) -> dict:
    return {k: (float(v) if isinstance(v, (torch.Tensor, float, int)) else v) for k, v in d.items()}
