import argparse
import json
import logging
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from jepa_edge.cli import COMMANDS, _output, build_parser, command_parser, main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
TRT_PROFILE = DATA / "trtexec_profile_vit_small_int8.json"
# Run the CLI in a fresh interpreter where `import torch` (and cv2) fail, as on a robot without them.
NO_TORCH = ("import sys; sys.modules['torch'] = None; sys.modules['cv2'] = None; "
            "from jepa_edge.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]; sys.exit(rc)")


def test_every_command_has_help():
    parser = build_parser()
    names = [c[0] for c in COMMANDS]
    assert len(names) == len(set(names)), "duplicate subcommand"
    for name in names:
        # parse_args exits 0 on --help; any import or argument error would raise first
        try:
            parser.parse_args([name, "--help"])
        except SystemExit as e:
            assert e.code == 0


def test_every_command_explains_itself_and_every_flag_has_help():
    for name, module, _ in COMMANDS:
        p = command_parser(name)
        assert p.description and f"jepa-edge {name}" in p.description, f"{name}: no module docstring as description"
        parsers = [p] + [q for a in p._actions if isinstance(a, argparse._SubParsersAction) for q in a.choices.values()]
        for q in parsers:
            for a in q._actions:
                if a.option_strings and not isinstance(a, argparse._HelpAction):
                    text = re.sub(r"\(default: [^)]*\)$", "", a.help or "").strip()
                    assert text, f"jepa-edge {name}: {a.option_strings[0]} has no help text"


def test_top_level_help_imports_no_command_module():
    code = ("import sys; from jepa_edge.cli import main; main(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('jepa_edge.cli.')), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "COMMAND" in r.stdout
    for name, _, help_text in COMMANDS:
        assert name in r.stdout
    assert r.stderr.strip() == "['jepa_edge.cli._output']"


def _no_torch(*argv, **kw):
    return subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, argv)], capture_output=True, text=True,
                          timeout=120, **kw)


def test_help_bridge_and_profile_need_no_torch(tmp_path):
    for argv in (["--help"], ["bridge", "--help"], ["bridge", "ping", "--help"], ["bridge", "sim", "--help"],
                 ["profile", "--help"], ["doctor", "--help"], ["run", "--help"]):
        r = _no_torch(*argv)
        assert r.returncode == 0 and "usage: jepa-edge" in r.stdout, (argv, r.stderr[-2000:])
    # profile runs for real (a trtexec profile from the Jetson kit, tabulated here) ...
    r = _no_torch("profile", TRT_PROFILE, "--top", "3", "--json", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["ops"]  # stdout is the JSON alone; the table went to stderr
    # ... and bridge reaches the link (no device there: the one-line error, not an ImportError)
    r = _no_torch("bridge", "ping", tmp_path / "no-such-tty", "--count", "1")
    assert r.returncode == 2 and "jepa-edge bridge: error:" in r.stderr, r.stderr[-2000:]
    # the shim works: a command that needs torch fails under it
    r = _no_torch("pretrain", "--help")
    assert r.returncode != 0 and "torch" in r.stderr


@pytest.mark.skipif(not __import__("shutil").which("cc") and not __import__("shutil").which("gcc"),
                    reason="no C compiler for the firmware simulator")
def test_bridge_ping_against_the_simulator_without_torch(tmp_path):
    from jepa_edge.bridge.simulator import start_simulator

    with start_simulator() as sim:
        r = _no_torch("bridge", "ping", sim.path, "--count", "5", "--json", "-")
        assert r.returncode == 0, r.stderr[-2000:]
        stats = json.loads(r.stdout)
        assert stats["frames_rx"] > 0 and "connected to" in r.stderr
        r = _no_torch("-q", "bridge", "ping", sim.path, "--count", "3", "--json", tmp_path / "s.json")
        assert r.returncode == 0 and json.loads((tmp_path / "s.json").read_text())["frames_rx"] > 0
        assert "answered" in r.stdout and "wrote" not in r.stderr  # results stay, info lines go


def test_doctor_json(capsys, tmp_path):
    assert main(["doctor", "--json", "-"]) == 0
    info = json.loads(capsys.readouterr().out)  # `--json -`: stdout is the JSON alone
    assert "torch" in info["versions"] and info["cores"] >= 1
    assert main(["doctor", "--json", str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["cores"] == info["cores"]
    assert "backend" in capsys.readouterr().out  # with a file, the table still prints


def test_json_means_a_path_or_stdout_in_every_command():
    for name, _, _ in COMMANDS:
        p = command_parser(name)
        parsers = [p] + [q for a in p._actions if isinstance(a, argparse._SubParsersAction) for q in a.choices.values()]
        for q in parsers:
            for a in q._actions:
                if "--json" in a.option_strings:
                    assert a.nargs is None and a.const is None and a.metavar == "PATH", f"{name} --json"
                    assert "'-'" in a.help


def test_quiet_silences_info_and_verbose_turns_on_debug_logging(capsys, caplog, tmp_path):
    out = tmp_path / "p.json"
    assert main(["profile", str(TRT_PROFILE), "--top", "2", "--json", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    assert main(["-q", "profile", str(TRT_PROFILE), "--top", "2", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "op" in captured.out.lower()  # the result table stays
    assert not _output.quiet()  # restored after the command
    with caplog.at_level(logging.DEBUG, logger="jepa_edge"):
        assert main(["-v", "profile", str(TRT_PROFILE), "--top", "2"]) == 0
    assert any(r.levelno == logging.DEBUG and r.name.startswith("jepa_edge") for r in caplog.records)
    caplog.clear()
    assert main(["profile", str(TRT_PROFILE), "--top", "2"]) == 0
    assert not any(r.levelno == logging.DEBUG and r.name.startswith("jepa_edge") for r in caplog.records)
    assert main(["-q", "-v", "doctor"]) == 2  # one or the other
    assert main(["doctor", "-q"]) == 2  # global options go before the command
    capsys.readouterr()


def test_a_bad_choice_is_a_usage_error_naming_the_flag(capsys):
    assert main(["run", "--planner.kind", "gradient"]) == 2
    err = capsys.readouterr().err
    assert "--planner.kind" in err and "cem" in err and "mppi" in err


def test_readme_has_exactly_two_setup_commands_and_ci_uses_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- (main-command|ci-test-command) -->\n```bash\n(.+)\n```", readme)
    assert [b[0] for b in blocks] == ["main-command", "ci-test-command"]
    assert "pip install torch==2.13.0" in blocks[1][1] and "pytest" in blocks[1][1]
    assert "ci-test-command" in (ROOT / ".ci" / "run").read_text()


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "jepa_edge", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "jepa-edge" in r.stdout


def test_every_readme_command_line_parses():
    """Each `jepa-edge ...` line of README's bash blocks is a valid command line (flags that exist,
    choices allowed): a renamed flag must not leave the manual behind."""
    readme = (ROOT / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
             for ln in block.splitlines()]
    commands = [shlex.split(ln)[1:] for ln in lines if ln.startswith("jepa-edge ")]
    assert len(commands) >= 15
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # a flag the command lacks exits here
        assert args.command == argv[0]
