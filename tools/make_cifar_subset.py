#!/usr/bin/env python3
"""Writes the class-balanced CIFAR-10 subset that the `vit` CLI embeds for its default `train`.

Usage: python3 tools/make_cifar_subset.py [CIFAR10_FOLDER] [OUTPUT_FOLDER]

CIFAR10_FOLDER defaults to ../shared/data/cifar-10-batches-bin (relative to the repository root),
OUTPUT_FOLDER to Vit.Samples/Vit.Cli/Data. Standard library only.

Selection (deterministic, no randomness):
  train: scanning data_batch_1.bin .. data_batch_5.bin in file order, the first 200 records of
         each class (10 x 200 = 2,000 records), written in the order they were met;
  test:  the first 50 records of each class in test_batch.bin (500 records), in file order.
Records are copied byte for byte (3073 bytes: label, then R, G, B planes of 32x32).
"""
import hashlib
import os
import shutil
import sys

RECORD = 3073
CLASSES = 10
TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 50


def read_records(path):
    data = open(path, "rb").read()
    if len(data) == 0 or len(data) % RECORD != 0:
        sys.exit(f"{path}: {len(data)} bytes is not a whole number of {RECORD}-byte CIFAR-10 records")
    return [data[i:i + RECORD] for i in range(0, len(data), RECORD)]


def select(files, per_class):
    taken = [0] * CLASSES
    chosen = []
    provenance = []  # (file, first index, last index) per class
    for path in files:
        for index, record in enumerate(read_records(path)):
            label = record[0]
            if label >= CLASSES:
                sys.exit(f"{path}: record {index} has label {label}; CIFAR-10 labels are 0-9")
            if taken[label] < per_class:
                taken[label] += 1
                chosen.append(record)
                provenance.append((os.path.basename(path), index, label))
        if all(t == per_class for t in taken):
            break
    if any(t < per_class for t in taken):
        sys.exit(f"not enough records: per class {taken}, wanted {per_class} each")
    return chosen, provenance


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data", "cifar-10-batches-bin")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "Vit.Samples", "Vit.Cli", "Data")
    if not os.path.isdir(source):
        sys.exit(f"{source}: the CIFAR-10 folder does not exist")
    os.makedirs(out, exist_ok=True)

    train_files = [os.path.join(source, f"data_batch_{i}.bin") for i in range(1, 6)]
    train, train_prov = select(train_files, TRAIN_PER_CLASS)
    test, test_prov = select([os.path.join(source, "test_batch.bin")], TEST_PER_CLASS)

    outputs = {
        "cifar10-subset-train.bin": b"".join(train),
        "cifar10-subset-test.bin": b"".join(test),
    }
    for name, data in outputs.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    shutil.copyfile(os.path.join(source, "batches.meta.txt"), os.path.join(out, "batches.meta.txt"))

    def span(prov):
        # The last record index used in each source file.
        last = {}
        for file, index, _ in prov:
            last[file] = max(last.get(file, -1), index)
        return ", ".join(f"`{f}` records 0-{i}" for f, i in last.items())

    def sha(name):
        return hashlib.sha256(open(os.path.join(out, name), "rb").read()).hexdigest()

    readme = f"""# Embedded CIFAR-10 subset

A small, class-balanced subset of CIFAR-10 for the `vit` CLI's default `train` run, so that it
works without a download. Written by `tools/make_cifar_subset.py` (python3, standard library
only) from the CIFAR-10 binary files; rerun it to reproduce these files byte for byte.

| file | records | bytes | sha256 |
|---|---:|---:|---|
| `cifar10-subset-train.bin` | {len(train)} | {len(train) * RECORD:,} | `{sha("cifar10-subset-train.bin")}` |
| `cifar10-subset-test.bin` | {len(test)} | {len(test) * RECORD:,} | `{sha("cifar10-subset-test.bin")}` |
| `batches.meta.txt` | - | {os.path.getsize(os.path.join(out, "batches.meta.txt"))} | `{sha("batches.meta.txt")}` |

## Which records

- **train**: scanning `data_batch_1.bin` … `data_batch_5.bin` in file order, the first
  {TRAIN_PER_CLASS} records of each class ({CLASSES} × {TRAIN_PER_CLASS} = {len(train):,}), kept in the order met
  (so classes are interleaved as in the original files). Scanned: {span(train_prov)}.
- **test**: the first {TEST_PER_CLASS} records of each class in `test_batch.bin` ({len(test)}), in file
  order. Scanned: {span(test_prov)}.

Each record is copied byte for byte in the standard CIFAR-10 binary format: 3073 bytes,
byte 0 the label (0–9), then the red, green and blue planes (32×32, row-major). Read them
with `Vit.Data.CifarDataset.ReadFiles([path], CifarKind.Cifar10, names)`; the record count
comes from the file size. `batches.meta.txt` is the official class-name file (label = line).

## Source and citation

The records come from the official CIFAR-10 binary batches (the files in
`../shared/data/cifar-10-batches-bin`, which hold leading parts of the official files; see
their README). CIFAR-10 was collected by Alex Krizhevsky, Vinod Nair and Geoffrey Hinton
(https://www.cs.toronto.edu/~kriz/cifar.html); cite Alex Krizhevsky, *Learning Multiple
Layers of Features from Tiny Images*, Technical Report, University of Toronto, 2009.
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
    print(f"wrote {len(train)} train and {len(test)} test records to {out}")


if __name__ == "__main__":
    main()
