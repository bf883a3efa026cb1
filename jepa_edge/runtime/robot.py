"""The robot as the loop sees it: send an action with a validity window, stop safely, report state.

`LinkRobot` is a real board behind the serial bridge (`jepa_edge.bridge.link.Link`); the
simulations (`sim_robot.SimRobot`, `gym_adapter.GymRobot`) implement the same interface.
Every method is safe to call from the loop's threads and none raises on a lost link: a robot
that cannot be reached is reported through `link_ok()`, never by an exception mid-tick.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

import numpy as np


class Robot(ABC):
    action_dim: int = 2

    def connect(self) -> None:
        pass

    @abstractmethod
    def send(self, action: np.ndarray, valid_ms: float) -> None:
        """Command `action` for at most `valid_ms`; after that the firmware stops by itself."""

    @abstractmethod
    def safe_stop(self, reason: str) -> None:
        """Zero command, then ESTOP. Never raises."""

    def state(self) -> np.ndarray | None:
        """Proprioception for the AC predictor (None when unknown)."""
        return None

    def link_ok(self) -> bool:
        return True

    def advance(self) -> None:
        """Lockstep mode: let the commanded action act for one step (simulations only)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()


class LinkRobot(Robot):
    """A board running the reference firmware, reached through the serial bridge."""

    def __init__(self, url: str, baudrate: int = 115200, action_dim: int = 2, connect_timeout_s: float = 5.0):
        from jepa_edge.bridge.link import Link

        self.url = url
        self.action_dim = action_dim
        self.link = Link(url, baudrate=baudrate)
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()  # the loop, the watchdog and shutdown may all send
        self.sent = 0
        self.estops = 0
        self.last_command: np.ndarray | None = None

    def connect(self) -> None:
        from jepa_edge.errors import ConfigError

        try:
            self.link.open()
        except Exception as e:
            raise ConfigError(f"cannot open the serial link {self.url}: {e}; check link.url and that the board "
                              "runs the jepa-edge firmware") from None
        deadline = time.monotonic() + self.connect_timeout_s
        while not self.link.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.link.connected:
            raise ConfigError(f"no handshake from the firmware on {self.url} within {self.connect_timeout_s}s")

    def send(self, action: np.ndarray, valid_ms: float) -> None:
        a = np.asarray(action, np.float32)
        with self._lock:
            try:
                self.link.send_command(a, int(round(valid_ms)))
                self.sent += 1
                self.last_command = a
            except Exception:  # a lost link shows up in link_ok(); the firmware stops by itself
                pass

    def safe_stop(self, reason: str) -> None:
        with self._lock:
            for call in (lambda: self.link.send_command(np.zeros(self.action_dim, np.float32), 50),
                         lambda: self.link.send_estop(reason)):
                try:
                    call()
                except Exception:
                    pass
            self.estops += 1

    def actuator(self) -> np.ndarray | None:
        """The actuator state the firmware last reported."""
        st = self.link.latest_state()
        return None if st is None else np.asarray(_state_vector(st), np.float32)

    def state(self) -> np.ndarray | None:
        return self.actuator()

    def link_ok(self) -> bool:
        try:
            return bool(self.link.connected)
        except Exception:
            return False

    def close(self) -> None:
        try:
            self.link.close()
        except Exception:
            pass


def _state_vector(st) -> np.ndarray:
    for name in ("actuator", "state", "values", "measured"):
        if hasattr(st, name):
            return np.asarray(getattr(st, name), np.float32)
    return np.asarray(st, np.float32)
