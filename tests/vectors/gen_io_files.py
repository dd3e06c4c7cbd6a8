"""Fixtures for nd.save / nd.load (issue #13), written to tests/fixtures/io/.

- NumPy's own files: np.save (every dtype the loader reads, ranks 0-5, empty
  arrays, C and Fortran order, little and big endian, format versions 1.0,
  2.0 and 3.0), np.savez and np.savez_compressed.
- MXNet's NDArray-list files from an independent writer below, which follows
  MXNet 1.9.1's C++ (git show 1.9.1:<file> in apache/mxnet):
    src/ndarray/ndarray.cc l. 1596-1603  magics V1 0xF993fac8, V2 0xF993fac9, V3 0xF993faca
    src/ndarray/ndarray.cc l. 1605-1678  NDArray::Save: magic, int32 stype, shape,
                                         context, int32 type flag, raw values
    src/ndarray/ndarray.cc l. 1681-1726  LegacyTShapeLoad / LegacyLoad (V1; V0: ndim then uint32 dims)
    src/ndarray/ndarray.cc l. 1838-1848  list: uint64 0x112, uint64 0, vector<NDArray>, vector<string>
    include/mxnet/tuple.h l. 730-739     Tuple::Save: int32 ndim, then int64 (dim_t) dims
    include/mxnet/base.h l. 156-159      Context::Save: int32 dev_type (cpu = 1), int32 dev_id
    3rdparty/mshadow/mshadow/base.h l. 359-371  type flags 0 f32, 1 f64, 2 f16, 3 u8, 4 i32, 5 i8, 6 i64, 7 bool
    dmlc-core include/dmlc/serializer.h  vectors: uint64 count + items; strings: uint64 length + bytes
- manifest.json: for every file, what nd.load must return (kind, names, the
  dtype ndgrad loads each array as, shape, values) or the error it must give
  (a word the message must contain); and "save" cases: arrays and the exact
  bytes nd.save must write for them (MXNet's format and .npy).

Run: python3 tests/vectors/gen_io_files.py
"""
import io
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "io")
rng = np.random.default_rng(1305)

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
FLAG = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6, "bool": 7}
# the dtype ndgrad loads each file dtype as (API.md "nd files")
LOADS_AS = {"float32": "float32", "float64": "float64", "float16": "float32", "uint8": "uint8",
            "int32": "int32", "int8": "int32", "int64": "int32", "bool": "uint8"}


# --- the independent MXNet writer ---------------------------------------------

def mx_record(a, version=V2, stype=0):
    a = np.asarray(a)  # (not ascontiguousarray: it makes 0-d arrays 1-d); tobytes() is C order
    name = "bool" if a.dtype == np.bool_ else a.dtype.name
    out = b""
    if version in (V2, V3):
        out += struct.pack("<I", version) + struct.pack("<i", stype)
        out += struct.pack("<i", a.ndim) + b"".join(struct.pack("<q", d) for d in a.shape)
    elif version == V1:
        out += struct.pack("<I", V1) + struct.pack("<i", a.ndim) + b"".join(struct.pack("<q", d) for d in a.shape)
    else:  # legacy V0: the first word is ndim
        out += struct.pack("<I", a.ndim) + b"".join(struct.pack("<I", d) for d in a.shape)
    out += struct.pack("<ii", 1, 0)  # Context cpu(0)
    out += struct.pack("<i", FLAG[name])
    out += a.astype(a.dtype.newbyteorder("<")).tobytes()
    return out


def mx_file(records, names=None):
    out = struct.pack("<QQ", 0x112, 0) + struct.pack("<Q", len(records)) + b"".join(records)
    names = names or []
    out += struct.pack("<Q", len(names))
    for n in names:
        b = n.encode("utf-8")
        out += struct.pack("<Q", len(b)) + b
    return out


def mx_save(arrays, names=None):
    """What MXNet 1.x nd.save writes: V2 records (V3 for a 0-d array, which MXNet
    1.x only has under NumPy shape semantics)."""
    return mx_file([mx_record(a, V3 if a.ndim == 0 else V2) for a in arrays], names)


# --- values ----------------------------------------------------------------------

def values(dtype, shape):
    if dtype in ("float32", "float64"):
        return rng.standard_normal(shape).astype(dtype) * 10
    if dtype == "float16":
        return (rng.standard_normal(shape) * 100).astype(np.float16)
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "int8":
        return rng.integers(-128, 128, shape).astype(np.int8)
    if dtype == "int32":
        return rng.integers(-2**31, 2**31, shape).astype(np.int32)
    if dtype == "int64":
        return rng.integers(-2**31, 2**31, shape).astype(np.int64)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(np.bool_)
    raise ValueError(dtype)


