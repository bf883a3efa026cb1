"""The robot as the loop sees it: send an action with a validity window, stop safely, report state.

`LinkRobot` is a real board behind the serial bridge (`jepa_edge.bridge.link.Link`); the
simulations (`sim_robot.SimRobot`, `gym.GymRobot`) implement the same interface.
Every method is safe to call from the loop's threads and none raises on a lost link: a robot
that cannot be reached is reported through `link_ok()`, never by an exception mid-tick.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from jepa_edge.bridge.messages import Status
from jepa_edge.robot.faults import StopReason


class Robot(ABC):
    action_dim: int = 2

    def connect(self) -> None:
        pass

    @abstractmethod
    def send(self, action: np.ndarray, valid_ms: float) -> None:
        """Command `action` for at most `valid_ms`; after that the firmware stops by itself."""

    @abstractmethod
    def safe_stop(self, reason: StopReason) -> bool:
        """Zero command, then ESTOP (for `reason`: robot/faults.py ESTOP_REASONS). Never raises.
        Returns True only when the robot confirmed it stopped (a firmware's STATE shows the ESTOP
        latched and the outputs at zero; an in-process simulation stops by construction)."""

    def command_window_ms(self) -> float | None:
        """Validity window of the last command sent: how long the robot may keep moving on its own
        when the host can no longer reach it (None: unknown)."""
        return None

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

    def __init__(self, url: str, baudrate: int = 115200, action_dim: int = 2, connect_timeout_s: float = 5.0,
                 state_period_ms: int = 0, command_valid_ms: float | None = None,
                 action_bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None):
        """`command_valid_ms` and `action_bounds` (the planner's low, high) are checked against what
        the firmware says in its HELLO_ACK when the link connects: never clamped in silence."""
        from jepa_edge.bridge.link import Link, LinkConfig

        self.url = url
        self.action_dim = action_dim
        self.link = Link(url, baudrate=baudrate, config=LinkConfig(state_period_ms=state_period_ms))
        self.connect_timeout_s = connect_timeout_s
        self.command_valid_ms, self.action_bounds = command_valid_ms, action_bounds
        self.last_seq = -1
        self.sent = 0
        self.estops = 0
        self.stop_confirmed = False  # the firmware reported ESTOP latched and outputs at zero
        self.last_window_ms: int | None = None

    def connect(self) -> None:
        self.link.open(timeout_s=self.connect_timeout_s)  # LinkError: a message the user can act on
        fw = self.link.firmware
        if fw is not None and fw.status & Status.ESTOP:  # latched by an earlier run
            # Starting a run is the operator's explicit "go": clear it (outputs stay at zero until
            # the first COMMAND).
            self.link.resume()
        problem = self._mismatch(fw) if fw is not None else None
        if problem:
            from jepa_edge.errors import ConfigError

            self.link.close()
            raise ConfigError(f"the firmware on {self.url} {problem}")

    def _mismatch(self, fw) -> str | None:
        """What in the config the firmware cannot do, in words, or None."""
        if fw.n_actuators != self.action_dim:
            return (f"drives {fw.n_actuators} actuators but the planner plans {self.action_dim}-d actions: "
                    "fix planner.action_low/action_high")
        if self.command_valid_ms is not None and self.command_valid_ms > fw.max_valid_ms:
            return (f"accepts command windows up to {fw.max_valid_ms} ms (its max_valid_ms), but "
                    f"schedule.command_valid_ms = {self.command_valid_ms:g}: set it to at most {fw.max_valid_ms}")
        if self.action_bounds is not None and any(abs(v) > 1.0 for bound in self.action_bounds for v in bound):
            return ("takes actions in [-1, 1] per actuator (full scale), but planner.action_low/action_high = "
                    f"{list(self.action_bounds[0])}/{list(self.action_bounds[1])}: keep them within [-1, 1]")
        return None

    def _window(self, valid_ms: float) -> int:
        fw = self.link.firmware
        return int(min(max(1, round(valid_ms)), fw.max_valid_ms if fw else 1000))

    def send(self, action: np.ndarray, valid_ms: float) -> None:
        a = np.nan_to_num(np.clip(np.asarray(action, np.float64).reshape(-1), -1.0, 1.0))
        window = self._window(valid_ms)
        try:
            self.last_seq = self.link.send_command(a, window)
            self.sent += 1
            self.last_window_ms = window
        except Exception:  # a lost link shows up in link_ok(); the firmware stops by itself
            self.last_seq = -1

    def command_window_ms(self) -> float | None:
        return self.last_window_ms

    def safe_stop(self, reason: StopReason, confirm_s: float = 0.25) -> bool:
        """Zero command, ESTOP, then wait up to `confirm_s` for a STATE showing the ESTOP latched."""
        t = time.monotonic()
        self.stop_confirmed = False
        try:
            self.link.send_command(np.zeros(self.action_dim), self._window(50))
        except Exception:
            pass
        try:
            self.link.send_estop(reason.estop)
        except Exception:
            pass
        self.estops += 1
        while time.monotonic() - t < confirm_s:
            st = self.link.latest_state()
            if st is not None and st.received_at > t and st.status & Status.ESTOP and st.stopped:
                self.stop_confirmed = True
                return True
            time.sleep(0.005)
        return False

    def state(self) -> np.ndarray | None:
        """Positions then velocities the firmware last reported (x, y, vx, vy for a 2-axis base)."""
        st = self.link.latest_state()
        if st is None:
            return None
        return np.asarray([*st.positions, *st.velocities], np.float32)

    def link_ok(self) -> bool:
        return bool(self.link.connected)

    def close(self) -> None:
        try:
            self.link.close()
        except Exception:
            pass
