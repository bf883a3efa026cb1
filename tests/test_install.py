"""Installable anywhere: every file the package reads at run time ships in the wheel and is found
through jepa_edge.utils.resources, never by walking up from `__file__`.

Without building a wheel (that is slow; .ci/run builds and smoke-tests one): pyproject.toml's
package list, package-dir mapping and package-data globs are checked against the source tree and
against resources.SHIPPED, and the wheel's layout (jepa_edge/_shipped/NAME/) is rebuilt in a temp
folder from those globs to show that targets, Jetson kits and the firmware simulator work from it.
"""
import json
import re
import shutil
from pathlib import Path

import pytest

import jepa_edge
from jepa_edge.utils import resources
from jepa_edge.utils.resources import SHIPPED, MissingPackageData, shipped

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGE_DIR = Path(jepa_edge.__file__).parent

# What the run-time code opens in each folder (on top of every file a glob matches).
NEEDED = {
    "targets": ["jetson-orin-nano.toml", "jetson-orin-nx.toml", "jetson-agx-orin.toml", "openvino-cpu.toml"],
    "jetson": ["build_engine.sh.in", "profile.sh.in", "README.md.in"],
    "firmware_bridge": ["Makefile", "vectors.json", "PROTOCOL.md", "sim/bridge_sim.c", "test/vectors_runner.c",
                        "test/fuzz_runner.c", "test/arduino_stub/Arduino.h", "arduino/jepa_bridge/jepa_bridge.ino"],
    "recipes": ["tabletop-reach.toml", "demo.toml", "demo-quick.toml"],
    "reference": ["tabletop-reach/reference.json", "tabletop-reach/model/config.json",
                  "tabletop-reach/model/model.safetensors"],
}


def shipped_files(name: str) -> set[str]:
    """The files pyproject's package-data globs select from the source folder (what the wheel holds)."""
    s = SHIPPED[name]
    src = ROOT / s.source
    return {p.relative_to(src).as_posix() for g in s.globs for p in src.glob(g) if p.is_file()}


