"""`jepa-edge train-ac --encoder MODEL_DIR`: action-conditioned predictor on a frozen encoder.

Latents of world trajectories are computed once by the frozen encoder and cached; the predictor
learns z[t+1] from z[<=t], actions and robot states with V-JEPA 2-AC's two L1 terms (teacher
forcing and a short autoregressive rollout). OUT/model is a model dir holding the encoder and the
ac_predictor, with the latent recipe the loop's planner reads (config.json "ac"); prints a JSON summary. The recipe can come from
`--config FILE.toml` (the flags below as keys); flags given override it.
"""
from __future__ import annotations

import os
from pathlib import Path

from jepa_edge.cli import _output


def add_arguments(p):
    from jepa_edge.training.ac import TrainACConfig
    from jepa_edge.training.cli_args import add_training_arguments

    add_training_arguments(p, TrainACConfig)


def run(args) -> int:
    from jepa_edge.eval.energy_direction import record_planner_search
    from jepa_edge.training.ac import TrainACConfig, train_ac
    from jepa_edge.training.cli_args import run_training

    def train_then_measure(cfg, out, **kw):
        """Train, then measure the planner settings the bundle will carry (`--planner-search-s`);
        under torchrun only rank 0, which wrote the model dir, measures."""
        result = train_ac(cfg, out, **kw)
        if int(os.environ.get("RANK", "0")) == 0:
            record_planner_search(Path(result["model_dir"]), cfg, kw.get("progress", False))
        return result

    return run_training(args, TrainACConfig, train_then_measure, section="train-ac", progress=not _output.quiet())
