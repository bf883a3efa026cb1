"""Recipes: every choice of a working path (teacher, student, AC predictor, calibration, export,
goal evaluation) in one versioned TOML file that ships with the package (`recipes/` in the
repository, `jepa_edge/_shipped/recipes/` in a wheel).

A recipe's tables are named after the commands that read them: `[pretrain]`, `[distill]`,
`[train-ac]` hold those commands' config keys (the same keys as `--config FILE.toml`), `[calibrate]`,
`[export]` and `[eval]` the chain's later stages (chain/stages.py). `jepa-edge <command> --recipe
NAME` takes its table; flags given on top override it, and the run records the recipe (name,
version, file hash) and those overrides. A recipe names no model dirs: the chain wires each stage's
output into the next.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from jepa_edge.errors import ConfigError

RECIPE_FORMAT = 1
SECTIONS = ("pretrain", "distill", "train-ac", "calibrate", "export", "eval")


@dataclass(frozen=True)
class Recipe:
    name: str  # the file's stem: tabletop-reach, demo, or a user's file
    version: str  # the recipe's own version string, recorded with every run
    description: str
    sha256: str  # of the file's bytes: two runs with the same hash ran the same recipe
    path: Path
    ref: str  # how commands name it: the shipped name, or the path given
    sections: dict[str, dict] = field(repr=False)

    def section(self, name: str) -> dict:
        """The table for command/stage `name` (a copy; {} when the recipe has none)."""
        if name not in SECTIONS:
            raise KeyError(f"unknown recipe section {name!r}; known: {', '.join(SECTIONS)}")
        return dict(self.sections.get(name, {}))

    def record(self, overrides: dict | None = None) -> dict:
        """What a run made from this recipe records about it (JSON-safe)."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256,
                "overrides": dict(sorted((overrides or {}).items()))}


def recipes_dir() -> Path:
    from jepa_edge.utils.resources import shipped

    return shipped("recipes")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name (`tabletop-reach`) or a TOML file by path; every table checked
    against SECTIONS (a misspelt table would otherwise be silently ignored)."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        path = recipes_dir() / f"{text}.toml"
        if not path.is_file():
            raise ConfigError(f"no recipe named {text!r}; shipped recipes: {', '.join(recipe_names())} "
                              f"(or pass a path to a .toml file)")
    elif not path.is_file():
        raise ConfigError(f"recipe file {path} does not exist")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe {path}: not valid TOML: {e}") from None
    if data.get("format") != RECIPE_FORMAT:
        raise ConfigError(f"recipe {path}: format = {data.get('format')!r}, this jepa-edge reads format "
                          f"{RECIPE_FORMAT}; upgrade jepa-edge or fix the file")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    unknown = sorted(set(tables) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"recipe {path}: unknown table(s) [{'], ['.join(unknown)}]; known: {', '.join(SECTIONS)}")
    return Recipe(name=path.stem, version=str(data.get("version", "")), description=str(data.get("description", "")),
                  sha256=hashlib.sha256(raw).hexdigest(), path=path, ref=text, sections=tables)
