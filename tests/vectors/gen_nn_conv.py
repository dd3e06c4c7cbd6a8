#!/usr/bin/python3
"""Generate the `nn-conv` vector set (issue #12, conv branch):

* tests/vectors/nn-conv-NN.json: `Convolution` (1-D NCW, 2-D NCHW) and
  `Deconvolution` cases in float32 and float64, in the case format of
  gen_ops.py (whose docstring documents the schema, the tolerance rule and
  the value encoding), read by crates/ndgrad-core/tests/vectors.rs and
  tests/ts/ops.test.ts like every set named in sets.json;
* tests/vectors/nn-conv-hvp.json: second-order (Hessian-vector) vectors,
  read by crates/ndgrad-core/tests/conv.rs and tests/ts/conv.test.ts.

Run with Debian's PyTorch 1.13 and NumPy 1.24 (not a pyenv python):

    /usr/bin/python3 tests/vectors/gen_nn_conv.py

Deterministic: fixed seeds, one random stream per case (seeded by its name).

Semantics (MXNet 1.9.1, src/operator/nn/convolution-inl.h and
deconvolution-inl.h), and where PyTorch is the same:

* Convolution(data, weight, bias; kernel, stride, pad, dilate, num_filter,
  num_group, no_bias): data (N, C, [H,] W), weight (F, C/G, [KH,] KW),
  bias (F,), output (N, F, [OH,] OW) with
  O = (I + 2P - (D(K-1)+1)) / S + 1 (floor). This is torch's conv1d/conv2d
  with padding=P, stride=S, dilation=D, groups=G (cross-correlation, the
  same weight layout).
* Deconvolution(data, weight, bias; ..., adj): weight (C, F/G, [KH,] KW),
  output O = S(I-1) + D(K-1) + 1 - 2P + adj: torch's conv_transpose1d/2d
  with output_padding=adj (the same weight layout, the same formula).
  MXNet's no_bias defaults to true here; the cases name it explicitly.
* Params: "kernel", "stride", "pad", "dilate" (and "adj" for
  Deconvolution) are lists of one int per spatial axis; "num_filter",
  "num_group" ints; "no_bias" bool (the inputs are [data, weight] or
  [data, weight, bias] accordingly).

References: computed by torch in float64 from the inputs (float32 inputs are
drawn as float32 and widened exactly), outputs and gradients (torch.autograd
with a random head) rounded to the case's dtype. Tolerances as gen_ops.py's
dot: rtol 1e-5 (float32) / 1e-12 (float64), atol = rtol times the largest
sum of |terms| of any element (the same products over |inputs|, |head|).

HVP file (a JSON list): each case has "name", "op" ("Convolution" |
"Deconvolution"), "dtype", "params", "inputs" (as above), "head" (the
output's shape), "v" (one tangent per input) and "hvp" (one expected tensor
per input, with rtol/atol). The function is out = square(op(inputs)); with
g = autograd.grad(out, inputs, head, createGraph), s = Σᵢ sum(gᵢ · vᵢ),
hvp = autograd.grad(s, inputs): the second pass goes through the backward of
the convolution (its data and weight gradients, themselves convolutions),
and through the product with out's own dependence on the inputs.
"""

import json
import math
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as Fn

assert np.__version__.startswith("1.24"), "generate with /usr/bin/python3"
assert torch.__version__.startswith("1.13"), "generate with /usr/bin/python3 (torch 1.13)"
torch.set_num_threads(1)

SEED = 20261205
NP = {"float32": np.float32, "float64": np.float64}
RTOL = {"float32": 1e-5, "float64": 1e-12}
TINY = {"float32": 2.0 ** -126, "float64": 2.0 ** -1022}
PREFIX = {"float32": "", "float64": "f64/"}


def enc(v, dt):
    if dt == "float32":
        v = np.float32(v)
        if v == 0:
            return "-0" if math.copysign(1.0, float(v)) < 0 else 0
        f = float(repr(v))
        assert np.float32(f) == v
    else:
        f = float(v)
        if f == 0:
            return "-0" if math.copysign(1.0, f) < 0 else 0
        assert float(json.dumps(f)) == f
    assert math.isfinite(f)
    if f == int(f) and abs(f) < 2 ** 53:
        return int(f)
    return f


def tensor(a, dt, mag=None):
    a = np.asarray(a, dtype=np.float64)
    out = {"dtype": dt, "shape": [int(d) for d in a.shape],
           "data": [enc(v, dt) for v in a.astype(NP[dt]).ravel()]}
    if mag is not None:
        r = RTOL[dt]
        m = float(np.max(mag)) if np.size(mag) else 0.0
        out["rtol"] = r
        out["atol"] = max(TINY[dt], r * m)
    return out


