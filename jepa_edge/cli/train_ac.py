"""`jepa-edge train-ac --encoder MODEL_DIR`: action-conditioned predictor on a frozen encoder."""
from __future__ import annotations

import json

from jepa_edge.training.ac import TrainACConfig
from jepa_edge.training.cli_args import add_dataclass_arguments, add_run_arguments, apply_threads, dataclass_from_args

HELP = {"encoder": "model dir whose encoder stays frozen (teacher or student)"}


def add_arguments(p):
    add_dataclass_arguments(p, TrainACConfig, help_text=HELP)
    add_run_arguments(p)


def run(args) -> int:
    from jepa_edge.training.ac import train_ac

    apply_threads(args)
    cfg = dataclass_from_args(TrainACConfig, args)
    result = train_ac(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0
