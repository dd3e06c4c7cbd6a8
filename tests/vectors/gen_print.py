#!/usr/bin/python3
"""Generate tests/vectors/print.json: NumPy's str() of arrays and scalars.

Run with Debian's NumPy (1.24), not a pyenv/virtualenv python:

    /usr/bin/python3 tests/vectors/gen_print.py

The output is deterministic (fixed seeds, no dict-order or time dependence):
running the script twice writes the same file.

Format of print.json: a JSON list of cases, one per line.

Array cases:
    {"name": str, "dtype": "float32"|"float64"|"int32", "shape": [int...],
     "data": <data>, "str": str(np.array(values, dtype).reshape(shape))}

Scalar cases:
    {"name": str, "dtype": ..., "scalar": <value>, "str": str(np.<dtype>(value))}

A value is a JSON number, or one of the strings "nan", "inf", "-inf", "-0"
(negative zero). Floats are written with Python's repr of the float64 value,
which is exact (for float32 cases it is the float64 value of the float32).

<data> is either a flat list of values (C order), or, for the few large
(summarised) arrays, a generator object that the test expands to the flat
list with exactly the same IEEE float64 arithmetic as this script:

    {"arange": [start, step]}
        value[i] = start + i * step              (float64 arithmetic)
    {"lcg": [seed, scale, offset]}
        x[0] = seed; x[i+1] = (x[i] * 1664525 + 1013904223) mod 2**32
        value[i] = (x[i+1] / 4294967296 - 0.5) * scale + offset
    {"lcgint": [seed, modulus]}
        same x sequence; value[i] = (x[i+1] mod modulus) - floor(modulus / 2)

The values are then cast to the dtype (float32: round to nearest; int32:
the values are already integers in range).
"""

import json
import math
import os
import sys

import numpy as np

assert np.__version__.startswith("1.24"), "generate with NumPy 1.24 (/usr/bin/python3)"
np.set_printoptions()  # defaults: precision=8, threshold=1000, edgeitems=3, linewidth=75
np.seterr(over="ignore", under="ignore", invalid="ignore")  # float32 casts of huge values give inf

DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32}

cases = []
names = set()


