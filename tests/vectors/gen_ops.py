#!/usr/bin/python3
"""Generate tests/vectors/ops.json: reference values and gradients of every
ndgrad operator, read by both tests/ts/ops.test.ts (through the built .wasm)
and crates/ndgrad-core/tests/vectors.rs (natively).

Run with Debian's NumPy (1.24), not a pyenv/virtualenv python:

    /usr/bin/python3 tests/vectors/gen_ops.py

The output is deterministic (a fixed seed, no dict-order or time dependence):
running the script twice writes the same file.

How the references are computed
-------------------------------
Every input is float32 (drawn, then rounded to float32). Outputs and
gradients are computed in float64 from those float32 values with NumPy's
textbook formulas (not with any ndgrad code), then rounded to float32. The
gradients are the vector-Jacobian products `J^T · head` for a random head
gradient `head` of the output's shape, with the conventions of MXNet 1.x:

* broadcasting: the gradient of a broadcast input is summed over the
  broadcast axes (NumPy semantics, both directions);
* maximum(a, b): `a` takes the gradient where a >= b, `b` where a < b;
  minimum(a, b): `a` where a <= b, `b` where a > b;
* scalar forms (MXNet's `_maximum_scalar` etc.): the array operand `x` of
  `x.maximum(s)` and of `nd.maximum(s, x)` (MXNet calls the same kernel for
  both) takes the gradient where x >= s; for minimum where x <= s;
* max/min reductions: the full gradient goes to every element equal to the
  extremum (ties included);
* relu: (x > 0);  abs: sign(x), 0 at 0;  sign and comparisons: no gradient;
* pow: d/da = b·a^(b-1); d/db = a^b·ln(a), defined as 0 where the base a is
  0 (also for `nd.pow(s, x)` with s = 0); a negative base gives NaN (ln a);
* prod: MXNet's rule dy·prod/x (inputs here have no zeros);
* norm: MXNet's L2 norm; gradient dy·x/‖x‖, and 0 where ‖x‖ = 0.

Tolerances
----------
Each expected tensor carries `rtol` and `atol`; an element `got` passes when

    want is NaN:   got is NaN
    want is ±inf:  got == want
    otherwise:     got is finite and |got - want| <= atol + rtol·|want|

`rtol` depends on the op:
* 2^-20 (8 float32 ulps) for ops built from correctly rounded IEEE float32
  arithmetic (+ - * / sqrt, selections, data movement, float64-accumulated
  sums): output and gradient formulas chain at most ~4 roundings of half an
  ulp each, so 8 ulps leaves a 2x margin. concat and stack are pure data
  movement both ways (the gradients are the slices of the head), so they are
  exact and 8 ulps is only the common bound;
* 1e-5 (~84 ulps) for exp, log, tanh, sigmoid, pow (float32 libm kernels
  within a few ulps, whose gradients reuse those values), norm (MXNet's
  scaled-sum-of-squares algorithm, not correctly rounded), and dot and
  batchDot (float32 accumulation; batchDot is one dot per batch, with the
  gradients dY·Bᵀ and Aᵀ·dY per batch).
`atol` is 2^-126 (the smallest normal float32: results in the subnormal range
are not claimed to be accurate, e.g. sigmoid(-90)) unless the computation
sums terms that can cancel. Then `atol = rtol · max_i m_i`, where `m_i` is the
sum of the absolute values of the terms that make element i: float32 rounding
of the terms gives an absolute error proportional to that sum, not to the
(possibly tiny) result. This covers broadcast gradients (summed over
broadcast axes), dot and batchDot (Σ|a||b| over K, per batch; for the
gradients Σ|dy||b| and Σ|a||dy|), sum/mean (Σ|x|), and the `1 - y` and
`1 - y²` inside the sigmoid and tanh gradients (terms 1 and y).

JSON schema
-----------
ops.json is a JSON list of cases, one per line:

    {
      "name":   str,      unique, "<op>/<description>"
      "op":     str,      the API name: add sub mul div pow maximum minimum
                          equal notEqual greater greaterEqual lesser lesserEqual
                          neg exp log sqrt square abs sigmoid tanh relu sign
                          sum mean max min prod norm reshape transpose
                          broadcastTo dot at slice copy expandDims squeeze
                          concat stack batchDot
      "kind":   str,      how to call it:
                  "binary"  op(a, b), two arrays, NumPy broadcasting
                  "scalar"  op(x, s), or op(s, x) when params.reverse
                  "unary"   op(x)
                  "reduce"  op(x, params.axis, params.keepdims)
                  "concat"  nd.concat(inputs, params.axis): any number (>= 1)
                            of arrays, equal shapes except along the axis
                            (a piece may have length 0 there)
                  "stack"   nd.stack(inputs, params.axis): any number (>= 1)
                            of arrays of one shape; params.axis indexes the
                            result's new axis (-(ndim+1) <= axis <= ndim)
                  "batchDot" nd.batchDot(a, b), (B,M,K)·(B,K,N) -> (B,M,N)
                  otherwise the op name itself (one array, or two for dot)
      "params": {         only the keys the kind uses:
                  "scalar": number   (rounded to float32 by the op,
                                      as MXNet's DType(scalar)) [scalar]
                  "reverse": bool    number on the left        [scalar]
                  "axis": null | int | [int...]   null = all   [reduce, squeeze]
                          int                   [expandDims, concat, stack]
                  "keepdims": bool                             [reduce]
                  "shape": [int...]  reshape spec (one -1 allowed) or target
                                     of broadcastTo            [reshape, broadcastTo]
                  "axes": null | [int...]  null = reversed     [transpose]
                  "index": int                                 [at]
                  "begin": int | null, "end": int | null       [slice]
                },
      "inputs": [{"shape": [int...], "data": [value...]}, ...],
      "output": {"shape": [...], "data": [...], "rtol": num, "atol": num},
      "head":   {"shape": [...], "data": [...]},         differentiable ops only
      "grads":  [{"shape", "data", "rtol", "atol"}, ...] differentiable ops only:
                 the gradient of each input, in input order
    }

`data` is the flat C-order list of values. A value is a JSON number, or one
of the strings "nan", "inf", "-inf", "-0" (negative zero). Numbers are the
shortest decimal that rounds to the float32 value (integral values are
written as integers); reading them as float64 and rounding to float32
(`Math.fround`, `as f32`) gives the exact float32 value (checked here).
A full reduction has shape [1] (MXNet 1.x); so does dot of two 1-D arrays
and `at` on a 1-D array. Empty arrays (a 0-row slice, a zero-length concat
piece) have data [].
"""

