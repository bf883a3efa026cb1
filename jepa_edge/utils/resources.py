"""Package data: the files jepa-edge reads at run time that are not Python modules.

The repository keeps them in its top-level folders, where a user looks for them:

    export/targets/     device profiles (*.toml)                 shipped as jepa_edge/_shipped/targets/
    export/jetson/      Jetson kit script templates (*.in)       shipped as jepa_edge/_shipped/jetson/
    firmware_bridge/    C firmware, its simulator, test vectors  shipped as jepa_edge/_shipped/firmware_bridge/
    recipes/            training recipes (*.toml)                shipped as jepa_edge/_shipped/recipes/
    reference/          reference models (model dir + eval)      shipped as jepa_edge/_shipped/reference/

pyproject.toml maps each folder onto a subpackage of `jepa_edge._shipped` ([tool.setuptools.package-dir]
and [tool.setuptools.package-data]), so a wheel carries them inside the package. This module is the one
place that finds them, and nothing here walks up from `__file__`:

- a wheel install: `importlib.resources.files("jepa_edge") / "_shipped" / NAME`;
- an editable install (`pip install -e .`) maps Python modules only, so the folder is read where it is,
  in the source tree the install was made from (recorded by pip in the dist-info's `direct_url.json`,
  PEP 610).

tests/test_install.py holds `SHIPPED` to pyproject.toml's mapping and package-data globs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from jepa_edge.errors import ConfigError

DIST = "jepa-edge"
PACKAGE = "jepa_edge._shipped"


@dataclass(frozen=True)
class Shipped:
    name: str          # subpackage of jepa_edge._shipped (= its folder in the wheel)
    source: str        # the folder in the repository (pyproject's package-dir)
    globs: tuple[str, ...]  # what ships (pyproject's package-data), relative to `source`
    marker: str        # a file that must be there: proof the folder is complete


SHIPPED: dict[str, Shipped] = {s.name: s for s in (
    Shipped("targets", "export/targets", ("*.toml",), "jetson-orin-nano.toml"),
    Shipped("jetson", "export/jetson", ("*.in",), "build_engine.sh.in"),
    Shipped("recipes", "recipes", ("*.toml",), "tabletop-reach.toml"),
    Shipped("reference", "reference", ("*/*.json", "*/*.md", "*/model/*"), "tabletop-reach/reference.json"),
    Shipped("firmware_bridge", "firmware_bridge",
            ("Makefile", "*.md", "vectors.json", "src/**/*", "sim/**/*", "test/**/*", "arduino/**/*"), "Makefile"),
)}


class MissingPackageData(ConfigError):
    """The install lacks a folder of package data (a broken wheel, or a plain source tree never installed)."""


def shipped(name: str) -> Path:
    """The directory of package data NAME (a key of SHIPPED) as a real path on disk."""
    if name not in SHIPPED:
        raise KeyError(f"unknown package data {name!r}; known: {', '.join(SHIPPED)}")
    s = SHIPPED[name]
    candidates = []
    root = package_root() / "_shipped" / s.name
    if isinstance(root, Path):  # a zipped install would give a zip path: not one we can build C from
        candidates.append(root)
        if (root / s.marker).is_file():  # a wheel install
            return root
    tree = editable_source_tree()
    if tree is not None:  # an editable install
        candidates.append(tree / s.source)
        if (tree / s.source / s.marker).is_file():
            return tree / s.source
    looked = ", ".join(str(d) for d in candidates) or "nowhere (jepa-edge is not installed)"
    raise MissingPackageData(
        f"jepa-edge's {s.source}/ files are missing (jepa_edge imported from {package_root()}; looked in "
        f"{looked}): reinstall jepa-edge (`pip install jepa-edge`, or `pip install -e .` in a source checkout)")


REFERENCE_PREFIX = "reference:"  # `reference:tabletop-reach`: a model dir shipped with the package


def reference_model_dir(name: str) -> Path:
    """The model dir of the shipped reference model NAME (reference/NAME/model in the repository)."""
    root = shipped("reference")
    found = sorted(p.parent.name for p in root.glob("*/reference.json"))
    if name not in found:
        raise ConfigError(f"no reference model {name!r}; shipped: {', '.join(found) or 'none'}")
    return root / name / "model"


def package_root():
    """The installed `jepa_edge` package (a Traversable; a Path unless it was imported from a zip)."""
    return resources.files("jepa_edge")


@lru_cache(maxsize=1)
def editable_source_tree() -> Path | None:
    """The source tree of the editable install of jepa-edge that is imported (from its direct_url.json),
    else None. Every jepa-edge dist-info on sys.path is asked: a source checkout's own
    jepa_edge.egg-info (on sys.path when run from the checkout) has no direct_url.json and is skipped."""
    imported = package_root()
    for dist in metadata.distributions(name=DIST):
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
        except json.JSONDecodeError:
            continue
        url = urlparse(info.get("url", ""))
        if not info.get("dir_info", {}).get("editable") or url.scheme != "file":
            continue
        tree = Path(url2pathname(url.path))
        if isinstance(imported, Path) and (tree / "jepa_edge").resolve() == imported.resolve():
            return tree
    return None


def user_cache_dir() -> Path:
    """Where jepa-edge keeps what it builds or caches: $JEPA_EDGE_CACHE, else $XDG_CACHE_HOME/jepa-edge,
    else ~/.cache/jepa-edge."""
    if os.environ.get("JEPA_EDGE_CACHE"):
        return Path(os.environ["JEPA_EDGE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "jepa-edge"
