"""`jepa-edge demo`: the package working, end to end, each step a public command (printed first).

It trains its own small chain with the `demo` recipe (`jepa-edge train --recipe demo`: teacher ->
student -> AC predictor -> INT8 -> goal reaching), builds the Jetson kit and a bench table of its
student, then runs the shipped reference model (reference:tabletop-reach) through goal reaching and
the real-time loop, through the firmware simulator. The report opens with one verdict table: each
number, the threshold it is held to, pass/fail and the reason. Exit code 0 when every step ran and
every threshold was met (--quick: no thresholds), 1 when a step failed (the summary names it and how
to rerun it), 3 when a threshold was missed, 130 when interrupted.
"""
from __future__ import annotations

import shlex


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true",
                   help="tiny models and budgets (about 3 min on 2 cores): checks every step runs, not the numbers")
    p.add_argument("--out", default="runs/demo",
                   help="folder for every step's outputs and the report (default: %(default)s)")
    p.add_argument("--reuse-teacher", metavar="DIR",
                   help="use this teacher model dir (e.g. your own, or a previous demo's runs/demo/chain/pretrain/model) "
                        "instead of pretraining")
    p.add_argument("--no-cache", action="store_true",
                   help="retrain every stage of the demo's chain (by default a rerun into the same --out reuses "
                        "the stages whose inputs have not changed)")


def run(args) -> int:
    from jepa_edge.demo import FULL, QUICK, run_demo

    argv = ["demo"] + (["--quick"] if args.quick else []) + ["--out", args.out]
    argv += ["--reuse-teacher", args.reuse_teacher] if args.reuse_teacher else []
    argv += ["--no-cache"] if args.no_cache else []
    result = run_demo(args.out, QUICK if args.quick else FULL, teacher=args.reuse_teacher,
                      use_cache=not args.no_cache, command="jepa-edge " + shlex.join(argv))
    return result.exit_code
