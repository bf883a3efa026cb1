"""CRC-32C (Castagnoli), the frame check of the bridge protocol (firmware_bridge/PROTOCOL.md).

width 32, poly 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF, refin/refout true,
xorout 0xFFFFFFFF, check("123456789") == 0xE3069283. Same routine as src/bridge_crc32c.c;
a byte-wide table here because Python pays per loop iteration, not per table byte.
"""
from __future__ import annotations

POLY_REFLECTED = 0x82F63B78
CHECK = 0xE3069283  # crc32c(b"123456789")


def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (POLY_REFLECTED if c & 1 else 0)
        table.append(c)
    return tuple(table)


_TABLE = _make_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of `data`; pass a previous result as `crc` to continue it over more bytes."""
    c = crc ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = (c >> 8) ^ table[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF
