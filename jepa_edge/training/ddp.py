"""Scale-out on torch.distributed: DistributedDataParallel under `torchrun` (gloo on CPU, NCCL on GPU).

Every rank builds the same global batch of step `s` (same indices, same masks, both functions of
(seed, s)) and keeps its own contiguous slice of rows, so a run on N processes sees exactly the
data of a 1-process run with the same global batch; DDP averages the gradients, which equals the
gradient of the global-batch mean loss. Only rank 0 writes checkpoints, metrics and model dirs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from jepa_edge.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str = "auto", local_rank: int = 0) -> str:
    if requested == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: no CUDA device here; use --device cpu")
    return requested


def init_from_env(device: str = "auto") -> DistEnv:
    """Join the process group that torchrun (or a test launcher) described in the environment.
    Without WORLD_SIZE > 1 this is a plain single-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = pick_device(device, local)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.startswith("cuda") else "gloo"
        if dev.startswith("cuda"):
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=dev)


def wrap(module: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """DDP-wrap the trainable path (encoder + predictor live in one module so one DDP syncs all)."""
    if not env.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [torch.device(env.device).index] if env.device.startswith("cuda") else None
    return DDP(module, device_ids=ids, broadcast_buffers=False)


def local_rows(global_batch: int, env: DistEnv) -> slice:
    """This rank's contiguous slice of the rows of a global batch."""
    if global_batch % env.world_size:
        raise ConfigError(
            f"--batch-size {global_batch} is not divisible by the {env.world_size} processes; "
            f"use a multiple of {env.world_size}"
        )
    per = global_batch // env.world_size
    return slice(env.rank * per, (env.rank + 1) * per)


def mean_across(value: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Average a scalar over ranks (for logging the global-batch loss)."""
    if not env.distributed:
        return value
    v = value.detach().clone()
    dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return v / env.world_size


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def run_local_processes(world_size: int, target: str, kwargs: dict, port: int) -> None:
    """Start `world_size` local processes (gloo on CPU) that each call `target` ("module:function")
    with `kwargs`, as torchrun would. For tests and single-machine runs without torchrun."""
    import torch.multiprocessing as mp

    mp.spawn(_entry, args=(world_size, target, kwargs, port), nprocs=world_size, join=True)


def _entry(rank: int, world_size: int, target: str, kwargs: dict, port: int) -> None:
    import importlib

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    module, fn = target.split(":")
    getattr(importlib.import_module(module), fn)(**kwargs)
