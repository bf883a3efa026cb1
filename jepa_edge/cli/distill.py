"""`jepa-edge distill --teacher MODEL_DIR --student-arch NAME`: V-JEPA 2.1 teacher -> student distillation."""
from __future__ import annotations

import json

from jepa_edge.training.cli_args import add_dataclass_arguments, add_run_arguments, apply_threads, dataclass_from_args
from jepa_edge.training.distill import DistillConfig

HELP = {"teacher": "teacher model dir", "student_arch": "student size, e.g. vit_tiny or vit_nano",
        "dense": "also match teacher features on unmasked tokens (linear head)",
        "teacher_cache": "cache teacher features on disk in shards",
        "img_size": "student input size (default: teacher grid side x student patch)"}


def add_arguments(p):
    add_dataclass_arguments(p, DistillConfig, help_text=HELP)
    add_run_arguments(p)


def run(args) -> int:
    from jepa_edge.training.distill import distill

    apply_threads(args)
    cfg = dataclass_from_args(DistillConfig, args)
    result = distill(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0
