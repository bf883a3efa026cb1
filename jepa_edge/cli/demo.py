"""`jepa-edge demo`: the whole pipeline on the built-in world, each step a public command (printed first).

pretrain a teacher (or reuse a cached one) -> distill a student -> train the action-conditioned
predictor -> eval probes -> calibration sets -> INT8 for OpenVINO and ONNX Runtime (accuracy gate)
-> Jetson kit -> bench table -> closed loop in simulation through the firmware simulator.
Exit code 0 when every step is ok, 1 when one failed (the summary says which and how to rerun it),
130 when interrupted.
"""
from __future__ import annotations

import shlex


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true",
                   help="tiny models and budgets (about 3 min on 2 cores): checks every step runs, not the numbers")
    p.add_argument("--out", default="runs/demo",
                   help="folder for every step's outputs and the report (default: %(default)s)")
    p.add_argument("--reuse-teacher", metavar="DIR",
                   help="use this teacher model dir (e.g. a previous demo's runs/demo/teacher/model) "
                        "instead of pretraining")
    p.add_argument("--no-cache", action="store_true",
                   help="do not reuse or store the pretrained teacher in $JEPA_EDGE_CACHE/demo "
                        "(default ~/.cache/jepa-edge/demo)")


def run(args) -> int:
    from jepa_edge.demo import FULL, QUICK, run_demo

    argv = ["demo"] + (["--quick"] if args.quick else []) + ["--out", args.out]
    argv += ["--reuse-teacher", args.reuse_teacher] if args.reuse_teacher else []
    argv += ["--no-cache"] if args.no_cache else []
    result = run_demo(args.out, QUICK if args.quick else FULL, teacher=args.reuse_teacher,
                      use_cache=not args.no_cache, command="jepa-edge " + shlex.join(argv))
    return result.exit_code
