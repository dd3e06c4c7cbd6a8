#!/usr/bin/python3
"""Generate tests/vectors/autograd.json: ndgrad's autograd held to PyTorch.
Read by tests/ts/autograd-torch.test.ts (the public `ndgrad` API on the .wasm
build) and crates/ndgrad-core/tests/autograd_torch.rs (natively, through
`ndgrad_core::Engine`).

Run with Debian's PyTorch and NumPy (python3-torch), not a pyenv python:

    /usr/bin/python3 tests/vectors/gen_autograd.py

The output is deterministic (fixed seeds, no dict-order or time dependence):
running the script twice writes the same file.

What is checked
---------------
* `programs`: seeded random expression DAGs over ndgrad's differentiable
  ops (add sub mul div pow maximum minimum, their scalar forms, neg exp log
  sqrt square abs sigmoid tanh relu, sum mean max min norm with axis and
  keepdims, reshape transpose broadcastTo dot batchDot concat stack at slice,
  detach) with NumPy broadcasting between operands of different shapes. For
  each: the forward values of `out` and of the scalar `loss`; `.grad` of
  every input after `loss.backward()`; `autograd.grad(out, wrt, {headGrads})`
  for a random head gradient and a subset `wrt` of the inputs; and, where the
  loss has curvature, a Hessian-vector product (see "hvp" below).
* `second`: second derivatives of every differentiable op on its own (each
  unary op, each binary op w.r.t. each operand and both, the scalar forms,
  every reduction with several axis/keepdims, dot in all its rank
  combinations, batchDot, pow with an array exponent, and the movement ops).
  Piecewise-linear and linear ops are followed by `square` or `tanh`, so that
  the second pass has to differentiate *their backward formula* (for an op
  whose gradient does not depend on its input PyTorch raises "does not
  require grad"; ndgrad gives zeros there since issue #11, checked by
  tests/ts/secondorder.test.ts, not by these vectors).
  Then the typed cases (names "second/float32/..." and "second/float64/...",
  a "dtype" field): the same kind of case for every differentiable op of
  issue #3 (docs/ops-spec.md), each in float32 and in float64 -- the new
  unary functions inside their domains; the step functions floor ceil round
  rint trunc sign as (f(x) * x)^2 with x away from their jumps (and from .5
  for the roundings), so that both passes go through their zero gradient
  and use their values; clip and leakyRelu away from their kinks, followed
  by square or tanh; where (constant cond, broadcasting); softmax and
  logSoftmax; the gathers and movements take pick topk(value) sort tile
  repeat flip slice (steps, negative steps, multi-axis) sliceAxis followed
  by square/tanh or multiplied with x, so that the second pass goes through
  their scatter backward (repeated take/pick indices accumulate); dot with
  transposeA/transposeB; norm with ord 1 and 2 and axis; astype round trips
  through the other float dtype; and a few chains of them -- plus, in
  float64 only, one case of each original op (the float32 ones are above).
* `semantics`: grad_req "add" accumulating over several backward calls next
  to "write" and "null" variables; `retainGraph` backward repeated on one
  graph; a double backward repeated with `retainGraph` accumulating into
  "add" variables; several heads with `headGrads` (null = ones) through
  `autograd.backward` and `autograd.grad`; `autograd.grad` leaving `.grad`
  untouched; `detach` cutting the graph.
* `controlFlow`: the tutorial's f(a) (b = 2a; double b while its norm is below
  1000; c = b[0] if sum(b) >= 0 else b[1]) over many random inputs of both
  signs, with the number of doublings, the branch, c and dc/da.

All references are computed by torch in float64 from the float32 inputs
(`torch.autograd.grad`, `create_graph=True` for second derivatives), then
rounded to float32 (float64 cases: from float64 inputs, not rounded).

Values are kept in safe domains while the programs are generated (each
candidate instruction is evaluated and rejected if it breaks a rule): log,
sqrt and a pow base >= 0.1; |divisor| >= 0.25; exp of <= 3; sigmoid/tanh of
|x| <= 5; |x| >= 0.02 under abs and relu; operands of maximum/minimum (and x
vs the scalar) >= 0.02 apart; the two largest (smallest) elements of every
max (min) reduction >= 0.02 apart; norms >= 0.1; every value finite with
|v| <= 30 and at most 48 elements. So no tie, kink or pole is within reach
of float32 rounding, and MXNet's and PyTorch's conventions there (ties of
max, sign(0), ...) never matter.

Program encoding
----------------
Values are numbered: the inputs first (0 .. n-1, in order), then one value
per instruction (instruction k makes value n + k). An instruction is

    {"op": name, "args": [value ids], ...params}

    binary   add sub mul div pow maximum minimum   args [a, b], broadcasting
    scalar   the same names with "scalar": s and optional "reverse": true:
             args [x]; x op s, or s op x when reverse (nd.pow(2, x) is
             {"op": "pow", "args": [x], "scalar": 2, "reverse": true})
    unary    neg exp log sqrt square abs sigmoid tanh relu      args [x]
    reduce   sum mean max min norm prod   args [x], "axis": null (all) |
             int | [int...] (negative allowed), "keepdims": bool; a full
             reduction without keepdims has shape [1] (MXNet 1.x)
    reshape      "shape": [int...] (one -1 allowed)
    transpose    "axes": null (reverse) | [int...]
    broadcastTo  "shape": [int...]
    dot          args [a, b]: MXNet dot (last axis of a with the first of
                 b; 1-D . 1-D gives shape [1])
    batchDot     args [a, b]: (B,M,K).(B,K,N)
    concat       args [a, b, ...], "axis": int
    stack        args [a, b, ...], "axis": int (an axis of the result)
    at           "index": int (axis 0, negative allowed; 1-D gives [1])
    slice        "begin", "end": int | null (axis 0, Python rules); typed cases
                 also "step": int (x.slice(begin, end, step)), or lists
                 "begin", "end", "step" of int | null: MXNet's multi-axis
                 slice (nd.slice(x, begin, end, step))
    detach       args [x]: x cut from the graph

and, in the typed cases (the ops of issue #3; parameters named as in the
TypeScript API):

    unary    sin cos tan arcsin arccos arctan sinh cosh arcsinh arccosh
             arctanh log1p expm1 log2 log10 reciprocal rsqrt cbrt erf
             softrelu floor ceil round rint trunc sign          args [x]
    clip         "aMin", "aMax": numbers
    leakyRelu    "slope": number
    where        args [x, y], "cond": Tensor (a constant with its own
                 "dtype"): nd.where(cond, x, y)
    softmax, logSoftmax   "axis": int
    take         "indices": Tensor (constant, own "dtype"), "axis": int,
                 "mode": "clip" | "wrap"
    pick         "indices": Tensor (constant), "axis", "keepdims", "mode"
    topk         "axis", "k", "isAscend": retTyp "value"
    sort         "axis", "isAscend"
    tile         "reps": [int...]
    repeat       "repeats": int, "axis": int | null
    flip         "axis": int | [int...]
    sliceAxis    "axis", "begin": int, "end": int | null
    dot          optional "transposeA", "transposeB": bool
    norm         optional "ord": 1 | 2 (absent: 2), with "axis", "keepdims"
    astype       "dtype": "float32" | "float64"

Every input is a variable (`attachGrad()`, grad_req from "reqs" where given,
else "write"), and the instructions run inside one `autograd.record`.

JSON schema
-----------
Tensors are {"shape": [...], "data": [...]} (flat, C order; numbers are the
shortest decimals that round to the float32 value, as in ops.json; there are
no NaN/inf values here). A case with "dtype": "float64" has every tensor
(inputs, head gradient, v, expected values) in float64, written as the
shortest decimals that round-trip in float64; a case without "dtype" is
float32. Only the constants of an instruction (where's cond, take/pick
indices) carry their own "dtype" ("int32", "float32" or "float64"). An expected tensor adds "tol": [...], one absolute
tolerance per element (see Tolerances); an element passes when
|got - want| <= tol.

    {
      "torch": str, "numpy": str,
      "programs":  [Case], "second": [Case],
      "semantics": [Semantic],
      "controlFlow": {"threshold": 1000, "runs": [Run]}
    }

    Case = {
      "name": str, "dtype": "float32" | "float64" (typed cases only),
      "inputs": [Tensor], "ops": [Instruction],
      "out": int,                       the value compared and differentiated
      "loss": int,                      a value of shape [1] (programs only)
      "expect": {"out": Expected, "loss": Expected},      (loss: programs)
      "backward": [Expected per input]  .grad after loss.backward()  (programs)
      "grad": {                         autograd.grad(out, wrt, {headGrads: [headGrad]})
        "wrt": [input index...], "headGrad": Tensor,
        "expect": [Expected per wrt]},                              (programs)
      "hvp": {
        "of": int,                      the head: loss (programs) or out (second)
        "headGrad": Tensor | null,      null: ones
        "wrt": [input index...],
        "v": [Tensor per wrt],
        "mode": "backward" | "grad",
        "first":  [Expected per wrt],   g = autograd.grad(of, wrt, {headGrads, createGraph: true})
        "expect": [Expected per input]  d/dx of s = sum_i sum(g_i * v_i) (s built as
                                        g_0.mul(v_0).sum(), then .add(g_i.mul(v_i).sum()),
                                        recorded), for every input: .grad after
                                        s.backward() ("backward"; inputs s does not
                                        reach keep zeros) or autograd.grad(s, inputs)
                                        ("grad")
      }
    }

The replay order for a program: record the instructions once; call
`autograd.grad(out, wrt, {headGrads, retainGraph: true})` and compare, then
`loss.backward()` and compare `.grad`; then attach fresh (zero) gradients
and record again for "hvp".

    Semantic = Case fields "name", "inputs", "ops", "out" plus "type":
      "accumulate": "reqs": [grad_req per input], "rounds": [{"headGrad": Tensor|null}]:
          for each round, record and `out.backward(headGrad)`; then
          "expect": {"out", "grads": [Expected per input]} compares .grad
          ("add" sums the rounds, "write" keeps the last, "null" stays zeros)
      "retain": "reqs", "headGrad", "times": record once, then
          `out.backward(headGrad, {retainGraph: true})` times-1 times and once
          without; "expect": {"out", "grads"}
      "retainSecond": "reqs" ("add"/"write" only), "v" (per input), "times":
          record once; g = autograd.grad(out, inputs, {createGraph: true});
          s as in hvp; `s.backward({retainGraph: true})` times-1 times, once
          without; "expect": {"out", "first": [Expected per input], "grads"}
      "heads": "heads": [value ids], "headGrads": [Tensor|null]: record once;
          `autograd.backward(heads, {headGrads, retainGraph: true})`, compare
          .grad with "expect.grads"; then `autograd.grad(heads, inputs,
          {headGrads})`, compare with "expect.gradOf"
      "gradUntouched": "loss", "headGrad": record, `loss.backward()`,
          .grad = "expect.grads"; record again, `autograd.grad(out, inputs,
          {headGrads: [headGrad]})` = "expect.gradOf", and .grad is still
          "expect.grads"
      "detach": a program using detach, replayed as `loss.backward()` with
          "loss"; "expect": {"out", "loss", "grads"}

    Run = {"a": Tensor, "doublings": int, "index": 0|1, "c": Expected, "grad": Expected}

Tolerances
----------
The engine computes in float32; the references are float64. How far a
correct float32 implementation may be from the float64 value depends on the
conditioning of each DAG (cancellation in sums, dot products, `1 - y*y`,
gradient contributions of opposite signs), so one global rtol would be either
too loose or wrong. Each element instead gets its own absolute tolerance,
estimated by Monte Carlo arithmetic (Parker 1997; the method of
Verificarlo): the whole computation of a case (forward, every backward pass,
the second-order passes) is rerun N = 12 times in float64 with each place
where float32 rounds replaced by a relative perturbation uniform in
[-u, u], u = 2^-24 (float32's unit roundoff):
* the result of every forward op that rounds (not selections, data
  movement or neg, which are exact), and for the summing ops (sum, mean,
  norm, prod, dot, batchDot) every term going in, since their internal
  partial sums round too and can cancel;
* every gradient every graph node hands to each of its inputs, separately
  for each contribution (node hooks; under create_graph they are recorded,
  so the rounding of the first backward pass is differentiated too, and
  contributions that cancel exactly in exact arithmetic, e.g. d(x/x)/dx,
  keep their rounding noise);
* every tensor a backward formula reads back from the tape (saved-tensor
  hooks: the engine's backward reads its rounded forward results, which is
  what makes `1 - y*y` of tanh or `y*(1 - y)` of a saturated sigmoid
  ill-conditioned), except those of the exact ops, whose backward compares
  them (max/min masks).
Inputs, head gradients and the v vectors are float32 values and are not
perturbed. The spread `d_i = max over samples |sample_i - ref_i|` is the
size of the float32 rounding error element i accumulates through its DAG.
Then

    tol_i = max(16 * d_i, 2^-20 * |ref_i|, 2^-126)

* 16 * d_i: d_i is about 1.5-2 standard deviations of the perturbed runs;
  16x covers the engine's deterministic round-to-nearest errors (bounded by
  the same u per operation), the roundings inside one backward formula
  (a few per node, perturbed once here), float32 libm kernels within a few
  ulps (exp, log, tanh, pow), and other summation orders (SIMD, pairwise)
  on the <= 48 terms reduced here (random walk vs worst case: a sqrt(n)
  factor);
* 2^-20 |ref_i| (8-16 float32 ulps): the rounding of the reference to
  float32 and of the engine's last operation, where the MCA spread of a
  single operation happens to be small;
* 2^-126: results near 0 with no rounding (e.g. gradients that are exactly
  0 for every sample) may be exactly 0 or subnormal.
The median tolerance is about 5e-6 relative, the 90th percentile 3e-5.
Tolerances are written rounded up to 2 significant digits.

float64 cases (the engine computes in float64): the same, with
u = 2^-50 (8 float64 ulps: a perturbation much below an ulp would itself
round away in the float64 arithmetic that applies it) and

    tol_i = max(16 * d_i, 1e-10 * |ref_i|, 2^-1022)

so 1e-10 relative, except where cancellation makes the MCA spread larger.
An astype to float32 inside a float64 case is a real conversion in the
reference too (only conversions run in float32 there, which round
identically in torch and in the engine); inside a float32 case (modelled in
float64) astype is the identity, its rounding to float32 a perturbation.
log_softmax is evaluated as its roundings happen (x - max, exp, sum, log,
subtraction, each perturbed), since its result can be much smaller than
the log-sum-exp it subtracts.

As a check of the method, the generator also runs every float32 case
through torch in float32 (its own CPU kernels, different from ndgrad's) and
asserts that those results pass these tolerances (it prints the largest fraction of a
tolerance used: 0.13 at generation; before the saved-tensor and summing-term
perturbations were modelled it was above 1, which is what they are for).
"""

