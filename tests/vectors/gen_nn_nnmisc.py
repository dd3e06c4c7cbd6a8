#!/usr/bin/python3
"""Generate the "nn-misc" reference vectors (issue #12, the nnmisc group):

* tests/vectors/nn-misc-NN.json: operator cases in the format of ops-NN.json
  (gen_ops.py's docstring is the schema and the tolerance rules), read by
  crates/ndgrad-core/tests/vectors.rs and tests/ts/ops.test.ts through
  tests/vectors/sets.json;
* tests/vectors/nn-misc-second.json: second derivatives (Hessian-vector
  products) of each op, read by crates/ndgrad-core/tests/nn_misc.rs and
  tests/ts/nn-misc.test.ts.

Run with Debian's PyTorch 1.13 and NumPy 1.24 (python3-torch):

    /usr/bin/python3 tests/vectors/gen_nn_nnmisc.py

Deterministic (fixed seeds): running it twice writes the same files.

References are computed by torch in float64 from the inputs' values
(float32 inputs are float32 numbers, read exactly), the gradients with
torch.autograd (vector-Jacobian products with a random head), then rounded
to float32 for float32 cases. MXNet 1.9.1's rules are written out where
PyTorch has none or differs:

* FullyConnected (src/operator/nn/fully_connected.cc): flatten=true reshapes
  data to (batch, prod(rest)) (a 1-D (n,) is (n, 1)); flatten=false applies
  to the last axis; weight (num_hidden, inputs), bias (num_hidden,):
  F.linear.
* Embedding (src/operator/tensor/indexing_op.h): indices of any dtype,
  truncated toward zero, then clipped into [0, input_dim-1] (take's "clip"
  mode); gradient to the weight only (rows summed where indices repeat).
* Activation: relu, sigmoid, tanh, softrelu (MXNet: x > 20 ? x :
  log1p(exp(x)), which is torch's softplus with threshold 20), softsign
  x/(1+|x|).
* LeakyReLU (src/operator/leaky_relu-inl.h, mshadow_op.h): leaky x>0 ? x :
  slope*x (gradient slope at 0); elu x>0 ? x : slope*expm1(x); selu
  lambda*(x>0 ? x : alpha*expm1(x)) with MXNet's float32 constants alpha =
  float32(1.6732632423543772848), lambda = float32(1.0507009873554804934)
  (torch's selu uses the float64 ones), and the true derivative (MXNet's
  selu_grad evaluates lambda*(alpha + y) at the output y, not the
  derivative: ndgrad follows the function); gelu the erf form
  0.5*x*(1+erf(x/sqrt 2)) (torch's default gelu); prelu x>0 ? x : gamma*x
  with gamma laid out by MXNet's expand_shape (gamma's axes from the last
  match data axes 1 and 0; a (C,) gamma on (N, C, ...) data is one slope per
  channel, on 1-D data it lines up with axis 0).
* Flatten: reshape to (d0, prod(rest)).
* softmaxCrossEntropy (src/operator/loss_binary_op-inl.h): data (N, C),
  label (N,) class indices (truncated, clipped into [0, C-1] as pick), output
  [1] = sum_i -log(max(softmax(data_i)[label_i], 1e-8)); the gradient is
  softmax - one_hot(label) (MXNet's backward ignores the floor), scaled by
  the head.

Tolerances: rtol 1e-5 (float32) / 1e-12 (float64), atol = rtol * the largest
sum of |terms| behind an element (as gen_ops.py: products in FullyConnected,
repeated rows in Embedding's scatter, the 1 + erf and (1+|x|) - |x| terms of
gelu and softsign, the logsumexp terms of the cross-entropy).

Second-order file: {"torch", "cases": [Case]} with

    Case = {"name", "dtype", "op", "params", "inputs": [Tensor],
            "consts": {name: Tensor}   (Embedding's indices, the label),
            "post": "none" | "square" | "tanh"   applied to the op's output,
            "head": Tensor,   "wrt": [input index...], "v": [Tensor per wrt],
            "first": [Expected per wrt], "expect": [Expected per wrt]}

  g = autograd.grad(post(op(inputs)), wrt, {headGrads: [head], createGraph:
  true}) must equal "first"; s = sum_i sum(g_i * v_i) (recorded); then
  autograd.grad(s, wrt) must equal "expect". Tensors are {"dtype", "shape",
  "data"}; Expected adds "tol" (one absolute tolerance for every element:
  1e-4 (float32) / 1e-10 (float64) times (1 + the largest |value|)).
"""

