"""`jepa-edge distill --teacher MODEL_DIR --student-arch NAME`: V-JEPA 2.1 teacher -> student distillation.

The frozen teacher replaces the EMA target: the student and a predictor learn its layer-normed
tokens at the masked positions (the pretraining masks, L1 loss) and, with --dense, at the visible
ones too; an EMA copy of the student is the result. The teacher's features of the fixed data set
are cached on disk. Writes OUT/model (the student's model dir), metrics, loss.png and resumable
checkpoints; prints a JSON summary. The recipe can come from
`--config FILE.toml` (the flags below as keys); flags given override it.
"""
from __future__ import annotations

from jepa_edge.cli import _output


def add_arguments(p):
    from jepa_edge.training.cli_args import add_training_arguments
    from jepa_edge.training.distill import DistillConfig

    add_training_arguments(p, DistillConfig)


def run(args) -> int:
    from jepa_edge.training.cli_args import run_training
    from jepa_edge.training.distill import DistillConfig, distill

    return run_training(args, DistillConfig, distill, section="distill", progress=not _output.quiet())
