"""Corrupt valid byte streams the ways a serial line does, and check what a decoder made of them.

A case is a stream of valid frames with one region [a, b) replaced by a mutated copy: bits
flipped, bytes dropped, runs duplicated, bytes inserted (0x00 included). What must hold:
  * every frame the decoder accepts is byte for byte one of the frames that was sent;
  * every frame that ended before the region is decoded, in order;
  * every frame that starts after the first 0x00 following the region is decoded, in order
    (the decoder is back in sync by the next delimiter).
Also here: replayed / reordered COMMAND streams (`replay_case`), a reference model of what the
firmware does with each frame (`FirmwareModel`, incl. the sequence window of PROTOCOL.md §6), and
the judged run over every mutation class (`run_judged`). Used by tests/test_bridge_fuzz.py
(hypothesis draws the mutations), by `make -C firmware_bridge fuzz` (the C decoder and firmware
core under ASan/UBSan, judged against Python) and by benchmarks/bench_fuzz.py (10^6 frames).

    python -m jepa_edge.bridge.fuzz judge --runner build/fuzz_runner [--cases N]   judged run, exit 1 on failure
    python -m jepa_edge.bridge.fuzz OUT.txt [N] [SEED]     write a seeded corpus (hex, one case a line)
"""
from __future__ import annotations

import math
import random
import struct
import sys
from dataclasses import dataclass

from jepa_edge.bridge import codec
from jepa_edge.bridge.codec import Decoder, DecodeError, Frame, encode_frame, encode_raw
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, MAX_ACTUATORS, AckMsg, CommandMsg, EstopMsg, FaultMsg, HeartbeatMsg, HelloAckMsg, HelloMsg,
    MsgType, NackMsg, NackReason, ResumeMsg, StateMsg)

OPS = ("flip", "drop", "dup", "insert", "burst", "truncate", "delim")


@dataclass(frozen=True)
class Mutation:
    op: str  # flip | drop | dup | insert | burst | truncate | delim
    pos: int  # index into the region (taken modulo its current length)
    arg: int  # flip: bit 0..7; drop: count; dup: run length; insert: the byte; burst: length (and seed)


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
        elif m.op == "burst" and b:  # a noise burst: up to 16 consecutive bytes overwritten
            i %= len(b)
            noise = random.Random(m.pos * 256 + m.arg).randbytes(1 + m.arg % 16)
            b[i:i + len(noise)] = noise[:len(b) - i]
        elif m.op == "truncate":  # a frame cut short: its bytes up to the next delimiter are lost
            end = b.find(0, i)
            del b[i:len(b) if end < 0 else end]
        elif m.op == "delim":  # a spurious 0x00 (a delimiter in the middle of a frame)
            b.insert(i, 0)
    return bytes(b)


def make_case(clean: bytes, raws, spans, a: int, b: int, mutations) -> FuzzCase:
    a, b = sorted((max(0, min(a, len(clean))), max(0, min(b, len(clean)))))
    stream = clean[:a] + apply_mutations(clean[a:b], mutations) + clean[b:]
    return FuzzCase(tuple(raws), tuple(spans), clean, (a, b), stream)


def random_case(rng: random.Random, max_frames: int = 8, ops: tuple[str, ...] = OPS) -> FuzzCase:
    """A clean stream with one region of up to 48 bytes mutated by 1..4 operations from `ops`."""
    clean, raws, spans = clean_stream(rng, rng.randint(1, max_frames))
    a = rng.randrange(len(clean))
    b = min(len(clean), a + rng.randint(1, 48))
    muts = [Mutation(rng.choice(ops), rng.getrandbits(16), rng.getrandbits(8)) for _ in range(rng.randint(1, 4))]
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
    """The decoder part of a build/fuzz_runner line."""
    return " ".join("ok:" + r.raw.hex() if isinstance(r, Frame) else r.kind for r in results)


def runner_line(results) -> str:
    """One whole build/fuzz_runner line: the decoder's results, " | ", then the outcome token of
    every frame for a fresh firmware (2 actuators, max_valid_ms 1000, boot id 1234)."""
    return results_line(results) + " | " + " ".join(firmware_tokens(results))


