"""Calibration sets: .npz shards + manifest, held-out split, hashes, warnings and shape checks."""
import json
import warnings

import numpy as np
import pytest

from jepa_edge.errors import DataError
from jepa_edge.quant.calibration import (MIN_RECOMMENDED, SmallCalibrationWarning, load_calibration_set,
                                         write_calibration_set)
from jepa_edge.inference.session import TensorSpec


def stream(shape=(3, 8, 8), seed=0):
    rng = np.random.default_rng(seed)
    i = 0
    while True:
        x = rng.standard_normal(shape).astype(np.float32)
        x.flat[0] = i  # every sample is identifiable
        i += 1
        yield {"pixels": x}


def record(path, count=20, held_out=6, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        return write_calibration_set(path, stream(**kw), count=count, held_out=held_out,
                                     source={"kind": "test"}, shard_size=8)


def test_roundtrip_and_split_are_disjoint(tmp_path):
    cs = record(tmp_path / "s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        loaded = load_calibration_set(tmp_path / "s")
    assert loaded.hash == cs.hash and loaded.count("calib") == 20 and loaded.count("heldout") == 6
    cal, held = loaded.arrays("calib")["pixels"], loaded.arrays("heldout")["pixels"]
    assert cal.shape == (20, 3, 8, 8) and held.shape == (6, 3, 8, 8)
    ids_cal, ids_held = set(cal[:, 0, 0, 0].astype(int)), set(held[:, 0, 0, 0].astype(int))
    assert not ids_cal & ids_held and ids_cal | ids_held == set(range(26))
    batches = list(loaded.samples("calib", limit=5, batch=2))
    assert [b["pixels"].shape[0] for b in batches] == [2, 2, 1]
    shards = json.loads((tmp_path / "s" / "manifest.json").read_text())["splits"]["calib"]["shards"]
    assert [s["count"] for s in shards] == [8, 8, 4]
    with np.load(tmp_path / "s" / shards[0]["file"], allow_pickle=False) as z:  # plain npz, no pickles
        assert list(z.keys()) == ["pixels"]


def test_small_sets_warn_on_record_and_on_load(tmp_path):
    with pytest.warns(SmallCalibrationWarning, match=f"recommended {MIN_RECOMMENDED}"):
        write_calibration_set(tmp_path / "s", stream(), count=4, held_out=1, source={})
    with pytest.warns(SmallCalibrationWarning):
        load_calibration_set(tmp_path / "s")


def test_hash_depends_on_content(tmp_path):
    a, b = record(tmp_path / "a", seed=0), record(tmp_path / "b", seed=1)
    assert a.hash != b.hash and record(tmp_path / "c", seed=0).hash == a.hash


def test_altered_shard_is_refused(tmp_path):
    cs = record(tmp_path / "s")
    shard = tmp_path / "s" / cs.manifest["splits"]["calib"]["shards"][1]["file"]
    data = bytearray(shard.read_bytes())
    data[-10] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="altered"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        load_calibration_set(tmp_path / "s")


def test_source_running_out_and_nan_and_changing_shapes(tmp_path):
    def short():
        yield from [{"pixels": np.zeros((3, 4, 4), np.float32)}] * 3

    with pytest.raises(DataError, match="ran out after 3 samples"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        write_calibration_set(tmp_path / "a", short(), count=5, held_out=1, source={})

    def nan():
        yield {"pixels": np.full((3, 4, 4), np.nan, np.float32)}

    with pytest.raises(DataError, match="NaN"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        write_calibration_set(tmp_path / "b", nan(), count=1, held_out=0, source={})

    def changing():
        yield {"pixels": np.zeros((3, 4, 4), np.float32)}
        yield {"pixels": np.zeros((3, 5, 5), np.float32)}

    with pytest.raises(DataError, match="changed"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        write_calibration_set(tmp_path / "c", changing(), count=2, held_out=0, source={})
    assert not (tmp_path / "a" / "manifest.json").exists()  # nothing half-written is a set


def test_shape_and_name_checks_against_a_model(tmp_path):
    cs = record(tmp_path / "s")
    cs.check_matches([TensorSpec("pixels", ("batch", 3, 8, 8))])
    with pytest.raises(DataError, match=r"per-sample shape \[3, 8, 8\].*expects \[3, 16, 16\]"):
        cs.check_matches([TensorSpec("pixels", ("batch", 3, 16, 16))])
    with pytest.raises(DataError, match="records inputs"):
        cs.check_matches([TensorSpec("tokens", ("batch", 4, 8)), TensorSpec("actions", ("batch", 1, 2))])


def test_unknown_name_says_how_to_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="jepa-edge calibrate"):
        load_calibration_set("nope")


def test_existing_set_is_not_overwritten(tmp_path):
    record(tmp_path / "s")
    with pytest.raises(DataError, match="already holds"):
        record(tmp_path / "s")


def test_calibrate_cli_from_an_image_folder(tmp_path, capsys):
    import cv2
    import torch

    from jepa_edge.cli import main
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", ModelDir(encoder=build_encoder("vit_tiny", img_size=32, depth=1)))
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(7):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    assert main(["calibrate", str(tmp_path / "model"), "--source", str(tmp_path / "imgs"), "--out",
                 str(tmp_path / "set"), "--count", "5", "--held-out", "2"]) == 0
    captured = capsys.readouterr()
    assert "below the recommended 300" in captured.err and "5 calibration + 2 held-out" in captured.out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        cs = load_calibration_set(tmp_path / "set")
    assert cs.specs[0].shape == (3, 32, 32) and cs.manifest["normalization"]["mean"][0] == 0.485
    # asking for more samples than the folder holds is a clear error, not a partial set
    assert main(["calibrate", str(tmp_path / "model"), "--source", str(tmp_path / "imgs"), "--out",
                 str(tmp_path / "set2"), "--count", "9", "--held-out", "2"]) == 2
    assert "ran out after 7 samples" in capsys.readouterr().err and not (tmp_path / "set2" / "manifest.json").exists()
