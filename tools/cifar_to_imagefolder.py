#!/usr/bin/env python3
"""Writes CIFAR-10 binary records as image files in torchvision's ImageFolder layout.

    OUT/train/<class>/<n>.jpg   from data_batch_1.bin … data_batch_5.bin
    OUT/val/<class>/<n>.jpg     from test_batch.bin

Class folder names come from batches.meta.txt (airplane, automobile, …); <n> is the
record's index in its split, zero-padded, so the files sort in record order. The
records are read from the file sizes (size / 3073), never assumed to be 10,000 per
file, so the partial set in ../shared/data works as the full one does.

Needs Debian's python3-pil (Pillow): /usr/bin/python3 tools/cifar_to_imagefolder.py
    ../shared/data/cifar-10-batches-bin /tmp/cifar10-jpeg
Options: --format jpeg|png (default jpeg), --quality Q (JPEG quality, default 95),
--classes 5,6,7 (only those classes), --limit N (at most N images per class and split).
"""
import argparse
import os
import sys

try:
    from PIL import Image
except ImportError:  # one clear line, not a stack trace
    sys.exit("cifar_to_imagefolder.py: needs Pillow (apt-get install python3-pil), run with /usr/bin/python3")

RECORD = 1 + 3 * 32 * 32


def records(path):
    size = os.path.getsize(path)
    if size == 0 or size % RECORD:
        sys.exit(f"{path}: {size} bytes is not a whole number of {RECORD}-byte CIFAR-10 records")
    with open(path, "rb") as f:
        data = f.read()
    for at in range(0, size, RECORD):
        label = data[at]
        if label > 9:
            sys.exit(f"{path}: record {at // RECORD} has label {label}; CIFAR-10 labels are 0-9")
        planes = data[at + 1: at + RECORD]
        # CHW planes R, G, B → an RGB image.
        r = Image.frombytes("L", (32, 32), planes[0:1024])
        g = Image.frombytes("L", (32, 32), planes[1024:2048])
        b = Image.frombytes("L", (32, 32), planes[2048:3072])
        yield label, Image.merge("RGB", (r, g, b))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cifar", help="a cifar-10-batches-bin folder")
    p.add_argument("out", help="the image folder to write")
    p.add_argument("--format", choices=["jpeg", "png"], default="jpeg")
    p.add_argument("--quality", type=int, default=95)
    p.add_argument("--classes", default=None, help="comma-separated class indices to keep")
    p.add_argument("--limit", type=int, default=0, help="at most N images per class and split (0 = all)")
    a = p.parse_args()
    meta = os.path.join(a.cifar, "batches.meta.txt")
    if not os.path.isfile(meta):
        sys.exit(f"{a.cifar}: no batches.meta.txt; expected a cifar-10-batches-bin folder")
    with open(meta) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != 10:
        sys.exit(f"{meta}: expected 10 class names, found {len(names)}")
    keep = set(range(10)) if a.classes is None else {int(c) for c in a.classes.split(",")}
    ext = ".jpg" if a.format == "jpeg" else ".png"
    splits = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "val": ["test_batch.bin"]}
    for split, files in splits.items():
        index, counts = 0, [0] * 10
        for name in files:
            path = os.path.join(a.cifar, name)
            if not os.path.isfile(path):
                sys.exit(f"{path}: missing; the {split} split needs {', '.join(files)}")
            for label, image in records(path):
                n = index
                index += 1
                if label not in keep or (a.limit and counts[label] >= a.limit):
                    continue
                counts[label] += 1
                folder = os.path.join(a.out, split, names[label])
                os.makedirs(folder, exist_ok=True)
                target = os.path.join(folder, f"{n:05d}{ext}")
                tmp = target + ".tmp"
                if a.format == "jpeg":
                    image.save(tmp, "JPEG", quality=a.quality)
                else:
                    image.save(tmp, "PNG")
                os.replace(tmp, target)  # a half-written file never has the image's name
        print(f"{split}: {sum(counts)} images in {sum(1 for c in counts if c)} classes → {os.path.join(a.out, split)}")


if __name__ == "__main__":
    main()