import contextlib
import json
import math
import os

import numpy as np
import torch

assert torch.__version__.startswith("1.13"), "generate with Debian's python3-torch (/usr/bin/python3)"
assert np.__version__.startswith("1.24"), "generate with NumPy 1.24 (/usr/bin/python3)"
torch.set_num_threads(1)

F32 = np.float32
F64 = torch.float64
U = 2.0 ** -24  # float32 unit roundoff
N_SAMPLES = 12
SPREAD_FACTOR = 16.0
FLOOR = 2.0 ** -20
TINY = 2.0 ** -126
# float64 cases (see "Tolerances" in the docstring)
U64 = 2.0 ** -50  # the MCA perturbation: 8 float64 ulps (a smaller one rounds away)
FLOOR64 = 1e-10  # relative tolerance floor
TINY64 = 2.0 ** -1022
DTYPES = ("float32", "float64")

MARGIN = 0.02  # kinks and ties: distance of operands from them
MAX_ABS = 30.0
MAX_SIZE = 48

# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------


def enc(v):
    """One float32 value -> JSON (shortest decimal that round-trips)."""
    v = F32(v)
    assert np.isfinite(v), v
    if v == 0:
        return 0  # -0 never matters here (no division by a result, no sign tests)
    f = float(repr(v))
    assert F32(f) == v, (v, f)
    if f == int(f) and abs(f) < 2**53:
        return int(f)
    return f


def enc_tol(t):
    """A tolerance, rounded up to 2 significant digits."""
    t = float(t)
    assert t > 0 and math.isfinite(t)
    e = math.floor(math.log10(t)) - 1
    m = math.ceil(t / 10.0**e - 1e-9)
    r = float(f"{m}e{e}")
    if r < t:
        r = float(f"{m + 1}e{e}")
    assert r >= t
    return r


def enc64(v):
    """One float64 value -> JSON (json.dumps writes repr: the shortest
    decimal that round-trips in float64)."""
    v = float(v)
    assert math.isfinite(v), v
    if v == 0:
        return 0
    if v == int(v) and abs(v) < 2**53:
        return int(v)
    return v


def tensor(a, dtype="float32"):
    """A float tensor of a case (its dtype is the case's)."""
    a = np.asarray(a)
    if dtype == "float64":
        return {"shape": [int(d) for d in a.shape], "data": [enc64(v) for v in a.astype(np.float64).ravel()]}
    assert dtype == "float32", dtype
    return {"shape": [int(d) for d in a.shape], "data": [enc(v) for v in a.astype(F32).ravel()]}


def const_tensor(a, dtype):
    """A constant operand of an instruction (where's cond, take/pick
    indices), with its own dtype."""
    a = np.asarray(a, dtype=np.float64)
    if dtype == "int32":
        assert np.all(a == np.trunc(a)), a
        data = [int(v) for v in a.ravel()]
    elif dtype == "float32":
        assert np.all(a.astype(F32) == a), a
        data = [enc(v) for v in a.ravel()]
    else:
        data = [enc64(v) for v in a.ravel()]
    return {"dtype": dtype, "shape": [int(d) for d in a.shape], "data": data}


def const_values(t):
    return np.asarray(t["data"], dtype=np.float64).reshape(t["shape"])


def f32(a):
    """float32 values (as float64 arrays that hold them exactly)."""
    return np.asarray(a, dtype=F32)


# ---------------------------------------------------------------------------
# evaluation in torch
# ---------------------------------------------------------------------------

EXACT = {"neg", "abs", "relu", "maximum", "minimum", "max", "min", "reshape", "transpose",
         "broadcastTo", "at", "slice", "concat", "stack", "detach"}
UNARY = ["neg", "exp", "log", "sqrt", "square", "abs", "sigmoid", "tanh", "relu"]
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
REDUCE = ["sum", "mean", "max", "min", "norm", "prod"]

# the ops of the typed cases (float32 and float64)
NEW_UNARY = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "arcsin": torch.asin, "arccos": torch.acos,
    "arctan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "arcsinh": torch.asinh,
    "arccosh": torch.acosh, "arctanh": torch.atanh, "log1p": torch.log1p, "expm1": torch.expm1,
    "log2": torch.log2, "log10": torch.log10, "reciprocal": torch.reciprocal, "rsqrt": torch.rsqrt,
    "cbrt": lambda x: torch.sign(x) * torch.abs(x) ** (1.0 / 3.0), "erf": torch.erf,
    "softrelu": torch.nn.functional.softplus,
    # step functions: values only away from their jumps (and from .5 for the
    # roundings); gradient 0 (torch and MXNet)
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "rint": torch.round,
    "trunc": torch.trunc, "sign": torch.sign,
}
STEP = {"floor", "ceil", "round", "rint", "trunc", "sign"}
EXACT |= STEP | {"clip", "where", "take", "pick", "topk", "sort", "tile", "repeat", "flip", "sliceAxis"}
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


def pick_index(t, n, mode):
    """take/pick indices: truncated toward zero, then clipped or wrapped."""
    idx = np.trunc(const_values(t)).astype(np.int64)
    return np.clip(idx, 0, n - 1) if mode == "clip" else np.mod(idx, n)


def select(x, axis, sl):
    """x[..., sl, ...] on `axis` with Python's slice rules (negative steps
    too, which torch's basic indexing lacks)."""
    idx = list(range(*sl.indices(x.shape[axis])))
    assert idx, sl
    return torch.index_select(x, axis, torch.tensor(idx, dtype=torch.long))


def apply_new(ins, args):
    op = ins["op"]
    x = args[0]
    if op in NEW_UNARY:
        return NEW_UNARY[op](x)
    if op == "clip":
        return torch.clamp(x, ins["aMin"], ins["aMax"])
    if op == "leakyRelu":
        return torch.where(x > 0, x, x * ins["slope"])
    if op == "where":
        return torch.where(torch.tensor(const_values(ins["cond"]) != 0), x, args[1])
    if op in ("softmax", "logSoftmax"):
        f = torch.softmax if op == "softmax" else torch.log_softmax
        return f(x, dim=ins["axis"])
    if op == "take":
        ax = ins["axis"] % x.dim()
        idx = pick_index(ins["indices"], x.shape[ax], ins["mode"])
        y = torch.index_select(x, ax, torch.tensor(idx.ravel()))
        return y.reshape(tuple(x.shape[:ax]) + idx.shape + tuple(x.shape[ax + 1:]))
    if op == "pick":
        ax = ins["axis"] % x.dim()
        idx = pick_index(ins["indices"], x.shape[ax], ins["mode"])
        shp = list(x.shape)
        shp[ax] = 1
        y = torch.gather(x, ax, torch.tensor(idx.reshape(shp)))
        return y if ins["keepdims"] else y.squeeze(ax)
    if op == "topk":
        return torch.topk(x, ins["k"], dim=ins["axis"], largest=not ins["isAscend"], sorted=True).values
    if op == "sort":
        return torch.sort(x, dim=ins["axis"], descending=not ins["isAscend"]).values
    if op == "tile":
        return torch.tile(x, tuple(ins["reps"]))
    if op == "repeat":
        return torch.repeat_interleave(x, ins["repeats"], dim=ins["axis"])
    if op == "flip":
        axes = ins["axis"] if isinstance(ins["axis"], list) else [ins["axis"]]
        return torch.flip(x, [a % x.dim() for a in axes])
    if op == "sliceAxis":
        return select(x, ins["axis"] % x.dim(), slice(ins["begin"], ins["end"]))
    if op == "astype":
        return x.to(TORCH_DTYPE[ins["dtype"]])
    raise ValueError(op)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = [axis]
    if len(axis) == 0:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in axis))


def apply(ins, args):
    """One instruction on torch tensors, with ndgrad's (MXNet 1.x) shapes."""
    op = ins["op"]
    if "scalar" in ins:
        x, s, rev = args[0], float(ins["scalar"]), ins.get("reverse", False)
        if op == "add":
            return x + s
        if op == "sub":
            return s - x if rev else x - s
        if op == "mul":
            return x * s
        if op == "div":
            return s / x if rev else x / s
        if op == "pow":
            return torch.pow(s, x) if rev else torch.pow(x, s)
        if op == "maximum":
            return torch.clamp_min(x, s)
        if op == "minimum":
            return torch.clamp_max(x, s)
        raise ValueError(op)
    if op in BINARY:
        a, b = args
        return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum}[op](a, b)
    if op in UNARY:
        x = args[0]
        return {"neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
                "square": torch.square, "abs": torch.abs, "sigmoid": torch.sigmoid,
                "tanh": torch.tanh, "relu": torch.relu}[op](x)
    if op in REDUCE:
        x = args[0]
        axes = norm_axes(ins.get("axis"), x.dim())
        keep = ins.get("keepdims", False)
        if op == "sum":
            y = x.sum(dim=axes, keepdim=keep)
        elif op == "mean":
            y = x.mean(dim=axes, keepdim=keep)
        elif op == "max":
            y = torch.amax(x, dim=axes, keepdim=keep)
        elif op == "min":
            y = torch.amin(x, dim=axes, keepdim=keep)
        elif op == "norm" and ins.get("ord", 2) == 1:
            y = x.abs().sum(dim=axes, keepdim=keep)
        elif op == "norm":
            y = torch.linalg.vector_norm(x, 2, dim=axes, keepdim=keep)
        else:  # prod: one axis at a time (torch.prod takes one dim)
            y = x
            for a in sorted(axes, reverse=True):
                y = y.prod(dim=a, keepdim=keep)
        return y.reshape(1) if y.dim() == 0 else y
    x = args[0]
    if op == "reshape":
        return x.reshape(ins["shape"])
    if op == "transpose":
        axes = ins.get("axes")
        perm = list(range(x.dim()))[::-1] if axes is None else [a % x.dim() for a in axes]
        return x.permute(perm)
    if op == "broadcastTo":
        return torch.broadcast_to(x, ins["shape"])
    if op == "dot":
        a, b = args
        if ins.get("transposeA", False):
            a = a.permute(list(range(a.dim()))[::-1])
        if ins.get("transposeB", False):
            b = b.permute(list(range(b.dim()))[::-1])
        y = torch.tensordot(a, b, dims=([a.dim() - 1], [0]))
        return y.reshape(1) if y.dim() == 0 else y
    if op == "batchDot":
        return torch.bmm(args[0], args[1])
    if op == "concat":
        return torch.cat(list(args), dim=ins["axis"])
    if op == "stack":
        return torch.stack(list(args), dim=ins["axis"])
    if op == "at":
        j = ins["index"] % x.shape[0]
        return x[j] if x.dim() > 1 else x[j:j + 1]
    if op == "slice":
        b, e, st = ins.get("begin"), ins.get("end"), ins.get("step")
        if isinstance(b, list) or isinstance(e, list) or isinstance(st, list):
            # MXNet's multi-axis slice: one (begin, end, step) per leading axis
            for k in range(len(b)):
                x = select(x, k, slice(b[k], e[k], None if st is None else st[k]))
            return x
        if st is not None:
            return select(x, 0, slice(b, e, st))
        return x[ins.get("begin"):ins.get("end")]
    if op == "detach":
        return x.detach()
    return apply_new(ins, args)


