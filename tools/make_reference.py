#!/usr/bin/python3
"""PyTorch reference fixtures for Vit.Compiler's parity tests.

Builds a timm-equivalent Vision Transformer in plain PyTorch (no timm), runs it in
float64 on seeded random weights and inputs, and writes for each configuration

  Vit.Generator.Tests/Fixtures/<name>.weights.safetensors
      every parameter as F32 under its timm name, in timm state_dict order;
      __metadata__ holds the configuration as strings.
  Vit.Generator.Tests/Fixtures/<name>.reference.safetensors
      input F32 (B,C,I,I), labels I64 (B), output F64 (B, K or feature width),
      loss F64 [] (mean cross-entropy), grad.<timm name> F64 for every parameter.
      (features_only has no head: only input and output.)

Two options beyond the first four fixtures: LayerScale (timm init_values, DeiT III / DINOv2:
x = x + ls1(attn(norm1(x))), x = x + ls2(mlp(norm2(x))), lsN(y) = y * blocks.N.lsN.gamma) and
HeadDim (lucidrains dim_head: the attention's inner width Heads*HeadDim may differ from Dim).

The weights are drawn in float32 and then used as float64, so a float32 model that
loads the .weights file computes from exactly the same numbers as this reference.

Run from the repository root:  /usr/bin/python3 tools/make_reference.py
Needs only torch (Debian: apt-get install python3-torch); safetensors is written by hand.
"""

import json
import math
import os
import struct
import sys
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Vit.Generator.Tests", "Fixtures")


