"""Corrupt valid byte streams the ways a serial line does, and check what a decoder made of them.

A case is a stream of valid frames with one region [a, b) replaced by a mutated copy: bits
flipped, bytes dropped, runs duplicated, bytes inserted (0x00 included). What must hold:
  * every frame the decoder accepts is byte for byte one of the frames that was sent;
  * every frame that ended before the region is decoded, in order;
  * every frame that starts after the first 0x00 following the region is decoded, in order
    (the decoder is back in sync by the next delimiter).
Used by tests/test_bridge_fuzz.py (hypothesis draws the mutations), by the C sanitizer run (the
same cases, written as a corpus) and by benchmarks/bench_bridge.py (large seeded runs).

    python -m jepa_edge.bridge.fuzz OUT.txt [N] [SEED]     write a seeded corpus (hex, one case a line)
"""
from __future__ import annotations

import random
import struct
import sys
from dataclasses import dataclass

from jepa_edge.bridge.codec import Decoder, Frame, encode_frame
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, MAX_ACTUATORS, AckMsg, CommandMsg, EstopMsg, FaultMsg, HeartbeatMsg, HelloAckMsg, HelloMsg,
    NackMsg, ResumeMsg, StateMsg)

OPS = ("flip", "drop", "dup", "insert")


@dataclass(frozen=True)
class Mutation:
    op: str  # flip | drop | dup | insert
    pos: int  # index into the region (taken modulo its current length)
    arg: int  # flip: bit 0..7; drop: count; dup: run length; insert: the byte


@dataclass(frozen=True)
class FuzzCase:
    raws: tuple[bytes, ...]  # header+payload of every frame sent
    spans: tuple[tuple[int, int], ...]  # each frame's [start, end) in the clean stream (end after its 0x00)
    clean: bytes
    region: tuple[int, int]  # [a, b) of the clean stream that was replaced
    stream: bytes  # what the decoder receives


def _f32(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.1:  # arbitrary bit patterns: zeros and 0xFF bytes inside the payload, NaNs, denormals
        return struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0]
    return rng.choice((0.0, 1.0, -1.0, 0.5)) if r < 0.3 else rng.uniform(-1, 1)


def random_message(rng: random.Random):
    u32, u16, u8 = (lambda: rng.getrandbits(32)), (lambda: rng.getrandbits(16)), (lambda: rng.getrandbits(8))
    n = rng.randint(1, MAX_ACTUATORS)
    kind = rng.randrange(10)
    if kind == 0:
        return HelloMsg(u32(), u16())
    if kind == 1:
        fid = "".join(rng.choice("abcdefXYZ0123-_") for _ in range(rng.randint(0, 16)))
        return HelloAckMsg(u32(), u32(), n, u32(), u16(), u8(), fid)
    if kind == 2:
        return HeartbeatMsg(u32(), u32(), u8(), u32(), u32())
    if kind in (3, 4):  # COMMAND is what matters most: twice as likely
        return CommandMsg(u16(), tuple(_f32(rng) for _ in range(n)))
    if kind == 5:
        m = rng.randint(0, MAX_ACTUATORS)
        return StateMsg(rng.getrandbits(64), u8(), u16(), tuple(_f32(rng) for _ in range(m)),
                        tuple(_f32(rng) for _ in range(m)))
    if kind == 6:
        return EstopMsg(u8()) if rng.random() < 0.5 else ResumeMsg()
    if kind == 7:
        return AckMsg(u16(), u8())
    if kind == 8:
        return NackMsg(u16(), u8(), u8(), u16())
    return FaultMsg(u8(), u32())


def clean_stream(rng: random.Random, n_frames: int) -> tuple[bytes, tuple[bytes, ...], tuple[tuple[int, int], ...]]:
    wire, raws, spans = bytearray(), [], []
    seq = rng.getrandbits(16)
    for _ in range(n_frames):
        w = encode_frame(random_message(rng), seq, FLAG_ACK_REQ if rng.random() < 0.3 else 0)
        frame = Decoder().feed(w)[0]
        raws.append(frame.raw)
        spans.append((len(wire), len(wire) + len(w)))
        wire += w
        seq = (seq + 1) & 0xFFFF
    return bytes(wire), tuple(raws), tuple(spans)


