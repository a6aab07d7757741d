#!/usr/bin/python3
"""torch.optim reference trajectories for Vit.Compiler's optimizer parity tests.

Writes Vit.Generator.Tests/Fixtures/optimizer.reference.safetensors: a few parameter tensors with
timm names and shapes of the test model TinyToken (some decayed, some not, by timm's rule that our
ParameterTable applies: no decay for 1-d tensors, cls_token and pos_embed), fixed float32 gradients
for every step, and for each case the parameters after every step as torch.optim computes them.

The numbers torch works on are the float32 parameters, gradients and hyperparameters converted to
float64, and torch runs in float64: the reference is the exact float64 result of float32 inputs, so
the C# float32 optimizer is compared with rounding in our code only.

How each case maps onto torch (what Vit.Runtime.Training promises, see Optimizer.cs, AdamW.cs, Sgd.cs):

  gradient scale s   p.grad = s * g          (1/k after k accumulated micro-batches)
  clip norm c        torch.nn.utils.clip_grad_norm_(trained, c) after the scale; 0 = off
  AdamW              torch.optim.AdamW, two parameter groups: decayed (weight_decay = λ), rest (0)
  SGD (ours)         decoupled decay, which torch.optim.SGD does not have: for decayed parameters
                     p.mul_(1 - lr * λ) (as torch.optim.AdamW decays), then torch.optim.SGD with
                     weight_decay = 0, momentum μ, dampening 0, nesterov as given
  sgd_coupled        plain torch.optim.SGD(weight_decay = λ) on the decayed group: L2 added to the
                     gradient, so the decay also enters the momentum buffer. NOT what our SGD does;
                     stored so the test can show that the difference is real and measurable.

Entries (F32 unless stated):
  param.<name>                         initial values
  grad.<t>.<name>                      the raw gradient of step t = 1..STEPS (before scale and clip)
  <case>.lr                            F64 (STEPS,): the learning rate of each step
  <case>.grad_norm                     F64 (STEPS,): the global norm of the scaled gradients, before clipping
  <case>.<t>.<name>                    F64: the parameters after step t
  <case>.state.<state name>.<name>     F64: torch's optimizer state after the last step
                                       (exp_avg, exp_avg_sq; momentum_buffer)
  schedule.<n>.lr                      F64: torch's LinearLR + CosineAnnealingLR per step (see below)
__metadata__: Steps, Parameters (names, comma-separated, in order), Decayed (the decayed subset),
Cases, and per case <case>.Kind (AdamW/Sgd), .WeightDecayMode (decoupled/coupled), .WeightDecay,
.Beta1, .Beta2, .Epsilon, .Momentum, .Nesterov, .ClipNorm, .GradientScale; per schedule
schedule.<n>.Peak, .WarmupSteps, .TotalSteps, .FinalFraction.

Run from the repository root:  /usr/bin/python3 tools/make_optimizer_reference.py
"""

import math
import os
import sys
import warnings
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import OUT_DIR, write_safetensors  # noqa: E402  (the hand-written safetensors writer)

STEPS = 6

# (timm name of TinyToken, shape). Lengths 16, 16, 48, 256, 80, 5: whole SIMD vectors and a scalar tail.
PARAMETERS = [
    ("cls_token", (1, 1, 16)),
    ("blocks.0.norm1.weight", (16,)),
    ("blocks.0.attn.qkv.bias", (48,)),
    ("blocks.1.attn.proj.weight", (16, 16)),
    ("head.weight", (5, 16)),
    ("head.bias", (5,)),
]

# The per-step gradient size: varied, so Adam's second moment matters and clipping acts on some
# steps only; head.bias gets an all-zero gradient on step 3 (the state must carry it through).
GRADIENT_STD = [0.1, 0.5, 0.02, 1.0, 0.05, 0.2]
ZERO_GRADIENT = (3, "head.bias")

