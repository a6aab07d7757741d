#!/usr/bin/python3
"""Writes Vit.Generator.Tests/Fixtures/transforms/transforms.safetensors: the outputs of PIL and
torchvision's image transforms on a few small source images, for Vit.Imaging.Transforms.

Run with Debian's interpreter and packages (python3-pil 9.4, python3-torchvision 0.14):

    apt-get install -y python3-torchvision python3-pil
    /usr/bin/python3 tools/make_transform_fixtures.py

Deterministic: the sources are real CIFAR-10 test records from ../shared/data (records 0-2 of
test_batch.bin), one of them resized to an odd size, and synthetic gradient + noise images (RGB
and grayscale) drawn from a fixed linear congruential generator. No torch random numbers are
used: the one random transform (RandomResizedCrop) is checked on given boxes and on the
get_params fallback, which does not depend on the random draws when every attempt fails.

File layout (safetensors, written by hand):
  source/<name>  U8 (H, W, C)     a source image, C = 3 (RGB) or 1 (L)
  case/<k>       U8 (H, W, C)     the 8-bit output of case k (PIL image as HWC bytes)
                 F32 (3, S, S)    or the float output of a ToTensor + Normalize case
  __metadata__["cases"]           JSON list, one object per case (see CASES below)
  __metadata__["fallbacks"]       JSON list of get_params fallback results
  __metadata__["statistics"]      JSON list: moments of 20000 get_params draws per image size
  __metadata__["versions"]        the PIL, torchvision and torch versions used
"""
import json
import os
import struct

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Vit.Generator.Tests", "Fixtures", "transforms", "transforms.safetensors")
CIFAR = os.path.join(ROOT, "..", "shared", "data", "cifar-10-batches-bin", "test_batch.bin")