import json
import math
import os

import numpy as np

assert np.__version__.startswith("1.24"), "generate with NumPy 1.24 (/usr/bin/python3)"
np.seterr(all="ignore")  # inf/nan are expected in a few edge cases

F32 = np.float32
ELEM = 2.0 ** -20  # 8 float32 ulps
TRANS = 1e-5  # ~84 float32 ulps
TINY = 2.0 ** -126  # smallest normal float32

RTOL = {
    **{op: ELEM for op in ("add", "sub", "mul", "div", "maximum", "minimum")},
    **{op: ELEM for op in ("equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual")},
    **{op: ELEM for op in ("neg", "sqrt", "square", "abs", "relu", "sign")},
    **{op: TRANS for op in ("exp", "log", "sigmoid", "tanh", "pow", "norm", "dot", "batchDot")},
    **{op: ELEM for op in ("sum", "mean", "max", "min", "prod")},
    **{op: ELEM for op in ("reshape", "transpose", "broadcastTo", "at", "slice", "copy",
                           "expandDims", "squeeze", "concat", "stack")},
}
COMPARISONS = {
    "equal": np.equal, "notEqual": np.not_equal, "greater": np.greater,
    "greaterEqual": np.greater_equal, "lesser": np.less, "lesserEqual": np.less_equal,
}

rng = np.random.default_rng(20250611)
cases = []
names = set()


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------

def enc(v):
    """One float32 value -> JSON (shortest decimal that round-trips)."""
    v = F32(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, float(v)) < 0 else 0
    f = float(repr(v))  # NumPy's repr of a float32 is the shortest round-trip decimal
    assert F32(f) == v, (v, f)  # float64 parse, then float32 rounding, is exact
    if f == int(f) and abs(f) < 2**53:
        return int(f)
    return f


def tensor(a, rtol=None, atol=None):
    a = np.asarray(a)
    out = {"shape": [int(d) for d in a.shape], "data": [enc(v) for v in a.astype(F32).ravel()]}
    if rtol is not None:
        out["rtol"] = rtol
        out["atol"] = atol
    return out


def tol_atol(rtol, mag):
    """atol for a tensor whose elements sum terms of magnitude `mag` (or None)."""
    if mag is None:
        return TINY
    m = np.asarray(mag, dtype=np.float64)
    m = m[np.isfinite(m)]
    if m.size == 0:
        return TINY
    return max(TINY, float(rtol * m.max()))


def shape_of(shape):
    return "x".join(map(str, shape)) if len(shape) else "0d"


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def U(shape, lo=-3.0, hi=3.0):
    return rng.uniform(lo, hi, size=shape).astype(F32)


def away(shape, lo=0.5, hi=3.0):
    """Random sign times uniform(lo, hi): away from zero."""
    s = rng.choice([-1.0, 1.0], size=shape)
    return (s * rng.uniform(lo, hi, size=shape)).astype(F32)


def ints(shape, lo=-2, hi=2, scale=1.0):
    """Small integers (times scale): many ties."""
    return (rng.integers(lo, hi + 1, size=shape) * scale).astype(F32)


def head_for(shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(F32)


def vals(shape, values):
    return np.array(values, dtype=F32).reshape(shape)


# ---------------------------------------------------------------------------
# float64 references
# ---------------------------------------------------------------------------

def d64(a):
    return np.asarray(a, dtype=np.float64)


def sum_to(g, shape):
    """Sum a broadcast gradient back to `shape`."""
    g = np.asarray(g, dtype=np.float64)
    lead = g.ndim - len(shape)
    if lead > 0:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def binary_fwd(op, a, b):
    a, b = d64(a), d64(b)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "pow":
        return np.power(a, b)
    if op == "maximum":
        return np.maximum(a, b)
    if op == "minimum":
        return np.minimum(a, b)
    return COMPARISONS[op](a, b).astype(np.float64)


def binary_partials(op, a, b):
    """Elementwise (d out/d a, d out/d b) at broadcast shape, plus per-term
    magnitudes that need an atol (None when no cancellation)."""
    a, b = np.broadcast_arrays(d64(a), d64(b))
    one = np.ones_like(a)
    if op == "add":
        return one, one
    if op == "sub":
        return one, -one
    if op == "mul":
        return b, a
    if op == "div":
        return 1.0 / b, -a / (b * b)
    if op == "pow":
        da = b * np.power(a, b - 1.0)
        db = np.where(a == 0, 0.0, np.power(a, b) * np.log(a))
        return da, db
    if op == "maximum":
        return (a >= b).astype(np.float64), (a < b).astype(np.float64)
    if op == "minimum":
        return (a <= b).astype(np.float64), (a > b).astype(np.float64)
    raise ValueError(op)


def scalar_fwd(op, x, s, reverse):
    x = d64(x)
    s = np.float64(F32(s))
    return binary_fwd(op, s, x) if reverse else binary_fwd(op, x, s)


def scalar_partial(op, x, s, reverse):
    x = d64(x)
    s = np.float64(F32(s))
    if op in ("maximum", "minimum"):
        # MXNet: nd.maximum(s, x) is _maximum_scalar(x, s) (commutative).
        return binary_partials(op, x, s)[0]
    if reverse:
        if op == "pow":
            with np.errstate(all="ignore"):
                return np.where(s == 0, 0.0, np.power(s, x) * np.log(s)) * np.ones_like(x)
        return binary_partials(op, np.full_like(x, s), x)[1]
    return binary_partials(op, x, np.full_like(x, s))[0]


def unary_fwd(op, x):
    x = d64(x)
    return {
        "neg": lambda: -x,
        "exp": lambda: np.exp(x),
        "log": lambda: np.log(x),
        "sqrt": lambda: np.sqrt(x),
        "square": lambda: x * x,
        "abs": lambda: np.abs(x),
        "sigmoid": lambda: 1.0 / (1.0 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
        "relu": lambda: np.maximum(x, 0.0),
        "sign": lambda: np.sign(x),
    }[op]()


def unary_partial(op, x):
    """(d out/d x, magnitude of the terms of that derivative or None)."""
    x = d64(x)
    if op == "neg":
        return -np.ones_like(x), None
    if op == "exp":
        return np.exp(x), None
    if op == "log":
        return 1.0 / x, None
    if op == "sqrt":
        return 0.5 / np.sqrt(x), None
    if op == "square":
        return 2.0 * x, None
    if op == "abs":
        return np.sign(x), None
    if op == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-x))
        return y * (1.0 - y), y * (1.0 + y)  # terms of y·(1 - y)
    if op == "tanh":
        y = np.tanh(x)
        return 1.0 - y * y, 1.0 + y * y  # terms of 1 - y²
    if op == "relu":
        return (x > 0).astype(np.float64), None
    raise ValueError(op)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = [axis]
    if len(axis) == 0:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in axis))


