"""The package's layers: every import, lazy ones included, points down (or sideways), never up.

The order is the design card's (shared/DESIGN.md): the robot side (inference -> planning -> robot ->
loop) needs none of the training stack, and the CLI and the demo sit on top of everything.
"""
from __future__ import annotations

import ast
from pathlib import Path

import jepa_edge

PACKAGE = Path(jepa_edge.__file__).parent

# Lowest first. Packages on one line share a rank and may import each other's modules.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "latent", "recipe", "utils"),
    ("bridge", "data", "models"),
    ("checkpoints",),
    ("inference",),
    ("planning",),
    ("robot",),
    ("loop",),
    ("training",),
    ("eval",),
    ("quant",),
    ("profiling",),
    # the chain and the demo run public commands through cli.main, as a user types them
    ("chain", "cli", "demo", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _package_of(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported_packages(tree: ast.AST) -> set[str]:
    """Top-level subpackages of jepa_edge that a module imports, anywhere in its body."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jepa_edge":
            parts = node.module.split(".")
            if len(parts) > 1:
                out.add(parts[1])
            else:  # from jepa_edge import x: x is a subpackage or a name of jepa_edge/__init__.py
                out.update(a.name if a.name in RANK else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("jepa_edge."))
    return out


def import_violations(package_dir: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted(package_dir.rglob("*.py")):
        if path == package_dir / "__init__.py":
            continue  # the facade: `jepa_edge.load_model_dir` / `load_bundle` import lazily from below
        src = _package_of(path, package_dir)
        assert src in RANK, f"{path}: package {src!r} has no layer in LAYERS; add it"
        for dst in sorted(_imported_packages(ast.parse(path.read_text(), str(path)))):
            assert dst in RANK, f"{path} imports jepa_edge.{dst}, which has no layer in LAYERS"
            if RANK[dst] > RANK[src]:
                bad.append(f"{path.relative_to(package_dir)}: {src} imports {dst}, a layer above it")
    return bad


def test_imports_point_down():
    assert import_violations() == []


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "planning").mkdir()
    (tmp_path / "planning" / "x.py").write_text("def f():\n    from jepa_edge.loop.config import RobotConfig\n")
    assert import_violations(tmp_path) == ["planning/x.py: planning imports loop, a layer above it"]
