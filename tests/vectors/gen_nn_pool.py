#!/usr/bin/python3
"""Generate tests/vectors/nn-pool-NN.json (operator cases for nd.Pooling,
nd.BatchNorm and nd.LayerNorm, in the case format gen_ops.py documents) and
tests/vectors/hvp-nn-pool.json (second-order vectors), read by
crates/ndgrad-core/tests/vectors.rs, tests/ts/ops.test.ts and the
second-order suites (crates/ndgrad-core/tests/nn_pool.rs,
tests/ts/nn-pool.test.ts).

    /usr/bin/python3 tests/vectors/gen_nn_pool.py

References are PyTorch 1.13 in float64 (autograd for every gradient, and
create_graph=True for the second-order vectors), with MXNet 1.9.1's rules
written out where PyTorch differs:

* Pooling (src/operator/nn/pooling.cc, pool.h): the "full" convention is
  out = 1 + ceil((in + 2p - k)/s) with no window dropped (PyTorch's
  ceil_mode drops a last window starting in the padding); max pooling
  ignores padding (computed here as torch's max_pool over the input padded
  with -inf, plus -inf columns/rows on the far side for "full"); avg
  divides by the window clipped to the padded input (countIncludePad) or to
  the input, computed here as a sum pool divided by the sum pool of a mask;
  global pooling pools the whole plane;
* BatchNorm (batch_norm.cc): eps 1e-3 and momentum 0.9 by default; in train
  mode the batch's *biased* variance normalises and goes into the moving
  variance (PyTorch's running_var takes the unbiased one), moving =
  moving*momentum + batch*(1 - momentum), applied when the backward pass
  runs; fix_gamma uses gamma = 1 and gives gamma a zero gradient. The
  updated moving statistics are in each train case's "moving_after";
* LayerNorm (layer_norm.cc): biased variance over `axis`, eps 1e-5.

float32 cases take float32 inputs, compute in float64, round the results.
Tolerances: rtol 1e-5 (float32) / 1e-12 (float64); atol rtol times the
largest magnitude of the tensor (normalised values are sums of terms of
that size; the gradients too).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(20261205)
RTOL = {"float32": 1e-5, "float64": 1e-12}
NP = {"float32": np.float32, "float64": np.float64}


def enc(v, dt):
    v = float(NP[dt](v))
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else 0
    if dt == "float32":
        f = float(repr(np.float32(v)))
        assert np.float32(f) == np.float32(v)
        v = f
    if v == int(v) and abs(v) < 2 ** 53:
        return int(v)
    return v


def tensor(a, dt, tol=False):
    a = np.asarray(a.detach().numpy() if torch.is_tensor(a) else a, dtype=np.float64)
    out = {"dtype": dt, "shape": [int(d) for d in a.shape], "data": [enc(v, dt) for v in a.ravel()]}
    if tol:
        r = RTOL[dt]
        fin = np.abs(a[np.isfinite(a)])
        mag = float(fin.max()) if fin.size else 0.0
        out["rtol"] = r
        out["atol"] = max(r * mag, 1e-30)
    return out


def U(shape, dt, lo=-2.0, hi=2.0):
    return torch.tensor(rng.uniform(lo, hi, size=shape).astype(NP[dt]).astype(np.float64))


# ---------------------------------------------------------------------------
# MXNet pooling in torch
# ---------------------------------------------------------------------------

def out_size(n, k, s, p, full):
    span = n + 2 * p - k
    return 1 + (-(-span // s) if full else span // s)


def mx_pool(x, ptype, kernel, stride, pad, glob, full, include_pad):
    """MXNet's Pooling on NCW/NCHW x (torch, differentiable)."""
    sp = x.dim() - 2
    ins = list(x.shape[2:])
    if glob:
        kernel, stride, pad = ins, [1] * sp, [0] * sp
    outs = [out_size(ins[i], kernel[i], stride[i], pad[i], full) for i in range(sp)]
    # far-side extra so that every window fits the padded array
    extra = [max(0, (outs[i] - 1) * stride[i] + kernel[i] - (ins[i] + 2 * pad[i])) for i in range(sp)]
    fpad = []
    for i in reversed(range(sp)):
        fpad += [pad[i], pad[i] + extra[i]]
    if x.dim() == 3:
        x2 = x.unsqueeze(2)
        fpad2 = fpad + [0, 0]
        kernel2, stride2 = [1] + list(kernel), [1] + list(stride)
    else:
        x2, fpad2, kernel2, stride2 = x, fpad, list(kernel), list(stride)
    if ptype == "max":
        xp = F.pad(x2, fpad2, value=-math.inf)
        y = F.max_pool2d(xp, kernel2, stride2)
        assert torch.isfinite(y).all(), "a window wholly in the padding"
    else:
        xp = F.pad(x2, fpad2, value=0.0)
        y = F.avg_pool2d(xp, kernel2, stride2, divisor_override=1)
        if ptype == "avg":
            ones = torch.ones((1, 1) + tuple(x2.shape[2:]))
            if include_pad:
                # ones over the padded input [-p, n + p), zeros on the far
                # side beyond it (the "full" windows' overhang)
                inner = [v for i in reversed(range(sp)) for v in (pad[i], pad[i])]
                if x.dim() == 3:
                    inner += [0, 0]
                far = [v for i in reversed(range(sp)) for v in (0, extra[i])]
                if x.dim() == 3:
                    far += [0, 0]
                m = F.pad(F.pad(ones, inner, value=1.0), far, value=0.0)
            else:
                m = F.pad(ones, fpad2, value=0.0)
            d = F.avg_pool2d(m, kernel2, stride2, divisor_override=1)
            y = y / d
    if x.dim() == 3:
        y = y.squeeze(2)
    return y


