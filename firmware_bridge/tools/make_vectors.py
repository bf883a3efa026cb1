"""Write firmware_bridge/vectors.json: CRC-32C, COBS and frame test vectors.

    python firmware_bridge/tools/make_vectors.py [OUT]     (default: firmware_bridge/vectors.json)

The Python codec produces the bytes once; after that the committed file is the reference both
implementations are held to (tests/test_bridge_codec.py and firmware_bridge/test/vectors_runner.c).
One vector per line, so the C runner can scan it without a JSON library. `sequences` feed host
frames to a fresh firmware and name what it must do with each (the sequence window of
PROTOCOL.md §6); jepa_edge.bridge.fuzz.FirmwareModel computes them. Floats are chosen to be
exact in binary32, so both sides can compare them for equality.
"""
from __future__ import annotations

import dataclasses
import json
import struct
import sys
from pathlib import Path

from jepa_edge.bridge import cobs
from jepa_edge.bridge.codec import encode_frame, encode_raw, parse_raw, Frame
from jepa_edge.bridge.crc import crc32c
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, AckMsg, CommandMsg, EstopMsg, FaultMsg, HeartbeatMsg, HelloAckMsg, HelloMsg,
    MsgType, NackMsg, ResumeMsg, StateMsg)

CRC_VECTORS = [  # the first is the catalogue check value; the others are RFC 3720 (iSCSI) B.4
    ("check_123456789", b"123456789"),
    ("empty", b""),
    ("rfc3720_32_zeros", bytes(32)),
    ("rfc3720_32_ones", b"\xff" * 32),
    ("rfc3720_ascending", bytes(range(32))),
    ("rfc3720_descending", bytes(range(31, -1, -1))),
]

COBS_VECTORS = [  # Cheshire & Baker's algorithm; the examples of the COBS Wikipedia article
    ("empty", b""),
    ("zero", b"\x00"),
    ("two_zeros", b"\x00\x00"),
    ("zero_11_zero", b"\x00\x11\x00"),
    ("11_22_zero_33", b"\x11\x22\x00\x33"),
    ("no_zeros", b"\x11\x22\x33\x44"),
    ("trailing_zeros", b"\x11\x00\x00\x00"),
    ("run_254", bytes(range(1, 255))),
    ("zero_then_run_254", bytes(range(0, 255))),
    ("run_255", bytes(range(1, 256))),
    ("run_then_zero", bytes(range(2, 256)) + b"\x00"),
    ("run_then_zero_01", bytes(range(3, 256)) + b"\x00\x01"),
]

OK_FRAMES = [
    ("hello", HelloMsg(nonce=0x12345678, state_period_ms=0), 0, 0),
    ("hello_state_period", HelloMsg(nonce=1, state_period_ms=33), 1, 0),
    ("hello_ack", HelloAckMsg(nonce=0x12345678, boot_id=0xDEADBEEF, n_actuators=2, control_period_us=10000,
                              max_valid_ms=1000, status=1, firmware_id="jepa-sim-1"), 0, 0),
    ("hello_ack_full_id", HelloAckMsg(nonce=7, boot_id=1, n_actuators=8, control_period_us=1000,
                                      max_valid_ms=65535, status=0x0F, firmware_id="ABCDEFGHIJKLMNOP"), 65535, 0),
    ("heartbeat_host", HeartbeatMsg(uptime_ms=123456, boot_id=0xCAFEF00D, status=0, rx_ok=42, rx_bad=0), 17, 0),
    ("heartbeat_ping", HeartbeatMsg(uptime_ms=0, boot_id=0, status=0, rx_ok=0, rx_bad=0), 18, FLAG_ACK_REQ),
    ("heartbeat_fw", HeartbeatMsg(uptime_ms=4294967295, boot_id=0x01020304, status=0x07, rx_ok=1000, rx_bad=3), 3, 0),
    ("command_2", CommandMsg(valid_ms=100, actions=(0.5, -0.25)), 1000, FLAG_ACK_REQ),
    ("command_1_zero", CommandMsg(valid_ms=1, actions=(0.0,)), 0, 0),
    ("command_8", CommandMsg(valid_ms=65535, actions=(1.0, -1.0, 0.125, -0.125, 0.75, -0.75, 0.0, -0.0)), 65535, 0xFF),
    ("state_2", StateMsg(fw_time_us=1_000_000, status=0x03, last_cmd_seq=999,
                         positions=(0.5, -1.5), velocities=(0.25, -0.5)), 77, 0),
    ("state_stopped", StateMsg(fw_time_us=2**40 + 5, status=0x05, last_cmd_seq=0,
                               positions=(1024.0, -2048.5), velocities=(0.0, 0.0)), 78, 0),
    ("state_0", StateMsg(fw_time_us=0, status=0, last_cmd_seq=0, positions=(), velocities=()), 0, 0),
    ("state_8", StateMsg(fw_time_us=2**64 - 1, status=0x0F, last_cmd_seq=65535,
                         positions=tuple(float(i) for i in range(8)),
                         velocities=tuple(-i / 8 for i in range(8))), 5, 0),
    ("estop", EstopMsg(reason=1), 12, FLAG_ACK_REQ),
    ("resume", ResumeMsg(), 13, FLAG_ACK_REQ),
    ("ack", AckMsg(acked_seq=1000, acked_type=MsgType.COMMAND), 4, 0),
    ("nack_version", NackMsg(nacked_seq=0, nacked_type=MsgType.HELLO, reason=1, detail=0x0100), 0, 0),
    ("nack_bad_value", NackMsg(nacked_seq=9, nacked_type=MsgType.COMMAND, reason=5, detail=1), 10, 0),
    ("fault_watchdog", FaultMsg(code=1, detail=104321), 11, 0),
    ("fault_estop", FaultMsg(code=2, detail=1), 14, 0),
]


