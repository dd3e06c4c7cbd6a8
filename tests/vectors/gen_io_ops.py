"""uint8 operator vectors (issue #13): NumPy's own uint8 arithmetic as the
reference, written as the set "io" (tests/vectors/io-NN.json, same case
format as gen_ops.py's ops-NN.json; read by the Rust and TypeScript vector
tests through tests/vectors/sets.json).

Semantics (NumPy's uint8, MXNet's dtype rules where NumPy would promote):
add/sub/mul/pow wrap modulo 256, div truncates (no zero divisors here: the
engine refuses them), comparisons give 0/1 in uint8, a number operand is
cast to uint8 first (MXNet's DType(scalar): truncate, then wrap), reductions
stay in uint8 (sum/prod wrap; mean = trunc(sum / n)), astype to uint8
truncates and wraps (np.trunc(x).astype(int64).astype(uint8), what
astype(np.uint8) gives on x86), no gradients.

Run: python3 tests/vectors/gen_io_ops.py
"""
import json
import os

import numpy as np

U8 = np.uint8
rng = np.random.default_rng(20261205)
cases = []
names = set()
PREFIX = {"float32": "", "float64": "f64/", "int32": "i32/", "uint8": "u8/"}
NP = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "uint8": np.uint8}
RTOL = {"float32": 2.0 ** -20, "float64": 2.0 ** -49}
TINY = {"float32": float(np.finfo(np.float32).tiny), "float64": float(np.finfo(np.float64).tiny)}


def dt_of(a):
    return {np.dtype(v): k for k, v in NP.items()}[np.asarray(a).dtype]


def enc(v, dt):
    if dt in ("int32", "uint8"):
        return int(v)
    f = float(v)
    assert np.isfinite(f)
    if dt == "float32":
        f = float(str(np.float32(v)))  # the shortest round-trip decimal
        assert np.float32(f) == np.float32(v)
    return int(f) if f == int(f) and abs(f) < 2 ** 53 else f


def tensor(a, out=False):
    a = np.asarray(a)
    dt = dt_of(a)
    t = {"dtype": dt, "shape": [int(d) for d in a.shape], "data": [enc(v, dt) for v in a.ravel().tolist()]}
    if out:
        t["rtol"] = RTOL.get(dt, 0.0)
        t["atol"] = TINY.get(dt, 0.0)
    return t


def emit(name, op, kind, params, inputs, out):
    data = inputs[1] if op == "where" else inputs[0]
    dtype = dt_of(data)
    name = f"{op}/{PREFIX[dtype]}{name}"
    assert name not in names, name
    names.add(name)
    case = {"name": name, "op": op, "kind": kind, "dtype": dtype, "params": params,
            "inputs": [tensor(x) for x in inputs]}
    if isinstance(out, list):
        case["outputs"] = [tensor(o, out=True) for o in out]
    else:
        case["output"] = tensor(out, out=True)
    cases.append(case)


def u8(shape, lo=0, hi=256):
    return rng.integers(lo, hi, size=shape).astype(U8)


def sh(shape):
    return "x".join(map(str, shape)) if shape else "0d"


