"""Bridge codec: CRC-32C, COBS, message layouts, and the shared vectors, in Python and in C."""
from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from jepa_edge.bridge import cobs
from jepa_edge.bridge.codec import Decoder, DecodeError, Frame, encode_frame
from jepa_edge.bridge.crc import CHECK, crc32c
from jepa_edge.bridge.messages import MESSAGE_CLASSES, CommandMsg, MsgType, check_action

ROOT = Path(__file__).resolve().parents[1]
VECTORS_PATH = ROOT / "firmware_bridge" / "vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
HAVE_CC = shutil.which("gcc") is not None or shutil.which("cc") is not None


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _same_fields(got: dict, want: dict) -> bool:
    if got.keys() != want.keys():
        return False
    for k, w in want.items():
        g = got[k]
        if isinstance(w, list):
            if len(g) != len(w) or any(_f32(a) != _f32(b) or math.copysign(1, a) != math.copysign(1, b)
                                       for a, b in zip(g, w)):
                return False
        elif g != w:
            return False
    return True


def _fields(msg) -> dict:
    import dataclasses

    return {f.name: (list(getattr(msg, f.name)) if isinstance(getattr(msg, f.name), tuple) else getattr(msg, f.name))
            for f in dataclasses.fields(msg) if f.name != "received_at"}


def test_crc32c_catalogue_check_and_rfc3720_vectors():
    assert crc32c(b"123456789") == CHECK == 0xE3069283
    assert crc32c(b"56789", crc32c(b"1234")) == CHECK  # continuing a running CRC
    for v in VECTORS["crc32c"]:
        assert crc32c(bytes.fromhex(v["data_hex"])) == v["crc"], v["name"]


def test_cobs_vectors():
    for v in VECTORS["cobs"]:
        raw, enc = bytes.fromhex(v["raw_hex"]), bytes.fromhex(v["encoded_hex"])
        assert cobs.encode(raw) == enc, v["name"]
        assert cobs.decode(enc) == raw, v["name"]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=700))
def test_cobs_roundtrip_no_zeros_bounded_overhead(data):
    enc = cobs.encode(data)
    assert 0 not in enc
    assert len(enc) <= cobs.max_encoded_len(len(data))
    assert cobs.decode(enc) == data


def test_python_matches_every_frame_vector():
    for v in VECTORS["frames"]:
        wire = bytes.fromhex(v["wire_hex"])
        results = Decoder().feed(wire)
        assert len(results) == 1, v["name"]
        r = results[0]
        if v["expect"] != "ok":
            assert isinstance(r, DecodeError) and r.kind == v["expect"], v["name"]
            if "header" in v:
                assert r.header is not None and r.header.__dict__ == v["header"], v["name"]
            continue
        assert isinstance(r, Frame), (v["name"], r)
        assert r.header.__dict__ == v["header"], v["name"]
        assert MsgType(r.header.type).name == v["type"]
        assert _same_fields(_fields(r.msg), v["fields"]), v["name"]
        if v["header"]["minor"] == 0:  # the encoder reproduces the committed bytes exactly
            cls = MESSAGE_CLASSES[r.header.type]
            msg = cls(**{k: tuple(x) if isinstance(x, list) else x for k, x in v["fields"].items()})
            assert encode_frame(msg, v["header"]["seq"], v["header"]["flags"]) == wire, v["name"]


def test_vectors_file_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "vectors.json"
    subprocess.run([sys.executable, str(ROOT / "firmware_bridge" / "tools" / "make_vectors.py"), str(out)],
                   check=True, capture_output=True)
    assert out.read_text() == VECTORS_PATH.read_text()


