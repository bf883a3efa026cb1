"""`jepa-edge pretrain`: I-JEPA (images) or V-JEPA (clips, --num-frames > 1) self-supervised pretraining.

A context encoder and a predictor learn to predict the representations of masked blocks (tubes, for
clips) that an EMA target encoder gives: representations, not pixels. Writes OUT/model (a model dir),
OUT/metrics.jsonl, OUT/loss.png and resumable checkpoints; prints a JSON summary.
The recipe can come from `--config FILE.toml` (the flags below as keys); flags given override it.
Run under torchrun for DistributedDataParallel: `torchrun --nproc-per-node 2 -m jepa_edge pretrain ...`.
"""
from __future__ import annotations

from jepa_edge.cli import _output


def add_arguments(p):
    from jepa_edge.training.cli_args import add_training_arguments
    from jepa_edge.training.pretrain import PretrainConfig

    add_training_arguments(p, PretrainConfig)


def run(args) -> int:
    from jepa_edge.training.cli_args import run_training
    from jepa_edge.training.pretrain import PretrainConfig, pretrain

    return run_training(args, PretrainConfig, pretrain, section="pretrain", progress=not _output.quiet())