@dataclass(frozen=True)
class Config:
    name: str
    image_size: int
    patch: int
    channels: int
    dim: int
    depth: int
    heads: int
    mlp_dim: int
    classes: int
    qkv_bias: bool
    pooling: str  # "Token" or "Mean"
    representation_size: int
    layer_norm_epsilon: float
    batch: int
    seed: int
    layer_scale: float = 0.0  # timm init_values; 0 = no LayerScale
    head_dim: int = 0         # attention width per head; 0 = dim // heads
    # The first four fixtures predate LayerScale and HeadDim: their metadata has no such keys,
    # so their bytes stay what they were. Every later fixture writes both keys.
    option_keys: bool = True

    @property
    def head_width(self):
        return self.head_dim if self.head_dim > 0 else self.dim // self.heads

    @property
    def attention_width(self):
        """Heads * head width: the rows of each of Q, K, V and the columns of attn.proj."""
        return self.heads * self.head_width

    @property
    def tokens(self):
        return (self.image_size // self.patch) ** 2 + 1

    @property
    def feature_width(self):
        return self.representation_size if self.representation_size > 0 else self.dim

    @property
    def output_width(self):
        return self.classes if self.classes > 0 else self.feature_width

    def metadata(self):
        m = OrderedDict([
            ("ImageSize", str(self.image_size)),
            ("Patch", str(self.patch)),
            ("Channels", str(self.channels)),
            ("Dim", str(self.dim)),
            ("Depth", str(self.depth)),
            ("Heads", str(self.heads)),
        ])
        if self.option_keys:
            m["HeadDim"] = str(self.head_dim)  # as configured: 0 means Dim / Heads
        m.update([
            ("MlpDim", str(self.mlp_dim)),
            ("Classes", str(self.classes)),
            ("QkvBias", "true" if self.qkv_bias else "false"),
            ("Pooling", self.pooling),
            ("RepresentationSize", str(self.representation_size)),
            ("LayerNormEpsilon", repr(self.layer_norm_epsilon)),
        ])
        if self.option_keys:
            m["LayerScale"] = repr(self.layer_scale)  # timm init_values; "0.0" means off
        m["Batch"] = str(self.batch)
        return m


CONFIGS = [
    #      name                   I   P  C  D   depth H  M   K   qkv    pool     R   eps    B  seed
    Config("tiny_token",          8,  4, 3, 16, 2,    2, 64, 5,  True,  "Token", 0,  1e-6, 3, 1, option_keys=False),
    Config("mean_repr_noqkvbias", 12, 4, 1, 24, 2,    3, 40, 7,  False, "Mean",  10, 1e-5, 2, 2, option_keys=False),
    Config("token_repr_eps",      16, 8, 3, 32, 3,    4, 48, 10, True,  "Token", 12, 1e-5, 4, 3, option_keys=False),
    Config("features_only",       8,  2, 3, 8,  1,    1, 32, 0,  True,  "Token", 0,  1e-6, 2, 4, option_keys=False),
    Config("layerscale_token",    8,  4, 3, 16, 2,    2, 32, 5,  True,  "Token", 0,  1e-6, 3, 5, layer_scale=0.1),
    # 20 is not divisible by 3 heads: only an explicit head width makes this model possible (inner width 24).
    Config("headdim_mean",        12, 4, 3, 20, 2,    3, 40, 6,  True,  "Mean",  0,  1e-6, 2, 6, head_dim=8),
]


# ----------------------------------------------------------------------------------------------
# Parameters: timm names and shapes, in timm state_dict order.

def parameter_shapes(c):
    """[(timm name, shape, kind)] in state_dict order; kind picks the initialization."""
    D, M, P, C, A = c.dim, c.mlp_dim, c.patch, c.channels, c.attention_width
    p = [
        ("cls_token", (1, 1, D), "embed"),
        ("pos_embed", (1, c.tokens, D), "embed"),
        ("patch_embed.proj.weight", (D, C, P, P), "weight"),
        ("patch_embed.proj.bias", (D,), "bias"),
    ]
    for i in range(c.depth):
        b = f"blocks.{i}."
        p += [(b + "norm1.weight", (D,), "ln_weight"), (b + "norm1.bias", (D,), "bias"),
              (b + "attn.qkv.weight", (3 * A, D), "weight")]
        if c.qkv_bias:
            p.append((b + "attn.qkv.bias", (3 * A,), "bias"))
        p += [(b + "attn.proj.weight", (D, A), "weight"), (b + "attn.proj.bias", (D,), "bias")]
        if c.layer_scale > 0:
            p.append((b + "ls1.gamma", (D,), "gamma"))
        p += [(b + "norm2.weight", (D,), "ln_weight"), (b + "norm2.bias", (D,), "bias"),
              (b + "mlp.fc1.weight", (M, D), "weight"), (b + "mlp.fc1.bias", (M,), "bias"),
              (b + "mlp.fc2.weight", (D, M), "weight"), (b + "mlp.fc2.bias", (D,), "bias")]
        if c.layer_scale > 0:
            p.append((b + "ls2.gamma", (D,), "gamma"))
    final_norm = "norm" if c.pooling == "Token" else "fc_norm"
    p += [(final_norm + ".weight", (D,), "ln_weight"), (final_norm + ".bias", (D,), "bias")]
    if c.representation_size > 0:
        p += [("pre_logits.fc.weight", (c.representation_size, D), "weight"),
              ("pre_logits.fc.bias", (c.representation_size,), "bias")]
    if c.classes > 0:
        p += [("head.weight", (c.classes, c.feature_width), "weight"), ("head.bias", (c.classes,), "bias")]
    return p


def make_parameters(c, generator):
    """Seeded float32 draws. Linear/conv weights ~ N(0, 1/fan_in) (about 0.2 at these widths),
    so activations stay O(1) and attention is neither uniform nor one-hot. LayerScale gammas are
    init_values + N(0, (init_values/2)^2), not timm's constant init_values, so that every channel
    scales differently and a gamma applied to the wrong channel or branch shows."""
    params = OrderedDict()
    for name, shape, kind in parameter_shapes(c):
        if kind == "weight":
            fan_in = math.prod(shape[1:])
            std = 1.0 / math.sqrt(fan_in)
            t = torch.randn(shape, generator=generator, dtype=torch.float32) * std
        elif kind == "bias":
            t = torch.randn(shape, generator=generator, dtype=torch.float32) * 0.1
        elif kind == "ln_weight":
            t = 1.0 + torch.randn(shape, generator=generator, dtype=torch.float32) * 0.1
        elif kind == "gamma":
            t = c.layer_scale + torch.randn(shape, generator=generator, dtype=torch.float32) * (c.layer_scale / 2)
        else:  # cls_token, pos_embed
            t = torch.randn(shape, generator=generator, dtype=torch.float32) * 0.5
        params[name] = t.to(torch.float32)  # the stored values; the model computes on their float64 copies
    return params


# ----------------------------------------------------------------------------------------------
# The model (timm VisionTransformer semantics), written out op by op.

def layer_norm(x, p, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], eps)


