"""Frames on the wire, and the byte-wise decoder that finds them. Knows nothing of transports.

    wire = COBS( header | payload | crc32c(header | payload) as u32 LE ) + b"\\x00"
    header = version_major u8 | version_minor u8 | type u8 | flags u8 | seq u16 LE

The decoder mirrors src/bridge_proto.c exactly (the tests feed both the same fuzz corpus and
compare every result): bytes accumulate until a 0x00; a frame that is too long, malformed,
too short or fails the CRC is reported as an error and dropped, and the next frame starts
right after that 0x00, so the decoder is back in sync by the next delimiter.
"""
from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

from jepa_edge.bridge import cobs
from jepa_edge.bridge.crc import crc32c
from jepa_edge.bridge.messages import (
    CRC_LEN, HEADER_LEN, MAX_ENCODED, MESSAGE_CLASSES, PROTO_MAJOR, PROTO_MINOR, Message, payload_len)

# Error kinds, named as in C's bridge_result_name().
TOO_LONG, COBS, TOO_SHORT, CRC = "too_long", "cobs", "too_short", "crc"
VERSION, UNKNOWN_TYPE, BAD_PAYLOAD = "version", "unknown_type", "bad_payload"
ERROR_KINDS = (TOO_LONG, COBS, TOO_SHORT, CRC, VERSION, UNKNOWN_TYPE, BAD_PAYLOAD)


@dataclass(frozen=True)
class Header:
    major: int
    minor: int
    type: int
    flags: int
    seq: int

    def pack(self) -> bytes:
        return struct.pack("<BBBBH", self.major, self.minor, self.type, self.flags, self.seq)


@dataclass(frozen=True)
class Frame:
    """A frame that passed every check. `raw` is header + payload (no CRC), as sent."""

    header: Header
    msg: Message
    raw: bytes


@dataclass(frozen=True)
class DecodeError:
    """A dropped frame. `header` is set when the CRC passed (version/type/payload errors):
    then its seq can be trusted, and a peer may answer with a NACK."""

    kind: str
    header: Header | None = None
    payload_len: int = 0


def encode_raw(raw: bytes) -> bytes:
    """Frame arbitrary header+payload bytes: append the CRC, COBS-stuff, delimit."""
    return cobs.encode(raw + struct.pack("<I", crc32c(raw))) + b"\x00"


def encode_frame(msg: Message, seq: int, flags: int = 0, *,
                 major: int = PROTO_MAJOR, minor: int = PROTO_MINOR) -> bytes:
    """The complete wire bytes of `msg` (delimiter included)."""
    raw = Header(major, minor, int(msg.TYPE), flags, seq & 0xFFFF).pack() + msg.pack()
    if len(raw) > HEADER_LEN + 120:
        raise ValueError(f"{type(msg).__name__} payload too long ({len(raw) - HEADER_LEN} bytes)")
    return encode_raw(raw)


def parse_raw(raw: bytes) -> Frame | DecodeError:
    """Header + payload (CRC already checked and removed) -> Frame or DecodeError."""
    if len(raw) < HEADER_LEN:
        return DecodeError(TOO_SHORT)
    header = Header(*struct.unpack_from("<BBBBH", raw))
    payload = raw[HEADER_LEN:]
    if header.major != PROTO_MAJOR:
        return DecodeError(VERSION, header, len(payload))
    want = payload_len(header.type, payload)
    if want is None:
        return DecodeError(UNKNOWN_TYPE, header, len(payload))
    # A newer minor version may append fields: accept and ignore the trailing bytes.
    if len(payload) < want or (len(payload) > want and header.minor <= PROTO_MINOR):
        return DecodeError(BAD_PAYLOAD, header, len(payload))
    return Frame(header, MESSAGE_CLASSES[header.type].unpack(payload), bytes(raw))


class Decoder:
    """Byte-wise state machine. `push(byte)` is the reference; `feed(data)` does the same
    for a whole chunk (it splits on 0x00 instead of looping in Python per byte)."""

    def __init__(self):
        self._buf = bytearray()
        self._overflow = False
        # "ok" and every error kind, all present from the start (readers in other threads
        # may iterate it while this one counts)
        self.counts: Counter[str] = Counter(dict.fromkeys(("ok", *ERROR_KINDS), 0))

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False

    def push(self, byte: int) -> Frame | DecodeError | None:
        if byte != 0:
            if len(self._buf) < MAX_ENCODED:
                self._buf.append(byte)
            else:
                self._overflow = True  # keep discarding until the delimiter
            return None
        return self._end_of_frame()

    def feed(self, data: bytes) -> list[Frame | DecodeError]:
        out = []
        start, n = 0, len(data)
        while start <= n:
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            room = MAX_ENCODED - len(self._buf)
            if len(chunk) > room:
                self._buf += chunk[:room]
                self._overflow = True
            else:
                self._buf += chunk
            if end < 0:
                break
            result = self._end_of_frame()
            if result is not None:
                out.append(result)
            start = end + 1
        return out

    def _end_of_frame(self) -> Frame | DecodeError | None:
        if not self._buf and not self._overflow:
            return None  # idle line or back-to-back delimiters
        result = self._decode(bytes(self._buf))
        self.reset()
        self.counts["ok" if isinstance(result, Frame) else result.kind] += 1
        return result

    def _decode(self, encoded: bytes) -> Frame | DecodeError:
        if self._overflow:
            return DecodeError(TOO_LONG)
        try:
            body = cobs.decode(encoded)
        except cobs.CobsError:
            return DecodeError(COBS)
        if len(body) < HEADER_LEN + CRC_LEN:
            return DecodeError(TOO_SHORT)
        raw, (crc,) = body[:-CRC_LEN], struct.unpack("<I", body[-CRC_LEN:])
        if crc != crc32c(raw):
            return DecodeError(CRC)
        return parse_raw(raw)
