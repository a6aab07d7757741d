#!/usr/bin/python3
"""Writes Vit.Generator.Tests/Fixtures/codecs/: images in the formats vit decodes through Skia,
each encoded by PIL (Debian's python3-pil 9.4), with the pixels PIL itself decodes from that file.
The tests decode every file with vit and compare with PIL's pixels: an independent decoder.

Sources: CIFAR-10 test record 2 (a ship), from the subset the CLI embeds
(Vit.Samples/Vit.Cli/Data/cifar10-subset-test.bin, whose first records are test_batch.bin's),
upscaled 3x with PIL's BICUBIC to 96x96 so the JPEG blocks carry detail; and a 37x23 synthetic
pattern (odd sizes, so partial JPEG blocks and chroma subsampling edges are exercised).

For each fixture NAME there is NAME (the encoded file) and NAME.rgb: PIL's decoding, after
ImageOps.exif_transpose (so EXIF orientation is applied), converted to RGB (or L for grayscale,
RGBA when the file has alpha), raw bytes, row-major. index.json lists name, width, height, mode.

    apt-get install python3-pil && /usr/bin/python3 tools/make_codec_fixtures.py
"""
import io
import json
import os
import sys

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSET = os.path.join(ROOT, "Vit.Samples", "Vit.Cli", "Data", "cifar10-subset-test.bin")
OUT = os.path.join(ROOT, "Vit.Generator.Tests", "Fixtures", "codecs")
RECORD = 3073


def cifar(index):
    with open(SUBSET, "rb") as f:
        f.seek(index * RECORD)
        data = f.read(RECORD)
    assert len(data) == RECORD and data[0] == 8, "record 2 of the test set is a ship (label 8)"
    planes = data[1:]
    rgb = bytes(planes[c * 1024 + i] for i in range(1024) for c in range(3))
    return Image.frombytes("RGB", (32, 32), rgb).resize((96, 96), Image.BICUBIC)


def pattern(w=37, h=23):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 7 + y * 3) % 256, (x * x + 5 * y) % 256, (200 - 4 * x + 9 * y) % 256) for y in range(h) for x in range(w)])
    return img


def exif_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    ship, pat = cifar(2), pattern()
    files = {}

    def save(name, img, **kw):
        buf = io.BytesIO()
        img.save(buf, **kw)
        files[name] = buf.getvalue()

    save("ship-baseline.jpg", ship, format="JPEG", quality=90)
    save("ship-progressive.jpg", ship, format="JPEG", quality=90, progressive=True)
    save("ship-gray.jpg", ship.convert("L"), format="JPEG", quality=90)
    save("pattern-444.jpg", pat, format="JPEG", quality=95, subsampling=0)
    save("pattern-420.jpg", pat, format="JPEG", quality=95, subsampling=2)
    for o in (3, 6, 8):
        save(f"pattern-exif{o}.jpg", pat, format="JPEG", quality=95, exif=exif_orientation(o))
    save("pattern.bmp", pat, format="BMP")
    save("pattern.gif", pat.quantize(colors=64), format="GIF")
    # An animated GIF: the first frame is the pattern, the second its negative.
    negative = Image.eval(pat, lambda v: 255 - v)
    buf = io.BytesIO()
    pat.quantize(colors=64).save(buf, format="GIF", save_all=True, append_images=[negative.quantize(colors=64)], duration=100, loop=0)
    files["pattern-animated.gif"] = buf.getvalue()
    save("pattern-lossless.webp", pat, format="WEBP", lossless=True)
    rgba = pat.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(pat.size))
    save("pattern-alpha-lossless.webp", rgba, format="WEBP", lossless=True)
    save("ship-lossy.webp", ship, format="WEBP", quality=80)

    index = []
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        mode = "L" if img.mode == "L" else "RGBA" if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info and img.mode != "P" else "RGB"
        if img.mode == "P" and "transparency" in img.info:
            mode = "RGBA"
        img = img.convert(mode)
        with open(os.path.join(OUT, name + ".rgb"), "wb") as f:
            f.write(img.tobytes())
        index.append({"name": name, "width": img.width, "height": img.height, "mode": mode})
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(index)} fixtures to {OUT}")


if __name__ == "__main__":
    sys.exit(main())