def reduce_ref(op, x, axis, keepdims, dy):
    """(output, output magnitude or None, grad, grad magnitude or None)."""
    x = d64(x)
    axes = norm_axes(axis, x.ndim)
    kshape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    if op == "sum":
        yk = x.sum(axis=axes, keepdims=True)
        mag = np.abs(x).sum(axis=axes, keepdims=True)
    elif op == "mean":
        yk = x.mean(axis=axes, keepdims=True)
        mag = np.abs(x).mean(axis=axes, keepdims=True)
    elif op == "max":
        yk, mag = x.max(axis=axes, keepdims=True), None
    elif op == "min":
        yk, mag = x.min(axis=axes, keepdims=True), None
    elif op == "prod":
        yk, mag = x.prod(axis=axes, keepdims=True), None
    elif op == "norm":
        yk, mag = np.sqrt((x * x).sum(axis=axes, keepdims=True)), None
    else:
        raise ValueError(op)
    if keepdims:
        oshape = kshape
    else:
        oshape = tuple(d for i, d in enumerate(x.shape) if i not in axes) or (1,)
    y = yk.reshape(oshape)
    dyk = d64(dy).reshape(kshape)
    n = int(np.prod([x.shape[i] for i in axes]))
    if op == "sum":
        g = np.broadcast_to(dyk, x.shape)
    elif op == "mean":
        g = np.broadcast_to(dyk / n, x.shape)
    elif op in ("max", "min"):
        g = dyk * (x == yk)
    elif op == "prod":
        g = dyk * yk / x
    else:
        g = dyk * np.where(yk == 0, 0.0, x / np.where(yk == 0, 1.0, yk))
    return y, (None if mag is None else mag.reshape(oshape)), g, None


def dot_ref(a, b):
    a, b = d64(a), d64(b)
    out = np.tensordot(a, b, axes=([a.ndim - 1], [0]))
    mag = np.tensordot(np.abs(a), np.abs(b), axes=([a.ndim - 1], [0]))
    if out.ndim == 0:
        out, mag = out.reshape(1), mag.reshape(1)
    return out, mag


def dot_grads(a, b, dy):
    a, b = d64(a), d64(b)
    m = int(np.prod(a.shape[:-1]))
    k = a.shape[-1]
    n = int(np.prod(b.shape[1:]))
    a2, b2, dy2 = a.reshape(m, k), b.reshape(k, n), d64(dy).reshape(m, n)
    ga = (dy2 @ b2.T).reshape(a.shape)
    gb = (a2.T @ dy2).reshape(b.shape)
    ga_mag = (np.abs(dy2) @ np.abs(b2).T).reshape(a.shape)
    gb_mag = (np.abs(a2).T @ np.abs(dy2)).reshape(b.shape)
    return ga, ga_mag, gb, gb_mag


def batch_dot_ref(a, b, dy):
    """MXNet's batch_dot (B,M,K)·(B,K,N): output, its Σ|a||b| magnitudes, and
    the gradients dY·Bᵀ, Aᵀ·dY per batch with their magnitudes."""
    a, b, dy = d64(a), d64(b), d64(dy)
    aa, ab, ady = np.abs(a), np.abs(b), np.abs(dy)
    bt, at_ = np.swapaxes(b, 1, 2), np.swapaxes(a, 1, 2)
    out, mag = a @ b, aa @ ab
    ga, gam = dy @ bt, ady @ np.swapaxes(ab, 1, 2)
    gb, gbm = at_ @ dy, np.swapaxes(aa, 1, 2) @ ady
    return out, mag, (ga, gam), (gb, gbm)


# ---------------------------------------------------------------------------
# case builders
# ---------------------------------------------------------------------------

def emit(name, op, kind, params, inputs, out, out_mag=None, grads=None):
    """grads: None (not differentiable) or (head, [(grad, mag|None), ...])."""
    name = f"{op}/{name}"
    assert name not in names, name
    names.add(name)
    rtol = RTOL[op]
    case = {
        "name": name,
        "op": op,
        "kind": kind,
        "params": params,
        "inputs": [tensor(x) for x in inputs],
        "output": tensor(out, rtol, tol_atol(rtol, out_mag)),
    }
    if grads is not None:
        head, gs = grads
        assert list(head.shape) == list(np.shape(out)), (name, head.shape, np.shape(out))
        case["head"] = tensor(head)
        case["grads"] = []
        for x, (g, mag) in zip(inputs, gs):
            g = np.asarray(g)
            assert g.shape == x.shape, (name, g.shape, x.shape)
            case["grads"].append(tensor(g, rtol, tol_atol(rtol, mag)))
    cases.append(case)