def wrong_length_case(rng: random.Random, max_frames: int = 6) -> FuzzCase:
    """One frame's body lengthened or shortened (bytes appended to / cut from its payload) and
    given a fresh, valid CRC: the length check (bad_payload) is all that can refuse it."""
    clean, raws, spans = clean_stream(rng, rng.randint(1, max_frames))
    k = rng.randrange(len(raws))
    raw = raws[k]
    cut = rng.randint(1, 8)
    if rng.random() < 0.5 and len(raw) - cut >= 6:
        body = raw[:-cut]
    else:
        body = raw + rng.randbytes(cut)
    a, b = spans[k]
    stream = clean[:a] + encode_raw(body) + clean[b:]
    return FuzzCase(tuple(raws), tuple(spans), clean, (a, b), stream)


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


# ---------------------------------------------------------------------------------------------
# The firmware's frame handling as a reference model (src/bridge_firmware.c, handle()): for each
# decoder result, what the firmware does with it. No clock: the watchdog never changes whether a
# frame is applied. Outcome tokens (the C runners print the same ones):
#   "apply"   a COMMAND set the actuators        "stale"  ignored as a duplicate / replay
#   "hello"   a new session (HELLO_ACK sent)     "nack:R" answered NACK with reason R
#   "-"       handled, nothing of the above (HEARTBEAT, ESTOP, RESUME)
# Frames that fail COBS/length/CRC give no token: the firmware never saw a frame.

NONCE_HISTORY = 4  # BRIDGE_NONCE_HISTORY
_HOST_TYPES = (MsgType.COMMAND, MsgType.RESUME, MsgType.ESTOP, MsgType.HEARTBEAT)
_HEADER_ERRORS = {codec.VERSION: NackReason.VERSION, codec.UNKNOWN_TYPE: NackReason.UNKNOWN_TYPE,
                  codec.BAD_PAYLOAD: NackReason.BAD_PAYLOAD}


def seq_newer(a: int, b: int) -> bool:
    """RFC 1982 serial-number order on 16 bits: `a` is newer than `b` iff (int16)(a - b) > 0."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


class FirmwareModel:
    """What bridge_firmware.c decides for each frame: handshake, ESTOP latch, command checks and
    the session's sequence window (PROTOCOL.md §6)."""

    def __init__(self, n_actuators: int = 2, max_valid_ms: int = 1000, boot_id: int = 1234):
        self.n_actuators, self.max_valid_ms, self.boot_id = n_actuators, max_valid_ms, boot_id
        self.connected = self.estop = False
        self.window = 0  # newest host seq handled in this session
        self.nonces: list[int] = []  # newest first
        self.last_cmd_seq = 0
        self.actions: tuple[float, ...] = (0.0,) * n_actuators
        self.stale = 0

    def push(self, r) -> str | None:
        """One decoder result (Frame or DecodeError) -> outcome token, or None (no frame)."""
        if isinstance(r, DecodeError):
            reason = _HEADER_ERRORS.get(r.kind)
            return f"nack:{int(reason)}" if reason is not None and r.header is not None else None
        return self.handle(r.header.type, r.header.seq, r.msg)

    def _stale(self) -> str:
        self.stale += 1
        return "stale"

    def handle(self, t: int, seq: int, m) -> str:
        if t == MsgType.HELLO:
            if self.connected and not seq_newer(seq, self.window) and m.nonce in self.nonces:
                return self._stale()
            self.connected, self.window, self.actions = True, seq, (0.0,) * self.n_actuators
            self.nonces = [m.nonce, *self.nonces][:NONCE_HISTORY]
            return "hello"
        if self.connected and t in _HOST_TYPES and not (t == MsgType.HEARTBEAT and m.boot_id == self.boot_id):
            if seq_newer(seq, self.window):
                self.window = seq
            elif t in (MsgType.COMMAND, MsgType.RESUME):
                return self._stale()
        if t == MsgType.HEARTBEAT:
            return "-"
        if t == MsgType.ESTOP:
            self.estop, self.actions = True, (0.0,) * self.n_actuators
            return "-"
        if t == MsgType.RESUME:
            if not self.connected:
                return f"nack:{int(NackReason.NOT_CONNECTED)}"
            self.estop = False
            return "-"
        if t != MsgType.COMMAND:
            return f"nack:{int(NackReason.UNEXPECTED)}"
        return self._command(seq, m)

    def _command(self, seq: int, m: CommandMsg) -> str:
        if not self.connected:
            return f"nack:{int(NackReason.NOT_CONNECTED)}"
        if self.estop:
            return f"nack:{int(NackReason.ESTOPPED)}"
        if len(m.actions) != self.n_actuators:
            return f"nack:{int(NackReason.BAD_DIMENSION)}"
        if not 1 <= m.valid_ms <= self.max_valid_ms:
            return f"nack:{int(NackReason.BAD_VALIDITY)}"
        if any(not math.isfinite(a) or abs(a) > 1.0 for a in m.actions):
            return f"nack:{int(NackReason.BAD_VALUE)}"
        self.actions, self.last_cmd_seq = tuple(m.actions), seq
        return "apply"