import json
import math
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

assert np.__version__.startswith("1.24"), "generate with NumPy 1.24 (/usr/bin/python3)"
assert torch.__version__.startswith("1.13"), "generate with Debian's torch 1.13"

F32, F64, I32 = np.float32, np.float64, np.int32
NP = {"float32": F32, "float64": F64, "int32": I32}
PREFIX = {"float32": "", "float64": "f64/"}
RTOL = {"float32": 1e-5, "float64": 1e-12}
TINY = {"float32": 2.0 ** -126, "float64": 2.0 ** -1022}
SELU_ALPHA = float(F32(1.6732632423543772848170429916717))
SELU_LAMBDA = float(F32(1.0507009873554804934193349852946))
CE_FLOOR = float(F32(1e-8))

SEED = 20261205
here = os.path.dirname(os.path.abspath(__file__))


def enc(v, dt):
    if dt == "int32":
        i = int(v)
        assert i == v and -2 ** 31 <= i < 2 ** 31
        return i
    v = NP[dt](v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, float(v)) < 0 else 0
    f = float(repr(v)) if dt == "float32" else float(v)
    assert NP[dt](f) == v
    if f == int(f) and abs(f) < 2 ** 53:
        return int(f)
    return f


def tensor(a, dt, rtol=None, atol=None):
    a = np.asarray(a)
    out = {"dtype": dt, "shape": [int(d) for d in a.shape],
           "data": [enc(v, dt) for v in a.astype(NP[dt]).ravel().tolist()]}
    if rtol is not None:
        out["rtol"] = rtol
        out["atol"] = atol
    return out


def atol_of(dt, mag):
    if mag is None:
        return TINY[dt]
    m = np.asarray(mag, dtype=np.float64)
    m = m[np.isfinite(m)]
    return max(TINY[dt], float(RTOL[dt] * m.max())) if m.size else TINY[dt]


def dt_of(a):
    return {np.dtype(F32): "float32", np.dtype(F64): "float64", np.dtype(I32): "int32"}[np.asarray(a).dtype]


rng = np.random.default_rng(SEED)
CUR = "float32"


def section(tag, dt):
    global rng, CUR
    rng = np.random.default_rng([SEED, zlib.crc32(tag.encode())])
    CUR = dt


def U(shape, lo=-3.0, hi=3.0):
    return rng.uniform(lo, hi, size=shape).astype(NP[CUR])


def away(shape, lo=0.1, hi=3.0):
    s = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (s * rng.uniform(lo, hi, size=shape)).astype(NP[CUR])


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


cases = []
names = set()


def emit(op, name, params, inputs, out, out_mag, grads, head):
    """inputs: numpy arrays; grads: per input None or (grad, mag)."""
    dtype = CUR
    full = f"{op}/{PREFIX[dtype]}{name}"
    assert full not in names, full
    names.add(full)
    rt = RTOL[dtype]
    case = {"name": full, "op": op, "kind": op, "dtype": dtype, "params": params,
            "inputs": [tensor(x, dt_of(x)) for x in inputs],
            "output": tensor(out, dtype, rt, atol_of(dtype, out_mag))}
    case["head"] = tensor(head, dtype)
    case["grads"] = []
    for x, gm in zip(inputs, grads):
        if gm is None:
            case["grads"].append(None)
        else:
            g, mag = gm
            assert np.shape(g) == np.shape(x), (full, np.shape(g), np.shape(x))
            case["grads"].append(tensor(g, dt_of(x), rt, atol_of(dtype, mag)))
    cases.append(case)