def binary_case(op, name, a, b):
    out = binary_fwd(op, a, b)
    if op in COMPARISONS:
        emit(name, op, "binary", {}, [a, b], out)
        return
    dy = head_for(out.shape)
    da, db = binary_partials(op, a, b)
    ga, gb = dy * da, dy * db
    grads = []
    for x, g in ((a, ga), (b, gb)):
        summed = x.shape != out.shape
        grads.append((sum_to(g, x.shape), sum_to(np.abs(g), x.shape) if summed else None))
    emit(name, op, "binary", {}, [a, b], out, None, (dy, grads))


def scalar_case(op, name, x, s, reverse):
    params = {"scalar": s, "reverse": reverse}
    out = scalar_fwd(op, x, s, reverse)
    if op in COMPARISONS:
        emit(name, op, "scalar", params, [x], out)
        return
    dy = head_for(out.shape)
    emit(name, op, "scalar", params, [x], out, None,
         (dy, [(dy * scalar_partial(op, x, s, reverse), None)]))


def unary_case(op, name, x):
    out = unary_fwd(op, x)
    if op == "sign":
        emit(name, op, "unary", {}, [x], out)
        return
    dy = head_for(out.shape)
    d, mag = unary_partial(op, x)
    gmag = None if mag is None else np.abs(dy) * mag
    emit(name, op, "unary", {}, [x], out, None, (dy, [(dy * d, gmag)]))


def reduce_case(op, x, axis, keepdims, name=None):
    if name is None:
        ax = "all" if axis is None else ("ax" + ",".join(map(str, axis)) if isinstance(axis, list)
                                         else f"ax{axis}")
        name = f"{shape_of(x.shape)}/{ax}" + ("/keepdims" if keepdims else "")
    axes = norm_axes(axis, x.ndim)
    if keepdims:
        oshape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        oshape = tuple(d for i, d in enumerate(x.shape) if i not in axes) or (1,)
    dy = head_for(oshape)
    y, ymag, g, gmag = reduce_ref(op, x, axis, keepdims, dy)
    emit(name, op, "reduce", {"axis": axis, "keepdims": keepdims}, [x], y, ymag,
         (dy, [(g, gmag)]))


def concat_case(pieces, axis, name=None):
    """nd.concat(pieces, axis); the gradient of piece i is its slice of dy."""
    if name is None:
        name = "+".join(shape_of(p.shape) for p in pieces) + f"/ax{axis}"
    out = np.concatenate([d64(p) for p in pieces], axis=axis)
    ax = axis % out.ndim
    dy = head_for(out.shape)
    cuts = np.cumsum([p.shape[ax] for p in pieces])[:-1]
    gs = np.split(d64(dy), cuts, axis=ax)
    emit(name, "concat", "concat", {"axis": axis}, pieces, out, None,
         (dy, [(g, None) for g in gs]))


def stack_case(shape, n, axis, name=None):
    """nd.stack of n arrays of `shape`; the gradient of array i is dy's
    index i along the new axis."""
    xs = [U(shape) for _ in range(n)]
    if name is None:
        name = f"{n}x{shape_of(shape)}/ax{axis}"
    out = np.stack([d64(x) for x in xs], axis=axis)
    ax = axis % out.ndim
    dy = head_for(out.shape)
    gs = [np.take(d64(dy), i, axis=ax) for i in range(n)]
    emit(name, "stack", "stack", {"axis": axis}, xs, out, None, (dy, [(g, None) for g in gs]))


def batch_dot_case(a, b, name=None):
    if name is None:
        name = f"{shape_of(a.shape)}.{shape_of(b.shape)}"
    dy = head_for((a.shape[0], a.shape[1], b.shape[2]))
    out, mag, ga, gb = batch_dot_ref(a, b, dy)
    emit(name, "batchDot", "batchDot", {}, [a, b], out, mag, (dy, [ga, gb]))


def movement_case(op, name, x, params, out, grad_fn, grad_mag_fn=None):
    dy = head_for(np.shape(out))
    g = grad_fn(d64(dy))
    gm = None if grad_mag_fn is None else grad_mag_fn(np.abs(d64(dy)))
    emit(name, op, op, params, [x], out, None, (dy, [(g, gm)]))


# ---------------------------------------------------------------------------
# binary ops
# ---------------------------------------------------------------------------

# (name, a shape, b shape): same shapes, broadcasting either way, size-1 axes.
BINARY_SHAPES = [
    ("same/5", (5,), (5,)),
    ("same/2x3", (2, 3), (2, 3)),
    ("same/3x1", (3, 1), (3, 1)),
    ("bcast_right/2x3+3", (2, 3), (3,)),
    ("bcast_left/3+2x3", (3,), (2, 3)),
    ("bcast_both/2x1x4+3x1", (2, 1, 4), (3, 1)),
    ("bcast_both/4x1+1x5", (4, 1), (1, 5)),
    ("bcast_scalar_left/1+2x3x4", (1,), (2, 3, 4)),
    ("bcast_scalar_right/2x3x1x4+1", (2, 3, 1, 4), (1,)),
    ("bcast_rank4/2x1x3x1+4x1x5", (2, 1, 3, 1), (4, 1, 5)),
    ("bcast_many/6x5x4+4", (6, 5, 4), (4,)),
    ("bcast_middle/2x3x4+3x1", (2, 3, 4), (3, 1)),
]


def binary_inputs(op, sa, sb):
    if op == "div":
        return U(sa), away(sb)
    if op == "pow":
        return U(sa, 0.25, 3.0), U(sb, -2.0, 3.0)
    if op in ("maximum", "minimum"):
        return ints(sa, scale=0.5), ints(sb, scale=0.5)  # ties
    return U(sa), U(sb)


for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum"):
    for name, sa, sb in BINARY_SHAPES:
        a, b = binary_inputs(op, sa, sb)
        binary_case(op, name, a, b)

# random (tie-free) maximum/minimum, with broadcasting
for op in ("maximum", "minimum"):
    binary_case(op, "random/2x3+3", U((2, 3)), U((3,)))
    binary_case(op, "random/3x1+1x4", U((3, 1)), U((1, 4)))
    # all ties: the whole gradient goes to the left operand
    t = ints((2, 3))
    binary_case(op, "all_ties/2x3", t, t.copy())