def is_exact(ins):
    if ins["op"] == "astype":
        return ins["dtype"] == "float64"  # widening is exact; narrowing rounds
    return ins["op"] in EXACT


class Ctx:
    """How a reference run computes: dtype, and Monte Carlo perturbations."""

    def __init__(self, dtype=F64, seed=None, u=U, real_casts=False):
        self.dtype = dtype
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.hooked = set()
        self.exact = False
        self.u = u
        # astype: a real conversion (float64 cases, and runs in float32), or
        # (a float32 case modelled in float64) the identity, its rounding
        # to float32 modelled as a perturbation like any other
        self.real_casts = real_casts

    def _noise(self, shape, dtype=F64):
        # (a float32 tensor inside a float64 case: the noise rounds to 1)
        return torch.tensor(1.0 + self.rng.uniform(-self.u, self.u, size=shape), dtype=F64).to(dtype)

    def _node_hook(self, grad_inputs, grad_outputs):
        return tuple(None if g is None else g * self._noise(tuple(g.shape), g.dtype) for g in grad_inputs)

    def prepare(self, roots):
        """Before a backward pass from `roots`: perturb every gradient that
        every node of the graph hands on (each contribution separately, and,
        under create_graph, as recorded ops)."""
        if self.rng is None:
            return
        stack = [r.grad_fn for r in roots if r.grad_fn is not None]
        while stack:
            node = stack.pop()
            if node is None or node in self.hooked:
                continue
            self.hooked.add(node)
            node.register_hook(self._node_hook)
            stack.extend(m for m, _ in node.next_functions)

    def saved(self):
        """Perturb every tensor a backward formula reads back from the tape
        (each time it is read; recorded under create_graph), except those of
        exact ops, whose backward compares them (max/min masks)."""
        if self.rng is None:
            return contextlib.nullcontext()

        def pack(t):
            return (t, not self.exact and t.is_floating_point())

        def unpack(p):
            t, perturb = p
            return t * self._noise(tuple(t.shape), t.dtype) if perturb else t

        return torch.autograd.graph.saved_tensors_hooks(pack, unpack)

    def const(self, a):
        return torch.tensor(np.asarray(a, dtype=np.float64), dtype=self.dtype)

    def leaf(self, a, requires_grad=True):
        t = torch.tensor(np.asarray(a, dtype=np.float64), dtype=self.dtype, requires_grad=requires_grad)
        return t, t

    def out(self, y, exact=False):
        """A forward result, rounded (perturbed) unless the op is exact."""
        if self.rng is not None and not exact and y.is_floating_point():
            y = y * self._noise(tuple(y.shape), y.dtype)
        return y


SUMMING = {"sum", "mean", "norm", "prod", "dot", "batchDot", "softmax"}


def log_softmax_modelled(x, axis, ctx):
    """log_softmax as its roundings happen: z = x - max, l = log(sum(exp(z))),
    y = z - l, where y can be much smaller than z and l (the max is a
    constant of the gradient, detached)."""
    z = ctx.out(x - torch.amax(x, dim=axis, keepdim=True).detach())
    e = ctx.out(torch.exp(z))
    l = ctx.out(torch.log(ctx.out(e.sum(dim=axis, keepdim=True))))
    return z - l


def run(ops, us, ctx):
    vals = list(us)
    for ins in ops:
        args = [vals[i] for i in ins["args"]]
        if ins["op"] in SUMMING and "scalar" not in ins:
            args = [ctx.out(a) for a in args]  # the rounding of each term
        ctx.exact = is_exact(ins)
        if ins["op"] == "astype" and not ctx.real_casts:
            y = args[0]
        elif ins["op"] == "logSoftmax":
            y = log_softmax_modelled(args[0], ins["axis"], ctx)
        else:
            y = apply(ins, args)
        ctx.exact = False
        vals.append(ctx.out(y, is_exact(ins)))
    return vals


def npy(t):
    return t.detach().to(F64).numpy().copy()


def grads_or_zeros(ctx, outputs, inputs, grad_outputs=None, **kw):
    if not any(o.requires_grad for o in outputs):
        return [torch.zeros_like(x) for x in inputs]
    ctx.prepare(outputs)
    gs = torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs, allow_unused=True, **kw)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, gs)]


def vdot(gs, vs, ctx):
    """s = sum_i sum(g_i * v_i), built as the replay builds it."""
    s = None
    for g, v in zip(gs, vs):
        t = ctx.out(ctx.out(g * ctx.const(v)).sum().reshape(1))
        s = t if s is None else ctx.out(s + t)
    return s


def ones_or(hg, like, ctx):
    return torch.ones_like(like) if hg is None else ctx.const(hg)


# ---------------------------------------------------------------------------
# reference computations: one function per case type, returning named arrays
# ---------------------------------------------------------------------------


def ref_case(c, ctx):
    """programs and second-derivative cases."""
    R = {}
    n = len(c["inputs"])
    if "loss" in c or "grad" in c:
        leaves = [ctx.leaf(a) for a in c["inputs"]]
        xs = [t for t, _ in leaves]
        vals = run(c["ops"], [u for _, u in leaves], ctx)
        R["out"] = vals[c["out"]]
        if "grad" in c:
            g = c["grad"]
            wrt = [xs[i] for i in g["wrt"]]
            gs = grads_or_zeros(ctx, [vals[c["out"]]], wrt, [ctx.const(g["headGrad"])], retain_graph=True)
            for k, t in enumerate(gs):
                R[f"grad/{k}"] = t
        if "loss" in c:
            R["loss"] = vals[c["loss"]]
            for k, t in enumerate(grads_or_zeros(ctx, [vals[c["loss"]]], xs)):
                R[f"backward/{k}"] = t
    else:
        R["out"] = run(c["ops"], [ctx.const(a) for a in c["inputs"]], ctx)[c["out"]]
    if "hvp" in c:
        h = c["hvp"]
        leaves = [ctx.leaf(a) for a in c["inputs"]]
        xs = [t for t, _ in leaves]
        vals = run(c["ops"], [u for _, u in leaves], ctx)
        head = vals[h["of"]]
        wrt = [xs[i] for i in h["wrt"]]
        ctx.prepare([head])
        gs = torch.autograd.grad([head], wrt, grad_outputs=[ones_or(h["headGrad"], head, ctx)],
                                 create_graph=True, allow_unused=True)
        gs = [torch.zeros_like(x) if g is None else g for x, g in zip(wrt, gs)]
        for k, g in enumerate(gs):
            R[f"first/{k}"] = g
        s = vdot(gs, h["v"], ctx)
        assert s.requires_grad, c["name"]
        for k, t in enumerate(grads_or_zeros(ctx, [s], xs)):
            R[f"hvp/{k}"] = t
        assert len(xs) == n
    return R


def ref_semantic(c, ctx):
    R = {}
    t = c["type"]
    reqs = c.get("reqs", ["write"] * len(c["inputs"]))
    leaves = [ctx.leaf(a, requires_grad=(r != "null")) for a, r in zip(c["inputs"], reqs)]
    xs = [x for x, _ in leaves]
    us = [u for _, u in leaves]

    def fresh():
        return us

    def backward_into(outputs, grads, retain=False):
        # torch's .grad accumulates (grad_req "add"); "write" keeps the last
        for x, r in zip(xs, reqs):
            if r == "write":
                x.grad = None
        ctx.prepare(outputs)
        torch.autograd.backward(outputs, grads, retain_graph=retain)

    def grads_of():
        return [torch.zeros_like(x) if x.grad is None else x.grad.clone() for x in xs]

    if t == "accumulate":
        for k, rnd in enumerate(c["rounds"]):
            vals = run(c["ops"], us if k == 0 else fresh(), ctx)
            y = vals[c["out"]]
            if k == 0:
                R["out"] = y
            backward_into([y], [ones_or(rnd["headGrad"], y, ctx)])
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
    elif t == "retain":
        vals = run(c["ops"], us, ctx)
        y = vals[c["out"]]
        R["out"] = y
        for k in range(c["times"]):
            backward_into([y], [ones_or(c["headGrad"], y, ctx)], retain=k < c["times"] - 1)
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
    elif t == "retainSecond":
        vals = run(c["ops"], us, ctx)
        y = vals[c["out"]]
        R["out"] = y
        ctx.prepare([y])
        gs = torch.autograd.grad([y], xs, grad_outputs=[torch.ones_like(y)], create_graph=True)
        for k, g in enumerate(gs):
            R[f"first/{k}"] = g
        s = vdot(gs, c["v"], ctx)
        for k in range(c["times"]):
            backward_into([s], [torch.ones_like(s)], retain=k < c["times"] - 1)
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
    elif t == "heads":
        vals = run(c["ops"], us, ctx)
        R["out"] = vals[c["out"]]
        heads = [vals[i] for i in c["heads"]]
        hgs = [ones_or(g, h, ctx) for g, h in zip(c["headGrads"], heads)]
        backward_into(heads, hgs, retain=True)
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
        for k, g in enumerate(grads_or_zeros(ctx, heads, xs, hgs)):
            R[f"gradOf/{k}"] = g
    elif t == "gradUntouched":
        vals = run(c["ops"], us, ctx)
        R["out"] = vals[c["out"]]
        backward_into([vals[c["loss"]]], [torch.ones_like(vals[c["loss"]])])
        vals = run(c["ops"], fresh(), ctx)
        gof = grads_or_zeros(ctx, [vals[c["out"]]], xs, [ctx.const(c["headGrad"])])
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
        for k, g in enumerate(gof):
            R[f"gradOf/{k}"] = g
    elif t == "detach":
        vals = run(c["ops"], us, ctx)
        R["out"] = vals[c["out"]]
        R["loss"] = vals[c["loss"]]
        backward_into([vals[c["loss"]]], [torch.ones_like(vals[c["loss"]])])
        for k, g in enumerate(grads_of()):
            R[f"grads/{k}"] = g
    else:
        raise ValueError(t)
    return R


def ref_control(a, ctx, threshold):
    x, u = ctx.leaf(a)
    b = ctx.out(u * 2)
    k = 0
    while float(torch.linalg.vector_norm(b)) < threshold:
        b = ctx.out(b * 2)
        k += 1
    idx = 0 if float(b.sum()) >= 0 else 1
    c = b[idx:idx + 1]
    ctx.prepare([c])
    (g,) = torch.autograd.grad([c], [x], grad_outputs=[torch.ones_like(c)])
    return {"c": c, "grad": g}, k, idx


# ---------------------------------------------------------------------------
# expected values with Monte Carlo tolerances
# ---------------------------------------------------------------------------

seed_counter = [1000]
stats = {"f32_used": 0.0, "f32_where": "", "tensors": 0, "f64_tensors": 0, "f64_rel": []}


def with_tolerances(name, fn, dtype="float32"):
    """Run fn(ctx) in float64, N perturbed times and (float32 cases) once in
    float32; return {key: Expected}."""
    f64 = dtype == "float64"
    u, floor, tiny = (U64, FLOOR64, TINY64) if f64 else (U, FLOOR, TINY)
    ref = {k: npy(v) for k, v in fn(Ctx(u=u, real_casts=f64)).items()}
    spread = {k: np.zeros_like(v) for k, v in ref.items()}
    for _ in range(N_SAMPLES):
        seed_counter[0] += 1
        ctx = Ctx(seed=seed_counter[0], u=u, real_casts=f64)
        with ctx.saved():
            s = fn(ctx)
        assert s.keys() == ref.keys(), name
        for k, v in s.items():
            spread[k] = np.maximum(spread[k], np.abs(npy(v) - ref[k]))
    low = None if f64 else {k: npy(v) for k, v in fn(Ctx(dtype=torch.float32, real_casts=True)).items()}
    out = {}
    for k, r in ref.items():
        assert np.all(np.isfinite(r)), (name, k)
        tol = np.maximum(np.maximum(SPREAD_FACTOR * spread[k], floor * np.abs(r)), tiny)
        tol = np.array([enc_tol(t) for t in tol.ravel()]).reshape(r.shape)
        if f64:
            stats["f64_tensors"] += 1
            nz = r != 0
            stats["f64_rel"].extend((tol[nz] / np.abs(r[nz])).tolist())
        else:
            want = r.astype(F32).astype(np.float64)
            used = np.max(np.abs(low[k] - want) / tol) if r.size else 0.0
            assert used <= 1.0, f"{name} {k}: torch float32 uses {used:.2f} of the tolerance"
            if used > stats["f32_used"]:
                stats["f32_used"], stats["f32_where"] = float(used), f"{name} {k}"
            stats["tensors"] += 1
        e = tensor(r, dtype)
        e["tol"] = [float(t) for t in tol.ravel()]
        out[k] = e
    return out


def listed(exp, prefix, n):
    return [exp[f"{prefix}/{k}"] for k in range(n)]


# ---------------------------------------------------------------------------
# structural facts about a program (which values depend on a variable, and
# which have curvature, i.e. a second-order graph)
# ---------------------------------------------------------------------------

CURVED_UNARY = {"exp", "log", "sqrt", "square", "sigmoid", "tanh", "softmax", "logSoftmax"} | (
    set(NEW_UNARY) - STEP)


def analyse(n_inputs, ops):
    dep = [True] * n_inputs
    curved = [False] * n_inputs
    for ins in ops:
        a = ins["args"]
        d = [dep[i] for i in a]
        op = ins["op"]
        if op == "detach":
            dep.append(False)
            curved.append(False)
            continue
        if op in STEP:  # a zero gradient: no path to a variable
            dep.append(False)
            curved.append(False)
            continue
        c = any(curved[i] and dep[i] for i in a)
        if "scalar" in ins:
            c = c or (d[0] and (op == "pow" or (op == "div" and ins.get("reverse", False))))
        elif op in CURVED_UNARY:
            c = c or d[0]
        elif op in ("mul", "dot", "batchDot"):
            c = c or (d[0] and d[1])
        elif op == "div":
            c = c or d[1]
        elif op == "pow":
            c = c or d[0] or d[1]
        elif op in ("norm", "prod") and ins.get("ord", 2) != 1:
            c = c or d[0]
        dep.append(any(d))
        curved.append(c)
    return dep, curved


# ---------------------------------------------------------------------------
# random programs
# ---------------------------------------------------------------------------

rng = np.random.default_rng(20250612)

SCALARS = {
    "add": [0.5, -1.5, 2.0], "sub": [1.0, -0.75, 2.5], "mul": [2.0, -0.5, 1.5, 3.0],
    "div": [2.0, -4.0, 0.5, 1.5], "maximum": [0.0, 0.25, -0.5], "minimum": [0.0, 0.25, -0.5],
}
POW_EXPONENTS = [2.0, 3.0, 0.5, -1.0, 1.5, -0.5]
POW_BASES = [2.0, 0.5, 1.5, 3.0]


def evaluate_np(ins, vals):
    with torch.no_grad():
        y = apply(ins, [torch.tensor(vals[i], dtype=F64) for i in ins["args"]])
    return y.numpy().copy()


def group_gap(x, axes):
    """Smallest gap between the two largest elements of each reduced group."""
    keep = [i for i in range(x.ndim) if i not in axes]
    g = np.transpose(x, keep + list(axes)).reshape(-1, int(np.prod([x.shape[i] for i in axes])))
    if g.shape[1] < 2:
        return np.inf
    s = np.sort(g, axis=1)
    return float(np.min(s[:, -1] - s[:, -2]))


def valid(ins, vals, y):
    """The safe-domain rules of the docstring."""
    if y.size == 0 or y.size > MAX_SIZE or not np.all(np.isfinite(y)) or np.max(np.abs(y)) > MAX_ABS:
        return False
    op = ins["op"]
    args = [vals[i] for i in ins["args"]]
    x = args[0]
    if "scalar" in ins:
        s, rev = ins["scalar"], ins.get("reverse", False)
        if op == "div" and rev and np.min(np.abs(x)) < 0.25:
            return False
        if op == "pow" and not rev and (s != int(s) or s < 0) and np.min(x) < 0.1:
            return False
        if op in ("maximum", "minimum") and np.min(np.abs(x - s)) < MARGIN:
            return False
        return True
    if op in ("log", "sqrt") and np.min(x) < 0.1:
        return False
    if op == "exp" and np.max(x) > 3:
        return False
    if op in ("sigmoid", "tanh") and np.max(np.abs(x)) > 5:
        return False
    if op in ("abs", "relu") and np.min(np.abs(x)) < MARGIN:
        return False
    if op == "div" and np.min(np.abs(args[1])) < 0.25:
        return False
    if op == "pow" and (np.min(x) < 0.1 or np.max(np.abs(args[1])) > 3):
        return False
    if op in ("maximum", "minimum"):
        a, b = np.broadcast_arrays(x, args[1])
        if np.min(np.abs(a - b)) < MARGIN:
            return False
    if op in ("max", "min"):
        axes = norm_axes(ins.get("axis"), x.ndim)
        if group_gap(x if op == "max" else -x, axes) < MARGIN:
            return False
    if op == "norm" and np.min(y) < 0.1:
        return False
    if op == "prod" and np.min(np.abs(x)) < 0.1:
        return False  # MXNet's rule dy*prod/x needs x != 0
    return valid_new(ins, x, y)


# the typed cases' ops: domains (inside, away from poles), and distances
# from kinks, jumps and ties
NEW_DOMAIN = {"tan": (-1.3, 1.3), "arcsin": (-0.95, 0.95), "arccos": (-0.95, 0.95),
              "arctanh": (-0.95, 0.95), "arccosh": (1.05, np.inf), "log1p": (-0.8, np.inf),
              "log2": (0.1, np.inf), "log10": (0.1, np.inf), "rsqrt": (0.1, np.inf),
              "sinh": (-4, 4), "cosh": (-4, 4), "expm1": (-np.inf, 3)}


def min_gap(x, axis):
    """Smallest distance between two elements along `axis`."""
    if x.shape[axis] < 2:
        return np.inf
    return float(np.min(np.diff(np.sort(x, axis=axis), axis=axis)))


def valid_new(ins, x, y):
    op = ins["op"]
    if op in NEW_DOMAIN:
        lo, hi = NEW_DOMAIN[op]
        if np.min(x) < lo or np.max(x) > hi:
            return False
    if op == "reciprocal" and np.min(np.abs(x)) < 0.25:
        return False
    if op in ("cbrt", "sign", "leakyRelu") and np.min(np.abs(x)) < 0.1:
        return False
    if op in STEP - {"sign"}:
        f = x - np.floor(x)
        if np.min(np.minimum(f, 1 - f)) < MARGIN:
            return False
        if op in ("round", "rint") and np.min(np.abs(f - 0.5)) < MARGIN:
            return False
    if op == "clip" and min(np.min(np.abs(x - ins["aMin"])), np.min(np.abs(x - ins["aMax"]))) < MARGIN:
        return False
    if op in ("sort", "topk") and min_gap(x, ins["axis"] % x.ndim) < MARGIN:
        return False
    return True


def pick(n, weights):
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(n, p=w / w.sum()))


def random_axis_spec(nd):
    r = rng.random()
    if r < 0.25 or nd == 0:
        return None
    if r < 0.7 or nd == 1:
        return int(rng.integers(-nd, nd))
    k = int(rng.integers(2, nd + 1))
    axes = [int(a) for a in rng.choice(nd, size=k, replace=False)]
    return [a - nd if rng.random() < 0.3 else a for a in axes]


def factor_shape(size):
    """A random shape of `size` elements, rank 1-3."""
    dims = []
    rest = size
    for _ in range(int(rng.integers(0, 3))):
        divs = [d for d in range(2, rest + 1) if rest % d == 0 and d < rest]
        if not divs:
            break
        d = int(rng.choice(divs))
        dims.append(d)
        rest //= d
    dims.append(rest)
    order = list(rng.permutation(len(dims)))
    return [dims[i] for i in order]


def propose(op, vals, shapes, weights):
    """One random candidate instruction for `op` (or None)."""
    n = len(vals)

    def one():
        return pick(n, weights)

    if op in UNARY:
        return {"op": op, "args": [one()]}
    if op.startswith("s:"):
        name = op[2:]
        i = one()
        if name == "pow":
            if rng.random() < 0.5:
                return {"op": "pow", "args": [i], "scalar": float(rng.choice(POW_EXPONENTS))}
            return {"op": "pow", "args": [i], "scalar": float(rng.choice(POW_BASES)), "reverse": True}
        ins = {"op": name, "args": [i], "scalar": float(rng.choice(SCALARS[name]))}
        if rng.random() < 0.4:
            ins["reverse"] = True
        return ins
    if op in BINARY:
        i = one()
        if rng.random() < 0.1:
            return {"op": op, "args": [i, i]}
        cands = [j for j in range(n) if j != i and broadcastable(shapes[i], shapes[j])]
        if not cands:
            return None
        j = cands[pick(len(cands), [weights[j] for j in cands])]
        args = [i, j] if rng.random() < 0.5 else [j, i]
        return {"op": op, "args": args}
    if op in REDUCE:
        i = one()
        nd = len(shapes[i])
        return {"op": op, "args": [i], "axis": random_axis_spec(nd), "keepdims": bool(rng.random() < 0.4)}
    if op == "reshape":
        i = one()
        shp = factor_shape(int(np.prod(shapes[i])))
        if rng.random() < 0.5:
            shp[int(rng.integers(len(shp)))] = -1
        return {"op": "reshape", "args": [i], "shape": shp}
    if op == "transpose":
        cands = [j for j in range(n) if len(shapes[j]) >= 2]
        if not cands:
            return None
        i = cands[pick(len(cands), [weights[j] for j in cands])]
        nd = len(shapes[i])
        if rng.random() < 0.3:
            return {"op": "transpose", "args": [i], "axes": None}
        perm = [int(p) for p in rng.permutation(nd)]
        perm = [p - nd if rng.random() < 0.25 else p for p in perm]
        return {"op": "transpose", "args": [i], "axes": perm}
    if op == "broadcastTo":
        i = one()
        shp = [int(rng.integers(2, 4)) if d == 1 else d for d in shapes[i]]
        if len(shp) < 3 and rng.random() < 0.5:
            shp = [int(rng.integers(2, 4))] + shp
        if shp == list(shapes[i]):
            return None
        return {"op": "broadcastTo", "args": [i], "shape": shp}
    if op == "dot":
        pairs = [(i, j) for i in range(n) for j in range(n)
                 if 1 <= len(shapes[i]) <= 3 and 1 <= len(shapes[j]) <= 2 and shapes[i][-1] == shapes[j][0]
                 and not (len(shapes[i]) == 3 and len(shapes[j]) == 2 and rng.random() < 0.5)]
        if not pairs:
            return None
        k = pick(len(pairs), [weights[i] + weights[j] for i, j in pairs])
        return {"op": "dot", "args": list(pairs[k])}
    if op == "batchDot":
        pairs = [(i, j) for i in range(n) for j in range(n)
                 if len(shapes[i]) == 3 and len(shapes[j]) == 3 and shapes[i][0] == shapes[j][0]
                 and shapes[i][2] == shapes[j][1]]
        if not pairs:
            return None
        k = pick(len(pairs), [weights[i] + weights[j] for i, j in pairs])
        return {"op": "batchDot", "args": list(pairs[k])}
    if op == "concat":
        i = one()
        nd = len(shapes[i])
        ax = int(rng.integers(0, nd))
        cands = [j for j in range(n) if len(shapes[j]) == nd
                 and all(shapes[j][d] == shapes[i][d] for d in range(nd) if d != ax)]
        k = int(rng.integers(1, 3))
        others = [cands[pick(len(cands), [weights[j] for j in cands])] for _ in range(k)]
        args = [i] + others
        order = list(rng.permutation(len(args)))
        return {"op": "concat", "args": [args[o] for o in order], "axis": ax - nd if rng.random() < 0.3 else ax}
    if op == "stack":
        i = one()
        nd = len(shapes[i])
        cands = [j for j in range(n) if list(shapes[j]) == list(shapes[i])]
        k = int(rng.integers(1, 3))
        args = [i] + [cands[pick(len(cands), [weights[j] for j in cands])] for _ in range(k)]
        ax = int(rng.integers(-(nd + 1), nd + 1))
        return {"op": "stack", "args": args, "axis": ax}
    if op == "at":
        cands = [j for j in range(n) if shapes[j][0] >= 2]
        if not cands:
            return None
        i = cands[pick(len(cands), [weights[j] for j in cands])]
        m = shapes[i][0]
        return {"op": "at", "args": [i], "index": int(rng.integers(-m, m))}
    if op == "slice":
        cands = [j for j in range(n) if shapes[j][0] >= 2]
        if not cands:
            return None
        i = cands[pick(len(cands), [weights[j] for j in cands])]
        m = shapes[i][0]
        b = int(rng.integers(0, m))
        e = int(rng.integers(b + 1, m + 1))
        bj = None if b == 0 and rng.random() < 0.5 else (b - m if rng.random() < 0.3 else b)
        ej = None if e == m and rng.random() < 0.5 else (e - m if rng.random() < 0.3 and e < m else e)
        if bj == 0 and ej is None:
            ej = e  # not a plain copy
        return {"op": "slice", "args": [i], "begin": bj, "end": ej}
    if op == "detach":
        return {"op": "detach", "args": [one()]}
    raise ValueError(op)


def broadcastable(s, t):
    try:
        np.broadcast_shapes(tuple(s), tuple(t))
        return True
    except ValueError:
        return False


OP_WEIGHTS = {
    **{u: 1.0 for u in UNARY},
    **{b: 1.6 for b in BINARY},
    **{f"s:{b}": 0.5 for b in ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]},
    **{r: 1.0 for r in ["sum", "mean", "max", "min", "norm"]},
    "prod": 0.3,
    "reshape": 0.9, "transpose": 0.9, "broadcastTo": 0.8, "dot": 1.5, "batchDot": 2.5,
    "concat": 0.9, "stack": 0.9, "at": 0.8, "slice": 0.8, "detach": 0.25,
}
OP_NAMES = sorted(OP_WEIGHTS)


def random_inputs():
    """2-4 inputs: a base shape and broadcastable variants, sometimes a
    matrix partner for dot or a batch partner for batchDot."""
    rank = int(rng.choice([1, 2, 3], p=[0.25, 0.45, 0.3]))
    base = [int(d) for d in rng.integers(2, 5, size=rank)]
    shapes = [base]
    for _ in range(int(rng.integers(1, 3))):
        s = [1 if rng.random() < 0.35 else d for d in base]
        if len(s) > 1 and rng.random() < 0.3:
            s = s[int(rng.integers(1, len(s))):]
        shapes.append(s)
    if rng.random() < (0.8 if rank == 3 else 0.5):
        if rank == 3 and rng.random() < 0.75:
            shapes.append([base[0], base[2], int(rng.integers(1, 4))])
        else:
            shapes.append([base[-1], int(rng.integers(2, 4))] if rng.random() < 0.7 else [base[-1]])
    out = []
    for s in shapes[:4]:
        if rng.random() < 0.4:
            out.append(f32(rng.uniform(0.3, 2.0, size=s)))
        else:
            out.append(f32(rng.uniform(-2.0, 2.0, size=s)))
    return out


def random_program(idx):
    while True:
        inputs = random_inputs()
        vals = [x.astype(np.float64) for x in inputs]
        shapes = [list(x.shape) for x in inputs]
        uses = [0] * len(vals)
        ops = []
        n_ops = int(rng.integers(4, 11))
        tries = 0
        while len(ops) < n_ops and tries < 400:
            tries += 1
            op = OP_NAMES[pick(len(OP_NAMES), [OP_WEIGHTS[o] for o in OP_NAMES])]
            n = len(vals)
            weights = [1.0 + (3.0 if uses[i] == 0 else 0.0) + (2.0 if i >= n - 2 else 0.0) for i in range(n)]
            ins = propose(op, vals, shapes, weights)
            if ins is None:
                continue
            try:
                y = evaluate_np(ins, vals)
            except (RuntimeError, IndexError, ValueError):
                continue
            if not valid(ins, vals, y):
                continue
            ops.append(ins)
            for a in ins["args"]:
                uses[a] += 1
            vals.append(y)
            shapes.append(list(y.shape))
            uses.append(0)
        n_in = len(inputs)
        out = len(vals) - 1
        # fold dangling results into out: out + sum(v) (shape [1] broadcasts)
        for i in range(n_in, len(vals) - 1):
            if uses[i] == 0 and ops[i - n_in]["op"] != "detach":
                s = {"op": "sum", "args": [i], "axis": None, "keepdims": False}
                vals.append(evaluate_np(s, vals))
                ops.append(s)
                a = {"op": "add", "args": [out, len(vals) - 1]}
                y = evaluate_np(a, vals)
                vals.append(y)
                ops.append(a)
                out = len(vals) - 1
        if not valid({"op": "add", "args": [out, out]}, vals, vals[out]):
            continue
        dep, curved = analyse(n_in, ops)
        if not dep[out]:
            continue
        # the scalar loss
        kind = int(rng.integers(0, 6))
        loss_ops = {
            0: [{"op": "sum", "args": [out], "axis": None, "keepdims": False}],
            1: [{"op": "mean", "args": [out], "axis": None, "keepdims": False}],
            2: [{"op": "square", "args": [out]}, {"op": "sum", "args": [None], "axis": None, "keepdims": False}],
            3: [{"op": "norm", "args": [out], "axis": None, "keepdims": False}],
            4: [{"op": "tanh", "args": [out]}, {"op": "sum", "args": [None], "axis": None, "keepdims": False}],
            5: [{"op": "sigmoid", "args": [out]}, {"op": "mean", "args": [None], "axis": None, "keepdims": False}],
        }[kind]
        ok = True
        for ins in loss_ops:
            if ins["args"][0] is None:
                ins["args"] = [len(vals) - 1]
            y = evaluate_np(ins, vals)
            if not valid(ins, vals, y):
                ok = False
                break
            ops.append(ins)
            vals.append(y)
        if not ok:
            continue
        loss = len(vals) - 1
        dep, curved = analyse(n_in, ops)
        case = {"name": f"program/{idx:03d}", "inputs": inputs, "ops": ops, "out": out, "loss": loss}
        k = int(rng.integers(1, n_in + 1)) if rng.random() < 0.4 else n_in
        wrt = sorted(int(i) for i in rng.choice(n_in, size=k, replace=False))
        case["grad"] = {"wrt": wrt, "headGrad": f32(rng.uniform(-1, 1, size=vals[out].shape))}
        if curved[loss]:
            case["hvp"] = {"of": loss, "headGrad": None, "wrt": list(range(n_in)),
                           "v": [f32(rng.uniform(-1, 1, size=x.shape)) for x in inputs],
                           "mode": "backward" if idx % 2 == 0 else "grad"}
        return case


# ---------------------------------------------------------------------------
# second derivatives of each op
# ---------------------------------------------------------------------------

second_cases = []


def second(name, inputs, ops, wrt=None, mode=None, head=True):
    """ops make value n.. ; the last value is `out`."""
    n = len(inputs)
    out = n + len(ops) - 1
    vals = [x.astype(np.float64) for x in inputs]
    for ins in ops:
        y = evaluate_np(ins, vals)
        assert valid(ins, vals, y), (name, ins)
        vals.append(y)
    dep, curved = analyse(n, ops)
    assert curved[out], name
    wrt = list(range(n)) if wrt is None else wrt
    idx = len(second_cases)
    second_cases.append({
        "name": f"second/{name}",
        "inputs": inputs,
        "ops": ops,
        "out": out,
        "hvp": {
            "of": out,
            "headGrad": f32(rng.uniform(-1, 1, size=vals[out].shape)) if head else None,
            "wrt": wrt,
            "v": [f32(rng.uniform(-1, 1, size=inputs[i].shape)) for i in wrt],
            "mode": mode or ("backward" if idx % 2 == 0 else "grad"),
        },
    })


def Ux(shape, lo=-2.0, hi=2.0):
    return f32(rng.uniform(lo, hi, size=shape))


def away(shape, lo=0.3, hi=2.0):
    s = rng.choice([-1.0, 1.0], size=shape)
    return f32(s * rng.uniform(lo, hi, size=shape))


def sep(shape, lo=-2.0, hi=2.0):
    """Distinct values >= MARGIN apart (for max/min reductions)."""
    n = int(np.prod(shape))
    v = rng.permutation(np.linspace(lo, hi, n)) + rng.uniform(-0.3, 0.3, size=n) * (hi - lo) / max(n, 1) * 0.5
    return f32(v.reshape(shape))


UNARY_DOMAIN = {"exp": (-2, 2), "log": (0.2, 3), "sqrt": (0.2, 3), "square": (-2, 2),
                "sigmoid": (-4, 4), "tanh": (-2.5, 2.5)}
for op, (lo, hi) in UNARY_DOMAIN.items():
    for shp in [(5,), (2, 3)]:
        second(f"{op}/{'x'.join(map(str, shp))}", [Ux(shp, lo, hi)], [{"op": op, "args": [0]}])
for op in ["neg", "abs", "relu"]:
    for shp, post in [((5,), "square"), ((2, 3), "tanh")]:
        second(f"{op}/{'x'.join(map(str, shp))}+{post}", [away(shp)],
               [{"op": op, "args": [0]}, {"op": post, "args": [1]}])
# a unary op inside a chain: exp(tanh(x)) * x
second("chain/exp(tanh(x))*x", [Ux((4,))],
       [{"op": "tanh", "args": [0]}, {"op": "exp", "args": [1]}, {"op": "mul", "args": [2, 0]}])

BIN_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((1,), (4,))]
for op in BINARY:
    for k, (sa, sb) in enumerate(BIN_SHAPES):
        if op == "pow":
            a, b = Ux(sa, 0.3, 2.0), Ux(sb, -2.0, 2.0)
        elif op == "div":
            a, b = Ux(sa), away(sb, 0.4, 2.0)
        elif op in ("maximum", "minimum"):
            a = Ux(sa)
            b = f32(np.clip(np.asarray(Ux(sb)), -2, 2))
            aa, bb = np.broadcast_arrays(a, b)
            while np.min(np.abs(aa - bb)) < MARGIN:
                a, b = Ux(sa), Ux(sb)
                aa, bb = np.broadcast_arrays(a, b)
        else:
            a, b = Ux(sa), Ux(sb)
        ops = [{"op": op, "args": [0, 1]}]
        if op in ("add", "sub", "maximum", "minimum"):
            ops.append({"op": "square" if k % 2 == 0 else "tanh", "args": [2]})
        shp = f"{'x'.join(map(str, sa))},{'x'.join(map(str, sb))}"
        for wrt in ([0], [1], [0, 1]):
            second(f"{op}/{shp}/wrt{''.join(map(str, wrt))}", [a, b], ops, wrt=wrt)
# the same array on both sides
for op in ["mul", "div", "pow"]:
    x = Ux((4,), 0.3, 2.0)
    second(f"{op}/x,x", [x], [{"op": op, "args": [0, 0]}])

SCALAR_SECOND = [
    ("add", 1.5, False, "square"), ("add", -0.5, True, "tanh"),
    ("sub", 2.0, False, "square"), ("sub", 1.0, True, "tanh"),
    ("mul", 3.0, False, "square"), ("mul", -0.5, True, "tanh"),
    ("div", 4.0, False, "square"), ("div", 1.5, True, None), ("div", -2.0, True, None),
    ("pow", 3.0, False, None), ("pow", 2.0, False, None), ("pow", 0.5, False, None),
    ("pow", -1.5, False, None), ("pow", 2.0, True, None), ("pow", 0.5, True, None),
    ("maximum", 0.25, False, "square"), ("maximum", -0.5, True, "tanh"),
    ("minimum", 0.0, False, "square"), ("minimum", 0.5, True, "tanh"),
]
for op, s, rev, post in SCALAR_SECOND:
    x = away((2, 3), 0.3, 1.5) if not (op == "pow" and not rev) else Ux((2, 3), 0.3, 1.5)
    if op in ("maximum", "minimum"):
        while np.min(np.abs(x - s)) < MARGIN:
            x = away((2, 3), 0.3, 1.5)
    ins = {"op": op, "args": [0], "scalar": s}
    if rev:
        ins["reverse"] = True
    ops = [ins] + ([{"op": post, "args": [1]}] if post else [])
    form = f"{s}_{op}_x" if rev else f"x_{op}_{s}"
    second(f"scalar/{form}" + (f"+{post}" if post else ""), [x], ops)

REDUCE_SPECS = [((6,), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), [0, 2], False),
                ((2, 3, 4), 1, True), ((2, 3, 4), None, True)]
for op in REDUCE:
    for k, (shp, axis, keep) in enumerate(REDUCE_SPECS):
        if op in ("max", "min"):
            x = sep(shp)
        elif op == "prod":
            if isinstance(axis, list):
                continue  # torch.prod reduces one axis at a time; covered by None
            x = away(shp, 0.85, 1.15)
        else:
            x = Ux(shp)
        ops = [{"op": op, "args": [0], "axis": axis, "keepdims": keep}]
        if op in ("sum", "mean", "max", "min"):
            ops.append({"op": "square" if k % 2 == 0 else "tanh", "args": [1]})
        ax = "all" if axis is None else (",".join(map(str, axis)) if isinstance(axis, list) else str(axis))
        second(f"{op}/{'x'.join(map(str, shp))}/axis{ax}{'/keep' if keep else ''}", [x], ops)

DOT_SHAPES = [((4,), (4,)), ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3, 2)),
              ((2, 3), (3, 2, 2))]
