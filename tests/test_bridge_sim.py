"""The host bridge against the real peer: the compiled C firmware simulator on a pty, driven
through pyserial. Handshake, command/state round trips, refusals, the watchdog, ESTOP, garbage."""
from __future__ import annotations

import math
import random
import struct
import time

import pytest
import serial

from jepa_edge.bridge.codec import Decoder, Frame, encode_frame, encode_raw
from jepa_edge.bridge.link import Link
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, AckMsg, CommandMsg, HeartbeatMsg, HelloAckMsg, HelloMsg, MsgType, NackMsg,
    NackReason, StateMsg, Status)
from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator
from bridge_support import needs_cc, wait_until as _wait_until

pytestmark = needs_cc


def wait_until(pred, timeout_s: float = 3.0):
    return _wait_until(pred, timeout_s)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.fixture
def sim():
    with start_simulator(config=SimulatorConfig(boot_id=0xB0071D, period_us=10_000)) as s:
        yield s


class RawPort:
    """pyserial + our codec and nothing else: to say things a well-behaved Link never says."""

    def __init__(self, path: str):
        self.ser = serial.serial_for_url(path, timeout=0.01)
        self.dec = Decoder()
        self.seq = 100

    def send(self, msg, flags: int = 0, **kw) -> int:
        self.seq += 1
        self.ser.write(encode_frame(msg, self.seq, flags, **kw))
        return self.seq

    def wait_for(self, pred, timeout_s: float = 2.0) -> Frame | None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for r in self.dec.feed(self.ser.read(256)):
                if isinstance(r, Frame) and pred(r.msg):
                    return r
        return None

    def nack_for(self, seq: int) -> NackMsg | None:
        f = self.wait_for(lambda m: isinstance(m, NackMsg) and m.nacked_seq == seq)
        return f.msg if f else None

    def close(self):
        self.ser.close()


def test_handshake_reports_the_firmware(sim):
    with Link(sim.path) as link:
        assert link.connected
        fw = link.firmware
        assert (fw.firmware_id, fw.n_actuators, fw.max_valid_ms, fw.control_period_us) == ("jepa-sim-1", 2, 1000, 10_000)
        assert link.boot_id == 0xB0071D
        assert fw.status & Status.CONNECTED


def test_command_state_round_trip(sim):
    with Link(sim.path) as link:
        for action in ([0.5, -0.25], [-1.0, 1.0], [0.125, 0.0]):
            seq = link.send_command(action, valid_ms=200)
            assert seq >= 0
            st = wait_until(lambda: (s := link.latest_state()) is not None and s.last_cmd_seq == seq and s)
            assert st, f"no STATE for command {seq}"
            assert st.velocities == tuple(f32(a) for a in action)  # accel 0: output follows the command
            assert st.status & Status.ACTIVE
        s = wait_until(lambda: (x := link.stats()).acks >= 3 and x)
        assert s.rtt_samples >= 3 and s.rtt_p50_ms is not None
        assert s.crc_errors == s.framing_errors == s.seq_gaps == s.nacks == 0
        with pytest.raises(ValueError, match="2 actuators"):
            link.send_command([0.1, 0.2, 0.3], valid_ms=100)
        with pytest.raises(ValueError, match="valid_ms"):
            link.send_command([0.1, 0.2], valid_ms=5000)