# edge values
binary_case("add", "large/4", vals((4,), [3e38, -3e38, 1e-38, 1.5]), vals((4,), [-3e38, 3e38, -1e-38, 2.5]))
binary_case("sub", "cancel/4", vals((4,), [1.0000001, 1e7, -2.5, 0]), vals((4,), [1, 9999999, -2.5, 0]))
binary_case("mul", "zeros/2x2", vals((2, 2), [0, 1.5, -0.0, 2]), vals((2, 2), [3, 0, 4, -1]))
binary_case("div", "small_den/4", vals((4,), [1, -1, 3, 1e-3]), vals((4,), [1e-3, 2e-4, -1e-2, 1e3]))
binary_case("div", "bcast_small/2x3+2x1", U((2, 3)), vals((2, 1), [0.01, -0.02]))
binary_case("pow", "zero_base/4", vals((4,), [0, 0, 0, 0]), vals((4,), [1, 2, 3.5, 1.5]))
binary_case("pow", "zero_base_bcast/3+2x1", vals((3,), [0, 1.5, 0]), vals((2, 1), [2, 3]))
binary_case("pow", "negative_base_int_exp/4", vals((4,), [-2, -1.5, -0.5, -3]), vals((4,), [2, 3, -1, 0]))
binary_case("pow", "unit_base/3", vals((3,), [1, 1, 1]), vals((3,), [-2, 0.5, 7]))
binary_case("pow", "zero_exp/3", vals((3,), [0.5, 2, 7]), vals((3,), [0, 0, 0]))
binary_case("pow", "large/3", vals((3,), [2, 10, 1.5]), vals((3,), [100, 30, 200]))

# comparisons: same shapes with ties, broadcasting both ways
for op in COMPARISONS:
    binary_case(op, "ties/2x3", ints((2, 3)), ints((2, 3)))
    binary_case(op, "bcast_right/2x3x4+4", ints((2, 3, 4)), ints((4,)))
    binary_case(op, "bcast_left/3x1+2x3x4", ints((3, 1)), ints((2, 3, 4)))
    binary_case(op, "bcast_both/4x1+1x1x3", ints((4, 1)), ints((1, 1, 3)))
    binary_case(op, "random/5", U((5,)), U((5,)))

# ---------------------------------------------------------------------------
# scalar forms
# ---------------------------------------------------------------------------

SCALAR_SHAPES = [(4,), (2, 3), (2, 1, 3), (2, 2, 1, 3)]
SCALARS = {
    # op: [(scalar, reverse, input maker)]
    "add": [(2.5, False, U), (-1.25, True, U)],
    "sub": [(1.5, False, U), (1.5, True, U)],
    "mul": [(-3, False, U), (2, True, U)],
    "div": [(4, False, U), (3, True, away), (-0.5, True, away)],
    "pow": [(2, False, U), (3, False, U), (0.5, False, lambda s: U(s, 0.1, 4)),
            (-1.5, False, lambda s: U(s, 0.25, 4)), (2, True, U), (0.5, True, U)],
    "maximum": [(0.5, False, lambda s: ints(s, scale=0.5)), (0.5, True, lambda s: ints(s, scale=0.5)),
                (-1, False, U)],
    "minimum": [(0.5, False, lambda s: ints(s, scale=0.5)), (0.5, True, lambda s: ints(s, scale=0.5)),
                (-1, True, U)],
}
for op, specs in SCALARS.items():
    for s, reverse, maker in specs:
        for shp in SCALAR_SHAPES:
            form = f"{s}_{op}_x" if reverse else f"x_{op}_{s}"
            scalar_case(op, f"{form}/{shape_of(shp)}", maker(shp), s, reverse)

scalar_case("pow", "x_pow_2/with_zeros", vals((4,), [0, -0.0, 1.5, -2]), 2, False)
scalar_case("pow", "2_pow_x/large", vals((4,), [100, 127, -100, -126]), 2, True)
# base 0: 0^x = 0 for x > 0, and the gradient w.r.t. the exponent is 0 there
scalar_case("pow", "0_pow_x/positive", vals((4,), [0.5, 1, 2, 3.5]), 0, True)
scalar_case("pow", "1_pow_x", vals((3,), [-2, 0.5, 3]), 1, True)
# Scalars that are not float32 values are rounded to float32 first (MXNet's
# kernels compute `op(x, DType(scalar))`).
scalar_case("mul", "x_mul_0.1/f32_scalar", U((2, 3)), 0.1, False)
scalar_case("add", "0.1_add_x/f32_scalar", U((4,)), 0.1, True)
scalar_case("sub", "x_sub_1e-8/f32_scalar", vals((3,), [1, 1e-8, -2]), 1e-8, False)
scalar_case("pow", "x_pow_1/3/f32_scalar", U((2, 2), 0.5, 4), 1 / 3, False)
scalar_case("div", "0.3_div_x/f32_scalar", away((4,)), 0.3, True)
scalar_case("maximum", "x_maximum_0.1/f32_scalar", vals((3,), [0.1, 0.2, 0.05]), 0.1, False)

for op in COMPARISONS:
    # x holds float32(0.1): equal to the scalar 0.1 once it is rounded to float32
    scalar_case(op, f"x_{op}_0.1/f32_scalar", vals((3,), [0.1, 0.2, 0.05]), 0.1, False)
    for reverse in (False, True):
        for shp in ((5,), (2, 3), (2, 1, 2, 2)):
            x = ints(shp, scale=0.5)
            form = f"0.5_{op}_x" if reverse else f"x_{op}_0.5"
            scalar_case(op, f"{form}/{shape_of(shp)}", x, 0.5, reverse)

# ---------------------------------------------------------------------------
# unary ops
# ---------------------------------------------------------------------------

UNARY_SHAPES = [(1,), (7,), (2, 3), (3, 1, 4), (2, 1, 3, 2)]
UNARY_RANGE = {
    "neg": (-3, 3), "exp": (-5, 5), "log": (0.01, 10), "sqrt": (0.01, 10), "square": (-4, 4),
    "abs": (-3, 3), "sigmoid": (-6, 6), "tanh": (-3, 3), "relu": (-3, 3), "sign": (-3, 3),
}
for op, (lo, hi) in UNARY_RANGE.items():
    for shp in UNARY_SHAPES:
        unary_case(op, f"random/{shape_of(shp)}", U(shp, lo, hi))

