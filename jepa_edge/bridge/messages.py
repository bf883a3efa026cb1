"""The bridge's messages: type codes, flags, reasons, and one frozen dataclass per message.

Layouts are little-endian and match src/bridge_proto.c field for field (PROTOCOL.md has the
tables). Each class knows its type (`TYPE`), packs itself into a payload (`pack()`), and
parses one (`unpack(payload)`; trailing bytes from a newer minor version are ignored).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import ClassVar

PROTO_MAJOR = 1
PROTO_MINOR = 0
HEADER_LEN = 6
CRC_LEN = 4
MAX_PAYLOAD = 120
MAX_RAW = HEADER_LEN + MAX_PAYLOAD + CRC_LEN  # 130
MAX_ENCODED = MAX_RAW + 1  # COBS adds one byte below 254
MAX_ACTUATORS = 8
FIRMWARE_ID_LEN = 16

FLAG_ACK_REQ = 0x01  # receiver answers ACK (or NACK) carrying this frame's seq


class MsgType(IntEnum):
    HELLO = 0x01
    HELLO_ACK = 0x02
    HEARTBEAT = 0x03
    COMMAND = 0x10
    STATE = 0x11
    ESTOP = 0x12
    RESUME = 0x13
    ACK = 0x20
    NACK = 0x21
    FAULT = 0x30


class Status(IntFlag):
    CONNECTED = 0x01  # a host completed HELLO since boot
    ACTIVE = 0x02  # a valid COMMAND is being applied
    WATCHDOG = 0x04  # stopped because the last COMMAND expired
    ESTOP = 0x08  # stopped by ESTOP; latched until RESUME or reset


class NackReason(IntEnum):
    VERSION = 1  # detail = firmware major << 8 | minor
    UNKNOWN_TYPE = 2
    BAD_PAYLOAD = 3
    NOT_CONNECTED = 4  # no HELLO since boot: the MCU was reset
    BAD_VALUE = 5  # detail = index of the non-finite / out-of-range action
    BAD_VALIDITY = 6  # detail = max_valid_ms
    BAD_DIMENSION = 7  # detail = actuator count
    ESTOPPED = 8
    UNEXPECTED = 9


class FaultCode(IntEnum):
    WATCHDOG = 1  # detail = microseconds from the expired COMMAND's arrival to the stop
    ESTOP = 2  # detail = ESTOP reason
    ACTUATOR = 3  # detail = HAL code


class EstopReason(IntEnum):
    """Host-side reasons; the firmware only echoes them back in FAULT."""

    UNSPECIFIED = 0
    USER = 1
    CAMERA = 2
    NONFINITE = 3
    PLANNER = 4
    LINK = 5
    SURPRISE = 6
    SHUTDOWN = 7
    BACKEND = 8


def _floats(values, name: str) -> tuple[float, ...]:
    vals = tuple(float(v) for v in values)
    if not 0 < len(vals) <= MAX_ACTUATORS:
        raise ValueError(f"{name}: {len(vals)} values; the protocol carries 1..{MAX_ACTUATORS}")
    return vals


@dataclass(frozen=True)
class HelloMsg:
    TYPE: ClassVar[MsgType] = MsgType.HELLO
    nonce: int
    state_period_ms: int = 0  # 0 = firmware default

    def pack(self) -> bytes:
        return struct.pack("<IH", self.nonce, self.state_period_ms)

    @classmethod
    def unpack(cls, p: bytes) -> "HelloMsg":
        return cls(*struct.unpack_from("<IH", p))


@dataclass(frozen=True)
class HelloAckMsg:
    TYPE: ClassVar[MsgType] = MsgType.HELLO_ACK
    nonce: int
    boot_id: int
    n_actuators: int
    control_period_us: int
    max_valid_ms: int
    status: int
    firmware_id: str

    def pack(self) -> bytes:
        fid = self.firmware_id.encode("ascii")
        if len(fid) > FIRMWARE_ID_LEN:
            raise ValueError(f"firmware_id longer than {FIRMWARE_ID_LEN} bytes: {self.firmware_id!r}")
        return struct.pack("<IIBIHB16s", self.nonce, self.boot_id, self.n_actuators,
                           self.control_period_us, self.max_valid_ms, self.status, fid)

    @classmethod
    def unpack(cls, p: bytes) -> "HelloAckMsg":
        *nums, fid = struct.unpack_from("<IIBIHB16s", p)
        return cls(*nums, fid.split(b"\0", 1)[0].decode("ascii", "replace"))


@dataclass(frozen=True)
class HeartbeatMsg:
    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT
    uptime_ms: int
    boot_id: int  # the host sends its session id here
    status: int = 0
    rx_ok: int = 0
    rx_bad: int = 0

    def pack(self) -> bytes:
        return struct.pack("<IIBII", self.uptime_ms & 0xFFFFFFFF, self.boot_id, self.status,
                           self.rx_ok & 0xFFFFFFFF, self.rx_bad & 0xFFFFFFFF)

    @classmethod
    def unpack(cls, p: bytes) -> "HeartbeatMsg":
        return cls(*struct.unpack_from("<IIBII", p))


@dataclass(frozen=True)
class CommandMsg:
    TYPE: ClassVar[MsgType] = MsgType.COMMAND
    valid_ms: int
    actions: tuple[float, ...]

    def pack(self) -> bytes:
        a = _floats(self.actions, "actions")
        return struct.pack(f"<HB{len(a)}f", self.valid_ms, len(a), *a)

    @classmethod
    def unpack(cls, p: bytes) -> "CommandMsg":
        valid_ms, n = struct.unpack_from("<HB", p)
        return cls(valid_ms, struct.unpack_from(f"<{n}f", p, 3))


@dataclass(frozen=True)
class StateMsg:
    TYPE: ClassVar[MsgType] = MsgType.STATE
    fw_time_us: int  # firmware clock, microseconds since its boot
    status: int  # Status bits
    last_cmd_seq: int  # seq of the COMMAND applied last
    positions: tuple[float, ...]
    velocities: tuple[float, ...]
    # Host clock (time.monotonic()) when the Link received it; not on the wire.
    received_at: float = field(default=0.0, compare=False)

    def pack(self) -> bytes:
        pos, vel = tuple(self.positions), tuple(self.velocities)
        if len(pos) != len(vel) or len(pos) > MAX_ACTUATORS:
            raise ValueError("positions and velocities: same length, at most 8")
        inter = [x for pv in zip(pos, vel) for x in pv]
        return struct.pack(f"<QBHB{2 * len(pos)}f", self.fw_time_us, self.status, self.last_cmd_seq,
                           len(pos), *inter)

    @classmethod
    def unpack(cls, p: bytes) -> "StateMsg":
        t, status, seq, n = struct.unpack_from("<QBHB", p)
        inter = struct.unpack_from(f"<{2 * n}f", p, 12)
        return cls(t, status, seq, inter[0::2], inter[1::2])

    @property
    def stopped(self) -> bool:
        return all(v == 0.0 for v in self.velocities)

    @property
    def actuator(self) -> tuple[float, ...]:
        """The measured actuator output (the velocities): what a simulated world should apply."""
        return self.velocities


@dataclass(frozen=True)
class EstopMsg:
    TYPE: ClassVar[MsgType] = MsgType.ESTOP
    reason: int = EstopReason.UNSPECIFIED

    def pack(self) -> bytes:
        return struct.pack("<B", self.reason)

    @classmethod
    def unpack(cls, p: bytes) -> "EstopMsg":
        return cls(p[0])


@dataclass(frozen=True)
class ResumeMsg:
    TYPE: ClassVar[MsgType] = MsgType.RESUME

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, p: bytes) -> "ResumeMsg":
        return cls()


@dataclass(frozen=True)
class AckMsg:
    TYPE: ClassVar[MsgType] = MsgType.ACK
    acked_seq: int
    acked_type: int

    def pack(self) -> bytes:
        return struct.pack("<HB", self.acked_seq, self.acked_type)

    @classmethod
    def unpack(cls, p: bytes) -> "AckMsg":
        return cls(*struct.unpack_from("<HB", p))


@dataclass(frozen=True)
class NackMsg:
    TYPE: ClassVar[MsgType] = MsgType.NACK
    nacked_seq: int
    nacked_type: int
    reason: int
    detail: int = 0

    def pack(self) -> bytes:
        return struct.pack("<HBBH", self.nacked_seq, self.nacked_type, self.reason, self.detail)

    @classmethod
    def unpack(cls, p: bytes) -> "NackMsg":
        return cls(*struct.unpack_from("<HBBH", p))

    def describe(self) -> str:
        try:
            why = NackReason(self.reason).name
        except ValueError:
            why = f"reason {self.reason}"
        return f"{_type_name(self.nacked_type)} #{self.nacked_seq} refused: {why} (detail {self.detail})"


@dataclass(frozen=True)
class FaultMsg:
    TYPE: ClassVar[MsgType] = MsgType.FAULT
    code: int
    detail: int = 0

    def pack(self) -> bytes:
        return struct.pack("<BI", self.code, self.detail)

    @classmethod
    def unpack(cls, p: bytes) -> "FaultMsg":
        return cls(*struct.unpack_from("<BI", p))


Message = (HelloMsg | HelloAckMsg | HeartbeatMsg | CommandMsg | StateMsg | EstopMsg | ResumeMsg
           | AckMsg | NackMsg | FaultMsg)
MESSAGE_CLASSES: dict[int, type] = {c.TYPE: c for c in (
    HelloMsg, HelloAckMsg, HeartbeatMsg, CommandMsg, StateMsg, EstopMsg, ResumeMsg, AckMsg, NackMsg, FaultMsg)}


def payload_len(msg_type: int, payload: bytes) -> int | None:
    """The payload length a frame of this type must have (None: unknown type). Same rule as C."""
    fixed = {MsgType.HELLO: 6, MsgType.HELLO_ACK: 32, MsgType.HEARTBEAT: 17, MsgType.ESTOP: 1,
             MsgType.RESUME: 0, MsgType.ACK: 3, MsgType.NACK: 6, MsgType.FAULT: 5}
    if msg_type in fixed:
        return fixed[msg_type]
    if msg_type == MsgType.COMMAND:
        if len(payload) < 3:
            return 3
        n = payload[2]
        return 3 + 4 * n if 0 < n <= MAX_ACTUATORS else 0x7FFF
    if msg_type == MsgType.STATE:
        if len(payload) < 12:
            return 12
        n = payload[11]
        return 12 + 8 * n if n <= MAX_ACTUATORS else 0x7FFF
    return None


def _type_name(t: int) -> str:
    try:
        return MsgType(t).name
    except ValueError:
        return f"type 0x{t:02x}"


def check_action(actions, n_actuators: int | None = None) -> tuple[float, ...]:
    """Validate an action vector the way the firmware will, so callers hear about it first."""
    a = _floats(actions, "action")
    if n_actuators is not None and len(a) != n_actuators:
        raise ValueError(f"action has {len(a)} values; the firmware drives {n_actuators} actuators")
    for i, v in enumerate(a):
        if not math.isfinite(v) or abs(v) > 1.0:
            raise ValueError(f"action[{i}] = {v}: actions are normalized to [-1, 1] and must be finite")
    return a
