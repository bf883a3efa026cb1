"""What every training run shares: AdamW with warm-up + cosine, the EMA momentum schedule,
pickle-free checkpoints that resume bit-exactly, JSON-lines metrics and the loss-curve PNG.

Resume is exact because nothing random depends on history: the data order and the masks of step
`s` are functions of (seed, s) (see `data.py`), and the rest (weights, optimizer moments, schedule
step, EMA copies, RNG states) is in the checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from jepa_edge.errors import CheckpointError, ConfigError
from jepa_edge.utils.files import (atomic_write_json, atomic_write_text, owned_tempdir, remove_stale_tempdirs,
                                   sha256_file)


# ----------------------------------------------------------------------------- optimization
@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3  # peak learning rate, reached at the end of warm-up
    start_lr: float = 1e-5  # learning rate at step 0
    final_lr: float = 1e-6  # learning rate at the last step (cosine decay)
    warmup_steps: int = 50
    weight_decay: float = 0.04  # applied to matrices only, never to biases/norms
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global grad norm; 0 disables

    def __post_init__(self):
        if not (self.lr > 0 and self.start_lr >= 0 and self.final_lr >= 0):
            raise ConfigError(f"learning rates must be positive, got {self}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """The fields every training command has (pretrain, distill, train-ac): batch, steps, the AdamW
    schedule, precision, seed and cadence. Each becomes a flag (cli_args.py). Keyword-only, so a
    subclass can still start with a required field (--teacher, --encoder); a subclass that wants
    another default redeclares the field (after `_: KW_ONLY`, to keep it keyword-only)."""

    batch_size: int = 32  # samples per optimizer step (over all DDP ranks)
    steps: int = 1000  # optimizer steps in all (the schedule's length; a resume runs the rest)
    lr: float = 1e-3  # peak learning rate, reached at the end of warm-up
    start_lr: float = 1e-4  # learning rate at step 0
    final_lr: float = 1e-6  # learning rate at the last step (cosine decay)
    warmup_steps: int = 50  # linear warm-up from start_lr to lr
    weight_decay: float = 0.04  # AdamW, on matrices only (never biases or norms)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    precision: Literal["fp32", "bf16"] = "fp32"  # "fp32", or "bf16" autocast
    seed: int = 0  # data order, masks and initialization all follow from it (a resume is exact)
    ckpt_every: int = 100  # steps between checkpoints in OUT/checkpoints
    log_every: int = 10  # steps between lines of OUT/metrics.jsonl
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda" or "cuda:N"

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"steps and batch_size must be >= 1, got steps={self.steps}, batch_size={self.batch_size}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16, got {self.precision!r}")

    @property
    def optim(self) -> OptimConfig:
        return OptimConfig(lr=self.lr, start_lr=self.start_lr, final_lr=self.final_lr,
                           warmup_steps=self.warmup_steps, weight_decay=self.weight_decay, grad_clip=self.grad_clip)


@dataclass(frozen=True, kw_only=True)
class EncoderTrainingConfig(RunConfig):
    """What pretrain and distill share: the images they train on and the anti-collapse terms."""

    data: str = "world"  # "world" or a path: robot dataset (LeRobot v3.0 folder), image folder, video file/folder, .npy
    image_key: str | None = None  # robot dataset: the camera feature (None: its first observation.images.*)
    dataset_size: int = 4000  # world samples (a fixed set; steps beyond it repeat epochs)
    frame_stride: int = 1  # keep every N-th frame of a video source
    var_weight: float = 0.0  # VICReg variance term on context tokens (anti-collapse; 0 = official recipe)
    cov_weight: float = 0.0  # VICReg covariance term


def build_optimizer(modules: list[torch.nn.Module], cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of `modules`; no weight decay on 1-D tensors."""
    decay, no_decay = [], []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.start_lr, betas=cfg.betas, foreach=True)


def lr_at(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Linear warm-up from start_lr to lr, then cosine decay to final_lr at total_steps."""
    if step < cfg.warmup_steps:
        return cfg.start_lr + (cfg.lr - cfg.start_lr) * step / max(1, cfg.warmup_steps)
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, progress)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """Sets the optimizer's lr for the current step; its whole state is the step counter."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, cfg: OptimConfig):
        self.optimizer, self.total_steps, self.cfg = optimizer, total_steps, cfg
        self.step_count = 0
        self._apply()

    def _apply(self) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr_at(self.step_count, self.total_steps, self.cfg)

    @property
    def lr(self) -> float:
        return lr_at(self.step_count, self.total_steps, self.cfg)

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "total_steps": self.total_steps}

    def load_state_dict(self, d: dict) -> None:
        self.step_count = int(d["step_count"])
        self._apply()


