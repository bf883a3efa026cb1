"""Command-line flags generated from a frozen config dataclass (one flag per field), so the CLI,
the Python API and the config recorded in a checkpoint can never drift apart."""
from __future__ import annotations

import argparse
import json
import os
import types
import typing
from dataclasses import MISSING, fields, is_dataclass

import torch


def _base_type(tp):
    """int | None -> (int, True); float -> (float, False)."""
    if isinstance(tp, str):
        tp = eval(tp, {"int": int, "float": float, "str": str, "bool": bool, "None": None, "tuple": tuple})  # noqa: S307
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def _flag_order(cls) -> list:
    """The config's own fields first, then the ones it inherits (RunConfig's), so that --help leads
    with what is particular to the command, as it did before the shared fields moved to a base."""
    inherited = {f.name for base in cls.__mro__[1:] if is_dataclass(base) for f in fields(base)}
    return sorted(fields(cls), key=lambda f: f.name in inherited)  # stable: declaration order within each


def add_dataclass_arguments(p: argparse.ArgumentParser, cls, skip=(), help_text: dict | None = None) -> None:
    for f in _flag_order(cls):
        if f.name in skip:
            continue
        tp, optional = _base_type(f.type)
        flag = "--" + f.name.replace("_", "-")
        required = f.default is MISSING
        default = None if required else f.default
        h = (help_text or {}).get(f.name, "") + ("" if required else f" (default: {default})")
        if tp is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=h)
        else:
            p.add_argument(flag, type=tp, default=default, required=required, help=h,
                           metavar=f.name.upper() if tp is str else None)


def dataclass_from_args(cls, args, skip=()):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if f.name not in skip})


def add_run_arguments(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument("--out", required=out_required, help="run directory (checkpoints, metrics, model/)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def add_training_arguments(p: argparse.ArgumentParser, cls, help_text: dict | None = None) -> None:
    """The flags of a training command (pretrain, distill, train-ac): its config's, then the run's."""
    add_dataclass_arguments(p, cls, help_text=help_text)
    add_run_arguments(p)


def run_training(args, cls, train) -> int:
    """A training command's body: threads, the config from the flags, `train(cfg, out, ...)`, and
    its summary printed as JSON."""
    apply_threads(args)
    result = train(dataclass_from_args(cls, args), args.out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0


def apply_threads(args) -> None:
    threads = args.threads or (int(os.environ["JEPA_EDGE_THREADS"]) if os.environ.get("JEPA_EDGE_THREADS") else None)
    if threads:
        torch.set_num_threads(threads)
