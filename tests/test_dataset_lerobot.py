"""Robot datasets in the LeRobotDataset v3.0 layout (jepa_edge/data/lerobot.py).

The recorded dataset is checked with an independent reader written here from the format's
description (plain pyarrow + PyAV, not jepa_edge's reader): every video has exactly as many frames
as its episodes have rows, the stats match the data, the info.json totals match.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
av = pytest.importorskip("av")

from jepa_edge.cli import main  # noqa: E402
from jepa_edge.errors import DataError  # noqa: E402


# ----------------------------------------------------------------------------- the independent reader
def validate_v3(root: Path) -> dict:
    """Check a LeRobot v3.0 folder with pyarrow and PyAV only; returns what it read."""
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    for field in ("fps", "features", "data_path", "video_path", "chunks_size", "total_episodes", "total_frames",
                  "total_tasks", "data_files_size_in_mb", "video_files_size_in_mb"):
        assert field in info, field
    fps = info["fps"]
    feats = info["features"]
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index", "action", "observation.state"):
        assert k in feats and "dtype" in feats[k] and "shape" in feats[k], k
    video_keys = [k for k, v in feats.items() if v["dtype"] == "video"]
    assert video_keys and all(k.startswith("observation.images.") for k in video_keys)

    eps = pa.concat_tables([pq.read_table(p) for p in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet"))])
    eps = eps.to_pylist()
    assert [e["episode_index"] for e in eps] == list(range(len(eps)))
    assert info["total_episodes"] == len(eps)
    assert info["splits"] == {"train": f"0:{len(eps)}"}

    data = pa.concat_tables([pq.read_table(root / info["data_path"].format(chunk_index=c, file_index=f))
                             for c, f in sorted({(e["data/chunk_index"], e["data/file_index"]) for e in eps})])
    n = data.num_rows
    assert info["total_frames"] == n == sum(e["length"] for e in eps)
    index = data.column("index").to_numpy()
    ep_col = data.column("episode_index").to_numpy()
    fi = data.column("frame_index").to_numpy()
    ts = data.column("timestamp").to_numpy()
    assert np.array_equal(np.sort(index), np.arange(n))
    for e in eps:
        rows = np.flatnonzero(ep_col == e["episode_index"])
        assert len(rows) == e["length"]
        assert np.array_equal(np.sort(index[rows]), np.arange(e["dataset_from_index"], e["dataset_to_index"]))
        assert np.array_equal(np.sort(fi[rows]), np.arange(e["length"]))
        np.testing.assert_allclose(np.sort(ts[rows]), np.arange(e["length"]) / fps, atol=1e-5)

    tasks = pq.read_table(root / "meta/tasks.parquet").to_pydict()
    assert sorted(tasks["task_index"]) == list(range(info["total_tasks"]))
    assert set(data.column("task_index").to_numpy()) <= set(tasks["task_index"])
    assert json.loads(pq.read_schema(root / "meta/tasks.parquet").metadata[b"pandas"])["index_columns"] == ["task"]

    # videos: decode every file once; each episode's [from, to) timestamps hold exactly its rows' frames
    frames_of = {}
    for key in video_keys:
        files = sorted({(e[f"videos/{key}/chunk_index"], e[f"videos/{key}/file_index"]) for e in eps})
        for c, f in files:
            path = root / info["video_path"].format(video_key=key, chunk_index=c, file_index=f)
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                decoded = [(float(fr.pts * stream.time_base), fr.to_ndarray(format="rgb24"))
                           for fr in container.decode(stream)]
            in_file = [e for e in eps if (e[f"videos/{key}/chunk_index"], e[f"videos/{key}/file_index"]) == (c, f)]
            assert len(decoded) == sum(e["length"] for e in in_file), path  # frames == rows, whole file
            for e in in_file:
                lo, hi = e[f"videos/{key}/from_timestamp"], e[f"videos/{key}/to_timestamp"]
                assert hi - lo == pytest.approx(e["length"] / fps, abs=1e-6)
                mine = [img for t, img in decoded if lo - 0.5 / fps <= t < hi - 0.5 / fps]
                assert len(mine) == e["length"], (path, e["episode_index"])
                frames_of[(key, e["episode_index"])] = np.stack(mine)
            h, w, ch = feats[key]["shape"]
            assert decoded[0][1].shape == (h, w, ch)

    # stats.json against the data (vectors exactly; images within the video's compression error)
    stats = json.loads((root / "meta/stats.json").read_text())
    for key in ("action", "observation.state"):
        x = np.stack(data.column(key).to_pylist()).astype(np.float64)
        s = stats[key]
        np.testing.assert_allclose(s["min"], x.min(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s["max"], x.max(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["std"], x.std(0), rtol=1e-5, atol=1e-6)
        assert s["count"] == [n]
    for key in ("index", "frame_index", "episode_index", "timestamp"):
        x = data.column(key).to_numpy().astype(np.float64)
        np.testing.assert_allclose(stats[key]["mean"], [x.mean()], rtol=1e-5)
        np.testing.assert_allclose(stats[key]["max"], [x.max()], rtol=1e-6)
    for key in video_keys:
        px = np.concatenate([frames_of[(key, e["episode_index"])] for e in eps]).reshape(-1, 3) / 255.0
        s = stats[key]
        assert np.asarray(s["mean"]).shape == (3, 1, 1)
        np.testing.assert_allclose(np.asarray(s["mean"]).reshape(3), px.mean(0), atol=0.02)
        np.testing.assert_allclose(np.asarray(s["std"]).reshape(3), px.std(0), atol=0.02)
        assert s["count"] == [n]
    return {"info": info, "episodes": eps, "data": data, "frames": frames_of}


# ----------------------------------------------------------------------------- tests
def test_recorded_world_dataset_validates_and_appends(tmp_path):
    out = tmp_path / "ds"
    assert main(["-q", "record", str(out), "--world", "--episodes", "3", "--steps", "12", "--size", "32",
                 "--task", "explore"]) == 0
    first = validate_v3(out)
    assert first["info"]["total_episodes"] == 3 and first["info"]["robot_type"] == "jepa_edge_tabletop"
    assert first["info"]["features"]["action"]["info"]["low"] == [-1.0, -1.0]
    # appending keeps what was there (same rows, same frames) and adds the new episodes after it
    assert main(["-q", "record", str(out), "--world", "--episodes", "2", "--steps", "9", "--size", "32",
                 "--task", "other"]) == 0
    both = validate_v3(out)
    assert both["info"]["total_episodes"] == 5 and both["info"]["total_frames"] == 3 * 12 + 2 * 9
    assert both["info"]["total_tasks"] == 2
    for e in range(3):
        assert np.array_equal(both["frames"][("observation.images.cam", e)], first["frames"][("observation.images.cam", e)])
    # our reader gives the same frames, states and actions, frame for frame
    from jepa_edge.data.lerobot import RobotDataset

    ds = RobotDataset(out)
    assert ds.fps == 10 and ds.image_key == "observation.images.cam" and len(ds) == 5
    data = both["data"]
    for ep in ds.iter_episodes():
        assert np.array_equal(ep.frames, both["frames"][("observation.images.cam", ep.index)])
        rows = np.flatnonzero(data.column("episode_index").to_numpy() == ep.index)
        np.testing.assert_array_equal(ep.actions, np.stack(data.column("action").to_pylist())[rows])
    assert ds.episode(4).task == "other"
    # frames are what the world rendered (up to the video's compression)
    from jepa_edge.data.recording import WorldSource

    rendered = np.stack([img for img, _, _ in WorldSource(32, 0).episode(1, 12)])
    assert np.abs(ds.episode(1).frames.astype(int) - rendered).mean() < 4


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from jepa_edge.data.lerobot import DatasetWriter
    w = DatasetWriter(sys.argv[1], fps=10, image_shape=(32, 32, 3), state_dim=3, action_dim=2)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 32).astype(np.uint8)[None, :, None]
    def frame():  # smooth pictures (noise would be blurred by the video codec)
        return np.broadcast_to(ramp + rng.integers(0, 50, (1, 1, 3)).astype(np.uint8), (32, 32, 3)).copy()
    for e in range(int(sys.argv[2])):
        for t in range(6 + e):
            w.add_frame(frame(), rng.normal(size=3), rng.normal(size=2))
        w.end_episode("t")
    for t in range(4):  # an episode in progress: frames already encoded into its own file
        w.add_frame(frame(), rng.normal(size=3), rng.normal(size=2))
    print("MID", flush=True)
    time.sleep(60)
""")


