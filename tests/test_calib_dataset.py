"""`calibrate --part ac_predictor --source DATASET`: the AC predictor's calibration set from a robot
dataset (LeRobot v3.0 folder), cut and normalised the way `train-ac --data` recorded it in the
model dir's config.json "ac" (action repeat, action/state norms from the dataset's stats)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

from jepa_edge.cli import main  # noqa: E402


def test_ac_calibration_from_a_recorded_dataset(tmp_path):
    import torch

    from jepa_edge.data.lerobot import RobotDataset
    from jepa_edge.data.transforms import Normalization
    from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.calibration import SmallCalibrationWarning, load_calibration_set
    from jepa_edge.training.latents import frame_latents

    torch.manual_seed(0)
    torch.set_num_threads(1)
    enc_dir = save_model_dir(tmp_path / "enc", ModelDir(encoder=build_encoder("vit_nano", depth=1, img_size=32,
                                                                              patch_size=8)))
    data = tmp_path / "ds"
    steps, repeat = 8, 2
    assert main(["-q", "record", str(data), "--world", "--episodes", "2", "--steps", str(steps), "--size", "32"]) == 0
    # a tiny AC predictor trained on it: config.json "ac" records how train-ac cut and normalised the data
    assert main(["-q", "train-ac", "--encoder", str(enc_dir), "--data", str(data), "--action-repeat", str(repeat),
                 "--depth", "1", "--num-heads", "2", "--frames", "2", "--rollout-steps", "1", "--batch-size", "2",
                 "--steps", "1", "--warmup-steps", "1", "--no-identity-init", "--predictor-width", "64",
                 "--no-progress", "--out", str(tmp_path / "ac")]) == 0
    model_dir = tmp_path / "ac" / "model"
    model = load_model_dir(model_dir)
    ac = model.config["ac"]
    stats = json.loads((data / "meta/stats.json").read_text())
    assert ac["action_norm"]["mean"] == pytest.approx(stats["action"]["mean"])
    assert ac["state_norm"]["std"] == pytest.approx(stats["observation.state"]["std"])

    # one-step samples, each step `repeat` dataset rows: (steps - repeat + 1) starts per episode
    per_episode = steps - repeat + 1
    count, held_out = 10, 2 * per_episode - 10
    out = tmp_path / "calib"
    assert main(["-q", "calibrate", str(model_dir), "--part", "ac_predictor", "--source", str(data), "--frames", "1",
                 "--count", str(count), "--held-out", str(held_out), "--out", str(out)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        cs = load_calibration_set(out)
    assert cs.count("calib") == count and cs.count("heldout") == held_out
    enc = model.encoder.eval()
    n, d = enc.cfg.num_patches, enc.cfg.embed_dim
    got = {split: cs.arrays(split) for split in ("calib", "heldout")}
    assert got["calib"]["tokens"].shape == (count, n, d) and got["heldout"]["tokens"].shape == (held_out, n, d)
    assert got["calib"]["actions"].shape == (count, 1, 2) and got["calib"]["states"].shape == (count, 1, 4)

    # every sample is one (episode, start) of the dataset, its state and action (the mean over the
    # `repeat` rows it spans) normalised with the model's recorded norms, its tokens the encoder's
    # latents of that start's frame; together the two splits hold every start exactly once
    a_mean, a_std = (np.asarray(ac["action_norm"][k], np.float32) for k in ("mean", "std"))
    s_mean, s_std = (np.asarray(ac["state_norm"][k], np.float32) for k in ("mean", "std"))
    eps = list(RobotDataset(data).iter_episodes())
    expected = {}
    for e, ep in enumerate(eps):
        for t in range(per_episode):
            expected[(e, t)] = ((ep.actions[t:t + repeat].mean(0) - a_mean) / a_std, (ep.states[t] - s_mean) / s_std)
    norm = Normalization.from_dict(model.config["normalization"])
    seen = []
    for split in ("calib", "heldout"):
        for tokens, a, s in zip(got[split]["tokens"], got[split]["actions"], got[split]["states"]):
            hits = [k for k, (ea, es) in expected.items() if np.allclose(a[0], ea, atol=1e-5)
                    and np.allclose(s[0], es, atol=1e-5)]
            assert len(hits) == 1, (a, s)
            e, t = hits[0]
            seen.append(hits[0])
            clip = norm(eps[e].frames[t:t + 1])[None]                        # [1, C, 1, H, W]
            with torch.inference_mode():
                z = frame_latents(enc, clip).flatten(1, 2)[0].numpy()      # [1*N, D]
            np.testing.assert_allclose(tokens, z, atol=1e-4)
    assert sorted(seen) == sorted(expected)
    # the norms are far from identity, so raw (unnormalised) states or actions could not have matched
    assert np.abs(s_mean).max() > 0.1 and np.abs(np.log(s_std)).max() > 0.5 and np.abs(np.log(a_std)).max() > 0.1
