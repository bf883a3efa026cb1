"""Cameras: `read()` blocks for the next frame, `read_latest(max_age)` never hands back a stale one.

A grabber thread keeps only the newest frame (a robot loop must act on what the camera sees now,
not on a queue of old frames). When the newest frame is older than `max_age` the camera is
stalled; when the device is gone it is disconnected. Both raise a `CameraFault` that the loop's
safety layer turns into a safe command.

Sources: an OpenCV device index or V4L2 path, a GStreamer pipeline (a Jetson's CSI camera through
`nvarguscamerasrc`, when OpenCV was built with GStreamer), a video file (paced at its frame rate),
or any render function (the built-in world, a Gymnasium env) as a simulated camera.
"""
from __future__ import annotations

import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from jepa_edge.errors import ConfigError


class CameraFault(RuntimeError):
    """The camera cannot deliver a fresh frame."""


class CameraStalled(CameraFault):
    """The newest frame is older than allowed (device hung, cable flaky, USB bandwidth)."""


class CameraDisconnected(CameraFault):
    """The device vanished or the stream ended."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 [H, W, 3], RGB
    t: float  # time.monotonic() when it was captured
    index: int  # 0, 1, 2, ... in capture order

    def age(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.t


class Camera(ABC):
    """Every camera: context manager, `read()`, `read_latest(max_age)`."""

    def open(self) -> "Camera":
        return self

    @abstractmethod
    def read(self, timeout: float = 2.0) -> Frame:
        """Block until a frame newer than the last one returned arrives."""

    @abstractmethod
    def read_latest(self, max_age: float) -> Frame:
        """The newest frame, at most `max_age` seconds old; raise CameraStalled/Disconnected otherwise."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


class ThreadedCamera(Camera):
    """A grabber thread calls `_grab()` as fast as the source delivers and keeps the newest frame."""

    def __init__(self, name: str):
        self.name = name
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._returned = -1
        self._error: str | None = None
        self._count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _grab(self) -> np.ndarray | None:
        """One frame (RGB uint8), or None when the source has ended. May raise on device loss."""

    def _release(self) -> None:
        pass

    def open(self) -> "ThreadedCamera":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"camera:{self.name}", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                image = self._grab()
            except Exception as e:  # device lost: report it, then keep trying (it may be replugged)
                with self._cond:
                    self._error = f"camera {self.name}: {type(e).__name__}: {e}"
                    self._cond.notify_all()
                self._stop.wait(backoff)
                backoff = min(1.0, backoff * 2)
                self._reopen()
                continue
            with self._cond:
                if image is None:
                    self._error = f"camera {self.name}: stream ended"
                    self._cond.notify_all()
                    break
                self._error = None
                backoff = 0.05
                self._latest = Frame(np.ascontiguousarray(image), time.monotonic(), self._count)
                self._count += 1
                self._cond.notify_all()
        self._release()

    def _reopen(self) -> None:
        """Try to get the device back after an error (a replugged USB camera)."""

    def read(self, timeout: float = 2.0) -> Frame:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.index <= self._returned:
                if self._error:
                    raise CameraDisconnected(self._error)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraStalled(f"camera {self.name}: no frame within {timeout:.2f}s")
                self._cond.wait(left)
            self._returned = self._latest.index
            return self._latest

    def read_latest(self, max_age: float) -> Frame:
        with self._cond:
            frame, error = self._latest, self._error
        if error:
            raise CameraDisconnected(error)
        if frame is None:
            raise CameraStalled(f"camera {self.name}: no frame yet")
        age = frame.age()
        if age > max_age:
            raise CameraStalled(f"camera {self.name}: newest frame is {age * 1e3:.0f} ms old (max {max_age * 1e3:.0f} ms)")
        self._returned = frame.index
        return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None


class RenderCamera(ThreadedCamera):
    """A simulated camera: calls `render()` at `fps` (the built-in world, a Gymnasium env).

    With fps <= 0 it is synchronous: each read renders the scene as it is now (lockstep mode).
    A render that raises is a disconnected camera, which is how tests unplug it.
    """

    def __init__(self, render: Callable[[], np.ndarray], fps: float, name: str = "sim"):
        super().__init__(name)
        self.render = render
        self.fps = fps
        self._next = time.monotonic()

    def _grab(self) -> np.ndarray | None:
        self._next += 1.0 / self.fps
        delay = self._next - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        else:
            self._next = time.monotonic()  # fell behind: do not burst to catch up
        return self.render()

    def open(self) -> "RenderCamera":
        return super().open() if self.fps > 0 else self

    def _render_now(self) -> Frame:
        try:
            image = self.render()
        except Exception as e:
            raise CameraDisconnected(f"camera {self.name}: {type(e).__name__}: {e}") from None
        frame = Frame(np.ascontiguousarray(image), time.monotonic(), self._count)
        self._count += 1
        return frame

    def read(self, timeout: float = 2.0) -> Frame:
        return super().read(timeout) if self.fps > 0 else self._render_now()

    def read_latest(self, max_age: float) -> Frame:
        return super().read_latest(max_age) if self.fps > 0 else self._render_now()


