#!/usr/bin/python3
"""Generate tests/vectors/ops-NN.json (one list of cases, in shards under 1 MiB
each; "ops.json" below means their concatenation in name order): reference
values and gradients of every
ndgrad operator, in float32, float64 and int32, read by both
tests/ts/ops.test.ts (through the built .wasm) and
crates/ndgrad-core/tests/vectors.rs (natively). The ops, their kinds, params
and semantics are those of docs/ops-spec.md (issue #3) and of the first op
surface.

Run with Debian's NumPy (1.24), not a pyenv/virtualenv python:

    /usr/bin/python3 tests/vectors/gen_ops.py

The output is deterministic (fixed seeds, no dict-order or time dependence):
running the script twice writes the same file. The float32 cases of the first
version of this file come first and keep their values (the same random
stream); every later block (float64, int32, the new ops) draws from a stream
of its own, seeded by the block's tag. The script ends with a self-check
(coverage per op and dtype, gradients, dtypes, tolerances) and prints the
number of cases per op and dtype.

How the references are computed
-------------------------------
Inputs are drawn in their dtype (float32 values rounded to float32; float64
values are full float64 numbers, often ones float32 cannot hold). Float
outputs and gradients are computed in float64 from those values with NumPy's
textbook formulas (not with any ndgrad code), then rounded to the output's
dtype (float32) or kept (float64). int32 references are exact integer
arithmetic (int64, then wrapped to int32 where the op wraps). The gradients
are the vector-Jacobian products `J^T · head` for a random head gradient
`head` of the output's shape, with the conventions of MXNet 1.x:

* broadcasting: the gradient of a broadcast input is summed over the
  broadcast axes (NumPy semantics, both directions);
* maximum(a, b): `a` takes the gradient where a >= b, `b` where a < b;
  minimum(a, b): `a` where a <= b, `b` where a > b;
* scalar forms (MXNet's `_maximum_scalar` etc.): the array operand `x` of
  `x.maximum(s)` and of `nd.maximum(s, x)` (MXNet calls the same kernel for
  both) takes the gradient where x >= s; for minimum where x <= s;
* max/min reductions: the full gradient goes to every element equal to the
  extremum (ties included);
* relu: (x > 0);  abs: sign(x), 0 at 0;  comparisons: no gradient;
* sign floor ceil round rint trunc: gradient 0 (MXNet gives zeros): these
  cases carry a head and all-zero gradients;
* pow: d/da = b·a^(b-1); d/db = a^b·ln(a), defined as 0 where the base a is
  0 (also for `nd.pow(s, x)` with s = 0); a negative base gives NaN (ln a);
* prod: MXNet's rule dy·prod/x (inputs here have no zeros);
* norm: ord 2: dy·x/‖x‖, 0 where ‖x‖ = 0 (‖x‖ computed without overflow or
  underflow of the squares: the "tiny"/"huge" cases need a scaled sum);
  ord 1: dy·sign(x), 0 at 0;
* the new unary ops: sin' = cos, cos' = -sin, tan' = 1 + tan², arcsin' =
  1/sqrt((1-x)(1+x)), arccos' = -arcsin', arctan' = 1/(1+x²), sinh' = cosh,
  cosh' = sinh, arcsinh' = 1/sqrt(1+x²), arccosh' = 1/sqrt((x-1)(x+1)),
  arctanh' = 1/((1-x)(1+x)), log1p' = 1/(1+x), expm1' = exp(x), log2' =
  1/(x ln 2), log10' = 1/(x ln 10), reciprocal' = -1/x², rsqrt' = -x^-1.5/2,
  cbrt' = 1/(3 cbrt(x)²), erf' = 2/sqrt(pi)·exp(-x²), softrelu(x) =
  max(x,0) + log1p(exp(-|x|)) with softrelu' = sigmoid(x);
  round is half away from zero (C round: round(2.5) = 3, round(-0.5) = -1,
  round(0.49999997) = 0), rint half to even;
* clip(x, a_min, a_max): the gradient passes where a_min <= x <= a_max
  (boundaries pass); NaN stays NaN and gets 0;
* leakyRelu: x > 0 ? x : slope·x, gradient 1 or slope (slope at 0 and -0);
* where(cond, x, y): cond != 0 in cond's own dtype (NaN counts as true, -0
  as false, a float64 1e-300 as true even for float32 x, y); x gets
  dy·(cond != 0), y dy·(cond == 0), each summed to its shape; cond none;
* softmax: y·(dy - Σ dy·y); logSoftmax: dy - softmax·Σ dy (along the axis);
* take/pick: indices are truncated toward zero (-0.5 -> 0, -1.5 -> -1,
  4.9 -> 4), then clamped to [0, n-1] ("clip") or taken modulo n,
  non-negative ("wrap"); the data gets dy scattered back (take: repeated
  indices add up), the indices none;
* topk ("value", "both") and sort: dy scattered back to the chosen /
  sorting positions;
* tile, repeat: the gradient sums the copies; flip: flip of dy; slice,
  sliceAxis: dy scattered into zeros;
* dot with transpose flags: the gradients of the transposed operands,
  transposed back (a flag on a 1-D operand changes nothing);
* astype between float dtypes: dy cast to the input's dtype; from or to
  int32: no gradient.
Not differentiable (no head, no grads): the comparisons, oneHot, argmax,
argmin, argsort, topk "indices"/"mask", astype from/to int32, and every int32
case.

Tolerances
----------
Each expected tensor carries `rtol` and `atol`; an element `got` passes when

    want is NaN:   got is NaN
    want is ±inf:  got == want
    otherwise:     got is finite and |got - want| <= atol + rtol·|want|

int32 tensors are exact: rtol = atol = 0 (the rule above then asks for
equality). Float tensors: `rtol` depends on the op and the dtype:

* float32 2^-20 (8 float32 ulps), float64 2^-49 (8 float64 ulps) for ops built
  from correctly rounded IEEE arithmetic (+ - * / sqrt, selections, data
  movement, float64-accumulated float32 sums): output and gradient formulas
  chain at most ~4 roundings of half an ulp each on the engine's side (and,
  for float64, about as many in the float64 reference), so 8 ulps leaves a
  margin. This covers add sub mul div maximum minimum, the comparisons, neg
  sqrt square abs relu sign reciprocal, floor ceil round rint trunc, max min,
  all movement and index ops (reshape ... stack, tile repeat flip slice
  sliceAxis take pick oneHot argmax argmin topk sort argsort), clip
  leakyRelu where and astype; those that only move values (concat, stack,
  slice, take, ...) are exact and 8 ulps is only the common bound; for
  float32 also sum mean prod (accumulated in float64);
* float32 1e-5 (~84 ulps), float64 1e-12 for exp, log, tanh, sigmoid, pow and
  the new transcendental ops (sin cos tan arcsin arccos arctan sinh cosh
  arcsinh arccosh arctanh log1p expm1 log2 log10 rsqrt cbrt erf softrelu,
  softmax logSoftmax): libm kernels within a few ulps, not correctly
  rounded, whose gradients reuse those values; for norm (MXNet's
  scaled-sum-of-squares algorithm), dot and batchDot (accumulation; batchDot
  is one dot per batch, with the gradients dY·Bᵀ and Aᵀ·dY per batch);
* float64 1e-12 also for sum, mean and prod: without a wider accumulator a
  float64 sum or product of n terms carries n-1 roundings, up to
  (n-1)·2^-53 relative to Σ|terms|, which 8 ulps would not cover for the
  longer reductions here.
`atol` is the smallest normal number of the dtype (2^-126 for float32,
2^-1022 for float64: results in the subnormal range are not claimed to be
accurate, e.g. sigmoid(-90), exp(-745), erf'(10)) unless the computation sums
terms that can cancel. Then `atol = rtol · max_i m_i`, where `m_i` is the sum
of the absolute values of the terms that make element i: rounding of the
terms gives an absolute error proportional to that sum, not to the (possibly
tiny) result. This covers broadcast gradients (summed over broadcast axes;
where's too), dot and batchDot (Σ|a||b| over K, per batch; for the gradients
Σ|dy||b| and Σ|a||dy|), sum/mean (Σ|x|), the `1 - y` and `1 - y²` inside the
sigmoid and tanh gradients (terms 1 and y), take's scatter-add over repeated
indices and the tile/repeat gradients (Σ|dy| over the copies), logSoftmax's
output (x - max) - log Σ exp (terms |x - max| and |log Σ|; the engine
subtracts the max first, as the spec says), softmax's gradient
y·(dy - Σ dy·y) (terms y·(|dy| + Σ|dy|·y)) and logSoftmax's dy - y·Σ dy
(terms |dy| + y·Σ|dy|).

Inputs near domain edges ask for the accurate formulas, not the naive ones:
arcsin/arccos/arctanh near ±1 and arccosh just above 1 (gradients with
(1-x)(1+x) and (x-1)(x+1); acosh via log1p), log1p near -1 and 0, expm1 near
0 and its gradient exp(x) (not expm1(x) + 1), softrelu far below 0 (log1p of
exp(-|x|)), rsqrt, log2/log10 of the smallest normal number. A float32 engine
that computes these in float32 with the textbook cancelling forms fails
there; one that computes them in float64 and rounds passes.

JSON schema
-----------
ops.json is a JSON list of cases, one per line:

    {
      "name":   str,      unique, "<op>/<description>"; float64 cases are
                          "<op>/f64/...", int32 cases "<op>/i32/..."
      "op":     str,      the API name (docs/ops-spec.md):
                          add sub mul div pow maximum minimum
                          equal notEqual greater greaterEqual lesser lesserEqual
                          neg exp log sqrt square abs sigmoid tanh relu sign
                          sin cos tan arcsin arccos arctan sinh cosh arcsinh
                          arccosh arctanh log1p expm1 log2 log10 reciprocal
                          rsqrt cbrt floor ceil round rint trunc erf softrelu
                          sum mean max min prod norm
                          reshape transpose broadcastTo at slice sliceAxis copy
                          expandDims squeeze concat stack tile repeat flip
                          dot batchDot clip leakyRelu where softmax logSoftmax
                          take pick oneHot argmax argmin topk sort argsort astype
      "kind":   str,      how to call it:
                  "binary"  op(a, b), two arrays, NumPy broadcasting
                  "scalar"  op(x, s), or op(s, x) when params.reverse
                  "unary"   op(x)
                  "reduce"  op(x, params.axis, params.keepdims)
                            (sum mean max min prod)
                  "norm"    nd.norm(x, {ord, axis, keepdims})
                  "concat"  nd.concat(inputs, params.axis): any number (>= 1)
                            of arrays, equal shapes except along the axis
                            (a piece may have length 0 there)
                  "stack"   nd.stack(inputs, params.axis): any number (>= 1)
                            of arrays of one shape; params.axis indexes the
                            result's new axis (-(ndim+1) <= axis <= ndim)
                  "batchDot" nd.batchDot(a, b), (B,M,K)·(B,K,N) -> (B,M,N)
                  "dot"     nd.dot(a, b, {transposeA, transposeB})
                  "where"   nd.where(cond, x, y): inputs [cond, x, y]
                  "take"    nd.take(a, indices, axis, mode): inputs [a, indices]
                  "pick"    nd.pick(data, index, axis, keepdims, mode):
                            inputs [data, index]
                  "oneHot"  nd.oneHot(indices, depth, onValue, offValue, dtype)
                  "topk"    nd.topk(x, {axis, k, retTyp, isAscend})
                  "sort" / "argsort"  op(x, {axis, isAscend})
                  "slice"   x.slice(begin, end[, step]) (axis 0) when
                            params.begin is a number or null;
                            nd.slice(x, begin[], end[][, step[]]) (MXNet's
                            multi-axis slice) when it is a list
                  otherwise the op name itself (reshape transpose broadcastTo
                  at sliceAxis copy expandDims squeeze tile repeat flip clip
                  leakyRelu softmax logSoftmax argmax argmin astype): one
                  array and the params below
      "dtype":  "float32" | "float64" | "int32": the case's data dtype, that
                of its inputs, except: where (that of x and y; cond may have
                any dtype), take/pick (that of the data; the indices may have
                any dtype), oneHot (that of the indices). Outputs have the
                case dtype except astype (params.dtype), oneHot
                (params.dtype); index outputs (argmax argmin argsort, topk
                "indices", the indices of "both") and topk "mask" have the
                input's dtype (float32 indices for float32 input, as MXNet).
                Every tensor says its dtype anyway.
      "params": {         only the keys the kind uses, always all of them:
                  "scalar": number   cast to the dtype by the op (MXNet's
                                     DType(scalar)): rounded to float32,
                                     exact for float64, truncated toward zero
                                     for int32 (2.7 -> 2, -1.5 -> -1)  [scalar]
                  "reverse": bool    number on the left          [scalar]
                  "axis": null | int | [int...]  null = all  [reduce, norm, squeeze]
                          int                    [expandDims, concat, stack,
                                                  softmax, logSoftmax, take, pick,
                                                  topk, sort, argsort, sliceAxis]
                          null | int             [argmax, argmin, repeat]
                                                 (null: flattened; argmax
                                                 [1], or [1]*ndim with keepdims)
                          int | [int...]         [flip]
                  "keepdims": bool               [reduce, norm, pick, argmax, argmin]
                  "ord": 1 | 2                   [norm]
                  "shape": [int...]  reshape spec (one -1 allowed) or target
                                     of broadcastTo   [reshape, broadcastTo]
                  "axes": null | [int...]  null = reversed     [transpose]
                  "index": int                                 [at]
                  "begin", "end": int | null,
                  "step": int | null (null: no step argument, 1)
                                     axis 0, NumPy x[begin:end:step]  [slice]
                  "begin", "end": [int | null, ...],
                  "step": [int | null, ...] | null
                                     per axis (lists of one length <= ndim;
                                     the other axes whole), null = the NumPy
                                     default bound (step 1); negative steps
                                     allowed                          [slice]
                  "axis", "begin": int, "end": int | null  MXNet slice_axis,
                                     in range and non-empty       [sliceAxis]
                  "transpose_a", "transpose_b": bool              [dot]
                  "a_min", "a_max": number  cast like scalars     [clip]
                  "slope": number           cast like scalars     [leakyRelu]
                  "mode": "clip" | "wrap"                         [take, pick]
                  "depth": int, "on_value": number, "off_value": number,
                  "dtype": "float32" | "float64" | "int32"
                                     the output dtype             [oneHot]
                  "k": int (1 <= k <= n), "ret_typ": "value" | "indices" |
                  "mask" | "both", "is_ascend": bool              [topk]
                  "is_ascend": bool                               [sort, argsort]
                  "reps": [int...]   NumPy tile                   [tile]
                  "repeats": int                                  [repeat]
                  "dtype": "float32" | "float64" | "int32"  target [astype]
                },
      "inputs": [{"dtype", "shape": [int...], "data": [value...]}, ...],
      "output": {"dtype", "shape", "data", "rtol": num, "atol": num},
      "outputs": [{"dtype", "shape", "data", "rtol", "atol"}, ...]
                 instead of "output" for the multi-output form, used only by
                 topk with ret_typ "both": [values, indices]
      "head":   {"dtype", "shape", "data"}  differentiable cases only: the head
                 gradient of the output (of outputs[0], the values, for "both")
      "grads":  [{"dtype", "shape", "data", "rtol", "atol"} | null, ...]
                 differentiable cases only: the gradient of each input, in
                 input order; null for an input that gets none (where's cond,
                 take's indices, pick's index, int32 inputs)
    }

`data` is the flat C-order list of values. int32 values are JSON integers.
A float value is a JSON number, or one of the strings "nan", "inf", "-inf",
"-0" (negative zero). float32 numbers are the shortest decimal that rounds
to the float32 value: reading them as float64 and rounding to float32
(`Math.fround`, `as f32`) gives the exact float32 value. float64 numbers are
Python's repr of the value (the shortest decimal that parses back to it):
read as float64 they are exact. Integral float values are written as
integers (checked here, per dtype). The values of params are plain JSON
numbers, cast to the dtype by the op as said above.
Shapes: a full reduction has shape [1] (MXNet 1.x); so does dot of two 1-D
arrays, `at` on a 1-D array and argmax/argmin with axis null. 0-d arrays
(shape []) appear only in elementwise ops (binary, scalar, unary, clip,
leakyRelu, where, astype) and keep the shape [] (or broadcast).
Empty arrays (a 0-row slice, a zero-length concat piece) have data [].

Coverage (asserted at the end of this script)
---------------------------------------------
Every op has at least 3 float32 and 3 float64 cases; int32 cases exist
exactly for the ops docs/ops-spec.md allows on int32 data: add sub mul div pow
maximum minimum, the comparisons, neg abs square sign relu, sum prod mean max
min, the movement ops (reshape transpose broadcastTo at slice sliceAxis copy
expandDims squeeze concat stack tile repeat flip), argmax argmin, topk
(ret_typ "indices" only), sort, oneHot, where, astype (int32 take/pick
indices appear in float cases). Every differentiable op has gradient vectors
in both float dtypes; every float case of a differentiable op has them. Also
asserted: topk with every ret_typ both ways, take and pick in both modes with
int32 and fractional indices, argmax/argmin with axis null/int/negative and
keepdims both ways, sort/argsort both ways, norm ord 1 and 2, dot with all
four transpose combinations, both slice forms, 0-d inputs, astype between
all three dtypes.
The vectors avoid ties where the result would depend on the tie order
(topk, argsort, the sort gradient); argmax/argmin ties and NaN are pinned
(first occurrence; the first NaN wins); int32 sort values have ties. int32
values stay in a modest range: only the explicit "wrap" cases (add, mul,
sum, prod) overflow, in two's complement. No int32 division by zero, no
INT_MIN / -1, no pow out of range.
"""

