"""A 2-process DDP run (gloo, CPU) equals a 1-process run with the same global batch.

Both see the same indices and masks per step (functions of seed and step); each rank keeps half
the rows and DDP averages the gradients, which is the gradient of the global-batch mean loss.
Only the summation order of float sums differs, so losses agree to ~1e-6 relative; we allow
1e-4 (stated tolerance) over 3 steps.
"""
import socket
from dataclasses import replace

import numpy as np
import torch

from jepa_edge.training.common import read_metrics
from jepa_edge.training.ddp import run_local_processes
from jepa_edge.training.pretrain import PretrainConfig, pretrain

TOLERANCE = 1e-4
CFG = PretrainConfig(arch="vit_nano", depth=2, img_size=32, patch_size=8, num_frames=4, predictor_width=64,
                     predictor_depth=1, dataset_size=16, batch_size=8, steps=3, lr=2e-3, warmup_steps=1,
                     ckpt_every=5, log_every=1, device="cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process(tmp_path):
    torch.set_num_threads(1)
    pretrain(CFG, tmp_path / "single", progress=False)
    run_local_processes(2, "jepa_edge.training.pretrain:pretrain",
                        {"cfg": CFG, "out": str(tmp_path / "ddp"), "progress": False}, _free_port())
    single = np.array([r["loss"] for r in read_metrics(tmp_path / "single" / "metrics.jsonl")])
    multi = np.array([r["loss"] for r in read_metrics(tmp_path / "ddp" / "metrics.jsonl")])
    assert len(single) == len(multi) == CFG.steps
    print("max relative difference", np.max(np.abs(multi - single) / np.abs(single)))
    np.testing.assert_allclose(multi, single, rtol=TOLERANCE)
    assert single[0] != single[-1]  # training moved the weights, so later steps test synchronized updates
    # rank 0 alone wrote the checkpoint and the model dir
    assert (tmp_path / "ddp" / "model" / "model.safetensors").exists()
    assert len(list((tmp_path / "ddp" / "checkpoints").glob("step_*"))) == 1