def op_fn(op, p):
    rank = len(p["kernel"])
    if op == "Convolution":
        f = Fn.conv1d if rank == 1 else Fn.conv2d
        return lambda x, w, b=None: f(x, w, b, stride=p["stride"], padding=p["pad"],
                                      dilation=p["dilate"], groups=p["num_group"])
    f = Fn.conv_transpose1d if rank == 1 else Fn.conv_transpose2d
    return lambda x, w, b=None: f(x, w, b, stride=p["stride"], padding=p["pad"],
                                  output_padding=p["adj"], groups=p["num_group"],
                                  dilation=p["dilate"])


def draw(rng, shape, dt):
    return rng.uniform(-1.0, 1.0, size=shape).astype(NP[dt])


def T(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


cases, hvps, names = [], [], set()


def make(op, desc, dshape, wshape, p, bias, dt):
    name = f"{op}/{PREFIX[dt]}{desc}"
    assert name not in names, name
    names.add(name)
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    p = dict(p)
    rank = len(p["kernel"])
    p.setdefault("stride", [1] * rank)
    p.setdefault("pad", [0] * rank)
    p.setdefault("dilate", [1] * rank)
    if op == "Deconvolution":
        p.setdefault("adj", [0] * rank)
    p.setdefault("num_group", 1)
    p["no_bias"] = not bias
    nf = p["num_filter"]
    xs = [draw(rng, dshape, dt), draw(rng, wshape, dt)]
    if bias:
        xs.append(draw(rng, (nf,), dt))
    f = op_fn(op, p)
    ts = [T(x).requires_grad_(True) for x in xs]
    y = f(*ts)
    head = draw(rng, tuple(y.shape), dt)
    gs = torch.autograd.grad(y, ts, T(head))
    # magnitudes: the same products over |inputs| and |head|
    ta = [T(np.abs(x)).requires_grad_(True) for x in xs]
    ya = f(*ta)
    ga = torch.autograd.grad(ya, ta, T(np.abs(head)))
    case = {
        "name": name, "op": op, "kind": op, "dtype": dt, "params": p,
        "inputs": [tensor(x, dt) for x in xs],
        "output": tensor(y.detach().numpy(), dt, ya.detach().numpy()),
        "head": tensor(head, dt),
        "grads": [tensor(g.numpy(), dt, m.numpy()) for g, m in zip(gs, ga)],
    }
    cases.append(case)

    # second order: out = square(op(...)), s = Σ <grad_i, v_i>, hvp = ds/dinputs
    vs = [draw(rng, x.shape, dt) for x in xs]
    hd = draw(rng, tuple(y.shape), dt)
    ts = [T(x).requires_grad_(True) for x in xs]
    out = f(*ts) ** 2
    g1 = torch.autograd.grad(out, ts, T(hd), create_graph=True)
    s = sum((g * T(v)).sum() for g, v in zip(g1, vs))
    hv = torch.autograd.grad(s, ts)
    ta = [T(np.abs(x)).requires_grad_(True) for x in xs]
    outa = f(*ta) ** 2
    g1a = torch.autograd.grad(outa, ta, T(np.abs(hd)), create_graph=True)
    sa = sum((g * T(np.abs(v))).sum() for g, v in zip(g1a, vs))
    hva = torch.autograd.grad(sa, ta)
    hvps.append({
        "name": name, "op": op, "dtype": dt, "params": p,
        "inputs": [tensor(x, dt) for x in xs],
        "head": tensor(hd, dt),
        "v": [tensor(v, dt) for v in vs],
        "hvp": [tensor(h.numpy(), dt, m.numpy()) for h, m in zip(hv, hva)],
    })


C, D = "Convolution", "Deconvolution"
SPECS = [
    # Convolution, 2-D
    (C, "3x3", (2, 3, 7, 6), (4, 3, 3, 3), {"kernel": [3, 3], "num_filter": 4}, True),
    (C, "stride2-pad1", (2, 3, 9, 8), (5, 3, 3, 2),
     {"kernel": [3, 2], "stride": [2, 2], "pad": [1, 1], "num_filter": 5}, True),
    (C, "dilate2", (1, 2, 9, 9), (3, 2, 3, 3),
     {"kernel": [3, 3], "dilate": [2, 2], "pad": [2, 1], "num_filter": 3}, False),
    (C, "groups2", (2, 4, 6, 6), (6, 2, 3, 3),
     {"kernel": [3, 3], "stride": [1, 2], "num_filter": 6, "num_group": 2}, True),
    (C, "depthwise", (2, 4, 7, 7), (4, 1, 3, 3),
     {"kernel": [3, 3], "pad": [1, 1], "num_filter": 4, "num_group": 4}, False),
    (C, "1x1", (2, 5, 4, 3), (3, 5, 1, 1), {"kernel": [1, 1], "num_filter": 3}, True),
    (C, "1x1-stride2", (1, 3, 5, 5), (2, 3, 1, 1),
     {"kernel": [1, 1], "stride": [2, 2], "num_filter": 2}, False),
    (C, "lenet-5x5", (3, 1, 12, 12), (6, 1, 5, 5), {"kernel": [5, 5], "num_filter": 6}, True),
    (C, "kernel-fills-padded-input", (1, 2, 3, 4), (2, 2, 5, 4),
     {"kernel": [5, 4], "pad": [1, 0], "num_filter": 2}, True),
    (C, "mixed", (2, 3, 8, 7), (4, 3, 2, 3),
     {"kernel": [2, 3], "stride": [3, 2], "pad": [0, 1], "dilate": [1, 2], "num_filter": 4}, False),
    (C, "batch1-wide", (1, 2, 5, 40), (3, 2, 3, 3), {"kernel": [3, 3], "pad": [1, 1], "num_filter": 3}, True),
    # Convolution, 1-D
    (C, "1d-stride2-pad1", (2, 3, 10), (4, 3, 3),
     {"kernel": [3], "stride": [2], "pad": [1], "num_filter": 4}, True),
    (C, "1d-groups2-dilate3", (1, 4, 9), (6, 2, 2),
     {"kernel": [2], "dilate": [3], "num_filter": 6, "num_group": 2}, False),
    (C, "1d-1x1", (2, 2, 5), (3, 2, 1), {"kernel": [1], "num_filter": 3}, True),
    # Deconvolution, 2-D
    (D, "3x3", (2, 3, 4, 5), (3, 4, 3, 3), {"kernel": [3, 3], "num_filter": 4}, False),
    (D, "stride2-pad1-adj1", (1, 4, 3, 3), (4, 2, 3, 3),
     {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1], "adj": [1, 1], "num_filter": 2}, True),
    (D, "groups2", (2, 4, 3, 4), (4, 3, 2, 2),
     {"kernel": [2, 2], "stride": [2, 1], "adj": [1, 0], "num_filter": 6, "num_group": 2}, True),
    (D, "dilate2", (1, 2, 4, 4), (2, 3, 3, 3),
     {"kernel": [3, 3], "dilate": [2, 2], "pad": [1, 1], "num_filter": 3}, False),
    (D, "1x1", (2, 3, 4, 4), (3, 5, 1, 1), {"kernel": [1, 1], "num_filter": 5}, True),
    (D, "depthwise-stride2", (1, 3, 4, 4), (3, 1, 3, 3),
     {"kernel": [3, 3], "stride": [2, 2], "num_filter": 3, "num_group": 3}, False),
    # Deconvolution, 1-D
    (D, "1d-stride2-pad1-adj1", (2, 3, 5), (3, 2, 4),
     {"kernel": [4], "stride": [2], "pad": [1], "adj": [1], "num_filter": 2}, True),
    (D, "1d-groups2-dilate2", (1, 4, 6), (4, 1, 3),
     {"kernel": [3], "dilate": [2], "num_filter": 2, "num_group": 2}, False),
]