NORMS = {
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def cifar_record(k):
    with open(CIFAR, "rb") as f:
        f.seek(k * 3073)
        rec = f.read(3073)
    chw = np.frombuffer(rec[1:], dtype=np.uint8).reshape(3, 32, 32)
    return Image.fromarray(np.ascontiguousarray(chw.transpose(1, 2, 0)), "RGB")


def lcg_bytes(n, seed):
    """n pseudo-random bytes from a 64-bit LCG (Knuth's MMIX constants), top byte of each state."""
    out = bytearray(n)
    s = seed
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out[i] = s >> 56
    return np.frombuffer(bytes(out), dtype=np.uint8)


def synthetic(width, height, channels, seed):
    """A gradient with sharp bands plus noise: exercises rounding and clipping at 0 and 255."""
    y, x = np.mgrid[0:height, 0:width]
    noise = lcg_bytes(width * height * channels, seed).reshape(height, width, channels).astype(np.int32)
    planes = []
    for c in range(channels):
        base = (x * (255 + 40 * c)) // max(width - 1, 1) + (y * 97) // max(height - 1, 1)
        band = np.where(((x + 2 * y + 5 * c) // 7) % 3 == 0, 255, 0)
        planes.append((base + band) // 2 + (noise[:, :, c] - 128) // 3)
    arr = np.clip(np.stack(planes, axis=2), 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0], "L") if channels == 1 else Image.fromarray(arr, "RGB")


SOURCES = {
    "cifar0": cifar_record(0),
    "cifar1": cifar_record(1),
    "cifar2_odd": cifar_record(2).resize((45, 29), Image.BICUBIC),
    "noise173x97": synthetic(173, 97, 3, 1),
    "gray61x89": synthetic(61, 89, 1, 2),
    "tall9x140": synthetic(9, 140, 3, 3),
}

tensors = {}  # name -> (dtype, shape, bytes)
cases = []


def hwc(img):
    a = np.asarray(img, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    return a


def add_u8(name, img):
    a = hwc(img)
    tensors[name] = ("U8", list(a.shape), a.tobytes())


def add_case(case, result):
    name = f"case/{len(cases)}"
    case["tensor"] = name
    if isinstance(result, torch.Tensor):
        a = result.detach().numpy().astype("<f4")
        tensors[name] = ("F32", list(a.shape), a.tobytes())
    else:
        add_u8(name, result)
    cases.append(case)


for name, img in SOURCES.items():
    add_u8(f"source/{name}", img)

# Resize to (width, height): down, up, non-integer factors, one side only, 1-pixel edges.
RESIZES = {
    "cifar0": [(16, 16), (7, 5), (1, 1), (64, 48), (45, 45), (224, 224), (32, 35), (39, 32), (1, 32), (32, 1)],
    "cifar1": [(20, 27), (96, 96)],
    "cifar2_odd": [(32, 32), (13, 50), (45, 1)],
    "noise173x97": [(57, 32), (37, 37), (173, 40), (60, 97), (1, 97), (173, 1), (200, 111), (3, 2)],
    "gray61x89": [(32, 32), (61, 30), (20, 89), (1, 1), (100, 150)],
    "tall9x140": [(1, 140), (9, 10), (32, 32), (2, 3)],
}
for name, sizes in RESIZES.items():
    for w, h in sizes:
        add_case({"kind": "resize", "source": name, "width": w, "height": h},
                 SOURCES[name].resize((w, h), Image.BILINEAR))

# torchvision Resize(int) alone, and Resize(int) + CenterCrop(int) (the eval pipeline's 8-bit part).
SHORTER = {
    "cifar0": [(37, 32), (256, 224), (20, 16), (32, 32), (9, 9)],
    "cifar2_odd": [(37, 32), (16, 16), (5, 3)],
    "noise173x97": [(37, 32), (97, 64), (50, 49)],
    "gray61x89": [(37, 32), (12, 11)],
    "tall9x140": [(37, 32), (4, 4)],
}
for name, pairs in SHORTER.items():
    for r, s in pairs:
        resized = T.Resize(r)(SOURCES[name])
        add_case({"kind": "resize_shorter", "source": name, "size": r}, resized)
        add_case({"kind": "resize_center_crop", "source": name, "size": r, "crop": s}, T.CenterCrop(s)(resized))

# CenterCrop alone, including crops larger than the image (torchvision pads with 0 first).
CROPS = {
    "cifar0": [32, 31, 17, 40, 33],
    "noise173x97": [96, 100, 173, 180, 1],
    "gray61x89": [60, 64],
    "tall9x140": [9, 10, 30],
}
for name, sizes in CROPS.items():
    for s in sizes:
        add_case({"kind": "center_crop", "source": name, "crop": s}, T.CenterCrop(s)(SOURCES[name]))

# F.resized_crop on given boxes (top, left, height, width): RandomResizedCrop after get_params.
BOXES = {
    "cifar0": [((0, 0, 32, 32), 32), ((3, 5, 20, 17), 32), ((10, 2, 9, 14), 24), ((0, 0, 1, 1), 8), ((31, 0, 1, 32), 32),
               ((4, 4, 24, 24), 224)],
    "cifar2_odd": [((2, 7, 23, 30), 32), ((0, 0, 29, 45), 7)],
    "noise173x97": [((11, 23, 80, 101), 32), ((0, 100, 97, 73), 64), ((40, 40, 5, 3), 16), ((96, 172, 1, 1), 3)],
    "gray61x89": [((5, 6, 70, 50), 32), ((0, 0, 89, 61), 20)],
    "tall9x140": [((0, 0, 140, 9), 32), ((50, 2, 12, 7), 10)],
}
for name, boxes in BOXES.items():
    for (top, left, h, w), s in boxes:
        add_case({"kind": "resized_crop", "source": name, "top": top, "left": left, "height": h, "width": w, "size": s},
                 F.resized_crop(SOURCES[name], top, left, h, w, [s, s], interpolation=T.InterpolationMode.BILINEAR))

# The float pipelines: eval = Resize(round(S*256/224)) + CenterCrop(S) + ToTensor + Normalize on the
# image converted to RGB (as torchvision's ImageFolder loader does); train with a given box and flip.
for name, s, norm in [("cifar0", 32, "half"), ("cifar1", 32, "imagenet"), ("noise173x97", 32, "cifar10"),
                      ("gray61x89", 24, "half"), ("tall9x140", 16, "imagenet"), ("cifar0", 96, "half")]:
    mean, std = NORMS[norm]
    pipeline = T.Compose([T.Resize(round(s * 256 / 224)), T.CenterCrop(s), T.ToTensor(), T.Normalize(mean, std)])
    add_case({"kind": "eval", "source": name, "size": s, "norm": norm}, pipeline(SOURCES[name].convert("RGB")))

for name, (top, left, h, w), s, flip, norm in [("cifar0", (3, 5, 20, 17), 32, True, "half"),
                                               ("noise173x97", (11, 23, 80, 101), 32, False, "imagenet"),
                                               ("gray61x89", (5, 6, 70, 50), 16, True, "cifar10")]:
    mean, std = NORMS[norm]
    img = F.resized_crop(SOURCES[name].convert("RGB"), top, left, h, w, [s, s])
    if flip:
        img = F.hflip(img)
    add_case({"kind": "train", "source": name, "top": top, "left": left, "height": h, "width": w, "size": s,
              "flip": flip, "norm": norm}, F.normalize(F.to_tensor(img), mean, std))

# get_params fallback: with these sizes and ranges every one of the 10 attempts fails, so the result
# is torchvision's deterministic central crop (checked by drawing it 20 times).
fallbacks = []
DEFAULT_SCALE, DEFAULT_RATIO = (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0)
for (w, h), scale, ratio in [((1000, 10), DEFAULT_SCALE, DEFAULT_RATIO), ((10, 1000), DEFAULT_SCALE, DEFAULT_RATIO),
                             ((300, 2), DEFAULT_SCALE, DEFAULT_RATIO), ((1, 50), DEFAULT_SCALE, DEFAULT_RATIO),
                             ((777, 13), DEFAULT_SCALE, DEFAULT_RATIO), ((13, 779), DEFAULT_SCALE, DEFAULT_RATIO),
                             ((32, 32), (10.0, 10.0), DEFAULT_RATIO), ((173, 97), (10.0, 10.0), DEFAULT_RATIO),
                             ((97, 173), (10.0, 10.0), DEFAULT_RATIO), ((100, 30), (10.0, 20.0), (0.5, 2.0)),
                             ((30, 100), (10.0, 20.0), (0.5, 2.0)), ((45, 29), (10.0, 10.0), (1.0, 1.0))]:
    img = Image.new("RGB", (w, h))
    results = {T.RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(20)}
    assert len(results) == 1, (w, h, results)
    top, left, ch, cw = results.pop()
    fallbacks.append({"width": w, "height": h, "scale": list(scale), "ratio": list(ratio),
                      "top": top, "left": left, "crop_height": ch, "crop_width": cw})

# The distribution of get_params's draws, for comparison by statistics (torch's generator is not
# reproduced): per size, 20000 draws after torch.manual_seed(0).
statistics = []
for w, h in [(1000, 1000), (640, 480), (173, 97), (97, 173), (32, 32), (300, 100)]:
    torch.manual_seed(0)
    img = Image.new("RGB", (w, h))
    fractions, log_ratios, lefts, fallback = [], [], [], 0
    central = T.RandomResizedCrop.get_params(Image.new("RGB", (w, h)), [10.0, 10.0], list(DEFAULT_RATIO))
    for _ in range(20000):
        top, left, ch, cw = T.RandomResizedCrop.get_params(img, list(DEFAULT_SCALE), list(DEFAULT_RATIO))
        fallback += (top, left, ch, cw) == central
        fractions.append(cw * ch / (w * h))
        log_ratios.append(np.log(cw / ch))
        if cw < w:
            lefts.append(left / (w - cw))
    statistics.append({"width": w, "height": h, "draws": 20000,
                       "fraction_mean": float(np.mean(fractions)), "fraction_sd": float(np.std(fractions)),
                       "log_ratio_mean": float(np.mean(log_ratios)), "log_ratio_sd": float(np.std(log_ratios)),
                       "left_mean": float(np.mean(lefts)), "left_sd": float(np.std(lefts)), "left_count": len(lefts),
                       "central_rate": fallback / 20000})

metadata = {
    "statistics": json.dumps(statistics, separators=(",", ":")),
    "cases": json.dumps(cases, separators=(",", ":")),
    "fallbacks": json.dumps(fallbacks, separators=(",", ":")),
    "versions": f"PIL {PIL.__version__}, torchvision {torchvision.__version__}, torch {torch.__version__}",
}
header, offset = {"__metadata__": metadata}, 0
for name, (dtype, shape, data) in tensors.items():
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
    offset += len(data)
text = json.dumps(header, separators=(",", ":")).encode("utf-8")
text += b" " * (-len(text) % 8)
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for _, (_, _, data) in tensors.items():
        f.write(data)
print(f"{OUT}: {len(cases)} cases, {len(fallbacks)} fallbacks, {os.path.getsize(OUT)} bytes ({metadata['versions']})")