def torch_check_valid(x, ptype, kernel, stride, pad, include_pad):
    """Where PyTorch's own pooling has MXNet's semantics (valid convention,
    pad <= k/2), cross-check the construction above against it."""
    if x.dim() == 4:
        if ptype == "max":
            return F.max_pool2d(x, kernel, stride, pad)
        return F.avg_pool2d(x, kernel, stride, pad, count_include_pad=include_pad)
    if ptype == "max":
        return F.max_pool1d(x, kernel, stride, pad)
    return F.avg_pool1d(x, kernel, stride, pad, count_include_pad=include_pad)


cases = []
hvps = []


def add_case(name, op, kind, dt, params, inputs, out, head, grads, extra=None):
    # readers want "<op>/<name>" for float32, "<op>/f64/<name>" for float64
    name = name.replace("/float32/", "/").replace("/float64/", "/f64/")
    c = {
        "name": name, "op": op, "kind": kind, "dtype": dt, "params": params,
        "inputs": [tensor(t, dt) for t in inputs],
        "output": tensor(out, dt, tol=True),
        "head": tensor(head, dt),
        "grads": [None if g is None else tensor(g, dt, tol=True) for g in grads],
    }
    if extra:
        c.update(extra)
    cases.append(c)


def hvp_case(name, op, dt, params, inputs, f, wants):
    """Second order: g = grad(f(inputs), inputs[i] for i in wants, head h,
    create_graph); z = Σ_i Σ(g_i · v_i); expected dz/d(every wanted input)
    and dz/dh."""
    xs = [t.clone().requires_grad_(i in wants) for i, t in enumerate(inputs)]
    y = f(*xs)
    h = U(list(y.shape), dt).requires_grad_(True)
    gs = torch.autograd.grad(y, [xs[i] for i in wants], h, create_graph=True, allow_unused=True)
    # fix_gamma: gamma unused, its gradient zero (MXNet writes zeros)
    gs = [torch.zeros_like(xs[i]) if g is None else g for g, i in zip(gs, wants)]
    vs = [U(list(xs[i].shape), dt) for i in wants]
    z = sum((g * v).sum() for g, v in zip(gs, vs))
    targets = [xs[i] for i in wants] + [h]
    dz = torch.autograd.grad(z, targets, allow_unused=True)
    dz = [torch.zeros_like(t) if d is None else d for d, t in zip(dz, targets)]
    hvps.append({
        "name": name, "op": op, "dtype": dt, "params": params,
        "inputs": [tensor(t, dt) for t in inputs],
        "wants": wants,
        "head": tensor(h, dt),
        "v": [tensor(v, dt) for v in vs],
        "first": [tensor(g, dt, tol=True) for g in gs],
        "second": [tensor(d, dt, tol=True) for d in dz],
    })


