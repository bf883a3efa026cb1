"""COBS (Consistent Overhead Byte Stuffing): no 0x00 inside a frame, so 0x00 delimits frames.

Same algorithm as src/bridge_cobs.c: a block of n < 254 non-zero bytes is written as code
n+1 followed by the bytes and stands for "bytes, then a zero" (the last block's zero is
implied away); code 0xFF is a full 254-byte block with no zero. Overhead: 1 byte per started
254 bytes.
"""
from __future__ import annotations


class CobsError(ValueError):
    """Malformed COBS data: a zero byte inside, or a code that points past the end."""


def max_encoded_len(n: int) -> int:
    return n + n // 254 + 1


def encode(data: bytes) -> bytes:
    out = bytearray(b"\x00")  # placeholder for the first code byte
    code_at, code = 0, 1
    for i, b in enumerate(data):
        if b == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
        else:
            out.append(b)
            code += 1
            if code == 0xFF and i + 1 < len(data):
                out[code_at] = code
                code_at, code = len(out), 1
                out.append(0)
    out[code_at] = code
    return bytes(out)


def decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > n:
            raise CobsError(f"bad COBS code {code} at offset {i - 1} of {n}")
        block = data[i : i + code - 1]
        if 0 in block:
            raise CobsError("zero byte inside a COBS frame")
        out += block
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
