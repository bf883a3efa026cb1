"""`jepa-edge train-ac --encoder MODEL_DIR`: action-conditioned predictor on a frozen encoder.

Latents of world trajectories are computed once by the frozen encoder and cached; the predictor
learns z[t+1] from z[<=t], actions and robot states with V-JEPA 2-AC's two L1 terms (teacher
forcing and a short autoregressive rollout). OUT/model is a model dir holding the encoder and the
ac_predictor, with the latent recipe the loop's planner reads (config.json "ac"); prints a JSON summary. The recipe can come from
`--config FILE.toml` (the flags below as keys); flags given override it.
"""
from __future__ import annotations

from jepa_edge.cli import _output


def add_arguments(p):
    from jepa_edge.training.ac import TrainACConfig
    from jepa_edge.training.cli_args import add_training_arguments

    add_training_arguments(p, TrainACConfig)


def run(args) -> int:
    from jepa_edge.training.ac import TrainACConfig, train_ac
    from jepa_edge.training.cli_args import run_training

    return run_training(args, TrainACConfig, train_ac, progress=not _output.quiet())