for sa, sb in DOT_SHAPES:
    a, b = Ux(sa, -1.5, 1.5), Ux(sb, -1.5, 1.5)
    shp = f"{'x'.join(map(str, sa))}.{'x'.join(map(str, sb))}"
    for wrt in ([0], [1], [0, 1]):
        second(f"dot/{shp}/wrt{''.join(map(str, wrt))}", [a, b], [{"op": "dot", "args": [0, 1]}], wrt=wrt)
    second(f"dot/{shp}+tanh", [a, b], [{"op": "dot", "args": [0, 1]}, {"op": "tanh", "args": [2]}])
second("dot/x.x", [Ux((2, 2))], [{"op": "dot", "args": [0, 0]}])
for sa, sb in [((2, 3, 4), (2, 4, 2)), ((1, 2, 2), (1, 2, 3)), ((3, 2, 1), (3, 1, 2))]:
    a, b = Ux(sa, -1.5, 1.5), Ux(sb, -1.5, 1.5)
    shp = f"{'x'.join(map(str, sa))}.{'x'.join(map(str, sb))}"
    for wrt in ([0], [1], [0, 1]):
        second(f"batchDot/{shp}/wrt{''.join(map(str, wrt))}", [a, b], [{"op": "batchDot", "args": [0, 1]}],
               wrt=wrt)
    second(f"batchDot/{shp}+tanh", [a, b], [{"op": "batchDot", "args": [0, 1]}, {"op": "tanh", "args": [2]}])

MOVEMENT = [
    ("reshape", [(2, 3)], {"shape": [3, -1]}),
    ("reshape", [(2, 3, 2)], {"shape": [4, 3]}),
    ("transpose", [(2, 3)], {"axes": None}),
    ("transpose", [(2, 3, 4)], {"axes": [1, -1, 0]}),
    ("broadcastTo", [(3, 1)], {"shape": [2, 3, 4]}),
    ("broadcastTo", [(4,)], {"shape": [3, 4]}),
    ("at", [(3, 4)], {"index": -2}),
    ("at", [(5,)], {"index": 3}),
    ("slice", [(5, 2)], {"begin": 1, "end": -1}),
    ("slice", [(4,)], {"begin": None, "end": 2}),
    ("concat", [(2, 3), (2, 2)], {"axis": 1}),
    ("concat", [(2, 3), (1, 3), (3, 3)], {"axis": -2}),
    ("stack", [(2, 3), (2, 3)], {"axis": 1}),
    ("stack", [(3,), (3,), (3,)], {"axis": -1}),
]
for k, (op, shps, params) in enumerate(MOVEMENT):
    xs = [Ux(s) for s in shps]
    ops = [{"op": op, "args": list(range(len(xs))), **params}, {"op": "square" if k % 2 == 0 else "tanh",
                                                                 "args": [len(xs)]}]
    pname = ",".join(f"{key}={v}" for key, v in params.items()).replace(" ", "")
    second(f"{op}/{'+'.join('x'.join(map(str, s)) for s in shps)}/{pname}", xs, ops)
    if len(xs) > 1:
        second(f"{op}/{'+'.join('x'.join(map(str, s)) for s in shps)}/{pname}/wrt0", xs, ops, wrt=[0])
# a head of ones (headGrads null) and a pow with an array exponent in a chain
second("chain/pow(x,y)*y/ones", [Ux((3,), 0.3, 2.0), Ux((3,), -1.5, 1.5)],
       [{"op": "pow", "args": [0, 1]}, {"op": "mul", "args": [2, 1]}], head=False)
second("chain/norm(x*y)/ones", [Ux((2, 3)), Ux((3,))],
       [{"op": "mul", "args": [0, 1]}, {"op": "norm", "args": [2], "axis": None, "keepdims": False}], head=False)


# ---------------------------------------------------------------------------
# semantics
# ---------------------------------------------------------------------------

sem_cases = []


def program_values(inputs, ops):
    vals = [x.astype(np.float64) for x in inputs]
    for ins in ops:
        y = evaluate_np(ins, vals)
        assert valid(ins, vals, y), ins
        vals.append(y)
    return vals


def sem(case):
    n = len(case["inputs"])
    case["out"] = case.get("out", n + len(case["ops"]) - 1)
    program_values(case["inputs"], case["ops"])
    sem_cases.append(case)


A, B, C = Ux((2, 3)), Ux((3,), 0.3, 2.0), Ux((2, 1))
OPS_ABC = [{"op": "mul", "args": [0, 1]}, {"op": "tanh", "args": [3]}, {"op": "add", "args": [4, 2]},
           {"op": "mul", "args": [5, 0]}]
sem({"type": "accumulate", "name": "accumulate/add,write,null/3_rounds", "inputs": [A, B, C],
     "ops": OPS_ABC, "reqs": ["add", "write", "null"],
     "rounds": [{"headGrad": Ux((2, 3), -1, 1)}, {"headGrad": None}, {"headGrad": Ux((2, 3), -1, 1)}]})
sem({"type": "accumulate", "name": "accumulate/add,add,write/2_rounds", "inputs": [A, B, C],
     "ops": OPS_ABC, "reqs": ["add", "add", "write"],
     "rounds": [{"headGrad": Ux((2, 3), -1, 1)}, {"headGrad": Ux((2, 3), -1, 1)}]})
X = Ux((4,), 0.3, 2.0)
sem({"type": "accumulate", "name": "accumulate/add/4_rounds/scalar_head", "inputs": [X, Ux((4,))],
     "ops": [{"op": "log", "args": [0]}, {"op": "mul", "args": [2, 1]}, {"op": "sum", "args": [3], "axis": None,
                                                                          "keepdims": False}],
     "reqs": ["add", "write"], "rounds": [{"headGrad": None}] * 3 + [{"headGrad": f32([2.5])}]})
sem({"type": "retain", "name": "retain/add,write/3_times", "inputs": [A, B, C], "ops": OPS_ABC,
     "reqs": ["add", "write", "add"], "headGrad": Ux((2, 3), -1, 1), "times": 3})
sem({"type": "retain", "name": "retain/add/2_times/ones", "inputs": [X, Ux((4, 2))],
     "ops": [{"op": "dot", "args": [0, 1]}, {"op": "sigmoid", "args": [2]}], "reqs": ["add", "add"],
     "headGrad": None, "times": 2})
sem({"type": "retainSecond", "name": "retainSecond/add/2_times", "inputs": [X, Ux((4,))],
     "ops": [{"op": "mul", "args": [0, 1]}, {"op": "tanh", "args": [2]}, {"op": "log", "args": [0]},
             {"op": "mul", "args": [3, 4]}, {"op": "sum", "args": [5], "axis": None, "keepdims": False}],
     "reqs": ["add", "add"], "v": [Ux((4,), -1, 1), Ux((4,), -1, 1)], "times": 2})
sem({"type": "retainSecond", "name": "retainSecond/add,write/3_times", "inputs": [Ux((2, 3)), Ux((3, 2))],
     "ops": [{"op": "dot", "args": [0, 1]}, {"op": "sigmoid", "args": [2]},
             {"op": "norm", "args": [3], "axis": None, "keepdims": False}],
     "reqs": ["add", "write"], "v": [Ux((2, 3), -1, 1), Ux((3, 2), -1, 1)], "times": 3})
sem({"type": "heads", "name": "heads/3_heads/grads_and_null", "inputs": [A, B, C],
     "ops": OPS_ABC + [{"op": "sum", "args": [4], "axis": 0, "keepdims": False}, {"op": "exp", "args": [2]}],
     "out": 6, "heads": [6, 7, 8], "headGrads": [Ux((2, 3), -1, 1), None, Ux((2, 1), -1, 1)]})
sem({"type": "heads", "name": "heads/2_heads/shared_path", "inputs": [X, Ux((4,))],
     "ops": [{"op": "mul", "args": [0, 1]}, {"op": "sqrt", "args": [0]}, {"op": "add", "args": [2, 3]},
             {"op": "norm", "args": [4], "axis": None, "keepdims": False}],
     "out": 4, "heads": [4, 5], "headGrads": [Ux((4,), -1, 1), f32([-1.5])]})
sem({"type": "gradUntouched", "name": "gradUntouched/2_inputs", "inputs": [A, B],
     "ops": [{"op": "mul", "args": [0, 1]}, {"op": "sigmoid", "args": [2]},
             {"op": "sum", "args": [3], "axis": None, "keepdims": False}],
     "out": 3, "loss": 4, "headGrad": Ux((2, 3), -1, 1)})
sem({"type": "gradUntouched", "name": "gradUntouched/dot", "inputs": [Ux((3, 2), -1, 1), Ux((2,), -1, 1)],
     "ops": [{"op": "dot", "args": [0, 1]}, {"op": "exp", "args": [2]},
             {"op": "mean", "args": [3], "axis": None, "keepdims": False}],
     "out": 3, "loss": 4, "headGrad": Ux((3,), -1, 1)})
# detach: x * detach(x) (the tutorial-style), a detached branch that still
# feeds the loss, and a stop-gradient normalisation
sem({"type": "detach", "name": "detach/x*detach(x)", "inputs": [Ux((4,))],
     "ops": [{"op": "detach", "args": [0]}, {"op": "mul", "args": [0, 1]},
             {"op": "sum", "args": [2], "axis": None, "keepdims": False}], "loss": 3})
sem({"type": "detach", "name": "detach/detached_branch", "inputs": [A, B],
     "ops": [{"op": "mul", "args": [0, 1]}, {"op": "exp", "args": [2]}, {"op": "detach", "args": [3]},
             {"op": "tanh", "args": [2]}, {"op": "mul", "args": [4, 5]}, {"op": "add", "args": [6, 1]},
             {"op": "sum", "args": [7], "axis": None, "keepdims": False}], "out": 7, "loss": 8})
sem({"type": "detach", "name": "detach/normalise_by_detached_norm", "inputs": [Ux((2, 3))],
     "ops": [{"op": "norm", "args": [0], "axis": 1, "keepdims": True}, {"op": "detach", "args": [1]},
             {"op": "div", "args": [0, 2]}, {"op": "square", "args": [3]},
             {"op": "sum", "args": [4], "axis": None, "keepdims": False}], "out": 3, "loss": 5})
sem({"type": "detach", "name": "detach/only_path_cut", "inputs": [A, B],
     "ops": [{"op": "detach", "args": [0]}, {"op": "mul", "args": [2, 1]},
             {"op": "sum", "args": [3], "axis": None, "keepdims": False}], "loss": 4})


# ---------------------------------------------------------------------------
# control flow (the tutorial's f(a))
# ---------------------------------------------------------------------------

THRESHOLD = 1000.0
control_runs = []
while len(control_runs) < 64:
    n = int(rng.choice([2, 2, 3, 4]))
    scale = float(10.0 ** rng.uniform(-4, 0.5))
    a = f32(rng.uniform(-1, 1, size=n) * scale)
    a64 = a.astype(np.float64)
    nrm = np.linalg.norm(a64) * 2
    if nrm == 0 or abs(a64.sum()) < 1e-3 * np.max(np.abs(a64)):
        continue
    # the last doubling must not land within 1e-4 (relative) of the threshold
    k = 0
    while nrm < THRESHOLD:
        nrm *= 2
        k += 1
    if nrm < THRESHOLD * (1 + 1e-4) or min(abs(nrm / 2 - THRESHOLD), abs(nrm - THRESHOLD)) < 1e-4 * THRESHOLD:
        continue
    control_runs.append(a)


# ---------------------------------------------------------------------------
# typed second-derivative cases: the ops of issue #3, float32 and float64
# ---------------------------------------------------------------------------

typed_cases = []
trng = np.random.default_rng(20251126)  # its own stream: the cases above stay as they were


def as_dtype(a, dt):
    return f32(a) if dt == "float32" else np.asarray(a, dtype=np.float64)


def TU(dt, shape, lo=-2.0, hi=2.0):
    return as_dtype(trng.uniform(lo, hi, size=shape), dt)


def Taway(dt, shape, lo=0.3, hi=2.0):
    s = trng.choice([-1.0, 1.0], size=shape)
    return as_dtype(s * trng.uniform(lo, hi, size=shape), dt)


def Tsep(dt, shape, lo=-2.0, hi=2.0):
    """Distinct values, at least half their spacing apart (sort, topk)."""
    n = int(np.prod(shape))
    v = trng.permutation(np.linspace(lo, hi, n)) + trng.uniform(-0.25, 0.25, size=n) * (hi - lo) / max(n - 1, 1)
    return as_dtype(v.reshape(shape), dt)


def Tfrac(dt, shape, lo=-3, hi=3, halves=False):
    """Values >= 0.07 from every integer (and from every half-integer)."""
    k = trng.integers(lo, hi, size=shape)
    if halves:
        f = np.where(trng.random(shape) < 0.5, trng.uniform(0.07, 0.43, size=shape),
                     trng.uniform(0.57, 0.93, size=shape))
    else:
        f = trng.uniform(0.07, 0.93, size=shape)
    return as_dtype(k + f, dt)


