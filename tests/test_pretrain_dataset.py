"""`jepa-edge pretrain --data DATASET` on a LeRobot v3.0 robot dataset (issue 24 follow-up).

A tiny dataset (2 episodes x 8 frames, 32 px) is written with the DatasetWriter; pretrain reads it
as single frames (image model, num_frames 1) and as clips of consecutive frames of one episode
(video model), with the camera chosen by --image-key, as distill / train-ac do.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

from jepa_edge.cli import main  # noqa: E402
from jepa_edge.data.lerobot import DatasetWriter  # noqa: E402

KEY = "observation.images.wrist"
TINY = ["--arch", "vit_nano", "--depth", "1", "--img-size", "32", "--patch-size", "8", "--predictor-width", "32",
        "--predictor-depth", "1", "--batch-size", "4", "--steps", "2", "--warmup-steps", "1", "--threads", "1",
        "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "tiny"
    rng = np.random.default_rng(0)
    w = DatasetWriter(root, fps=10, image_key=KEY, image_shape=(32, 32, 3), state_dim=2, action_dim=2,
                      append=False)
    for _ in range(2):
        for t in range(8):
            img = np.full((32, 32, 3), 40, np.uint8)
            img[4 + t:12 + t, 8:16] = rng.integers(100, 255, 3, dtype=np.uint8)  # a square moving down
            w.add_frame(img, rng.normal(size=2).astype(np.float32), rng.uniform(-1, 1, 2).astype(np.float32))
        w.end_episode(task="move")
    w.close()
    return root


def _training_data(out) -> dict:
    cfg = json.loads((out / "model" / "config.json").read_text())
    return cfg["training"]["data"]


@pytest.mark.parametrize("frames, kind, n", [(1, "images", 16), (4, "clips", 4)])
def test_pretrain_reads_robot_dataset(dataset, tmp_path, frames, kind, n, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", *TINY, "--data", str(dataset), "--image-key", KEY, "--num-frames", str(frames),
                 "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    data = _training_data(out)
    assert data["source"] == "robot_dataset" and data["image_key"] == KEY
    assert data["kind"] == kind and data["size"] == 32 and data["n"] == n  # clips: 2 per 8-frame episode
    assert (out / "model").is_dir()


def test_pretrain_default_camera_and_bad_key(dataset, tmp_path):
    out = tmp_path / "run"
    assert main(["pretrain", *TINY, "--data", str(dataset), "--out", str(out)]) == 0
    assert _training_data(out)["image_key"] == KEY  # default: the dataset's first camera
    assert main(["pretrain", *TINY, "--data", str(dataset), "--image-key", "observation.images.nope",
                 "--out", str(tmp_path / "bad")]) != 0
    assert main(["pretrain", *TINY, "--data", "world", "--image-key", KEY, "--out", str(tmp_path / "w")]) != 0