# Sequence cases (PROTOCOL.md §6, "Sequence window"): host frames fed in order to a fresh firmware
# (2 actuators, max_valid_ms 1000, boot id 1234); `outcomes` is what it must do with each, as
# jepa_edge.bridge.fuzz.FirmwareModel names it. Each step: (message, seq, flags).
_C = lambda a, b=None, ms=500: CommandMsg(ms, (a, a if b is None else b))  # noqa: E731
SEQUENCES = [
    ("replay_older_command", [(HelloMsg(1), 9, 0), (_C(1.0), 10, FLAG_ACK_REQ), (_C(0.0), 11, FLAG_ACK_REQ),
                              (_C(1.0), 10, FLAG_ACK_REQ)]),
    ("exact_duplicate", [(HelloMsg(2), 100, 0), (_C(0.5), 101, FLAG_ACK_REQ), (_C(0.5), 101, FLAG_ACK_REQ)]),
    ("wrap_65535_to_0", [(HelloMsg(3), 65533, 0), (_C(0.25), 65534, 0), (_C(0.5), 65535, 0), (_C(0.75), 0, 0),
                         (_C(1.0), 1, 0), (_C(0.5), 65535, 0), (_C(0.75), 0, 0)]),
    ("half_range", [(HelloMsg(4), 0, 0), (_C(0.25), 1, 0), (_C(1.0), 32769, 0), (_C(-0.25), 32768, 0),
                    (_C(1.0), 1, 0)]),
    ("heartbeat_moves_window", [(HelloMsg(5), 500, 0), (_C(0.25), 503, 0),
                                (HeartbeatMsg(1, 0xCAFE, 0, 0, 0), 510, 0), (_C(1.0), 505, 0),
                                (_C(-0.5), 511, 0)]),
    ("own_heartbeat_echo_ignored", [(HelloMsg(6), 20, 0), (HeartbeatMsg(1, 1234, 0, 0, 0), 30000, 0),
                                    (_C(0.5), 21, 0)]),
    ("refused_command_moves_window", [(HelloMsg(7), 40, 0), (_C(0.5), 41, 0), (_C(1.5), 42, FLAG_ACK_REQ),
                                      (_C(1.0), 42, 0), (_C(-0.5), 43, 0)]),
    ("new_hello_resets_window", [(HelloMsg(8), 1000, 0), (_C(0.5), 1001, 0), (HelloMsg(9), 5, 0),
                                 (_C(0.25), 6, 0), (_C(1.0), 4, 0)]),
    ("replayed_hello_ignored", [(HelloMsg(10), 20, 0), (_C(0.5), 21, 0), (_C(0.25), 22, 0), (HelloMsg(10), 20, 0),
                                (_C(0.5), 21, 0)]),
    ("older_hello_of_earlier_session_ignored", [(HelloMsg(11), 200, 0), (_C(0.5), 201, 0), (HelloMsg(12), 202, 0),
                                                (_C(0.25), 203, 0), (HelloMsg(11), 200, 0), (_C(0.5), 201, 0)]),
    ("command_before_hello", [(_C(0.5), 7, FLAG_ACK_REQ), (HelloMsg(13), 3, 0), (_C(0.5), 4, 0)]),
    ("estop_replay_honoured_resume_replay_ignored", [(HelloMsg(14), 1, 0), (ResumeMsg(), 2, 0), (_C(0.5), 3, 0),
                                                     (EstopMsg(1), 4, FLAG_ACK_REQ), (ResumeMsg(), 2, 0),
                                                     (_C(0.5), 5, FLAG_ACK_REQ), (ResumeMsg(), 6, 0), (EstopMsg(1), 4, 0),
                                                     (_C(0.5), 7, FLAG_ACK_REQ)]),
]