def firmware_tokens(results, **model_kw) -> list[str]:
    """The outcome tokens of a fresh firmware fed these decoder results."""
    fw = FirmwareModel(**model_kw)
    return [tok for tok in map(fw.push, results) if tok is not None]


# ---------------------------------------------------------------------------------------------
# Replayed and reordered COMMANDs. A host session (or two, the second after a reconnect of the
# same host, seqs continuing as jepa_edge.bridge.Link does) of HELLO / COMMAND / HEARTBEAT /
# ESTOP / RESUME frames, all valid; then whole frames are replayed later, swapped, or a run of
# them repeated. Whatever arrives, the firmware must never apply a COMMAND that was sent before
# one it already applied ("stale applied", must be 0), and C must agree with FirmwareModel.
# Not generated: a new session's HELLO arriving after frames sent later than it. A byte stream
# cannot reorder like that, and such a HELLO is indistinguishable from one of a new host process
# (random seq, fresh nonce), which must start a session (PROTOCOL.md §6, "Sequence window").

REPLAY_OPS = ("replay", "swap", "repeat_run", "replay_hello")


@dataclass(frozen=True)
class ReplayCase:
    frames: tuple[bytes, ...]  # wire frames, in the order the host sent them
    order: tuple[int, ...]  # indices into `frames`, in the order they arrive
    applied_order: dict  # COMMAND seq -> its index in the clean order (seqs are unique per case)

    @property
    def stream(self) -> bytes:
        return b"".join(self.frames[i] for i in self.order)


