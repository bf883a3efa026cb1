"""Data sources: world datasets, image folders, video files, .npy arrays, and their errors."""
import cv2
import numpy as np
import pytest
import torch

from jepa_edge.data import (
    IMAGENET, ImageFolder, Normalization, NpyArrays, VideoFiles, WorldClips, WorldImages,
    WorldTrajectories, open_dataset,
)
from jepa_edge.errors import ConfigError, DataError

torch.set_num_threads(1)


def write_video(path, n_frames, size=(40, 24), fps=10):
    """Frame i is a flat grey of level 8*i, so tests can tell which frames a clip holds."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert vw.isOpened()
    for i in range(n_frames):
        vw.write(np.full((size[1], size[0], 3), 8 * i, np.uint8))
    vw.release()


def grey_levels(x, norm=IMAGENET):
    """Mean grey level (0..255) of every frame of a normalized clip [C, T, H, W]."""
    return norm.denormalize(x).reshape(x.shape[1], -1).mean(1)


# ---- world ---------------------------------------------------------------------------------
def test_world_images_shapes_truth_and_determinism():
    ds = WorldImages(n=6, size=32, seed=1, with_truth=True)
    x, truth = ds[2]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert truth.shape == (4 + 5 * 3,)
    x2, truth2 = WorldImages(n=6, size=32, seed=1, with_truth=True)[2]
    assert torch.equal(x, x2) and torch.equal(truth, truth2)
    assert not torch.equal(ds[3][0], x)
    # normalized with ImageNet statistics: the table colour maps to known values
    assert -3 < x.min() < x.max() < 3
    assert ds.describe()["normalization"] == IMAGENET.to_dict()
    with pytest.raises(IndexError):
        ds[6]


def test_world_clips_and_trajectories():
    clips = WorldClips(n=3, frames=6, size=32, seed=0, p_cross=1.0, with_truth=True)
    x, truth = clips[0]
    assert x.shape == (3, 6, 32, 32) and truth.shape == (6, 19)
    traj = WorldTrajectories(n=3, frames=5, size=32, seed=0)
    frames, actions, states = traj[1]
    assert frames.shape == (3, 5, 32, 32) and actions.shape == (5, 2) and states.shape == (5, 4)
    assert actions.dtype == states.dtype == torch.float32 and actions.abs().max() <= 1
    # states are proprio: positions inside the table, velocity = displacement / dt
    dt = 0.1
    np.testing.assert_allclose(states[1:, 2:] * dt, states[1:, :2] - states[:-1, :2], atol=1e-5)
    loader = torch.utils.data.DataLoader(traj, batch_size=3)
    f, a, s = next(iter(loader))
    assert f.shape == (3, 3, 5, 32, 32) and a.shape == (3, 5, 2) and s.shape == (3, 5, 4)


def test_world_vo_pairs_and_truth_names():
    from jepa_edge.data import WorldState, WorldVOPairs

    ds = WorldVOPairs(n=2, kind="teleport", frames=10, size=32)
    possible, impossible, t = ds[1]
    assert possible.shape == impossible.shape == (3, 10, 32, 32)
    assert torch.equal(possible[:, :t], impossible[:, :t]) and not torch.equal(possible, impossible)
    names = WorldState.vector_names(3)
    assert len(names) == 19 and names[:2] == ["agent_x", "agent_y"] and names[-1] == "obj2_visible"
    with pytest.raises(ConfigError):
        WorldVOPairs(kind="melt")


def test_world_dataset_bad_length():
    with pytest.raises(ConfigError):
        WorldImages(n=0)


# ---- image folders -----------------------------------------------------------------------------
def test_image_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "a.png"), np.full((40, 60, 3), (0, 0, 255), np.uint8))   # BGR red
    cv2.imwrite(str(tmp_path / "sub" / "b.jpg"), np.full((20, 20, 3), 128, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, size=16)
    assert len(ds) == 2
    x = ds[0]
    assert x.shape == (3, 16, 16)
    rgb = IMAGENET.denormalize(x)
    assert (rgb[..., 0] == 255).all() and (rgb[..., 2] == 0).all()   # read as RGB, not BGR
    assert ds[1].shape == (3, 16, 16)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no images"):
        ImageFolder(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    ds = ImageFolder(tmp_path, size=8)
    with pytest.raises(DataError, match="broken.png"):
        ds[0]


# ---- videos ------------------------------------------------------------------------------------------
def test_video_clips_with_stride_and_hop(tmp_path):
    write_video(tmp_path / "a.avi", 20)
    write_video(tmp_path / "b.avi", 9)
    ds = VideoFiles(tmp_path, frames=4, stride=2, size=16)
    # span 7: a.avi gives starts 0, 7; b.avi gives start 0
    assert ds.index == [(0, 0), (0, 7), (1, 0)]
    x = ds[1]
    assert x.shape == (3, 4, 16, 16)
    np.testing.assert_allclose(grey_levels(x), [8 * 7, 8 * 9, 8 * 11, 8 * 13], atol=4)
    hop = VideoFiles(tmp_path / "a.avi", frames=3, stride=1, size=16, hop=5)
    assert [s for _, s in hop.index] == [0, 5, 10, 15]
    np.testing.assert_allclose(grey_levels(hop[3]), [120, 128, 136], atol=4)


def test_video_errors(tmp_path):
    with pytest.raises(DataError, match="no videos"):
        VideoFiles(tmp_path)
    (tmp_path / "bad.avi").write_bytes(b"\x00" * 1000)
    with pytest.raises(DataError, match="bad.avi"):
        VideoFiles(tmp_path / "bad.avi")
    write_video(tmp_path / "short.avi", 5)
    with pytest.raises(DataError, match="long enough"):
        VideoFiles(tmp_path / "short.avi", frames=4, stride=2)
    with pytest.raises(DataError, match="stride"):
        VideoFiles(tmp_path / "short.avi", frames=2, stride=0)
    with pytest.raises(DataError, match="no such"):
        VideoFiles(tmp_path / "nothing.mp4")


# ---- npy arrays ----------------------------------------------------------------------------------------
def test_npy_images_clips_and_long_videos(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 12, 12, 3), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", imgs)
    ds = NpyArrays(tmp_path / "imgs.npy")
    assert len(ds) == 5 and ds.frames is None
    assert np.array_equal(IMAGENET.denormalize(ds[4]), imgs[4])      # exact round trip
    # channels-first float in [0, 1]
    np.save(tmp_path / "chw.npy", imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    assert np.array_equal(IMAGENET.denormalize(NpyArrays(tmp_path / "chw.npy")[1]), imgs[1])
    # clips [N, T, H, W, 3], resized
    np.save(tmp_path / "clips.npy", np.zeros((2, 6, 12, 12, 3), np.uint8))
    c = NpyArrays(tmp_path / "clips.npy", size=8)
    assert len(c) == 2 and c.frames == 6 and c[0].shape == (3, 6, 8, 8)
    # one long video cut into clips with a stride
    video = np.repeat((np.arange(30, dtype=np.uint8) * 8)[:, None, None, None], 4, 1).repeat(4, 2).repeat(3, 3)
    np.save(tmp_path / "video.npy", video)
    v = NpyArrays(tmp_path / "video.npy", frames=4, stride=3)
    assert len(v) == 3      # span 10 -> starts 0, 10, 20
    np.testing.assert_allclose(grey_levels(v[1]), [80, 104, 128, 152], atol=0.5)


def test_npy_trajectories_align_actions_and_states(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 4, 8, 8, 3), np.uint8))
    np.save(tmp_path / "a.npy", np.ones((3, 4, 2), np.float32))
    np.save(tmp_path / "s.npy", np.ones((3, 4, 7), np.float64))
    ds = NpyArrays(tmp_path / "f.npy", actions=tmp_path / "a.npy", states=tmp_path / "s.npy")
    x, a, s = ds[0]
    assert x.shape == (3, 4, 8, 8) and a.shape == (4, 2) and s.shape == (4, 7) and s.dtype == torch.float32
    np.save(tmp_path / "bad.npy", np.ones((3, 5, 2), np.float32))
    with pytest.raises(DataError, match="actions must have shape"):
        NpyArrays(tmp_path / "f.npy", actions=tmp_path / "bad.npy")


@pytest.mark.parametrize("array,match", [
    (np.zeros((4, 8, 8), np.uint8), "4-D or 5-D"),
    (np.zeros((4, 8, 8, 4), np.uint8), "RGB axis"),
    (np.zeros((4, 8, 8, 3), np.int64), "dtype int64"),
    (np.full((4, 8, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
    (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
])
def test_npy_wrong_shapes_and_dtypes(tmp_path, array, match):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DataError, match=match):
        ds = NpyArrays(tmp_path / "x.npy")
        ds[0]


def test_npy_refuses_pickles_and_missing_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable"):
        NpyArrays(tmp_path / "obj.npy")
    with pytest.raises(DataError, match="no such"):
        NpyArrays(tmp_path / "missing.npy")
    np.save(tmp_path / "v.npy", np.zeros((5, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="too few"):
        NpyArrays(tmp_path / "v.npy", frames=4, stride=2)


# ---- open_dataset and normalization ------------------------------------------------------------------
def test_open_dataset_dispatch(tmp_path):
    assert isinstance(open_dataset("world", size=16, n=2), WorldImages)
    assert isinstance(open_dataset("world", kind="clips", frames=3, size=16, n=2), WorldClips)
    assert isinstance(open_dataset("world", kind="trajectories", frames=3, size=16, n=2), WorldTrajectories)
    write_video(tmp_path / "v.avi", 8)
    assert isinstance(open_dataset(str(tmp_path / "v.avi"), kind="clips", frames=4, size=16), VideoFiles)
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    assert isinstance(open_dataset(str(tmp_path / "imgs"), size=8), ImageFolder)
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 3), np.uint8))
    assert isinstance(open_dataset(str(tmp_path / "x.npy"), size=8), NpyArrays)
    with pytest.raises(DataError, match="no such file"):
        open_dataset(str(tmp_path / "nope"))
    with pytest.raises(ConfigError):
        open_dataset("world", kind="audio")
    with pytest.raises(ConfigError):
        open_dataset(str(tmp_path / "v.avi"), kind="images")


def test_normalization_config_round_trip_and_errors():
    n = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert Normalization.from_dict(n.to_dict()) == n
    x = n(np.full((2, 2, 3), 255, np.uint8))
    assert torch.allclose(x, torch.full((3, 2, 2), 2.0))
    with pytest.raises(ConfigError):
        Normalization((0.5, 0.5), (1, 1, 1))
    with pytest.raises(ConfigError):
        Normalization((0, 0, 0), (1, 0, 1))
    with pytest.raises(ConfigError):
        Normalization.from_dict({"mean": [0, 0, 0], "std": [1, 1, 1], "extra": 1})
    with pytest.raises(DataError, match="uint8"):
        n(np.zeros((2, 2, 3), np.float32))
