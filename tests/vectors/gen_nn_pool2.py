#!/usr/bin/python3
"""Generate tests/vectors/nn-pool2-NN.json: float32 max pooling cases for the
stride-2 stream kernels and the 2x2 zero-free gradient scatter
(crates/ndgrad-core/src/kernels/pool.rs, issue #12's pooling speed work),
in the case format gen_ops.py documents; read from every set named in
sets.json by crates/ndgrad-core/tests/vectors.rs and tests/ts/ops.test.ts.

    /usr/bin/python3 tests/vectors/gen_nn_pool2.py

The geometries are the ones those paths treat apart: rows a multiple of 8
wide and not (the overlapping last block, the -inf padded tail), 3-row
windows at row stride 2 (a row's fold reused by the next output row), rows
too long for that reuse (over 260 outputs), odd heights and widths (rows and
columns in no window), "full" windows reaching past the input, 1-D rows, and
inputs with many equal values (the gradient goes to the first maximum in
row-major order, as in MXNet's pool.h and PyTorch's CPU kernel).

Reference: PyTorch 1.13 in float64 on the float32 inputs, MXNet's max
pooling written as gen_nn_pool.py does (torch's max_pool2d over the input
padded with -inf, plus -inf on the far side for "full"); autograd gives the
gradient. Selection is exact, so the float32 results are too.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(20261206)
here = os.path.dirname(os.path.abspath(__file__))


def enc(v):
    v = float(np.float32(v))
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else 0
    f = float(repr(np.float32(v)))
    assert np.float32(f) == np.float32(v)
    return int(f) if f == int(f) and abs(f) < 2 ** 53 else f


def tensor(a, tol=False):
    a = np.asarray(a.detach().numpy(), dtype=np.float64)
    out = {"dtype": "float32", "shape": [int(d) for d in a.shape], "data": [enc(v) for v in a.ravel()]}
    if tol:
        fin = np.abs(a[np.isfinite(a)])
        out["rtol"] = 1e-5
        out["atol"] = max(1e-5 * (float(fin.max()) if fin.size else 0.0), 1e-30)
    return out


def out_size(n, k, s, p, full):
    span = n + 2 * p - k
    return 1 + (-(-span // s) if full else span // s)


def mx_max_pool(x, kernel, stride, pad, full):
    """MXNet's max Pooling on NCW/NCHW x: padding never wins."""
    sp = x.dim() - 2
    ins = list(x.shape[2:])
    outs = [out_size(ins[i], kernel[i], stride[i], pad[i], full) for i in range(sp)]
    extra = [max(0, (outs[i] - 1) * stride[i] + kernel[i] - (ins[i] + 2 * pad[i])) for i in range(sp)]
    fpad = []
    for i in reversed(range(sp)):
        fpad += [pad[i], pad[i] + extra[i]]
    if sp == 1:
        x2, fpad, k2, s2 = x.unsqueeze(2), fpad + [0, 0], [1] + kernel, [1] + stride
    else:
        x2, k2, s2 = x, kernel, stride
    y = F.max_pool2d(F.pad(x2, fpad, value=-math.inf), k2, s2)
    assert torch.isfinite(y).all(), "a window wholly in the padding"
    return y.squeeze(2) if sp == 1 else y


CASES = [
    # name, shape, kernel, stride, pad, full, ties
    ("stem-k3s2p1-w56", [2, 3, 9, 56], [3, 3], [2, 2], [1, 1], False, False),
    ("stem-k3s2p1-w40-ties", [1, 2, 8, 40], [3, 3], [2, 2], [1, 1], False, True),
    ("k3s2p1-w27-full", [1, 2, 7, 27], [3, 3], [2, 2], [1, 1], True, False),
    ("k3s2p1-w600", [1, 1, 4, 600], [3, 3], [2, 2], [1, 1], False, False),
    ("k3x2-s2-p1x0-w24", [1, 2, 9, 24], [3, 2], [2, 2], [1, 0], False, False),
    ("k2s2-h7-w34", [2, 2, 7, 34], [2, 2], [2, 2], [0, 0], False, False),
    ("k2s2-w32-ties", [1, 3, 6, 32], [2, 2], [2, 2], [0, 0], False, True),
    ("k2s2-w56", [1, 4, 8, 56], [2, 2], [2, 2], [0, 0], False, False),
    ("k2s2-w33-full", [1, 2, 5, 33], [2, 2], [2, 2], [0, 0], True, False),
    ("k2s2-w10", [2, 3, 10, 10], [2, 2], [2, 2], [0, 0], False, True),
    ("1d-k2s2-w40", [2, 3, 40], [2], [2], [0], False, False),
    ("1d-k3s2p1-w41", [2, 2, 41], [3], [2], [1], False, True),
]

cases = []
for (nm, shape, k, s, p, full, ties) in CASES:
    if ties:
        x = torch.tensor(rng.integers(-1, 2, size=shape).astype(np.float64))
    else:
        x = torch.tensor(rng.uniform(-2, 2, size=shape).astype(np.float32).astype(np.float64))
    xr = x.clone().requires_grad_(True)
    y = mx_max_pool(xr, k, s, p, full)
    head = torch.tensor(rng.uniform(-2, 2, size=list(y.shape)).astype(np.float32).astype(np.float64))
    (gx,) = torch.autograd.grad(y, xr, head)
    params = {"pool_type": "max", "global_pool": False, "pooling_convention": "full" if full else "valid",
              "count_include_pad": True, "kernel": k, "stride": s, "pad": p}
    cases.append({
        "name": f"Pooling/stream-{nm}", "op": "Pooling", "kind": "Pooling", "dtype": "float32", "params": params,
        "inputs": [tensor(x)], "output": tensor(y, tol=True), "head": tensor(head), "grads": [tensor(gx, tol=True)],
    })

text = "[\n" + ",\n".join(json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases) + "\n]\n"
assert len(text) < 900_000
with open(os.path.join(here, "nn-pool2-00.json"), "w") as fh:
    fh.write(text)
print(f"{len(cases)} cases, {len(text)} bytes")