def test_pyproject_lists_every_python_package():
    listed = set(SETUPTOOLS["packages"])
    on_disk = {".".join(d.relative_to(PACKAGE_DIR.parent).parts)
               for d in [PACKAGE_DIR, *PACKAGE_DIR.rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))}
    missing = sorted(on_disk - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml (or the wheel lacks them)"
    shipped_pkgs = {f"{resources.PACKAGE}.{n}" for n in SHIPPED}
    assert listed - on_disk == shipped_pkgs, "pyproject lists packages that are neither in jepa_edge/ nor SHIPPED"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_package_data_is_declared_as_resources_expects(name):
    s, pkg = SHIPPED[name], f"{resources.PACKAGE}.{name}"
    assert SETUPTOOLS["package-dir"][pkg] == s.source
    assert SETUPTOOLS["package-data"][pkg] == list(s.globs)
    assert s.marker in shipped_files(name)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_what_the_code_reads_ships(name):
    files = shipped_files(name)
    assert not [f for f in NEEDED[name] if f not in files], f"not in {name}'s package data: {set(NEEDED[name]) - files}"
    assert not [f for f in files if f.startswith("build/") or f.endswith(".py")]  # no build outputs, no modules
    assert not [f for f in files if "/." in f or f.startswith(".")]  # no editor or OS droppings
    if name == "targets":  # every profile in the folder ships
        assert files == {p.name for p in (ROOT / "export/targets").glob("*.toml")}
    if name == "reference":  # every file a reference.json vouches for ships beside it
        for info in (ROOT / "reference").glob("*/reference.json"):
            assert {f"{info.parent.name}/{f}" for f in json.loads(info.read_text())["files"]} <= files
    if name == "firmware_bridge":  # every source the Makefile may compile ships
        src = ROOT / "firmware_bridge"
        sources = {p.relative_to(src).as_posix()
                   for d in ("src", "sim", "test", "arduino") for p in (src / d).rglob("*") if p.is_file()}
        assert sources <= files, sources - files


def test_editable_install_reads_the_source_tree():
    for name, s in SHIPPED.items():
        d = shipped(name)
        assert (d / s.marker).is_file()
        assert d.resolve() == (ROOT / s.source).resolve()


@pytest.fixture
def wheel_layout(tmp_path, monkeypatch):
    """jepa_edge/_shipped/NAME/ as the wheel lays it out, and no editable source tree to fall back on."""
    pkg = tmp_path / "site-packages" / "jepa_edge"
    for name, s in SHIPPED.items():
        for rel in shipped_files(name):
            (pkg / "_shipped" / name / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / s.source / rel, pkg / "_shipped" / name / rel)
    monkeypatch.setattr(resources, "package_root", lambda: pkg)
    monkeypatch.setattr(resources, "editable_source_tree", lambda: None)
    return pkg


def test_a_wheel_install_finds_targets_templates_and_firmware(wheel_layout, tmp_path, monkeypatch):
    from jepa_edge.quant.jetson_kit import template_dir
    from jepa_edge.quant.targets import all_targets

    for name in SHIPPED:
        assert shipped(name) == wheel_layout / "_shipped" / name
    t = all_targets()
    assert {"jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "openvino-cpu"} <= set(t)
    assert Path(t["jetson-orin-nano"].source).parent == wheel_layout / "_shipped" / "targets"
    monkeypatch.delenv("JEPA_EDGE_JETSON_TEMPLATES", raising=False)
    assert template_dir() == wheel_layout / "_shipped" / "jetson"


@pytest.mark.skipif(shutil.which("make") is None or (shutil.which("gcc") is None and shutil.which("cc") is None),
                    reason="no make or C compiler: the firmware simulator cannot be built")
def test_firmware_builds_from_installed_sources_into_the_user_cache(wheel_layout, tmp_path, monkeypatch):
    from jepa_edge.bridge import simulator

    monkeypatch.setenv("JEPA_EDGE_CACHE", str(tmp_path / "cache"))
    before = sorted(wheel_layout.rglob("*"))
    binary = simulator.build("sim")
    assert sorted(wheel_layout.rglob("*")) == before  # site-packages may be read-only: nothing written there
    src = wheel_layout / "_shipped" / "firmware_bridge"
    assert binary.is_file() and binary.parent == tmp_path / "cache" / f"firmware-{simulator.sources_hash(src)[:16]}"
    # another version of the sources builds elsewhere: a stale binary is never reused
    (src / "src" / "bridge_proto.c").write_text((src / "src" / "bridge_proto.c").read_text() + "\n/* v2 */\n")
    assert simulator.build_dir(src) != binary.parent


def test_missing_package_data_is_an_error_not_fewer_targets(tmp_path, monkeypatch):
    from jepa_edge.quant.targets import all_targets

    monkeypatch.setattr(resources, "package_root", lambda: tmp_path / "jepa_edge")
    monkeypatch.setattr(resources, "editable_source_tree", lambda: None)
    with pytest.raises(MissingPackageData, match="export/targets/ files are missing.*reinstall"):
        all_targets()


def test_env_overrides_still_win(tmp_path, monkeypatch):
    from jepa_edge.quant.jetson_kit import template_dir
    from jepa_edge.quant.targets import all_targets

    (tmp_path / "board-x.toml").write_text('backend = "tensorrt"\nprecisions = ["fp16"]\nkit = true\n')
    monkeypatch.setenv("JEPA_EDGE_TARGETS", str(tmp_path))
    assert "board-x" in all_targets() and "jetson-orin-nano" in all_targets()
    for f in NEEDED["jetson"]:
        shutil.copy2(ROOT / "export/jetson" / f, tmp_path / f)
    monkeypatch.setenv("JEPA_EDGE_JETSON_TEMPLATES", str(tmp_path))
    assert template_dir() == tmp_path


def test_no_module_walks_up_from_its_file():
    bad = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if "parents[" in line or ("__file__" in line and re.search(r"\.parents?\b", line)):
                bad.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{i}: {line.strip()}")
    assert not bad, "package data is found with jepa_edge.utils.resources, not from __file__:\n" + "\n".join(bad)


def test_license_is_an_spdx_expression_with_its_file():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert any(re.match(r"setuptools>=(\d+)", r) and int(re.match(r"setuptools>=(\d+)", r)[1]) >= 77
               for r in PYPROJECT["build-system"]["requires"])