def replay_case(rng: random.Random, max_frames: int = 12) -> ReplayCase:
    frames, kinds, cmd_index = [], [], {}
    seq = rng.getrandbits(16)
    n = rng.randint(3, max_frames)
    sessions = 2 if rng.random() < 0.3 else 1
    hello_at = {0} | ({rng.randint(2, n - 1)} if sessions == 2 and n > 3 else set())
    for i in range(n):
        if i in hello_at:
            msg = HelloMsg(rng.getrandbits(32), 0)
        else:
            r = rng.random()
            if r < 0.7:
                acts = tuple(rng.choice((-1.0, -0.5, 0.0, 0.25, 1.0)) for _ in range(2))
                msg = CommandMsg(rng.randint(1, 1000), acts)
            elif r < 0.85:
                msg = HeartbeatMsg(rng.getrandbits(32), rng.getrandbits(32))
            elif r < 0.93:
                msg = ResumeMsg()
            else:
                msg = EstopMsg(rng.getrandbits(8))
        if isinstance(msg, CommandMsg):
            cmd_index[seq] = i
        frames.append(encode_frame(msg, seq, FLAG_ACK_REQ if rng.random() < 0.5 else 0))
        kinds.append(msg.TYPE)
        seq = (seq + rng.choice((1, 1, 1, 2, 7))) & 0xFFFF  # gaps: frames lost on the way
    order = list(range(n))
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(REPLAY_OPS)
        if op == "replay":  # an earlier frame arrives again, later
            j = rng.randrange(len(order))
            order.insert(rng.randint(j + 1, len(order)), order[j])
        elif op == "swap" and len(order) > 1:  # two neighbours arrive in the other order
            j = rng.randrange(len(order) - 1)
            if MsgType.HELLO not in (kinds[order[j]], kinds[order[j + 1]]):  # see below
                order[j], order[j + 1] = order[j + 1], order[j]
        elif op == "repeat_run":  # a run of frames is sent twice (a retransmitting adapter)
            j = rng.randrange(len(order))
            k = rng.randint(j + 1, min(len(order), j + 4))
            order[k:k] = order[j:k]
        elif op == "replay_hello":  # a HELLO and the frames after it, replayed at the end
            hs = [p for p, i in enumerate(order) if kinds[i] == MsgType.HELLO]
            j = rng.choice(hs)
            order += order[j:j + rng.randint(1, 4)]
    return ReplayCase(tuple(frames), tuple(order), cmd_index)


@dataclass(frozen=True)
class ReplayVerdict:
    commands_applied: int
    stale_applied: int  # applied COMMANDs sent before one applied earlier: must be 0
    stale_ignored: int  # frames the firmware ignored as duplicates / replays


def check_replay(case: ReplayCase, applied_seqs, tokens=()) -> ReplayVerdict:
    """Judge the seqs of the COMMANDs a firmware applied, in order, against the host's order."""
    stale, newest = 0, -1
    for s in applied_seqs:
        i = case.applied_order[s]
        if i <= newest:
            stale += 1
        newest = max(newest, i)
    return ReplayVerdict(len(applied_seqs), stale, sum(t == "stale" for t in tokens))


def replayed_arrivals(case: ReplayCase) -> int:
    """Frames that arrive after a frame the host sent later, or arrive again."""
    n, newest = 0, -1
    for i in case.order:
        n += i <= newest
        newest = max(newest, i)
    return n


def applied_seqs(results, tokens) -> list[int]:
    """Seqs of the applied COMMANDs, from a decoder's results and the firmware's tokens (one
    token for every Frame and every error with a trusted header, in order)."""
    with_token = [r for r in results if isinstance(r, Frame) or (r.kind in _HEADER_ERRORS and r.header)]
    if len(with_token) != len(tokens):
        raise ValueError(f"{len(tokens)} firmware tokens for {len(with_token)} frames")
    return [r.header.seq for r, t in zip(with_token, tokens) if t == "apply"]


def model_applied(case: ReplayCase) -> tuple[list[int], list[str]]:
    """What FirmwareModel applies for the case's stream: (applied seqs, tokens)."""
    fw, applied, tokens = FirmwareModel(), [], []
    for r in Decoder().feed(case.stream):
        tok = fw.push(r)
        if tok is None:
            continue
        tokens.append(tok)
        if tok == "apply":
            applied.append(r.header.seq)
    return applied, tokens


# ---------------------------------------------------------------------------------------------
# The judged run: every mutation class through the Python decoder + FirmwareModel and through
# build/fuzz_runner (the C decoder and firmware core under ASan/UBSan), compared line by line.
# `make -C firmware_bridge fuzz` and benchmarks/bench_fuzz.py call run_judged().

CLASSES = {  # class name -> how a case of it is made
    "bit_flips": lambda rng: random_case(rng, ops=("flip",)),
    "bursts": lambda rng: random_case(rng, ops=("burst",)),
    "truncations": lambda rng: random_case(rng, ops=("truncate",)),
    "insertions": lambda rng: random_case(rng, ops=("insert",)),
    "deletions": lambda rng: random_case(rng, ops=("drop",)),
    "extra_delimiters": lambda rng: random_case(rng, ops=("delim",)),
    "duplicated_runs": lambda rng: random_case(rng, ops=("dup",)),
    "mixed": lambda rng: random_case(rng),
    "wrong_length_valid_crc": wrong_length_case,
    "garbage": lambda rng: rng.randbytes(rng.randint(1, 400)),
    "garbage_around_frames": None,  # made in _make (needs the clean frames)
    "replayed_reordered_commands": replay_case,
}