import json
import math
import os
import zlib

import numpy as np

assert np.__version__.startswith("1.24"), "generate with NumPy 1.24 (/usr/bin/python3)"
np.seterr(all="ignore")  # inf/nan are expected in a few edge cases

F32, F64, I32 = np.float32, np.float64, np.int32
NP = {"float32": F32, "float64": F64, "int32": I32}
DTYPES = ("float32", "float64", "int32")
PREFIX = {"float32": "", "float64": "f64/", "int32": "i32/"}  # of the case names

ELEM = 2.0 ** -20  # 8 float32 ulps
TRANS = 1e-5  # ~84 float32 ulps
TINY = 2.0 ** -126  # smallest normal float32
ELEM64 = 2.0 ** -49  # 8 float64 ulps
TRANS64 = 1e-12
TINY64 = 2.0 ** -1022  # smallest normal float64
TINY_OF = {"float32": TINY, "float64": TINY64}

COMPARISONS = {
    "equal": np.equal, "notEqual": np.not_equal, "greater": np.greater,
    "greaterEqual": np.greater_equal, "lesser": np.less, "lesserEqual": np.less_equal,
}
ARITH = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
UNARY_OLD = ("neg", "exp", "log", "sqrt", "square", "abs", "sigmoid", "tanh", "relu", "sign")
UNARY_NEW = ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh",
             "arctanh", "log1p", "expm1", "log2", "log10", "reciprocal", "rsqrt", "cbrt", "floor", "ceil",
             "round", "rint", "trunc", "erf", "softrelu")
ROUNDING = ("floor", "ceil", "round", "rint", "trunc")
ZERO_GRAD_UNARY = ROUNDING + ("sign",)  # gradient 0, recorded as zeros (docs/ops-spec.md)
REDUCE_OPS = ("sum", "mean", "max", "min", "prod")
MOVEMENT_OLD = ("reshape", "transpose", "broadcastTo", "at", "slice", "copy", "expandDims", "squeeze",
                "concat", "stack")
NEW_OPS = ("clip", "leakyRelu", "where", "softmax", "logSoftmax", "take", "pick", "oneHot", "argmax",
           "argmin", "topk", "sort", "argsort", "tile", "repeat", "flip", "sliceAxis", "astype")
ALL_OPS = (ARITH + tuple(COMPARISONS) + UNARY_OLD + UNARY_NEW + REDUCE_OPS + ("norm",) + MOVEMENT_OLD
           + ("dot", "batchDot") + NEW_OPS)
assert len(set(ALL_OPS)) == len(ALL_OPS)

# The ops docs/ops-spec.md defines for int32 (data, not only indices).
INT32_OPS = (set(ARITH) | set(COMPARISONS) | {"neg", "abs", "square", "sign", "relu"} | set(REDUCE_OPS)
             | set(MOVEMENT_OLD) | {"tile", "repeat", "flip", "sliceAxis"}
             | {"argmax", "argmin", "topk", "sort", "oneHot", "where", "astype"})
# Never a gradient. topk has one for ret_typ "value"/"both" only, astype for
# float -> float only; every other op has one for float dtypes.
NOT_DIFFERENTIABLE = set(COMPARISONS) | {"oneHot", "argmax", "argmin", "argsort"}

# rtol per op: float32 / float64 (int32 is exact: rtol = atol = 0)
TRANS_OPS = {"exp", "log", "sigmoid", "tanh", "pow", "norm", "dot", "batchDot", "softmax", "logSoftmax",
             "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh",
             "arctanh", "log1p", "expm1", "log2", "log10", "rsqrt", "cbrt", "erf", "softrelu"}
ACC_OPS = {"sum", "mean", "prod"}  # float64: n-1 roundings in a float64 accumulator


def rtol_for(op, dt):
    assert op in ALL_OPS, op
    if dt == "int32":
        return 0.0
    if dt == "float32":
        return TRANS if op in TRANS_OPS else ELEM
    assert dt == "float64", dt
    return TRANS64 if op in TRANS_OPS or op in ACC_OPS else ELEM64


SEED = 20250611
rng = np.random.default_rng(SEED)
CUR = "float32"  # the dtype that U/away/ints/vals draw
cases = []
names = set()


def section(tag, dt):
    """Start a block of cases appended after the float32 cases of the first
    version of this file: its own random stream (seeded by the tag), so that
    adding or changing a block changes no value of any other block."""
    global rng, CUR
    rng = np.random.default_rng([SEED, zlib.crc32(tag.encode())])
    CUR = dt


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------

def enc(v, dt="float32"):
    """One value of dtype `dt` -> JSON. float32: the shortest decimal that
    round-trips through float64 parse + float32 rounding; float64: Python's
    repr (shortest round trip); int32: an integer."""
    if dt == "int32":
        i = int(v)
        assert i == v and -2 ** 31 <= i < 2 ** 31, v
        return i
    if dt == "float32":
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
    assert dt == "float64", dt
    f = float(F64(v))
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else 0
    assert float(json.dumps(f)) == f, f  # repr is the shortest decimal that parses back exactly
    if f == int(f) and abs(f) < 2**53:
        return int(f)
    return f


def tensor(a, dt, rtol=None, atol=None):
    a = np.asarray(a)
    if dt == "int32":
        flat = a.ravel()
        if a.dtype.kind == "f":
            assert np.all(np.trunc(flat) == flat), flat
        data = [enc(v, dt) for v in flat.tolist()]
    else:
        data = [enc(v, dt) for v in a.astype(NP[dt]).ravel()]
    out = {"dtype": dt, "shape": [int(d) for d in a.shape], "data": data}
    if rtol is not None:
        out["rtol"] = rtol
        out["atol"] = atol
    return out


def tol_atol(rtol, mag, dt="float32"):
    """atol for a tensor whose elements sum terms of magnitude `mag` (or None)."""
    if dt == "int32":
        return 0.0
    tiny = TINY_OF[dt]
    if mag is None:
        return tiny
    m = np.asarray(mag, dtype=np.float64)
    m = m[np.isfinite(m)]
    if m.size == 0:
        return tiny
    return max(tiny, float(rtol * m.max()))


def shape_of(shape):
    return "x".join(map(str, shape)) if len(shape) else "0d"


def dt_of(a):
    return {np.dtype(F32): "float32", np.dtype(F64): "float64", np.dtype(I32): "int32"}[np.asarray(a).dtype]


# ---------------------------------------------------------------------------
# inputs (of dtype CUR unless told)
# ---------------------------------------------------------------------------

def U(shape, lo=-3.0, hi=3.0):
    assert CUR != "int32"
    return rng.uniform(lo, hi, size=shape).astype(NP[CUR])


def away(shape, lo=0.5, hi=3.0):
    """Random sign times uniform(lo, hi): away from zero."""
    assert CUR != "int32"
    s = rng.choice([-1.0, 1.0], size=shape)
    return (s * rng.uniform(lo, hi, size=shape)).astype(NP[CUR])


def ints(shape, lo=-2, hi=2, scale=1.0):
    """Small integers (times scale): many ties."""
    return (rng.integers(lo, hi + 1, size=shape) * scale).astype(NP[CUR])


def nonzero_ints(shape, m=7):
    """Integers in [-m, m] without 0 (int32 divisors)."""
    v = rng.integers(1, m + 1, size=shape) * rng.choice([-1, 1], size=shape)
    return v.astype(NP[CUR])


def head_for(shape, dt="float32"):
    return rng.uniform(-1.0, 1.0, size=shape).astype(NP[dt])


def aux_head(shape, dt, key):
    """A head from a stream of its own (for cases whose head was added later,
    so that the draws of the main stream stay where they were)."""
    return np.random.default_rng([SEED, zlib.crc32(key.encode())]).uniform(-1.0, 1.0, size=shape).astype(NP[dt])


def vals(shape, values, dt=None):
    return np.array(values, dtype=NP[dt or CUR]).reshape(shape)


def cast_scalar(s, dt):
    """A number parameter as the op sees it: DType(s) (MXNet): float32
    rounding, float64 exact, int32 truncation toward zero."""
    if dt == "float32":
        return float(F32(s))
    if dt == "float64":
        return float(s)
    return int(math.trunc(s))


# ---------------------------------------------------------------------------
# float64 references (float32 and float64 cases); exact int64 ones (int32)
# ---------------------------------------------------------------------------

def d64(a):
    return np.asarray(a, dtype=np.float64)


def i64(a):
    return np.asarray(a, dtype=np.int64)


def wrap32(v):
    """Two's complement wrap of int64 values to int32 (kept as int64)."""
    return np.asarray(v, dtype=np.int64).astype(np.int32).astype(np.int64)


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


def int_binary(op, a, b):
    """int32 semantics: add/sub/mul wrap, div truncates toward zero, pow is
    trunc(pow(double a, double b)), comparisons give 0/1."""
    a, b = np.broadcast_arrays(i64(a), i64(b))
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b  # exact in int64 for int32 operands
    elif op == "div":
        assert np.all(b != 0), "no zero divisors in the vectors"
        q = np.abs(a) // np.abs(b)
        r = np.where((a < 0) != (b < 0), -q, q)
        assert np.all((r >= -2 ** 31) & (r < 2 ** 31)), "INT_MIN / -1 traps in wasm: not in the vectors"
    elif op == "pow":
        p = np.trunc(np.power(a.astype(F64), b.astype(F64)))
        assert np.all(np.isfinite(p) & (np.abs(p) < 2 ** 31)), "pow out of int32 range: not in the vectors"
        r = p.astype(np.int64)
    elif op == "maximum":
        r = np.maximum(a, b)
    elif op == "minimum":
        r = np.minimum(a, b)
    else:
        r = COMPARISONS[op](a, b).astype(np.int64)
    return wrap32(r)


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


def scalar_fwd(op, x, s, reverse, dt):
    x = d64(x)
    s = np.float64(cast_scalar(s, dt))
    return binary_fwd(op, s, x) if reverse else binary_fwd(op, x, s)


def scalar_partial(op, x, s, reverse, dt):
    x = d64(x)
    s = np.float64(cast_scalar(s, dt))
    if op in ("maximum", "minimum"):
        # MXNet: nd.maximum(s, x) is _maximum_scalar(x, s) (commutative).
        return binary_partials(op, x, s)[0]
    if reverse:
        if op == "pow":
            with np.errstate(all="ignore"):
                return np.where(s == 0, 0.0, np.power(s, x) * np.log(s)) * np.ones_like(x)
        return binary_partials(op, np.full_like(x, s), x)[1]
    return binary_partials(op, x, np.full_like(x, s))[0]



def erf(x):
    x = d64(x)
    return np.array([math.erf(v) for v in x.ravel()], dtype=np.float64).reshape(x.shape)


def round_half_away(x):
    """C round(): half away from zero (MXNet), keeping -0 (round(-0.3) = -0)."""
    x = d64(x)
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):
        up = np.abs(x - t) >= 0.5  # x - t is exact
    return np.where(up, t + np.sign(x), t)


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
        "sin": lambda: np.sin(x),
        "cos": lambda: np.cos(x),
        "tan": lambda: np.tan(x),
        "arcsin": lambda: np.arcsin(x),
        "arccos": lambda: np.arccos(x),
        "arctan": lambda: np.arctan(x),
        "sinh": lambda: np.sinh(x),
        "cosh": lambda: np.cosh(x),
        "arcsinh": lambda: np.arcsinh(x),
        "arccosh": lambda: np.arccosh(x),
        "arctanh": lambda: np.arctanh(x),
        "log1p": lambda: np.log1p(x),
        "expm1": lambda: np.expm1(x),
        "log2": lambda: np.log2(x),
        "log10": lambda: np.log10(x),
        "reciprocal": lambda: 1.0 / x,
        "rsqrt": lambda: 1.0 / np.sqrt(x),
        "cbrt": lambda: np.cbrt(x),
        "floor": lambda: np.floor(x),
        "ceil": lambda: np.ceil(x),
        "round": lambda: round_half_away(x),
        "rint": lambda: np.rint(x),
        "trunc": lambda: np.trunc(x),
        "erf": lambda: erf(x),
        # stable log(1 + exp(x))
        "softrelu": lambda: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))),
    }[op]()


