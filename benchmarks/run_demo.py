"""Time `jepa-edge demo` as a new user runs it: a fresh process, no cached teacher.

    python benchmarks/run_demo.py            # full demo -> benchmarks/results/demo.json
    python benchmarks/run_demo.py --quick    # --quick   -> benchmarks/results/demo_quick.json

Records the wall-clock of the whole process (imports included) and of every step, the final
numbers of the demo's summary.json, the command and the machine (with its load average before
and after: on a busy machine the times are not the idle-machine budget).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, help="demo output folder (default: a fresh temporary folder)")
    p.add_argument("--json", type=Path, help="result file (default: benchmarks/results/demo[_quick].json)")
    args = p.parse_args()

    from jepa_edge.utils.device_info import describe
    from jepa_edge.utils.files import atomic_write_json

    result_path = args.json or ROOT / "benchmarks" / "results" / ("demo_quick.json" if args.quick else "demo.json")
    with tempfile.TemporaryDirectory(prefix="jepa-edge-demo-bench-") as tmp:
        out = args.out or Path(tmp) / "demo"
        demo_argv = ["demo", *(["--quick"] if args.quick else []), "--out", str(out), "--no-cache"]
        env = {**os.environ, "JEPA_EDGE_CACHE": str(Path(tmp) / "cache")}  # nothing cached from earlier runs
        load_before = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "jepa_edge", *demo_argv], env=env)
        wall = time.perf_counter() - t0
        load_after = loadavg()
        summary_path = out / "report" / "summary.json"
        if not summary_path.exists():
            print(f"the demo wrote no report (exit {proc.returncode})", file=sys.stderr)
            return 1
        summary = json.loads(summary_path.read_text())

    result = {
        "what": "jepa-edge demo" + (" --quick" if args.quick else "") + ": wall-clock per step and final numbers",
        "command": "python benchmarks/run_demo.py" + (" --quick" if args.quick else ""),
        "demo_command": "jepa-edge " + " ".join(demo_argv),
        "machine": describe(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "budget_s": 180 if args.quick else 600,
        "process_wall_s": round(wall, 1),
        "demo_seconds": summary["seconds"],
        "demo_cpu_seconds": summary["cpu_seconds"],
        "exit_code": proc.returncode,
        "ok": summary["ok"],
        "sizes": summary["sizes"],
        "steps": [{k: s[k] for k in ("name", "status", "seconds", "cpu_seconds", "command", "error")}
                  for s in summary["steps"]],
        "metrics": {m["key"]: {"value": m["value"], "unit": m["unit"], "label": m["label"]}
                    for m in summary["metrics"]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(result_path, result)
    print(f"wrote {result_path}: {wall:.0f} s wall (budget {result['budget_s']} s), exit {proc.returncode}, "
          f"load {load_before} -> {load_after} on {result['machine'].get('cores')} cores")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