def _make(name: str, rng: random.Random):
    if name == "garbage_around_frames":
        clean, raws, spans = clean_stream(rng, rng.randint(1, 4))
        junk = rng.randbytes(rng.randint(1, 200))
        return (junk + clean + junk[::-1]), raws
    return CLASSES[name](rng)


def _new_tally() -> dict:
    return dict.fromkeys((
        "cases", "frames_sent", "frames_mutated", "frames_accepted", "corrupt_frames_accepted",
        "cases_prefix_lost", "cases_not_resynced", "commands_applied", "stale_commands_applied",
        "stale_frames_ignored", "c_corrupt_frames_accepted", "c_stale_commands_applied", "c_python_disagreements"), 0)


def _judge_python(name: str, case, tally: dict) -> tuple[bytes, str, object]:
    """Python side of one case; returns (stream, expected runner line, context for the C side)."""
    if isinstance(case, ReplayCase):
        stream = case.stream
        results = Decoder().feed(stream)
        tokens = firmware_tokens(results)
        v = check_replay(case, applied_seqs(results, tokens), tokens)
        tally["frames_sent"] += len(case.frames)
        tally["frames_mutated"] += replayed_arrivals(case)
        tally["frames_accepted"] += sum(isinstance(r, Frame) for r in results)
        sent = {Decoder().feed(f)[0].raw for f in case.frames}
        tally["corrupt_frames_accepted"] += sum(isinstance(r, Frame) and r.raw not in sent for r in results)
        tally["commands_applied"] += v.commands_applied
        tally["stale_commands_applied"] += v.stale_applied
        tally["stale_frames_ignored"] += v.stale_ignored
        return stream, results_line(results) + " | " + " ".join(tokens), (case, sent)
    if isinstance(case, FuzzCase):
        stream, sent = case.stream, set(case.raws)
        results = Decoder().feed(stream)
        v = check(case, results)
        tally["frames_sent"] += len(case.raws)
        tally["frames_mutated"] += max(v.damaged_frames, 1) if name == "wrong_length_valid_crc" else v.damaged_frames
        tally["cases_prefix_lost"] += not v.prefix_intact
        tally["cases_not_resynced"] += not v.resynced
    else:  # garbage, alone or around valid frames
        stream, raws = (case, ()) if isinstance(case, bytes) else case
        sent = set(raws)
        results = Decoder().feed(stream)
        tally["frames_sent"] += len(raws)
        tally["frames_mutated"] += sum(1 for r in results if not isinstance(r, Frame)) or 1
    tally["frames_accepted"] += sum(isinstance(r, Frame) for r in results)
    tally["corrupt_frames_accepted"] += sum(isinstance(r, Frame) and r.raw not in sent for r in results)
    return stream, runner_line(results), (None, sent)


def _judge_c(line: str, expected: str, ctx, tally: dict) -> None:
    case, sent = ctx
    if line != expected:
        tally["c_python_disagreements"] += 1
    dec, _, toks = line.partition(" | ")
    oks = [bytes.fromhex(x[3:]) for x in dec.split() if x.startswith("ok:")]
    tally["c_corrupt_frames_accepted"] += sum(raw not in sent for raw in oks)
    if case is not None:  # the C firmware's applied COMMANDs, judged against the host's order
        results = Decoder().feed(case.stream)
        try:
            seqs = applied_seqs(results, toks.split())
        except ValueError:
            tally["c_python_disagreements"] += 1  # counted already if the lines differ
            return
        tally["c_stale_commands_applied"] += check_replay(case, seqs).stale_applied