def ema_momentum(step: int, total_steps: int, start: float, end: float) -> float:
    """Linear EMA momentum schedule (I-JEPA 0.996 -> 1.0; V-JEPA 0.998 -> 1.0; fixed if start == end)."""
    return start + (end - start) * min(1.0, step / max(1, total_steps))


@torch.no_grad()
def ema_update_(target: torch.nn.Module, online: torch.nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, parameter by parameter."""
    t = [p for p in target.parameters()]
    o = [p.detach() for p in online.parameters()]
    if len(t) != len(o):
        raise ValueError("EMA target and online module have different parameter lists")
    torch._foreach_mul_(t, momentum)
    torch._foreach_add_(t, o, alpha=1.0 - momentum)


def ema_after_step(target: torch.nn.Module, online: torch.nn.Module, cfg):
    """The loop's `after_step` for a run that keeps an EMA copy (pretrain: the target encoder;
    distill: the result): momentum from cfg.ema_start to cfg.ema_end over cfg.steps, logged."""
    def after_step(step: int) -> dict:
        m = ema_momentum(step + 1, cfg.steps, cfg.ema_start, cfg.ema_end)
        ema_update_(target, online, m)
        return {"momentum": m}
    return after_step


def layer_norm_features(x: torch.Tensor) -> torch.Tensor:
    """Targets are layer-normed without affine parameters (I-JEPA / V-JEPA): scale-free, no collapse via norm."""
    return torch.nn.functional.layer_norm(x, (x.shape[-1],))


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.float() - target.float()).abs().mean()


# ----------------------------------------------------------------------------- RNG state
def capture_rng() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- pickle-free state files
# A nested state (dicts, lists, tuples, numbers, strings, tensors, numpy arrays) is split into a
# JSON tree and a flat safetensors file; tensors in the tree become {"__tensor__": key}.

def _flatten(obj, tensors: dict, prefix: str):
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().to("cpu").clone().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: _flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}}
        if all(isinstance(k, int) for k in obj):
            return {"__intdict__": {str(k): _flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}}
        raise TypeError(f"state key types not supported at {prefix}: {set(type(k) for k in obj)}")
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a checkpoint")


def _unflatten(node, tensors: dict):
    if isinstance(node, list):
        return [_unflatten(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        return tensors[node["__tensor__"]]
    if "__ndarray__" in node:
        return np.asarray(node["__ndarray__"], dtype=node["dtype"])
    if "__tuple__" in node:
        return tuple(_unflatten(v, tensors) for v in node["__tuple__"])
    if "__intdict__" in node:
        return {int(k): _unflatten(v, tensors) for k, v in node["__intdict__"].items()}
    return {k: _unflatten(v, tensors) for k, v in node["__dict__"].items()}


def save_state(directory: Path, state: dict) -> None:
    """Write `state` as state.json + state.safetensors into `directory` (must not exist yet)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, tensors, "s")
    directory.mkdir(parents=True)
    save_file(tensors, str(directory / "state.safetensors"))
    (directory / "state.json").write_text(json.dumps(tree))


def load_state(directory: Path) -> dict:
    """Read what `save_state` wrote; anything unreadable (missing, empty, truncated, not JSON, a
    tensor the tree names but the file lacks) is one CheckpointError naming the file."""
    directory = Path(directory)
    for name in ("state.safetensors", "state.json"):
        f = directory / name
        if not f.is_file() or f.stat().st_size == 0:
            raise CheckpointError(f"checkpoint {directory}: {name} is {'empty' if f.is_file() else 'missing'}")
    try:
        tensors = load_file(str(directory / "state.safetensors"))
    except Exception as e:  # SafetensorError, OSError, ...: the file, not the code, is wrong
        raise CheckpointError(f"checkpoint {directory}: state.safetensors cannot be read ({_first_line(e)})") from None
    try:
        tree = json.loads((directory / "state.json").read_text())
        return _unflatten(tree, tensors)
    except Exception as e:  # JSONDecodeError, UnicodeDecodeError, a tree that names absent tensors
        raise CheckpointError(f"checkpoint {directory}: state.json cannot be read ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


# ----------------------------------------------------------------------------- checkpoints
CHECKSUMS = "checksums.json"  # per checkpoint: sha256 + size of each file, written last


def warn(msg: str) -> None:
    """One line on stderr: what the run did instead of what was asked (never a traceback)."""
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def write_checksums(directory: Path) -> None:
    """Hash every file of a checkpoint directory into its CHECKSUMS file (atomically, last)."""
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in sorted(directory.iterdir()) if p.is_file() and p.name != CHECKSUMS}
    atomic_write_json(directory / CHECKSUMS, {"files": files})