POOLS = [
    # name, shape, type, kernel, stride, pad, global, full, include_pad
    ("max2d-k2s2", [2, 3, 6, 6], "max", [2, 2], [2, 2], [0, 0], False, False, True),
    ("max2d-k3s2p1", [2, 2, 7, 6], "max", [3, 3], [2, 2], [1, 1], False, False, True),
    ("max2d-k3s1p1", [1, 2, 5, 5], "max", [3, 3], [1, 1], [1, 1], False, False, True),
    ("max2d-k2x3-s1x2", [1, 3, 5, 7], "max", [2, 3], [1, 2], [0, 1], False, False, True),
    ("max2d-full-k3s2", [1, 2, 6, 6], "max", [3, 3], [2, 2], [0, 0], False, True, True),
    ("max2d-full-k2s2p1", [1, 2, 6, 6], "max", [2, 2], [2, 2], [1, 1], False, True, True),
    ("max2d-default-stride", [1, 1, 4, 5], "max", [2, 2], None, None, False, False, True),
    ("max1d-k3s2p1", [2, 3, 9], "max", [3], [2], [1], False, False, True),
    ("max1d-full-k2s2", [2, 2, 7], "max", [2], [2], [0], False, True, True),
    ("max-global2d", [2, 3, 4, 5], "max", None, None, None, True, False, True),
    ("max-global1d", [2, 3, 6], "max", None, None, None, True, False, True),
    ("avg2d-k3s2p1", [2, 2, 7, 6], "avg", [3, 3], [2, 2], [1, 1], False, False, True),
    ("avg2d-k3s2p1-excl", [2, 2, 7, 6], "avg", [3, 3], [2, 2], [1, 1], False, False, False),
    ("avg2d-k2s2", [1, 3, 6, 6], "avg", [2, 2], [2, 2], [0, 0], False, False, True),
    ("avg2d-full-k3s2p1", [1, 2, 6, 7], "avg", [3, 3], [2, 2], [1, 1], False, True, True),
    ("avg2d-full-k3s2p1-excl", [1, 2, 6, 7], "avg", [3, 3], [2, 2], [1, 1], False, True, False),
    ("avg1d-k3s1p1", [2, 2, 6], "avg", [3], [1], [1], False, False, True),
    ("avg1d-k3s2p1-excl", [2, 2, 7], "avg", [3], [2], [1], False, False, False),
    ("avg-global2d", [2, 3, 4, 5], "avg", None, None, None, True, False, True),
    ("sum2d-k3s2p1", [2, 2, 7, 6], "sum", [3, 3], [2, 2], [1, 1], False, False, True),
    ("sum2d-full-k2s2", [1, 2, 5, 5], "sum", [2, 2], [2, 2], [0, 0], False, True, True),
    ("sum1d-k2s1", [2, 2, 5], "sum", [2], [1], [0], False, False, True),
    ("sum-global1d", [2, 3, 6], "sum", None, None, None, True, False, True),
    # wide rows: the float32 vector path (four outputs per step, strides 1 and 2)
    ("max2d-wide-k3s2p1", [1, 2, 8, 21], "max", [3, 3], [2, 2], [1, 1], False, False, True),
    ("max2d-wide-k2s2", [1, 2, 6, 24], "max", [2, 2], [2, 2], [0, 0], False, False, True),
    ("max2d-wide-k3s1p1", [1, 2, 5, 19], "max", [3, 3], [1, 1], [1, 1], False, False, True),
    ("max1d-wide-k4s2p1-full", [2, 2, 30], "max", [4], [2], [1], False, True, True),
]