CASES = OrderedDict([
    ("adamw", dict(Kind="AdamW", WeightDecayMode="decoupled", WeightDecay=0.05, Beta1=0.9, Beta2=0.999, Epsilon=1e-8,
                   ClipNorm=0.0, GradientScale=1.0, lr=[1e-3, 3e-3, 5e-3, 4e-3, 2e-3, 1e-3])),
    ("adamw_clip", dict(Kind="AdamW", WeightDecayMode="decoupled", WeightDecay=0.3, Beta1=0.85, Beta2=0.98, Epsilon=1e-6,
                        ClipNorm=0.5, GradientScale=0.25, lr=[1e-2, 2e-2, 1e-2, 5e-3, 2e-2, 1e-2])),
    ("sgd_nesterov", dict(Kind="Sgd", WeightDecayMode="decoupled", WeightDecay=0.01, Momentum=0.9, Nesterov=True,
                          ClipNorm=0.0, GradientScale=1.0, lr=[0.1, 0.1, 0.05, 0.08, 0.02, 0.03])),
    ("sgd", dict(Kind="Sgd", WeightDecayMode="decoupled", WeightDecay=0.01, Momentum=0.9, Nesterov=False,
                 ClipNorm=0.0, GradientScale=1.0, lr=[0.1, 0.1, 0.05, 0.08, 0.02, 0.03])),
    ("sgd_clip", dict(Kind="Sgd", WeightDecayMode="decoupled", WeightDecay=0.2, Momentum=0.9, Nesterov=True,
                      ClipNorm=0.5, GradientScale=0.25, lr=[0.1, 0.1, 0.05, 0.08, 0.02, 0.03])),
    ("sgd_coupled", dict(Kind="Sgd", WeightDecayMode="coupled", WeightDecay=0.01, Momentum=0.9, Nesterov=False,
                         ClipNorm=0.0, GradientScale=1.0, lr=[0.1, 0.1, 0.05, 0.08, 0.02, 0.03])),
])

# Warmup + cosine (LearningRateSchedule.cs) as torch's schedulers build it. A SequentialLR of
# LinearLR(1/W -> 1 over W-1 steps) and CosineAnnealingLR(T_max = decay steps - 1, eta_min = lrf*peak)
# gives peak*(i+1)/W during warmup, then peak*(lrf + (1-lrf)*(1+cos(pi*x))/2).
SCHEDULES = [
    dict(Peak=1e-3, WarmupSteps=5, TotalSteps=30, FinalFraction=0.1),
    dict(Peak=0.5, WarmupSteps=0, TotalSteps=12, FinalFraction=0.0),
    dict(Peak=3e-4, WarmupSteps=1, TotalSteps=20, FinalFraction=0.01),
]


def decayed(name, shape):
    """timm's rule as our ParameterTable applies it: no decay for norms, biases, cls_token, pos_embed."""
    return len(shape) >= 2 and name not in ("cls_token", "pos_embed")


def draw(generator):
    params = OrderedDict()
    for name, shape in PARAMETERS:
        if decayed(name, shape):
            std = 1.0 / math.sqrt(math.prod(shape[1:]))
            params[name] = torch.randn(shape, generator=generator) * std
        elif name.endswith("norm1.weight"):
            params[name] = 1.0 + torch.randn(shape, generator=generator) * 0.1
        else:
            params[name] = torch.randn(shape, generator=generator) * 0.5
    grads = []
    for t in range(1, STEPS + 1):
        step = OrderedDict()
        for name, shape in PARAMETERS:
            g = torch.randn(shape, generator=generator) * GRADIENT_STD[t - 1]
            if (t, name) == ZERO_GRADIENT:
                g.zero_()
            step[name] = g.to(torch.float32)
        grads.append(step)
    return OrderedDict((n, p.to(torch.float32)) for n, p in params.items()), grads