@pytest.mark.skipif(not HAVE_CC, reason="no C compiler (gcc/cc) on this machine: the C codec cannot be built")
def test_c_agrees_byte_for_byte_on_every_vector():
    from jepa_edge.bridge.simulator import build

    runner = build("vectors-runner")
    r = subprocess.run([str(runner), str(VECTORS_PATH)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # the runner checks CRC/COBS bytes and re-encoding itself
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    by_name = {(x["section"], x["name"]): x for x in lines}
    n_vectors = sum(len(VECTORS[s]) for s in ("crc32c", "cobs", "frames", "sequences"))
    assert len(by_name) == n_vectors
    for v in VECTORS["crc32c"]:
        assert by_name["crc32c", v["name"]]["crc"] == v["crc"]
    for v in VECTORS["frames"]:
        c = by_name["frames", v["name"]]
        assert c["result"] == v["expect"] and c["results"] == 1, v["name"]
        if "header" in v:
            assert c["header"] == v["header"], v["name"]
        if v["expect"] == "ok":
            assert _same_fields(c["fields"], v["fields"]), (v["name"], c["fields"], v["fields"])
            if v["header"]["minor"] == 0:
                assert c["reencoded_identical"] is True, v["name"]
    for v in VECTORS["sequences"]:
        c = by_name["sequences", v["name"]]
        assert (c["outcomes"], c["last_cmd_seq"], c["stale_frames"]) == (v["outcomes"], v["last_cmd_seq"],
                                                                         v["stale_frames"]), v["name"]
        assert _same_fields({"actions": c["actions"]}, {"actions": v["actions"]}), v["name"]


def test_python_firmware_model_matches_every_sequence_vector():
    """The sequence window (PROTOCOL.md §6): replays, duplicates and the 16-bit wrap."""
    from jepa_edge.bridge.fuzz import FirmwareModel

    names = {v["name"] for v in VECTORS["sequences"]}
    assert {"replay_older_command", "wrap_65535_to_0", "half_range", "replayed_hello_ignored"} <= names
    for v in VECTORS["sequences"]:
        fw = FirmwareModel(n_actuators=2, max_valid_ms=1000, boot_id=1234)
        tokens = [fw.push(r) for w in v["frames_hex"].split() for r in Decoder().feed(bytes.fromhex(w))]
        assert " ".join(tokens) == v["outcomes"], v["name"]
        assert (fw.last_cmd_seq, list(fw.actions), fw.stale) == (v["last_cmd_seq"], v["actions"], v["stale_frames"])
    replay = next(v for v in VECTORS["sequences"] if v["name"] == "replay_older_command")
    assert replay["outcomes"] == "hello apply apply stale" and replay["actions"] == [0.0, 0.0]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_feed_in_chunks_equals_byte_by_byte_push(data, cuts):
    d1 = Decoder()
    one = [r for r in (d1.push(b) for b in data) if r is not None]
    d2 = Decoder()
    chunked, prev = [], 0
    for c in sorted(cuts) + [len(data)]:
        chunked += d2.feed(data[prev:c])
        prev = max(prev, c)
    key = lambda rs: [("ok", r.raw) if isinstance(r, Frame) else (r.kind, r.header) for r in rs]  # noqa: E731
    assert key(one) == key(chunked)
    assert d1.counts == d2.counts


def test_check_action_rejects_what_the_firmware_would():
    assert check_action([0.5, -1.0], 2) == (0.5, -1.0)
    for bad in ([math.nan, 0.0], [0.0, math.inf], [1.5, 0.0]):
        with pytest.raises(ValueError, match="action"):
            check_action(bad, 2)
    with pytest.raises(ValueError, match="2 actuators"):
        check_action([0.1, 0.2, 0.3], 2)
    with pytest.raises(ValueError):
        CommandMsg(100, ()).pack()


def test_command_frame_overhead_is_twelve_bytes():
    # header 6 + CRC 4 + COBS 1 + delimiter 1, on top of the 3 + 4n byte payload
    for n in (1, 2, 8):
        wire = encode_frame(CommandMsg(100, (0.25,) * n), 7)
        assert len(wire) - (3 + 4 * n) == 12


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="no C++ compiler: the Arduino sketch cannot be type-checked on this host")
def test_arduino_sketch_compiles_against_the_core():
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "firmware_bridge"), "sketch-check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
