#!/usr/bin/python3
"""Converts a PyTorch checkpoint (torch.save: .pth, .pt, .bin) to safetensors, which vit reads.

vit never unpickles: a pickle can run arbitrary code. This script loads the file with
torch.load(weights_only=True) (tensors and plain containers only, refusing other objects; torch
1.13 or later) on your machine, takes the state_dict (the file itself, or its "model",
"state_dict" or "model_state_dict" entry), and writes every floating-point tensor as F32 with its
name unchanged. vit then reads timm, torchvision and Hugging Face names (or run `vit convert` to
rename them to timm's).

    python3 tools/pth_to_safetensors.py IN.pth OUT.safetensors
"""
import json
import os
import struct
import sys

import torch


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pth_to_safetensors.py IN.pth OUT.safetensors")
    src, dst = sys.argv[1:]
    obj = torch.load(src, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        sys.exit(f"{src}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    header, blobs, offset = {}, [], 0
    for name, t in obj.items():
        if not torch.is_tensor(t) or not t.is_floating_point():
            continue
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"source": os.path.basename(src)}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    os.replace(tmp, dst)
    print(f"wrote {len(header) - 1} tensors to {dst}")


if __name__ == "__main__":
    main()
