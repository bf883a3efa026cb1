"""`jepa-edge distill --teacher MODEL_DIR --student-arch NAME`: V-JEPA 2.1 teacher -> student distillation."""
from __future__ import annotations

from jepa_edge.training.cli_args import add_training_arguments, run_training
from jepa_edge.training.distill import DistillConfig

HELP = {"teacher": "teacher model dir", "student_arch": "student size, e.g. vit_tiny or vit_nano",
        "dense": "also match teacher features on unmasked tokens (linear head)",
        "teacher_cache": "cache teacher features on disk in shards",
        "img_size": "student input size (default: teacher grid side x student patch)"}


def add_arguments(p):
    add_training_arguments(p, DistillConfig, HELP)


def run(args) -> int:
    from jepa_edge.training.distill import distill

    return run_training(args, DistillConfig, distill)