for dt in ["float32", "float64"]:
    for (nm, shape, pt, k, s, p, glob, full, incl) in POOLS:
        sp = len(shape) - 2
        x = U(shape, dt)
        kk = k if k is not None else list(shape[2:])
        ss = s if s is not None else [1] * sp
        pp = p if p is not None else [0] * sp
        f = lambda t: mx_pool(t, pt, kk, ss, pp, glob, full, incl)
        if not glob and not full and all(2 * pp[i] <= kk[i] for i in range(sp)):
            ref = torch_check_valid(x, pt, kk, ss, pp, incl or pt == "sum")
            if pt == "sum":
                ref = ref * float(np.prod(kk))
            assert torch.allclose(ref, f(x), rtol=1e-13, atol=1e-13), nm
        params = {"pool_type": pt, "global_pool": glob, "pooling_convention": "full" if full else "valid",
                  "count_include_pad": incl}
        if k is not None:
            params["kernel"] = k
        if s is not None:
            params["stride"] = s
        if p is not None:
            params["pad"] = p
        xr = x.clone().requires_grad_(True)
        y = f(xr)
        head = U(list(y.shape), dt)
        (gx,) = torch.autograd.grad(y, xr, head)
        add_case(f"Pooling/{dt}/{nm}", "Pooling", "Pooling", dt, params, [x], y, head, [gx])
        if nm in ("max2d-k3s2p1", "avg2d-k3s2p1-excl", "sum1d-k2s1", "max1d-full-k2s2"):
            hvp_case(f"Pooling/{dt}/{nm}", "Pooling", dt, params, [x], f, [0])

# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------

def mx_bn(x, gamma, beta, mm, mv, eps, fix_gamma, train, axis):
    nd = x.dim()
    ax = axis % nd
    red = [a for a in range(nd) if a != ax]
    cs = [1] * nd
    cs[ax] = x.shape[ax]
    g = torch.ones_like(gamma) if fix_gamma else gamma
    if train:
        mean = x.mean(dim=red, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=red, keepdim=True)  # biased, as MXNet
    else:
        mean, var = mm.reshape(cs), mv.reshape(cs)
    return (x - mean) / torch.sqrt(var + eps) * g.reshape(cs) + beta.reshape(cs)


BNS = [
    # name, shape, axis, eps, momentum, fix_gamma, train (batch statistics)
    ("train-nchw", [4, 3, 3, 3], 1, 1e-3, 0.9, False, True),
    ("train-nchw-fixgamma", [4, 3, 3, 3], 1, 1e-3, 0.9, True, True),
    ("train-nc", [6, 4], 1, 1e-3, 0.9, False, True),
    ("train-ncw-axis-last", [3, 4, 5], -1, 1e-5, 0.8, False, True),
    ("train-axis0", [3, 4, 2], 0, 1e-3, 0.9, False, True),
    ("predict-nchw", [2, 3, 3, 4], 1, 1e-3, 0.9, False, False),
    ("predict-nchw-fixgamma", [2, 3, 3, 4], 1, 1e-3, 0.9, True, False),
    ("predict-nc-eps", [5, 4], 1, 0.1, 0.9, False, False),
    # runs of 99 and 150: the float32 kernels' 64-element blocks and tails
    ("train-large", [2, 3, 9, 11], 1, 1e-3, 0.9, False, True),
    ("train-large-c-first", [2, 150], 0, 1e-3, 0.9, False, True),
    ("predict-large", [2, 3, 9, 11], 1, 1e-3, 0.9, False, False),
]

for dt in ["float32", "float64"]:
    for (nm, shape, axis, eps, mom, fix, train) in BNS:
        c = shape[axis % len(shape)]
        x = U(shape, dt, -1.0, 3.0)
        gamma = U([c], dt, 0.5, 2.0)
        beta = U([c], dt, -1.0, 1.0)
        mm = U([c], dt, -0.5, 0.5)
        mv = U([c], dt, 0.5, 2.0)
        params = {"eps": eps, "momentum": mom, "fix_gamma": fix, "use_global_stats": False, "axis": axis,
                  "train": train}
        f = lambda a, g, b, m, v: mx_bn(a, g, b, m, v, eps, fix, train, axis)
        xr, gr, br = (t.clone().requires_grad_(True) for t in (x, gamma, beta))
        y = f(xr, gr, br, mm, mv)
        head = U(list(y.shape), dt)
        gx, gg, gb = torch.autograd.grad(y, [xr, gr, br], head, allow_unused=True)
        if gg is None:
            gg = torch.zeros_like(gamma)
        extra = None
        if train:
            red = [a for a in range(len(shape)) if a != axis % len(shape)]
            bm = x.mean(dim=red)
            bv = ((x - x.mean(dim=red, keepdim=True)) ** 2).mean(dim=red)
            # MXNet recovers the variance from the saved invstd: same value
            # in exact arithmetic.
            extra = {"moving_after": [tensor(mm * mom + bm * (1 - mom), dt, tol=True),
                                      tensor(mv * mom + bv * (1 - mom), dt, tol=True)]}
        add_case(f"BatchNorm/{dt}/{nm}", "BatchNorm", "BatchNorm", dt, params, [x, gamma, beta, mm, mv], y,
                 head, [gx, gg, gb, None, None], extra)
        if nm in ("train-nchw", "train-nchw-fixgamma", "predict-nchw", "train-ncw-axis-last"):
            hvp_case(f"BatchNorm/{dt}/{nm}", "BatchNorm", dt, params, [x, gamma, beta, mm, mv], f, [0, 1, 2])