def verify_checkpoint(directory: Path) -> None:
    """Refuse a checkpoint whose files are missing, cut short or altered since they were written,
    naming the file. A checkpoint from before checksums existed (no CHECKSUMS) passes unverified."""
    directory = Path(directory)
    sums = directory / CHECKSUMS
    if not sums.exists():
        return
    try:
        files = json.loads(sums.read_text())["files"]
        if not isinstance(files, dict) or not files:
            raise ValueError("no files listed")
        expected = {name: (str(meta["sha256"]), int(meta["bytes"])) for name, meta in files.items()}
    except Exception as e:
        raise CheckpointError(f"checkpoint {directory}: {CHECKSUMS} is corrupt ({_first_line(e)})") from None
    for name in ("state.safetensors", "state.json"):
        if name not in expected:
            raise CheckpointError(f"checkpoint {directory}: {CHECKSUMS} does not cover {name}")
    for name, (sha, size) in expected.items():
        f = directory / name
        if "/" in name or "\\" in name or not f.is_file():
            raise CheckpointError(f"checkpoint {directory}: {name} is missing")
        if f.stat().st_size != size:
            raise CheckpointError(f"checkpoint {directory}: {name} is {f.stat().st_size} bytes, "
                                  f"{CHECKSUMS} says {size} (truncated)")
        if sha256_file(f) != sha:
            raise CheckpointError(f"checkpoint {directory}: {name} does not match its sha256 (corrupt or modified)")


def _step_of(path: Path) -> int | None:
    name = path.name
    if not name.startswith("step_") or not name[5:].isdigit():
        return None
    return int(name[5:])


class Checkpointer:
    """`run_dir/checkpoints/step_XXXXXXXX/` directories, each complete (its files hashed in
    CHECKSUMS) before it gets its name; `latest.json` names the newest one. Only the last `keep`
    are kept. Loading verifies the hashes and falls back to the newest good checkpoint."""

    def __init__(self, run_dir: str | os.PathLike, keep: int = 2):
        self.dir = Path(run_dir) / "checkpoints"
        self.keep = keep

    def save(self, step: int, state: dict) -> Path:
        final = self.dir / f"step_{step:08d}"
        tmp = self.dir / f".tmp_step_{step:08d}_{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        save_state(tmp, state)
        write_checksums(tmp)
        for f in tmp.iterdir():  # make the bytes durable before the rename publishes them
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_json(self.dir / "latest.json", {"step": step, "path": final.name})
        # keep the newest `keep` up to this step; any later one is from a timeline this run replaced
        # (a resume that fell back past a bad checkpoint)
        steps = sorted((s, p) for p in self.dir.glob("step_*") if (s := _step_of(p)) is not None)
        kept = {p for s, p in [x for x in steps if x[0] <= step][-self.keep:]}
        for s, old in steps:
            if old not in kept:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def candidates(self) -> list[Path]:
        """Checkpoint dirs, newest first: the one latest.json names, then every step_* by step."""
        found = sorted(((s, p) for p in self.dir.glob("step_*") if (s := _step_of(p)) is not None and p.is_dir()),
                       reverse=True)
        order = [p for _, p in found]
        pointer = self.dir / "latest.json"
        if pointer.exists():
            try:
                named = self.dir / Path(str(json.loads(pointer.read_text())["path"])).name
            except Exception as e:
                warn(f"{pointer} is corrupt ({_first_line(e)}); looking for the newest checkpoint instead")
            else:
                if named in order:
                    order.remove(named)
                    order.insert(0, named)
                else:
                    warn(f"{pointer} names {named.name}, which is missing; looking for the newest checkpoint instead")
        return order

    def latest(self) -> Path | None:
        found = self.candidates()
        return found[0] if found else None

    def load_latest(self) -> dict:
        """The state of the newest checkpoint that verifies and reads; each one skipped is named in
        a warning. None good: one CheckpointError naming them all."""
        found = self.candidates()
        if not found:
            raise CheckpointError(
                f"--resume: no checkpoint under {self.dir}; start without --resume or point --out at the run to continue"
            )
        bad = []
        for path in found:
            try:
                verify_checkpoint(path)
                state = load_state(path)
            except CheckpointError as e:
                bad.append(str(e))
                continue
            for reason in bad:
                warn(f"skipped a bad checkpoint: {reason}; resuming from {path.name}")
            if not (path / CHECKSUMS).exists():
                warn(f"checkpoint {path} has no {CHECKSUMS} (written by an older jepa-edge): resumed unverified")
            return state
        raise CheckpointError(f"--resume: no usable checkpoint under {self.dir}: " + "; ".join(bad))


# ----------------------------------------------------------------------------- run directories
RUN_MARKERS = ("checkpoints", "metrics.jsonl", "model")  # what makes a directory hold a training run
OVERWRITTEN_TAG = "overwritten"


