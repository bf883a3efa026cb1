"""Cameras: read() blocks for a newer frame, read_latest never returns a stale one, unplug/replug, video files."""
import time

import cv2
import numpy as np
import pytest

from jepa_edge.errors import ConfigError
from jepa_edge.robot.camera import CameraDisconnected, CameraStalled, RenderCamera, VideoFileCamera, open_camera


class Scene:
    def __init__(self):
        self.n = 0
        self.hang = False
        self.unplugged = False

    def render(self):
        while self.hang:
            time.sleep(0.01)
        if self.unplugged:
            raise OSError("USB device gone")
        self.n += 1
        return np.full((8, 8, 3), self.n % 256, np.uint8)


def test_read_latest_is_fresh_and_read_blocks_for_a_new_frame():
    scene = Scene()
    with RenderCamera(scene.render, fps=100) as cam:
        first = cam.read(timeout=2.0)
        second = cam.read(timeout=2.0)
        assert second.index > first.index  # read() never returns the same frame twice
        latest = cam.read_latest(max_age=0.5)
        assert latest.age() <= 0.5 and latest.index >= second.index
        scene.hang = True  # the device stops delivering
        time.sleep(0.2)
        with pytest.raises(CameraStalled, match="ms old"):
            cam.read_latest(max_age=0.1)
        scene.hang = False


def test_unplug_is_reported_and_a_replug_recovers():
    scene = Scene()
    with RenderCamera(scene.render, fps=100) as cam:
        cam.read(timeout=2.0)
        scene.unplugged = True
        time.sleep(0.1)
        with pytest.raises(CameraDisconnected, match="USB device gone"):
            cam.read_latest(max_age=1.0)
        scene.unplugged = False
        deadline = time.monotonic() + 3.0
        while True:
            try:
                frame = cam.read_latest(max_age=1.0)
                break
            except CameraDisconnected:
                assert time.monotonic() < deadline, "camera did not come back after the replug"
                time.sleep(0.02)
        assert frame.image.shape == (8, 8, 3)


def test_synchronous_render_camera_for_lockstep():
    scene = Scene()
    cam = RenderCamera(scene.render, fps=0).open()
    a, b = cam.read_latest(0.01), cam.read_latest(0.01)
    assert b.index == a.index + 1 and scene.n == 2  # each read renders the scene as it is now
    scene.unplugged = True
    with pytest.raises(CameraDisconnected):
        cam.read_latest(0.01)


def test_video_file_plays_in_order_then_ends(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (16, 16))
    for i in range(6):
        writer.write(np.full((16, 16, 3), 40 * i, np.uint8))
    writer.release()
    cam = open_camera(str(path), fps=100)
    assert isinstance(cam, VideoFileCamera)
    with cam:
        means = []
        while True:
            try:
                means.append(cam.read(timeout=2.0).image.mean())
            except CameraDisconnected as e:
                assert "stream ended" in str(e)
                break
    assert len(means) >= 3 and means == sorted(means)  # frames in order (some may be skipped, none repeated)


def test_bad_sources_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="neither a device index"):
        open_camera("nowhere.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ConfigError, match="cannot open video file"):
        open_camera(str(bad))


GST = ("nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! nvvidconv ! "
       "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1")


def _build_info(gstreamer: str) -> str:
    return f"General configuration for OpenCV 4.8.0\n  Video I/O:\n    FFMPEG:  YES\n    GStreamer:   {gstreamer}\n"


def test_a_gstreamer_pipeline_opens_through_opencvs_gstreamer_backend(monkeypatch):
    """A Jetson CSI camera: OpenCV built with GStreamer gets the pipeline with CAP_GSTREAMER."""
    import cv2

    from jepa_edge.robot.camera import GStreamerCamera, opencv_has_gstreamer

    opened = []

    class FakeCapture:
        def __init__(self, *args):
            opened.append(args)

        def isOpened(self):
            return True

        def set(self, *a):
            return True

        def read(self):
            return True, np.full((4, 6, 3), (10, 20, 30), np.uint8)  # BGR

        def release(self):
            pass

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: _build_info("YES (1.20.3)"))
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    assert opencv_has_gstreamer() and not opencv_has_gstreamer(_build_info("NO"))
    cam = open_camera(GST)
    assert isinstance(cam, GStreamerCamera) and opened == [(GST, cv2.CAP_GSTREAMER)]
    with cam:
        frame = cam.read(timeout=2.0)
    assert frame.image[0, 0].tolist() == [30, 20, 10]  # RGB
    assert isinstance(open_camera("gst:videotestsrc ! appsink"), GStreamerCamera)
    assert opened[-1] == ("videotestsrc ! appsink", cv2.CAP_GSTREAMER)


def test_a_gstreamer_pipeline_without_gstreamer_in_opencv_says_so(monkeypatch):
    import cv2

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: _build_info("NO"))
    with pytest.raises(ConfigError, match="built without GStreamer.*JetPack") as e:
        open_camera(GST)
    assert "\n" not in str(e.value)
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: _build_info("YES (1.20.3)"))
    with pytest.raises(ConfigError, match="must end in appsink"):
        open_camera("gst:v4l2src ! videoconvert")