def enc(v):
    """Encode one element (a Python float or int) for JSON."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0"
    if v == int(v) and abs(v) < 2**53:
        # integral floats: keep them short but still floats for JSON readers
        return int(v) if abs(v) < 1e15 else v
    return v


def uniq(name):
    assert name not in names, name
    names.add(name)
    return name


def add(name, dtype, shape, values):
    """values: anything np.array accepts; cast to dtype and reshaped."""
    arr = np.array(values, dtype=DTYPES[dtype]).reshape(shape)
    flat = arr.ravel().tolist()
    cases.append({
        "name": uniq(name),
        "dtype": dtype,
        "shape": list(arr.shape),
        "data": [enc(v) for v in flat],
        "str": str(arr),
    })


def lcg_values(seed, n):
    x = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(x)
    return out


def expand(gen, n):
    if "arange" in gen:
        start, step = gen["arange"]
        return [float(start) + i * float(step) for i in range(n)]
    if "lcg" in gen:
        seed, scale, offset = gen["lcg"]
        return [(x / 4294967296.0 - 0.5) * float(scale) + float(offset) for x in lcg_values(seed, n)]
    if "lcgint" in gen:
        seed, modulus = gen["lcgint"]
        return [(x % modulus) - modulus // 2 for x in lcg_values(seed, n)]
    raise ValueError(gen)


def add_gen(name, dtype, shape, gen):
    n = int(np.prod(shape))
    arr = np.array(expand(gen, n), dtype=DTYPES[dtype]).reshape(shape)
    cases.append({
        "name": uniq(name),
        "dtype": dtype,
        "shape": list(shape),
        "data": gen,
        "str": str(arr),
    })


def add_scalar(name, dtype, value):
    s = DTYPES[dtype](value)
    v = s.item()
    cases.append({
        "name": uniq(name),
        "dtype": dtype,
        "scalar": enc(v),
        "str": str(s),
    })


rng = np.random.default_rng(20240611)
F = ("float32", "float64")

# ---------------------------------------------------------------------------
# MXNet tutorial values
# ---------------------------------------------------------------------------
add("tutorial/grad", "float32", [2], [0.9273255, -0.45468742])
add("tutorial/grad2", "float32", [2], [3.709302, -1.8187497])
add("tutorial/grad3", "float32", [2], [949.5813, -465.5999])
add("tutorial/1024_0", "float32", [2], [1024, 0])
add("tutorial/1024_neg", "float32", [2], [1024, -2088.4265])
add("tutorial/2x2", "float32", [2, 2], [2, 8, 18, 32])
add("tutorial/1234", "float32", [2, 2], [1, 2, 3, 4])
add("tutorial/single", "float32", [1], [9.695359])
add("tutorial/18", "float32", [1], [18])
add("tutorial/x4", "float32", [4], [0, 1, 2, 3])
add("tutorial/2x3", "float32", [2, 3], [1, 2, 3, 4, 5, 6])
add("tutorial/ones", "float32", [3, 4], [1] * 12)
add("tutorial/zeros", "float32", [2, 3], [0] * 6)
add("tutorial/neg_zeros", "float32", [3], [-0.0, 0.0, -0.0])
for i, v in enumerate([1.8905523, 2.0, 1e-05, 0.9273255, -465.5999, 18.0, 1024.0, 9.695359]):
    add_scalar(f"tutorial/scalar{i}", "float32", v)

# ---------------------------------------------------------------------------
# ranks 0..4, size-1 axes, empty arrays
# ---------------------------------------------------------------------------
shapes = [
    [], [1], [5], [1, 1], [1, 4], [4, 1], [3, 3], [2, 5],
    [1, 1, 1], [2, 1, 3], [1, 3, 1], [2, 3, 4], [3, 2, 2],
    [1, 1, 1, 1], [2, 2, 2, 2], [1, 2, 1, 3], [2, 3, 1, 2], [3, 1, 2, 1],
]
for dt in ("float32", "float64", "int32"):
    for shp in shapes:
        n = int(np.prod(shp))
        if dt == "int32":
            vals = rng.integers(-50, 1000, size=n)
        else:
            vals = rng.standard_normal(n) * 3
        add(f"rank{len(shp)}/{dt}/{'x'.join(map(str, shp)) or 'scalar'}", dt, shp, vals)

for dt in ("float32", "float64", "int32"):
    for shp in ([0], [2, 0], [0, 3], [1, 0], [1, 0, 2], [2, 3, 0], [0, 0, 0, 0], [1, 1, 0, 1]):
        add(f"empty/{dt}/{'x'.join(map(str, shp))}", dt, shp, [])

# 0-d arrays of special values
for dt in F:
    for i, v in enumerate([0.0, -0.0, 1.0, -2.5, float("nan"), float("inf"), float("-inf"),
                           1e-5, 1e16, 123456.789, 0.1]):
        add(f"rank0/{dt}/special{i}", dt, [], [v])
add("rank0/int32/neg", "int32", [], [-7])
add("rank0/int32/big", "int32", [], [2147483647])

# ---------------------------------------------------------------------------
# integral values
# ---------------------------------------------------------------------------
for dt in F:
    add(f"integral/{dt}/arange10", dt, [10], np.arange(10))
    add(f"integral/{dt}/negs", dt, [2, 4], [-3, -2, -1, 0, 1, 2, 3, 400])
    add(f"integral/{dt}/big", dt, [3], [1e7, 12345678, -9999999])
    add(f"integral/{dt}/hundreds", dt, [2, 3], [100, 200, -300, 999, 1000, 0])
    add(f"integral/{dt}/with_frac", dt, [4], [1, 2, 3, 0.5])
    add(f"integral/{dt}/near_1e8", dt, [3], [99999999, 99999992, 1])
add("integral/float32/above_2p24", "float32", [4], [16777217, 33554434, 99999992, 3])

# ---------------------------------------------------------------------------
# random normals at many magnitudes
# ---------------------------------------------------------------------------
mag_shapes = [[6], [2, 3], [3, 2, 2]]
for dt in F:
    for k in range(-8, 13):
        for j, shp in enumerate(mag_shapes):
            n = int(np.prod(shp))
            vals = rng.standard_normal(n) * 10.0 ** k
            add(f"mag/{dt}/1e{k}/{j}", dt, shp, vals)
    for k in range(-8, 13, 2):
        vals = np.abs(rng.standard_normal(5)) * 10.0 ** k
        add(f"mag/{dt}/pos1e{k}", dt, [5], vals)
        # rounded values: fewer digits, different paddings
        vals = np.round(rng.standard_normal(5) * 10.0 ** k, max(0, 3 - k))
        add(f"mag/{dt}/rounded1e{k}", dt, [5], vals)

# uniform over many decades at once (always scientific)
for dt in F:
    for j in range(4):
        vals = 10.0 ** rng.uniform(-12, 12, size=7) * rng.choice([-1, 1], size=7)
        add(f"mag/{dt}/decades{j}", dt, [7], vals)

# extreme values
add("extreme/float32/tiny", "float32", [3], [1e-45, 1.4e-45, 1e-38])
add("extreme/float32/max", "float32", [3], [3.4028235e38, -3.4028235e38, 1])
add("extreme/float32/subnormal", "float32", [4], [1e-40, 2.5e-42, -7e-44, 0])
add("extreme/float64/tiny", "float64", [3], [5e-324, 2.2250738585072014e-308, 1e-310])
add("extreme/float64/max", "float64", [3], [1.7976931348623157e308, -1e300, 1])
add("extreme/float64/big_exp", "float64", [4], [1e100, 1e-100, 1e200, 1e-200])

# ---------------------------------------------------------------------------
# the switch to scientific notation
# ---------------------------------------------------------------------------
sw = {
    "ratio_999": [1, 999],
    "ratio_999.9": [1, 999.9],
    "ratio_1000": [1, 1000],
    "ratio_1000.0001": [1, 1000.0001],
    "ratio_1000.001": [1, 1000.001],
    "ratio_1001": [1, 1001],
    "ratio_0.1_100": [0.1, 100],
    "ratio_0.1_100.01": [0.1, 100.01],
    "ratio_neg": [-0.5, 500, 1],
    "ratio_neg2": [-0.5, 500.1, 1],
    "min_1e-4": [1e-4, 0.01],
    "min_1.0001e-4": [1.0001e-4, 0.01],
    "min_9.999e-5": [9.999e-5, 0.01],
    "min_0.0001234": [0.0001234, 0.1],
    "max_1e8": [1e8, 1e6],
    "max_99999999": [99999999, 1e6],
    "max_99999990": [99999990, 1e6],
    "max_1e8_minus": [99999999.9, 1e6],
    "zero_and_small": [0, 1e-5],
    "zero_and_1": [0, 1],
    "zero_big": [0, 1e9],
    "only_zero_nan": [0, float("nan")],
    "big_with_inf": [1e9, float("inf")],
    "small_with_nan": [1e-9, float("nan"), 1],
    "inf_ignored": [1, float("inf"), 2.5],
    "nan_ignored": [1, float("nan"), 1e3],
}
for dt in F:
    for name, vals in sw.items():
        add(f"switch/{dt}/{name}", dt, [len(vals)], vals)

# float32: max/min is computed in float32 before comparing with 1000;
# include pairs where the float32 and float64 ratios disagree.
found = 0
trials = 0
while found < 6 and trials < 200000:
    trials += 1
    mn = np.float32(rng.uniform(0.5, 50))
    mx = np.float32(mn * np.float32(1000))
    for cand in (mx, np.nextafter(mx, np.float32(np.inf)), np.nextafter(mx, np.float32(0))):
        r32 = cand / mn  # float32
        r64 = float(cand) / float(mn)
        if (r32 > 1000.0) != (r64 > 1000.0):
            add(f"switch/float32/ratio_rounding{found}", "float32", [2], [mn, cand])
            found += 1
            break
# float64 pairs straddling the ratio
for j in range(4):
    mn = rng.uniform(0.5, 50)
    mx = mn * 1000
    add(f"switch/float64/ratio_edge{j}", "float64", [3],
        [mn, np.nextafter(mx, np.inf) if j % 2 else np.nextafter(mx, 0), -1.5 * mn])

# ---------------------------------------------------------------------------
# negatives, nan / inf / -inf / -0 mixed in
# ---------------------------------------------------------------------------
nan, inf = float("nan"), float("inf")
specials = {
    "nan_only": [nan],
    "inf_only": [inf],
    "ninf_only": [-inf],
    "nan_inf": [nan, inf],
    "nan_ninf": [nan, -inf],
    "all_special": [nan, inf, -inf],
    "mixed1": [1.5, nan, -inf],
    "mixed2": [-0.0, 1.25, nan],
    "mixed3": [inf, -2.5, 0.125, -0.0],
    "mixed_big": [1e10, nan, -inf, 3],
    "mixed_small": [1e-7, inf, -1],
    "neg_zero_only": [-0.0],
    "neg_zero_two": [-0.0, -0.0],
    "neg_zero_and_1": [-0.0, 1],
    "neg_zero_exp": [-0.0, 1e-9],
    "negatives": [-1, -22.5, -333.25, -0.0625],
    "long_nan": [0.123456, nan],
    "long_ninf": [0.123456789, -inf, 12.5],
    "exp_nan": [1.5e-20, nan, -inf, 2e20],
}
for dt in F:
    for name, vals in specials.items():
        add(f"special/{dt}/{name}", dt, [len(vals)], vals)
    v = rng.standard_normal(12)
    v[[1, 5, 7, 10]] = [nan, inf, -inf, -0.0]
    add(f"special/{dt}/grid", dt, [3, 4], v)
    v = rng.standard_normal(24) * 1e5
    v[[0, 9, 23]] = [nan, -inf, inf]
    add(f"special/{dt}/grid3d", dt, [2, 3, 4], v)

# ---------------------------------------------------------------------------
# wide rows: wrapping at linewidth 75
# ---------------------------------------------------------------------------
for dt in F:
    add(f"wrap/{dt}/30", dt, [30], rng.standard_normal(30))
    add(f"wrap/{dt}/5x40", dt, [5, 40], rng.standard_normal(200))
    add(f"wrap/{dt}/2x3x17", dt, [2, 3, 17], rng.standard_normal(102) * 100)
    add(f"wrap/{dt}/2x2x2x20", dt, [2, 2, 2, 20], rng.standard_normal(160))
    add(f"wrap/{dt}/exp50", dt, [50], rng.standard_normal(50) * 1e9)
    add(f"wrap/{dt}/ints40", dt, [40], np.arange(40))
    add(f"wrap/{dt}/short100", dt, [100], np.round(rng.standard_normal(100), 1))
    add(f"wrap/{dt}/4x19", dt, [4, 19], np.round(rng.standard_normal(76), 2))
    for w in range(5, 16):
        # rows whose length lands right around the line width
        add(f"wrap/{dt}/width{w}", dt, [2, w], np.round(rng.standard_normal(2 * w), 3) * 10)
add("wrap/float64/17digits", "float64", [12], rng.standard_normal(12) / 3)
add("wrap/int32/30", "int32", [30], rng.integers(-1000, 1000, size=30))
add("wrap/int32/3x40", "int32", [3, 40], rng.integers(0, 10, size=120))
add("wrap/int32/big", "int32", [25], rng.integers(-2**31, 2**31, size=25, dtype=np.int64))

# ---------------------------------------------------------------------------
# summarisation (threshold 1000, edgeitems 3)
# ---------------------------------------------------------------------------
add("summary/float32/1000", "float32", [1000], np.round(rng.standard_normal(1000), 4))
add("summary/float32/1001", "float32", [1001], rng.standard_normal(1001))
add("summary/float64/10x100", "float64", [10, 100], np.round(rng.standard_normal(1000), 2))
add("summary/int32/1001", "int32", [1001], np.arange(1001))
add("summary/int32/1000", "int32", [1000], np.arange(1000) - 500)
add_gen("summary/float32/20x60", "float32", [20, 60], {"lcg": [1, 4, 0]})
add_gen("summary/float64/20x60", "float64", [20, 60], {"lcg": [2, 200, 10]})
add_gen("summary/float32/4x30x30", "float32", [4, 30, 30], {"lcg": [3, 2, 0]})
add_gen("summary/float64/2x3x20x20", "float64", [2, 3, 20, 20], {"lcg": [4, 1e-3, 0]})
add_gen("summary/float32/7x143", "float32", [7, 143], {"lcg": [5, 1e6, 0]})
add_gen("summary/float32/1x1001", "float32", [1, 1001], {"arange": [0, 0.5]})
add_gen("summary/float32/1001x1", "float32", [1001, 1], {"arange": [-500, 1]})
add_gen("summary/float64/6x6x30", "float64", [6, 6, 30], {"arange": [0, 0.25]})
add_gen("summary/float64/arange2000", "float64", [2000], {"arange": [1, 1e5]})
add_gen("summary/float32/big_hidden", "float32", [3000], {"lcg": [6, 1e12, 0]})
add_gen("summary/int32/30x40", "int32", [30, 40], {"lcgint": [7, 100000]})
add_gen("summary/int32/2x1000", "int32", [2, 1000], {"lcgint": [8, 4294967295]})
add_gen("summary/float32/1000x1000", "float32", [1000, 1000], {"lcg": [9, 6, 0]})

# ---------------------------------------------------------------------------
# int32
# ---------------------------------------------------------------------------
add("int32/basic", "int32", [3], [1, 2, 3])
add("int32/neg", "int32", [2, 3], [-1, 20, -300, 4000, 0, 5])
add("int32/limits", "int32", [2], [2147483647, -2147483648])
add("int32/zeros", "int32", [2, 2], [0, 0, 0, 0])
add("int32/3d", "int32", [2, 2, 3], rng.integers(-99, 99, size=12))
add("int32/4d", "int32", [2, 1, 2, 2], rng.integers(0, 100000, size=8))

# ---------------------------------------------------------------------------
# scalars
# ---------------------------------------------------------------------------
scal = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 0.1, 0.3, 1 / 3, 2 / 3, 100.0, 1e4, 12345.678,
        1e-4, 1.0001e-4, 9.999e-5, 1e-5, 1e15, 9.999999e15, 1e16, 1.5e16, 1e17, 1e20,
        1e-20, 1e-30, 1e30, 1e38, 3.4028235e38, 1e-45, 1e-40, 5e-324, 1e300,
        1.7976931348623157e308, 99999992.0, 16777217.0, 123456789.0, 0.0001,
        nan, inf, -inf, -1e-7, -123.456, 1e100, 2 ** 63, 2 ** 53 + 1, 1e22, 1e23]
for dt in F:
    for i, v in enumerate(scal):
        add_scalar(f"scalar/{dt}/{i}", dt, v)
    for k in range(-12, 20):
        for j in range(3):
            v = rng.standard_normal() * 10.0 ** k
            add_scalar(f"scalar/{dt}/1e{k}/{j}", dt, v)
    # values next to the positional/scientific boundaries
    for j, v in enumerate([1e-4, 1e16]):
        t = DTYPES[dt]
        x = t(v)
        add_scalar(f"scalar/{dt}/edge{j}/down", dt, np.nextafter(x, t(0)))
        add_scalar(f"scalar/{dt}/edge{j}/up", dt, np.nextafter(x, t(np.inf)))
for i, v in enumerate([0, 1, -1, 42, -2147483648, 2147483647, 1000000]):
    add_scalar(f"scalar/int32/{i}", "int32", v)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "print.json")
    lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
    text = "[\n" + ",\n".join(lines) + "\n]\n"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {out}: {len(cases)} cases, {len(text)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