def int_unary(op, x):
    x = i64(x)
    return wrap32({
        "neg": lambda: -x,
        "abs": lambda: np.abs(x),
        "square": lambda: x * x,
        "sign": lambda: np.sign(x),
        "relu": lambda: np.maximum(x, 0),
    }[op]())


def unary_partial(op, x):
    """(d out/d x, magnitude of the terms of that derivative or None).
    Near the domain edges the textbook forms with (1 - x)(1 + x) and
    (x - 1)(x + 1) are used: no cancellation, so no atol is needed."""
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
    d = {
        "sin": lambda: np.cos(x),
        "cos": lambda: -np.sin(x),
        "tan": lambda: 1.0 + np.tan(x) ** 2,
        "arcsin": lambda: 1.0 / np.sqrt((1.0 - x) * (1.0 + x)),
        "arccos": lambda: -1.0 / np.sqrt((1.0 - x) * (1.0 + x)),
        "arctan": lambda: 1.0 / (1.0 + x * x),
        "sinh": lambda: np.cosh(x),
        "cosh": lambda: np.sinh(x),
        "arcsinh": lambda: 1.0 / np.sqrt(1.0 + x * x),
        "arccosh": lambda: 1.0 / np.sqrt((x - 1.0) * (x + 1.0)),
        "arctanh": lambda: 1.0 / ((1.0 - x) * (1.0 + x)),
        "log1p": lambda: 1.0 / (1.0 + x),
        "expm1": lambda: np.exp(x),
        "log2": lambda: 1.0 / (x * math.log(2.0)),
        "log10": lambda: 1.0 / (x * math.log(10.0)),
        "reciprocal": lambda: -1.0 / (x * x),
        "rsqrt": lambda: -0.5 / (x * np.sqrt(x)),
        "cbrt": lambda: 1.0 / (3.0 * np.cbrt(x) ** 2),
        "erf": lambda: 2.0 / math.sqrt(math.pi) * np.exp(-x * x),
        "softrelu": lambda: 1.0 / (1.0 + np.exp(-x)),
    }[op]()
    return d, None


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = [axis]
    if len(axis) == 0:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in axis))


def reduce_ref(op, x, axis, keepdims, dy, ord=2, scaled=False):
    """(output, output magnitude or None, grad, grad magnitude or None).
    `scaled`: the L2 norm as s·sqrt(Σ(x/s)²), s = max|x| (float64 inputs,
    whose squares can overflow or underflow in float64)."""
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
    elif op == "norm" and ord == 1:
        yk, mag = np.abs(x).sum(axis=axes, keepdims=True), None
    elif op == "norm" and scaled:
        s = np.abs(x).max(axis=axes, keepdims=True)
        s1 = np.where(s == 0, 1.0, s)
        yk, mag = s * np.sqrt(((x / s1) ** 2).sum(axis=axes, keepdims=True)), None
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
    elif ord == 1:
        g = dyk * np.sign(x)
    else:
        g = dyk * np.where(yk == 0, 0.0, x / np.where(yk == 0, 1.0, yk))
    return y, (None if mag is None else mag.reshape(oshape)), g, None


def int_reduce(op, x, axis, keepdims):
    """int32 reductions: sum/prod wrap, mean = trunc(float64 sum / n)."""
    x = i64(x)
    axes = norm_axes(axis, x.ndim)
    n = int(np.prod([x.shape[i] for i in axes]))
    if op == "sum":
        yk = wrap32(x.sum(axis=axes, keepdims=True))  # int64 wraps mod 2^64: still right mod 2^32
    elif op == "prod":
        yk = wrap32(x.prod(axis=axes, keepdims=True))
    elif op == "mean":
        s = x.sum(axis=axes, keepdims=True)
        assert np.all(np.abs(s) < 2 ** 53)
        yk = np.trunc(s.astype(F64) / n).astype(np.int64)
    elif op == "max":
        yk = x.max(axis=axes, keepdims=True)
    elif op == "min":
        yk = x.min(axis=axes, keepdims=True)
    else:
        raise ValueError(op)
    if keepdims:
        return yk
    return yk.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes) or (1,))


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


def index_values(idx, n, mode):
    """take/pick indices: truncated toward zero, then clamped to [0, n-1]
    ("clip") or taken modulo n, non-negative ("wrap")."""
    j = np.trunc(d64(idx)).astype(np.int64)
    return np.clip(j, 0, n - 1) if mode == "clip" else np.mod(j, n)


# ---------------------------------------------------------------------------
# case builders
# ---------------------------------------------------------------------------

def emit(name, op, kind, params, inputs, out, out_mag=None, grads=None, *, dtype=None, out_dtype=None,
         outputs=None):
    """inputs: typed arrays (float32/float64/int32; their dtype is written).
    out: the reference (float64, or int64 for int32) of dtype out_dtype
    (default: the case dtype, which defaults to the first input's).
    outputs: [(array, dtype), ...] instead of out for multi-output kinds.
    grads: None (no gradient) or (head, [None | (grad, mag|None), ...]), one
    entry per input, None for an input that gets no gradient."""
    dtype = dtype or dt_of(inputs[0])
    name = f"{op}/{PREFIX[dtype]}{name}"
    assert name not in names, name
    names.add(name)
    case = {
        "name": name,
        "op": op,
        "kind": kind,
        "dtype": dtype,
        "params": params,
        "inputs": [tensor(x, dt_of(x)) for x in inputs],
    }
    if outputs is None:
        odt = out_dtype or dtype
        rtol = rtol_for(op, odt)
        case["output"] = tensor(out, odt, rtol, tol_atol(rtol, out_mag, odt))
        out_shape = list(np.shape(out))
    else:
        assert out is None and out_mag is None
        case["outputs"] = []
        for o, odt in outputs:
            rtol = rtol_for(op, odt)
            case["outputs"].append(tensor(o, odt, rtol, tol_atol(rtol, None, odt)))
        out_shape = list(np.shape(outputs[0][0]))
    if grads is not None:
        assert dtype != "int32", name
        head, gs = grads
        assert list(head.shape) == out_shape, (name, head.shape, out_shape)
        case["head"] = tensor(head, dt_of(head))
        case["grads"] = []
        assert len(gs) == len(inputs), name
        for x, gm in zip(inputs, gs):
            if gm is None:
                case["grads"].append(None)
                continue
            g, mag = gm
            g = np.asarray(g)
            gdt = dt_of(x)
            assert gdt != "int32", name
            assert g.shape == x.shape, (name, g.shape, x.shape)
            rtol = rtol_for(op, gdt)
            case["grads"].append(tensor(g, gdt, rtol, tol_atol(rtol, mag, gdt)))
        assert any(g is not None for g in case["grads"]), name
    cases.append(case)


def binary_case(op, name, a, b):
    dt = dt_of(a)
    assert dt_of(b) == dt, name
    if dt == "int32":
        emit(name, op, "binary", {}, [a, b], int_binary(op, a, b))
        return
    out = binary_fwd(op, a, b)
    if op in COMPARISONS:
        emit(name, op, "binary", {}, [a, b], out)
        return
    dy = head_for(out.shape, dt)
    da, db = binary_partials(op, a, b)
    ga, gb = dy * da, dy * db
    grads = []
    for x, g in ((a, ga), (b, gb)):
        summed = x.shape != out.shape
        grads.append((sum_to(g, x.shape), sum_to(np.abs(g), x.shape) if summed else None))
    emit(name, op, "binary", {}, [a, b], out, None, (dy, grads))


def scalar_case(op, name, x, s, reverse):
    dt = dt_of(x)
    params = {"scalar": s, "reverse": reverse}
    if dt == "int32":
        si = np.full(x.shape, cast_scalar(s, dt), dtype=np.int64)
        emit(name, op, "scalar", params, [x], int_binary(op, si, x) if reverse else int_binary(op, x, si))
        return
    out = scalar_fwd(op, x, s, reverse, dt)
    if op in COMPARISONS:
        emit(name, op, "scalar", params, [x], out)
        return
    dy = head_for(out.shape, dt)
    emit(name, op, "scalar", params, [x], out, None,
         (dy, [(dy * scalar_partial(op, x, s, reverse, dt), None)]))


def unary_case(op, name, x):
    dt = dt_of(x)
    if dt == "int32":
        emit(name, op, "unary", {}, [x], int_unary(op, x))
        return
    out = np.asarray(unary_fwd(op, x))
    if op in ZERO_GRAD_UNARY:
        dy = aux_head(out.shape, dt, f"{dt}/{op}/{name}")
        emit(name, op, "unary", {}, [x], out, None, (dy, [(np.zeros(x.shape), None)]))
        return
    dy = head_for(out.shape, dt)
    d, mag = unary_partial(op, x)
    gmag = None if mag is None else np.abs(dy) * mag
    emit(name, op, "unary", {}, [x], out, None, (dy, [(dy * d, gmag)]))


def reduce_case(op, x, axis, keepdims, name=None, ord=None):
    """sum mean max min prod (kind "reduce") and norm (kind "norm"; ord None:
    2, and a name without the ord, as the first norm cases had)."""
    dt = dt_of(x)
    if name is None:
        ax = "all" if axis is None else ("ax" + ",".join(map(str, axis)) if isinstance(axis, list)
                                         else f"ax{axis}")
        name = f"{shape_of(x.shape)}/{ax}" + ("/keepdims" if keepdims else "")
        if op == "norm" and ord is not None:
            name += f"/ord{ord}"
    ord = 2 if ord is None else ord
    if op == "norm":
        kind, params = "norm", {"ord": ord, "axis": axis, "keepdims": keepdims}
    else:
        kind, params = "reduce", {"axis": axis, "keepdims": keepdims}
    if dt == "int32":
        emit(name, op, kind, params, [x], int_reduce(op, x, axis, keepdims))
        return
    axes = norm_axes(axis, x.ndim)
    if keepdims:
        oshape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        oshape = tuple(d for i, d in enumerate(x.shape) if i not in axes) or (1,)
    dy = head_for(oshape, dt)
    y, ymag, g, gmag = reduce_ref(op, x, axis, keepdims, dy, ord, scaled=(dt == "float64"))
    emit(name, op, kind, params, [x], y, ymag, (dy, [(g, gmag)]))


def concat_case(pieces, axis, name=None):
    """nd.concat(pieces, axis); the gradient of piece i is its slice of dy."""
    if name is None:
        name = "+".join(shape_of(p.shape) for p in pieces) + f"/ax{axis}"
    dt = dt_of(pieces[0])
    out = np.concatenate([d64(p) for p in pieces], axis=axis)
    if dt == "int32":
        emit(name, "concat", "concat", {"axis": axis}, pieces, out)
        return
    ax = axis % out.ndim
    dy = head_for(out.shape, dt)
    cuts = np.cumsum([p.shape[ax] for p in pieces])[:-1]
    gs = np.split(d64(dy), cuts, axis=ax)
    emit(name, "concat", "concat", {"axis": axis}, pieces, out, None,
         (dy, [(g, None) for g in gs]))


def stack_case(shape, n, axis, name=None, maker=None):
    """nd.stack of n arrays of `shape`; the gradient of array i is dy's
    index i along the new axis."""
    xs = [(maker or U)(shape) for _ in range(n)]
    if name is None:
        name = f"{n}x{shape_of(shape)}/ax{axis}"
    dt = dt_of(xs[0])
    out = np.stack([d64(x) for x in xs], axis=axis)
    if dt == "int32":
        emit(name, "stack", "stack", {"axis": axis}, xs, out)
        return
    ax = axis % out.ndim
    dy = head_for(out.shape, dt)
    gs = [np.take(d64(dy), i, axis=ax) for i in range(n)]
    emit(name, "stack", "stack", {"axis": axis}, xs, out, None, (dy, [(g, None) for g in gs]))


def batch_dot_case(a, b, name=None):
    if name is None:
        name = f"{shape_of(a.shape)}.{shape_of(b.shape)}"
    dy = head_for((a.shape[0], a.shape[1], b.shape[2]), dt_of(a))
    out, mag, ga, gb = batch_dot_ref(a, b, dy)
    emit(name, "batchDot", "batchDot", {}, [a, b], out, mag, (dy, [ga, gb]))


def dot_case(a, b, ta=False, tb=False, name=None):
    """dot(a, b, {transposeA, transposeB}); a transpose flag on a 1-D array
    changes nothing (MXNet)."""
    dt = dt_of(a)
    if name is None:
        name = f"{shape_of(a.shape)}{'T' if ta else ''}.{shape_of(b.shape)}{'T' if tb else ''}"
    A = a.T if ta and a.ndim == 2 else a
    B = b.T if tb and b.ndim == 2 else b
    out, mag = dot_ref(A, B)
    dy = head_for(out.shape, dt)
    gA, gAm, gB, gBm = dot_grads(A, B, dy)
    if ta and a.ndim == 2:
        gA, gAm = gA.T, gAm.T
    if tb and b.ndim == 2:
        gB, gBm = gB.T, gBm.T
    emit(name, "dot", "dot", {"transpose_a": ta, "transpose_b": tb}, [a, b], out, mag,
         (dy, [(gA, gAm), (gB, gBm)]))


def movement_case(op, name, x, params, out, grad_fn, grad_mag_fn=None):
    """One-input ops whose kind is the op name; grad_fn maps the head
    (float64) to the input gradient, grad_mag_fn (if the gradient sums
    elements of the head) maps |head| to the magnitudes."""
    dt = dt_of(x)
    if dt == "int32":
        emit(name, op, op, params, [x], out)
        return
    dy = head_for(np.shape(out), dt)
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
    movement_case("slice", f"{shape_of(shp)}/{b}:{e}", x, {"begin": b, "end": e, "step": None}, out, g_slice)

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
    dot_case(U(sa), U(sb))

# cancellation inside dot: the exact result is 0 although the terms are not
a = vals((2, 3), [1, 2, 3, 1e4, -1e4, 1])
b = vals((3, 2), [1, 1e4, 1, 1, -1, 1e-4])
dot_case(a, b, name="cancel/2x3.3x2")


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
    dot_case(U(sa), U(sb), name=f"larger/{shape_of(sa)}.{shape_of(sb)}")
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




# ===========================================================================
# Issue #3: float64 and int32, and the ops of docs/ops-spec.md. Every block
# below draws from a stream of its own (section()), after all the float32
# cases above, whose values are those of the first version of this file.
# ===========================================================================

# ---------------------------------------------------------------------------
# builders of the new ops
# ---------------------------------------------------------------------------

