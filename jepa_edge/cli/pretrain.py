"""`jepa-edge pretrain`: I-JEPA (images) or V-JEPA (clips, --num-frames > 1) self-supervised pretraining.

Run under torchrun for DistributedDataParallel: `torchrun --nproc-per-node 2 -m jepa_edge pretrain ...`.
"""
from __future__ import annotations

from jepa_edge.training.cli_args import add_training_arguments, run_training
from jepa_edge.training.pretrain import PretrainConfig

HELP = {"arch": "encoder size, e.g. vit_small or vit_small/8", "data": "'world' or an image folder, video file/folder, .npy",
        "num_frames": "1 = images (I-JEPA); > 1 = clips (V-JEPA)", "precision": "fp32 or bf16",
        "dense": "also match the EMA target's tokens at the unmasked positions (linear head)"}


def add_arguments(p):
    add_training_arguments(p, PretrainConfig, HELP)


def run(args) -> int:
    from jepa_edge.training.pretrain import pretrain

    return run_training(args, PretrainConfig, pretrain)