def to_u8(x):
    """astype(np.uint8) of any dtype: truncate, then wrap modulo 256."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return np.trunc(x).astype(np.int64).astype(U8)
    return x.astype(np.int64).astype(U8)


def scalar_u8(s):
    return U8(int(np.trunc(s)) % 256)


COMPARE = {"equal": np.equal, "notEqual": np.not_equal, "greater": np.greater,
           "greaterEqual": np.greater_equal, "lesser": np.less, "lesserEqual": np.less_equal}


def bin_ref(op, a, b):
    with np.errstate(over="ignore"):
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            assert np.all(b != 0)
            return a // b
        if op == "pow":
            return np.power(a, b)  # uint8 ** uint8 wraps modulo 256, as the engine
        if op == "maximum":
            return np.maximum(a, b)
        if op == "minimum":
            return np.minimum(a, b)
        return COMPARE[op](a, b).astype(U8)


# --- astype, every pair with uint8 on one side -------------------------------
src = {
    "float32": np.array([[0.0, 1.9, 255.5], [256.0, 300.7, -1.5]], dtype=np.float32),
    "float64": np.array([[7.99, -0.5, 1e6], [-200.25, 128.0, 65535.0]], dtype=np.float64),
    "int32": np.array([[0, 255, 256], [-1, 70000, -129]], dtype=np.int32),
    "uint8": u8((2, 3)),
}
for dt, x in src.items():
    emit(f"to_uint8/{sh(x.shape)}", "astype", "astype", {"dtype": "uint8"}, [x], to_u8(x))
x = np.array([[0, 1, 127], [128, 200, 255]], dtype=U8)
for dt in ("float32", "float64", "int32"):
    emit(f"to_{dt}/{sh(x.shape)}", "astype", "astype", {"dtype": dt}, [x], x.astype(NP[dt]))
emit("to_uint8/0d", "astype", "astype", {"dtype": "uint8"}, [np.array(77, dtype=U8)], np.array(77, dtype=U8))

# --- binary, same shape and broadcast (wrap-around included) -----------------
BIN = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", *COMPARE]
for op in BIN:
    for sa, sb in [((6,), (6,)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 2))]:
        a = u8(sa)
        b = u8(sb, 1, 256) if op == "div" else (u8(sb, 0, 9) if op == "pow" else u8(sb))
        if op in COMPARE and a.size > 1 and b.size > 1:
            b.ravel()[0] = a.ravel()[0]  # a tie
        emit(f"{sh(sa)}+{sh(sb)}", op, "binary", {}, [a, b], bin_ref(op, *np.broadcast_arrays(a, b)))

# --- number operands: cast to uint8 first, either side -----------------------
for op, s, rev in [("add", 100, False), ("add", 300.9, False), ("sub", 3, True), ("sub", 10, False),
                   ("mul", 7, False), ("div", 3, False), ("maximum", 128, False), ("greater", 100, False),
                   ("pow", 2, False)]:
    x = u8((2, 3), 1, 256)
    sv = scalar_u8(s)
    xs = np.full_like(x, sv)
    ref = bin_ref(op, xs, x) if rev else bin_ref(op, x, xs)
    side = f"{s}_{op}_x" if rev else f"x_{op}_{s}"
    emit(f"{side}/2x3", op, "scalar", {"scalar": s, "reverse": rev}, [x], ref)

# --- unary ops integers support ------------------------------------------------
for op in ["neg", "abs", "square", "relu", "sign"]:
    for shape in [(5,), (2, 3), ()]:
        x = u8(shape)
        if x.size > 1:
            x.ravel()[0] = 0
        with np.errstate(over="ignore"):
            ref = {"neg": lambda v: (np.zeros_like(v) - v), "abs": lambda v: v, "square": lambda v: v * v,
                   "relu": lambda v: v, "sign": lambda v: (v != 0).astype(U8)}[op](x)
        emit(sh(shape), op, "unary", {}, [x], ref)

# --- reductions in uint8 --------------------------------------------------------
for op in ["sum", "mean", "max", "min", "prod"]:
    for shape, axis, keep in [((6,), None, False), ((3, 4), 1, False), ((2, 3, 4), [0, 2], True), ((3, 4), -2, True)]:
        x = u8(shape, 0, 8) if op == "prod" else u8(shape)
        ax = tuple(a % len(shape) for a in ([axis] if isinstance(axis, int) else axis)) if axis is not None \
            else tuple(range(len(shape)))
        wide = x.astype(np.int64)
        if op == "sum":
            r = wide.sum(axis=ax, keepdims=True) % 256
        elif op == "prod":
            r = wide.prod(axis=ax, keepdims=True) % 256
        elif op == "mean":
            n = int(np.prod([shape[i] for i in ax]))
            r = wide.sum(axis=ax, keepdims=True) // n
        elif op == "max":
            r = wide.max(axis=ax, keepdims=True)
        else:
            r = wide.min(axis=ax, keepdims=True)
        if not keep:
            r = r.reshape(tuple(d for i, d in enumerate(shape) if i not in ax) or (1,))
        emit(f"{sh(shape)}/{axis if axis is not None else 'all'}{'/keep' if keep else ''}".replace(" ", ""),
             op, "reduce", {"axis": axis, "keepdims": keep}, [x], r.astype(U8))

# --- movement and indexing --------------------------------------------------------
x = u8((2, 3, 4))
emit("2x3x4_to_4x-1", "reshape", "reshape", {"shape": [4, -1]}, [x], x.reshape(4, -1))
emit("2x3x4/rev", "transpose", "transpose", {"axes": None}, [x], x.transpose())
emit("2x3x4/1,0,2", "transpose", "transpose", {"axes": [1, 0, 2]}, [x], x.transpose(1, 0, 2))
y = u8((3,))
emit("3_to_2x3", "broadcastTo", "broadcastTo", {"shape": [2, 3]}, [y], np.broadcast_to(y, (2, 3)))
emit("2x3x4/-1", "at", "at", {"index": -1}, [x], x[-1])
emit("2x3x4/0:1", "slice", "slice", {"begin": 0, "end": 1, "step": None}, [x], x[0:1])
z = u8((7,))
emit("7/5:0:-2", "slice", "slice", {"begin": 5, "end": 0, "step": -2}, [z], z[5:0:-2])
emit("3", "copy", "copy", {}, [y], y.copy())
emit("3/-1", "expandDims", "expandDims", {"axis": -1}, [y], y[:, None])
w = u8((1, 3, 1))
emit("1x3x1/all", "squeeze", "squeeze", {"axis": None}, [w], w.squeeze())
a, b = u8((2, 3)), u8((1, 3))
emit("2x3+1x3/ax0", "concat", "concat", {"axis": 0}, [a, b], np.concatenate([a, b], 0))
emit("2x3+2x3/ax-1", "stack", "stack", {"axis": -1}, [a, a + 1], np.stack([a, a + 1], -1))
emit("2x3/2,1", "tile", "tile", {"reps": [2, 1]}, [a], np.tile(a, (2, 1)))
emit("2x3/2/ax1", "repeat", "repeat", {"repeats": 2, "axis": 1}, [a], np.repeat(a, 2, 1))
emit("2x3x4/2", "flip", "flip", {"axis": 2}, [x], np.flip(x, 2))
emit("2x3x4/ax1/1:3", "sliceAxis", "sliceAxis", {"axis": 1, "begin": 1, "end": 3}, [x], x[:, 1:3])
cond = rng.integers(0, 2, size=(2, 3)).astype(U8)
emit("uint8_cond/2x3", "where", "where", {}, [cond, a, b.repeat(2, 0)], np.where(cond != 0, a, b.repeat(2, 0)))
t = np.array([[5, 200, 200, 7, 0], [255, 1, 2, 255, 3]], dtype=U8)
emit("ties/2x5/ax1", "argmax", "argmax", {"axis": 1, "keepdims": False}, [t], np.argmax(t, 1).astype(U8))
emit("ties/2x5/ax1", "argmin", "argmin", {"axis": 1, "keepdims": False}, [t], np.argmin(t, 1).astype(U8))
emit("ties/2x5/ax-1", "sort", "sort", {"axis": -1, "is_ascend": True}, [t], np.sort(t, -1))
v = np.array([[9, 3, 250, 4, 100], [0, 17, 16, 255, 1]], dtype=U8)
top = np.argsort(-v.astype(np.int64), axis=-1, kind="stable")[:, :2]
emit("2x5/ax-1/k2/value", "topk", "topk", {"axis": -1, "k": 2, "ret_typ": "value", "is_ascend": False}, [v],
     np.take_along_axis(v, top, -1))

# --- shards --------------------------------------------------------------------
here = os.path.dirname(os.path.abspath(__file__))
text = "[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]\n"
assert len(text) < 900_000
for old in os.listdir(here):
    if old.startswith("io-") and old.endswith(".json"):
        os.remove(os.path.join(here, old))
with open(os.path.join(here, "io-00.json"), "w", encoding="utf-8") as f:
    f.write(text)
print(f"wrote tests/vectors/io-00.json: {len(cases)} uint8 cases, {len(text)} bytes")