def clip_case(name, x, a_min, a_max):
    """clip: the bounds are cast to the dtype (as scalars are); the gradient
    passes where a_min <= x <= a_max (boundaries included), NaN stays NaN and
    gets no gradient."""
    dt = dt_of(x)
    lo, hi = cast_scalar(a_min, dt), cast_scalar(a_max, dt)
    assert lo <= hi
    xd = d64(x)
    out = np.minimum(np.maximum(xd, lo), hi)  # NaN propagates
    dy = head_for(out.shape, dt)
    g = d64(dy) * ((xd >= lo) & (xd <= hi))
    emit(name, "clip", "clip", {"a_min": a_min, "a_max": a_max}, [x], out, None, (dy, [(g, None)]))


def leaky_relu_case(name, x, slope):
    """x > 0 ? x : slope*x (slope cast to the dtype); gradient 1 or slope
    (slope at 0 and -0)."""
    dt = dt_of(x)
    s = cast_scalar(slope, dt)
    xd = d64(x)
    out = np.where(xd > 0, xd, s * xd)  # a float32 product is exact in float64: one rounding
    dy = head_for(out.shape, dt)
    g = d64(dy) * np.where(xd > 0, 1.0, s)
    emit(name, "leakyRelu", "leakyRelu", {"slope": slope}, [x], out, None, (dy, [(g, None)]))


def where_case(name, cond, x, y):
    """where(cond, x, y): cond != 0 (NaN is != 0, -0 is not), broadcasting of
    all three; gradients dy·(cond != 0) and dy·(cond == 0) summed to x's and
    y's shapes; cond gets none."""
    dt = dt_of(x)
    assert dt_of(y) == dt
    shape = np.broadcast_shapes(cond.shape, x.shape, y.shape)
    c = np.broadcast_to(d64(cond) != 0, shape)
    if dt == "int32":
        out = np.where(c, np.broadcast_to(i64(x), shape), np.broadcast_to(i64(y), shape))
        emit(name, "where", "where", {}, [cond, x, y], out, dtype=dt)
        return
    out = np.where(c, np.broadcast_to(d64(x), shape), np.broadcast_to(d64(y), shape))
    dy = head_for(shape, dt)
    gx, gy = d64(dy) * c, d64(dy) * ~c
    grads = [None]
    for v, g in ((x, gx), (y, gy)):
        summed = v.shape != shape
        grads.append((sum_to(g, v.shape), sum_to(np.abs(g), v.shape) if summed else None))
    emit(name, "where", "where", {}, [cond, x, y], out, None, (dy, grads), dtype=dt)


def softmax_case(op, name, x, axis):
    """softmax / logSoftmax along `axis`, computed stably (x - max). Tolerance
    terms: logSoftmax's output (x - m) - log(s) has the terms |x - m| and
    |log s|; softmax's gradient y·(dy - Σ dy·y) the terms y·(|dy| + Σ|dy|·y);
    logSoftmax's gradient dy - y·Σ dy the terms |dy| + y·Σ|dy|."""
    dt = dt_of(x)
    xd = d64(x)
    m = xd.max(axis=axis, keepdims=True)
    e = np.exp(xd - m)
    s = e.sum(axis=axis, keepdims=True)
    y = e / s
    if op == "softmax":
        out, omag = y, None
    else:
        ls = np.log(s)
        out, omag = (xd - m) - ls, np.abs(xd - m) + np.abs(ls)
    dy = head_for(x.shape, dt)
    dyd = d64(dy)
    ady = np.abs(dyd)
    if op == "softmax":
        g = y * (dyd - (dyd * y).sum(axis=axis, keepdims=True))
        gmag = y * (ady + (ady * y).sum(axis=axis, keepdims=True))
    else:
        g = dyd - y * dyd.sum(axis=axis, keepdims=True)
        gmag = ady + y * ady.sum(axis=axis, keepdims=True)
    emit(name, op, op, {"axis": axis}, [x], out, omag, (dy, [(g, gmag)]))


def take_case(name, a, idx, axis, mode):
    """take(a, indices, axis, mode): output a.shape[:axis] + indices.shape +
    a.shape[axis+1:]; gradient: scatter-add of dy (repeated indices add up,
    so those gradients get the sum-of-terms atol); indices get none."""
    dt = dt_of(a)
    ax = axis % a.ndim
    n = a.shape[ax]
    j = index_values(idx, n, mode)
    out = np.take(d64(a), j, axis=ax)
    dy = head_for(out.shape, dt)
    P, Q = int(np.prod(a.shape[:ax])), int(np.prod(a.shape[ax + 1:]))
    dy3 = d64(dy).reshape(P, j.size, Q)
    g, gm = np.zeros((P, n, Q)), np.zeros((P, n, Q))
    for i, jj in enumerate(j.ravel()):
        g[:, jj, :] += dy3[:, i, :]
        gm[:, jj, :] += np.abs(dy3[:, i, :])
    repeated = len(set(j.ravel().tolist())) < j.size
    emit(name, "take", "take", {"axis": axis, "mode": mode}, [a, idx], out, None,
         (dy, [(g.reshape(a.shape), gm.reshape(a.shape) if repeated else None), None]))


def pick_case(name, data, idx, axis, keepdims, mode):
    """pick(data, index, axis, keepdims, mode): index has data's shape without
    the axis (with it as 1 when keepdims); gradient: dy into the picked
    positions; the index gets none."""
    dt = dt_of(data)
    ax = axis % data.ndim
    n = data.shape[ax]
    kshape = data.shape[:ax] + (1,) + data.shape[ax + 1:]
    want_idx = kshape if keepdims else data.shape[:ax] + data.shape[ax + 1:]
    assert idx.shape == want_idx, (name, idx.shape, want_idx)
    jk = index_values(idx, n, mode).reshape(kshape)
    outk = np.take_along_axis(d64(data), jk, axis=ax)
    out = outk if keepdims else outk.reshape(want_idx)
    dy = head_for(out.shape, dt)
    g = np.zeros(data.shape)
    np.put_along_axis(g, jk, d64(dy).reshape(kshape), axis=ax)
    emit(name, "pick", "pick", {"axis": axis, "keepdims": keepdims, "mode": mode}, [data, idx], out, None,
         (dy, [(g, None), None]))


def one_hot_case(name, idx, depth, on_value, off_value, out_dt):
    """oneHot: output indices.shape + [depth] of dtype params.dtype; indices
    truncated toward zero (as take/pick), then outside [0, depth) -> all off."""
    j = np.trunc(d64(idx)).astype(np.int64)
    on, off = cast_scalar(on_value, out_dt), cast_scalar(off_value, out_dt)
    out = np.where(j[..., None] == np.arange(depth), on, off)
    emit(name, "oneHot", "oneHot",
         {"depth": depth, "on_value": on_value, "off_value": off_value, "dtype": out_dt},
         [idx], out, out_dtype=out_dt)


def arg_case(op, name, x, axis, keepdims):
    """argmax/argmin: first occurrence on ties, the first NaN wins (NumPy);
    axis null: index into the flattened array, shape [1] ([1]*ndim with
    keepdims); the indices have the input's dtype."""
    f = np.argmax if op == "argmax" else np.argmin
    xr = i64(x) if dt_of(x) == "int32" else d64(x)
    if axis is None:
        out = np.array([f(xr.ravel())]).reshape([1] * x.ndim if keepdims else [1])
    else:
        out = f(xr, axis=axis)
        if keepdims:
            out = np.expand_dims(out, axis)
        out = out.reshape(out.shape or (1,))
    emit(name, op, op, {"axis": axis, "keepdims": keepdims}, [x], out.astype(np.int64))


def _sorted_along(x, axis, ascending, allow_ties=False):
    """(x with the axis last, the sorting permutation along it)."""
    xm = np.moveaxis(i64(x) if dt_of(x) == "int32" else d64(x), axis, -1)
    if not allow_ties:
        srt = np.sort(xm, axis=-1)
        assert np.all(np.diff(srt, axis=-1) != 0), "ties: the vectors avoid them here"
    order = np.argsort(xm if ascending else -xm, axis=-1, kind="stable")
    return xm, order


def topk_case(name, x, axis, k, ret_typ, is_ascend):
    """topk along axis: the k largest (smallest when is_ascend), sorted; no
    ties. value/indices: the axis becomes k; mask: x's shape, 1 at the
    chosen; both: outputs [values, indices]. value and both have a
    gradient (dy scattered to the chosen positions; for both the head is
    that of the values)."""
    dt = dt_of(x)
    ax = axis % x.ndim
    xm, order = _sorted_along(x, ax, is_ascend)
    order = order[..., :k]
    values = np.moveaxis(np.take_along_axis(xm, order, axis=-1), -1, ax)
    indices = np.moveaxis(order, -1, ax)
    params = {"axis": axis, "k": k, "ret_typ": ret_typ, "is_ascend": is_ascend}
    if ret_typ == "indices":
        emit(name, "topk", "topk", params, [x], indices)
        return
    if ret_typ == "mask":
        mask = np.zeros(xm.shape)
        np.put_along_axis(mask, order, 1.0, axis=-1)
        emit(name, "topk", "topk", params, [x], np.moveaxis(mask, -1, ax))
        return
    assert dt != "int32"
    dy = head_for(values.shape, dt)
    gm = np.zeros(xm.shape)
    np.put_along_axis(gm, order, np.moveaxis(d64(dy), ax, -1), axis=-1)
    grads = (dy, [(np.moveaxis(gm, -1, ax), None)])
    if ret_typ == "value":
        emit(name, "topk", "topk", params, [x], values, None, grads)
    else:
        assert ret_typ == "both"
        emit(name, "topk", "topk", params, [x], None, None, grads, outputs=[(values, dt), (indices, dt)])


def sort_case(op, name, x, axis, is_ascend):
    """sort (gradient: dy scattered back by the argsort) and argsort (indices
    of the input's dtype, no gradient). Float inputs have no ties (the sort
    gradient and argsort depend on the tie order); int32 sort may have ties."""
    dt = dt_of(x)
    ax = axis % x.ndim
    xm, order = _sorted_along(x, ax, is_ascend, allow_ties=(dt == "int32" and op == "sort"))
    params = {"axis": axis, "is_ascend": is_ascend}
    if op == "argsort":
        emit(name, op, op, params, [x], np.moveaxis(order, -1, ax))
        return
    out = np.moveaxis(np.take_along_axis(xm, order, axis=-1), -1, ax)
    if dt == "int32":
        emit(name, op, op, params, [x], out)
        return
    dy = head_for(out.shape, dt)
    gm = np.zeros(xm.shape)
    np.put_along_axis(gm, order, np.moveaxis(d64(dy), ax, -1), axis=-1)
    emit(name, op, op, params, [x], out, None, (dy, [(np.moveaxis(gm, -1, ax), None)]))


def tile_case(name, x, reps):
    out = np.tile(d64(x), reps)
    d = max(x.ndim, len(reps))
    xs = (1,) * (d - x.ndim) + x.shape
    rp = (1,) * (d - len(reps)) + tuple(reps)

    def g(dy):
        inter = [v for pair in zip(rp, xs) for v in pair]
        return dy.reshape(inter).sum(axis=tuple(range(0, 2 * d, 2))).reshape(x.shape)
    movement_case("tile", name, x, {"reps": list(reps)}, out, g, g if np.prod(rp) > 1 else None)


def repeat_case(name, x, repeats, axis):
    out = np.repeat(d64(x), repeats, axis=axis)

    def g(dy):
        if axis is None:
            return dy.reshape(x.size, repeats).sum(axis=-1).reshape(x.shape)
        ax = axis % x.ndim
        return dy.reshape(x.shape[:ax] + (x.shape[ax], repeats) + x.shape[ax + 1:]).sum(axis=ax + 1)
    movement_case("repeat", name, x, {"repeats": repeats, "axis": axis}, out, g, g if repeats > 1 else None)


def flip_case(name, x, axis):
    ax = tuple(axis) if isinstance(axis, list) else axis
    out = np.flip(d64(x), axis=ax)
    movement_case("flip", name, x, {"axis": axis}, out, lambda dy: np.flip(dy, axis=ax))


def slice_case(name, x, begin, end, step):
    """Axis-0 form (begin/end/step numbers or null; step null = not passed)
    or multi-axis form (lists; step a list or null): NumPy slicing."""
    if isinstance(begin, list):
        steps = step if step is not None else [None] * len(begin)
        assert len(begin) == len(end) == len(steps) <= x.ndim
        sl = tuple(slice(b, e, s) for b, e, s in zip(begin, end, steps))
    else:
        sl = slice(begin, end, step)
    out = d64(x)[sl]

    def g(dy):
        gg = np.zeros(x.shape)
        gg[sl] = dy
        return gg
    movement_case("slice", name, x, {"begin": begin, "end": end, "step": step}, out, g)


def slice_axis_case(name, x, axis, begin, end):
    """sliceAxis (MXNet slice_axis): begin/end may be negative, end null = to
    the end; in range and non-empty (MXNet rejects anything else)."""
    n = x.shape[axis]
    b = begin + n if begin < 0 else begin
    e = n if end is None else (end + n if end < 0 else end)
    assert 0 <= b < e <= n
    sl = (slice(None),) * (axis % x.ndim) + (slice(begin, end),)
    out = d64(x)[sl]

    def g(dy):
        gg = np.zeros(x.shape)
        gg[sl] = dy
        return gg
    movement_case("sliceAxis", name, x, {"axis": axis, "begin": begin, "end": end}, out, g)


def astype_case(name, x, to):
    """astype: float -> int32 truncates toward zero, saturates outside the
    int32 range, NaN -> 0; int32 -> float rounds to nearest (even); float64
    -> float32 rounds to nearest (even). Gradient only float -> float: dy
    cast to the input's dtype."""
    dt = dt_of(x)
    if to == "int32":
        if dt == "int32":
            out = i64(x)
        else:
            xd = d64(x)
            t = np.trunc(np.where(np.isnan(xd), 0.0, xd))
            out = np.clip(t, -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int64)
        emit(name, "astype", "astype", {"dtype": to}, [x], out, out_dtype=to)
        return
    if dt == "int32":
        emit(name, "astype", "astype", {"dtype": to}, [x], i64(x).astype(F64), out_dtype=to)
        return
    out = d64(x)
    dy = head_for(out.shape, to)
    emit(name, "astype", "astype", {"dtype": to}, [x], out, None, (dy, [(d64(dy), None)]), out_dtype=to)


# ---------------------------------------------------------------------------
# float64 versions of the first ops
# ---------------------------------------------------------------------------

