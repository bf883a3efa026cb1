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