def expect(a, name=None):
    a = np.asarray(a)
    src = "bool" if a.dtype == np.bool_ else a.dtype.name
    to = LOADS_AS[src]
    data = a.astype(np.float64 if to.startswith("float") else np.int64).ravel(order="C").tolist()
    e = {"dtype": to, "shape": list(a.shape), "data": data, "source": src}
    if name is not None:
        e["name"] = name
    return e


manifest = {"load": [], "errors": [], "save": []}


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return data


def add_load(name, data, arrays, names=None, kind=None):
    write(name, data)
    kind = kind or ("dict" if names else "list")
    manifest["load"].append({"file": name, "kind": kind,
                             "arrays": [expect(a, n) for a, n in zip(arrays, names or [None] * len(arrays))]})


def add_error(name, data, words):
    write(name, data)
    manifest["errors"].append({"file": name, "words": words})


for old in os.listdir(OUT) if os.path.isdir(OUT) else []:
    os.remove(os.path.join(OUT, old))
os.makedirs(OUT, exist_ok=True)

# --- MXNet files ------------------------------------------------------------------
all_dtypes = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]
shapes = [(), (4,), (2, 3), (2, 1, 3), (1, 2, 2, 3), (2, 1, 2, 1, 3), (0, 3), (0,)]
arrs = []
for i, dt in enumerate(all_dtypes):
    for shape in shapes[:6] if dt != "float32" else shapes:
        arrs.append(values(dt, shape))
add_load("mx_list_v2.params", mx_save(arrs), arrs)
names = [f"arg:a{i}" if i % 2 else f"{i}.weight" for i in range(len(arrs))]
add_load("mx_dict_v2.params", mx_save(arrs, names), arrs, names)
nz = [a for a in arrs if a.ndim > 0 and a.size > 0]
add_load("mx_list_v1.params", mx_file([mx_record(a, V1) for a in nz]), nz)
add_load("mx_list_v0.params", mx_file([mx_record(a, 0) for a in nz]), nz)
mixed = nz[:6]
add_load("mx_dict_mixed.params", mx_file([mx_record(a, v) for a, v in zip(mixed, [V2, V1, 0, V2, V1, 0])],
                                         ["w", "x", "y", "z", "é名", ""]), mixed, ["w", "x", "y", "z", "é名", ""])
add_load("mx_empty_list.params", mx_file([]), [])

# a two-layer net's structural names (gluon nn.Sequential of Dense(4, in_units=3), Dense(2, in_units=4))
net = {"0.weight": values("float32", (4, 3)), "0.bias": values("float32", (4,)),
       "1.weight": values("float32", (2, 4)), "1.bias": values("float32", (2,))}
add_load("mx_two_layer.params", mx_save(list(net.values()), list(net)), list(net.values()), list(net))

# errors
big = struct.pack("<I", V2) + struct.pack("<ii", 0, 2) + struct.pack("<qq", 2**20, 2**20) + struct.pack("<iii", 1, 0, 0)
add_error("err_huge_shape.params", mx_file([big]), ["2^31", "elements"])
add_error("err_huge_data.params", mx_file([struct.pack("<I", V2) + struct.pack("<ii", 0, 1) + struct.pack("<q", 2**30)
                                           + struct.pack("<iii", 1, 0, 0)]), ["truncated", "data"])
add_error("err_bad_magic.params", mx_file([struct.pack("<I", 0xDEADBEEF) + b"\0" * 32]), ["magic", "0xdeadbeef"])
add_error("err_header.params", struct.pack("<QQQ", 0x113, 0, 0), ["0x113"])
add_error("err_truncated.params", mx_save(arrs[:3])[:-5], ["truncated"])
add_error("err_names_count.params", mx_file([mx_record(a) for a in nz[:3]], ["a", "b"]), ["3 arrays", "2 names"])
add_error("err_count.params", struct.pack("<QQQ", 0x112, 0, 2**40), ["claims"])
sparse = struct.pack("<I", V2) + struct.pack("<i", 1) + b"\0" * 64
add_error("err_sparse.params", mx_file([sparse]), ["sparse", "row_sparse"])
add_error("err_int64_range.params", mx_save([np.array([1, 2**40, 3], dtype=np.int64)]), ["int64", "1099511627776", "int32"])
add_error("err_float16_type.params", mx_file([mx_record(np.zeros(2, np.int32))[:-12] + struct.pack("<i", 12) + b"\0" * 4]),
          ["bfloat16"])
add_error("err_none.params", mx_file([struct.pack("<I", V2) + struct.pack("<ii", 0, 0)]), ["none"])