unary_case("neg", "zeros", vals((3,), [0, -0.0, 3e38]))
unary_case("exp", "edges", vals((8,), [-100, -87, -20, -1e-7, 0, 20, 88, 88.5]))
unary_case("log", "edges", vals((9,), [1.1754944e-38, 1e-30, 1e-10, 1e-3, 0.9999999, 1, 1.0000001, 1e30, 3e38]))
unary_case("sqrt", "edges", vals((8,), [1.1754944e-38, 1e-30, 1e-6, 0.25, 1, 2, 1e30, 3e38]))
unary_case("sqrt", "zero", vals((2,), [0, 4]))
unary_case("square", "edges", vals((5,), [1e19, -1e19, 1e-19, 0, -0.5]))
unary_case("abs", "zeros", vals((2, 3), [0, -0.0, 1.5, -1.5, 0, 2]))
unary_case("sigmoid", "edges", vals((10,), [-100, -88, -30, -15, -1e-3, 0, 1e-3, 15, 30, 100]))
unary_case("tanh", "edges", vals((9,), [-20, -5, -1e-4, 0, 1e-4, 0.5, 5, 9, 20]))
unary_case("relu", "zeros", vals((2, 3), [0, -0.0, 1.5, -1.5, 1e-30, -1e-30]))
unary_case("sign", "zeros", vals((6,), [0, 1e-30, -1e-30, 5, -5, 3e38]))

# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------

REDUCE_SPECS = [
    ((6,), None, False), ((6,), None, True), ((6,), 0, False), ((6,), -1, True),
    ((3, 4), 0, False), ((3, 4), 1, False), ((3, 4), -1, False), ((3, 4), -2, True),
    ((3, 4), [0, 1], False), ((3, 4), [0, 1], True), ((3, 4), [-1, 0], False),
    ((2, 3, 4), 1, False), ((2, 3, 4), [0, 2], False), ((2, 3, 4), [-1, 0], True),
    ((2, 3, 4), None, True), ((2, 3, 4), -2, True),
    ((2, 3, 1, 4), 2, False), ((2, 3, 1, 4), [1, 3], False), ((2, 3, 1, 4), -3, True),
    ((2, 3, 1, 4), [0, 1, 2, 3], False), ((2, 3, 1, 4), [-4, -2], True),
    ((1, 5), 0, False), ((1, 5), 0, True), ((4, 1), 1, False),
]


def reduce_input(op, shp):
    if op in ("max", "min"):
        return ints(shp)  # ties: every extremal element gets the gradient
    if op == "prod":
        return away(shp, 0.5, 1.5)
    return U(shp, -2, 2)


for op in ("sum", "mean", "max", "min", "prod", "norm"):
    for shp, axis, keep in REDUCE_SPECS:
        reduce_case(op, reduce_input(op, shp), axis, keep)

reduce_case("sum", U((2, 3), -2, 2), [], False, name="2x3/empty_axis_list_is_all")
reduce_case("sum", vals((4,), [1e7, 1, -1e7, 0.5]), None, False, name="cancel")
reduce_case("mean", vals((3,), [3e38, 3e38, -3e38]), None, False, name="large")
for op in ("max", "min"):
    reduce_case(op, U((3, 5), -2, 2), 1, False, name="3x5/random/ax1")
    reduce_case(op, vals((2, 3), [1, 1, 1, -1, -1, -1]), None, False, name="2x3/all_ties")
reduce_case("prod", vals((5,), [2, 0.5, 4, -0.25, 8]), None, False, name="exact")
reduce_case("norm", vals((2, 3), [0, 0, 0, 3, -4, 12]), 1, False, name="zero_row/ax1")
reduce_case("norm", vals((3,), [1e-20, 3e-20, -2e-20]), None, False, name="tiny")
reduce_case("norm", vals((3,), [1e19, 3e19, -2e19]), None, False, name="huge")

# ---------------------------------------------------------------------------
# shape, movement, indexing, dot
# ---------------------------------------------------------------------------

for shp, spec in [((2, 3, 4), [4, -1]), ((6,), [2, -1, 1]), ((2, 3), [-1]), ((1, 2, 3, 1), [3, 2]),
                  ((2, 2, 3), [3, -1, 2]), ((12,), [2, 1, 3, 2]), ((3, 4), [1, -1, 1, 1])]:
    x = U(shp)
    out = d64(x).reshape([d for d in spec])
    movement_case("reshape", f"{shape_of(shp)}_to_{'x'.join(map(str, spec))}", x, {"shape": spec},
                  out, lambda dy, s=shp: dy.reshape(s))

for shp, axes in [((2, 3), None), ((5,), None), ((2, 3, 4), None), ((2, 3, 4), [1, 0, 2]),
                  ((2, 3, 4, 5), [-1, 0, 2, 1]), ((2, 1, 3), [2, 0, 1]), ((3, 2), [0, 1]),
                  ((2, 3, 4), [-1, -3, -2])]:
    x = U(shp)
    perm = list(range(len(shp)))[::-1] if axes is None else [a % len(shp) for a in axes]
    inv = list(np.argsort(perm))
    out = np.transpose(d64(x), perm)
    movement_case("transpose", f"{shape_of(shp)}/{'rev' if axes is None else ','.join(map(str, axes))}",
                  x, {"axes": axes}, out, lambda dy, inv=inv: np.transpose(dy, inv))

for shp, target in [((3,), (2, 3)), ((2, 1), (2, 4)), ((1,), (2, 3, 2)), ((2, 1, 3), (4, 2, 5, 3)),
                    ((1, 3, 1), (2, 3, 4)), ((2, 3), (2, 3)), ((4,), (1, 4)), ((1, 1), (3, 1))]:
    x = U(shp)
    out = np.broadcast_to(d64(x), target)
    summed = shp != target
    movement_case("broadcastTo", f"{shape_of(shp)}_to_{shape_of(target)}", x, {"shape": list(target)},
                  out, lambda dy, s=shp: sum_to(dy, s),
                  (lambda dy, s=shp: sum_to(dy, s)) if summed else None)

