#!/usr/bin/python3
"""Writes the fixtures that check vit's torchvision and Hugging Face weight converters against
torchvision itself (Debian's python3-torchvision 0.14, an independent implementation):

  Vit.Generator.Tests/Fixtures/torchvision_small.weights.safetensors   torchvision state_dict names
  Vit.Generator.Tests/Fixtures/huggingface_small.weights.safetensors   the same weights, transformers names
  Vit.Generator.Tests/Fixtures/google_small.npz                        the same weights, Google's JAX checkpoint names and layouts
  Vit.Generator.Tests/Fixtures/torchvision_small.reference.safetensors input (2, 3, 32, 32), logits (2, 10) in float64,
                                                                       pos_embed resampled to 6x6 and 3x3 grids (timm's rule)

The model is torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10): the shape of the tests' SmallCifarPlain.
Every parameter is drawn at random (torchvision zero-initializes the class token and the head,
which would make the logits test nothing), rounded to float32, and the logits are computed in
float64 by torchvision's own forward in eval mode.

The Hugging Face names follow transformers' modeling_vit.py (ViTForImageClassification):
vit.embeddings.{cls_token, position_embeddings, patch_embeddings.projection}, per layer
attention.attention.{query, key, value}, attention.output.dense, intermediate.dense, output.dense,
layernorm_before, layernorm_after; vit.layernorm; classifier. torchvision's in_proj_weight is
[query; key; value] stacked on the output axis (torch.nn.MultiheadAttention), so it splits into
three (hidden, hidden) matrices.

    apt-get install python3-torchvision && /usr/bin/python3 tools/make_torchvision_reference.py
"""
import json
import os
import struct

import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Vit.Generator.Tests", "Fixtures")


def save(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def main():
    torch.manual_seed(20261201)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".weight") and (".ln" in name or name.endswith("ln.weight")):
                p.copy_(1 + 0.2 * torch.randn_like(p))  # LayerNorm scales around 1
            else:
                p.copy_(0.2 * torch.randn_like(p))
    state = {k: v.float() for k, v in model.state_dict().items()}
    save(os.path.join(OUT, "torchvision_small.weights.safetensors"), state, {"source": "torchvision.models.VisionTransformer(32, 8, 2, 2, 32, 64, num_classes=10), random weights"})

    hf = {
        "vit.embeddings.cls_token": state["class_token"],
        "vit.embeddings.position_embeddings": state["encoder.pos_embedding"],
        "vit.embeddings.patch_embeddings.projection.weight": state["conv_proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": state["conv_proj.bias"],
        "vit.layernorm.weight": state["encoder.ln.weight"],
        "vit.layernorm.bias": state["encoder.ln.bias"],
        "classifier.weight": state["heads.head.weight"],
        "classifier.bias": state["heads.head.bias"],
    }
    for i in range(2):
        tv, h = f"encoder.layers.encoder_layer_{i}.", f"vit.encoder.layer.{i}."
        q, k, v = state[tv + "self_attention.in_proj_weight"].chunk(3)
        qb, kb, vb = state[tv + "self_attention.in_proj_bias"].chunk(3)
        for part, w, b in (("query", q, qb), ("key", k, kb), ("value", v, vb)):
            hf[h + f"attention.attention.{part}.weight"] = w
            hf[h + f"attention.attention.{part}.bias"] = b
        for src, dst in (("self_attention.out_proj", "attention.output.dense"), ("ln_1", "layernorm_before"), ("ln_2", "layernorm_after"),
                         ("mlp.0", "intermediate.dense"), ("mlp.3", "output.dense")):
            hf[h + dst + ".weight"] = state[tv + src + ".weight"]
            hf[h + dst + ".bias"] = state[tv + src + ".bias"]
    save(os.path.join(OUT, "huggingface_small.weights.safetensors"), hf, {"source": "the torchvision fixture's weights under transformers' ViTForImageClassification names"})

    # Google's original ViT checkpoints (.npz, JAX/Flax names and layouts, as timm's _load_weights
    # reads them): kernels are (in, out), the patch kernel HWIO, attention kernels split by head.
    D, H = 32, 2
    g = {
        "cls": state["class_token"],
        "embedding/kernel": state["conv_proj.weight"].permute(2, 3, 1, 0),
        "embedding/bias": state["conv_proj.bias"],
        "Transformer/posembed_input/pos_embedding": state["encoder.pos_embedding"],
        "Transformer/encoder_norm/scale": state["encoder.ln.weight"],
        "Transformer/encoder_norm/bias": state["encoder.ln.bias"],
        "head/kernel": state["heads.head.weight"].t(),
        "head/bias": state["heads.head.bias"],
    }
    for i in range(2):
        tv, b = f"encoder.layers.encoder_layer_{i}.", f"Transformer/encoderblock_{i}/"
        g[b + "LayerNorm_0/scale"], g[b + "LayerNorm_0/bias"] = state[tv + "ln_1.weight"], state[tv + "ln_1.bias"]
        g[b + "LayerNorm_2/scale"], g[b + "LayerNorm_2/bias"] = state[tv + "ln_2.weight"], state[tv + "ln_2.bias"]
        ws, bs = state[tv + "self_attention.in_proj_weight"].chunk(3), state[tv + "self_attention.in_proj_bias"].chunk(3)
        for part, w, bias in zip(("query", "key", "value"), ws, bs):
            g[b + f"MultiHeadDotProductAttention_1/{part}/kernel"] = w.t().reshape(D, H, D // H)
            g[b + f"MultiHeadDotProductAttention_1/{part}/bias"] = bias.reshape(H, D // H)
        g[b + "MultiHeadDotProductAttention_1/out/kernel"] = state[tv + "self_attention.out_proj.weight"].t().reshape(H, D // H, D)
        g[b + "MultiHeadDotProductAttention_1/out/bias"] = state[tv + "self_attention.out_proj.bias"]
        g[b + "MlpBlock_3/Dense_0/kernel"], g[b + "MlpBlock_3/Dense_0/bias"] = state[tv + "mlp.0.weight"].t(), state[tv + "mlp.0.bias"]
        g[b + "MlpBlock_3/Dense_1/kernel"], g[b + "MlpBlock_3/Dense_1/bias"] = state[tv + "mlp.3.weight"].t(), state[tv + "mlp.3.bias"]
    import numpy
    numpy.savez(os.path.join(OUT, "google_small.npz"), **{k: v.contiguous().numpy() for k, v in g.items()})

    images = torch.randn(2, 3, 32, 32)
    double = model.double().eval()
    with torch.no_grad():
        logits = double(images.double())
    # timm's resample_abs_pos_embed: the class token kept, the 4x4 grid resampled bicubically
    # (F.interpolate, align_corners=False, no antialias) to 6x6 (a 48-pixel model) and 3x3 (24 pixels).
    pos = state["encoder.pos_embedding"]
    grid = pos[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    resampled = {}
    for side in (6, 3):
        g = torch.nn.functional.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
        resampled[f"pos_embed_{side}x{side}"] = torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, side * side, -1)], dim=1)
    save(os.path.join(OUT, "torchvision_small.reference.safetensors"), {"input": images, "logits": logits, **resampled}, {"torchvision": torchvision.__version__})
    print("logits", logits)


if __name__ == "__main__":
    main()
