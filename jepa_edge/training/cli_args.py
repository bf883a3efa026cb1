"""The training commands' flags and `--config FILE.toml`, generated from their frozen config
dataclasses by `jepa_edge.utils.config` (one flag per field, its help the field's comment), so the
CLI, the Python API, the TOML file and the config recorded in a checkpoint can never drift apart.

Precedence: a flag given on the command line > the `--config` file's key > the `--recipe`'s table for
the command (jepa_edge/recipe.py) > the field's default. A run made from a recipe records it (name,
version, file hash, the keys set on top of it) in its model dir's config.json "recipe".
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


def recipe_and_overrides(args, section: str | None, skip=()) -> tuple[dict, dict, dict | None]:
    """(the recipe's table for `section`, the keys set on top of it by --config and the flags given
    (less `skip`), the record a run made from it keeps (None without --recipe))."""
    from jepa_edge.recipe import load_recipe

    given = {k: v for k, v in C.flag_values(args).items() if k not in skip}
    from_file = C.load_toml(args.config) if getattr(args, "config", None) else {}
    overrides = {**from_file, **given}
    if not (section and getattr(args, "recipe", None)):
        return {}, overrides, None
    recipe = load_recipe(args.recipe)
    return recipe.section(section), overrides, {**recipe.record(overrides), "stage": section}


def config_from_args(cls, args, skip=(), section: str | None = None):
    """`cls` from the recipe's `section` and `--config` (each if given) with the flags that were given on top."""
    return build_config(cls, args, recipe_and_overrides(args, section, skip))


def build_config(cls, args, sources: tuple[dict, dict, dict | None]):
    """`cls` from `recipe_and_overrides`'s (recipe table, overrides, _): the overrides win."""
    base, overrides, _ = sources
    data = {**base, **overrides}
    missing = [f.name for f in fields(cls) if f.init and f.default is MISSING and f.default_factory is MISSING
               and f.name not in data]
    if missing:
        raise ConfigError(" and ".join(f"{_flag(m)}" for m in missing) + " required (a flag, or "
                          + ", ".join(f"`{m} = ...`" for m in missing) + " in --config)")
    try:
        return C.build(cls, data)
    except ConfigError as e:
        where = " and ".join(filter(None, (getattr(args, "recipe", None) and f"recipe {args.recipe}",
                                           getattr(args, "config", None))))
        raise ConfigError(f"{where}: {e}" if where else str(e)) from None


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
    p.add_argument("--recipe", metavar="NAME|FILE.toml",
                   help="take the recipe's table for this command (shipped: tabletop-reach, demo); "
                        "--config and flags override it, and the model dir records all three")
    p.add_argument("--config", metavar="FILE.toml",
                   help="the recipe as TOML, the flags below as top-level keys (steps = 800); flags given "
                        "here override it; an unknown key is an error")
    group = p.add_argument_group(f"{cls.__name__} (each also a key of --config)")
    n = add_dataclass_arguments(group, cls, help_text=help_text)
    add_run_arguments(p)
    return n


def run_training(args, cls, train, *, section: str, progress: bool | None = None) -> int:
    """A training command's body: threads, the config from --recipe, --config and the flags,
    `train(cfg, out, ...)`, the recipe recorded in the model dir, and its summary printed as JSON."""
    sources = recipe_and_overrides(args, section)  # the recipe and --config read once
    cfg = build_config(cls, args, sources)  # config errors before anything heavy
    recipe_record = sources[2]
    apply_threads(args)
    show = not args.no_progress if progress is None else progress and not args.no_progress
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        raise ConfigError("--resume continues the run in --out, --overwrite replaces it: pass one of them")
    result = train(cfg, args.out, resume=args.resume, progress=show, overwrite=getattr(args, "overwrite", False),
                   trust_unverified=getattr(args, "trust_unverified", False))
    if recipe_record is not None and int(os.environ.get("RANK", "0")) == 0:
        from jepa_edge.models.model_dir import amend_config

        amend_config(result["model_dir"], recipe=recipe_record)
    print(json.dumps(result, indent=2))
    return 0


def apply_threads(args) -> None:
    threads = args.threads or (int(os.environ["JEPA_EDGE_THREADS"]) if os.environ.get("JEPA_EDGE_THREADS") else None)
    if threads:
        import torch

        torch.set_num_threads(threads)
