"""Issue 26, items 1 and 2: a training run is never destroyed by starting it again, and a
checkpoint whose bytes changed is never resumed from.

Tiny models (the 2-block ViT of test_train.py) and a few steps.
"""
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jepa_edge.cli import main
from jepa_edge.errors import CheckpointError, ConfigError
from jepa_edge.training.common import CHECKSUMS, Checkpointer
from jepa_edge.training.loop import SimulatedCrash
from jepa_edge.training.pretrain import PretrainConfig, pretrain

TINY = PretrainConfig(arch="vit_nano", depth=2, img_size=32, patch_size=8, num_frames=1, predictor_width=64,
                      predictor_depth=1, dataset_size=16, batch_size=4, steps=8, lr=2e-3, start_lr=2e-4,
                      warmup_steps=2, ckpt_every=3, log_every=1)
FLAGS = ["--arch", "vit_nano", "--depth", "2", "--img-size", "32", "--patch-size", "8", "--num-frames", "1",
         "--predictor-width", "64", "--predictor-depth", "1", "--dataset-size", "16", "--batch-size", "4",
         "--steps", "8", "--lr", "2e-3", "--start-lr", "2e-4", "--warmup-steps", "2", "--ckpt-every", "3",
         "--log-every", "1", "--no-progress", "--threads", "1"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


# ----------------------------------------------------------------------------- 1. starting a run again
def test_a_fresh_run_into_a_run_dir_is_refused_and_leaves_the_old_run_byte_identical(tmp_path, capsys):
    run = tmp_path / "r"
    with pytest.raises(SimulatedCrash):  # killed after step 7: checkpoints 3 and 6, 7 metrics lines
        pretrain(TINY, run, progress=False, crash_after_step=7)
    before = snapshot(run)
    assert any(k.startswith("checkpoints/step_") for k in before) and "metrics.jsonl" in before

    assert main(["pretrain", *FLAGS, "--out", str(run)]) == 2  # the same command again, without --resume
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err and "--overwrite" in err, err
    assert snapshot(run) == before  # every file of the old run, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # nothing beside it either

    with pytest.raises(ConfigError, match="--overwrite"):  # the Python API refuses the same way
        pretrain(TINY, run, progress=False)
    assert snapshot(run) == before
    # and the old run still resumes
    assert pretrain(TINY, run, progress=False, resume=True)["resumed_from"] == 6


def test_overwrite_replaces_the_old_run_whole(tmp_path, capsys):
    run = tmp_path / "r"
    with pytest.raises(SimulatedCrash):
        pretrain(replace(TINY, seed=1), run, progress=False, crash_after_step=7)
    (run / "notes.txt").write_text("mine")  # anything in the old run dir goes with it
    assert main(["pretrain", *FLAGS, "--out", str(run), "--resume", "--overwrite"]) == 2  # which one?
    assert "one of them" in capsys.readouterr().err and (run / "notes.txt").exists()
    fresh = pretrain(replace(TINY, steps=4), run, progress=False, overwrite=True)
    assert fresh["resumed_from"] == 0
    assert not (run / "notes.txt").exists()
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["latest.json", "step_00000003", "step_00000004"]
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 4
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # the moved-aside old run is gone


def test_an_empty_or_unrelated_directory_is_not_a_run(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    pretrain(replace(TINY, steps=2), tmp_path, progress=False)  # e.g. --out . in a fresh folder
    assert (tmp_path / "model" / "config.json").is_file() and (tmp_path / "readme.txt").read_text() == "x"


# ----------------------------------------------------------------------------- 2. checkpoint integrity
def test_a_flipped_byte_in_the_latest_checkpoint_falls_back_to_the_previous_one_bit_exactly(tmp_path, capsys):
    full, killed = tmp_path / "full", tmp_path / "killed"
    pretrain(TINY, full, progress=False)
    with pytest.raises(SimulatedCrash):
        pretrain(TINY, killed, progress=False, crash_after_step=7)  # checkpoints at 3 and 6
    state = killed / "checkpoints" / "step_00000006" / "state.safetensors"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the tensor bytes
    state.write_bytes(bytes(data))
    capsys.readouterr()
    result = pretrain(TINY, killed, progress=False, resume=True)
    err = capsys.readouterr().err
    assert result["resumed_from"] == 3
    assert "step_00000006" in err and "state.safetensors" in err and "step_00000003" in err, err
    a, b = weights(full), weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # as if never interrupted


def _two_checkpoints(tmp_path) -> Checkpointer:
    ck = Checkpointer(tmp_path)
    ck.save(1, {"step": 1, "w": torch.arange(6.0)})
    ck.save(2, {"step": 2, "w": torch.arange(6.0) * 2})
    return ck


def test_every_checkpoint_file_is_hashed_in_a_manifest_written_last(tmp_path):
    ck = _two_checkpoints(tmp_path)
    sums = json.loads((ck.dir / "step_00000002" / CHECKSUMS).read_text())["files"]
    assert set(sums) == {"state.safetensors", "state.json"} and all(len(v["sha256"]) == 64 for v in sums.values())


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "delete"])
@pytest.mark.parametrize("name", ["state.safetensors", "state.json", CHECKSUMS])
def test_a_damaged_checkpoint_file_is_named_and_skipped(tmp_path, capsys, name, damage):
    ck = _two_checkpoints(tmp_path)
    f = ck.dir / "step_00000002" / name
    data = f.read_bytes()
    if damage == "flip":
        f.write_bytes(data[:-3] + bytes([data[-3] ^ 0x20]) + data[-2:])
    elif damage == "truncate":
        f.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        f.write_bytes(b"")
    else:
        f.unlink()
    if name == CHECKSUMS and damage == "delete":  # a checkpoint from before checksums: read, with a warning
        assert ck.load_latest()["step"] == 2
        assert "unverified" in capsys.readouterr().err
        return
    state = ck.load_latest()
    err = capsys.readouterr().err.strip()
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(6.0))
    assert len(err.splitlines()) == 1 and "step_00000002" in err and "step_00000001" in err, err
    assert (name in err) or (damage == "flip" and name == CHECKSUMS and "state." in err), err


@pytest.mark.parametrize("latest", [b"", b'{"step": 2, "pa', b'{"step": 2, "path": "step_00000009"}', b"\xff\xfe"])
def test_a_bad_latest_json_falls_back_to_the_newest_good_checkpoint(tmp_path, capsys, latest):
    ck = _two_checkpoints(tmp_path)
    (ck.dir / "latest.json").write_bytes(latest)
    assert ck.load_latest()["step"] == 2
    assert "latest.json" in capsys.readouterr().err


def test_no_good_checkpoint_is_one_error_naming_every_file(tmp_path):
    ck = _two_checkpoints(tmp_path)
    (ck.dir / "step_00000002" / "state.safetensors").write_bytes(b"")
    (ck.dir / "step_00000001" / "state.json").write_bytes(b"{")
    with pytest.raises(CheckpointError) as e:
        ck.load_latest()
    msg = str(e.value)
    assert "\n" not in msg and "step_00000002" in msg and "state.safetensors" in msg and "state.json" in msg


def test_the_cli_resume_of_a_run_with_no_usable_checkpoint_is_one_line(tmp_path, capsys):
    run = tmp_path / "r"
    ck = _two_checkpoints(run)
    for d in ck.dir.glob("step_*"):
        (d / "state.safetensors").write_bytes(b"\0" * 10)
    assert main(["pretrain", *FLAGS, "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("jepa-edge pretrain: error:") and "Traceback" not in err
