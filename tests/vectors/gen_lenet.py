#!/usr/bin/python3
"""Generate tests/vectors/lenet.json: one forward and backward pass of the
LeNet of MXNet's Gluon crash course ("Train the neural network") at batch 4,
in PyTorch float64, from fixed weights, for tests/ts/lenet.test.ts, which runs
the same network through ndgrad's nd operators (nd.Convolution, nd.Activation,
nd.Pooling, nd.Flatten, nd.FullyConnected, nd.softmaxCrossEntropy) in float64
and in float32.

    /usr/bin/python3 tests/vectors/gen_lenet.py

The network (NCHW, 1x28x28 inputs):
    Conv2D(6, 5, relu) -> MaxPool2D(2, 2) -> Conv2D(16, 3, relu) -> MaxPool2D(2, 2)
    -> Flatten -> Dense(120, relu) -> Dense(84, relu) -> Dense(10)
and the loss nd.softmax_cross_entropy(logits, label) (summed over the batch).

Every input and weight is `value(seed, i, scale)` (below), a function the
test computes too: a 32-bit integer hash of the element index mapped to a
multiple of scale/2^23 in [-scale, scale), exactly representable in float32,
so no weight file is needed. The seed is the first one (from 1) for which the
network keeps away from its non-differentiable points by a margin float32
rounding cannot cross: every ReLU input at least 1e-5 from 0 and the largest
value of every max-pooling window with a positive maximum at least 1e-5
above the second largest (float32 rounding of these sums is ~1e-6; a
window of zeros passes no gradient whichever element takes it).

Stored (float64): the logits and the loss; the gradients of the input, of
both convolutions' weights and biases, of every bias and of the last dense
weight in full; for the two large dense weights (120x400, 84x120) 256 entries
at hashed positions plus two projections, sum(g) and sum(g * value(PROJ, i,
1)) (a random projection: any wrong entry moves it).
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

assert torch.__version__.startswith("1.13"), "generate with Debian's torch 1.13"
torch.set_default_dtype(torch.float64)

M32 = 0xFFFFFFFF


def hash32(seed, i):
    h = (((i + 1) * 0x9E3779B1) & M32) ^ ((seed * 0x85EBCA77) & M32)
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & M32
    h ^= h >> 12
    h = (h * 0x297A2D39) & M32
    h ^= h >> 15
    return h


def value(seed, i, scale):
    return ((hash32(seed, i) >> 8) - 2 ** 23) / 2 ** 23 * scale


def values(seed, n, scale):
    """value(seed, i, scale) for i < n, vectorised (checked against value)."""
    i = np.arange(n, dtype=np.uint64)
    h = (((i + 1) * 0x9E3779B1) & M32) ^ ((seed * 0x85EBCA77) & M32)
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & M32
    h ^= h >> 12
    h = (h * 0x297A2D39) & M32
    h ^= h >> 15
    return ((h >> 8).astype(np.float64) - 2 ** 23) / 2 ** 23 * scale


assert all(values(77, 50, 0.5)[i] == value(77, i, 0.5) for i in range(50))


def tensor_of(seed, shape, scale):
    return torch.tensor(values(seed, int(np.prod(shape)), scale)).reshape(shape)


# (name, shape, scale): the weights' scales are powers of two near 1/sqrt(fan_in)
PARAMS = [
    ("conv1.weight", (6, 1, 5, 5), 0.25),
    ("conv1.bias", (6,), 0.0625),
    ("conv2.weight", (16, 6, 3, 3), 0.125),
    ("conv2.bias", (16,), 0.0625),
    ("dense1.weight", (120, 400), 0.0625),
    ("dense1.bias", (120,), 0.0625),
    ("dense2.weight", (84, 120), 0.125),
    ("dense2.bias", (84,), 0.0625),
    ("dense3.weight", (10, 84), 0.125),
    ("dense3.bias", (10,), 0.0625),
]
BATCH = 4
LABELS = [3, 7, 0, 9]
PROJ = 4242
SAMPLES = 256
LARGE = ("dense1.weight", "dense2.weight")
MARGIN = 1e-5


def seed_of(k, base):
    return base * 1000 + k


def forward(x, p, margins):
    def relu(z):
        margins.append(float(z.detach().abs().min()))
        return torch.relu(z)

    def pool(z):
        n, c, h, w = z.shape
        win = z.detach().reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
        top = torch.topk(win, 2, dim=-1).values
        # windows of zeros (every input cut by the ReLU) pass no gradient
        # whichever element takes it: only positive maxima need a gap
        gap = (top[..., 0] - top[..., 1])[top[..., 0] > 0]
        margins.append(float(gap.min()))
        return F.max_pool2d(z, 2, 2)

    y = pool(relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"])))
    y = pool(relu(F.conv2d(y, p["conv2.weight"], p["conv2.bias"])))
    y = y.reshape(y.shape[0], -1)
    y = relu(F.linear(y, p["dense1.weight"], p["dense1.bias"]))
    y = relu(F.linear(y, p["dense2.weight"], p["dense2.bias"]))
    return F.linear(y, p["dense3.weight"], p["dense3.bias"])


for base in range(1, 200):
    x = tensor_of(seed_of(0, base), (BATCH, 1, 28, 28), 1.0).requires_grad_(True)
    p = {name: tensor_of(seed_of(k + 1, base), shape, scale).requires_grad_(True)
         for k, (name, shape, scale) in enumerate(PARAMS)}
    margins = []
    logits = forward(x, p, margins)
    if min(margins) >= MARGIN:
        break
else:
    raise SystemExit("no seed with the margins")

label = torch.tensor(LABELS)
logp = torch.log_softmax(logits, dim=1)
picked = logp.gather(1, label[:, None])[:, 0]
assert float(picked.min()) > math.log(1e-8)  # MXNet's floor at 1e-8 does not act
loss = -picked.sum()
grads = torch.autograd.grad(loss, [x] + [p[n] for n, _, _ in PARAMS])
g = dict(zip(["data"] + [n for n, _, _ in PARAMS], grads))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


out = {
    "torch": torch.__version__,
    "base": base,
    "seeds": {"data": seed_of(0, base), **{n: seed_of(k + 1, base) for k, (n, _, _) in enumerate(PARAMS)}},
    "shapes": {"data": [BATCH, 1, 28, 28], **{n: list(s) for n, s, _ in PARAMS}},
    "scales": {"data": 1.0, **{n: sc for n, _, sc in PARAMS}},
    "label": LABELS,
    "margin": min(margins),
    "logits": flat(logits),
    "loss": float(loss),
    "grads": {},
    "proj": PROJ,
}
for name, t in g.items():
    v = flat(t)
    if name in LARGE:
        idx = sorted({hash32(PROJ + 1, i) % len(v) for i in range(SAMPLES * 2)})[:SAMPLES]
        pv = values(PROJ, len(v), 1.0).tolist()
        out["grads"][name] = {
            "indices": idx,
            "values": [v[i] for i in idx],
            "sum": math.fsum(v),
            "sumAbs": math.fsum(abs(a) for a in v),
            "projection": math.fsum(a * b for a, b in zip(v, pv)),
            "projectionAbs": math.fsum(abs(a * b) for a, b in zip(v, pv)),
            "maxAbs": max(abs(a) for a in v),
        }
    else:
        out["grads"][name] = {"values": v, "maxAbs": max(abs(a) for a in v)}

text = json.dumps(out, separators=(",", ":"))
assert len(text) < 1_000_000, len(text)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lenet.json")
with open(path, "w", encoding="utf-8") as f:
    f.write(text + "\n")
print(f"wrote {path}: seed base {base}, margin {min(margins):.2e}, loss {float(loss):.6f}, {len(text)} bytes")
