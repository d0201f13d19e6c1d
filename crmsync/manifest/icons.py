"""The add-in's icons, drawn in code (a white "c" on the Office blue), as PNG bytes.

Drawing them keeps the repository free of binary art and lets ``crmsync manifest``
write the exact sizes each manifest asks for.
"""

from __future__ import annotations

import struct
import zlib

BLUE = (15, 108, 189, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)
#: sizes the XML manifest (16/32/64/80/128) and the unified manifest (32 outline, 192 color) use
SIZES = (16, 32, 64, 80, 128, 192)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pixel(x: float, y: float, outline: bool) -> tuple[int, int, int, int]:
    """A ring open to the right (a "c") inside a rounded square (or alone, for outline)."""
    dx, dy = x - 0.5, y - 0.5
    radius = (dx * dx + dy * dy) ** 0.5
    in_c = 0.18 <= radius <= 0.3 and not (dx > 0.08 and abs(dy) < 0.12)
    if outline:
        return WHITE if in_c else CLEAR
    return WHITE if in_c else BLUE


def png(size: int, outline: bool = False) -> bytes:
    """Return a ``size`` x ``size`` RGBA PNG of the icon (transparent + white when ``outline``)."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            rows.extend(_pixel((x + 0.5) / size, (y + 0.5) / size, outline))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b""))