def run(case, params32, grads32):
    """The trajectory of one case: [OrderedDict name -> float64 tensor after step t], norms, state."""
    params = OrderedDict((n, torch.nn.Parameter(p.double())) for n, p in params32.items())
    shapes = dict(PARAMETERS)
    dec = [p for n, p in params.items() if decayed(n, shapes[n])]
    rest = [p for n, p in params.items() if not decayed(n, shapes[n])]
    wd = case["WeightDecay"]
    if case["Kind"] == "AdamW":
        opt = torch.optim.AdamW([dict(params=dec, weight_decay=wd), dict(params=rest, weight_decay=0.0)],
                                lr=case["lr"][0], betas=(case["Beta1"], case["Beta2"]), eps=case["Epsilon"],
                                foreach=False)
    else:
        coupled = case["WeightDecayMode"] == "coupled"
        opt = torch.optim.SGD([dict(params=dec, weight_decay=wd if coupled else 0.0), dict(params=rest, weight_decay=0.0)],
                              lr=case["lr"][0], momentum=case["Momentum"], dampening=0.0, nesterov=case["Nesterov"],
                              foreach=False)
    trajectory, norms, clipped = [], [], []
    for t in range(1, STEPS + 1):
        lr = case["lr"][t - 1]
        for name, p in params.items():
            p.grad = grads32[t - 1][name].double() * case["GradientScale"]
        if case["ClipNorm"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(list(params.values()), case["ClipNorm"]))
            # float32 and float64 must agree on whether a step clips: no norm near the threshold.
            assert abs(norm - case["ClipNorm"]) > 0.02 * case["ClipNorm"], (t, norm)
            clipped.append(norm > case["ClipNorm"])
        else:
            norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params.values()))
        norms.append(norm)
        for group in opt.param_groups:
            group["lr"] = lr
        if case["Kind"] == "Sgd" and case["WeightDecayMode"] == "decoupled":
            with torch.no_grad():
                for p in dec:
                    p.mul_(1 - lr * wd)  # torch.optim.AdamW's decoupled decay, before the update
        opt.step()
        trajectory.append(OrderedDict((n, p.detach().clone()) for n, p in params.items()))
    if case["ClipNorm"] > 0:
        assert any(clipped) and not all(clipped), f"clipping should act on some steps only: {clipped}"
    state = OrderedDict()
    names = ["exp_avg", "exp_avg_sq"] if case["Kind"] == "AdamW" else ["momentum_buffer"]
    for s in names:
        for n, p in params.items():
            state[f"{s}.{n}"] = opt.state[p][s].detach().clone()
    if case["Kind"] == "AdamW":
        assert all(int(opt.state[p]["step"]) == STEPS for p in params.values())
    return trajectory, norms, state


def check_against_formula(case, params32, grads32, trajectory):
    """Our documented update written out in float64 (AdamW.Reference / Sgd.Reference), against torch."""
    worst = 0.0
    shapes = dict(PARAMETERS)
    p = OrderedDict((n, t.double().clone()) for n, t in params32.items())
    m = OrderedDict((n, torch.zeros_like(t)) for n, t in p.items())
    v = OrderedDict((n, torch.zeros_like(t)) for n, t in p.items())
    for t in range(1, STEPS + 1):
        lr = case["lr"][t - 1]
        g = OrderedDict((n, grads32[t - 1][n].double() * case["GradientScale"]) for n in p)
        norm = math.sqrt(sum(float((x ** 2).sum()) for x in g.values()))
        if case["ClipNorm"] > 0 and norm > case["ClipNorm"]:
            g = OrderedDict((n, x * (case["ClipNorm"] / (norm + 1e-6))) for n, x in g.items())
        for n in p:
            lam = case["WeightDecay"] if decayed(n, shapes[n]) else 0.0
            if case["Kind"] == "AdamW":
                p[n] = p[n] * (1 - lr * lam)
                m[n] = case["Beta1"] * m[n] + (1 - case["Beta1"]) * g[n]
                v[n] = case["Beta2"] * v[n] + (1 - case["Beta2"]) * g[n] * g[n]
                mhat = m[n] / (1 - case["Beta1"] ** t)
                vhat = v[n] / (1 - case["Beta2"] ** t)
                p[n] = p[n] - lr * mhat / (vhat.sqrt() + case["Epsilon"])
            else:
                if case["WeightDecayMode"] == "coupled":
                    g[n] = g[n] + lam * p[n]
                else:
                    p[n] = p[n] * (1 - lr * lam)
                m[n] = case["Momentum"] * m[n] + g[n]
                d = g[n] + case["Momentum"] * m[n] if case["Nesterov"] else m[n]
                p[n] = p[n] - lr * d
            worst = max(worst, float((p[n] - trajectory[t - 1][n]).abs().max()))
    return worst


def schedule_lrs(s):
    """Learning rates of steps 0..TotalSteps-1 from torch's schedulers (not from our formula)."""
    dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([dummy], lr=s["Peak"])
    W, N, lrf = s["WarmupSteps"], s["TotalSteps"], s["FinalFraction"]
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(N - W - 1, 1), eta_min=lrf * s["Peak"])
    # SequentialLR steps the next scheduler with an explicit epoch at its milestone, which 1.13 warns about.
    warnings.filterwarnings("ignore", message="The epoch parameter in `scheduler.step\\(\\)`")
    if W > 1:
        warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / W, end_factor=1.0, total_iters=W - 1)
        scheduler = torch.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[W])
    elif W == 1:
        # One warmup step at peak/1 = peak: the cosine's first value; LinearLR cannot span 0 steps.
        warmup = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=1)
        scheduler = torch.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[1])
    else:
        scheduler = cosine
    lrs = []
    for _ in range(N):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return torch.tensor(lrs, dtype=torch.float64)


