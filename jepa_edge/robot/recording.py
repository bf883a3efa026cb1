"""Recording a real robot into a robot dataset: camera frames, the firmware's STATE, and a bounded
exploration policy sent over the serial link, stopping safely on every fault as `run` does
(used by `jepa-edge record --camera --link`; the writer is data/lerobot.py)."""
from __future__ import annotations

import time

import numpy as np

from jepa_edge.data.recording import SmoothRandomActions, SourceFault, SourceSpec, square_resize
from jepa_edge.errors import ConfigError


class RobotFault(SourceFault):
    """Recording stopped by a fault; `reason` is the StopReason sent to the robot."""


class RobotSource:
    """A real robot: frames from `camera` (robot/camera.py), state from the firmware's STATE
    (positions then velocities), actions from smooth random exploration inside [low, high], each
    sent with a validity window of `valid_ms` (the firmware stops by itself when no newer command
    arrives). Paced at `fps`. Any fault (camera stalled or gone, link lost, no state) stops the robot
    as `run` does: zero command, ESTOP, and a RobotFault for the caller."""

    def __init__(self, robot, camera, *, fps: int, low, high, valid_ms: float, size: int = 64,
                 seed: int = 0, max_age_s: float = 0.2, action_repeat: int = 1):
        self.robot, self.camera = robot, camera
        self.low, self.high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if len(self.low) != robot.action_dim:
            raise ConfigError(f"action bounds have {len(self.low)} values, the robot has {robot.action_dim} actuators")
        self.valid_ms, self.size, self.seed, self.max_age_s, self.repeat = valid_ms, size, seed, max_age_s, action_repeat
        n = robot.action_dim
        self.spec = SourceSpec(int(fps), 2 * n, n, "jepa_edge_firmware",
                               [f"pos_{i}" for i in range(n)] + [f"vel_{i}" for i in range(n)],
                               [f"actuator_{i}" for i in range(n)],
                               {"low": self.low.tolist(), "high": self.high.tolist(), "mode": "delta",
                                "meaning": "actuator command, full scale 1", "valid_ms": valid_ms})
        self.steps_sent = 0

    def _fault(self, kind, detail: str):
        from jepa_edge.robot.faults import StopReason

        reason = StopReason(kind, detail)
        self.robot.safe_stop(reason)
        raise RobotFault(reason)

    def episode(self, index: int, steps: int):
        from jepa_edge.robot.camera import CameraFault
        from jepa_edge.robot.faults import FaultKind

        policy = SmoothRandomActions(self.low, self.high, seed=(self.seed, index, 5))
        deadline = time.monotonic() + 1.0  # the firmware's first STATE after the handshake
        while self.robot.state() is None and self.robot.link_ok() and time.monotonic() < deadline:
            time.sleep(0.01)
        period = 1.0 / self.spec.fps
        a = policy()
        try:
            try:
                self.camera.read(timeout=2.0)  # the camera delivers (its first frame may still be coming)
            except CameraFault as e:
                self._fault(FaultKind.CAMERA, str(e))
            next_t = time.monotonic()
            for t in range(steps):
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t += period
                if not self.robot.link_ok():
                    self._fault(FaultKind.LINK, "the serial link to the firmware is lost")
                try:
                    frame = self.camera.read_latest(self.max_age_s)
                except CameraFault as e:
                    self._fault(FaultKind.CAMERA, str(e))
                state = self.robot.state()
                if state is None or len(state) != self.spec.state_dim or not np.isfinite(state).all():
                    self._fault(FaultKind.LINK, f"no valid STATE from the firmware (got {state})")
                if t % self.repeat == 0:
                    a = policy()
                self.robot.send(a, self.valid_ms)
                self.steps_sent += 1
                yield square_resize(frame.image, self.size), state, a.astype(np.float32)
        except KeyboardInterrupt:
            from jepa_edge.robot.faults import StopReason

            reason = StopReason(FaultKind.INTERRUPT, "interrupted")
            self.robot.safe_stop(reason)
            raise RobotFault(reason) from None
        # between episodes: hold still
        self.robot.send(np.zeros(self.robot.action_dim), self.valid_ms)

    def close(self) -> None:
        pass
