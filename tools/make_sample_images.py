#!/usr/bin/env python3
"""Writes the README's sample images, docs/images/cifar10-test-*.png (python3, zlib + struct only).

Each image is one record of the CIFAR-10 test set, copied pixel for pixel (32x32 RGB, 8 bits, no
resampling) into a PNG: color type 2, filter 0 on every row, one IDAT chunk. The records are read
from the subset the CLI embeds (Vit.Samples/Vit.Cli/Data/cifar10-subset-test.bin), whose first
records are test_batch.bin's first records in order (see that folder's README), so no download is
needed; with --check DIR the same records are compared with DIR/test_batch.bin.

    python3 tools/make_sample_images.py [--check ../shared/data/cifar-10-batches-bin]
"""
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSET = os.path.join(ROOT, "Vit.Samples", "Vit.Cli", "Data", "cifar10-subset-test.bin")
NAMES = os.path.join(ROOT, "Vit.Samples", "Vit.Cli", "Data", "batches.meta.txt")
OUT = os.path.join(ROOT, "docs", "images")
RECORD = 3073
# (record in the subset = record in test_batch.bin, the label it must have)
IMAGES = [(0, 3), (1, 8)]


def record(path, index):
    with open(path, "rb") as f:
        f.seek(index * RECORD)
        data = f.read(RECORD)
    if len(data) != RECORD:
        sys.exit(f"{path}: record {index} is incomplete ({len(data)} of {RECORD} bytes)")
    return data


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(rec):
    """CIFAR planes (R, G, B; 32x32 row-major each) to an RGB PNG."""
    planes = rec[1:1025], rec[1025:2049], rec[2049:3073]
    rows = b"".join(b"\x00" + bytes(planes[c][y * 32 + x] for x in range(32) for c in range(3)) for y in range(32))
    header = struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def main():
    check = sys.argv[2] if len(sys.argv) == 3 and sys.argv[1] == "--check" else None
    names = open(NAMES, encoding="ascii").read().split()
    os.makedirs(OUT, exist_ok=True)
    for index, label in IMAGES:
        rec = record(SUBSET, index)
        if rec[0] != label:
            sys.exit(f"{SUBSET}: record {index} has label {rec[0]}, expected {label}")
        if check is not None and record(os.path.join(check, "test_batch.bin"), index) != rec:
            sys.exit(f"{check}/test_batch.bin: record {index} differs from the subset's record {index}")
        path = os.path.join(OUT, f"cifar10-test-{index}-{names[label]}.png")
        with open(path, "wb") as f:
            f.write(png(rec))
        print(f"{os.path.relpath(path, ROOT)}: test_batch.bin record {index}, label {label} ({names[label]})")


if __name__ == "__main__":
    main()