def vjp(f, inputs, diff, head):
    """f(*torch tensors) -> output; the gradient of sum(out * head) w.r.t.
    the inputs flagged in diff (None elsewhere)."""
    ts = [t64(x).requires_grad_(d) for x, d in zip(inputs, diff)]
    out = f(*ts)
    wrt = [t for t, d in zip(ts, diff) if d]
    gs = torch.autograd.grad(out, wrt, t64(head))
    it = iter(gs)
    return out.detach().numpy(), [next(it).numpy() if d else None for d in diff]


# ---------------------------------------------------------------------------
# the ops, written out (shared by the first- and second-order cases)
# ---------------------------------------------------------------------------

def fc_ref(x, w, b, flatten):
    if flatten:
        x2 = x.reshape(x.shape[0], -1)
    else:
        x2 = x
    return F.linear(x2, w, b)


def prelu_gamma_shape(g, d):
    out = [1] * len(d)
    s = len(g) - 1
    for i in range(len(d) - 1, -1, -1):
        if s >= 0 and i <= 1 and (d[i] == g[s] or g[s] == 1):
            out[i] = g[s]
            s -= 1
    assert s == -1
    return out


class Expm1(torch.autograd.Function):
    """expm1 whose derivative is exp(x): torch's own backward is
    grad * (result + 1), which loses digits far below 0 (e^-12 from
    1 - 0.99999...)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.expm1(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x)


def leaky_ref(x, act, slope, gamma=None):
    if act == "leaky":
        return torch.where(x > 0, x, slope * x)
    if act == "elu":
        return torch.where(x > 0, x, slope * Expm1.apply(x))
    if act == "selu":
        return SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * Expm1.apply(x))
    if act == "gelu":
        return F.gelu(x)
    if act == "prelu":
        gb = gamma.reshape(prelu_gamma_shape(list(gamma.shape), list(x.shape)))
        return torch.where(x > 0, x, gb * x)
    raise ValueError(act)


def act_ref(x, act):
    # softrelu: MXNet's x > 20 ? x : log1p(exp(x)) (torch's softplus with
    # threshold 20 is the same function)
    return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softrelu": lambda v: F.softplus(v, beta=1, threshold=20), "softsign": F.softsign}[act](x)


def clip_index(idx, n):
    return np.clip(np.trunc(np.asarray(idx, dtype=np.float64)), 0, n - 1).astype(np.int64)


def ce_ref(x, label):
    lab = torch.tensor(clip_index(label, x.shape[1]))
    logp = torch.log_softmax(x, dim=1)
    picked = logp.gather(1, lab[:, None])[:, 0]
    lifted = torch.clamp(picked.detach(), min=math.log(CE_FLOOR))
    return -(picked + (lifted - picked.detach())).sum().reshape(1)


# ---------------------------------------------------------------------------
# first-order cases
# ---------------------------------------------------------------------------

def head_for(shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(NP[CUR])


def fc_case(name, xs, nh, flatten=True, no_bias=False):
    x = U(xs, -1.5, 1.5)
    k = int(np.prod(xs[1:])) if flatten else xs[-1]
    w = U((nh, k), -1.0, 1.0)
    b = None if no_bias else U((nh,), -1.0, 1.0)
    inputs = [x, w] + ([] if no_bias else [b])
    out_shape = (xs[0], nh) if flatten else tuple(xs[:-1]) + (nh,)
    head = head_for(out_shape)
    out, gs = vjp(lambda *t: fc_ref(t[0], t[1], None if no_bias else t[2], flatten),
                  inputs, [True] * len(inputs), head)
    x2 = np.abs(x.astype(np.float64).reshape(-1, k))
    aw = np.abs(w.astype(np.float64))
    h2 = np.abs(head.astype(np.float64).reshape(-1, nh))
    out_mag = x2 @ aw.T + (0 if no_bias else np.abs(b.astype(np.float64)))
    mags = [h2 @ aw, h2.T @ x2] + ([] if no_bias else [h2.sum(0)])
    params = {"num_hidden": nh, "no_bias": no_bias, "flatten": flatten}
    emit("FullyConnected", name, params, inputs, out, out_mag,
         [(g, m) for g, m in zip(gs, mags)], head)


def embedding_case(name, idx, input_dim, output_dim, idx_dt=None):
    w = U((input_dim, output_dim), -2.0, 2.0)
    idx = np.asarray(idx, dtype=NP[idx_dt or CUR])
    lab = torch.tensor(clip_index(idx, input_dim))
    out_shape = idx.shape + (output_dim,)
    head = head_for(out_shape)
    out, gs = vjp(lambda d, wt: F.embedding(lab, wt), [idx, w], [False, True], head)
    # scatter-add: the rows of |head| summed per weight row
    mag = np.zeros((input_dim, output_dim))
    np.add.at(mag, lab.numpy().ravel(), np.abs(head.astype(np.float64)).reshape(-1, output_dim))
    emit("Embedding", name, {"input_dim": input_dim, "output_dim": output_dim}, [idx, w], out, None,
         [None, (gs[1], mag)], head)


def activation_case(name, x, act):
    head = head_for(x.shape)
    out, gs = vjp(lambda t: act_ref(t, act), [x], [True], head)
    xd, hd = np.abs(x.astype(np.float64)), np.abs(head.astype(np.float64))
    if act == "softsign":
        d = 1 + xd
        gmag = hd * (d + xd) / d ** 2
    elif act == "sigmoid":
        gmag = hd * np.abs(out) * (1 + np.abs(out))
    elif act == "tanh":
        gmag = hd * (1 + out ** 2)
    else:
        gmag = None
    emit("Activation", name, {"act_type": act}, [x], out, None, [(gs[0], gmag)], head)


def leaky_case(name, x, act, slope=0.25, gamma=None):
    inputs = [x] + ([] if gamma is None else [gamma])
    head = head_for(x.shape)
    out, gs = vjp(lambda *t: leaky_ref(t[0], act, slope, t[1] if len(t) > 1 else None),
                  inputs, [True] * len(inputs), head)
    xd, hd = np.abs(x.astype(np.float64)), np.abs(head.astype(np.float64))
    out_mag, gmag = None, None
    if act == "gelu":
        e = np.abs(np.array([math.erf(v / math.sqrt(2)) for v in x.astype(np.float64).ravel()])).reshape(x.shape)
        out_mag = 0.5 * xd * (1 + e)
        gmag = hd * (0.5 * (1 + e) + 0.5 * xd * np.exp(-xd ** 2 / 2) / math.sqrt(2 * math.pi))
    mags = [gmag]
    if gamma is not None:
        # gamma's gradient sums head*x over the broadcast axes
        gs_shape = prelu_gamma_shape(list(gamma.shape), list(x.shape))
        axes = tuple(i for i, d in enumerate(gs_shape) if d == 1 and x.shape[i] != 1)
        m = (hd * xd).sum(axis=axes, keepdims=True) if axes else hd * xd
        mags.append(m.reshape(gamma.shape))
    params = {"act_type": act, "slope": slope}
    emit("LeakyReLU", name, params, inputs, out, out_mag, [(g, m) for g, m in zip(gs, mags)], head)


def flatten_case(name, shape):
    x = U(shape)
    head = head_for((shape[0], int(np.prod(shape[1:]))))
    out, gs = vjp(lambda t: t.reshape(t.shape[0], -1), [x], [True], head)
    emit("Flatten", name, {}, [x], out, None, [(gs[0], None)], head)


def ce_case(name, n, c, label=None, scale=3.0, label_dt=None, data=None):
    x = U((n, c), -scale, scale) if data is None else np.asarray(data, dtype=NP[CUR])
    if label is None:
        label = rng.integers(0, c, size=n)
    label = np.asarray(label, dtype=NP[label_dt or CUR])
    head = head_for((1,))
    out, gs = vjp(lambda t, l: ce_ref(t, label), [x, label], [True, False], head)
    xd = x.astype(np.float64)
    m = xd.max(1, keepdims=True)
    lse = np.log(np.exp(xd - m).sum(1))
    lab = clip_index(label, c)
    out_mag = np.array([np.sum(np.abs(xd[np.arange(n), lab] - m[:, 0]) + np.abs(lse))])
    p = np.exp(xd - m) / np.exp(xd - m).sum(1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), lab] = 1
    gmag = abs(float(head[0])) * (p + onehot)
    emit("softmaxCrossEntropy", name, {}, [x, label], out, out_mag, [(gs[0], gmag), None], head)


for dt in ("float32", "float64"):
    section(f"fc-{dt}", dt)
    fc_case("2x5 to 3", (2, 5), 3)
    fc_case("4x3x2 flattened to 6 to 4", (4, 3, 2), 4)
    fc_case("no bias 3x7 to 2", (3, 7), 2, no_bias=True)
    fc_case("flatten false 2x3x5 to 4", (2, 3, 5), 4, flatten=False)
    fc_case("flatten false 1-D 6 to 3", (6,), 3, flatten=False)
    fc_case("1-D data 5 is 5x1 to 2", (5,), 2)
    fc_case("large 33x70 to 20", (33, 70), 20)
    fc_case("flatten false no bias 2x2x2x3 to 5", (2, 2, 2, 3), 5, flatten=False, no_bias=True)

    section(f"embedding-{dt}", dt)
    embedding_case("int32 indices 2x3", [[0, 3, 1], [4, 4, 2]], 5, 3, idx_dt="int32")
    embedding_case("float indices truncated and clipped", [0.9, 2.5, -1.0, 7.0, 4.99, -0.5], 5, 2)
    embedding_case("repeated rows accumulate", [1, 1, 1, 0, 1], 3, 4)
    embedding_case("float64 indices into 1-D data", [2.0, 0.0], 4, 3, idx_dt="float64")
    embedding_case("3-D indices", [[[0, 1], [2, 3]], [[3, 2], [1, 0]]], 4, 2, idx_dt="int32")

    section(f"activation-{dt}", dt)
    for act in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
        activation_case(f"{act} 3x4", away((3, 4), 0.05, 4.0), act)
        activation_case(f"{act} wide range", np.asarray([-30, -8, -1.5, -0.25, 0.125, 0.75, 2, 9, 19.5, 21, 35],
                                                        dtype=NP[dt]), act)
    activation_case("relu at 0 and -0", np.asarray([0.0, -0.0, 1.0, -1.0], dtype=NP[dt]), "relu")

    section(f"leaky-{dt}", dt)
    for act in ("leaky", "elu", "selu", "gelu"):
        leaky_case(f"{act} 2x3x2", away((2, 3, 2), 0.05, 3.0), act, slope=0.3 if act != "selu" else 0.25)
        leaky_case(f"{act} wide range", np.asarray([-12, -4, -1, -0.3, 0.2, 1.5, 6], dtype=NP[dt]), act, slope=0.75)
    leaky_case("leaky default slope", away((5,), 0.1, 2.0), "leaky")
    leaky_case("leaky at 0", np.asarray([0.0, -0.0, 2.0], dtype=NP[dt]), "leaky", slope=0.1)
    leaky_case("elu at 0", np.asarray([0.0, -1.0, 2.0], dtype=NP[dt]), "elu", slope=1.0)
    leaky_case("prelu NCHW one slope per channel", away((2, 3, 2, 2), 0.05, 2.0), "prelu",
               gamma=U((3,), 0.05, 0.5))
    leaky_case("prelu NC", away((4, 3), 0.05, 2.0), "prelu", gamma=U((3,), 0.05, 0.5))
    leaky_case("prelu one slope", away((3, 2, 2), 0.05, 2.0), "prelu", gamma=U((1,), 0.05, 0.5))
    leaky_case("prelu 1-D data lines up with axis 0", away((4,), 0.05, 2.0), "prelu", gamma=U((4,), 0.05, 0.5))

    section(f"flatten-{dt}", dt)
    flatten_case("2x3x4", (2, 3, 4))
    flatten_case("1-D 5 to 5x1", (5,))
    flatten_case("2-D unchanged", (3, 2))
    flatten_case("4-D 2x1x3x2", (2, 1, 3, 2))

    section(f"ce-{dt}", dt)
    ce_case("4x5", 4, 5)
    ce_case("int32 labels 3x10", 3, 10, label_dt="int32")
    ce_case("labels truncated and clipped", 4, 3, label=[2.7, -1.0, 5.0, 0.5])
    ce_case("one row", 1, 4)
    ce_case("large logits stay finite", 2, 3, data=[[100.0, -100.0, 0.0], [0.5, 60.0, -60.0]], label=[0, 1])
    ce_case("probability floored at 1e-8", 2, 3, data=[[30.0, 0.0, -1.0], [0.0, 1.0, 2.0]], label=[1, 2])


# ---------------------------------------------------------------------------
# second-order cases
# ---------------------------------------------------------------------------

def stensor(a, dt):
    return {"dtype": dt, "shape": [int(d) for d in np.shape(a)],
            "data": [enc(v, dt) for v in np.asarray(a).astype(NP[dt]).ravel().tolist()]}


def sexpected(a, dt):
    t = stensor(a, dt)
    rel = 1e-4 if dt == "float32" else 1e-10
    t["tol"] = rel * (1.0 + float(np.max(np.abs(a))) if np.size(a) else 1.0)
    return t


second = []


def second_case(op, name, params, inputs, consts, post, wrt, fn):
    """fn(list of torch inputs) -> op output (consts closed over)."""
    dt = CUR
    full = f"{op}/{PREFIX[dt]}{name}"
    ts = [t64(x).requires_grad_(True) for x in inputs]
    y = fn(ts)
    y = {"none": lambda v: v, "square": torch.square, "tanh": torch.tanh}[post](y)
    head = head_for(tuple(y.shape))
    vs = [U(inputs[i].shape, -1.0, 1.0) for i in wrt]
    g = torch.autograd.grad(y, [ts[i] for i in wrt], t64(head), create_graph=True)
    s = sum((gi * t64(v)).sum() for gi, v in zip(g, vs))
    h = torch.autograd.grad(s, [ts[i] for i in wrt], allow_unused=True)
    h = [torch.zeros_like(ts[i]) if hi is None else hi for hi, i in zip(h, wrt)]
    second.append({
        "name": full, "dtype": dt, "op": op, "params": params,
        "inputs": [stensor(x, dt) for x in inputs],
        "consts": {k: stensor(v, dt_of(v)) for k, v in consts.items()},
        "post": post, "head": stensor(head, dt), "wrt": wrt,
        "v": [stensor(v, dt) for v in vs],
        "first": [sexpected(gi.detach().numpy(), dt) for gi in g],
        "expect": [sexpected(hi.detach().numpy(), dt) for hi in h],
    })


for dt in ("float32", "float64"):
    section(f"second-{dt}", dt)
    x, w, b = U((3, 4), -1, 1), U((2, 4), -1, 1), U((2,), -1, 1)
    second_case("FullyConnected", "tanh of x.wT+b", {"num_hidden": 2, "no_bias": False, "flatten": True},
                [x, w, b], {}, "tanh", [0, 1, 2], lambda t: fc_ref(t[0], t[1], t[2], True))
    x, w = U((2, 2, 3), -1, 1), U((4, 3), -1, 1)
    second_case("FullyConnected", "flatten false no bias, mixed x-w terms",
                {"num_hidden": 4, "no_bias": True, "flatten": False},
                [x, w], {}, "none", [0, 1], lambda t: fc_ref(t[0], t[1], None, False))
    idx = np.asarray([[0, 2], [2, 1]], dtype=I32)
    second_case("Embedding", "square of rows, repeated index", {"input_dim": 3, "output_dim": 2},
                [U((3, 2), -1, 1)], {"data": idx}, "square", [0],
                lambda t: F.embedding(torch.tensor(idx.astype(np.int64)), t[0]))
    for act in ("sigmoid", "tanh", "softrelu", "softsign"):
        second_case("Activation", act, {"act_type": act}, [away((2, 3), 0.1, 3.0)], {}, "none", [0],
                    lambda t, a=act: act_ref(t[0], a))
    second_case("Activation", "relu then square", {"act_type": "relu"}, [away((2, 3), 0.1, 3.0)], {}, "square",
                [0], lambda t: act_ref(t[0], "relu"))
    for act in ("elu", "selu", "gelu"):
        second_case("LeakyReLU", act, {"act_type": act, "slope": 0.6}, [away((2, 3), 0.1, 3.0)], {}, "none", [0],
                    lambda t, a=act: leaky_ref(t[0], a, 0.6))
    second_case("LeakyReLU", "leaky then tanh", {"act_type": "leaky", "slope": 0.2}, [away((2, 3), 0.1, 2.0)], {},
                "tanh", [0], lambda t: leaky_ref(t[0], "leaky", 0.2))
    second_case("LeakyReLU", "prelu x and gamma", {"act_type": "prelu", "slope": 0.25},
                [away((2, 3, 2), 0.1, 2.0), U((3,), 0.05, 0.5)], {}, "none", [0, 1],
                lambda t: leaky_ref(t[0], "prelu", 0.25, t[1]))
    second_case("Flatten", "then square", {}, [U((2, 2, 3), -1, 1)], {}, "square", [0],
                lambda t: t[0].reshape(2, -1))
    lab = np.asarray([1, 0, 3], dtype=NP[dt])
    second_case("softmaxCrossEntropy", "3x4", {}, [U((3, 4), -2, 2)], {"label": lab}, "none", [0],
                lambda t: ce_ref(t[0], lab))


# ---------------------------------------------------------------------------
# self-check and output
# ---------------------------------------------------------------------------

OPS = ("FullyConnected", "Embedding", "Activation", "LeakyReLU", "Flatten", "softmaxCrossEntropy")
for op in OPS:
    for dt in ("float32", "float64"):
        n = sum(1 for c in cases if c["op"] == op and c["dtype"] == dt)
        assert n >= 3, (op, dt, n)
        assert any(c["op"] == op and c["dtype"] == dt for c in second), (op, dt)
for act in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
    assert any(c["op"] == "Activation" and c["params"]["act_type"] == act for c in cases)
for act in ("leaky", "elu", "selu", "gelu", "prelu"):
    assert any(c["op"] == "LeakyReLU" and c["params"]["act_type"] == act for c in cases)

SHARD_BYTES = 900_000
for old in os.listdir(here):
    if old.startswith("nn-misc-") and old.endswith(".json"):
        os.remove(os.path.join(here, old))
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
    with open(os.path.join(here, f"nn-misc-{i:02d}.json"), "w", encoding="utf-8") as f:
        f.write(text)
doc = {"torch": torch.__version__, "numpy": np.__version__, "cases": second}
text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
assert len(text) < 1_000_000
with open(os.path.join(here, "nn-misc-second.json"), "w", encoding="utf-8") as f:
    f.write(text + "\n")
print(f"wrote {len(shards)} shard(s) nn-misc-NN.json: {len(cases)} cases; nn-misc-second.json: {len(second)} cases")
for op in OPS:
    print(f"  {op:<20} float32 {sum(1 for c in cases if c['op'] == op and c['dtype'] == 'float32'):>3}"
          f"  float64 {sum(1 for c in cases if c['op'] == op and c['dtype'] == 'float64'):>3}"
          f"  second {sum(1 for c in second if c['op'] == op):>3}")