def apply_mutations(region: bytes, mutations) -> bytes:
    b = bytearray(region)
    for m in mutations:
        i = m.pos % (len(b) + 1)
        if m.op == "flip" and b:
            i %= len(b)
            b[i] ^= 1 << (m.arg % 8)
        elif m.op == "drop":
            del b[i:i + max(1, m.arg % 8)]
        elif m.op == "dup" and b:
            i %= len(b)
            b[i:i] = b[i:i + max(1, m.arg % 32)]
        elif m.op == "insert":
            b.insert(i, m.arg & 0xFF)
    return bytes(b)


def make_case(clean: bytes, raws, spans, a: int, b: int, mutations) -> FuzzCase:
    a, b = sorted((max(0, min(a, len(clean))), max(0, min(b, len(clean)))))
    stream = clean[:a] + apply_mutations(clean[a:b], mutations) + clean[b:]
    return FuzzCase(tuple(raws), tuple(spans), clean, (a, b), stream)


def random_case(rng: random.Random, max_frames: int = 8) -> FuzzCase:
    clean, raws, spans = clean_stream(rng, rng.randint(1, max_frames))
    a = rng.randrange(len(clean))
    b = min(len(clean), a + rng.randint(1, 48))
    muts = [Mutation(rng.choice(OPS), rng.getrandbits(16), rng.getrandbits(8)) for _ in range(rng.randint(1, 4))]
    return make_case(clean, raws, spans, a, b, muts)


@dataclass(frozen=True)
class Verdict:
    accepted: int  # frames the decoder accepted
    corrupted_accepted: int  # accepted frames that were never sent (must be 0)
    prefix_intact: bool  # frames before the damage all decoded, in order
    resynced: bool  # frames after the next delimiter all decoded, in order
    damaged_frames: int  # sent frames the mutation touched

    @property
    def ok(self) -> bool:
        return self.corrupted_accepted == 0 and self.prefix_intact and self.resynced


def check(case: FuzzCase, results) -> Verdict:
    """Judge a decoder's results (a list of Frame / DecodeError) for `case`."""
    ok = [r.raw for r in results if isinstance(r, Frame)]
    sent = set(case.raws)
    a, b = case.region
    before = [raw for raw, (s, e) in zip(case.raws, case.spans) if e <= a]
    resync = case.clean.find(0, b)
    after = [raw for raw, (s, e) in zip(case.raws, case.spans) if resync >= 0 and s > resync]
    damaged = sum(1 for s, e in case.spans if s < b and e > a)
    return Verdict(len(ok), sum(1 for raw in ok if raw not in sent), ok[:len(before)] == before,
                   not after or ok[len(ok) - len(after):] == after, damaged)


def results_line(results) -> str:
    """One corpus result line, the format build/fuzz_runner prints."""
    return " ".join("ok:" + r.raw.hex() if isinstance(r, Frame) else r.kind for r in results)


def make_corpus(n: int, seed: int = 0) -> list[bytes]:
    """Seeded cases plus pure garbage and garbage around valid frames."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = i % 10
        if r == 8:
            out.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))))
        elif r == 9:
            clean, _, _ = clean_stream(rng, 2)
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
            out.append(junk + clean + junk[::-1])
        else:
            out.append(random_case(rng).stream)
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    n = int(argv[1]) if len(argv) > 1 else 2000
    seed = int(argv[2]) if len(argv) > 2 else 0
    corpus = make_corpus(n, seed)
    with open(argv[0], "w") as f:
        f.writelines(c.hex() + "\n" for c in corpus)
    print(f"wrote {len(corpus)} cases to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