def run_judged(runner: str, cases_per_class: int, seed: int = 0, batch: int = 20_000,
               classes=None, progress=None) -> dict:
    """Run every class; returns {"classes": {name: tally}, "total": tally, "c": {...}, "ok": bool}."""
    import subprocess
    import tempfile
    import time

    out = {"classes": {}, "c": {"exit_codes": [], "sanitizer_reports": 0, "seconds": 0.0}, "python_seconds": 0.0}
    names = list(classes or CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        for ci, name in enumerate(names):
            rng = random.Random(f"{seed}:{name}")
            tally = out["classes"][name] = _new_tally()
            done, pending = 0, None
            while done < cases_per_class or pending is not None:
                work = None
                if done < cases_per_class:  # Python: make and judge the next batch ...
                    t0 = time.perf_counter()
                    k = min(batch, cases_per_class - done)
                    work = [_judge_python(name, _make(name, rng), tally) for _ in range(k)]
                    tally["cases"] += k
                    done += k
                    out["python_seconds"] += time.perf_counter() - t0
                if pending is not None:  # ... while C chews on the previous one
                    proc, prev, t0, f = pending
                    stdout, stderr = proc.communicate()
                    f.close()
                    out["c"]["seconds"] += time.perf_counter() - t0
                    out["c"]["exit_codes"].append(proc.returncode)
                    out["c"]["sanitizer_reports"] += ("runtime error" in stderr) + ("AddressSanitizer" in stderr)
                    if proc.returncode != 0 and "last_stderr" not in out["c"]:
                        out["c"]["last_stderr"] = stderr[-2000:]
                    lines = stdout.split("\n")
                    for i, (_, expected, ctx) in enumerate(prev):
                        _judge_c(lines[i] if i < len(lines) else "<missing>", expected, ctx, tally)
                    pending = None
                if work:
                    path = f"{tmp}/{name}.{done}.txt"
                    with open(path, "w") as fh:
                        fh.writelines(stream.hex() + "\n" for stream, _, _ in work)
                    f = open(path)
                    pending = (subprocess.Popen([runner, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                text=True), work, time.perf_counter(), f)
                if progress:
                    progress(ci, len(names), name, done, cases_per_class)
    total = _new_tally()
    for t in out["classes"].values():
        for k, v in t.items():
            total[k] += v
    out["total"] = total
    out["ok"] = (total["corrupt_frames_accepted"] == total["c_corrupt_frames_accepted"] == 0
                 and total["stale_commands_applied"] == total["c_stale_commands_applied"] == 0
                 and total["c_python_disagreements"] == 0 and total["cases_prefix_lost"] == 0
                 and total["cases_not_resynced"] == 0 and out["c"]["sanitizer_reports"] == 0
                 and all(rc == 0 for rc in out["c"]["exit_codes"]))
    return out


def judge_main(argv: list[str]) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m jepa_edge.bridge.fuzz judge",
                                 description="run every mutation class through Python and build/fuzz_runner; "
                                             "exit 1 on any accepted corrupt frame, stale command applied, "
                                             "C/Python disagreement or sanitizer report")
    ap.add_argument("--runner", required=True, help="build/fuzz_runner (ASan/UBSan build)")
    ap.add_argument("--cases", type=int, default=2000, help="cases per class")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    r = run_judged(a.runner, a.cases, a.seed)
    for name, t in r["classes"].items():
        print(f"{name:28s} cases {t['cases']:7d}  mutated frames {t['frames_mutated']:8d}  corrupt accepted "
              f"{t['corrupt_frames_accepted']}/{t['c_corrupt_frames_accepted']} (py/C)  stale applied "
              f"{t['stale_commands_applied']}/{t['c_stale_commands_applied']}  C!=py {t['c_python_disagreements']}")
    print(json.dumps({"total": r["total"], "c": r["c"]}, indent=None))
    print("fuzz: PASS" if r["ok"] else "fuzz: FAIL", file=sys.stderr)
    return 0 if r["ok"] else 1


def main(argv: list[str]) -> int:
    if argv and argv[0] == "judge":
        return judge_main(argv[1:])
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