def sequence_vectors() -> list[dict]:
    from jepa_edge.bridge.fuzz import FirmwareModel

    out = []
    for name, steps in SEQUENCES:
        fw = FirmwareModel(n_actuators=2, max_valid_ms=1000, boot_id=1234)
        wires = [encode_frame(m, seq, flags) for m, seq, flags in steps]
        outcomes = [fw.handle(m.TYPE, seq, m) for m, seq, _ in steps]
        out.append({"name": name, "frames_hex": " ".join(w.hex() for w in wires), "outcomes": " ".join(outcomes),
                    "last_cmd_seq": fw.last_cmd_seq, "actions": list(fw.actions), "stale_frames": fw.stale})
    return out


def _fields(msg) -> dict:
    return {f.name: (list(v) if isinstance(v, tuple) else v)
            for f in dataclasses.fields(msg) if f.name != "received_at" for v in [getattr(msg, f.name)]}


def _frame_vector(name: str, wire: bytes, expect: str, **extra) -> dict:
    return {"name": name, "expect": expect, "wire_hex": wire.hex(), **extra}


def _ok_vector(name, msg, seq, flags, *, minor=None, wire=None) -> dict:
    wire = wire or encode_frame(msg, seq, flags)
    header = {"major": 1, "minor": 0 if minor is None else minor, "type": int(msg.TYPE), "flags": flags, "seq": seq}
    return _frame_vector(name, wire, "ok", type=msg.TYPE.name, header=header, fields=_fields(msg))


