import re
import subprocess
import sys
from pathlib import Path

from jepa_edge.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


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


def test_doctor_json(capsys):
    assert main(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"torch"' in out and '"cores"' in out


def test_readme_has_exactly_two_setup_commands_and_ci_uses_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- (main-command|ci-test-command) -->\n```bash\n(.+)\n```", readme)
    assert [b[0] for b in blocks] == ["main-command", "ci-test-command"]
    assert "pip install torch==2.13.0" in blocks[1][1] and "pytest" in blocks[1][1]
    assert "ci-test-command" in (ROOT / ".ci" / "run").read_text()


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "jepa_edge", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "jepa-edge" in r.stdout