section("float64/binary", "float64")
BINARY_SHAPES64 = [
    ("0d+0d", (), ()),
    ("0d+2x3", (), (2, 3)),
    ("2x3x1x4+0d", (2, 3, 1, 4), ()),
    ("same/5", (5,), (5,)),
    ("bcast_right/2x3+3", (2, 3), (3,)),
    ("bcast_left/3+2x3", (3,), (2, 3)),
    ("bcast_both/2x1x4+3x1", (2, 1, 4), (3, 1)),
    ("bcast_rank4/2x1x3x1+4x1x5", (2, 1, 3, 1), (4, 1, 5)),
]
for op in ARITH:
    for name, sa, sb in BINARY_SHAPES64:
        a, b = binary_inputs(op, sa, sb)
        binary_case(op, name, a, b)
for op in ("maximum", "minimum"):
    binary_case(op, "random/2x3+3", U((2, 3)), U((3,)))
    t = ints((2, 3))
    binary_case(op, "all_ties/2x3", t, t.copy())
# values float32 cannot hold: a float32 engine path shows
binary_case("add", "not_f32/4", vals((4,), [0.1, 1e300, 1.7e308, 1 + 2 ** -40]),
            vals((4,), [0.2, 1e300, 1.7e308, -1]))
binary_case("sub", "cancel/4", vals((4,), [1.0000000000000002, 1e16, -2.5, 0]),
            vals((4,), [1, 9999999999999998, -2.5, 0]))
binary_case("mul", "not_f32/4", vals((4,), [0.1, 1 / 3, 1e200, 1e-200]), vals((4,), [3, 3, 1e200, 1e-200]))
binary_case("div", "small_den/4", vals((4,), [1, -1, 3, 1e-300]), vals((4,), [1e-150, 2e-150, -1e-2, 1e150]))
binary_case("pow", "zero_base/4", vals((4,), [0, 0, 0, 0]), vals((4,), [1, 2, 3.5, 1.5]))
binary_case("pow", "negative_base_int_exp/4", vals((4,), [-2, -1.5, -0.5, -3]), vals((4,), [2, 3, -1, 0]))
binary_case("pow", "large/3", vals((3,), [2, 10, 1.5]), vals((3,), [1000, 300, 2000]))
for op in COMPARISONS:
    binary_case(op, "ties/2x3", ints((2, 3)), ints((2, 3)))
    binary_case(op, "bcast_right/2x3x4+4", ints((2, 3, 4)), ints((4,)))
    binary_case(op, "bcast_left/3x1+2x3x4", ints((3, 1)), ints((2, 3, 4)))
    binary_case(op, "0d+2x3", ints(()), ints((2, 3)))
    # equal in float32, not in float64
    binary_case(op, "not_f32/4", vals((4,), [1 + 2 ** -40, 0.1, 0.30000000000000004, -1e-300]),
                vals((4,), [1, 0.1, 0.3, 0]))

section("float64/scalar", "float64")
SCALARS64 = {
    "add": [(0.1, False, U), (-1.25, True, U)],
    "sub": [(0.1, False, U), (1.5, True, U)],
    "mul": [(0.1, False, U), (-3, True, U)],
    "div": [(3, False, U), (0.1, True, away)],
    "pow": [(2, False, U), (0.5, False, lambda s: U(s, 0.1, 4)), (-1.5, False, lambda s: U(s, 0.25, 4)),
            (2, True, U), (0.1, True, U)],
    "maximum": [(0.5, False, lambda s: ints(s, scale=0.5)), (0.5, True, lambda s: ints(s, scale=0.5))],
    "minimum": [(0.5, False, lambda s: ints(s, scale=0.5)), (-1, True, U)],
}
for op, specs in SCALARS64.items():
    for s, reverse, maker in specs:
        for shp in ((), (4,), (2, 1, 3)):
            form = f"{s}_{op}_x" if reverse else f"x_{op}_{s}"
            scalar_case(op, f"{form}/{shape_of(shp)}", maker(shp), s, reverse)
scalar_case("pow", "2_pow_x/large", vals((4,), [1000, 1023, -1000, -1022]), 2, True)
scalar_case("pow", "0_pow_x/positive", vals((4,), [0.5, 1, 2, 3.5]), 0, True)
for op in COMPARISONS:
    # x holds 0.1 and float32(0.1): the scalar 0.1 is not rounded to float32
    scalar_case(op, f"x_{op}_0.1/not_f32", vals((3,), [0.1, float(F32(0.1)), 0.05]), 0.1, False)
    for reverse in (False, True):
        for shp in ((), (2, 3)):
            form = f"0.5_{op}_x" if reverse else f"x_{op}_0.5"
            scalar_case(op, f"{form}/{shape_of(shp)}", ints(shp, scale=0.5), 0.5, reverse)

section("float64/unary", "float64")
UNARY_EDGES64 = {
    "neg": [0, -0.0, 1.7976931348623157e308, 5e-324],
    "exp": [-800, -745, -708, -1e-15, 0, 1e-300, 700, 709.7],
    "log": [2.2250738585072014e-308, 1e-300, 0.9999999999999999, 1, 1.0000000000000002, 1e300,
            1.7976931348623157e308],
    "sqrt": [2.2250738585072014e-308, 1e-300, 0.25, 2, 1e300, 1.7976931348623157e308],
    "square": [1e154, -1e154, 1e-154, 0, -0.5, 1e200],
    "abs": [0, -0.0, 1.5, -1.5, -1e-300, 1.7976931348623157e308],
    "sigmoid": [-800, -745, -40, -1e-10, 0, 1e-10, 40, 800],
    "tanh": [-40, -20, -1e-10, 0, 1e-10, 0.5, 20, 40],
    "relu": [0, -0.0, 1.5, -1.5, 1e-300, -1e-300],
    "sign": [0, -0.0, 1e-300, -1e-300, 5, -5, 5e-324],
}
for op in UNARY_OLD:
    lo, hi = UNARY_RANGE[op]
    for shp in ((), (6,), (2, 3, 2)):
        unary_case(op, f"random/{shape_of(shp)}", U(shp, lo, hi))
    unary_case(op, "edges", vals((len(UNARY_EDGES64[op]),), UNARY_EDGES64[op]))

section("float64/reduce", "float64")
REDUCE_SPECS64 = [
    ((6,), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), [0, 2], False),
    ((2, 3, 4), None, True), ((2, 3, 1, 4), [-4, -2], True), ((2, 3, 1, 4), -3, False),
]
for op in ("sum", "mean", "max", "min", "prod", "norm"):
    for shp, axis, keep in REDUCE_SPECS64:
        reduce_case(op, reduce_input(op, shp), axis, keep)
reduce_case("sum", vals((4,), [1e16, 1, -1e16, 0.5]), None, False, name="cancel")
for op in ("max", "min"):
    reduce_case(op, vals((2, 3), [1, 1, 1, -1, -1, -1]), None, False, name="2x3/all_ties")
reduce_case("prod", vals((5,), [2, 0.5, 4, -0.25, 8]), None, False, name="exact")
reduce_case("norm", vals((2, 3), [0, 0, 0, 3, -4, 12]), 1, False, name="zero_row/ax1")
# squares under- and overflow in float64: the norm must be computed scaled
reduce_case("norm", vals((3,), [1e-200, 3e-200, -2e-200]), None, False, name="tiny")
reduce_case("norm", vals((3,), [1e200, 3e200, -2e200]), None, False, name="huge")

section("float64/movement", "float64")
for shp, spec in [((2, 3, 4), [4, -1]), ((6,), [2, -1, 1]), ((1, 2, 3, 1), [3, 2])]:
    x = U(shp)
    movement_case("reshape", f"{shape_of(shp)}_to_{'x'.join(map(str, spec))}", x, {"shape": spec},
                  d64(x).reshape(spec), lambda dy, s=shp: dy.reshape(s))
for shp, axes in [((2, 3), None), ((2, 3, 4), [1, 0, 2]), ((2, 3, 4, 5), [-1, 0, 2, 1])]:
    x = U(shp)
    perm = list(range(len(shp)))[::-1] if axes is None else [a % len(shp) for a in axes]
    inv = list(np.argsort(perm))
    movement_case("transpose", f"{shape_of(shp)}/{'rev' if axes is None else ','.join(map(str, axes))}",
                  x, {"axes": axes}, np.transpose(d64(x), perm), lambda dy, inv=inv: np.transpose(dy, inv))
for shp, target in [((3,), (2, 3)), ((2, 1, 3), (4, 2, 5, 3)), ((1, 3, 1), (2, 3, 4)), ((2, 3), (2, 3))]:
    x = U(shp)
    summed = shp != target
    movement_case("broadcastTo", f"{shape_of(shp)}_to_{shape_of(target)}", x, {"shape": list(target)},
                  np.broadcast_to(d64(x), target), lambda dy, s=shp: sum_to(dy, s),
                  (lambda dy, s=shp: sum_to(dy, s)) if summed else None)
for shp, i in [((4,), -1), ((3, 2), 0), ((2, 3, 4), -1), ((1, 2, 2, 2), 0)]:
    x = U(shp)
    out = d64(x)[i] if len(shp) > 1 else d64(x)[i:i + 1 or None]

    def g_at(dy, shp=shp, i=i):
        g = np.zeros(shp)
        g[i] = dy.reshape(shp[1:]) if len(shp) > 1 else dy[0]
        return g
    out = out.reshape(out.shape if len(shp) > 1 else (1,))
    movement_case("at", f"{shape_of(shp)}/{i}", x, {"index": i}, out, g_at)
for shp, b, e in [((5,), 1, 4), ((4, 3), -10, 10), ((3, 2, 1, 2), -2, None), ((4,), 4, 10)]:
    slice_case(f"{shape_of(shp)}/{b}:{e}", U(shp), b, e, None)
for shp in [(3,), (2, 3), (2, 1, 2, 3)]:
    x = U(shp)
    movement_case("copy", shape_of(shp), x, {}, d64(x), lambda dy: dy)
for shp, axis in [((3,), -1), ((2, 3), 2), ((2, 3, 4), -2), ((2, 3), -3)]:
    x = U(shp)
    movement_case("expandDims", f"{shape_of(shp)}/{axis}", x, {"axis": axis},
                  np.expand_dims(d64(x), axis % (len(shp) + 1)), lambda dy, s=shp: dy.reshape(s))
for shp, axis, oshape in [((1, 3, 1), None, [3]), ((2, 1, 3, 1), [1, 3], [2, 3]), ((1, 3, 1), -1, [1, 3]),
                          ((1, 1), None, [1])]:
    x = U(shp)
    movement_case("squeeze", f"{shape_of(shp)}/{axis if axis is not None else 'all'}".replace(" ", ""),
                  x, {"axis": axis}, d64(x).reshape(oshape), lambda dy, s=shp: dy.reshape(s))
for shapes, axis in [([(3,), (2,)], 0), ([(2, 3), (2, 1), (2, 2)], -1), ([(2, 0, 3), (2, 2, 3)], 1),
                     ([(1, 2, 2, 2), (2, 2, 2, 2)], -4)]:
    concat_case([U(s) for s in shapes], axis)
concat_case([vals((4,), [float("nan"), float("inf"), -0.0, 5e-324]), U((2,))], 0, name="special_values/4+2/ax0")
for shp, n, axis in [((3,), 2, 1), ((2, 3), 3, -3), ((2, 3, 2), 2, 3), ((1, 2, 2, 2), 2, -5)]:
    stack_case(shp, n, axis)
for sa, sb in [((1, 2, 3), (1, 3, 4)), ((3, 2, 4), (3, 4, 5)), ((2, 3, 1), (2, 1, 4))]:
    batch_dot_case(U(sa), U(sb))
for sa, sb in [((4,), (4,)), ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3, 4), (4, 5))]:
    dot_case(U(sa), U(sb))
dot_case(vals((2, 3), [1, 2, 3, 1e8, -1e8, 1]), vals((3, 2), [1, 1e8, 1, 1, -1, 1e-8]), name="cancel/2x3.3x2")

section("float64/larger", "float64")
binary_case("mul", "larger/7x1x9+5x9", U((7, 1, 9)), U((5, 9)))
binary_case("div", "larger/37+37", U((37,)), away((37,)))
scalar_case("pow", "x_pow_3/larger/41", U((41,)), 3, False)
unary_case("exp", "larger/67", U((67,), -4, 4))
reduce_case("sum", U((8, 33), -2, 2), 1, False)
reduce_case("max", U((5, 3, 11), -2, 2), [0, 2], False)
reduce_case("norm", U((6, 19), -2, 2), -1, False)
dot_case(U((9, 17)), U((17, 13)), name="larger/9x17.17x13")
batch_dot_case(U((3, 7, 33)), U((3, 33, 6)), name="larger/3x7x33.3x33x6")
x = U((6, 5, 4))
movement_case("transpose", "larger/6x5x4/2,0,1", x, {"axes": [2, 0, 1]}, np.transpose(d64(x), [2, 0, 1]),
              lambda dy: np.transpose(dy, np.argsort([2, 0, 1])))
concat_case([U((5, 7, 9)), U((5, 3, 9))], 1)
stack_case((5, 9), 4, 1)


# ---------------------------------------------------------------------------
# int32 versions of the first ops (exact, no gradients)
# ---------------------------------------------------------------------------

section("int32/binary", "int32")
INT_SHAPES = [("same/5", (5,), (5,)), ("bcast_right/2x3+3", (2, 3), (3,)), ("bcast_left/3+2x3", (3,), (2, 3)),
              ("bcast_both/3x1+1x4", (3, 1), (1, 4)), ("0d+2x3", (), (2, 3)),
              ("bcast_rank4/2x1x3x1+4x1x5", (2, 1, 3, 1), (4, 1, 5))]


def int_binary_inputs(op, sa, sb):
    if op == "div":
        return ints(sa, -40, 40), nonzero_ints(sb)
    if op == "pow":
        return ints(sa, -5, 5), ints(sb, 0, 4)
    if op in ("maximum", "minimum"):
        return ints(sa, -3, 3), ints(sb, -3, 3)
    return ints(sa, -1000, 1000), ints(sb, -1000, 1000)


for op in ARITH:
    for name, sa, sb in INT_SHAPES:
        binary_case(op, name, *int_binary_inputs(op, sa, sb))
INT_MAX, INT_MIN = 2 ** 31 - 1, -2 ** 31
binary_case("add", "wrap/4", vals((4,), [INT_MAX, INT_MIN, INT_MAX, 5]), vals((4,), [1, -1, INT_MAX, -5]))
binary_case("mul", "wrap/4", vals((4,), [65536, 46341, -65536, INT_MAX]), vals((4,), [65536, 46341, 32768, 2]))
binary_case("sub", "extremes/3", vals((3,), [INT_MAX, INT_MIN, 0]), vals((3,), [INT_MAX, 0, INT_MAX]))
# truncation toward zero, not floor
binary_case("div", "truncation/8", vals((8,), [-7, 7, -7, 7, 0, -1, 1, INT_MIN]),
            vals((8,), [2, -2, -2, 2, 3, 3, -3, 2]))