def test_firmware_refuses_bad_frames_with_reasons(sim):
    raw = RawPort(sim.path)
    try:
        seq = raw.send(CommandMsg(100, (0.5, 0.5)), FLAG_ACK_REQ)  # before HELLO
        assert raw.nack_for(seq).reason == NackReason.NOT_CONNECTED
        raw.send(HelloMsg(77))
        ack = raw.wait_for(lambda m: isinstance(m, HelloAckMsg))
        assert ack and ack.msg.nonce == 77
        cases = [
            (CommandMsg(100, (math.nan, 0.0)), NackReason.BAD_VALUE, 0),
            (CommandMsg(100, (0.0, 1.5)), NackReason.BAD_VALUE, 1),
            (CommandMsg(0, (0.1, 0.1)), NackReason.BAD_VALIDITY, 1000),
            (CommandMsg(1001, (0.1, 0.1)), NackReason.BAD_VALIDITY, 1000),
            (CommandMsg(100, (0.1, 0.1, 0.1)), NackReason.BAD_DIMENSION, 2),
            (StateMsg(0, 0, 0, (), ()), NackReason.UNEXPECTED, MsgType.STATE),
        ]
        for msg, reason, detail in cases:
            n = raw.nack_for(raw.send(msg, FLAG_ACK_REQ))
            assert n is not None and (n.reason, n.detail) == (reason, detail), (msg, n)
        raw.seq += 1  # a major version the firmware does not speak: refused, naming its own version
        raw.ser.write(encode_frame(HelloMsg(5), raw.seq, major=2))
        n = raw.nack_for(raw.seq)
        assert (n.reason, n.detail) == (NackReason.VERSION, 0x0100)
        raw.seq += 1
        raw.ser.write(encode_raw(struct.pack("<BBBBH", 1, 0, 0x7F, 0, raw.seq)))
        assert raw.nack_for(raw.seq).reason == NackReason.UNKNOWN_TYPE
        raw.seq += 1
        raw.ser.write(encode_raw(struct.pack("<BBBBH", 1, 0, MsgType.HELLO, 0, raw.seq) + b"\x01"))
        assert raw.nack_for(raw.seq).reason == NackReason.BAD_PAYLOAD
        st = raw.wait_for(lambda m: isinstance(m, StateMsg))
        assert st.msg.velocities == (0.0, 0.0) and not st.msg.status & Status.ACTIVE  # nothing moved
    finally:
        raw.close()


def test_watchdog_stops_actuators_when_host_goes_silent(sim):
    window_ms = 60
    with Link(sim.path) as link:
        seq = link.send_command([0.8, -0.6], valid_ms=window_ms)
        t_last = time.monotonic()
        assert wait_until(lambda: (s := link.latest_state()) and s.last_cmd_seq == seq and s.status & Status.ACTIVE)
        # ... and now the host says nothing more.
        fault = wait_until(lambda: next((e for e in link.events() if e.kind == "fault"), None), timeout_s=3)
        assert fault and fault.detail.startswith("WATCHDOG")
        st = wait_until(lambda: (s := link.latest_state()) and s.status & Status.WATCHDOG and s)
        assert st.velocities == (0.0, 0.0) and not st.status & Status.ACTIVE
        # The firmware never stops early: its own measure (detail, in us) is at least the window.
        detail_us = int(fault.detail.split("detail ")[1].rstrip(")"))
        assert detail_us >= window_ms * 1000
        print(f"watchdog: stop seen by host {1e3 * (fault.time - t_last):.1f} ms after the last command "
              f"(window {window_ms} ms + period 10 ms); firmware measured {detail_us / 1e3:.1f} ms")
        assert link.stats().watchdog_stops == 1
        # A fresh valid COMMAND resumes motion (the watchdog is a timeout, not a latch).
        seq = link.send_command([0.25, 0.25], valid_ms=200)
        st = wait_until(lambda: (s := link.latest_state()) and s.last_cmd_seq == seq and s)
        assert st.status & Status.ACTIVE and not st.status & Status.WATCHDOG and st.velocities == (0.25, 0.25)


def test_estop_latches_until_resume(sim):
    with Link(sim.path) as link:
        link.send_command([0.5, 0.5], valid_ms=500)
        assert wait_until(lambda: (s := link.latest_state()) and s.velocities == (0.5, 0.5))
        link.send_estop("user")
        st = wait_until(lambda: (s := link.latest_state()) and s.status & Status.ESTOP and s)
        assert st.velocities == (0.0, 0.0)
        assert wait_until(lambda: link.stats().last_fault == f"ESTOP (detail {1})")
        assert link.send_command([0.5, 0.5], valid_ms=500) == -1  # the host refuses too
        link.resume()
        assert wait_until(lambda: not link.latest_state().status & Status.ESTOP)
        seq = link.send_command([0.5, 0.5], valid_ms=500)
        assert seq >= 0
        assert wait_until(lambda: (s := link.latest_state()) and s.last_cmd_seq == seq and s.velocities == (0.5, 0.5))