for dt in ("float32", "float64"):
    for op, desc, ds, ws, p, bias in SPECS:
        make(op, desc, ds, ws, p, bias, dt)

# self-check: both ops, both dtypes, 1-D and 2-D, groups, bias both ways
for dt in ("float32", "float64"):
    for op in (C, D):
        sel = [c for c in cases if c["op"] == op and c["dtype"] == dt]
        assert len(sel) >= 3
        assert any(len(c["params"]["kernel"]) == 1 for c in sel)
        assert any(len(c["params"]["kernel"]) == 2 for c in sel)
        assert any(c["params"]["num_group"] > 1 for c in sel)
        assert any(c["params"]["no_bias"] for c in sel) and any(not c["params"]["no_bias"] for c in sel)

here = os.path.dirname(os.path.abspath(__file__))
for old in os.listdir(here):
    if old.startswith("nn-conv-") and old.endswith(".json"):
        os.remove(os.path.join(here, old))
SHARD_BYTES = 900_000
lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
shards, cur, size = [], [], 0
for line in lines:
    if cur and size + len(line) + 2 > SHARD_BYTES:
        shards.append(cur)
        cur, size = [], 0
    cur.append(line)
    size += len(line) + 2
shards.append(cur)
for i, part in enumerate(shards):
    text = "[\n" + ",\n".join(part) + "\n]\n"
    assert len(text) < 1_000_000
    with open(os.path.join(here, f"nn-conv-{i:02d}.json"), "w", encoding="utf-8") as f:
        f.write(text)
text = "[\n" + ",\n".join(json.dumps(c, separators=(",", ":"), allow_nan=False) for c in hvps) + "\n]\n"
assert len(text) < 1_000_000, len(text)
with open(os.path.join(here, "nn-conv-hvp.json"), "w", encoding="utf-8") as f:
    f.write(text)
print(f"{len(cases)} cases in {len(shards)} shards, {len(hvps)} hvp cases ({len(text)} bytes)")
