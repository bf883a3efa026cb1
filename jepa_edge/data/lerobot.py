"""Robot datasets in the LeRobotDataset v3.0 layout, read and written without the lerobot package.

Tables are read and written with pyarrow, videos with PyAV (both in the `[data]` extra). The layout
(docs/datasets.md lists every field read and written):

    meta/info.json                          codebase_version "v3.0", fps, features, path templates, totals
    meta/stats.json                         min/max/mean/std/count per feature (images: per channel, in [0, 1])
    meta/tasks.parquet                      task (the pandas index) -> task_index
    meta/episodes/chunk-CCC/file-FFF.parquet one row per episode: length, where its rows and frames are
    data/chunk-CCC/file-FFF.parquet          one row per frame, many episodes per file
    videos/KEY/chunk-CCC/file-FFF.mp4        one stream per camera, many episodes per file

`DatasetWriter` commits an episode atomically: the new versions of the files an episode touches are
written beside the old ones, then a small journal naming them is written (the commit point), then
they are renamed into place. A writer killed before the journal exists leaves the dataset as it was
(it loses the episode in progress, never a finished one); one killed after it is completed by the
next `DatasetWriter` or `RobotDataset` that opens the folder.

`RobotDataset` decodes each mp4 file once, front to back, and hands every episode its frames by
timestamp: frame-accurate, with no reopen-and-seek per clip. Numpy only: recording on a robot
needs no torch.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from jepa_edge.errors import ConfigError, DataError, import_extra

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TASKS_PATH = "meta/tasks.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
JOURNAL = "meta/.jepa_edge_commit.json"  # our commit journal (absent between commits)
WORK_DIR = ".jepa_edge_tmp"  # the episode being recorded (removed when the next writer opens)
PARTIAL = ".partial"  # suffix of a file's next version until its commit
DEFAULT_IMAGE_KEY = "observation.images.cam"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
# LeRobot's defaults (lerobot/datasets/utils.py)
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_MB = 100
VIDEO_FILES_SIZE_MB = 200
INDEX_FEATURES = {  # the columns every frame has (lerobot/utils/constants.py DEFAULT_FEATURES)
    "timestamp": "float32", "frame_index": "int64", "episode_index": "int64", "index": "int64", "task_index": "int64",
}
IMAGE_DTYPES = ("video", "image")


def _pa():
    return (import_extra("pyarrow", "pyarrow (robot datasets)", "data"),
            import_extra("pyarrow.parquet", "pyarrow (robot datasets)", "data"))


def _av():
    return import_extra("av", "PyAV (robot dataset videos)", "data")


def is_robot_dataset(path) -> bool:
    """A folder in the LeRobot layout (it has meta/info.json)."""
    return Path(path).is_dir() and (Path(path) / INFO_PATH).is_file()


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file >= chunks_size - 1 else (chunk, file + 1)


# ----------------------------------------------------------------------------- commit journal
def _write_journal(root: Path, renames: list[tuple[str, str]]) -> None:
    """The commit point: once this file exists the episode is in (recover() finishes the renames)."""
    from jepa_edge.utils.files import atomic_write_json

    atomic_write_json(root / JOURNAL, {"renames": renames})
    _fsync_dir(root / "meta")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _apply_journal(root: Path) -> None:
    journal = root / JOURNAL
    renames = json.loads(journal.read_text())["renames"]
    for tmp, final in renames:
        if (root / tmp).exists():
            os.replace(root / tmp, root / final)
    for d in {(root / final).parent for _, final in renames}:
        _fsync_dir(d)
    journal.unlink()


def recover(root) -> bool:
    """Finish a commit a killed writer left half done, and drop what an uncommitted one left.
    Returns True when a commit was finished."""
    root = Path(root)
    finished = False
    if (root / JOURNAL).is_file():
        _apply_journal(root)
        finished = True
    for sub in ("data", "videos", "meta"):
        if (root / sub).is_dir():
            for p in (root / sub).rglob(f"*{PARTIAL}"):
                p.unlink(missing_ok=True)
    shutil.rmtree(root / WORK_DIR, ignore_errors=True)
    return finished


# ----------------------------------------------------------------------------- stats
def _feature_stats(x: np.ndarray) -> dict:
    """min/max/mean/std (population)/count over axis 0 of [N, D] float64."""
    return {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}


def aggregate_stats(parts: list[dict]) -> dict:
    """Stats of the union from the stats of the parts (LeRobot's aggregate_feature_stats: weighted
    means, pooled variance around the total mean)."""
    out = {}
    for key in parts[0]:
        ps = [p[key] for p in parts if key in p]
        counts = np.array([float(np.asarray(p["count"]).reshape(-1)[0]) for p in ps])
        means = np.stack([np.asarray(p["mean"], np.float64) for p in ps])
        var = np.stack([np.asarray(p["std"], np.float64) ** 2 for p in ps])
        w = counts.reshape((-1,) + (1,) * (means.ndim - 1))
        total = counts.sum()
        mean = (means * w).sum(0) / total
        variance = ((var + (means - mean) ** 2) * w).sum(0) / total
        out[key] = {"min": np.min(np.stack([np.asarray(p["min"], np.float64) for p in ps]), 0),
                    "max": np.max(np.stack([np.asarray(p["max"], np.float64) for p in ps]), 0),
                    "mean": mean, "std": np.sqrt(variance), "count": np.array([int(total)])}
    return out


def _jsonable(stats: dict) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


class _ImageStats:
    """Per-channel min/max/mean/std of uint8 frames, in [0, 1], shaped (3, 1, 1) as LeRobot's."""

    def __init__(self):
        self.n, self.sum, self.sq = 0, np.zeros(3), np.zeros(3)
        self.lo, self.hi = np.full(3, np.inf), np.full(3, -np.inf)

    def add(self, img: np.ndarray) -> None:
        x = img.reshape(-1, 3).astype(np.float64) / 255.0
        self.n += len(x)
        self.sum += x.sum(0)
        self.sq += (x * x).sum(0)
        self.lo, self.hi = np.minimum(self.lo, x.min(0)), np.maximum(self.hi, x.max(0))

    def result(self, frames: int) -> dict:
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sq / self.n - mean ** 2, 0))
        shape = (3, 1, 1)
        return {"min": self.lo.reshape(shape), "max": self.hi.reshape(shape), "mean": mean.reshape(shape),
                "std": std.reshape(shape), "count": np.array([frames])}