def schedule_formula(s, step):
    W, N, lrf, peak = s["WarmupSteps"], s["TotalSteps"], s["FinalFraction"], s["Peak"]
    if step < W:
        return peak * (step + 1) / W
    decay = N - W
    x = 1.0 if decay <= 1 else min(max((step - W) / (decay - 1), 0.0), 1.0)
    return peak * (((1 + math.cos(math.pi * x)) / 2) * (1 - lrf) + lrf)


def main():
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    g = torch.Generator().manual_seed(2024)
    params32, grads32 = draw(g)
    shapes = dict(PARAMETERS)

    tensors = OrderedDict()
    for n, p in params32.items():
        tensors["param." + n] = p
    for t in range(1, STEPS + 1):
        for n, gr in grads32[t - 1].items():
            tensors[f"grad.{t}.{n}"] = gr

    metadata = OrderedDict([
        ("Steps", str(STEPS)),
        ("Parameters", ",".join(n for n, _ in PARAMETERS)),
        ("Decayed", ",".join(n for n, s in PARAMETERS if decayed(n, s))),
        ("Cases", ",".join(CASES)),
        ("Schedules", str(len(SCHEDULES))),
    ])
    results = {}
    for name, case in CASES.items():
        trajectory, norms, state = run(case, params32, grads32)
        results[name] = trajectory
        worst = check_against_formula(case, params32, grads32, trajectory)
        moved = max(float((trajectory[-1][n] - params32[n].double()).abs().max()) for n in params32)
        print(f"{name}: {STEPS} steps, largest parameter change {moved:.3e}, gradient norms "
              f"{', '.join(f'{x:.3f}' for x in norms)}; written-out formula vs torch max abs diff {worst:.1e}")
        if worst > 1e-14:
            raise SystemExit(f"{name}: the documented update disagrees with torch.optim ({worst:.2e})")
        for key in ("Kind", "WeightDecayMode", "WeightDecay", "Beta1", "Beta2", "Epsilon", "Momentum", "Nesterov",
                    "ClipNorm", "GradientScale"):
            if key in case:
                value = case[key]
                metadata[f"{name}.{key}"] = ("true" if value else "false") if isinstance(value, bool) else \
                    (repr(value) if isinstance(value, float) else str(value))
        tensors[name + ".lr"] = torch.tensor(case["lr"], dtype=torch.float64)
        tensors[name + ".grad_norm"] = torch.tensor(norms, dtype=torch.float64)
        for t in range(1, STEPS + 1):
            for n, p in trajectory[t - 1].items():
                tensors[f"{name}.{t}.{n}"] = p
        for key, s in state.items():
            tensors[f"{name}.state.{key}"] = s

    # Coupled and decoupled SGD must differ measurably on the decayed tensors, else the
    # sgd_coupled case would show nothing.
    gap = max(float((results["sgd"][-1][n] - results["sgd_coupled"][-1][n]).abs().max())
              for n in params32 if decayed(n, shapes[n]))
    print(f"sgd (decoupled decay) vs sgd_coupled (torch.optim.SGD weight_decay): max abs diff {gap:.2e}")
    assert gap > 1e-4, gap

    for i, s in enumerate(SCHEDULES):
        lrs = schedule_lrs(s)
        formula = torch.tensor([schedule_formula(s, k) for k in range(s["TotalSteps"])], dtype=torch.float64)
        diff = float(((lrs - formula).abs() / formula.abs().clamp_min(1e-300)).max())
        print(f"schedule {i} ({s}): torch schedulers vs formula max rel diff {diff:.1e}")
        if diff > 1e-9:
            raise SystemExit(f"schedule {i}: torch's schedulers disagree with the formula")
        for key, value in s.items():
            metadata[f"schedule.{i}.{key}"] = repr(value) if isinstance(value, float) else str(value)
        tensors[f"schedule.{i}.lr"] = lrs

    path = os.path.join(OUT_DIR, "optimizer.reference.safetensors")
    size = write_safetensors(path, tensors, metadata)
    print(f"{path}: {len(tensors)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
