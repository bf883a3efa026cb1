"""How the shipped reference model holds up on built-in worlds it was not trained on.

    python experiments/reference_variations.py                       # -> experiments/results/reference_variations.json
    python experiments/reference_variations.py --episodes 40 --only training fewer_objects

Each variation is one `jepa-edge run --episodes N` of reference:tabletop-reach (INT8 bundles, seeds
from 1000 on, random and oracle beside it) with `--sim.*` flags the model never saw in training:
fewer and more objects, other colours, the occluder moved. The unvaried world is run alongside
with the same planner settings, so every drop is measured against it in the same run.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIATIONS = {  # name -> the --sim flags
    "training": [],
    "fewer_objects": ["--sim.n_objects", "1"],
    "more_objects": ["--sim.n_objects", "6"],
    "shifted_colours": ["--sim.palette", "shifted"],
    "other_background": ["--sim.palette", "background"],
    "occluder_moved": ["--sim.occluder", "0.08,0.08,0.3,0.92"],  # the same screen, moved from the middle to the left
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--iterations", type=int, default=1, help="CEM iterations per action (1: the real-time loop's)")
    p.add_argument("--only", nargs="+", choices=list(VARIATIONS))
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "reference_variations.json")
    args = p.parse_args()

    from jepa_edge.chain.reference import reference_info
    from jepa_edge.cli import main as cli_main
    from jepa_edge.utils.device_info import describe
    from jepa_edge.utils.files import atomic_write_json

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or VARIATIONS:
            out = Path(tmp) / f"{name}.json"
            argv = ["run", "--episodes", str(args.episodes), "--first-seed", "1000", "--methods", "random,student,oracle",
                    "--models.encoder", "reference:tabletop-reach", "--sim.max_steps", "60", "--planner.samples", "256",
                    "--planner.iterations", str(args.iterations), *VARIATIONS[name], "--json", str(out)]
            t0 = time.perf_counter()
            code = cli_main(argv)
            if code:
                return code
            res = json.loads(out.read_text())
            rows[name] = {"command": "jepa-edge " + shlex.join(argv), "seconds": round(time.perf_counter() - t0, 1),
                          "world_variation": res.get("world_variation", {}),
                          **{m: {k: r[k] for k in ("success_rate", "successes", "episodes", "final_distance_mean",
                                                   "faulted", "steps_to_goal")}
                             for m, r in res["methods"].items()}}
            print(f"{name}: " + " | ".join(f"{m} {100 * rows[name][m]['success_rate']:.0f}%"
                                           for m in ("random", "student", "oracle")), flush=True)
    base = rows.get("training", {}).get("student", {}).get("success_rate")
    for row in rows.values():
        if base is not None:
            row["student_drop_points"] = round(100 * (base - row["student"]["success_rate"]), 1)
    atomic_write_json(args.out, {"what": __doc__.splitlines()[0], "command": "python experiments/reference_variations.py "
                                 + shlex.join(sys.argv[1:]), "machine": describe(),
                                 "reference": {k: reference_info("tabletop-reach")[k] for k in ("recipe", "made_by", "files")},
                                 "variations": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