# ----------------------------------------------------------------------------- video
@dataclass(frozen=True)
class VideoSettings:
    """How frames are encoded: H.264 (libx264), yuv420p, no B-frames (pts == dts, so the episodes of a
    file concatenate by remuxing), a keyframe every `gop` frames (LeRobot's default g=2 keeps its
    timestamp-based random access cheap)."""

    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    crf: int = 18
    gop: int = 2
    preset: str = "veryfast"


class _EpisodeVideo:
    """One episode encoded to its own mp4 while it is recorded (frames are not kept in memory)."""

    def __init__(self, path: Path, fps: int, width: int, height: int, settings: VideoSettings):
        av = _av()
        self.path = path
        self.container = av.open(str(path), mode="w", format="mp4")
        s = self.container.add_stream(settings.codec, rate=fps)
        s.width, s.height, s.pix_fmt = width, height, settings.pix_fmt
        s.time_base = Fraction(1, fps)
        cc = s.codec_context
        cc.gop_size = settings.gop
        cc.max_b_frames = 0
        cc.thread_count = 1
        s.options = {"crf": str(settings.crf), "preset": settings.preset, "bf": "0"}
        self.stream, self.n, self.time_base = s, 0, Fraction(1, fps)
        self._av = av

    def add(self, img: np.ndarray) -> None:
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        frame.pts = self.n
        frame.time_base = self.time_base
        self._mux(self.stream.encode(frame))
        self.n += 1

    def _mux(self, packets) -> None:
        for pkt in packets:
            pkt.duration = 1  # one frame (the encoder's time base is 1/fps): the last frame keeps its length
            self.container.mux(pkt)

    def close(self) -> None:
        self._mux(self.stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


def _concat_videos(parts: list[Path], frame_counts: list[int], fps: int, out: Path) -> None:
    """Remux the packets of `parts` (same codec settings, no B-frames) one after the other into `out`,
    each part shifted by the frames before it: no re-encoding, so earlier episodes stay bit-exact."""
    av = _av()
    with av.open(str(parts[0])) as first:
        template = first.streams.video[0]
        with av.open(str(out), mode="w", format="mp4") as dst:
            ostream = dst.add_stream_from_template(template)
            offset = 0
            for part, count in zip(parts, frame_counts):
                with av.open(str(part)) as src:
                    ist = src.streams.video[0]
                    shift = int(round(Fraction(offset, fps) / ist.time_base))
                    for pkt in src.demux(ist):
                        if pkt.dts is None:  # the demuxer's flush packet
                            continue
                        pkt.pts += shift
                        pkt.dts += shift
                        pkt.stream = ostream
                        dst.mux(pkt)
                offset += count


def decode_video(path, *, rgb: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of a video file, front to back: (uint8 [N, H, W, 3], timestamps [N] seconds)."""
    av = _av()
    frames, stamps = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="rgb24") if rgb else f)
            stamps.append(float(f.pts * s.time_base) if f.pts is not None else math.nan)
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8), np.zeros(0)
    return np.stack(frames), np.asarray(stamps)


# ----------------------------------------------------------------------------- tables
def _read_table(path: Path):
    _, pq = _pa()
    return pq.read_table(path)


def _write_table(table, path: Path) -> None:
    _, pq = _pa()
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _tasks_table(tasks: list[str]):
    """meta/tasks.parquet as pandas writes a DataFrame indexed by "task" (LeRobot reads it so)."""
    pa, _ = _pa()
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
                     "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                     "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def _vector_column(x: np.ndarray):
    pa, _ = _pa()
    x = np.ascontiguousarray(x, np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _episodes_table(rows: list[dict]):
    """meta/episodes rows -> a table; stats columns are nested lists (LeRobot: `stats/KEY/STAT`)."""
    pa, _ = _pa()
    cols: dict[str, list] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, [])
    for r in rows:
        for k in cols:
            v = r.get(k)
            cols[k].append(v.tolist() if isinstance(v, np.ndarray) else v)
    types = {"tasks": pa.list_(pa.string())}
    arrays = {}
    for k, v in cols.items():
        if k in types:
            arrays[k] = pa.array(v, types[k])
        elif k.endswith("_timestamp"):
            arrays[k] = pa.array(v, pa.float64())
        elif k.startswith("stats/"):
            arrays[k] = pa.array(v)
        else:
            arrays[k] = pa.array(v, pa.int64())
    return pa.table(arrays)


def _stats_from_row(row: dict, keys) -> dict:
    out = {}
    for key in keys:
        d = {s: np.asarray(row[f"stats/{key}/{s}"], np.float64) for s in ("min", "max", "mean", "std", "count")
             if f"stats/{key}/{s}" in row}
        if len(d) == 5:
            out[key] = d
    return out


# ----------------------------------------------------------------------------- metadata
def _load_info(root: Path) -> dict:
    try:
        info = json.loads((root / INFO_PATH).read_text())
    except FileNotFoundError:
        raise DataError(f"{root}: not a robot dataset (no {INFO_PATH}; LeRobotDataset v3.0 layout expected)") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{root / INFO_PATH}: not valid JSON ({e})") from None
    version = str(info.get("codebase_version", "?"))
    if version != CODEBASE_VERSION:
        raise DataError(f"{root}: LeRobot dataset version {version}, only {CODEBASE_VERSION} is read; convert it with "
                        "lerobot's convert_dataset_v21_to_v30 script")
    for field in ("fps", "features", "data_path"):
        if field not in info:
            raise DataError(f"{root / INFO_PATH}: no {field!r}")
    return info


def _load_episodes(root: Path) -> list[dict]:
    files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    rows: list[dict] = []
    for f in files:
        rows += _read_table(f).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    if [r["episode_index"] for r in rows] != list(range(len(rows))):
        raise DataError(f"{root}: meta/episodes does not hold episodes 0..{len(rows) - 1} exactly once")
    return rows


def _load_tasks(root: Path) -> list[str]:
    if not (root / TASKS_PATH).is_file():
        return []
    t = _read_table(root / TASKS_PATH).to_pydict()
    order = np.argsort(t["task_index"])
    return [t["task"][i] for i in order]


# ----------------------------------------------------------------------------- writer
class DatasetWriter:
    """Record episodes into a LeRobot v3.0 dataset at `root` (created, or appended to with `append`).

        w = DatasetWriter(root, fps=10, image_shape=(64, 64, 3), state_dim=4, action_dim=2)
        for each step: w.add_frame(image, state, action)   # image uint8 HxWx3
        w.end_episode(task="push")   # commits atomically; or w.discard_episode()
        w.close()

    `action_info` / `state_info` (JSON-able dicts, e.g. bounds and "mode": "absolute" | "delta")
    go into info.json's feature entry under "info"; `*_names` name each dimension."""

    def __init__(self, root, *, fps: int, image_key: str = DEFAULT_IMAGE_KEY, image_shape, state_dim: int,
                 action_dim: int, robot_type: str = "", append: bool = True, state_names=None, action_names=None,
                 action_info: dict | None = None, state_info: dict | None = None,
                 video: VideoSettings = VideoSettings(), chunks_size: int = CHUNKS_SIZE,
                 data_files_size_in_mb: float = DATA_FILES_SIZE_MB,
                 video_files_size_in_mb: float = VIDEO_FILES_SIZE_MB):
        _pa(), _av()
        self.root = Path(root)
        fps_int = int(round(fps))
        if fps_int < 1 or abs(fps - fps_int) > 1e-6:
            raise ConfigError(f"fps must be a positive integer (LeRobot's info.json stores an int), got {fps}")
        h, w, c = (int(v) for v in image_shape)
        if c != 3 or h < 2 or w < 2 or h % 2 or w % 2:
            raise ConfigError(f"image_shape must be (H, W, 3) with even H and W (yuv420p video), got {tuple(image_shape)}")
        if not image_key.startswith("observation.images."):
            raise ConfigError(f"image_key must start with 'observation.images.', got {image_key!r}")
        self.fps, self.image_key, self.image_shape = fps_int, image_key, (h, w, 3)
        self.state_dim, self.action_dim, self.video = int(state_dim), int(action_dim), video
        features = {
            image_key: {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                        "info": {"video.height": h, "video.width": w, "video.codec": "h264",
                                 "video.pix_fmt": video.pix_fmt, "video.is_depth_map": False, "video.fps": fps_int,
                                 "video.channels": 3, "video.g": video.gop, "video.crf": video.crf,
                                 "has_audio": False}},
            STATE_KEY: {"dtype": "float32", "shape": [self.state_dim],
                        "names": list(state_names) if state_names else [f"state_{i}" for i in range(self.state_dim)]},
            ACTION_KEY: {"dtype": "float32", "shape": [self.action_dim],
                         "names": list(action_names) if action_names else [f"action_{i}" for i in range(self.action_dim)]},
            **{k: {"dtype": t, "shape": [1], "names": None} for k, t in INDEX_FEATURES.items()},
        }
        if action_info:
            features[ACTION_KEY]["info"] = dict(action_info)
        if state_info:
            features[STATE_KEY]["info"] = dict(state_info)
        for names, key in ((features[STATE_KEY]["names"], STATE_KEY), (features[ACTION_KEY]["names"], ACTION_KEY)):
            if len(names) != features[key]["shape"][0]:
                raise ConfigError(f"{key}: {len(names)} names for {features[key]['shape'][0]} dimensions")
        if is_robot_dataset(self.root):
            if not append:
                raise DataError(f"{self.root} already holds a dataset: append to it, or choose another folder")
            recover(self.root)
            self.info = _load_info(self.root)
            self._check_compatible(features)
            self.episodes = _load_episodes(self.root)
            self.tasks = _load_tasks(self.root)
        else:
            if self.root.exists() and any(self.root.iterdir()):
                raise DataError(f"{self.root} exists and is not a robot dataset (no {INFO_PATH}); choose an empty or new folder")
            self.info = {
                "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or None, "total_episodes": 0,
                "total_frames": 0, "total_tasks": 0, "chunks_size": int(chunks_size),
                "data_files_size_in_mb": data_files_size_in_mb, "video_files_size_in_mb": video_files_size_in_mb,
                "fps": fps_int, "splits": {}, "data_path": DATA_PATH, "video_path": VIDEO_PATH, "features": features,
            }
            self.episodes, self.tasks = [], []
        self.work = self.root / WORK_DIR
        self._ep: _EpisodeVideo | None = None
        self._states: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._img_stats = _ImageStats()
        self._closed = False

    def _check_compatible(self, features: dict) -> None:
        have = self.info["features"]
        problems = []
        if int(self.info["fps"]) != self.fps:
            problems.append(f"fps {self.info['fps']} (recording at {self.fps})")
        for key in (self.image_key, STATE_KEY, ACTION_KEY):
            if key not in have:
                problems.append(f"no feature {key!r} (it has {', '.join(sorted(have))})")
            elif list(have[key]["shape"]) != list(features[key]["shape"]):
                problems.append(f"{key} of shape {list(have[key]['shape'])} (recording {list(features[key]['shape'])})")
        if problems:
            raise DataError(f"cannot append to {self.root}: it has " + "; ".join(problems))

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def frames_in_episode(self) -> int:
        return len(self._actions)

    def add_frame(self, image: np.ndarray, state, action) -> None:
        img = np.asarray(image)
        if img.shape != self.image_shape or img.dtype != np.uint8:
            raise DataError(f"image must be uint8 {self.image_shape}, got {img.dtype} {img.shape}")
        s = np.asarray(state, np.float32).reshape(-1)
        a = np.asarray(action, np.float32).reshape(-1)
        if s.shape != (self.state_dim,) or a.shape != (self.action_dim,):
            raise DataError(f"state must have {self.state_dim} and action {self.action_dim} values, "
                            f"got {s.size} and {a.size}")
        if not (np.isfinite(s).all() and np.isfinite(a).all()):
            raise DataError("state and action must be finite")
        if self._ep is None:
            self.work.mkdir(parents=True, exist_ok=True)
            h, w, _ = self.image_shape
            self._ep = _EpisodeVideo(self.work / "episode.mp4", self.fps, w, h, self.video)
        self._ep.add(img)
        self._img_stats.add(img)
        self._states.append(s)
        self._actions.append(a)

    def discard_episode(self) -> None:
        """Forget the episode in progress."""
        if self._ep is not None:
            self._ep.abort()
        self._ep = None
        self._states, self._actions, self._img_stats = [], [], _ImageStats()
        shutil.rmtree(self.work, ignore_errors=True)

    def end_episode(self, task: str = "") -> int:
        """Commit the episode in progress; returns its episode_index."""
        n = len(self._actions)
        if n == 0 or self._ep is None:
            raise DataError("end_episode: the episode has no frames")
        self._ep.close()
        ep_video = self._ep.path
        self._ep = None
        root, info = self.root, self.info
        ep_index = len(self.episodes)
        first_index = info["total_frames"]
        if task not in self.tasks:
            self.tasks.append(task)
        task_index = self.tasks.index(task)
        states, actions = np.stack(self._states), np.stack(self._actions)
        ts = (np.arange(n) / self.fps).astype(np.float32)
        index_cols = {"timestamp": ts, "frame_index": np.arange(n), "episode_index": np.full(n, ep_index),
                      "index": first_index + np.arange(n), "task_index": np.full(n, task_index)}

        renames: list[tuple[str, str]] = []

        def stage(final: str) -> Path:
            renames.append((final + PARTIAL, final))
            p = root / (final + PARTIAL)
            p.parent.mkdir(parents=True, exist_ok=True)
            return p

        last = self.episodes[-1] if self.episodes else None
        # --- data parquet: append to the last file unless it is full
        pa, _ = _pa()
        new_rows = pa.table({STATE_KEY: _vector_column(states), ACTION_KEY: _vector_column(actions),
                             "timestamp": pa.array(ts, pa.float32()),
                             **{k: pa.array(np.asarray(v, np.int64), pa.int64()) for k, v in index_cols.items()
                                if k != "timestamp"}})
        chunk, file = (last["data/chunk_index"], last["data/file_index"]) if last else (0, 0)
        data_rel = info["data_path"].format(chunk_index=chunk, file_index=file)
        if last and (root / data_rel).stat().st_size / 2**20 >= float(info["data_files_size_in_mb"]):
            chunk, file = _next_file(chunk, file, int(info["chunks_size"]))
            data_rel = info["data_path"].format(chunk_index=chunk, file_index=file)
        table = new_rows
        if (root / data_rel).is_file():
            old = _read_table(root / data_rel).select(new_rows.column_names)
            table = pa.concat_tables([old, new_rows.cast(old.schema)])
        _write_table(table, stage(data_rel))
        data_loc = {"data/chunk_index": chunk, "data/file_index": file}

        # --- video: remux the last file + this episode, unless the file is full
        key = self.image_key
        vkey = f"videos/{key}"
        vchunk, vfile = (last[f"{vkey}/chunk_index"], last[f"{vkey}/file_index"]) if last else (0, 0)
        video_rel = info["video_path"].format(video_key=key, chunk_index=vchunk, file_index=vfile)
        start = 0.0
        if last and (root / video_rel).is_file():
            size_mb = ((root / video_rel).stat().st_size + ep_video.stat().st_size) / 2**20
            if size_mb >= float(info["video_files_size_in_mb"]):
                vchunk, vfile = _next_file(vchunk, vfile, int(info["chunks_size"]))
                video_rel = info["video_path"].format(video_key=key, chunk_index=vchunk, file_index=vfile)
            else:
                start = float(last[f"{vkey}/to_timestamp"])
        if start > 0:
            before = int(round(start * self.fps))
            _concat_videos([root / video_rel, ep_video], [before, n], self.fps, stage(video_rel))
        else:
            shutil.copyfile(ep_video, stage(video_rel))
        video_loc = {f"{vkey}/chunk_index": vchunk, f"{vkey}/file_index": vfile,
                     f"{vkey}/from_timestamp": start, f"{vkey}/to_timestamp": start + n / self.fps}

        # --- stats: this episode's, kept in its metadata row; the dataset's, aggregated over the rows
        ep_stats = {key: self._img_stats.result(n), STATE_KEY: _feature_stats(states.astype(np.float64)),
                    ACTION_KEY: _feature_stats(actions.astype(np.float64))}
        for k, v in index_cols.items():
            ep_stats[k] = _feature_stats(np.asarray(v, np.float64).reshape(n, 1))
        row = {"episode_index": ep_index, "tasks": [task], "length": n, **data_loc, **video_loc,
               "dataset_from_index": first_index, "dataset_to_index": first_index + n}
        mchunk, mfile = ((last["meta/episodes/chunk_index"], last["meta/episodes/file_index"]) if last else (0, 0))
        row.update({"meta/episodes/chunk_index": mchunk, "meta/episodes/file_index": mfile})
        for k, st in ep_stats.items():
            for s, v in st.items():
                row[f"stats/{k}/{s}"] = np.asarray(v, np.float64) if s != "count" else np.asarray(v, np.int64)
        episodes = self.episodes + [row]
        meta_rows = [r for r in episodes if (r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) == (mchunk, mfile)]
        _write_table(_episodes_table(meta_rows), stage(EPISODES_PATH.format(chunk_index=mchunk, file_index=mfile)))
        _write_table(_tasks_table(self.tasks), stage(TASKS_PATH))
        stat_keys = list(ep_stats)
        stats = aggregate_stats([_stats_from_row(r, stat_keys) for r in episodes])
        stage(STATS_PATH).write_text(json.dumps(_jsonable(stats), indent=2) + "\n")
        new_info = {**info, "total_episodes": ep_index + 1, "total_frames": first_index + n,
                    "total_tasks": len(self.tasks), "splits": {"train": f"0:{ep_index + 1}"}}
        stage(INFO_PATH).write_text(json.dumps(new_info, indent=4) + "\n")
        for _, final in renames[-2:]:
            with open(root / (final + PARTIAL), "rb+") as f:
                os.fsync(f.fileno())
        _write_journal(root, renames)  # <- the commit point
        _apply_journal(root)
        self.info, self.episodes = new_info, episodes
        self._states, self._actions, self._img_stats = [], [], _ImageStats()
        shutil.rmtree(self.work, ignore_errors=True)
        return ep_index

    def close(self) -> None:
        """Drop an unfinished episode (never half-written) and the work folder."""
        if self._closed:
            return
        self._closed = True
        self.discard_episode()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------- reader
@dataclass
class Episode:
    index: int
    frames: np.ndarray  # uint8 [T, H, W, 3]
    states: np.ndarray | None  # float32 [T, S] (None when the dataset has no state feature)
    actions: np.ndarray | None  # float32 [T, A]
    task: str = ""

    def __len__(self) -> int:
        return len(self.frames)


class RobotDataset:
    """A LeRobot v3.0 dataset folder: per-episode frames, states and actions, fps and stats.

    `image_key` defaults to the first `observation.images.*` video/image feature, `state_key` to
    `observation.state`, `action_key` to `action` (LeRobot's names); a key the dataset lacks is an
    error listing the keys it has. `state_key=None` / `action_key=None`: not needed."""

    def __init__(self, root, *, image_key: str | None = None, state_key: str | None = STATE_KEY,
                 action_key: str | None = ACTION_KEY):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{root}: no such dataset folder")
        if (self.root / JOURNAL).is_file():
            recover(self.root)
        self.info = _load_info(self.root)
        self.features: dict = self.info["features"]
        self.fps = int(self.info["fps"])
        self.image_key = self._image_key(image_key)
        self.state_key = self._vector_key(state_key, "--state-key")
        self.action_key = self._vector_key(action_key, "--action-key")
        self.episodes = _load_episodes(self.root)
        self.tasks = _load_tasks(self.root)
        self.stats = self._load_stats()
        self._decoded: tuple[str, np.ndarray, np.ndarray] | None = None  # (file, frames, timestamps)
        self._tables: dict[str, dict] = {}

    # --- keys
    def _keys_line(self) -> str:
        return ", ".join(f"{k} ({v.get('dtype')} {list(v.get('shape', []))})" for k, v in self.features.items())

    def _image_key(self, key: str | None) -> str:
        images = [k for k, v in self.features.items() if v.get("dtype") in IMAGE_DTYPES]
        if key is None:
            cams = [k for k in images if k.startswith("observation.images.")] or images
            if not cams:
                raise DataError(f"{self.root}: no video or image feature; it has {self._keys_line()}")
            return cams[0]
        if key not in self.features:
            raise DataError(f"{self.root}: no feature {key!r} (--image-key); it has {self._keys_line()}")
        dtype = self.features[key].get("dtype")
        if dtype not in IMAGE_DTYPES:
            raise DataError(f"{self.root}: --image-key {key!r} is a {dtype} feature, not a video or image; "
                            f"video/image features: {', '.join(images) or 'none'}")
        return key

    def _vector_key(self, key: str | None, flag: str) -> str | None:
        if key is None:
            return None
        if key not in self.features:
            raise DataError(f"{self.root}: no feature {key!r} ({flag}); it has {self._keys_line()}")
        ft = self.features[key]
        if ft.get("dtype") in IMAGE_DTYPES + ("string",) or len(ft.get("shape", [])) != 1:
            raise DataError(f"{self.root}: {flag} {key!r} is a {ft.get('dtype')} feature of shape "
                            f"{list(ft.get('shape', []))}, not a vector")
        return key

    def dim(self, key: str | None) -> int:
        return int(self.features[key]["shape"][0]) if key else 0

    @property
    def state_dim(self) -> int:
        return self.dim(self.state_key)

    @property
    def action_dim(self) -> int:
        return self.dim(self.action_key)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.features[self.image_key]["shape"])

    def _load_stats(self) -> dict:
        p = self.root / STATS_PATH
        if not p.is_file():
            return {}
        raw = json.loads(p.read_text())
        return {k: {s: np.asarray(v, np.float64) for s, v in d.items()} for k, d in raw.items()}

    def norm(self, key: str | None) -> dict | None:
        """{"mean": [...], "std": [...]} of a vector feature from meta/stats.json (std 0 -> 1)."""
        if not key:
            return None
        if key not in self.stats or not {"mean", "std"} <= set(self.stats[key]):
            raise DataError(f"{self.root}: meta/stats.json has no mean/std of {key!r}")
        mean = self.stats[key]["mean"].reshape(-1)
        std = self.stats[key]["std"].reshape(-1)
        std = np.where(std > 1e-8, std, 1.0)
        return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}

    # --- content
    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return int(sum(e["length"] for e in self.episodes))

    def describe(self) -> dict:
        return {"source": "robot_dataset", "root": str(self.root.resolve()), "episodes": len(self),
                "frames": self.num_frames, "fps": self.fps, "image_key": self.image_key,
                "state_key": self.state_key, "action_key": self.action_key}

    def _data(self, ep: dict) -> dict:
        rel = self.info["data_path"].format(chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"])
        if rel not in self._tables:
            p = self.root / rel
            if not p.is_file():
                raise DataError(f"{self.root}: episode {ep['episode_index']}'s rows should be in {rel}, which is missing")
            t = _read_table(p)
            cols = {"episode_index": t.column("episode_index").to_numpy(),
                    "frame_index": t.column("frame_index").to_numpy()}
            for key in {self.state_key, self.action_key} - {None}:
                c = t.column(key).combine_chunks()
                flat = c.flatten().to_numpy(zero_copy_only=False)
                cols[key] = np.asarray(flat, np.float32).reshape(len(t), -1)
            if self.features[self.image_key]["dtype"] == "image":
                cols[self.image_key] = t.column(self.image_key).to_pylist()
            self._tables = {rel: cols}  # one file at a time
        return self._tables[rel]

    def _rows(self, ep: dict) -> tuple[dict, np.ndarray]:
        cols = self._data(ep)
        rows = np.flatnonzero(cols["episode_index"] == ep["episode_index"])
        rows = rows[np.argsort(cols["frame_index"][rows], kind="stable")]
        if len(rows) != ep["length"]:
            raise DataError(f"{self.root}: episode {ep['episode_index']} has {len(rows)} rows, its metadata says "
                            f"{ep['length']}")
        return cols, rows

    def _frames(self, ep: dict) -> np.ndarray:
        n = int(ep["length"])
        if self.features[self.image_key]["dtype"] == "image":
            import cv2

            cols, rows = self._rows(ep)
            out = []
            for r in rows:
                item = cols[self.image_key][r]
                raw = item["bytes"] if isinstance(item, dict) and item.get("bytes") else Path(self.root / item["path"]).read_bytes()
                bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
                out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            return np.stack(out)
        vkey = f"videos/{self.image_key}"
        rel = self.info["video_path"].format(video_key=self.image_key, chunk_index=ep[f"{vkey}/chunk_index"],
                                             file_index=ep[f"{vkey}/file_index"])
        if self._decoded is None or self._decoded[0] != rel:
            p = self.root / rel
            if not p.is_file():
                raise DataError(f"{self.root}: episode {ep['episode_index']}'s video should be {rel}, which is missing")
            frames, stamps = decode_video(p)
            self._decoded = (rel, frames, stamps)  # one file decoded at a time, front to back
        _, frames, stamps = self._decoded
        # frame i of the file is shown at i / fps; the episode starts at from_timestamp
        first = int(round(float(ep[f"{vkey}/from_timestamp"]) * self.fps))
        idx = np.rint(stamps * self.fps).astype(np.int64) if np.isfinite(stamps).all() else np.arange(len(frames))
        pos = np.searchsorted(idx, first)
        if pos + n > len(frames) or idx[pos] != first or (n > 1 and idx[pos + n - 1] != first + n - 1):
            raise DataError(f"{self.root}: {rel} has no frames {first}..{first + n - 1} for episode "
                            f"{ep['episode_index']} ({len(frames)} frames)")
        return frames[pos:pos + n]

    def episode(self, i: int) -> Episode:
        if not 0 <= i < len(self.episodes):
            raise DataError(f"episode {i} out of range (0..{len(self.episodes) - 1})")
        ep = self.episodes[i]
        frames = self._frames(ep)
        states = actions = None
        if self.state_key or self.action_key:
            cols, rows = self._rows(ep)
            states = cols[self.state_key][rows] if self.state_key else None
            actions = cols[self.action_key][rows] if self.action_key else None
        tasks = ep.get("tasks") or [""]
        return Episode(i, frames, states, actions, tasks[0] if tasks else "")

    def iter_episodes(self):
        """Every episode in order; each video file is decoded once."""
        for i in range(len(self.episodes)):
            yield self.episode(i)
