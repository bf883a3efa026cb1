"""`jepa-edge train-ac --encoder MODEL_DIR`: action-conditioned predictor on a frozen encoder."""
from __future__ import annotations

from jepa_edge.training.ac import TrainACConfig
from jepa_edge.training.cli_args import add_training_arguments, run_training

HELP = {"encoder": "model dir whose encoder stays frozen (teacher or student)"}


def add_arguments(p):
    add_training_arguments(p, TrainACConfig, HELP)


def run(args) -> int:
    from jepa_edge.training.ac import train_ac

    return run_training(args, TrainACConfig, train_ac)
