"""Training: loss goes down, kill-and-resume is exact, bad inputs give clear errors.

Tiny models (2-block ViTs at 32 px) and a few steps: the whole file runs in seconds on 2 cores.
"""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from jepa_edge.errors import CheckpointError, ConfigError, DataError
from jepa_edge.training.common import load_state, read_metrics, save_state
from jepa_edge.training.loop import SimulatedCrash
from jepa_edge.training.pretrain import PretrainConfig, pretrain

TINY = PretrainConfig(arch="vit_nano", depth=2, img_size=32, patch_size=8, num_frames=4, predictor_width=64,
                      predictor_depth=1, dataset_size=24, batch_size=8, steps=8, lr=2e-3, start_lr=2e-4,
                      warmup_steps=2, ckpt_every=3, log_every=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def losses(run_dir):
    return [r["loss"] for r in read_metrics(run_dir / "metrics.jsonl")]


def test_loss_goes_down_on_a_tiny_run(tmp_path):
    cfg = replace(TINY, num_frames=1, steps=20, warmup_steps=4)  # I-JEPA on images
    out = pretrain(cfg, tmp_path, progress=False)
    curve = losses(tmp_path)
    assert len(curve) == 20
    assert np.mean(curve[-5:]) < 0.8 * np.mean(curve[:5]), curve
    assert (tmp_path / "loss.png").stat().st_size > 1000
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["training"]["recipe"] == "i-jepa" and config["parts"] == ["encoder", "predictor"]
    assert out["steps"] == 20


def test_kill_and_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    pretrain(TINY, full, progress=False)
    with pytest.raises(SimulatedCrash):  # dies after step 5; the newest checkpoint is step 3
        pretrain(TINY, killed, progress=False, crash_after_step=5)
    assert json.loads((killed / "checkpoints" / "latest.json").read_text())["step"] == 3
    result = pretrain(TINY, killed, progress=False, resume=True)
    assert result["resumed_from"] == 3
    assert losses(killed) == losses(full)  # bit-exact, every step
    a = load_file(str(full / "model" / "model.safetensors"))
    b = load_file(str(killed / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_config_and_a_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        pretrain(TINY, tmp_path / "nothing", progress=False, resume=True)
    pretrain(replace(TINY, steps=4), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="lr"):
        pretrain(replace(TINY, steps=4, lr=1e-2), tmp_path / "r", progress=False, resume=True)


def test_dense_pretraining_trains_the_context_tokens_too_and_resumes_with_its_head(tmp_path):
    """--dense adds a loss on the unmasked tokens (through a linear head that is trained and
    checkpointed with the rest, so a killed run still resumes bit for bit)."""
    cfg = replace(TINY, dense=True, masking="random", steps=6)
    pretrain(replace(cfg, dense=False), tmp_path / "plain", progress=False)
    pretrain(cfg, tmp_path / "full", progress=False)
    rows = read_metrics(tmp_path / "full" / "metrics.jsonl")
    assert all(r["loss"] == pytest.approx(r["loss_pred"] + r["loss_dense"]) for r in rows)  # dense_weight 1, no VICReg
    assert [r["loss"] for r in rows] != losses(tmp_path / "plain")
    with pytest.raises(SimulatedCrash):
        pretrain(cfg, tmp_path / "killed", progress=False, crash_after_step=4)
    pretrain(cfg, tmp_path / "killed", progress=False, resume=True)
    assert losses(tmp_path / "killed") == losses(tmp_path / "full")
    config = json.loads((tmp_path / "full" / "model" / "config.json").read_text())
    assert config["training"]["recipe"] == "v-jepa+dense" and config["parts"] == ["encoder", "predictor"]


def test_checkpoint_state_roundtrip_without_pickle(tmp_path):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.randn(3, 2))], betas=(0.9, 0.95))
    opt.param_groups[0]["params"][0].grad = torch.ones(3, 2)
    opt.step()
    state = {"opt": opt.state_dict(), "np": np.random.get_state(), "t": (1, 2.5, "x", None)}
    save_state(tmp_path / "s", state)
    back = load_state(tmp_path / "s")
    assert back["t"] == (1, 2.5, "x", None)
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.95)
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert np.array_equal(back["np"][1], state["np"][1])
    assert not list((tmp_path / "s").glob("*.pt")) and not list((tmp_path / "s").glob("*.pkl"))


def test_empty_folder_and_bad_arrays_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        pretrain(replace(TINY, num_frames=1, data=str(empty)), tmp_path / "r1", progress=False)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 32, 32), np.uint8))  # no RGB axis
    with pytest.raises(DataError):
        pretrain(replace(TINY, num_frames=1, data=str(bad)), tmp_path / "r2", progress=False)
    with pytest.raises(DataError, match="no such file"):
        pretrain(replace(TINY, data=str(tmp_path / "missing")), tmp_path / "r3", progress=False)


def test_pretrain_on_a_npy_of_images(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(16, 40, 40, 3), dtype=np.uint8)  # resized to 32 px by the reader
    np.save(tmp_path / "imgs.npy", arr)
    out = pretrain(replace(TINY, num_frames=1, data=str(tmp_path / "imgs.npy"), steps=3), tmp_path / "r", progress=False)
    assert np.isfinite(out["final_loss"])


def test_bad_configs_are_refused():
    from jepa_edge.training.ac import TrainACConfig
    from jepa_edge.training.distill import DistillConfig

    with pytest.raises(ConfigError):
        PretrainConfig(precision="fp16")
    for bad in ({"steps": 0}, {"batch_size": 0}):  # every training command, train-ac included
        with pytest.raises(ConfigError, match="steps and batch_size"):
            PretrainConfig(**bad)
        with pytest.raises(ConfigError, match="steps and batch_size"):
            DistillConfig(teacher="t", **bad)
        with pytest.raises(ConfigError, match="steps and batch_size"):
            TrainACConfig(encoder="e", **bad)
    with pytest.raises(ConfigError, match="patch"):
        replace(TINY, arch="vit_nano/16", patch_size=8).encoder_config()
    with pytest.raises(ConfigError, match="divisible"):
        from jepa_edge.training.ddp import DistEnv, local_rows

        local_rows(9, DistEnv(rank=0, world_size=2))


def test_resume_accepts_a_checkpoint_older_than_a_config_field_at_its_default():
    from jepa_edge.training.common import check_resume_config

    current = {"lr": 1e-3, "dense": False, "steps": 10}
    defaults = {"lr": 5e-4, "dense": False, "steps": 600}
    check_resume_config({"lr": 1e-3, "steps": 10}, current, defaults)  # written before `dense` existed
    with pytest.raises(ConfigError, match="dense: False -> True"):
        check_resume_config({"lr": 1e-3, "steps": 10}, {**current, "dense": True}, defaults)
    with pytest.raises(ConfigError, match="lr"):
        check_resume_config({"steps": 10, "dense": False}, current, defaults)  # missing: read as its default 5e-4
