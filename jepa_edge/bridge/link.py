"""`Link`: the host end of the serial bridge. One reader thread owns the port: it opens it by
URL, says HELLO, reads and decodes frames, sends heartbeats, notices a silent or vanished peer,
and reopens with back-off. Callers only ever see return values and `stats()`: after `open()`
has succeeded, nothing that happens to the cable raises into them.

    with Link("/dev/ttyACM0") as link:
        seq = link.send_command([0.3, -0.1], valid_ms=100)   # -1 if the link is down right now
        st = link.latest_state(max_age_s=0.1)               # StateMsg or None
        print(link.stats().rtt_p99_ms)

Safety lives in the firmware: every COMMAND carries a validity window and the firmware stops by
itself when it expires. The Link never has to be fast or alive for the robot to stop.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace

import numpy as np
import serial

from jepa_edge.bridge import codec
from jepa_edge.bridge.codec import DecodeError, Decoder, Frame, encode_frame
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, PROTO_MAJOR, PROTO_MINOR, AckMsg, CommandMsg, EstopMsg, EstopReason, FaultCode, FaultMsg,
    HeartbeatMsg, HelloAckMsg, HelloMsg, NackMsg, NackReason, ResumeMsg, StateMsg, Status, check_action)
from jepa_edge.bridge.transport import LinkError, ProtocolVersionError, open_port

log = logging.getLogger("jepa_edge.bridge")
log.addHandler(logging.NullHandler())  # a library: the application decides what gets printed

_IO_ERRORS = (serial.SerialException, OSError, TypeError, AttributeError)  # pyserial raises all of these on unplug


@dataclass(frozen=True)
class LinkConfig:
    heartbeat_period_s: float = 0.2  # host HEARTBEAT period while connected
    peer_timeout_s: float = 1.0  # no frame from the firmware for this long: link lost (5 missed beats)
    hello_retry_s: float = 0.25  # first HELLO retry; doubles up to backoff_max_s
    open_timeout_s: float = 3.0  # open() gives up after this (an Arduino may reboot on open: ~2 s)
    backoff_initial_s: float = 0.05  # reopen delay after the port vanished; doubles ...
    backoff_max_s: float = 1.0  # ... up to this
    write_timeout_s: float = 0.05  # a blocked port never stalls the caller for longer
    state_period_ms: int = 0  # ask for STATE at this period (0 = firmware default)
    ack_commands: bool = True  # ACK_REQ on COMMAND: gives RTT samples and prompt NACK reasons
    low_latency: bool = True  # Linux ASYNC_LOW_LATENCY on USB-serial adapters
    rtt_window: int = 4096  # RTT samples kept for percentiles


@dataclass(frozen=True)
class LinkStats:
    connected: bool
    boot_id: int | None
    firmware_id: str | None
    frames_rx: int
    frames_tx: int
    bytes_rx: int
    bytes_tx: int
    crc_errors: int
    framing_errors: int  # cobs, too_long, too_short
    version_errors: int
    payload_errors: int  # unknown_type, bad_payload
    seq_gaps: int  # firmware frames missing between the ones received
    acks: int
    nacks: int
    faults: int
    watchdog_stops: int
    commands_sent: int
    commands_dropped: int  # send_command() while the link was down (returned -1)
    rtt_samples: int
    rtt_p50_ms: float | None
    rtt_p99_ms: float | None
    rtt_max_ms: float | None
    connects: int  # successful handshakes
    disconnects: int  # port lost or peer silent
    resets: int  # firmware boot id changed between handshakes
    fw_rx_ok: int | None  # the firmware's own counters, from its last HEARTBEAT
    fw_rx_bad: int | None
    low_latency: bool
    estop_latched: bool
    last_nack: str | None
    last_fault: str | None
    last_error: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LinkEvent:
    kind: str  # connected | disconnected | reset | fault | nack | version | error
    time: float  # time.monotonic()
    detail: str = ""


# EstopReason by its own name ("camera", "user"): for hand-typed stops (tests, the bridge CLI). The
# loop's fault kinds map to EstopReason in one place, robot/faults.py ESTOP_REASONS.
_ESTOP_BY_NAME = {r.name.lower(): r for r in EstopReason}


def estop_reason_code(reason: int | str) -> int:
    """An ESTOP reason as its wire code: an EstopReason, or one's name ("camera", "link")."""
    if isinstance(reason, str):
        return int(_ESTOP_BY_NAME.get(reason.strip().lower(), EstopReason.UNSPECIFIED))
    return int(reason) & 0xFF


