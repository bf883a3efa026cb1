"""Fuzz benchmark -> benchmarks/results/fuzz.json.

    python benchmarks/bench_fuzz.py [--cases-per-class N] [--quick]

Every mutation class of jepa_edge.bridge.fuzz (bit flips, bursts, truncations, insertions,
deletions, extra delimiters, duplicated runs, a mix, wrong length with a valid CRC, garbage,
garbage around frames, replayed/reordered COMMANDs) through the Python decoder + FirmwareModel and
through firmware_bridge's fuzz_runner (the C decoder and firmware core, built with
-fsanitize=address,undefined), judged case by case (jepa_edge.bridge.fuzz.run_judged, the same
run `make -C firmware_bridge fuzz` does, only bigger). Must hold: 0 corrupt frames accepted,
0 stale COMMANDs applied, C and Python agree on every line, no sanitizer report. Exit 1 otherwise.
The default (55,000 cases a class) mutates about 1.07 million frames.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from jepa_edge.bridge.fuzz import run_judged
from jepa_edge.bridge.simulator import build
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

OUT = Path(__file__).resolve().parent / "results" / "fuzz.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases-per-class", type=int, default=55_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--quick", action="store_true", help="2,000 cases a class (a smoke run; not written to fuzz.json)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    n = 2000 if a.quick else a.cases_per_class
    runner = build("fuzz-runner")
    t0 = time.perf_counter()
    load0 = list(os.getloadavg())

    def progress(ci, nc, name, done, total):
        print(f"\r[{ci + 1}/{nc}] {name:28s} {done:7d}/{total} cases", end="", file=sys.stderr, flush=True)

    r = run_judged(str(runner), n, seed=a.seed, progress=progress)
    print(file=sys.stderr)
    wall = time.perf_counter() - t0
    tot = r["total"]
    doc = {
        "command": "python benchmarks/bench_fuzz.py" + (" --quick" if a.quick else f" --cases-per-class {n}")
                   + f" --seed {a.seed}",
        "machine": (machine := describe()), "cpu": machine["cpu"], "cores": machine["cores"],
        "loadavg_before": load0, "loadavg_after": list(os.getloadavg()),
        "c_runner": "firmware_bridge test/fuzz_runner.c, -fsanitize=address,undefined -fno-sanitize-recover=all",
        "cases_per_class": n, "classes": r["classes"], "total": tot,
        "c": {k: v for k, v in r["c"].items() if k != "exit_codes"} | {"runs": len(r["c"]["exit_codes"]),
                                                                       "nonzero_exits": sum(x != 0 for x in r["c"]["exit_codes"])},
        "seconds": {"wall": round(wall, 1), "python": round(r["python_seconds"], 1), "c": round(r["c"]["seconds"], 1)},
        "rates": {"python_frames_per_s": round(tot["frames_sent"] / max(r["python_seconds"], 1e-9)),
                  "c_frames_per_s_under_asan": round(tot["frames_sent"] / max(r["c"]["seconds"], 1e-9))},
        "ok": r["ok"],
        "must_hold": "corrupt_frames_accepted == c_corrupt_frames_accepted == 0, stale_commands_applied == "
                     "c_stale_commands_applied == 0, c_python_disagreements == 0, no sanitizer report",
    }
    doc["c"].pop("seconds", None)
    if not a.quick:
        atomic_write_json(a.out, doc)
    print(f"{tot['cases']} cases, {tot['frames_sent']} frames sent, {tot['frames_mutated']} mutated; corrupt accepted "
          f"{tot['corrupt_frames_accepted']} (Python) / {tot['c_corrupt_frames_accepted']} (C); stale applied "
          f"{tot['stale_commands_applied']} / {tot['c_stale_commands_applied']}; C!=Python "
          f"{tot['c_python_disagreements']}; {wall:.0f} s -> {'PASS' if r['ok'] else 'FAIL'}")
    if not a.quick:
        print(f"wrote {a.out}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