# negative exponents: trunc(pow(a, b)) is 0 except for bases ±1
binary_case("pow", "negative_exp/7", vals((7,), [2, -2, 1, -1, -1, 3, 0]),
            vals((7,), [-1, -1, -2, -3, -2, -1, 0]))
for op in COMPARISONS:
    binary_case(op, "ties/2x3", ints((2, 3)), ints((2, 3)))
    binary_case(op, "bcast_both/4x1+1x1x3", ints((4, 1)), ints((1, 1, 3)))
    binary_case(op, "0d+5", ints(()), ints((5,)))
    binary_case(op, "extremes/3", vals((3,), [INT_MAX, INT_MIN, -1]), vals((3,), [INT_MIN, INT_MAX, -1]))

section("int32/scalar", "int32")
# the scalar is truncated toward zero to an int32 first (MXNet's DType(s))
SCALARS_I32 = {
    "add": [(2.7, False), (-1.5, True)],
    "sub": [(2.7, False), (-1.5, True)],
    "mul": [(3, False), (-2.9, True)],
    "div": [(2.7, False), (-3, False), (7, True)],
    "pow": [(2, False), (2.9, False), (2, True)],
    "maximum": [(1.5, False), (-0.5, True)],
    "minimum": [(1.5, True), (-0.5, False)],
}
for op, specs in SCALARS_I32.items():
    for s, reverse in specs:
        for shp in ((), (5,), (2, 1, 3)):
            if op == "div" and reverse:
                x = nonzero_ints(shp)
            elif op == "pow":
                x = ints(shp, 0, 6) if reverse else ints(shp, -6, 6)
            else:
                x = ints(shp, -6, 6)
            form = f"{s}_{op}_x" if reverse else f"x_{op}_{s}"
            scalar_case(op, f"{form}/{shape_of(shp)}", x, s, reverse)
for op in COMPARISONS:
    for reverse in (False, True):
        # 1.5 is 1 for int32: x == 1 decides equal/greaterEqual/lesserEqual
        form = f"1.5_{op}_x" if reverse else f"x_{op}_1.5"
        scalar_case(op, f"{form}/6", vals((6,), [-1, 0, 1, 2, 1, 3]), 1.5, reverse)
        scalar_case(op, f"{form.replace('1.5', '-0.5')}/2x3", ints((2, 3)), -0.5, reverse)

section("int32/unary", "int32")
for op in ("neg", "abs", "square", "sign", "relu"):
    for shp in ((), (7,), (2, 3), (2, 1, 3, 2)):
        unary_case(op, f"random/{shape_of(shp)}", ints(shp, -40, 40))
    edges = [0, 1, -1, 46340, -46340] if op == "square" else [0, 1, -1, INT_MAX, -INT_MAX]
    unary_case(op, "edges", vals((5,), edges))

section("int32/reduce", "int32")
for op in REDUCE_OPS:
    for shp, axis, keep in [((6,), None, False), ((3, 4), 0, False), ((3, 4), -1, True),
                            ((2, 3, 4), [0, 2], False), ((2, 3, 4), None, True),
                            ((2, 3, 1, 4), [-4, -2], True)]:
        lo, hi = (-2, 2) if op == "prod" else (-50, 50)
        reduce_case(op, ints(shp, lo, hi), axis, keep)
# mean truncates toward zero: -7/2 -> -3, 7/2 -> 3, -1/3 -> 0
reduce_case("mean", vals((3, 2), [-3, -4, 3, 4, -1, 0]), 1, False, name="truncation/3x2/ax1")
reduce_case("mean", vals((3,), [-1, 0, 0]), None, False, name="truncation/minus_third")
reduce_case("sum", vals((3,), [INT_MAX, 1, 10]), None, False, name="wrap")
reduce_case("prod", vals((4,), [1000, 1000, 1000, 5]), None, False, name="wrap")
reduce_case("max", vals((4,), [INT_MIN, -5, INT_MIN, -7]), None, False, name="extremes")
reduce_case("min", vals((4,), [INT_MAX, 5, INT_MIN, 7]), None, False, name="extremes")

section("int32/movement", "int32")


def I(shape):
    return ints(shape, -100, 100)


for shp, spec in [((2, 3, 4), [4, -1]), ((6,), [2, -1, 1]), ((1, 2, 3, 1), [3, 2])]:
    x = I(shp)
    movement_case("reshape", f"{shape_of(shp)}_to_{'x'.join(map(str, spec))}", x, {"shape": spec},
                  i64(x).reshape(spec), None)
for shp, axes in [((2, 3), None), ((2, 3, 4), [1, 0, 2]), ((2, 3, 4, 5), [-1, 0, 2, 1])]:
    x = I(shp)
    perm = list(range(len(shp)))[::-1] if axes is None else [a % len(shp) for a in axes]
    movement_case("transpose", f"{shape_of(shp)}/{'rev' if axes is None else ','.join(map(str, axes))}",
                  x, {"axes": axes}, np.transpose(i64(x), perm), None)
for shp, target in [((3,), (2, 3)), ((2, 1, 3), (4, 2, 5, 3)), ((1, 3, 1), (2, 3, 4))]:
    x = I(shp)
    movement_case("broadcastTo", f"{shape_of(shp)}_to_{shape_of(target)}", x, {"shape": list(target)},
                  np.broadcast_to(i64(x), target), None)
for shp, i in [((4,), -1), ((3, 2), 0), ((2, 3, 4), -1)]:
    x = I(shp)
    out = i64(x)[i] if len(shp) > 1 else i64(x)[i:i + 1 or None]
    movement_case("at", f"{shape_of(shp)}/{i}", x, {"index": i}, out, None)
for shp, b, e, s in [((5,), 1, 4, None), ((4, 3), -10, 10, None), ((6, 2), None, None, -2), ((5,), 4, 0, -1)]:
    slice_case(f"{shape_of(shp)}/{b}:{e}:{s}", I(shp), b, e, s)
slice_case("3x4x5/multi", I((3, 4, 5)), [2, None, 4], [None, None, 0], [-1, 2, -2])
slice_case("4x6/multi_short", I((4, 6)), [1], [3], None)
for shp in [(3,), (2, 3), (2, 1, 2, 3)]:
    x = I(shp)
    movement_case("copy", shape_of(shp), x, {}, i64(x), None)
for shp, axis in [((3,), -1), ((2, 3), 2), ((2, 3, 4), -2)]:
    x = I(shp)
    movement_case("expandDims", f"{shape_of(shp)}/{axis}", x, {"axis": axis},
                  np.expand_dims(i64(x), axis % (len(shp) + 1)), None)
for shp, axis, oshape in [((1, 3, 1), None, [3]), ((2, 1, 3, 1), [1, 3], [2, 3]), ((1, 3, 1), -1, [1, 3])]:
    x = I(shp)
    movement_case("squeeze", f"{shape_of(shp)}/{axis if axis is not None else 'all'}".replace(" ", ""),
                  x, {"axis": axis}, i64(x).reshape(oshape), None)
for shapes, axis in [([(3,), (2,)], 0), ([(2, 3), (2, 1), (2, 2)], -1), ([(2, 0, 3), (2, 2, 3)], 1),
                     ([(1, 2, 2, 2), (2, 2, 2, 2)], -4)]:
    concat_case([I(s) for s in shapes], axis)
concat_case([vals((3,), [INT_MAX, INT_MIN, -1]), I((2,))], 0, name="extremes/3+2/ax0")
for shp, n, axis in [((3,), 2, 1), ((2, 3), 3, -3), ((2, 3, 2), 2, 3)]:
    stack_case(shp, n, axis, maker=I)


# ---------------------------------------------------------------------------
# the new ops, float32 and float64 (and int32 where docs/ops-spec.md has it)
# ---------------------------------------------------------------------------

NEW_UNARY_RANGE = {
    "sin": (-6, 6), "cos": (-6, 6), "tan": (-1.4, 1.4), "arcsin": (-0.99, 0.99), "arccos": (-0.99, 0.99),
    "arctan": (-5, 5), "sinh": (-5, 5), "cosh": (-5, 5), "arcsinh": (-10, 10), "arccosh": (1.01, 10),
    "arctanh": (-0.99, 0.99), "log1p": (-0.99, 5), "expm1": (-5, 5), "log2": (0.01, 100),
    "log10": (0.01, 100), "reciprocal": (0.25, 4), "rsqrt": (0.05, 10), "cbrt": (-8, 8),
    "floor": (-4, 4), "ceil": (-4, 4), "round": (-4, 4), "rint": (-4, 4), "trunc": (-4, 4),
    "erf": (-3, 3), "softrelu": (-6, 6),
}
# Values at and near the edges of each domain (and, for the rounding ops,
# exact halves that pin the rule: round = half away from zero, rint = half to
# even). Inputs near ±1 (arcsin arccos arctanh), just above 1 (arccosh), near
# -1 (log1p) and near 0 (expm1 log1p arcsinh sinh) need the accurate formulas
# (log1p-based acosh, (1-x)(1+x) in the gradients): the naive ones lose far
# more than the tolerance there.
ROUND_EDGES32 = [-2.5, -1.5, -0.5, -0.49999997, -0.3, -0.0, 0, 0.3, 0.49999997, 0.5, 1.5, 2.5, 3.7, -3.7,
                 8388607.5, 8388609, -8388609, 3e38, float("inf"), float("-inf"), float("nan")]
ROUND_EDGES64 = [-2.5, -1.5, -0.5, -0.49999999999999994, -0.3, -0.0, 0, 0.3, 0.49999999999999994, 0.5, 1.5,
                 2.5, 3.7, -3.7, 4503599627370495.5, 4503599627370497, -4503599627370497, 1e300, float("inf"),
                 float("-inf"), float("nan")]
NEW_UNARY_EDGES = {
    "float32": {
        "sin": [-100, -3.1415927, -1e-6, 0, 1e-30, 1.5707964, 3.1415927, 100],
        "cos": [-100, -3.1415927, 0, 1e-4, 1.5707964, 3, 100],
        "tan": [-1.5, -0.7853982, 0, 1e-5, 0.7853982, 1.5],
        "arcsin": [-0.9999999, -0.99999, -0.5, -1e-7, 0, 1e-30, 0.5, 0.9999, 0.9999999],
        "arccos": [-0.9999999, -0.99999, -0.5, -1e-7, 0, 1e-30, 0.5, 0.9999, 0.9999999],
        "arctan": [-1e10, -100, -1, -1e-7, 0, 1e-30, 1, 100, 1e10],
        "sinh": [-20, -1e-5, 0, 1e-30, 1e-3, 5, 20, 80],
        "cosh": [-20, -1e-3, 0, 1e-5, 5, 20, 80],
        "arcsinh": [-1e10, -100, -1e-5, 0, 1e-30, 0.5, 100, 1e10],
        "arccosh": [1.0000001, 1.0001, 1.5, 10, 1e4, 1e10],
        "arctanh": [-0.9999999, -0.99, -1e-7, 0, 1e-30, 0.5, 0.9999, 0.9999999],
        "log1p": [-0.9999999, -0.999, -0.5, -1e-10, 0, 1e-30, 1e-10, 1, 1e10, 3e38],
        "expm1": [-100, -20, -1e-10, 0, 1e-30, 1e-10, 1e-3, 20, 88],
        "log2": [1.1754944e-38, 1e-30, 0.5, 1, 2, 3, 1024, 1e30, 3e38],
        "log10": [1.1754944e-38, 1e-30, 0.1, 1, 10, 1000, 1e30, 3e38],
        "reciprocal": [-1e30, -3, -1e-3, -1e-10, 1e-10, 0.25, 3, 7, 1e30],
        "rsqrt": [1e-20, 1e-4, 0.25, 1, 2, 1e30, 3e38],
        "cbrt": [-1e30, -27, -1e-30, 1e-30, 1e-3, 8, 3e38],
        "erf": [-10, -3, -0.5, -1e-10, 0, 1e-30, 1e-3, 0.5, 3, 10],
        "softrelu": [-1000, -100, -20, -1e-3, 0, 1e-3, 20, 100, 1000],
        **{op: ROUND_EDGES32 for op in ROUNDING},
    },
    "float64": {
        "sin": [-1000, -3.141592653589793, -1e-300, 0, 1e-10, 1.5707963267948966, 3.141592653589793, 1000],
        "cos": [-1000, -3.141592653589793, 0, 1e-10, 1.5707963267948966, 3, 1000],
        "tan": [-1.5, -0.7853981633974483, 0, 1e-10, 0.7853981633974483, 1.5],
        "arcsin": [-0.9999999999999999, -0.999999999, -0.5, 0, 1e-300, 0.5, 0.999999999999, 0.9999999999999999],
        "arccos": [-0.9999999999999999, -0.999999999, -0.5, 0, 1e-300, 0.5, 0.999999999999, 0.9999999999999999],
        "arctan": [-1e150, -1e10, -1, 0, 1e-300, 1, 1e10, 1e150],
        "sinh": [-700, -1e-10, 0, 1e-300, 1e-3, 5, 700],
        "cosh": [-700, -1e-3, 0, 1e-10, 5, 700],
        "arcsinh": [-1e150, -1e10, -1e-10, 0, 1e-300, 0.5, 1e10, 1e150],
        "arccosh": [1.0000000000000002, 1.000000001, 1.5, 10, 1e10, 1e150],
        "arctanh": [-0.9999999999999999, -0.99, -1e-10, 0, 1e-300, 0.5, 0.999999999, 0.9999999999999999],
        "log1p": [-0.9999999999999999, -0.999, -1e-15, 0, 1e-300, 1e-15, 1, 1e300],
        "expm1": [-800, -20, -1e-15, 0, 1e-300, 1e-15, 1e-3, 20, 700],
        "log2": [2.2250738585072014e-308, 1e-300, 0.5, 1, 2, 3, 1024, 1e300],
        "log10": [2.2250738585072014e-308, 1e-300, 0.1, 1, 10, 1000, 1e300],
        "reciprocal": [-1e300, -3, -1e-3, -1e-150, 1e-150, 0.25, 3, 7, 1e300],
        "rsqrt": [1e-200, 1e-4, 0.25, 1, 2, 1e200, 1e300],
        "cbrt": [-1e300, -27, -1e-300, 1e-150, 1e-3, 8, 1e300],
        "erf": [-30, -3, -0.5, -1e-10, 0, 1e-300, 1e-3, 0.5, 3, 6],
        "softrelu": [-1000, -700, -20, -1e-3, 0, 1e-3, 20, 100, 1000],
        **{op: ROUND_EDGES64 for op in ROUNDING},
    },
}
NEW_UNARY_SHAPES = {"float32": [(), (7,), (2, 3), (3, 1, 4), (2, 1, 3, 2)], "float64": [(), (6,), (2, 3, 2)]}