def typed(name, dt, inputs, ops, wrt=None, mode=None, head=True):
    """As second(), in dtype dt (inputs, head gradient, v and every result)."""
    n = len(inputs)
    out = n + len(ops) - 1
    vals = [x.astype(np.float64) for x in inputs]
    for ins in ops:
        y = evaluate_np(ins, vals)
        assert valid(ins, vals, y), (name, dt, ins)
        vals.append(y)
    dep, curved = analyse(n, ops)
    assert curved[out], name
    wrt = list(range(n)) if wrt is None else wrt
    idx = len(typed_cases)
    typed_cases.append({
        "name": f"second/{dt}/{name}",
        "dtype": dt,
        "inputs": inputs,
        "ops": ops,
        "out": out,
        "hvp": {
            "of": out,
            "headGrad": as_dtype(trng.uniform(-1, 1, size=vals[out].shape), dt) if head else None,
            "wrt": wrt,
            "v": [as_dtype(trng.uniform(-1, 1, size=inputs[i].shape), dt) for i in wrt],
            "mode": mode or ("backward" if idx % 2 == 0 else "grad"),
        },
    })


def sh(shape):
    return "x".join(map(str, shape))


def post(k, arg):
    """The nonlinear function after a piecewise-linear or linear op."""
    return {"op": "square" if k % 2 == 0 else "tanh", "args": [arg]}


NEW_UNARY_DOMAIN = {
    "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9),
    "arctan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2), "arcsinh": (-3, 3), "arccosh": (1.1, 3),
    "arctanh": (-0.9, 0.9), "log1p": (-0.7, 3), "expm1": (-2, 2), "log2": (0.2, 3), "log10": (0.2, 3),
    "rsqrt": (0.2, 3), "erf": (-2, 2), "softrelu": (-3, 3),
}
NEW_UNARY_AWAY = {"reciprocal": (0.4, 2.0), "cbrt": (0.2, 2.0)}  # both signs, away from 0
DOT_T = [((3, 2), (3, 4), True, False), ((2, 3), (4, 3), False, True), ((3, 2), (4, 3), True, True),
         ((3, 2), (3,), True, False)]
NORMS = [(1, (3, 4), 1, True), (1, (2, 3, 2), [0, 2], False), (1, (5,), None, False),
         (2, (3, 4), 0, False), (2, (2, 3, 2), [-1, 0], True)]


def typed_cases_of(dt):
    for k, (op, (lo, hi)) in enumerate(NEW_UNARY_DOMAIN.items()):
        shp = (2, 3) if k % 2 == 0 else (5,)
        typed(f"{op}/{sh(shp)}", dt, [TU(dt, shp, lo, hi)], [{"op": op, "args": [0]}])
    for op, (lo, hi) in NEW_UNARY_AWAY.items():
        typed(f"{op}/2x3", dt, [Taway(dt, (2, 3), lo, hi)], [{"op": op, "args": [0]}])
    # step functions: (f(x) * x)^2, whose second derivative 2 f(x)^2 needs
    # f's values and its zero gradient in both passes
    for op in sorted(STEP):
        x = Taway(dt, (2, 3), 0.2, 2.5) if op == "sign" else Tfrac(dt, (2, 3), -2, 2, halves=op in ("round", "rint"))
        typed(f"{op}/2x3*x+square", dt, [x],
              [{"op": op, "args": [0]}, {"op": "mul", "args": [1, 0]}, {"op": "square", "args": [2]}])
    # clip and leakyRelu away from their kinks, followed by square / tanh
    for k, (shp, lo, hi) in enumerate([((2, 3), -0.8, 0.9), ((5,), 0.25, 1.5)]):
        while True:
            x = TU(dt, shp)
            inside = (x > lo) & (x < hi)
            if (min(np.min(np.abs(x - lo)), np.min(np.abs(x - hi))) >= 0.05 and inside.any()
                    and not inside.all()):
                break
        typed(f"clip/{sh(shp)}/{lo},{hi}+{post(k, 1)['op']}", dt, [x],
              [{"op": "clip", "args": [0], "aMin": lo, "aMax": hi}, post(k, 1)])
    for k, (shp, slope) in enumerate([((2, 3), 0.1), ((5,), 0.25)]):
        typed(f"leakyRelu/{sh(shp)}/slope{slope}+{post(k, 1)['op']}", dt, [Taway(dt, shp, 0.1, 2.0)],
              [{"op": "leakyRelu", "args": [0], "slope": slope}, post(k, 1)])
    # where with broadcasting of cond, x and y; a constant cond of another dtype
    a, b = TU(dt, (2, 3)), TU(dt, (3,))
    cond = const_tensor([[1, 0, -2], [0, 3, 1]], "int32")
    typed("where/int32_cond_2x3/2x3,3+square", dt, [a, b],
          [{"op": "where", "args": [0, 1], "cond": cond}, {"op": "square", "args": [2]}])
    a, b = TU(dt, (2, 3)), TU(dt, (2, 1))
    cond = const_tensor([[0.5], [0]], dt)
    typed("where/cond_2x1/2x3,2x1*x", dt, [a, b],
          [{"op": "where", "args": [0, 1], "cond": cond}, {"op": "mul", "args": [2, 0]}])
    # softmax and logSoftmax are curved themselves
    for op in ("softmax", "logSoftmax"):
        for shp, axis in [((2, 3), -1), ((3, 2, 2), 1)]:
            typed(f"{op}/{sh(shp)}/axis{axis}", dt, [TU(dt, shp)], [{"op": op, "args": [0], "axis": axis}])
    # gathers (linear) followed by square / tanh: the second pass goes
    # through their scatter backward; repeated indices accumulate
    typed("take/4x3/axis0/clip/int32+square", dt, [TU(dt, (4, 3))],
          [{"op": "take", "args": [0], "indices": const_tensor([[1, 3, 1], [5, -1, 0]], "int32"), "axis": 0,
            "mode": "clip"}, {"op": "square", "args": [1]}])
    typed(f"take/2x4/axis1/wrap/{dt}+tanh", dt, [TU(dt, (2, 4))],
          [{"op": "take", "args": [0], "indices": const_tensor([-1, 6, 2.5, 2, -7], dt), "axis": 1,
            "mode": "wrap"}, {"op": "tanh", "args": [1]}])
    typed(f"pick/3x4/axis-1/clip/{dt}+square", dt, [TU(dt, (3, 4))],
          [{"op": "pick", "args": [0], "indices": const_tensor([0, 3.5, 7], dt), "axis": -1, "keepdims": False,
            "mode": "clip"}, {"op": "square", "args": [1]}])
    typed("pick/3x2x2/axis1/keepdims/wrap/int32+tanh", dt, [TU(dt, (3, 2, 2))],
          [{"op": "pick", "args": [0], "indices": const_tensor([[[1, 0]], [[-1, 2]], [[5, 0]]], "int32"),
            "axis": 1, "keepdims": True, "mode": "wrap"}, {"op": "tanh", "args": [1]}])
    typed("topk/3x4/axis-1/k2+square", dt, [Tsep(dt, (3, 4))],
          [{"op": "topk", "args": [0], "axis": -1, "k": 2, "isAscend": False}, {"op": "square", "args": [1]}])
    typed("topk/4x3/axis0/k3/ascend+tanh", dt, [Tsep(dt, (4, 3))],
          [{"op": "topk", "args": [0], "axis": 0, "k": 3, "isAscend": True}, {"op": "tanh", "args": [1]}])
    typed("sort/2x4/axis-1+square", dt, [Tsep(dt, (2, 4))],
          [{"op": "sort", "args": [0], "axis": -1, "isAscend": True}, {"op": "square", "args": [1]}])
    typed("sort/3x3/axis0/descend*x", dt, [Tsep(dt, (3, 3))],
          [{"op": "sort", "args": [0], "axis": 0, "isAscend": False}, {"op": "mul", "args": [1, 0]}])
    # movement
    typed("tile/2x3/reps2,1+square", dt, [TU(dt, (2, 3))],
          [{"op": "tile", "args": [0], "reps": [2, 1]}, {"op": "square", "args": [1]}])
    typed("tile/3/reps2,2+tanh", dt, [TU(dt, (3,))],
          [{"op": "tile", "args": [0], "reps": [2, 2]}, {"op": "tanh", "args": [1]}])
    typed("repeat/2x3/2/axis1+square", dt, [TU(dt, (2, 3))],
          [{"op": "repeat", "args": [0], "repeats": 2, "axis": 1}, {"op": "square", "args": [1]}])
    typed("repeat/2x2/3/axisnull+tanh", dt, [TU(dt, (2, 2))],
          [{"op": "repeat", "args": [0], "repeats": 3, "axis": None}, {"op": "tanh", "args": [1]}])
    typed("flip/2x3/axis1+square", dt, [TU(dt, (2, 3))],
          [{"op": "flip", "args": [0], "axis": 1}, {"op": "square", "args": [1]}])
    typed("flip/2x3x2/axis0,-1*x", dt, [TU(dt, (2, 3, 2))],
          [{"op": "flip", "args": [0], "axis": [0, -1]}, {"op": "mul", "args": [1, 0]}])
    typed("slice/6x2/5::-2+square", dt, [TU(dt, (6, 2))],
          [{"op": "slice", "args": [0], "begin": 5, "end": None, "step": -2}, {"op": "square", "args": [1]}])
    typed("slice/5/1:5:2+tanh", dt, [TU(dt, (5,))],
          [{"op": "slice", "args": [0], "begin": 1, "end": 5, "step": 2}, {"op": "tanh", "args": [1]}])
    typed("slice/4x5/[:3:2,4:0:-2]+square", dt, [TU(dt, (4, 5))],
          [{"op": "slice", "args": [0], "begin": [None, 4], "end": [3, 0], "step": [2, -2]},
           {"op": "square", "args": [1]}])
    typed("slice/3x4x2/[1:,-1::-3]*slice", dt, [TU(dt, (3, 4, 2))],
          [{"op": "slice", "args": [0], "begin": [1, -1], "end": [None, None], "step": [1, -3]},
           {"op": "mul", "args": [1, 1]}])
    typed("sliceAxis/3x5/axis1/1:-1+square", dt, [TU(dt, (3, 5))],
          [{"op": "sliceAxis", "args": [0], "axis": 1, "begin": 1, "end": -1}, {"op": "square", "args": [1]}])
    typed("sliceAxis/4x2/axis0/-3:+tanh", dt, [TU(dt, (4, 2))],
          [{"op": "sliceAxis", "args": [0], "axis": 0, "begin": -3, "end": None}, {"op": "tanh", "args": [1]}])
    # dot with transposed operands (bilinear: the cross terms), and + tanh
    for sa, sb, ta, tb in DOT_T:
        a, b = TU(dt, sa, -1.5, 1.5), TU(dt, sb, -1.5, 1.5)
        d = {"op": "dot", "args": [0, 1], "transposeA": ta, "transposeB": tb}
        form = f"dot/{sh(sa)}{'^T' if ta else ''}.{sh(sb)}{'^T' if tb else ''}"
        typed(f"{form}/wrt01", dt, [a, b], [d])
        typed(f"{form}/wrt1", dt, [a, b], [d], wrt=[1])
        typed(f"{form}+tanh", dt, [a, b], [d, {"op": "tanh", "args": [2]}])
    # norm with ord and axis (ord 1 is piecewise linear: + square / tanh)
    for k, (o, shp, axis, keep) in enumerate(NORMS):
        x = Taway(dt, shp, 0.2, 1.0) if o == 1 else TU(dt, shp)
        ops = [{"op": "norm", "args": [0], "ord": o, "axis": axis, "keepdims": keep}]
        if o == 1:
            ops.append(post(k, 1))
        ax = "all" if axis is None else (",".join(map(str, axis)) if isinstance(axis, list) else str(axis))
        typed(f"norm/ord{o}/{sh(shp)}/axis{ax}{'/keep' if keep else ''}" + (f"+{ops[-1]['op']}" if o == 1 else ""),
              dt, [x], ops)
    # astype round trips through the other float dtype. A float32 case
    # computes in float64 in between; a float64 case only converts there
    # (exact, or a rounding torch does identically), so that its float64
    # tolerances hold
    other = "float64" if dt == "float32" else "float32"
    if dt == "float32":
        typed("astype/2x3/float32->float64:tanh(x)*x->float32", dt, [TU(dt, (2, 3))],
              [{"op": "astype", "args": [0], "dtype": other}, {"op": "tanh", "args": [1]},
               {"op": "mul", "args": [2, 1]}, {"op": "astype", "args": [3], "dtype": dt}])
    else:
        typed("astype/2x3/tanh(x)*x->float32->float64", dt, [TU(dt, (2, 3))],
              [{"op": "tanh", "args": [0]}, {"op": "mul", "args": [1, 0]},
               {"op": "astype", "args": [2], "dtype": other}, {"op": "astype", "args": [3], "dtype": dt}])
    typed(f"astype/5/{dt}->{other}->{dt}*x", dt, [TU(dt, (5,))],
          [{"op": "astype", "args": [0], "dtype": other}, {"op": "astype", "args": [1], "dtype": dt},
           {"op": "sin", "args": [2]}, {"op": "mul", "args": [3, 0]}])
    # chains of several new ops
    typed("chain/logSoftmax(tile(sin(x)))", dt, [TU(dt, (2, 3))],
          [{"op": "sin", "args": [0]}, {"op": "tile", "args": [1], "reps": [1, 2]},
           {"op": "logSoftmax", "args": [2], "axis": -1}])
    typed("chain/erf(sort(x))*flip(x)", dt, [Tsep(dt, (5,))],
          [{"op": "sort", "args": [0], "axis": -1, "isAscend": True}, {"op": "erf", "args": [1]},
           {"op": "flip", "args": [0], "axis": 0}, {"op": "mul", "args": [2, 3]}])
    typed("chain/softmax(take(x))*norm1(x)/ones", dt, [Taway(dt, (3, 2), 0.2, 1.5)],
          [{"op": "take", "args": [0], "indices": const_tensor([2, 0, 2], "int32"), "axis": 0, "mode": "clip"},
           {"op": "softmax", "args": [1], "axis": 0},
           {"op": "norm", "args": [0], "ord": 1, "axis": None, "keepdims": False},
           {"op": "mul", "args": [2, 3]}], head=False)