def attention(x, p, prefix, heads, hd):
    """x (B,T,D) -> (B,T,D); hd is the head width, A = heads*hd the inner width (often D)."""
    B, T, D = x.shape
    A = heads * hd
    qkv = F.linear(x, p[prefix + ".qkv.weight"], p.get(prefix + ".qkv.bias"))       # (B,T,3A)
    qkv = qkv.reshape(B, T, 3, heads, hd).permute(2, 0, 3, 1, 4)                      # (3,B,H,T,hd)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = (q @ k.transpose(-2, -1)) * hd ** -0.5                                     # (B,H,T,T)
    attn = attn.softmax(dim=-1)
    y = (attn @ v).transpose(1, 2).reshape(B, T, A)                                  # (B,T,A)
    return F.linear(y, p[prefix + ".proj.weight"], p[prefix + ".proj.bias"])         # (B,T,D)


def layer_scale(y, p, name):
    """timm LayerScale: y * gamma over the channel (last) axis; the identity when the model has none."""
    gamma = p.get(name + ".gamma")
    return y if gamma is None else y * gamma


def block(c, p, b, x):
    """One pre-norm block; b is the "blocks.N." prefix."""
    eps = c.layer_norm_epsilon
    x = x + layer_scale(attention(layer_norm(x, p, b + "norm1", eps), p, b + "attn", c.heads, c.head_width), p, b + "ls1")
    h = layer_norm(x, p, b + "norm2", eps)
    h = F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"])
    h = F.gelu(h)  # exact erf GELU
    return x + layer_scale(F.linear(h, p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"]), p, b + "ls2")


def forward(c, p, images):
    """images (B,C,I,I) float64 -> (B, output_width)."""
    B = images.shape[0]
    x = F.conv2d(images, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=c.patch)  # (B,D,I/P,I/P)
    x = x.flatten(2).transpose(1, 2)                                                   # (B,N,D) raster order
    x = torch.cat([p["cls_token"].expand(B, -1, -1), x], dim=1)                       # (B,T,D)
    x = x + p["pos_embed"]
    eps = c.layer_norm_epsilon
    for i in range(c.depth):
        x = block(c, p, f"blocks.{i}.", x)
    if c.pooling == "Token":
        x = layer_norm(x, p, "norm", eps)[:, 0]
    else:
        x = layer_norm(x[:, 1:].mean(dim=1), p, "fc_norm", eps)
    if c.representation_size > 0:
        x = torch.tanh(F.linear(x, p["pre_logits.fc.weight"], p["pre_logits.fc.bias"]))
    if c.classes > 0:
        x = F.linear(x, p["head.weight"], p["head.bias"])
    return x


def loss_fn(c, p, images, labels):
    return F.cross_entropy(forward(c, p, images), labels)  # mean over the batch


# ----------------------------------------------------------------------------------------------
# safetensors, by hand: u64 LE header length, JSON header padded with spaces to 8 bytes, data.

DTYPES = {torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.int64: ("I64", 8)}


def tensor_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    return bytes(t.view(torch.uint8).tolist()) if t.numel() else b""


def write_safetensors(path, tensors, metadata=None):
    assert sys.byteorder == "little"
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in tensors.items():
        dtype, size = DTYPES[t.dtype]
        data = tensor_bytes(t)
        assert len(data) == t.numel() * size
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
    return os.path.getsize(path)


# ----------------------------------------------------------------------------------------------
# Self-checks: our block against independent implementations, analytic gradients against
# finite differences.

def gradcheck_micro():
    """torch.autograd.gradcheck over every parameter of micro models: both poolings, pre-logits,
    LayerScale, and head widths above (inner 6) and below (inner 2) Dim / Heads = 2."""
    results = []
    #  pooling  R  qkv bias  layer scale  head dim
    micros = [("Token", 0, True, 0.0, 0), ("Mean", 3, False, 0.0, 0),
              ("Token", 0, True, 0.5, 0), ("Mean", 0, True, 0.0, 3), ("Token", 3, False, 0.5, 1)]
    for pooling, repr_size, qkv_bias, ls, hd in micros:
        c = Config("micro", 4, 2, 2, 4, 1, 2, 8, 3, qkv_bias, pooling, repr_size, 1e-6, 2, 99,
                   layer_scale=ls, head_dim=hd)
        g = torch.Generator().manual_seed(99)
        params = make_parameters(c, g)
        names = list(params)
        images = torch.randn(c.batch, c.channels, c.image_size, c.image_size, generator=g).double()
        labels = torch.randint(0, c.classes, (c.batch,), generator=g)
        leaves = tuple(params[n].double().requires_grad_() for n in names)

        def f(*values):
            return loss_fn(c, dict(zip(names, values)), images, labels)

        ok = torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)
        results.append(ok)
        print(f"gradcheck micro ({pooling}, repr {repr_size}, qkv_bias {qkv_bias}, layer scale {ls}, head dim {hd}): "
              f"{sum(t.numel() for t in leaves)} parameters, {'ok' if ok else 'FAILED'}")
    return all(results)


def check_block_against_torch(layer_scale_values):
    """Our block (timm semantics) against torch.nn.TransformerEncoderLayer (pre-norm, exact GELU,
    no dropout), an independent implementation with the same qkv layout ([Q | K | V], heads contiguous).
    The layer has no LayerScale; y * gamma after a Linear is the Linear with its output rows and bias
    scaled by gamma, so with layer_scale_values > 0 its out_proj and linear2 get gamma folded in."""
    c = Config("block", 8, 4, 3, 12, 1, 3, 20, 4, True, "Token", 0, 1e-5, 2, 7, layer_scale=layer_scale_values)
    g = torch.Generator().manual_seed(7)
    p = OrderedDict((n, t.double()) for n, t in make_parameters(c, g).items())
    x = torch.randn(2, 5, c.dim, generator=g, dtype=torch.float64)
    layer = torch.nn.TransformerEncoderLayer(c.dim, c.heads, c.mlp_dim, dropout=0.0, activation="gelu",
                                             layer_norm_eps=c.layer_norm_epsilon, batch_first=True,
                                             norm_first=True, dtype=torch.float64).eval()
    b = "blocks.0."
    ones = torch.ones(c.dim, dtype=torch.float64)
    gamma1, gamma2 = p.get(b + "ls1.gamma", ones), p.get(b + "ls2.gamma", ones)
    with torch.no_grad():
        for ours, theirs in [("norm1", layer.norm1), ("norm2", layer.norm2)]:
            theirs.weight.copy_(p[b + ours + ".weight"])
            theirs.bias.copy_(p[b + ours + ".bias"])
        layer.self_attn.in_proj_weight.copy_(p[b + "attn.qkv.weight"])
        layer.self_attn.in_proj_bias.copy_(p[b + "attn.qkv.bias"])
        layer.self_attn.out_proj.weight.copy_(gamma1[:, None] * p[b + "attn.proj.weight"])
        layer.self_attn.out_proj.bias.copy_(gamma1 * p[b + "attn.proj.bias"])
        layer.linear1.weight.copy_(p[b + "mlp.fc1.weight"])
        layer.linear1.bias.copy_(p[b + "mlp.fc1.bias"])
        layer.linear2.weight.copy_(gamma2[:, None] * p[b + "mlp.fc2.weight"])
        layer.linear2.bias.copy_(gamma2 * p[b + "mlp.fc2.bias"])
        ours = block(c, p, b, x)
        theirs = layer(x)
    diff = float((ours - theirs).abs().max())
    # 0 without LayerScale (the same operations); folding gamma in reorders one product per element,
    # a rounding difference of an ulp or two on O(1) values.
    limit = 1e-12
    print(f"block (layer scale {layer_scale_values}) vs torch.nn.TransformerEncoderLayer: max abs diff {diff:.2e}")
    return diff <= limit


def check_attention_head_dim_against_torch(dim, heads, head_dim):
    """Our attention with an inner width A = heads*head_dim != dim against torch.nn.MultiheadAttention,
    which only supports A = embed_dim: run it at embed_dim A on x zero-padded from dim to A columns,
    with in_proj = [qkv.weight | 0] and out_proj = [proj.weight ; 0], and keep the first dim outputs.
    Its scale is (A / heads)^-0.5 = head_dim^-0.5, its in-projection [Q | K | V] with heads contiguous."""
    A = heads * head_dim
    assert A >= dim, "the padding trick needs the inner width to be at least dim"
    c = Config("attn", 8, 4, 3, dim, 1, heads, 2 * dim, 4, True, "Mean", 0, 1e-6, 2, 8, head_dim=head_dim)
    g = torch.Generator().manual_seed(8)
    p = OrderedDict((n, t.double()) for n, t in make_parameters(c, g).items())
    x = torch.randn(2, 5, dim, generator=g, dtype=torch.float64)
    mha = torch.nn.MultiheadAttention(A, heads, batch_first=True, dtype=torch.float64).eval()
    a = "blocks.0.attn."
    with torch.no_grad():
        mha.in_proj_weight.zero_()
        mha.in_proj_weight[:, :dim].copy_(p[a + "qkv.weight"])
        mha.in_proj_bias.copy_(p[a + "qkv.bias"])
        mha.out_proj.weight.zero_()
        mha.out_proj.weight[:dim].copy_(p[a + "proj.weight"])
        mha.out_proj.bias.zero_()
        mha.out_proj.bias[:dim].copy_(p[a + "proj.bias"])
        padded = torch.cat([x, x.new_zeros(2, 5, A - dim)], dim=-1)
        theirs_full = mha(padded, padded, padded, need_weights=False)[0]
        theirs, rest = theirs_full[..., :dim], theirs_full[..., dim:]
        ours = attention(x, p, "blocks.0.attn", heads, head_dim)
    diff = float((ours - theirs).abs().max())
    print(f"attention (dim {dim}, {heads} heads of {head_dim}) vs torch.nn.MultiheadAttention: max abs diff {diff:.2e}")
    return diff < 1e-12 and float(rest.abs().max()) == 0.0


def spot_check(c, p, images, labels, grads):
    """Central differences on a few elements of several parameters of a real configuration: the
    first six weights (and cls/pos), and every LayerScale gamma and attention weight."""
    worst = 0.0
    g = torch.Generator().manual_seed(1234)
    first = [n for n in p if n.endswith("weight") or n in ("cls_token", "pos_embed")][:6]
    names = first + [n for n in p if n not in first and (n.endswith(".gamma") or ".attn." in n)]
    with torch.no_grad():
        for name in names:
            t = p[name]
            for _ in range(3):
                i = int(torch.randint(0, t.numel(), (1,), generator=g))
                flat = t.view(-1)
                h = 1e-6
                saved = float(flat[i])
                flat[i] = saved + h
                up = float(loss_fn(c, p, images, labels))
                flat[i] = saved - h
                down = float(loss_fn(c, p, images, labels))
                flat[i] = saved
                numeric = (up - down) / (2 * h)
                analytic = float(grads[name].view(-1)[i])
                worst = max(worst, abs(numeric - analytic) / (1e-6 + abs(analytic)) if abs(analytic) > 1e-8
                            else abs(numeric - analytic))
    return worst


# ----------------------------------------------------------------------------------------------

def build(c):
    g = torch.Generator().manual_seed(c.seed)
    params32 = make_parameters(c, g)
    images32 = torch.randn(c.batch, c.channels, c.image_size, c.image_size, generator=g, dtype=torch.float32)
    labels = torch.randint(0, c.classes, (c.batch,), generator=g) if c.classes > 0 else None

    p = OrderedDict((n, t.double().requires_grad_()) for n, t in params32.items())
    images = images32.double()
    output = forward(c, p, images)
    assert output.shape == (c.batch, c.output_width), output.shape

    reference = OrderedDict([("input", images32)])
    if c.classes > 0:
        loss = F.cross_entropy(output, labels)
        loss.backward()
        grads = OrderedDict((n, t.grad.detach().clone()) for n, t in p.items())
        reference["labels"] = labels.to(torch.int64)
        reference["output"] = output.detach()
        reference["loss"] = loss.detach().reshape(())
        for n, gr in grads.items():
            reference["grad." + n] = gr
        worst = spot_check(c, OrderedDict((n, t.detach().clone()) for n, t in p.items()), images, labels, grads)
        note = f"loss {loss.item():.6f}, finite-difference spot check worst rel err {worst:.2e}"
        if worst > 1e-4:
            raise SystemExit(f"{c.name}: finite differences disagree with autograd ({worst:.2e})")
    else:
        reference["output"] = output.detach()
        note = "forward only"

    os.makedirs(OUT_DIR, exist_ok=True)
    wsize = write_safetensors(os.path.join(OUT_DIR, c.name + ".weights.safetensors"), params32, c.metadata())
    rsize = write_safetensors(os.path.join(OUT_DIR, c.name + ".reference.safetensors"), reference, c.metadata())
    nparams = sum(t.numel() for t in params32.values())
    print(f"{c.name}: {nparams} parameters, output {tuple(output.shape)}, {note}; "
          f"weights {wsize} bytes, reference {rsize} bytes")


def main():
    torch.set_num_threads(1)  # deterministic reductions
    print(f"torch {torch.__version__}")
    if not (check_block_against_torch(0.0) and check_block_against_torch(0.1)):
        raise SystemExit("the block disagrees with torch.nn.TransformerEncoderLayer")
    if not (check_attention_head_dim_against_torch(20, 3, 8) and check_attention_head_dim_against_torch(4, 2, 3)):
        raise SystemExit("the attention with an explicit head width disagrees with torch.nn.MultiheadAttention")
    if not gradcheck_micro():
        raise SystemExit("gradcheck failed")
    for c in CONFIGS:
        build(c)


if __name__ == "__main__":
    main()
