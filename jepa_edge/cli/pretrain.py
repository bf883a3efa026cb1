"""`jepa-edge pretrain`: I-JEPA (images) or V-JEPA (clips, --num-frames > 1) self-supervised pretraining.

Run under torchrun for DistributedDataParallel: `torchrun --nproc-per-node 2 -m jepa_edge pretrain ...`.
"""
from __future__ import annotations

import json

from jepa_edge.training.cli_args import add_dataclass_arguments, add_run_arguments, apply_threads, dataclass_from_args
from jepa_edge.training.pretrain import PretrainConfig

HELP = {"arch": "encoder size, e.g. vit_small or vit_small/8", "data": "'world' or an image folder, video file/folder, .npy",
        "num_frames": "1 = images (I-JEPA); > 1 = clips (V-JEPA)", "precision": "fp32 or bf16"}


def add_arguments(p):
    add_dataclass_arguments(p, PretrainConfig, help_text=HELP)
    add_run_arguments(p)


def run(args) -> int:
    from jepa_edge.training.pretrain import pretrain

    apply_threads(args)
    cfg = dataclass_from_args(PretrainConfig, args)
    result = pretrain(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(result, indent=2))
    return 0