# --- NumPy files ----------------------------------------------------------------------
npy_cases = []
for dt in all_dtypes:
    for shape in [(), (5,), (2, 3), (2, 3, 4), (1, 2, 1, 3), (2, 1, 2, 1, 2), (0, 2)]:
        npy_cases.append((f"npy_{dt}_{'x'.join(map(str, shape)) or '0d'}.npy", values(dt, shape)))
for name, a in npy_cases:
    b = io.BytesIO()
    np.save(b, a)
    add_load(name, b.getvalue(), [a])
for dt in ["float32", "float64", "int32", "int64", "float16", "uint8"]:
    a = values(dt, (3, 4, 2))
    f = np.asfortranarray(a)
    b = io.BytesIO()
    np.save(b, f)
    add_load(f"npy_fortran_{dt}.npy", b.getvalue(), [a])
    be = a.astype(a.dtype.newbyteorder(">"))
    b = io.BytesIO()
    np.save(b, be)
    add_load(f"npy_bigendian_{dt}.npy", b.getvalue(), [a])
for ver in [(2, 0), (3, 0)]:
    a = values("float32", (3, 2))
    b = io.BytesIO()
    np.lib.format.write_array(b, a, version=ver)
    add_load(f"npy_v{ver[0]}.npy", b.getvalue(), [a])
d = {"w": values("float32", (3, 2)), "b": values("int64", (4,)), "img": values("uint8", (2, 2, 3)), "s": values("float64", ())}
b = io.BytesIO()
np.savez(b, **d)
add_load("npz_stored.npz", b.getvalue(), list(d.values()), list(d))
big = {"x": np.tile(np.arange(50, dtype=np.float32), 40).reshape(40, 50), "y": values("float16", (7, 3)),
       "z": values("int32", (1000,))}
b = io.BytesIO()
np.savez_compressed(b, **big)
add_load("npz_deflated.npz", b.getvalue(), list(big.values()), list(big))
b = io.BytesIO()
np.savez(b, values("float32", (2,)), values("int32", (3,)))
add_load("npz_positional.npz", b.getvalue(), [], None, kind="dict")
manifest["load"][-1]["arrays"] = []  # checked by names below instead
with np.load(io.BytesIO(b.getvalue())) as z:
    manifest["load"][-1]["arrays"] = [expect(z[k], k) for k in z.files]

b = io.BytesIO()
np.save(b, np.zeros(3, dtype=np.complex64))
add_error("err_npy_complex.npy", b.getvalue(), ["<c8", "not supported"])
b = io.BytesIO()
np.save(b, values("float32", (4, 4)))
add_error("err_npy_truncated.npy", b.getvalue()[:-3], ["truncated"])
add_error("err_npy_header.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 20) + b"{'descr': '<f4'      ", ["header"])
b = io.BytesIO()
np.savez_compressed(b, a=values("float32", (100,)))
raw = bytearray(b.getvalue())
raw[60] ^= 0xFF  # inside the deflated member
add_error("err_npz_corrupt.npz", bytes(raw), ["npz"])

# --- what nd.save must write ------------------------------------------------------------
for name, arrays, names in [
    ("save_list", [values(dt, s) for dt, s in [("float32", (2, 3)), ("float64", (4,)), ("int32", (2, 2, 2)),
                                               ("uint8", (3, 1)), ("float32", ()), ("float32", (0, 3)),
                                               ("float64", (1, 2, 1, 2, 1))]], None),
    ("save_dict", list(net.values()), list(net)),
    ("save_one", [values("uint8", (28, 28, 1))], None),
]:
    manifest["save"].append({
        "name": name,
        "names": names,
        "arrays": [expect(a) for a in arrays],
        "mx": mx_save(arrays, names).hex(),
    })
for dt, shape in [("float32", (2, 3)), ("float64", ()), ("int32", (7,)), ("uint8", (2, 1, 3)),
                  ("float32", (0, 4)), ("float32", (3, 0)), ("float64", (1, 1, 1, 1, 2))]:
    a = np.zeros(shape, dtype=dt) if 0 in shape else values(dt, shape)
    b = io.BytesIO()
    np.save(b, a)
    manifest["save"].append({"name": f"npy_{dt}_{shape}", "npy": b.getvalue().hex(), "arrays": [expect(a)]})

# --- uint8 printing (NumPy's str) ----------------------------------------------------------
manifest["print"] = []
for shape in [(4,), (2, 3), (3, 1, 2), (2000,), (1,), (40, 40)]:
    a = values("uint8", shape)
    manifest["print"].append({"shape": list(shape), "data": a.ravel().tolist(), "str": str(a)})

with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, separators=(",", ":"))
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"tests/fixtures/io: {len(manifest['load'])} files to load, {len(manifest['errors'])} corrupt files, "
      f"{len(manifest['save'])} save cases, {len(manifest['print'])} print cases; {total} bytes")
