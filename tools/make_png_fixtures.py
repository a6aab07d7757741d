#!/usr/bin/env python3
"""Writes the PNG decoder fixtures under Vit.Generator.Tests/Fixtures/images (python3, zlib + struct only).

Each file is named ct{color type}_d{bit depth}_i{interlace}_{width}x{height}.png and holds a known
pattern that Vit.Generator.Tests/Imaging/PngFixtureTests.cs recomputes:
  gray / RGB / alpha samples: v(x, y, c) = (x*7919 + y*104729 + c*31337 + 12345) mod 2^depth
  palette index:              i(x, y)    = (3x + 5y) mod E, E = min(2^depth, 200) entries,
  palette entry i:            ((37i + 11) mod 256, (91i + 7) mod 256, (53i + 200) mod 256)
Rows use filter type (row index within its pass) mod 5, so all five filters appear; the
compressed stream is split over several IDAT chunks; palette files carry a tRNS chunk (entry i
gets alpha (17i) mod 256) and every file a tEXt chunk (an ancillary chunk to skip).
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "Vit.Generator.Tests", "Fixtures", "images")
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def sample(x, y, c, depth):
    return (x * 7919 + y * 104729 + c * 31337 + 12345) % (1 << depth)


def entries(depth):
    return min(1 << depth, 200)


def palette_index(x, y, depth):
    return (3 * x + 5 * y) % entries(depth)


def pack_row(values, depth):
    """Packs samples of `depth` bits, most significant first, into bytes."""
    if depth == 8:
        return bytes(values)
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in values)
    out, acc, bits = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | v
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind, row, prev, bpp):
    out = bytearray([kind])
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out.append((v - pred) & 0xFF)
    return bytes(out)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make(color, depth, interlace, width, height):
    n = SAMPLES[color]
    bpp = max(1, n * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, width, dx))
        ys = list(range(y0, height, dy))
        if not xs or not ys:
            continue
        prev = bytes((len(xs) * n * depth + 7) // 8)
        for r, y in enumerate(ys):
            if color == 3:
                values = [palette_index(x, y, depth) for x in xs]
            else:
                values = [sample(x, y, c, depth) for x in xs for c in range(n)]
            row = pack_row(values, depth)
            raw += filter_row(r % 5, row, prev, bpp)
            prev = row
    data = zlib.compress(bytes(raw), 9)
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace))
    png += chunk(b"tEXt", b"Comment\x00Vit.Compiler PNG fixture")
    if color == 3:
        e = entries(depth)
        png += chunk(b"PLTE", bytes(v for i in range(e) for v in ((37 * i + 11) % 256, (91 * i + 7) % 256, (53 * i + 200) % 256)))
        png += chunk(b"tRNS", bytes((i * 17) % 256 for i in range(e)))
    for i in range(0, len(data), 40):
        png += chunk(b"IDAT", data[i:i + 40])
    png += chunk(b"IEND", b"")
    name = f"ct{color}_d{depth}_i{interlace}_{width}x{height}.png"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(png)
    return name


def main():
    os.makedirs(OUT, exist_ok=True)
    depths = {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}
    names = []
    for color, ds in depths.items():
        for depth in ds:
            for interlace in (0, 1):
                names.append(make(color, depth, interlace, 13, 11))
    # Edge cases: Adam7 with empty passes, single pixels, one row.
    names.append(make(0, 1, 1, 1, 1))
    names.append(make(2, 8, 1, 3, 2))
    names.append(make(3, 2, 1, 5, 1))
    names.append(make(6, 16, 1, 1, 9))
    names.append(make(0, 4, 0, 1, 1))
    print(f"wrote {len(names)} files to {OUT}")


if __name__ == "__main__":
    main()