def test_killed_mid_episode_keeps_every_finished_episode(tmp_path):
    out = tmp_path / "ds"
    for rounds, total in ((3, 3), (2, 5)):  # the second run appends, and is killed too
        proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(out), str(rounds)], stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        try:
            assert proc.stdout.readline().strip() == b"MID"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        got = validate_v3(out)  # valid as the kill left it, before any writer tidies up
        assert got["info"]["total_episodes"] == total
    from jepa_edge.data.lerobot import WORK_DIR, DatasetWriter

    assert (out / WORK_DIR).exists()  # the killed episode's scratch file ...
    DatasetWriter(out, fps=10, image_shape=(32, 32, 3), state_dim=3, action_dim=2).close()
    assert not (out / WORK_DIR).exists()  # ... is dropped by the next writer
    assert [len(e) for e in __import__("jepa_edge.data.lerobot", fromlist=["x"]).RobotDataset(out).iter_episodes()] \
        == [6, 7, 8, 6, 7]


def test_a_commit_cut_after_its_journal_is_finished_on_open(tmp_path):
    """The commit point is the journal: a writer killed between it and the renames loses nothing."""
    import jepa_edge.data.lerobot as L

    out = tmp_path / "ds"
    w = L.DatasetWriter(out, fps=5, image_shape=(16, 16, 3), state_dim=1, action_dim=1)
    for e in range(2):
        for t in range(3):
            w.add_frame(np.full((16, 16, 3), 40 * t, np.uint8), [t], [e])
        if e == 1:
            real = L._apply_journal
            L._apply_journal = lambda root: None  # "killed" right after the journal was written
            try:
                w.end_episode()
            finally:
                L._apply_journal = real
        else:
            w.end_episode()
    assert (out / L.JOURNAL).is_file()
    ds = L.RobotDataset(out)  # finishes the commit
    assert len(ds) == 2 and not (out / L.JOURNAL).exists()
    validate_v3(out)


