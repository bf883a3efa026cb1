"""How long `jepa-edge` takes to answer before it does any work, and whether it imported torch.

Each command runs in a fresh interpreter (`python -c "... main(argv)"`), alternating between this
tree and, with `--baseline REV`, the package as it was at git revision REV (extracted with
`git archive` into a temp dir and put first on PYTHONPATH), so both see the same machine load.
Reports the median and min wall time per command and whether `torch` was in `sys.modules` at exit.

    python benchmarks/bench_cli_startup.py --baseline f6b1f3f --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

COMMANDS = (["--help"], ["bridge", "ping", "--help"], ["profile", "--help"], ["run", "--help"])
PROBE = ("import sys, json; from jepa_edge.cli import main\n"
         "try:\n    main(json.loads(sys.argv[1]))\nexcept SystemExit:\n    pass\n"
         "sys.stderr.write('TORCH=%d\\n' % ('torch' in sys.modules))")


def time_once(pythonpath: Path, argv: list[str]) -> tuple[float, bool]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], env=env, cwd=pythonpath,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    return seconds, "TORCH=1" in done.stderr


def extract(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), rev, "jepa_edge"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="git revision to compare with (side by side, alternating)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_startup.json")
    args = ap.parse_args(argv)
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        if args.baseline:
            trees[f"baseline {args.baseline}"] = extract(args.baseline, Path(tmp))
        samples = {(name, " ".join(c)): [] for name in trees for c in COMMANDS}
        torch_seen = {}
        for _ in range(args.rounds):
            for command in COMMANDS:
                for name, path in trees.items():
                    seconds, torch = time_once(path, command)
                    samples[(name, " ".join(command))].append(seconds)
                    torch_seen[(name, " ".join(command))] = torch
    rows = [{"tree": name, "command": "jepa-edge " + cmd, "median_s": round(statistics.median(s), 3),
             "min_s": round(min(s), 3), "imported_torch": torch_seen[(name, cmd)]}
            for (name, cmd), s in samples.items()]
    for r in rows:
        print(f"{r['tree']:>18}  {r['command']:<32} median {r['median_s']:6.3f} s  min {r['min_s']:6.3f} s  "
              f"torch {'yes' if r['imported_torch'] else 'no'}")
    atomic_write_json(args.out, {"command": "python benchmarks/bench_cli_startup.py " + shlex.join(argv or sys.argv[1:]),
                                 "rounds": args.rounds, "rows": rows, "machine": describe(),
                                 "load_avg_after": os.getloadavg()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
