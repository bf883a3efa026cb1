"""Reference models: a recipe's result shipped with the package, as pretrained weights are elsewhere.

`reference/NAME/` in the repository (jepa_edge/_shipped/reference/NAME/ in a wheel) holds
- model/: the student encoder + AC predictor, parameters stored in fp16 (the mask-token predictor,
  which planning never uses, is left out), signed as every model dir is;
- reference.json: the commands that made it, the recipe (name, version, hash), every file's sha256,
  and its goal-reaching evaluation (the fp16 weights, INT8 bundles, seeds from 1000 on).

`jepa_edge.load("reference:NAME")` and any command's model argument `reference:NAME` open the model
dir (models/model_dir.py resolve_model_path). Its INT8 bundles are built on first use with the
recipe's calibration and export settings and cached under the user cache (`reference_bundles`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from jepa_edge.chain.stages import ChainLayout, int8_stages
from jepa_edge.errors import ConfigError
from jepa_edge.utils.files import (atomic_write_json, dir_hash, owned_tempdir, read_json, remove_stale_tempdirs,
                                   sha256_file)
from jepa_edge.utils.resources import REFERENCE_PREFIX, reference_model_dir

REFERENCE_FILE = "reference.json"
BUILDING = "building"  # the tag of a cache folder being built (utils/files.py owned_tempdir)
# Bump when the INT8 stages build different bundles from the same inputs, so caches rebuild
# (2: the AC predictor is a shared-frame planning bundle).
BUNDLES_VERSION = 2


def _reference_root(name: str) -> Path:
    """reference/NAME/ (with or without the `reference:` prefix)."""
    return reference_model_dir(name.removeprefix(REFERENCE_PREFIX)).parent


def reference_info(name: str) -> dict:
    """reference.json of the shipped reference NAME (with or without the `reference:` prefix)."""
    return read_json(_reference_root(name) / REFERENCE_FILE, ConfigError, "reinstall jepa-edge")


def verify_reference(name: str) -> Path:
    """The reference's model dir after checking every file against reference.json's sha256."""
    info, root = reference_info(name), _reference_root(name)
    for rel, sha in info["files"].items():
        p = root / rel
        if not p.is_file() or sha256_file(p) != sha:
            raise ConfigError(f"reference {name}: {rel} is missing or does not match its sha256 in {REFERENCE_FILE}; "
                              f"reinstall jepa-edge")
    return root / "model"


def reference_bundles(name: str, *, say=print) -> tuple[Path, Path]:
    """(encoder bundle, AC-predictor bundle) of reference NAME: see `reference_layout`."""
    L = reference_layout(name, say=say)
    return L.bundle("encoder"), L.bundle("ac_predictor")


def reference_layout(name: str, *, say=print) -> ChainLayout:
    """The cache folder (a ChainLayout) of reference NAME's INT8 bundles for the recipe's export target
    and of the calibration sets they were built from. Built here on first use by the recipe's own
    INT8 stages (stages.py int8_stages) and cached by the model's content hash, jepa-edge's version,
    BUNDLES_VERSION and the backend versions. They are built in a temporary
    folder that takes the cache's name only when every stage passed: a bundle that failed its
    accuracy gate is never picked up by a later call."""
    from jepa_edge import __version__
    from jepa_edge.cli import main as cli_main
    from jepa_edge.recipe import load_recipe
    from jepa_edge.utils.device_info import backend_versions
    from jepa_edge.utils.resources import user_cache_dir

    name = name.removeprefix(REFERENCE_PREFIX)
    model = verify_reference(name)
    recipe = load_recipe(reference_info(name)["recipe"]["name"])
    key = hashlib.sha256(json.dumps({"model": dir_hash(model), "export": recipe.section("export"),
                                     "calibrate": recipe.section("calibrate"), "jepa_edge": __version__,
                                     "bundles": BUNDLES_VERSION, "backends": backend_versions()},
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    root = user_cache_dir() / "reference" / f"{name}-{key}"
    if not root.is_dir():
        say(f"reference:{name}: building its INT8 bundles once ({recipe.section('export').get('target')}, "
            f"cached in {root})")
        remove_stale_tempdirs(root, BUILDING)
        tmp = owned_tempdir(root, BUILDING)
        try:
            for stage in int8_stages(recipe, model, ChainLayout(tmp)):
                code = cli_main(["-q", *stage.argv])
                if code:
                    raise ConfigError(f"reference:{name}: {stage.name} failed (exit {code}); see the lines above")
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return ChainLayout(root)


def pack_reference(chain_dir: str | Path, dest: str | Path, *, made_by: str, eval_json: str | Path | None = None,
                   packed_by: str = "", eval_command: str = "") -> dict:
    """Write a reference model into `dest` (reference/NAME/) from a finished `train --recipe` folder:
    the train-ac model dir without its mask-token predictor, parameters in fp16, and reference.json.
    `eval_json`: the goal-reaching evaluation of the packed weights (`run --episodes ... --json`)."""
    import torch

    from jepa_edge.models.model_dir import load_model_dir, save_model_dir

    chain_dir, dest = Path(chain_dir), Path(dest)
    report = read_json(chain_dir / "report.json", ConfigError, "rerun jepa-edge train")
    bundle = load_model_dir(chain_dir / "train-ac" / "model")
    bundle.predictor = None  # the mask-token predictor: pretraining's, never used to plan
    save_model_dir(dest / "model", bundle, source={"kind": "reference", "recipe": report["recipe"]}, dtype=torch.float16)
    files = {p.relative_to(dest).as_posix(): sha256_file(p) for p in sorted((dest / "model").iterdir())}
    info = {"name": dest.name, "recipe": report["recipe"], "made_by": made_by, "packed_by": packed_by,
            "weights_dtype": "float16", "bytes": sum((dest / f).stat().st_size for f in files),
            "files": files, "chain": {"seconds": report["built_seconds"], "verdicts": report["verdicts"]}}
    if eval_json is not None:  # the summary per method; the per-episode records stay in the eval's own JSON
        ev = read_json(eval_json, ConfigError, "rerun the evaluation")
        ev["methods"] = {k: {f: v for f, v in m.items() if f != "per_episode"} for k, m in ev["methods"].items()}
        info["eval"] = {"command": eval_command, **ev}
    atomic_write_json(dest / REFERENCE_FILE, info)
    for p in (dest / REFERENCE_FILE, *(dest / f for f in files)):
        p.chmod(0o644)  # package data every user of an install reads (atomic writes leave 0600)
    return info