# use_global_stats: moving statistics even while training
for dt in ["float32", "float64"]:
    shape, c = [3, 2, 4], 2
    x, gamma, beta = U(shape, dt), U([c], dt, 0.5, 2.0), U([c], dt)
    mm, mv = U([c], dt, -0.5, 0.5), U([c], dt, 0.5, 2.0)
    params = {"eps": 1e-3, "momentum": 0.9, "fix_gamma": False, "use_global_stats": True, "axis": 1, "train": True}
    xr, gr, br = (t.clone().requires_grad_(True) for t in (x, gamma, beta))
    y = mx_bn(xr, gr, br, mm, mv, 1e-3, False, False, 1)
    head = U(list(y.shape), dt)
    gx, gg, gb = torch.autograd.grad(y, [xr, gr, br], head)
    add_case(f"BatchNorm/{dt}/global-stats-in-train", "BatchNorm", "BatchNorm", dt, params,
             [x, gamma, beta, mm, mv], y, head, [gx, gg, gb, None, None])

# ---------------------------------------------------------------------------
# LayerNorm
# ---------------------------------------------------------------------------

LNS = [("last", [3, 5], -1, 1e-5), ("last-3d", [2, 3, 6], -1, 1e-5), ("axis1", [2, 4, 3], 1, 1e-5),
       ("axis0-eps", [4, 3], 0, 0.01)]
for dt in ["float32", "float64"]:
    for (nm, shape, axis, eps) in LNS:
        c = shape[axis % len(shape)]
        x, gamma, beta = U(shape, dt), U([c], dt, 0.5, 2.0), U([c], dt)
        cs = [1] * len(shape)
        cs[axis % len(shape)] = c

        def f(a, g, b, axis=axis, eps=eps, cs=cs):
            m = a.mean(dim=axis, keepdim=True)
            v = ((a - m) ** 2).mean(dim=axis, keepdim=True)
            return (a - m) / torch.sqrt(v + eps) * g.reshape(cs) + b.reshape(cs)

        params = {"axis": axis, "eps": eps}
        xr, gr, br = (t.clone().requires_grad_(True) for t in (x, gamma, beta))
        y = f(xr, gr, br)
        head = U(list(y.shape), dt)
        gx, gg, gb = torch.autograd.grad(y, [xr, gr, br], head)
        add_case(f"LayerNorm/{dt}/{nm}", "LayerNorm", "LayerNorm", dt, params, [x, gamma, beta], y, head,
                 [gx, gg, gb])
        if nm in ("last-3d", "axis1"):
            hvp_case(f"LayerNorm/{dt}/{nm}", "LayerNorm", dt, params, [x, gamma, beta], f, [0, 1, 2])

here = os.path.dirname(os.path.abspath(__file__))
for old in os.listdir(here):
    if old.startswith("nn-pool-") and old.endswith(".json"):
        os.remove(os.path.join(here, old))
lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
shards, cur, size = [], [], 0
for line in lines:
    if cur and size + len(line) + 2 > 900_000:
        shards.append(cur)
        cur, size = [], 0
    cur.append(line)
    size += len(line) + 2
shards.append(cur)
for i, part in enumerate(shards):
    with open(os.path.join(here, f"nn-pool-{i:02d}.json"), "w") as fh:
        fh.write("[\n" + ",\n".join(part) + "\n]\n")
text = "[\n" + ",\n".join(json.dumps(c, separators=(",", ":"), allow_nan=False) for c in hvps) + "\n]\n"
assert len(text) < 1_000_000
with open(os.path.join(here, "hvp-nn-pool.json"), "w") as fh:
    fh.write(text)
print(f"{len(cases)} cases in {len(shards)} shards, {len(hvps)} second-order cases")
