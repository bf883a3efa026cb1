"""Closed loop in simulation: the built-in world driven by the real C firmware over a real link.

    loop --Link (pyserial)--> [host pty] ==cable== [firmware pty] --> bridge_sim (C core)
                                              |
                       STATE frames decoded at the firmware end of the cable
                                              v
                         world.set_agent_velocity(actuator velocity) ; world.step()

Every command goes through the bridge codec, the pty, the C decoder, the firmware's command
handling and its watchdog; the world moves the agent with the actuator velocity the firmware
reports, so when the firmware stops by itself (validity window expired) the agent stops too.
The cable is a relay we control: `cut_cable()` pulls it (the host hears nothing and its
frames go nowhere, while the firmware keeps running), `reconnect_cable()` plugs it back in.
"""
from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty

import numpy as np

from jepa_edge.robot.camera import RenderCamera
from jepa_edge.robot.robot import LinkRobot
from jepa_edge.utils.rate import RateTimer


def _raw(fd: int) -> None:
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class CableRelay:
    """A serial cable between a new host-side pty (`host_path`) and the simulator's pty.

    Bytes are forwarded both ways while plugged; the firmware's output is also decoded here
    (`on_frame(msg)`), which is how the simulated world follows the actuator.
    """

    def __init__(self, firmware_path: str, on_frame):
        from jepa_edge.bridge.codec import Decoder

        self.fw_fd = os.open(firmware_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        _raw(self.fw_fd)
        self.master, self._slave = os.openpty()  # we keep the slave open: no HUP while the host reopens
        _raw(self._slave)
        os.set_blocking(self.master, False)
        self.host_path = os.ttyname(self._slave)
        self.on_frame = on_frame
        self.decoder = Decoder()
        self.plugged = True
        self.fw_frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-cable", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from jepa_edge.bridge.codec import Frame

        while not self._stop.is_set():
            ready, _, _ = select.select([self.fw_fd, self.master], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    continue
                if fd == self.fw_fd:
                    for r in self.decoder.feed(data):
                        if isinstance(r, Frame):
                            self.fw_frames += 1
                            self.on_frame(r.msg)
                    if self.plugged:
                        self._write(self.master, data)
                elif self.plugged:
                    self._write(self.fw_fd, data)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except OSError:
            pass  # nobody listening: like a UART, the bytes are lost

    def cut(self) -> None:
        self.plugged = False

    def reconnect(self) -> None:
        self.plugged = True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for fd in (self.fw_fd, self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class SimRobot(LinkRobot):
    """The built-in world as the robot and its camera, behind the firmware simulator."""

    def __init__(self, world, *, img_size: int = 64, realtime: bool = True, physics_hz: float = 30.0,
                 connect_timeout_s: float = 5.0, simulator_config=None, command_valid_ms: float | None = None,
                 action_bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None):
        from jepa_edge.bridge.messages import FaultCode, FaultMsg, StateMsg
        from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator

        self.world = world
        self.img_size = img_size
        self.realtime = realtime
        self.dt = 1.0 / physics_hz
        self.lock = threading.RLock()
        self.actuator = np.zeros(2)  # velocity the firmware outputs, in [-1, 1] per axis
        self.actuator_seq = -1  # seq of the COMMAND the firmware applied last
        self.watchdog_stops = 0  # FAULT(WATCHDOG) frames: the firmware stopped by itself
        self.estop_faults = 0
        self.fault_log: list[tuple[float, int]] = []  # (monotonic time, FaultCode) as the firmware sent them
        self.camera_unplugged = False
        self._state_event = threading.Condition()
        self._msg_types = (StateMsg, FaultMsg, FaultCode)
        # STATE every 5 ms so lockstep ticks do not wait for the default 20 ms stream.
        self.sim = start_simulator(config=simulator_config or SimulatorConfig(state_ms=5))
        self.cable = CableRelay(self.sim.device, self._on_firmware_frame)
        super().__init__(self.cable.host_path, connect_timeout_s=connect_timeout_s,
                         command_valid_ms=command_valid_ms, action_bounds=action_bounds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the firmware's side ---------------------------------------------------------------------
    def _on_firmware_frame(self, msg) -> None:
        StateMsg, FaultMsg, FaultCode = self._msg_types
        if isinstance(msg, StateMsg):
            with self._state_event:
                self.actuator = np.asarray(msg.velocities[:2], np.float64)
                self.actuator_seq = msg.last_cmd_seq
                self._state_event.notify_all()
        elif isinstance(msg, FaultMsg):
            self.fault_log.append((time.monotonic(), int(msg.code)))
            if msg.code == FaultCode.WATCHDOG:
                self.watchdog_stops += 1
            elif msg.code == FaultCode.ESTOP:
                self.estop_faults += 1

    def _apply_actuator_and_step(self, dt: float) -> None:
        with self.lock:
            self.world.set_agent_velocity(self.actuator * self.world.cfg.max_speed)
            self.world.step(None, dt=dt)

    def _physics(self) -> None:
        timer = RateTimer(1.0 / self.dt, self._stop)
        while not self._stop.is_set():
            timer.wait()
            if not self._stop.is_set():
                self._apply_actuator_and_step(self.dt)

    # ---- Robot -----------------------------------------------------------------------------------
    def connect(self) -> None:
        super().connect()
        if self.realtime and self._thread is None:
            self._thread = threading.Thread(target=self._physics, name="sim-physics", daemon=True)
            self._thread.start()

    def advance(self) -> None:
        """Lockstep: wait (briefly) until the firmware applied the last COMMAND, then step once."""
        deadline = time.monotonic() + 0.5  # normally a few ms (STATE every 5 ms); generous under load
        if self.last_seq >= 0:
            with self._state_event:
                while self.actuator_seq != self.last_seq and time.monotonic() < deadline:
                    self._state_event.wait(0.01)
        self._apply_actuator_and_step(self.dt)

    def state(self) -> np.ndarray:
        """The robot's proprioception: agent x, y, vx, vy (what the AC predictor was trained with)."""
        with self.lock:
            return self.world.state.proprio()

    def render(self) -> np.ndarray:
        if self.camera_unplugged:
            raise OSError("camera unplugged")
        with self.lock:
            return self.world.render(self.img_size)

    def camera(self, fps: float) -> RenderCamera:
        return RenderCamera(self.render, fps if self.realtime else 0.0, name="world")

    # ---- fault drills ----------------------------------------------------------------------------
    def cut_cable(self) -> None:
        self.cable.cut()

    def reconnect_cable(self) -> None:
        self.cable.reconnect()

    def unplug_camera(self) -> None:
        self.camera_unplugged = True

    def teleport_in_front(self, distance: float = 0.15) -> int:
        """An impossible event: the object nearest to the spot just ahead of the agent jumps there."""
        with self.lock:
            w = self.world
            v = w.agent_vel if np.hypot(*w.agent_vel) > 1e-6 else 0.5 - w.agent_pos
            ahead = w.agent_pos + v / max(np.hypot(*v), 1e-9) * distance
            k = int(np.argmin(np.hypot(*(w.obj_pos - ahead).T)))
            w.teleport(k, ahead=distance)
            return k

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        super().close()
        self.cable.close()
        self.sim.stop()