def frame_vectors() -> list[dict]:
    vs = [_ok_vector(n, m, s, f) for n, m, s, f in OK_FRAMES]
    hdr = lambda major, minor, t, seq, flags=0: struct.pack("<BBBBH", major, minor, t, flags, seq)  # noqa: E731

    # A newer minor (1.1) may append fields; a 1.0 receiver accepts the frame and ignores them.
    raw = hdr(1, 1, MsgType.COMMAND, 21) + CommandMsg(200, (0.5, 0.5)).pack() + b"\x01\x02\x03"
    vs.append(_ok_vector("command_minor_1_1_extra_bytes", CommandMsg(200, (0.5, 0.5)), 21, 0, minor=1,
                         wire=encode_raw(raw)))
    good = encode_frame(CommandMsg(100, (0.5, -0.25)), 1000, FLAG_ACK_REQ)
    body = bytearray(cobs.decode(good[:-1]))
    body[8] ^= 0x01  # one flipped bit in the payload, CRC left as it was
    vs.append(_frame_vector("crc_bit_flip", cobs.encode(bytes(body)) + b"\x00", "crc"))
    body = bytearray(cobs.decode(good[:-1]))
    body[-1] ^= 0x80  # a flipped bit in the CRC itself
    vs.append(_frame_vector("crc_in_crc", cobs.encode(bytes(body)) + b"\x00", "crc"))
    vs.append(_frame_vector("cobs_code_past_end", b"\x05\x11\x22\x00", "cobs"))
    vs.append(_frame_vector("too_short_header_only", encode_raw(b"")[:-1] + b"\x00", "too_short"))
    vs.append(_frame_vector("too_short_3_bytes", cobs.encode(b"\x01\x00\x03") + b"\x00", "too_short"))
    vs.append(_frame_vector("too_long_132", b"\x01" * 132 + b"\x00", "too_long"))
    vs.append(_frame_vector("version_major_2", encode_raw(hdr(2, 0, MsgType.HELLO, 5) + HelloMsg(9).pack()),
                            "version", header={"major": 2, "minor": 0, "type": 1, "flags": 0, "seq": 5}))
    vs.append(_frame_vector("version_major_0", encode_raw(hdr(0, 9, MsgType.COMMAND, 6)), "version",
                            header={"major": 0, "minor": 9, "type": 0x10, "flags": 0, "seq": 6}))
    vs.append(_frame_vector("unknown_type_7f", encode_raw(hdr(1, 0, 0x7F, 8) + b"\x00"), "unknown_type",
                            header={"major": 1, "minor": 0, "type": 0x7F, "flags": 0, "seq": 8}))
    vs.append(_frame_vector("hello_short_payload", encode_raw(hdr(1, 0, MsgType.HELLO, 9) + b"\x01\x02\x03\x04\x05"),
                            "bad_payload", header={"major": 1, "minor": 0, "type": 1, "flags": 0, "seq": 9}))
    vs.append(_frame_vector("command_n_says_3_has_2",
                            encode_raw(hdr(1, 0, MsgType.COMMAND, 10) + struct.pack("<HB2f", 100, 3, 0.5, 0.5)),
                            "bad_payload", header={"major": 1, "minor": 0, "type": 0x10, "flags": 0, "seq": 10}))
    vs.append(_frame_vector("command_zero_actions", encode_raw(hdr(1, 0, MsgType.COMMAND, 11) + struct.pack("<HB", 100, 0)),
                            "bad_payload", header={"major": 1, "minor": 0, "type": 0x10, "flags": 0, "seq": 11}))
    vs.append(_frame_vector("command_9_actions",
                            encode_raw(hdr(1, 0, MsgType.COMMAND, 12) + struct.pack("<HB9f", 100, 9, *([0.0] * 9))),
                            "bad_payload", header={"major": 1, "minor": 0, "type": 0x10, "flags": 0, "seq": 12}))
    vs.append(_frame_vector("estop_extra_byte_same_minor", encode_raw(hdr(1, 0, MsgType.ESTOP, 13) + b"\x01\x02"),
                            "bad_payload", header={"major": 1, "minor": 0, "type": 0x12, "flags": 0, "seq": 13}))
    for v in vs:  # the generator checks itself: every vector decodes to what it claims
        assert _check(v), v["name"]
    return vs


def _check(v: dict) -> bool:
    from jepa_edge.bridge.codec import Decoder

    results = Decoder().feed(bytes.fromhex(v["wire_hex"]))
    if len(results) != 1:
        return False
    r = results[0]
    if v["expect"] == "ok":
        return isinstance(r, Frame) and _fields(r.msg) == v["fields"] and parse_raw(r.raw) == r
    return not isinstance(r, Frame) and r.kind == v["expect"]


def build() -> dict:
    return {
        "protocol": "1.0",
        "crc": "CRC-32C: poly 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF, refin/refout true, "
               "xorout 0xFFFFFFFF, check 0xE3069283",
        "crc32c": [{"name": n, "data_hex": d.hex(), "crc": crc32c(d)} for n, d in CRC_VECTORS],
        "cobs": [{"name": n, "raw_hex": r.hex(), "encoded_hex": cobs.encode(r).hex()} for n, r in COBS_VECTORS],
        "frames": frame_vectors(),
        "sequences": sequence_vectors(),
    }


def dumps(doc: dict) -> str:
    """JSON with one vector per line (the C runner's line scanner relies on it)."""
    lines = ["{"]
    for key in ("protocol", "crc"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(doc[key])},")
    sections = ("crc32c", "cobs", "frames", "sequences")
    for i, key in enumerate(sections):
        lines.append(f"  {json.dumps(key)}: [")
        items = [f"    {json.dumps(v)}" for v in doc[key]]
        lines.append(",\n".join(items))
        lines.append("  ]" + ("," if i + 1 < len(sections) else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "vectors.json"
    doc = build()
    text = dumps(doc)
    assert json.loads(text) == json.loads(json.dumps(doc))
    out.write_text(text)
    print(f"wrote {out}: {len(doc['crc32c'])} CRC, {len(doc['cobs'])} COBS, {len(doc['frames'])} frame vectors")