class Link:
    def __init__(self, url: str, *, baudrate: int = 115200, exclusive: bool = True,
                 config: LinkConfig | None = None):
        self.url = url
        self.baudrate = baudrate
        self.exclusive = exclusive
        self.cfg = config or LinkConfig()
        self._lock = threading.Lock()  # shared state below
        self._tx_lock = threading.Lock()  # the port object and writes to it
        self._stop = threading.Event()
        self._opened = threading.Event()  # first handshake done, or a fatal version error
        self._thread: threading.Thread | None = None
        self._port = None
        self._broken: str | None = None  # a write failed: the reader thread closes the port
        self._decoder = Decoder()
        self._session_id = random.getrandbits(32)
        self._t0 = time.monotonic()
        self._tx_seq = random.getrandbits(16)
        self._pending: dict[int, float] = {}  # seq -> perf_counter() at send, for ACK_REQ frames
        self._ping_waiters: dict[int, threading.Event] = {}
        self._rtts: deque[float] = deque(maxlen=self.cfg.rtt_window)
        self._events: deque[LinkEvent] = deque(maxlen=1024)
        self._phase = "closed"  # closed | handshake | connected
        self._hello_nonce = 0
        self._hello_at = 0.0
        self._hello_retry = self.cfg.hello_retry_s
        self._last_rx = 0.0
        self._last_hb_tx = 0.0
        self._rx_seq_next: int | None = None
        self._fw: HelloAckMsg | None = None
        self._boot_id: int | None = None
        self._state: StateMsg | None = None
        self._estop_latched = False
        self._estop_reason = int(EstopReason.UNSPECIFIED)
        self._version_error: str | None = None
        self._low_latency = False
        self._c = dict.fromkeys((
            "frames_rx", "frames_tx", "bytes_rx", "bytes_tx", "seq_gaps", "acks", "nacks", "faults",
            "watchdog_stops", "commands_sent", "commands_dropped", "connects", "disconnects", "resets"), 0)
        self._fw_rx: tuple[int, int] | None = None
        self._last_nack: str | None = None
        self._last_fault: str | None = None
        self._last_error: str | None = None

    # ------------------------------------------------------------------ public API
    def open(self, *, wait: bool = True, timeout_s: float | None = None) -> "Link":
        """Start the reader thread; with `wait`, block until the first handshake. Raises
        LinkError (no port, no answer) or ProtocolVersionError (firmware of another major
        version) only here; afterwards the link recovers by itself."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._opened.clear()
        self._thread = threading.Thread(target=self._run, name=f"bridge-link {self.url}", daemon=True)
        self._thread.start()
        if not wait:
            return self
        timeout_s = self.cfg.open_timeout_s if timeout_s is None else timeout_s
        self._opened.wait(timeout_s)
        if self._version_error:
            self.close()
            raise ProtocolVersionError(self._version_error)
        if not self.connected:
            why = self._last_error or (
                f"no HELLO_ACK from the firmware on {self.url} within {timeout_s:.1f} s: wrong port or "
                f"baud rate ({self.baudrate}), or the board does not run the jepa-edge bridge firmware")
            self.close()
            raise LinkError(why)
        return self

    def close(self) -> None:
        """Stop now (a zero COMMAND, if connected), end the reader thread, release the port."""
        if self.connected and self._fw is not None and not self._estop_latched:
            self._send(CommandMsg(max(1, min(50, self._fw.max_valid_ms)), (0.0,) * self._fw.n_actuators))
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None
        self._close_port()
        self._phase = "closed"

    def __enter__(self) -> "Link":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        # A failed write means the link is down now: the loop must not wait for the reader thread
        # or the heartbeat timeout to stop sending plan commands into a dead port.
        return self._phase == "connected" and not self._broken

    @property
    def boot_id(self) -> int | None:
        return self._boot_id

    @property
    def firmware(self) -> HelloAckMsg | None:
        """What the firmware said in its last HELLO_ACK: id, actuator count, limits."""
        return self._fw

    def send_command(self, action, valid_ms: int) -> int:
        """Command `action` (each value in [-1, 1]) for at most `valid_ms` ms; the firmware stops
        by itself when it expires. Returns the frame's seq, or -1 if nothing was sent (link down
        or ESTOP latched). Raises ValueError only for a malformed action or window."""
        fw = self._fw
        a = check_action(np.asarray(action, np.float64).reshape(-1), fw.n_actuators if fw else None)
        valid_ms = int(valid_ms)
        limit = fw.max_valid_ms if fw else 0xFFFF
        if not 1 <= valid_ms <= limit:
            raise ValueError(f"valid_ms={valid_ms}: must be 1..{limit} (the firmware's max_valid_ms)")
        if not self.connected or self._estop_latched:
            self._count("commands_dropped")
            return -1
        seq = self._send(CommandMsg(valid_ms, a), FLAG_ACK_REQ if self.cfg.ack_commands else 0)
        self._count("commands_sent" if seq >= 0 else "commands_dropped")
        return seq

    def send_estop(self, reason: int | str = EstopReason.UNSPECIFIED) -> int:
        """Stop the actuators and latch ESTOP in the firmware (honoured even before HELLO).
        The Link re-asserts it after every reconnect until `resume()`. Returns seq or -1."""
        self._estop_latched = True
        self._estop_reason = estop_reason_code(reason)
        return self._send(EstopMsg(self._estop_reason), FLAG_ACK_REQ)

    def resume(self) -> int:
        """Clear a latched ESTOP (here and in the firmware). Actuators stay still until the
        next COMMAND. Returns seq, or -1 if it could not be sent: then nothing is cleared (the
        ESTOP stays latched here too, and is re-asserted on reconnect); call it again."""
        seq = self._send(ResumeMsg(), FLAG_ACK_REQ) if self.connected else -1
        if seq >= 0:
            self._estop_latched = False
        return seq

    def ping(self, timeout_s: float = 0.5) -> float | None:
        """One HEARTBEAT with ACK_REQ; the round-trip time in seconds, or None on timeout."""
        ev = threading.Event()
        t0 = time.perf_counter()
        seq = self._send(self._heartbeat_msg(), FLAG_ACK_REQ, waiter=ev)
        if seq < 0:
            return None
        ok = ev.wait(timeout_s)
        with self._lock:
            self._ping_waiters.pop(seq, None)
        return time.perf_counter() - t0 if ok else None

    def latest_state(self, max_age_s: float | None = None) -> StateMsg | None:
        """The last STATE from the firmware (its `received_at` is the host's monotonic clock),
        or None if there is none, or it is older than `max_age_s`."""
        st = self._state
        if st is None or (max_age_s is not None and time.monotonic() - st.received_at > max_age_s):
            return None
        return st

    def events(self) -> list[LinkEvent]:
        """Drain what happened since the last call: connects, resets, faults, NACKs."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def stats(self) -> LinkStats:
        with self._lock:
            c = dict(self._c)
            rtts = np.asarray(self._rtts, np.float64) * 1e3
        dc = self._decoder.counts
        pct = (lambda q: float(np.percentile(rtts, q))) if rtts.size else (lambda q: None)
        return LinkStats(
            connected=self.connected, boot_id=self._boot_id, firmware_id=self._fw.firmware_id if self._fw else None,
            frames_rx=c["frames_rx"], frames_tx=c["frames_tx"], bytes_rx=c["bytes_rx"], bytes_tx=c["bytes_tx"],
            crc_errors=dc[codec.CRC], framing_errors=dc[codec.COBS] + dc[codec.TOO_LONG] + dc[codec.TOO_SHORT],
            version_errors=dc[codec.VERSION], payload_errors=dc[codec.UNKNOWN_TYPE] + dc[codec.BAD_PAYLOAD],
            seq_gaps=c["seq_gaps"], acks=c["acks"], nacks=c["nacks"], faults=c["faults"],
            watchdog_stops=c["watchdog_stops"], commands_sent=c["commands_sent"],
            commands_dropped=c["commands_dropped"], rtt_samples=int(rtts.size), rtt_p50_ms=pct(50),
            rtt_p99_ms=pct(99), rtt_max_ms=float(rtts.max()) if rtts.size else None, connects=c["connects"],
            disconnects=c["disconnects"], resets=c["resets"],
            fw_rx_ok=self._fw_rx[0] if self._fw_rx else None, fw_rx_bad=self._fw_rx[1] if self._fw_rx else None,
            low_latency=self._low_latency, estop_latched=self._estop_latched, last_nack=self._last_nack, last_fault=self._last_fault,
            last_error=self._last_error)

    # ------------------------------------------------------------------ writing
    def _send(self, msg, flags: int = 0, waiter: threading.Event | None = None) -> int:
        with self._tx_lock:
            port = self._port
            if port is None or self._broken:
                return -1
            seq = self._tx_seq
            self._tx_seq = (seq + 1) & 0xFFFF
            wire = encode_frame(msg, seq, flags)
            if flags & FLAG_ACK_REQ:  # registered before the answer can possibly arrive
                with self._lock:
                    if len(self._pending) > 1024:  # answers that never came: forget the oldest
                        self._pending.pop(next(iter(self._pending)))
                    self._pending[seq] = time.perf_counter()
                    if waiter is not None:
                        self._ping_waiters[seq] = waiter
            try:
                port.write(wire)
                ok = True
            except serial.SerialTimeoutException:
                ok = False  # port full (peer not reading): drop, as a UART would
            except _IO_ERRORS as e:
                ok = False
                self._broken = f"write failed: {e}"
        with self._lock:
            if not ok:
                self._pending.pop(seq, None)
                self._ping_waiters.pop(seq, None)
                return -1
            self._c["frames_tx"] += 1
            self._c["bytes_tx"] += len(wire)
        return seq

    def _heartbeat_msg(self) -> HeartbeatMsg:
        dc = self._decoder.counts
        bad = sum(v for k, v in dc.items() if k != "ok")
        return HeartbeatMsg(int((time.monotonic() - self._t0) * 1e3), self._session_id, 0, dc["ok"], bad)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._c[key] += n

    def _event(self, kind: str, detail: str = "", now: float | None = None) -> None:
        self._events.append(LinkEvent(kind, time.monotonic() if now is None else now, detail))
        (log.warning if kind in ("disconnected", "reset", "fault", "version", "error") else log.info)(
            "bridge %s: %s %s", self.url, kind, detail)

    # ------------------------------------------------------------------ reader thread
    def _run(self) -> None:
        backoff = self.cfg.backoff_initial_s
        while not self._stop.is_set():
            if self._port is None:
                try:
                    port, self._low_latency = open_port(
                        self.url, baudrate=self.baudrate, exclusive=self.exclusive,
                        low_latency=self.cfg.low_latency)
                    port.write_timeout = self.cfg.write_timeout_s
                except LinkError as e:
                    self._last_error = str(e)
                    self._stop.wait(backoff)
                    backoff = min(2 * backoff, self.cfg.backoff_max_s)
                    continue
                with self._tx_lock:
                    self._port, self._broken = port, None
                self._decoder.reset()
                self._start_handshake(time.monotonic())
            try:
                port = self._port
                data = port.read(port.in_waiting or 1)
            except _IO_ERRORS as e:
                self._lose_port(f"read failed: {e}")
                continue
            now = time.monotonic()
            if data:
                with self._lock:
                    self._c["bytes_rx"] += len(data)
                for result in self._decoder.feed(data):
                    self._handle(result, now)
            if self.connected:
                backoff = self.cfg.backoff_initial_s
            self._timers(now)
            if self._broken:
                self._lose_port(self._broken)

    def _close_port(self) -> None:
        with self._tx_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except _IO_ERRORS:
                pass

    def _lose_port(self, why: str) -> None:
        self._last_error = why
        if self._phase == "connected":
            self._count("disconnects")
            self._event("disconnected", why)
        self._phase = "closed"
        self._close_port()
        self._stop.wait(self.cfg.backoff_initial_s)

    def _start_handshake(self, now: float) -> None:
        self._phase = "handshake"
        self._hello_retry = self.cfg.hello_retry_s
        self._send_hello(now)

    def _send_hello(self, now: float) -> None:
        self._hello_nonce = random.getrandbits(32)
        self._hello_at = now
        self._send(HelloMsg(self._hello_nonce, self.cfg.state_period_ms))

    def _timers(self, now: float) -> None:
        if self._phase == "handshake" and now - self._hello_at > self._hello_retry:
            self._hello_retry = min(2 * self._hello_retry, self.cfg.backoff_max_s)
            self._send_hello(now)
        elif self._phase == "connected":
            if now - self._last_rx > self.cfg.peer_timeout_s:
                self._count("disconnects")
                self._event("disconnected", f"no frame from the firmware for {self.cfg.peer_timeout_s:.1f} s")
                self._start_handshake(now)
            elif now - self._last_hb_tx > self.cfg.heartbeat_period_s:
                self._last_hb_tx = now
                self._send(self._heartbeat_msg())

    def _handle(self, r: Frame | DecodeError, now: float) -> None:
        if isinstance(r, DecodeError):
            if r.kind == codec.VERSION and r.header is not None:
                h = r.header
                msg = (f"the firmware on {self.url} speaks bridge protocol {h.major}.{h.minor}, this host "
                       f"speaks {PROTO_MAJOR}.{PROTO_MINOR}: flash the firmware from this jepa-edge version "
                       "(firmware_bridge/) or install the jepa-edge that matches the firmware")
                if self._version_error is None:
                    self._event("version", msg)
                self._version_error = msg
                if self._phase == "handshake":
                    self._opened.set()
            return
        self._last_rx = now
        self._count("frames_rx")
        self._dispatch(r.msg, now)
        # Sequence gaps only within one firmware session: a reset restarts its seq at 0.
        seq = r.header.seq
        if self._phase == "connected" and self._rx_seq_next is not None:
            gap = (seq - self._rx_seq_next) & 0xFFFF
            if gap < 0x8000:
                self._count("seq_gaps", gap)
        self._rx_seq_next = (seq + 1) & 0xFFFF

    def _dispatch(self, m, now: float) -> None:
        if isinstance(m, HelloAckMsg):
            self._on_hello_ack(m, now)
        elif isinstance(m, StateMsg):
            self._state = replace(m, received_at=now)
        elif isinstance(m, AckMsg):
            self._count("acks")
            self._answered(m.acked_seq)
        elif isinstance(m, NackMsg):
            self._count("nacks")
            self._answered(m.nacked_seq)
            self._last_nack = m.describe()
            self._event("nack", self._last_nack, now)
            if m.reason == NackReason.NOT_CONNECTED and self._phase == "connected":
                self._start_handshake(now)  # the firmware does not know us: it was reset
        elif isinstance(m, FaultMsg):
            self._count("faults")
            if m.code == FaultCode.WATCHDOG:
                self._count("watchdog_stops")
            try:
                name = FaultCode(m.code).name
            except ValueError:
                name = f"code {m.code}"
            self._last_fault = f"{name} (detail {m.detail})"
            # the firmware confirming an ESTOP this host sent (every episode's end) is news only at info level
            confirms = m.code == FaultCode.ESTOP and self._estop_latched and m.detail == self._estop_reason
            self._event("estop confirmed" if confirms else "fault", self._last_fault, now)
        elif isinstance(m, HeartbeatMsg):
            self._fw_rx = (m.rx_ok, m.rx_bad)
            if self._phase == "connected" and (m.boot_id != self._boot_id or not m.status & Status.CONNECTED):
                self._start_handshake(now)  # a new boot id: the MCU was reset under us

    def _answered(self, seq: int) -> None:
        now = time.perf_counter()
        with self._lock:
            t = self._pending.pop(seq, None)
            if t is not None:
                self._rtts.append(now - t)
            ev = self._ping_waiters.pop(seq, None)
        if ev is not None:
            ev.set()

    def _on_hello_ack(self, m: HelloAckMsg, now: float) -> None:
        if self._phase != "handshake" or m.nonce != self._hello_nonce:
            return  # an answer to an older HELLO
        if self._boot_id is not None and m.boot_id != self._boot_id:
            self._count("resets")
            self._state = None  # state from the previous boot means nothing now
            self._event("reset", f"firmware boot id {self._boot_id:08x} -> {m.boot_id:08x}", now)
        self._fw, self._boot_id = m, m.boot_id
        self._rx_seq_next = None  # a new session: frames before this one are not "missing"
        self._version_error = None
        self._last_rx = self._last_hb_tx = now
        self._phase = "connected"
        self._count("connects")
        self._event("connected", f"{m.firmware_id} boot {m.boot_id:08x}, {m.n_actuators} actuators", now)
        if self._estop_latched:  # a reset MCU forgot the ESTOP; the host did not
            self._send(EstopMsg(self._estop_reason), FLAG_ACK_REQ)
        self._opened.set()