def holds_run(run_dir: Path) -> list[str]:
    """The entries of `run_dir` that belong to a training run (empty: nothing to lose)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for name in RUN_MARKERS:
        p = run_dir / name
        if p.is_file() or (p.is_dir() and any(p.iterdir())):
            found.append(name)
    return found


def start_run(out: str | os.PathLike, seed: int, device: str, env, *, resume: bool, overwrite: bool):
    """The prologue every training command shares, before it writes anything: the process group
    (`env`, or one from torchrun's environment), the run dir checked (`prepare_run_dir`), every rank
    past it, the seeds set. Returns (out, env, whether the env was made here and is the caller's to
    close)."""
    from jepa_edge.training import ddp

    own_env = env is None
    env = env or ddp.init_from_env(device)
    prepare_run_dir(out, resume=resume, overwrite=overwrite, is_main=env.is_main)
    ddp.barrier(env)
    seed_everything(seed)
    return Path(out), env, own_env


def prepare_run_dir(run_dir: str | os.PathLike, *, resume: bool, overwrite: bool, is_main: bool = True) -> None:
    """Before a run writes anything: a fresh run (no --resume) into a directory that holds a run is
    refused, naming --resume and --overwrite. --overwrite moves the old run aside with one rename
    (atomic: the old run is whole or gone, never half) and then deletes it. Only rank 0 moves."""
    run_dir = Path(run_dir)
    if resume:
        return
    if overwrite and is_main:
        remove_stale_tempdirs(run_dir, OVERWRITTEN_TAG)  # an earlier --overwrite killed before its delete
    if overwrite and not is_main:
        return  # rank 0 moves the old run; the others may see it half way (before the caller's barrier)
    found = holds_run(run_dir)
    if not found:
        return
    if not overwrite:  # every rank sees the same files and refuses alike (none waits at a barrier)
        raise ConfigError(f"{run_dir} already holds a training run ({', '.join(found)}); pass --resume to continue "
                          f"it or --overwrite to replace it, or choose another --out")
    here = Path.cwd().resolve()
    target = run_dir.resolve()
    if target == here or target in here.parents:
        raise ConfigError(f"--overwrite {run_dir}: it is (or holds) the current directory; run from elsewhere "
                          f"or choose another --out")
    aside = owned_tempdir(run_dir, OVERWRITTEN_TAG)
    try:
        os.replace(run_dir, aside / run_dir.name)  # one rename: the old run leaves whole
    except OSError as e:  # a mount point, no permission on the parent, ...: touch nothing
        aside.rmdir()
        raise ConfigError(f"--overwrite: cannot move the old run {run_dir} aside ({e.strerror}); delete it yourself "
                          f"or choose another --out") from None
    run_dir.mkdir()
    shutil.rmtree(aside, ignore_errors=True)


def config_fingerprint(cfg) -> dict:
    """The parts of a run config that must not change across a resume (JSON-safe)."""
    return json.loads(json.dumps(asdict(cfg), default=str))


def config_defaults(cfg) -> dict:
    """The run config's field defaults (JSON-safe), for checkpoints written before a field existed."""
    values = {f.name: f.default for f in fields(cfg) if f.default is not MISSING}
    return json.loads(json.dumps(values, default=str))


def check_resume_config(saved: dict, current: dict, defaults: dict | None = None,
                        ignore=("steps_to_run", "resume", "progress", "workers")) -> None:
    """Refuse a resume whose config differs from the checkpoint's. A field the checkpoint does not
    know (added to the package after it was written) matches when it is at its default."""
    defaults = defaults or {}
    saved = {**{k: v for k, v in defaults.items() if k not in saved and k in current}, **saved}
    diffs = [k for k in set(saved) | set(current) if k not in ignore and saved.get(k) != current.get(k)]
    if diffs:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in sorted(diffs))
        raise ConfigError(f"--resume with a different config ({detail}); use the original flags or a new --out")


# ----------------------------------------------------------------------------- metrics + plots
class MetricsLog:
    """JSON lines, one record per logged step. On resume, records after the resumed step are
    dropped so the file reads as one uninterrupted run."""

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            atomic_write_text(self.path, "")
        elif self.path.exists():
            keep = [r for r in read_metrics(self.path) if r.get("step", -1) < resume_step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))
        self._f = open(self.path, "a")

    def log(self, record: dict) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_metrics(path) -> list[dict]:
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def plot_loss_curve(metrics_path, png_path, title: str = "training loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in read_metrics(metrics_path) if "loss" in r]
    if not records:
        return
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["loss"] for r in records], lw=1, label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("L1 loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = Path(png_path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True, start: int = 0):
    """A rich progress bar; yields update(advance=1, **fields). Silent when disabled."""
    if not enabled:
        yield lambda advance=1, **kw: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
    ) as prog:
        task = prog.add_task(description, total=total, completed=start, info="")

        def update(advance: int = 1, **fields):
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            prog.update(task, advance=advance, info=info)

        yield update


class Stopwatch:
    def __init__(self):
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