for shp, i in [((4,), 2), ((4,), -1), ((3, 2), 0), ((3, 2), -3), ((2, 3, 4), 1), ((1, 2, 2, 2), 0),
               ((5, 1), 4)]:
    x = U(shp)
    out = d64(x)[i] if len(shp) > 1 else d64(x)[i:i + 1 or None]
    out = out.reshape(out.shape if len(shp) > 1 else (1,))

    def g_at(dy, shp=shp, i=i):
        g = np.zeros(shp)
        g[i] = dy.reshape(shp[1:]) if len(shp) > 1 else dy[0]
        return g
    movement_case("at", f"{shape_of(shp)}/{i}", x, {"index": i}, out, g_at)

for shp, b, e in [((5,), 1, 4), ((5,), None, 2), ((5,), -2, None), ((4, 3), 1, -1), ((4, 3), -10, 10),
                  ((4, 3), 3, 1), ((2, 3, 4), None, None), ((3, 2, 1, 2), -2, None), ((4,), 4, 10),
                  ((6, 2), 0, 1)]:
    x = U(shp)
    sl = slice(b, e)
    out = d64(x)[sl]

    def g_slice(dy, shp=shp, sl=sl):
        g = np.zeros(shp)
        g[sl] = dy
        return g
    movement_case("slice", f"{shape_of(shp)}/{b}:{e}", x, {"begin": b, "end": e}, out, g_slice)

for shp in [(3,), (2, 3), (2, 1, 2, 3)]:
    x = U(shp)
    movement_case("copy", shape_of(shp), x, {}, d64(x), lambda dy: dy)

for shp, axis in [((3,), 0), ((3,), -1), ((2, 3), 1), ((2, 3, 4), -2), ((2, 3), 2), ((2, 3), -3)]:
    x = U(shp)
    nd_ = len(shp) + 1
    a = axis % nd_
    out = np.expand_dims(d64(x), a)
    movement_case("expandDims", f"{shape_of(shp)}/{axis}", x, {"axis": axis}, out,
                  lambda dy, s=shp: dy.reshape(s))

for shp, axis in [((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), -1), ((2, 1, 3, 1), [1, 3]),
                  ((1, 1), None), ((2, 1, 3, 1), [-3]), ((3,), None)]:
    x = U(shp)
    if axis is None:
        oshape = [d for d in shp if d != 1]
    else:
        ax = [axis] if isinstance(axis, int) else axis
        drop = {a % len(shp) for a in ax}
        oshape = [d for i, d in enumerate(shp) if i not in drop]
    out = d64(x).reshape(oshape or [1])
    movement_case("squeeze", f"{shape_of(shp)}/{axis if axis is not None else 'all'}".replace(" ", ""),
                  x, {"axis": axis}, out, lambda dy, s=shp: dy.reshape(s))

for sa, sb in [((4,), (4,)), ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3, 4), (4, 5)),
               ((2, 3), (3, 2, 2)), ((1, 1), (1, 1)), ((5, 1), (1, 4)), ((2, 2, 3), (3, 2, 2)),
               ((1, 8), (8, 1)), ((3, 7), (7, 3))]:
    a, b = U(sa), U(sb)
    out, mag = dot_ref(a, b)
    dy = head_for(out.shape)
    ga, gam, gb, gbm = dot_grads(a, b, dy)
    emit(f"{shape_of(sa)}.{shape_of(sb)}", "dot", "dot", {}, [a, b], out, mag,
         (dy, [(ga, gam), (gb, gbm)]))

# cancellation inside dot: the exact result is 0 although the terms are not
a = vals((2, 3), [1, 2, 3, 1e4, -1e4, 1])
b = vals((3, 2), [1, 1e4, 1, 1, -1, 1e-4])
out, mag = dot_ref(a, b)
dy = head_for(out.shape)
ga, gam, gb, gbm = dot_grads(a, b, dy)
emit("cancel/2x3.3x2", "dot", "dot", {}, [a, b], out, mag, (dy, [(ga, gam), (gb, gbm)]))


# ---------------------------------------------------------------------------
# larger arrays: vector loops with remainders, longer reductions and dots
# ---------------------------------------------------------------------------

binary_case("mul", "larger/7x1x9+5x9", U((7, 1, 9)), U((5, 9)))
binary_case("sub", "larger/5x9+7x1x1", U((5, 9)), U((7, 1, 1)))
binary_case("div", "larger/37+37", U((37,)), away((37,)))
binary_case("maximum", "larger/6x11+11", U((6, 11)), U((11,)))
scalar_case("pow", "x_pow_3/larger/41", U((41,)), 3, False)
unary_case("exp", "larger/67", U((67,), -4, 4))
unary_case("tanh", "larger/5x13", U((5, 13), -3, 3))
reduce_case("sum", U((8, 33), -2, 2), 1, False)
reduce_case("sum", U((8, 33), -2, 2), 0, True)
reduce_case("max", U((5, 3, 11), -2, 2), [0, 2], False)
reduce_case("norm", U((6, 19), -2, 2), -1, False)
for sa, sb in [((9, 17), (17, 13)), ((33,), (33, 5)), ((4, 3, 10), (10, 6))]:
    a, b = U(sa), U(sb)
    out, mag = dot_ref(a, b)
    dy = head_for(out.shape)
    ga, gam, gb, gbm = dot_grads(a, b, dy)
    emit(f"larger/{shape_of(sa)}.{shape_of(sb)}", "dot", "dot", {}, [a, b], out, mag,
         (dy, [(ga, gam), (gb, gbm)]))
x = U((6, 5, 4))
movement_case("transpose", "larger/6x5x4/2,0,1", x, {"axes": [2, 0, 1]}, np.transpose(d64(x), [2, 0, 1]),
              lambda dy: np.transpose(dy, np.argsort([2, 0, 1])))