def test_firmware_drops_garbage_and_keeps_serving(sim):
    raw = RawPort(sim.path)
    rng = random.Random(3)
    try:
        raw.send(HelloMsg(1))
        assert raw.wait_for(lambda m: isinstance(m, HelloAckMsg))
        acked = 0
        for i in range(20):
            raw.ser.write(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 80))))
            raw.ser.write(b"\x00")  # whatever state the garbage left, this delimiter resyncs
            seq = raw.send(CommandMsg(200, (0.25, -0.25)), FLAG_ACK_REQ)
            acked += bool(raw.wait_for(lambda m: isinstance(m, AckMsg) and m.acked_seq == seq, 1.0))
        assert acked == 20
        hb = raw.wait_for(lambda m: isinstance(m, HeartbeatMsg) and m.rx_bad > 0, 1.0)
        assert hb is not None, "the firmware should count the garbage frames it dropped"
        seq = raw.send(CommandMsg(200, (0.25, -0.25)))
        st = raw.wait_for(lambda m: isinstance(m, StateMsg) and m.last_cmd_seq == seq)
        assert st.msg.velocities == (0.25, -0.25)
    finally:
        raw.close()


def collect(raw: RawPort, duration_s: float) -> list:
    """Every message the firmware sends for `duration_s`."""
    out, end = [], time.monotonic() + duration_s
    while time.monotonic() < end:
        out += [r.msg for r in raw.dec.feed(raw.ser.read(256)) if isinstance(r, Frame)]
    return out


def test_replayed_older_command_is_ignored(sim):
    """PROTOCOL.md §6: a COMMAND whose seq is not newer than the last one handled is a
    duplicate or a replay: the firmware ignores it (no motion, no re-armed watchdog)."""
    raw = RawPort(sim.path)
    try:
        raw.ser.write(encode_frame(HelloMsg(0x5E0), 9))
        assert raw.wait_for(lambda m: isinstance(m, HelloAckMsg) and m.nonce == 0x5E0)
        drive = encode_frame(CommandMsg(1000, (1.0, 1.0)), 10, FLAG_ACK_REQ)  # seq 10 drives (+1, +1)
        raw.ser.write(drive)
        assert raw.wait_for(lambda m: isinstance(m, StateMsg) and m.last_cmd_seq == 10 and m.velocities == (1.0, 1.0))
        raw.ser.write(encode_frame(CommandMsg(1000, (0.0, 0.0)), 11, FLAG_ACK_REQ))  # seq 11 stops
        assert raw.wait_for(lambda m: isinstance(m, StateMsg) and m.last_cmd_seq == 11 and m.velocities == (0.0, 0.0))
        raw.ser.write(drive)  # seq 10's bytes arrive again
        raw.dec = Decoder()
        seen = collect(raw, 0.3)  # 15 STATE periods
        states = [m for m in seen if isinstance(m, StateMsg)]
        assert len(states) >= 3
        assert all((st.last_cmd_seq, st.velocities) == (11, (0.0, 0.0)) for st in states), states
        assert not any(isinstance(m, AckMsg) and m.acked_seq == 10 for m in seen), "a stale COMMAND was acknowledged"
        # A newer COMMAND is applied as usual, across the 16-bit wrap too: after a new HELLO at
        # 65534 (a new session's window), 65535 then 0 are newer, 65535 again is not.
        raw.ser.write(encode_frame(HelloMsg(0x5E1), 65534))
        assert raw.wait_for(lambda m: isinstance(m, HelloAckMsg) and m.nonce == 0x5E1)
        raw.ser.write(encode_frame(CommandMsg(1000, (0.5, 0.5)), 65535))
        raw.ser.write(encode_frame(CommandMsg(1000, (-0.5, -0.5)), 0))
        assert raw.wait_for(lambda m: isinstance(m, StateMsg) and m.last_cmd_seq == 0 and m.velocities == (-0.5, -0.5))
        raw.ser.write(encode_frame(CommandMsg(1000, (0.5, 0.5)), 65535))
        raw.dec = Decoder()
        states = [m for m in collect(raw, 0.15) if isinstance(m, StateMsg)]
        assert states and all((st.last_cmd_seq, st.velocities) == (0, (-0.5, -0.5)) for st in states), states
    finally:
        raw.close()


def test_the_firmware_confirming_our_own_estop_is_not_reported_as_a_fault(sim, caplog):
    """Every goal-reaching episode ends with an ESTOP: its confirmation is an info line, not a warning."""
    import logging

    with caplog.at_level(logging.INFO, logger="jepa_edge.bridge"), Link(sim.path) as link:
        assert wait_until(lambda: link.latest_state() is not None)
        link.send_estop("link")
        ev = wait_until(lambda: next((e for e in link.events() if e.kind == "estop confirmed"), None), timeout_s=3)
        assert ev and ev.detail.startswith("ESTOP")
        assert not any(e.kind == "fault" for e in link.events())
    assert not any(r.levelno >= logging.WARNING and "ESTOP" in r.getMessage() for r in caplog.records)