class OpenCVCamera(ThreadedCamera):
    """A V4L2/USB camera through OpenCV: a device index (0) or a path (/dev/video0)."""

    api: int | None = None  # OpenCV's capture API preference (None: its own choice)

    def __init__(self, source: int | str, fps: float = 30.0, width: int = 0, height: int = 0):
        super().__init__(str(source))
        import cv2

        self._cv2 = cv2
        self._source = source
        self._cap = self._capture()
        if not self._cap.isOpened():
            raise ConfigError(f"cannot open camera {source!r}: {self._hint()}")
        # A 1-frame driver buffer: the loop wants the newest frame, never a queued one.
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        if width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def _capture(self):
        cv2 = self._cv2
        return cv2.VideoCapture(self._source) if self.api is None else cv2.VideoCapture(self._source, self.api)

    def _hint(self) -> str:
        return "check the index/path and that no other process holds it"

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok:
            raise OSError("device returned no frame (unplugged?)")
        return self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)

    def _reopen(self) -> None:
        self._cap.release()
        if self.api is None:
            self._cap.open(self._source)
        else:
            self._cap.open(self._source, self.api)
        self._cap.set(self._cv2.CAP_PROP_BUFFERSIZE, 1)

    def _release(self) -> None:
        self._cap.release()


class VideoFileCamera(ThreadedCamera):
    """A video file played back in real time at its own frame rate (or `fps` when given)."""

    def __init__(self, path: str | Path, fps: float = 0.0, loop: bool = False):
        super().__init__(Path(path).name)
        import cv2

        self._cv2 = cv2
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise ConfigError(f"cannot open video file {path}: missing or not a format OpenCV can read")
        self.fps = fps or self._cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.loop = loop
        self._next = time.monotonic()

    def _grab(self) -> np.ndarray | None:
        self._next += 1.0 / self.fps
        delay = self._next - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        ok, bgr = self._cap.read()
        if not ok and self.loop:
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok:
            return None
        return self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)

    def _release(self) -> None:
        self._cap.release()


def opencv_has_gstreamer(build_information: str | None = None) -> bool:
    """Whether this OpenCV was built with GStreamer (`cv2.getBuildInformation()`, "Video I/O" section:
    `GStreamer: YES (1.20.3)`). pip's opencv-python wheels say NO; JetPack's OpenCV says YES."""
    if build_information is None:
        import cv2

        build_information = cv2.getBuildInformation()
    m = re.search(r"^\s*GStreamer:\s*(\S+)", build_information, re.MULTILINE)
    return bool(m) and m.group(1).upper().startswith("YES")


def is_gstreamer_pipeline(source: str) -> bool:
    """`gst:PIPELINE`, or a string with GStreamer's `!` links (e.g. `nvarguscamerasrc ! ... ! appsink`)."""
    return source.startswith("gst:") or " ! " in source or source.rstrip().endswith("appsink")


class GStreamerCamera(OpenCVCamera):
    """A GStreamer pipeline ending in `appsink`, opened by OpenCV's GStreamer backend. On a Jetson, a CSI
    camera: `nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! nvvidconv
    ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1`
    (`drop=true max-buffers=1`: the appsink keeps only the newest frame). Size and rate are the
    pipeline's caps; camera.width/height/fps do not apply."""

    def __init__(self, pipeline: str):
        import cv2

        pipeline = pipeline[4:] if pipeline.startswith("gst:") else pipeline
        if not opencv_has_gstreamer():
            raise ConfigError("camera.source is a GStreamer pipeline, but this OpenCV was built without GStreamer "
                              "(cv2.getBuildInformation(): GStreamer NO; pip's opencv wheels lack it): use an OpenCV "
                              "built with it (on a Jetson, JetPack's python3-opencv) or a /dev/video* device")
        if "appsink" not in pipeline:
            raise ConfigError(f"camera.source GStreamer pipeline must end in appsink (OpenCV reads frames there): {pipeline!r}")
        self.api = cv2.CAP_GSTREAMER
        super().__init__(pipeline, fps=0.0)
        self.name = pipeline.split("!")[0].strip() or "gstreamer"

    def _hint(self) -> str:
        return "GStreamer could not start the pipeline: try it with gst-launch-1.0 (with fakesink for appsink)"


def open_camera(source: str, fps: float = 30.0, width: int = 0, height: int = 0, loop_video: bool = False) -> Camera:
    """A device index ("0"), a V4L2 path (/dev/video*), a GStreamer pipeline or a video file. Simulated
    cameras are made by the simulation (`sim_robot`, `gym`) since they need the world they render."""
    if is_gstreamer_pipeline(source):
        return GStreamerCamera(source)
    if source.isdigit():
        return OpenCVCamera(int(source), fps, width, height)
    if source.startswith("/dev/"):
        return OpenCVCamera(source, fps, width, height)
    if Path(source).is_file():
        return VideoFileCamera(source, fps, loop_video)
    raise ConfigError(f"camera.source {source!r} is neither a device index, a /dev path, a GStreamer pipeline "
                      "(... ! appsink), an existing video file, nor 'world'/'gym' (simulation)")