# ---------------------------------------------------------------------------
# concat, stack, batchDot (appended after every other case, so that the
# random draws, and so the values, of the cases above are unchanged)
# ---------------------------------------------------------------------------

# concat: ranks 1-4, every axis of each rank both as a positive and as a
# negative number, 1-4 pieces of different lengths along the axis (the
# coverage is asserted by both test suites).
CONCAT_SPECS = [
    # (piece shapes, axis)
    ([(4,)], 0),
    ([(3,), (2,)], 0),
    ([(3,), (1,), (2,)], -1),
    ([(2, 3)], 1),  # one piece: a copy
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 4)], -1),
    ([(2, 3), (1, 3), (3, 3), (2, 3)], 0),
    ([(1, 3), (2, 3)], -2),
    ([(2, 3, 4), (1, 3, 4)], 0),
    ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1),
    ([(2, 3, 4), (2, 3, 2)], 2),
    ([(2, 3, 4), (2, 3, 1), (2, 3, 3), (2, 3, 1)], -1),
    ([(2, 2, 4), (2, 1, 4)], -2),
    ([(1, 3, 2), (2, 3, 2), (1, 3, 2)], -3),
    ([(1, 2, 2, 2), (3, 2, 2, 2)], 0),
    ([(2, 1, 3, 2), (2, 2, 3, 2)], 1),
    ([(2, 2, 1, 3), (2, 2, 2, 3), (2, 2, 1, 3), (2, 2, 3, 3)], 2),
    ([(2, 1, 3, 2), (2, 1, 3, 1), (2, 1, 3, 3)], 3),
    ([(2, 1, 3, 2), (2, 1, 3, 1)], -1),
    ([(2, 2, 1, 3), (2, 2, 2, 3)], -2),
    ([(2, 2, 2, 3), (2, 1, 2, 3)], -3),
    ([(1, 2, 2, 2), (2, 2, 2, 2)], -4),
    # zero-length pieces (first, middle, last), and nothing but empty pieces
    ([(2, 0, 3), (2, 2, 3)], 1),
    ([(2, 2), (2, 0), (2, 1)], -1),
    ([(3,), (0,)], 0),
    ([(0, 3), (2, 3), (0, 3)], 0),
    ([(2, 0), (2, 0)], 1),
    # larger pieces (row copies with remainders)
    ([(5, 7, 9), (5, 3, 9), (5, 11, 9)], 1),
    ([(6, 13), (6, 1), (6, 20)], -1),
]
for shapes, axis in CONCAT_SPECS:
    concat_case([U(s) for s in shapes], axis)
# concat moves bits: NaN, ±inf and -0 come out unchanged
concat_case([vals((4,), [float("nan"), float("inf"), -0.0, float("-inf")]), U((2,))], 0,
            name="special_values/4+2/ax0")

# stack: 1-4 arrays of ranks 1-4, every position of the new axis in results
# of ranks 2-4, positive and negative.
STACK_SPECS = [
    # (shape of each array, number of arrays, axis)
    ((3,), 1, 0), ((3,), 2, 0), ((3,), 2, 1), ((3,), 3, -1), ((3,), 2, -2),
    ((2, 3), 3, 0), ((2, 3), 2, 1), ((2, 3), 4, 2), ((2, 3), 2, -1), ((2, 3), 3, -3),
    ((2, 3), 1, -2),
    ((2, 1, 3), 2, 1), ((2, 3, 2), 3, 3), ((2, 3, 2), 2, -2), ((2, 3, 2), 4, -4),
    ((2, 3, 2), 2, 0), ((2, 3, 2), 3, 2), ((2, 1, 3), 2, -1), ((2, 1, 3), 4, -3),
    ((1, 2, 2, 2), 2, 4), ((1, 2, 2, 2), 3, -5), ((2, 1, 2, 3), 2, 2),
    ((2, 0), 2, 1),  # empty arrays
    ((5, 9), 4, 1),  # larger
]
for shp, n, axis in STACK_SPECS:
    stack_case(shp, n, axis)

# batchDot: B = 1 and larger batches, K = 1 (outer products), M = 1, N = 1.
for sa, sb in [((1, 2, 3), (1, 3, 4)), ((1, 1, 1), (1, 1, 1)), ((3, 2, 4), (3, 4, 5)),
               ((2, 3, 1), (2, 1, 4)), ((1, 8, 1), (1, 1, 8)), ((4, 1, 5), (4, 5, 1)),
               ((2, 1, 1), (2, 1, 3)), ((5, 3, 3), (5, 3, 3)), ((6, 2, 1), (6, 1, 2)),
               ((2, 4, 7), (2, 7, 1))]:
    batch_dot_case(U(sa), U(sb))
# larger: the kernel's vector loops with remainders, longer K
for sa, sb in [((5, 9, 17), (5, 17, 13)), ((3, 7, 33), (3, 33, 6)), ((2, 16, 16), (2, 16, 16))]:
    batch_dot_case(U(sa), U(sb), name=f"larger/{shape_of(sa)}.{shape_of(sb)}")
# cancellation inside a batch: the exact result is 0 although the terms are
# not (dot's values; batch 1 swaps the rows of a and the columns of b, so its
# output is batch 0's reversed both ways: a batch mix-up shows, and the atol,
# one per tensor, stays of the size of the terms of every batch)
a0 = vals((2, 3), [1, 2, 3, 1e4, -1e4, 1])
b0 = vals((3, 2), [1, 1e4, 1, 1, -1, 1e-4])
a, b = np.stack([a0, a0[::-1]]), np.stack([b0, b0[:, ::-1]])
batch_dot_case(a, b, name="cancel/2x2x3.2x3x2")


# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------

ALL_OPS = set(RTOL)
missing = ALL_OPS - {c["op"] for c in cases}
assert not missing, missing

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.json")
lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
text = "[\n" + ",\n".join(lines) + "\n]\n"
assert len(text) < 1_500_000, len(text)
with open(path, "w", encoding="utf-8") as f:
    f.write(text)
print(f"wrote {path}: {len(cases)} cases, {len(text)} bytes")