for dt in ("float32", "float64"):
    section(f"{dt}/unary-new", dt)
    for op in UNARY_NEW:
        lo, hi = NEW_UNARY_RANGE[op]
        for shp in NEW_UNARY_SHAPES[dt]:
            x = away(shp, lo, hi) if op == "reciprocal" else U(shp, lo, hi)
            unary_case(op, f"random/{shape_of(shp)}", x)
        edges = NEW_UNARY_EDGES[dt][op]
        unary_case(op, "edges", vals((len(edges),), edges))
    # halves: k + 0.5 for k in -4..3 (and integers), rank 2
    for op in ROUNDING:
        unary_case(op, "halves/2x5", vals((2, 5), [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -4, 4]))
    unary_case("softrelu", "larger/5x13", U((5, 13), -8, 8))
    unary_case("sin", "larger/67", U((67,), -10, 10))

    section(f"{dt}/clip-leakyRelu-where", dt)
    clip_case("random/2x3", U((2, 3)), -1, 1.5)
    clip_case("random/2x1x3x2", U((2, 1, 3, 2)), -0.5, 0.5)
    clip_case("random/0d", U(()), -1, 1)
    clip_case("boundaries/7", vals((7,), [-2, -1, 0, 1.5, 2, -1, 1.5]), -1, 1.5)
    clip_case("equal_bounds/4", vals((4,), [0.5, 0.2, 0.7, 0.5]), 0.5, 0.5)
    clip_case("nan/3", vals((3,), [float("nan"), 1, -5]), -1, 1)
    if dt == "float32":
        # the bound 0.1 is float32(0.1) for a float32 array: x == a_max passes the gradient
        clip_case("f32_bounds/4", vals((4,), [0.1, 0.2, 0, float(np.nextafter(F32(0.1), F32(1)))]), -1, 0.1)
    else:
        # no float32 rounding of the bounds: only the first element is at the bound
        clip_case("f64_bounds/4", vals((4,), [0.1, float(F32(0.1)), 0, 0.2]), -1, 0.1)
    clip_case("larger/5x13", U((5, 13)), -1.25, 2)

    leaky_relu_case("random/2x3", U((2, 3)), 0.25)
    leaky_relu_case("zeros/6", vals((6,), [0, -0.0, 1, -1, 1e-30, -1e-30]), 0.25)
    leaky_relu_case("slope_0.1/3x1x4", U((3, 1, 4)), 0.1)
    leaky_relu_case("slope_0/5", vals((5,), [-2, 0, 3, -0.0, 1e-3]), 0)
    leaky_relu_case("slope_negative/2x1x2x2", U((2, 1, 2, 2)), -0.5)
    leaky_relu_case("slope_1.5/0d", U(()), 1.5)
    leaky_relu_case("larger/41", U((41,)), 0.01)

    other = "float64" if dt == "float32" else "float32"
    where_case("same/2x3", vals((2, 3), [0, 1, -2, 0.5, -0.0, float("nan")]), U((2, 3)), U((2, 3)))
    where_case("bcast/2x1+1x3+2x3", ints((2, 1), 0, 1), U((1, 3)), U((2, 3)))
    where_case("bcast/3+2x3+0d", ints((3,), 0, 1), U((2, 3)), U(()))
    where_case("int32_cond/2x1x4+3x4+2x3x1", ints((2, 1, 4), -1, 2).astype(I32), U((3, 4)), U((2, 3, 1)))
    where_case(f"{'f64' if other == 'float64' else 'f32'}_cond/4", vals((4,), [0, 2, 0, 1e-300], other),
               U((4,)), U((4,)))
    where_case("all_true/0d_cond", vals((), 1), U((2, 2)), U((2, 1)))

    section(f"{dt}/softmax", dt)
    for op in ("softmax", "logSoftmax"):
        for shp, axis in [((5,), -1), ((2, 3), -1), ((2, 3), 0), ((2, 3, 4), 1), ((2, 3, 4), -2),
                          ((2, 3, 4), -3), ((2, 1, 3, 2), 3), ((1, 4), 0)]:
            softmax_case(op, f"{shape_of(shp)}/ax{axis}", U(shp), axis)
        # large magnitudes: exp(x) overflows, exp(x - max) does not
        softmax_case(op, "large/2x4/ax-1",
                     vals((2, 4), [1000, 1001, 1002, 999, -1000, -1001, -998, -1002.5]), -1)
        softmax_case(op, "spread/4", vals((4,), [0, -50, -100, 30]), 0)
        softmax_case(op, "larger/5x37/ax-1", U((5, 37), -4, 4), -1)

    section(f"{dt}/index", dt)
    take_case("5/0/clip", U((5,)), vals((3,), [0, 4, 2]), 0, "clip")
    take_case("4x3/0/repeated_2x3", U((4, 3)), vals((2, 3), [0, 1, 1, 3, 0, 1]), 0, "clip")
    take_case("3x4/1/clip_out_of_range", U((3, 4)), vals((5,), [5, -1, 0, 3, 3]), 1, "clip")
    take_case("3x4/1/wrap", U((3, 4)), vals((5,), [5, -1, -6, 3, 7]), 1, "wrap")
    take_case("2x3x4/-1/clip_2x2", U((2, 3, 4)), vals((2, 2), [0, 3, 3, 3]), -1, "clip")
    take_case("2x3x4/-2/wrap", U((2, 3, 4)), vals((3,), [-4, 2, 4]), -2, "wrap")
    take_case("2x1x3x2/2/wrap", U((2, 1, 3, 2)), vals((4,), [-1, 4, 0, 2]), 2, "wrap")
    # indices are truncated toward zero: -0.5 -> 0, -1.5 -> -1, 4.9 -> 4
    take_case("5/0/fractional_clip", U((5,)), vals((5,), [1.7, -0.5, -1.5, 4.9, 5.2]), 0, "clip")
    take_case("5/0/fractional_wrap", U((5,)), vals((5,), [1.7, -0.5, -1.5, 4.9, 5.2]), 0, "wrap")
    take_case("4x3/0/int32_indices", U((4, 3)), vals((2, 2), [3, 0, -1, 5], "int32"), 0, "clip")
    take_case("3x4/1/int32_indices_wrap", U((3, 4)), vals((3,), [-1, 4, 9], "int32"), 1, "wrap")
    take_case(f"4/0/{other}_indices", U((4,)), vals((3,), [3, 1, 3], other), 0, "clip")
    take_case("larger/40x3/0", U((40, 3)), ints((50,), -5, 45), 0, "clip")

    pick_case("3x4/-1", U((3, 4)), vals((3,), [0, 3, 1]), -1, False, "clip")
    pick_case("3x4/1/keepdims", U((3, 4)), vals((3, 1), [2, 0, 3]), 1, True, "clip")
    pick_case("3x4/0", U((3, 4)), vals((4,), [2, 0, 1, 2]), 0, False, "clip")
    out_of_range = [-1, 3, 5, 1, 0, 2, -7, 9]
    pick_case("2x3x4/1/clip_out_of_range", U((2, 3, 4)), vals((2, 4), out_of_range), 1, False, "clip")
    pick_case("2x3x4/1/wrap", U((2, 3, 4)), vals((2, 4), out_of_range), 1, False, "wrap")
    pick_case("2x3x4/-1/keepdims_wrap_fractional", U((2, 3, 4)),
              vals((2, 3, 1), [-0.5, 4.7, -1.2, 2.9, 3, -4]), -1, True, "wrap")
    pick_case("3x5/1/int32_index", U((3, 5)), vals((3,), [4, 0, 2], "int32"), 1, False, "clip")
    pick_case("2x1x3x2/-2/keepdims", U((2, 1, 3, 2)), ints((2, 1, 1, 2), 0, 2), -2, True, "clip")
    pick_case("5/0/keepdims", U((5,)), vals((1,), [3]), 0, True, "clip")

    one_hot_case("4/depth4", vals((4,), [0, 2, 1, 3]), 4, 1, 0, "float32")
    one_hot_case("2x3/out_of_range", vals((2, 3), [-1, 5, 2, 0, 4, 3]), 4, 2.5, -1, dt)
    one_hot_case("4/fractional", vals((4,), [2.9, -0.5, 3.99, -1.5]), 4, 1, 0, dt)
    one_hot_case(f"3/to_{other}", vals((3,), [1, 0, 2]), 3, 1, 0, other)
    one_hot_case("3/to_int32", vals((3,), [1, 0, 7]), 3, 5, -1, "int32")
    one_hot_case("2x1x2/depth1", vals((2, 1, 2), [0, 1, 0, -1]), 1, 1, 0, dt)

    section(f"{dt}/search", dt)
    for op in ("argmax", "argmin"):
        for shp, axis, keep in [((7,), None, False), ((2, 3), None, True), ((3, 4), 0, False),
                                ((3, 4), -1, True), ((2, 3, 4), 1, False), ((2, 3, 4), -3, True),
                                ((2, 1, 3, 2), 3, False)]:
            ax = "all" if axis is None else f"ax{axis}"
            arg_case(op, f"{shape_of(shp)}/{ax}" + ("/keepdims" if keep else ""), U(shp), axis, keep)
        arg_case(op, "ties/3x5/ax1", ints((3, 5), -1, 1), 1, False)
        arg_case(op, "ties/3x5/all", ints((3, 5), -1, 1), None, False)
        nan_x = vals((2, 4), [1, float("nan"), 3, float("nan"), 2, 5, 5, 1])
        arg_case(op, "nan/2x4/ax1", nan_x, 1, False)
        arg_case(op, "nan/2x4/all", nan_x, None, False)
        arg_case(op, "larger/5x37/ax-1", U((5, 37)), -1, False)

    for ret in ("value", "indices", "mask", "both"):
        for asc in (False, True):
            topk_case(f"2x5/ax-1/k2/{ret}" + ("/ascend" if asc else ""), U((2, 5)), -1, 2, ret, asc)
    topk_case("4x3/ax0/k3/value", U((4, 3)), 0, 3, "value", False)
    topk_case("2x3x4/ax1/k2/both/ascend", U((2, 3, 4)), 1, 2, "both", True)
    topk_case("2x3x4/ax-3/k1/indices", U((2, 3, 4)), -3, 1, "indices", False)
    topk_case("2x1x3x2/ax2/k2/mask", U((2, 1, 3, 2)), 2, 2, "mask", False)
    topk_case("6/ax0/k6/value", U((6,)), 0, 6, "value", False)
    topk_case("3x4/ax-1/k1/indices", U((3, 4)), -1, 1, "indices", False)
    topk_case("larger/4x40/ax-1/k7/both", U((4, 40)), -1, 7, "both", False)

    for op in ("sort", "argsort"):
        for shp, axis in [((6,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -3),
                          ((2, 1, 3, 2), 2)]:
            for asc in (True, False):
                sort_case(op, f"{shape_of(shp)}/ax{axis}" + ("" if asc else "/descend"), U(shp), axis, asc)
        sort_case(op, "larger/3x45/ax-1", U((3, 45)), -1, True)
    big = 3e38 if dt == "float32" else 1e300
    sort_case("sort", "special/5", vals((5,), [float("inf"), -0.5, float("-inf"), big, 0]), 0, True)

    section(f"{dt}/movement-new", dt)
    for shp, reps in [((3,), [2]), ((2, 3), [2, 1]), ((2, 3), [3]), ((3,), [2, 2]), ((2, 1, 3), [1, 3, 1]),
                      ((2, 1, 2, 2), [2, 1, 1, 2]), ((2, 2), [1, 1]), ((1, 2), [2, 2, 2])]:
        tile_case(f"{shape_of(shp)}/{'x'.join(map(str, reps))}", U(shp), reps)
    for shp, r, axis in [((4,), 3, 0), ((2, 3), 2, None), ((2, 3), 2, 1), ((2, 3), 3, -2), ((2, 1, 3), 4, 1),
                         ((2, 3, 2, 2), 2, -1), ((3,), 1, 0)]:
        repeat_case(f"{shape_of(shp)}/{r}/{'all' if axis is None else f'ax{axis}'}", U(shp), r, axis)
    for shp, axis in [((5,), 0), ((2, 3), 1), ((2, 3), -2), ((2, 3, 4), [0, 2]), ((2, 3, 4), [-1, -2, -3]),
                      ((2, 1, 3, 2), [1, 3])]:
        flip_case(f"{shape_of(shp)}/{axis}".replace(" ", ""), U(shp), axis)
    # axis-0 form with a step (NumPy x[begin:end:step])
    for shp, b, e, s in [((6,), 0, 6, 2), ((6,), None, None, -1), ((5, 3), 4, 0, -2), ((6, 2), None, None, 3),
                         ((5,), -1, None, -2), ((5,), 1, 4, 1), ((4, 2, 1, 2), -1, -5, -1), ((4,), 0, 10, 3)]:
        slice_case(f"{shape_of(shp)}/{b}:{e}:{s}", U(shp), b, e, s)
    # multi-axis form (MXNet slice: lists, null = the default bound / step 1)
    slice_case("4x5/multi/no_step", U((4, 5)), [1, 0], [3, 5], None)
    slice_case("4x5/multi/null_entries", U((4, 5)), [None, 1], [None, 4], [None, 2])
    slice_case("3x4x5/multi/negative_steps", U((3, 4, 5)), [2, None, 4], [None, None, 0], [-1, 2, -2])
    slice_case("4x6/multi/short_lists", U((4, 6)), [1], [3], None)
    slice_case("2x3x4x5/multi/rank4", U((2, 3, 4, 5)), [0, 2, None, 1], [2, -4, None, 5], [1, -1, 3, 2])
    slice_case("3x4/multi/negative_bounds", U((3, 4)), [-2, -3], [None, -1], [1, 1])
    for shp, axis, b, e in [((4, 3), 0, 1, 3), ((4, 3), 1, 0, None), ((2, 3, 4), -1, -3, -1),
                            ((2, 3, 4), 1, 2, None), ((2, 1, 3, 2), 2, -2, None), ((5,), 0, 0, 5)]:
        slice_axis_case(f"{shape_of(shp)}/ax{axis}/{b}:{e}", U(shp), axis, b, e)

    section(f"{dt}/linalg-new", dt)
    dot_case(U((3, 2)), U((3, 4)), ta=True)
    dot_case(U((2, 3)), U((4, 3)), tb=True)
    dot_case(U((3, 2)), U((4, 3)), ta=True, tb=True)
    dot_case(U((1, 5)), U((1, 5)), ta=True)  # outer product
    dot_case(U((3,)), U((4, 3)), tb=True)
    dot_case(U((3, 2)), U((3,)), ta=True)
    dot_case(U((4,)), U((4,)), ta=True, tb=True)  # no effect on 1-D
    dot_case(U((3,)), U((3, 4)), ta=True)
    dot_case(U((17, 9)), U((13, 17)), ta=True, tb=True, name="larger/17x9T.13x17T")
    for shp, axis, keep in [((6,), None, False), ((3, 4), 1, False), ((3, 4), -2, True),
                            ((2, 3, 4), [0, 2], False), ((2, 3, 1, 4), None, True), ((2, 3, 4), [-1, 0], True)]:
        for o in (1, 2):
            reduce_case("norm", U(shp, -2, 2), axis, keep, ord=o)
    zeros = vals((2, 4), [0, -0.0, 3, -4, 0, 0, 0, 0])
    reduce_case("norm", zeros, 1, False, name="zeros/2x4/ax1/ord1", ord=1)
    reduce_case("norm", zeros.copy(), -1, True, name="zeros/2x4/ax-1/keepdims/ord2")

    section(f"{dt}/astype", dt)
    for to in ("float32", "float64"):
        for shp in ((), (2, 3), (2, 1, 3, 2)):
            astype_case(f"to_{to}/{shape_of(shp)}", U(shp), to)
    special = [float("nan"), float("inf"), float("-inf"), -0.0, 1e-30, 3e38]
    astype_case(f"to_{other}/special", vals((6,), special), other)
    if dt == "float64":
        # rounding to float32: nearest even, overflow to inf, underflow to 0 / subnormals
        astype_case("to_float32/rounding", vals((8,), [0.1, 16777217, 1 + 2 ** -24, 1e300, -1e300, 1e-300,
                                                         3.4028235677973366e38, 1e-40]), "float32")
        astype_case("to_int32/truncation", vals((12,), [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -3.7, 3.7, -0.0,
                                                          0.49999999999999994, -0.9999999999999999,
                                                          2147483647.9]), "int32")
        astype_case("to_int32/saturation", vals((6,), [2147483648.0, -2147483649.0, 1e300, float("inf"),
                                                         float("-inf"), float("nan")]), "int32")
    else:
        astype_case("to_int32/truncation", vals((12,), [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -3.7, 3.7, -0.0,
                                                          0.49999997, -0.99999994, 2147483520]), "int32")
        astype_case("to_int32/saturation", vals((6,), [2147483648.0, -3e9, 3e38, float("inf"), float("-inf"),
                                                         float("nan")]), "int32")
    astype_case("to_int32/2x3", U((2, 3), -100, 100), "int32")

# int32 cases of the new ops
section("int32/new", "int32")
where_case("int32_cond/2x3", ints((2, 3), 0, 1), ints((2, 3), -50, 50), ints((2, 3), -50, 50))
where_case("f32_cond_bcast/3x1+1x4+0d", vals((3, 1), [0, float("nan"), -0.0], "float32"), ints((1, 4), -50, 50),
           ints((), -50, 50))
for op in ("argmax", "argmin"):
    arg_case(op, "ties/3x5/ax1", ints((3, 5), -1, 1), 1, False)
    arg_case(op, "ties/3x5/all", ints((3, 5), -1, 1), None, False)
    arg_case(op, "2x3x4/ax-2/keepdims", ints((2, 3, 4), -50, 50), -2, True)
    arg_case(op, "2x3/all/keepdims", ints((2, 3), -50, 50), None, True)
    arg_case(op, "extremes/4", vals((4,), [INT_MIN, INT_MAX, INT_MIN, INT_MAX]), 0, False)


def distinct_ints(shape, axis):
    """int32 values without ties along the axis."""
    rows = int(np.prod(shape)) // shape[axis]
    x = np.stack([rng.permutation(np.arange(-50, 51))[:shape[axis]] for _ in range(rows)])
    return np.moveaxis(x.reshape(tuple(d for i, d in enumerate(shape) if i != axis) + (shape[axis],)), -1,
                       axis).astype(I32)


for asc in (False, True):
    topk_case("2x5/ax-1/k2/indices" + ("/ascend" if asc else ""), distinct_ints((2, 5), 1), -1, 2, "indices",
              asc)
topk_case("4x3/ax0/k3/indices", distinct_ints((4, 3), 0), 0, 3, "indices", False)
for asc in (True, False):
    sort_case("sort", "ties/3x5/ax-1" + ("" if asc else "/descend"), ints((3, 5), -3, 3), -1, asc)
    sort_case("sort", "2x3x4/ax1" + ("" if asc else "/descend"), ints((2, 3, 4), -50, 50), 1, asc)
sort_case("sort", "extremes/4", vals((4,), [INT_MAX, INT_MIN, 0, -1]), 0, True)
one_hot_case("4/depth4", vals((4,), [0, 2, 1, 3]), 4, 1, 0, "float32")
one_hot_case("2x3/to_int32/out_of_range", vals((2, 3), [-1, 5, 2, 0, 4, 3]), 4, 5, -1, "int32")
one_hot_case("3/to_float64", vals((3,), [2, 0, 1]), 3, 1.5, 0, "float64")
for shp, reps in [((3,), [2]), ((2, 3), [3]), ((3,), [2, 2]), ((2, 1, 2, 2), [2, 1, 1, 2])]:
    tile_case(f"{shape_of(shp)}/{'x'.join(map(str, reps))}", ints(shp, -50, 50), reps)
for shp, r, axis in [((4,), 3, 0), ((2, 3), 2, None), ((2, 3), 3, -2)]:
    repeat_case(f"{shape_of(shp)}/{r}/{'all' if axis is None else f'ax{axis}'}", ints(shp, -50, 50), r, axis)
for shp, axis in [((5,), 0), ((2, 3, 4), [0, 2]), ((2, 3), -1)]:
    flip_case(f"{shape_of(shp)}/{axis}".replace(" ", ""), ints(shp, -50, 50), axis)
for shp, axis, b, e in [((4, 3), 0, 1, 3), ((2, 3, 4), -1, -3, None), ((2, 1, 3, 2), 2, 0, 2)]:
    slice_axis_case(f"{shape_of(shp)}/ax{axis}/{b}:{e}", ints(shp, -50, 50), axis, b, e)
for to in ("float32", "float64", "int32"):
    astype_case(f"to_{to}/2x3", ints((2, 3), -1000, 1000), to)
# int32 -> float32 rounds to nearest even above 2^24
astype_case("to_float32/rounding",
            vals((7,), [16777217, 16777219, 2147483647, INT_MIN, 123456789, -16777217, 0]), "float32")
astype_case("to_float64/extremes", vals((3,), [INT_MAX, INT_MIN, -1]), "float64")

# 0-d arrays (shape []) with the first float32 ops: elementwise ops keep the
# shape [], broadcasting makes it any shape
section("float32/rank0", "float32")
for op in ARITH:
    for name, sa, sb in [("0d+0d", (), ()), ("0d+2x3", (), (2, 3)), ("2x1x3+0d", (2, 1, 3), ())]:
        binary_case(op, name, *binary_inputs(op, sa, sb))
for op in COMPARISONS:
    binary_case(op, "0d+2x3", ints(()), ints((2, 3)))
    scalar_case(op, "x_{op}_0.5/0d".replace("{op}", op), ints((), scale=0.5), 0.5, False)
for op in ARITH:
    for reverse in (False, True):
        x = U((), 0.25, 3) if op == "pow" else (away(()) if op == "div" and reverse else U(()))
        scalar_case(op, f"{'2_' + op + '_x' if reverse else 'x_' + op + '_2'}/0d", x, 2, reverse)
for op in UNARY_OLD:
    lo, hi = UNARY_RANGE[op]
    unary_case(op, "random/0d", U((), lo, hi))


# ---------------------------------------------------------------------------
# self-check: coverage, gradients, dtypes, tolerances; then write
# ---------------------------------------------------------------------------

def expects_grads(c):
    """Whether a case must carry head/grads (see NOT_DIFFERENTIABLE)."""
    if c["dtype"] == "int32" or c["op"] in NOT_DIFFERENTIABLE:
        return False
    if c["op"] == "topk":
        return c["params"]["ret_typ"] in ("value", "both")
    if c["op"] == "astype":
        return c["params"]["dtype"] != "int32"
    return True


NO_GRAD_INPUTS = {"where": {0}, "take": {1}, "pick": {1}}  # cond, indices, index


def check_tensor(t, where_):
    assert set(t) >= {"dtype", "shape", "data"}, where_
    assert t["dtype"] in DTYPES, where_
    assert len(t["data"]) == int(np.prod(t["shape"])), where_
    if t["dtype"] == "int32":
        assert all(isinstance(v, int) for v in t["data"]), where_
    if "rtol" in t:
        r = t["rtol"]
        if t["dtype"] == "int32":
            assert r == 0 and t["atol"] == 0, where_
        elif t["dtype"] == "float32":
            assert ELEM <= r <= TRANS and t["atol"] >= TINY, where_
        else:
            assert ELEM64 <= r <= TRANS64 and t["atol"] >= TINY64, where_


count = {}
for c in cases:
    n = c["name"]
    assert n.startswith(c["op"] + "/" + PREFIX[c["dtype"]]), n
    count.setdefault(c["op"], {d: 0 for d in DTYPES})[c["dtype"]] += 1
    for t in c["inputs"]:
        check_tensor(t, n)
    outs = c["outputs"] if "outputs" in c else [c["output"]]
    assert ("outputs" in c) == (c["kind"] == "topk" and c["params"]["ret_typ"] == "both"), n
    assert ("output" in c) != ("outputs" in c), n
    for t in outs:
        check_tensor(t, n)
        assert "rtol" in t, n
    # the case dtype is that of the data input
    data_input = c["inputs"][1] if c["op"] == "where" else c["inputs"][0]
    assert data_input["dtype"] == c["dtype"], n
    if c["op"] not in ("astype", "oneHot"):
        assert all(t["dtype"] == c["dtype"] for t in outs), n
    assert expects_grads(c) == ("grads" in c) == ("head" in c), n
    if "grads" in c:
        check_tensor(c["head"], n)
        assert c["head"]["dtype"] == outs[0]["dtype"], n
        assert len(c["grads"]) == len(c["inputs"]), n
        for i, (g, x) in enumerate(zip(c["grads"], c["inputs"])):
            if i in NO_GRAD_INPUTS.get(c["op"], ()) or x["dtype"] == "int32":
                assert g is None, n
            else:
                assert g is not None and g["dtype"] == x["dtype"] and g["shape"] == x["shape"], n
                check_tensor(g, n)

# every op has float32 and float64 cases, int32 ones exactly where the spec has int32
for op in ALL_OPS:
    k = count.get(op, {d: 0 for d in DTYPES})
    assert k["float32"] >= 3 and k["float64"] >= 3, (op, k)
    assert (k["int32"] > 0) == (op in INT32_OPS), (op, k)
# every differentiable op has gradient vectors in both float dtypes
for op in ALL_OPS:
    if op in NOT_DIFFERENTIABLE:
        continue
    for dt in ("float32", "float64"):
        assert any(c["op"] == op and c["dtype"] == dt and "grads" in c for c in cases), (op, dt)


def has(op, dt, pred):
    return any(c["op"] == op and c["dtype"] == dt and pred(c) for c in cases)


for dt in ("float32", "float64"):
    p = lambda c: c["params"]  # noqa: E731
    for ret in ("value", "indices", "mask", "both"):
        for asc in (False, True):
            assert has("topk", dt, lambda c: p(c)["ret_typ"] == ret and p(c)["is_ascend"] == asc), \
                (dt, ret, asc)
    for mode in ("clip", "wrap"):
        assert has("take", dt, lambda c: p(c)["mode"] == mode), (dt, mode)
        assert has("pick", dt, lambda c: p(c)["mode"] == mode), (dt, mode)
    for op in ("take", "pick"):
        assert has(op, dt, lambda c: c["inputs"][1]["dtype"] == "int32"), (op, dt)
        assert has(op, dt, lambda c: any(v != int(v) for v in c["inputs"][1]["data"] if not isinstance(v, str)))
    for keep in (False, True):
        assert has("pick", dt, lambda c: p(c)["keepdims"] == keep)
        for op in ("argmax", "argmin"):
            assert has(op, dt, lambda c: p(c)["keepdims"] == keep and p(c)["axis"] is None)
            assert has(op, dt, lambda c: p(c)["keepdims"] == keep and isinstance(p(c)["axis"], int))
    for op in ("argmax", "argmin", "softmax", "logSoftmax", "take"):
        assert has(op, dt, lambda c: isinstance(p(c)["axis"], int) and p(c)["axis"] < 0), (op, dt)
    for op in ("sort", "argsort"):
        for asc in (False, True):
            assert has(op, dt, lambda c: p(c)["is_ascend"] == asc), (op, dt)
    for o in (1, 2):
        for keep in (False, True):
            assert has("norm", dt, lambda c: p(c)["ord"] == o and p(c)["keepdims"] == keep), (dt, o)
    for ta in (False, True):
        for tb in (False, True):
            assert has("dot", dt, lambda c: (p(c)["transpose_a"], p(c)["transpose_b"]) == (ta, tb)
                       and len(c["inputs"][0]["shape"]) == 2 and len(c["inputs"][1]["shape"]) == 2), \
                (dt, ta, tb)
    assert has("dot", dt, lambda c: p(c)["transpose_a"] and len(c["inputs"][0]["shape"]) == 1)
    assert has("slice", dt, lambda c: isinstance(p(c)["begin"], list))
    assert has("slice", dt, lambda c: not isinstance(p(c)["begin"], list) and (p(c)["step"] or 1) < 0)
    for op in ("where", "leakyRelu", "clip", "add", "exp", "sin", "astype"):
        assert has(op, dt, lambda c: c["inputs"][-1]["shape"] == []), (op, dt)  # 0-d
for src in DTYPES:
    for to in DTYPES:
        assert has("astype", src, lambda c: c["params"]["dtype"] == to), (src, to)

print(f"{'op':<14}" + "".join(f"{d:>9}" for d in DTYPES))
for op in ALL_OPS:
    print(f"{op:<14}" + "".join(f"{count[op][d]:>9}" for d in DTYPES))
totals = {d: sum(count[op][d] for op in count) for d in DTYPES}
print(f"{'total':<14}" + "".join(f"{totals[d]:>9}" for d in DTYPES))

# The cases go to shards tests/vectors/ops-NN.json (each a JSON list, split
# at case boundaries, under SHARD_BYTES so no committed file nears 1 MiB);
# readers concatenate every ops-NN.json in name order.
SHARD_BYTES = 900_000
here = os.path.dirname(os.path.abspath(__file__))
for old in os.listdir(here):
    if old == "ops.json" or (old.startswith("ops-") and old.endswith(".json")):
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
total = 0
for i, part in enumerate(shards):
    text = "[\n" + ",\n".join(part) + "\n]\n"
    assert len(text) < 1_000_000, len(text)
    path = os.path.join(here, f"ops-{i:02d}.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    total += len(text)
print(f"wrote {len(shards)} shards tests/vectors/ops-NN.json: {len(cases)} cases, {total} bytes")
