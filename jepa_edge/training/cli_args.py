"""The training commands' flags and `--config FILE.toml`, generated from their frozen config
dataclasses by `jepa_edge.utils.config` (one flag per field, its help the field's comment), so the
CLI, the Python API, the TOML file and the config recorded in a checkpoint can never drift apart.

Precedence: a flag given on the command line > the `--config` file's key > the field's default.
The TOML file holds the config's fields as top-level keys (`steps = 800`, `masking = "random"`);
an unknown key is an error naming it. `--out`, `--resume`, `--threads` and `--no-progress` are
about one run, not the recipe: they are flags only.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import MISSING, fields, is_dataclass

from jepa_edge.errors import ConfigError
from jepa_edge.utils import config as C


def _flag_order(cls) -> list:
    """The config's own fields first, then the ones it inherits (RunConfig's), so that --help leads
    with what is particular to the command."""
    inherited = {f.name for base in cls.__mro__[1:] if is_dataclass(base) for f in fields(base)}
    return sorted(fields(cls), key=lambda f: f.name in inherited)  # stable: declaration order within each


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_arguments(p, cls, skip=(), help_text: dict | None = None) -> int:
    """One `--field-name` flag per field of `cls` (booleans: `--x/--no-x`); returns the count."""
    return C.add_flags(p, cls, dotted=False, fields=_flag_order(cls), skip=skip, extra_help=help_text)


def config_from_args(cls, args, skip=()):
    """`cls` from `--config` (if given) with the flags that were given on top."""
    given = {k: v for k, v in C.flag_values(args).items() if k not in skip}
    data = C.load_toml(args.config) if getattr(args, "config", None) else {}
    missing = [f.name for f in fields(cls) if f.init and f.default is MISSING and f.default_factory is MISSING
               and f.name not in given and f.name not in data]
    if missing:
        raise ConfigError(" and ".join(f"{_flag(m)}" for m in missing) + " required (a flag, or "
                          + ", ".join(f"`{m} = ...`" for m in missing) + " in --config)")
    return C.load(cls, getattr(args, "config", None), given)


def add_run_arguments(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument("--out", required=out_required, help="run directory (checkpoints, metrics, model/)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (without it, a fresh run there is refused)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes, or whose hashes do not match")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also off with jepa-edge -q)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: $JEPA_EDGE_THREADS, else torch's choice)")


def add_training_arguments(p: argparse.ArgumentParser, cls, help_text: dict | None = None) -> int:
    """The flags of a training command (pretrain, distill, train-ac): `--config`, the config's fields,
    then the run's. Returns how many config flags there are."""
    p.add_argument("--config", metavar="FILE.toml",
                   help="the recipe as TOML, the flags below as top-level keys (steps = 800); flags given "
                        "here override it; an unknown key is an error")
    group = p.add_argument_group(f"{cls.__name__} (each also a key of --config)")
    n = add_dataclass_arguments(group, cls, help_text=help_text)
    add_run_arguments(p)
    return n


def run_training(args, cls, train, *, progress: bool | None = None) -> int:
    """A training command's body: threads, the config from --config and the flags,
    `train(cfg, out, ...)`, and its summary printed as JSON."""
    cfg = config_from_args(cls, args)  # config errors before anything heavy
    apply_threads(args)
    show = not args.no_progress if progress is None else progress and not args.no_progress
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        raise ConfigError("--resume continues the run in --out, --overwrite replaces it: pass one of them")
    result = train(cfg, args.out, resume=args.resume, progress=show, overwrite=getattr(args, "overwrite", False),
                   trust_unverified=getattr(args, "trust_unverified", False))
    print(json.dumps(result, indent=2))
    return 0


def apply_threads(args) -> None:
    threads = args.threads or (int(os.environ["JEPA_EDGE_THREADS"]) if os.environ.get("JEPA_EDGE_THREADS") else None)
    if threads:
        import torch

        torch.set_num_threads(threads)