def test_bad_dataset_keys_say_what_the_dataset_has(tmp_path):
    from jepa_edge.data.lerobot import DatasetWriter, RobotDataset

    out = tmp_path / "ds"
    with DatasetWriter(out, fps=10, image_shape=(16, 16, 3), state_dim=2, action_dim=2) as w:
        for t in range(3):
            w.add_frame(np.zeros((16, 16, 3), np.uint8), [0, t], [t, 0])
        w.end_episode()
    with pytest.raises(DataError, match=r"no feature 'actions' \(--action-key\); it has .*action \(float32 \[2\]\)"):
        RobotDataset(out, action_key="actions")
    with pytest.raises(DataError, match=r"no feature 'observation.images.top' \(--image-key\); it has .*observation.images.cam"):
        RobotDataset(out, image_key="observation.images.top")
    with pytest.raises(DataError, match="--image-key 'observation.state' is a float32 feature, not a video or image; "
                                        "video/image features: observation.images.cam"):
        RobotDataset(out, image_key="observation.state")
    with pytest.raises(DataError, match="not a robot dataset"):
        RobotDataset(tmp_path)
    # appending with other shapes is refused, naming them
    with pytest.raises(DataError, match=r"cannot append .*action of shape \[2\] \(recording \[3\]\)"):
        DatasetWriter(out, fps=10, image_shape=(16, 16, 3), state_dim=2, action_dim=3)
    # the CLI prints it as one line
    rc = main(["train-ac", "--encoder", str(tmp_path / "none"), "--data", str(out), "--action-key", "nope",
               "--out", str(tmp_path / "run")])
    assert rc == 2


def test_train_ac_and_distill_train_on_a_recorded_dataset(tmp_path, capsys):
    import torch

    from jepa_edge.latent import LatentSpec
    from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    torch.manual_seed(0)
    torch.set_num_threads(1)
    enc = build_encoder("vit_nano", depth=1, img_size=32, patch_size=8)
    enc_dir = save_model_dir(tmp_path / "enc", ModelDir(encoder=enc))
    data = tmp_path / "ds"
    assert main(["-q", "record", str(data), "--world", "--episodes", "3", "--steps", "12", "--size", "32"]) == 0
    common = ["--depth", "1", "--num-heads", "2", "--frames", "3", "--rollout-steps", "1", "--batch-size", "2",
              "--steps", "3", "--warmup-steps", "1", "--no-identity-init", "--predictor-width", "64"]
    assert main(["-q", "train-ac", "--encoder", str(enc_dir), "--data", str(data), "--action-repeat", "2",
                 *common, "--out", str(tmp_path / "ac")]) == 0
    model = load_model_dir(tmp_path / "ac" / "model")
    ac = model.config["ac"]
    assert model.ac_predictor.cfg.action_dim == 2 and model.ac_predictor.cfg.state_dim == 4
    stats = json.loads((data / "meta/stats.json").read_text())
    assert ac["action_norm"]["mean"] == pytest.approx(stats["action"]["mean"])
    assert ac["state_norm"]["std"] == pytest.approx(stats["observation.state"]["std"])
    assert ac["fps"] == 10 and ac["action_period_s"] == pytest.approx(0.2) and ac["action_repeat"] == 2
    assert ac["state_update"] is not None  # recorded from the built-in world: its kinematics
    spec = LatentSpec.from_model_config(model.config)
    assert spec.action_norm == ac["action_norm"] and LatentSpec.from_dict(spec.to_dict()) == spec

    # actions of another size than the encoder dir's AC predictor: one line naming both
    other = tmp_path / "ds3"
    assert main(["-q", "record", str(other), "--env", "Pendulum-v1", "--episodes", "1", "--steps", "8",
                 "--size", "32"]) == 0
    capsys.readouterr()
    rc = main(["-q", "train-ac", "--encoder", str(tmp_path / "ac" / "model"), "--data", str(other), *common,
               "--out", str(tmp_path / "ac2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "'action' holds 1-d actions but the AC predictor in" in err[0] and "takes 2-d actions" in err[0]

    # distill --data DATASET: images of the dataset's camera
    from jepa_edge.training.data import build_training_data

    images = build_training_data(str(data), 32, 1, 0, 0, image_key="observation.images.cam")
    assert len(images) == 36 and tuple(images[0].shape) == (3, 32, 32)
    with pytest.raises(DataError, match="not a video or image"):
        build_training_data(str(data), 32, 1, 0, 0, image_key="action")