for _dt in DTYPES:
    typed_cases_of(_dt)


def float64_original_ops():
    """The ops of the float32 cases above, once each in float64."""
    dt = "float64"
    for op, (lo, hi) in UNARY_DOMAIN.items():
        typed(f"{op}/2x3", dt, [TU(dt, (2, 3), lo, hi)], [{"op": op, "args": [0]}])
    for k, op in enumerate(["neg", "abs", "relu"]):
        typed(f"{op}/2x3+{post(k, 1)['op']}", dt, [Taway(dt, (2, 3))], [{"op": op, "args": [0]}, post(k, 1)])
    for k, op in enumerate(BINARY):
        sa, sb = [((2, 3), (3,)), ((2, 1), (1, 3))][k % 2]
        if op == "pow":
            a, b = TU(dt, sa, 0.3, 2.0), TU(dt, sb)
        elif op == "div":
            a, b = TU(dt, sa), Taway(dt, sb, 0.4, 2.0)
        elif op in ("maximum", "minimum"):
            while True:
                a, b = TU(dt, sa), TU(dt, sb)
                aa, bb = np.broadcast_arrays(a, b)
                if np.min(np.abs(aa - bb)) >= MARGIN:
                    break
        else:
            a, b = TU(dt, sa), TU(dt, sb)
        ops = [{"op": op, "args": [0, 1]}]
        if op in ("add", "sub", "maximum", "minimum"):
            ops.append(post(k, 2))
        typed(f"{op}/{sh(sa)},{sh(sb)}", dt, [a, b], ops)
    for op, sc, rev, p in [("div", 1.5, True, None), ("pow", 2.5, False, None), ("pow", 0.5, True, None),
                           ("maximum", 0.25, False, "square"), ("minimum", -0.5, True, "tanh")]:
        x = TU(dt, (2, 3), 0.3, 1.5) if op == "pow" and not rev else Taway(dt, (2, 3), 0.3, 1.5)
        while op in ("maximum", "minimum") and np.min(np.abs(x - sc)) < MARGIN:
            x = Taway(dt, (2, 3), 0.3, 1.5)
        ins = {"op": op, "args": [0], "scalar": sc}
        if rev:
            ins["reverse"] = True
        form = f"{sc}_{op}_x" if rev else f"x_{op}_{sc}"
        typed(f"scalar/{form}" + (f"+{p}" if p else ""), dt, [x],
              [ins] + ([{"op": p, "args": [1]}] if p else []))
    for k, op in enumerate(REDUCE):
        shp, axis, keep = [((3, 4), 0, False), ((2, 3, 4), [0, 2], True)][k % 2]
        x = Tsep(dt, shp) if op in ("max", "min") else (Taway(dt, shp, 0.85, 1.15) if op == "prod" else TU(dt, shp))
        if op == "prod":
            axis = 1
        ops = [{"op": op, "args": [0], "axis": axis, "keepdims": keep}]
        if op in ("sum", "mean", "max", "min"):
            ops.append(post(k, 1))
        typed(f"{op}/{sh(shp)}/axis{axis}{'/keep' if keep else ''}", dt, [x], ops)
    a, b = TU(dt, (2, 3), -1.5, 1.5), TU(dt, (3, 2), -1.5, 1.5)
    typed("dot/2x3.3x2", dt, [a, b], [{"op": "dot", "args": [0, 1]}])
    a, b = TU(dt, (2, 3, 2), -1.5, 1.5), TU(dt, (2, 2, 3), -1.5, 1.5)
    typed("batchDot/2x3x2.2x2x3+tanh", dt, [a, b], [{"op": "batchDot", "args": [0, 1]}, {"op": "tanh", "args": [2]}])
    for k, (op, shps, params) in enumerate(MOVEMENT[::2]):
        xs = [TU(dt, sp) for sp in shps]
        pname = ",".join(f"{key}={v}" for key, v in params.items()).replace(" ", "")
        typed(f"{op}/{'+'.join(sh(sp) for sp in shps)}/{pname}", dt, xs,
              [{"op": op, "args": list(range(len(xs))), **params}, post(k, len(xs))])


float64_original_ops()


# ---------------------------------------------------------------------------
# assemble
# ---------------------------------------------------------------------------

def program_cases():
    out = []
    idx = 0
    while len(out) < 110:
        out.append(random_program(idx))
        idx += 1
    return out


PROGRAMS = program_cases()


def encode_case(c, ref_fn):
    dt = c.get("dtype", "float32")
    e = with_tolerances(c["name"], lambda ctx: ref_fn(c, ctx), dt)
    j = {"name": c["name"]}
    if "dtype" in c:
        j["dtype"] = dt
    j.update({"inputs": [tensor(x, dt) for x in c["inputs"]], "ops": c["ops"], "out": c["out"]})
    n = len(c["inputs"])
    j["expect"] = {"out": e["out"]}
    if "loss" in c:
        j["loss"] = c["loss"]
        if "loss" in e:
            j["expect"]["loss"] = e["loss"]
    if "backward/0" in e:
        j["backward"] = listed(e, "backward", n)
    if "grad" in c:
        g = c["grad"]
        j["grad"] = {"wrt": g["wrt"], "headGrad": tensor(g["headGrad"]),
                     "expect": listed(e, "grad", len(g["wrt"]))}
    if "hvp" in c:
        h = c["hvp"]
        j["hvp"] = {"of": h["of"], "headGrad": None if h["headGrad"] is None else tensor(h["headGrad"], dt),
                    "wrt": h["wrt"], "v": [tensor(v, dt) for v in h["v"]], "mode": h["mode"],
                    "first": listed(e, "first", len(h["wrt"])), "expect": listed(e, "hvp", n)}
    return j


def encode_semantic(c):
    e = with_tolerances(c["name"], lambda ctx: ref_semantic(c, ctx))
    n = len(c["inputs"])
    j = {"type": c["type"], "name": c["name"], "inputs": [tensor(x) for x in c["inputs"]], "ops": c["ops"],
         "out": c["out"]}
    for key in ("reqs", "times", "heads", "loss"):
        if key in c:
            j[key] = c[key]
    if "rounds" in c:
        j["rounds"] = [{"headGrad": None if r["headGrad"] is None else tensor(r["headGrad"])} for r in c["rounds"]]
    if "headGrad" in c:
        j["headGrad"] = None if c["headGrad"] is None else tensor(c["headGrad"])
    if "headGrads" in c:
        j["headGrads"] = [None if g is None else tensor(g) for g in c["headGrads"]]
    if "v" in c:
        j["v"] = [tensor(v) for v in c["v"]]
    j["expect"] = {"out": e["out"], "grads": listed(e, "grads", n)}
    if "loss" in e:
        j["expect"]["loss"] = e["loss"]
    if "first/0" in e:
        j["expect"]["first"] = listed(e, "first", n)
    if "gradOf/0" in e:
        j["expect"]["gradOf"] = listed(e, "gradOf", n)
    return j


def encode_control(a):
    box = {}

    def fn(ctx):
        r, k, idx = ref_control(a, ctx, THRESHOLD)
        box.setdefault("k", k)
        box.setdefault("idx", idx)
        assert (k, idx) == (box["k"], box["idx"])
        return r

    e = with_tolerances("controlFlow", fn)
    return {"a": tensor(a), "doublings": box["k"], "index": box["idx"], "c": e["c"], "grad": e["grad"]}


doc = {
    "about": "generated by tests/vectors/gen_autograd.py (see its docstring); do not edit",
    "torch": torch.__version__,
    "numpy": np.__version__,
    "programs": [encode_case(c, ref_case) for c in PROGRAMS],
    "second": [encode_case(c, ref_case) for c in second_cases],
    "semantics": [encode_semantic(c) for c in sem_cases],
    "controlFlow": {"threshold": THRESHOLD, "runs": [encode_control(a) for a in control_runs]},
}
# the typed cases go at the end of "second", encoded last so that the
# perturbation seeds of everything before them stay as they were
doc["second"] += [encode_case(c, ref_case) for c in typed_cases]

# coverage: every op of the brief appears in the random programs and in the
# second-derivative cases
used = {}
for c in PROGRAMS:
    for ins in c["ops"]:
        key = ins["op"] + ("/scalar" if "scalar" in ins else "")
        used[key] = used.get(key, 0) + 1
need = set(UNARY) | set(BINARY) | {f"{b}/scalar" for b in BINARY} | {
    "sum", "mean", "max", "min", "norm", "reshape", "transpose", "broadcastTo", "dot", "batchDot",
    "concat", "stack", "at", "slice", "detach"}
short = {k: used.get(k, 0) for k in need if used.get(k, 0) < 3}
assert not short, short
second_ops = {ins["op"] for c in second_cases for ins in c["ops"]}
assert set(UNARY) | set(BINARY) | set(REDUCE) | {"reshape", "transpose", "broadcastTo", "dot", "batchDot",
                                                   "concat", "stack", "at", "slice"} <= second_ops

# every op of issue #3 with a gradient has typed cases in both dtypes
NEW_OPS = set(NEW_UNARY) | {"clip", "leakyRelu", "where", "softmax", "logSoftmax", "take", "pick", "topk", "sort",
                            "tile", "repeat", "flip", "slice", "sliceAxis", "dot", "norm", "astype"}
for _dt in DTYPES:
    have = {ins["op"] for c in typed_cases if c["dtype"] == _dt for ins in c["ops"]}
    assert NEW_OPS <= have, (_dt, NEW_OPS - have)
    if _dt == "float64":  # and the original ops
        assert set(second_ops) <= have, set(second_ops) - have

names = [c["name"] for c in doc["programs"] + doc["second"] + doc["semantics"]]
assert len(names) == len(set(names))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograd.json")
text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
# one case per line (readable diffs)
text = (text.replace('{"name":"program/', '\n{"name":"program/')
        .replace('{"name":"second/', '\n{"name":"second/')
        .replace('{"type":', '\n{"type":')
        .replace('{"a":', '\n{"a":')) + "\n"
assert len(text) < 1_500_000, len(text)
with open(path, "w", encoding="utf-8") as f:
    f.write(text)
n_hvp = sum(1 for c in doc["programs"] if "hvp" in c)
print(f"wrote {path}: {len(doc['programs'])} programs ({n_hvp} with a Hessian-vector product), "
      f"{len(doc['second'])} second-derivative cases, {len(doc['semantics'])} semantic cases, "
      f"{len(doc['controlFlow']['runs'])} control-flow runs, {len(text)} bytes")
print("op uses in programs:", ", ".join(f"{k} {used[k]}" for k in sorted(used)))
print(f"torch float32 uses at most {stats['f32_used']:.3f} of a tolerance ({stats['f32_where']}); "
      f"{stats['tensors']} expected tensors")
_rel = np.array(stats["f64_rel"])
print("typed cases: " + ", ".join(f"{sum(c['dtype'] == d for c in typed_cases)} {d}" for d in DTYPES)
      + f"; float64: {stats['f64_tensors']} expected tensors, tolerance / |value| median {np.median(_rel):.2g}, "
      f"90th percentile {np.percentile(_rel, 90):.2g}, max {np.max(_rel):.2g}")
