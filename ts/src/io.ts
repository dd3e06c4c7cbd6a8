/**
 * `nd.save` / `nd.load`: MXNet's binary NDArray-list format (read and
 * write), NumPy's `.npy` (read and write) and `.npz` (read; write stored).
 *
 * Why TypeScript and not the engine: the bytes are already in JavaScript
 * (a file read, a `fetch`, a worker message), and each array's values cross
 * into WebAssembly memory as one `Uint8Array.set` of the file's bytes (a
 * memcpy), exactly as `nd.array(typedArray)` does; only conversions that must
 * touch every element (float16, int8, int64, big-endian, Fortran order via
 * one engine `transpose`) loop. Headers are parsed here with every size
 * checked against the bytes that remain *before* anything is allocated, so a
 * header claiming 2^40 elements is an Error, not an allocation; a failed load
 * frees every array it created.
 *
 * MXNet's format, from MXNet 1.9.1's source:
 * - `src/ndarray/ndarray.cc` `NDArray::Save(fo, data, names)` (l. 1840-1848):
 *   uint64 `kMXAPINDArrayListMagic` 0x112, uint64 reserved 0, the arrays as
 *   dmlc's `std::vector<NDArray>` (uint64 count, then each `NDArray::Save`),
 *   the names as `std::vector<std::string>` (uint64 count, then uint64 length
 *   + bytes each; `3rdparty/dmlc-core/include/dmlc/serializer.h`
 *   `ComposeVectorHandler`, `NativePODStringHandler`). No names = a list.
 * - `NDArray::Save(strm)` (l. 1605-1678): uint32 magic V2 0xF993fac9 (V3
 *   0xF993faca under NumPy shape semantics), int32 storage type (0 dense),
 *   the shape (`include/mxnet/tuple.h` `Tuple::Save` l. 730: int32 ndim,
 *   int64 dims), the context (`include/mxnet/base.h` `Context::Save` l. 156:
 *   int32 dev_type, 1 = cpu; int32 dev_id), int32 type flag
 *   (`3rdparty/mshadow/mshadow/base.h` l. 359: 0 float32, 1 float64, 2
 *   float16, 3 uint8, 4 int32, 5 int8, 6 int64, 7 bool), then the values.
 * - `NDArray::Load` / `LegacyLoad` (l. 1697-1836): V1 0xF993fac8 has the same
 *   int64 shape with no storage type; anything else is a legacy (V0) record
 *   whose first uint32 is ndim, followed by uint32 dims.
 *
 * Choices (where MXNet has no answer for ndgrad):
 * - a 0-d array (which MXNet 1.x only has under NumPy shape semantics) is
 *   written as a V3 record, as MXNet writes it there; V3 records are read.
 * - a "none" record (V2 ndim 0, V3 ndim -1: MXNet's empty `NDArray()`) is an
 *   Error: ndgrad has no array without a shape.
 * - float16 loads as float32, int8 and int64 as int32 (an Error naming the
 *   array if a value does not fit), bool as uint8; other type flags are an
 *   Error naming them. Sparse records are an Error that says so.
 * - `.npz` is inflated by the small synchronous inflater below (the same code
 *   in Node and browsers), so `nd.load` stays synchronous, as MXNet's is.
 *   `.npz` files are written with stored (uncompressed) members.
 * - a `.npy` file loads as a list of one array.
 */
import { boolArg, describe } from "./args.js";
import { dataView } from "./ffi.js";
import { fill, NDArray, type DType } from "./ndarray.js";

/** What `nd.save` takes and `nd.load` returns. */
export type NDArrayList = NDArray[];
export type NDArrayDict = Record<string, NDArray>;

// ---------------------------------------------------------------------------
// MXNet constants
// ---------------------------------------------------------------------------

const LIST_MAGIC = 0x112;
const V1_MAGIC = 0xf993fac8;
const V2_MAGIC = 0xf993fac9;
const V3_MAGIC = 0xf993faca;
const MAX_RANK = 32;
/** The engine's arrays are indexed by 32-bit sizes. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** mshadow type flags: name, bytes per element, the dtype it loads as. */
const MX_TYPES: Record<number, { name: string; size: number; as: DType }> = {
  0: { name: "float32", size: 4, as: "float32" },
  1: { name: "float64", size: 8, as: "float64" },
  2: { name: "float16", size: 2, as: "float32" },
  3: { name: "uint8", size: 1, as: "uint8" },
  4: { name: "int32", size: 4, as: "int32" },
  5: { name: "int8", size: 1, as: "int32" },
  6: { name: "int64", size: 8, as: "int32" },
  7: { name: "bool", size: 1, as: "uint8" },
};
const MX_TYPE_NAMES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool", "int16", "uint16", "uint32", "uint64", "bfloat16"];
const MX_FLAG_OF: Record<DType, number> = { float32: 0, float64: 1, uint8: 3, int32: 4 };
const STORAGE_NAMES: Record<number, string> = { 1: "row_sparse", 2: "csr" };

// ---------------------------------------------------------------------------
// Reading bytes
// ---------------------------------------------------------------------------

class Cursor {
  pos = 0;
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get left(): number {
    return this.bytes.length - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.left) {
      throw new Error(`load: truncated ${this.what}: ${what} needs ${n} bytes at offset ${this.pos}, only ${this.left} remain`);
    }
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A uint64 as a number; values beyond 2^53 are reported as such. */
  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    if (hi >= 0x200000) throw new Error(`load: ${this.what}: ${what} is absurdly large (${hi} * 2^32 + ${lo})`);
    return hi * 2 ** 32 + lo;
  }
  i64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getInt32(this.pos + 4, true);
    this.pos += 8;
    if (hi >= 0x200000 || hi < -0x200000) throw new Error(`load: ${this.what}: ${what} is absurdly large`);
    return hi * 2 ** 32 + lo;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

const hex = (v: number): string => "0x" + (v >>> 0).toString(16);
const fmtShape = (s: readonly number[]): string => `[${s.join(",")}]`;

/** Elements of `shape`, or an Error when the header's shape is impossible. */
function checkedSize(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`load: ${what} has a bad dimension ${d} in shape ${fmtShape(shape)}`);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new Error(`load: ${what} has shape ${fmtShape(shape)}: ${n} elements is more than ndgrad can hold (2^31 - 1)`);
  return n;
}

/** A new array of `shape`/`dtype` whose bytes `write` fills in place. */
function build(shape: number[], dtype: DType, write: (dst: Uint8Array) => void): NDArray {
  const a = fill(shape, 0, dtype, "load");
  try {
    const n = a.size;
    if (n > 0) {
      const v = dataView(a.handleFor("load"), n, dtype);
      write(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    return a;
  } catch (e) {
    a.dispose();
    throw e;
  }
}

const f16Table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/**
 * Copy `n` elements of a file type (`kind` f/i/u/b, `size` bytes, endianness)
 * into the bytes of an array of dtype `to`; `what` names the array in errors.
 */
function convertInto(src: Uint8Array, kind: string, size: number, little: boolean, n: number, to: DType, dst: Uint8Array, what: string): void {
  const native = (to === "float32" && kind === "f" && size === 4) || (to === "float64" && kind === "f" && size === 8) ||
    (to === "int32" && kind === "i" && size === 4) || (to === "uint8" && (kind === "u" || kind === "b") && size === 1);
  if (native) {
    dst.set(src.subarray(0, n * size));
    if (!little && size > 1) {
      for (let i = 0; i < dst.length; i += size) dst.subarray(i, i + size).reverse();
    }
    return;
  }
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  if (kind === "f" && size === 2) {
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, f16Table[sv.getUint16(2 * i, little)]!, true);
  } else if (kind === "i" && size === 1) {
    for (let i = 0; i < n; i++) dv.setInt32(4 * i, sv.getInt8(i), true);
  } else if (kind === "i" && size === 8) {
    for (let i = 0; i < n; i++) {
      const lo = sv.getInt32(8 * i + (little ? 0 : 4), little);
      const hi = sv.getInt32(8 * i + (little ? 4 : 0), little);
      if (hi !== lo >> 31) {
        const v = BigInt(hi) * 2n ** 32n + BigInt(lo >>> 0);
        throw new Error(`load: ${what}: int64 value ${v} at flat index ${i} does not fit in int32`);
      }
      dv.setInt32(4 * i, lo, true);
    }
  } else {
    throw new Error(`load: ${what}: cannot convert ${kind}${size} to ${to}`);
  }
}

// ---------------------------------------------------------------------------
// MXNet: reading
// ---------------------------------------------------------------------------

function readMxRecord(c: Cursor, index: number, count: number): NDArray {
  const what = `array ${index} (of ${count})`;
  const start = c.pos;
  const magic = c.u32(`${what}: magic`);
  let shape: number[];
  if (magic === V2_MAGIC || magic === V3_MAGIC) {
    const stype = c.i32(`${what}: storage type`);
    if (stype !== 0) {
      const name = STORAGE_NAMES[stype];
      throw new Error(
        name !== undefined
          ? `load: ${what} is a sparse (${name}) array: only dense arrays are supported`
          : `load: ${what} has an unknown storage type ${stype} at offset ${start + 4}`,
      );
    }
    const ndim = c.i32(`${what}: ndim`);
    if ((magic === V2_MAGIC && ndim === 0) || (magic === V3_MAGIC && ndim === -1)) {
      throw new Error(`load: ${what} is an empty (none) NDArray record: ndgrad has no array without a shape`);
    }
    if (ndim < 0 || ndim > MAX_RANK) throw new Error(`load: ${what} has a bad ndim ${ndim} (at most ${MAX_RANK})`);
    c.need(8 * ndim, `${what}: shape`);
    shape = [];
    for (let i = 0; i < ndim; i++) shape.push(c.i64(`${what}: dimension ${i}`));
  } else if (magic === V1_MAGIC) {
    const ndim = c.i32(`${what}: ndim`);
    if (ndim === 0) throw new Error(`load: ${what} is an empty (none) NDArray record: ndgrad has no array without a shape`);
    if (ndim < 0 || ndim > MAX_RANK) throw new Error(`load: ${what} has a bad ndim ${ndim} (at most ${MAX_RANK})`);
    c.need(8 * ndim, `${what}: shape`);
    shape = [];
    for (let i = 0; i < ndim; i++) shape.push(c.i64(`${what}: dimension ${i}`));
  } else {
    // Legacy (V0): the first word is ndim, then uint32 dims.
    if (magic > MAX_RANK) {
      throw new Error(`load: ${what} at offset ${start} has a bad magic ${hex(magic)} (not an NDArray record of MXNet's V2, V1 or legacy format)`);
    }
    if (magic === 0) throw new Error(`load: ${what} is an empty (none) NDArray record: ndgrad has no array without a shape`);
    c.need(4 * magic, `${what}: shape`);
    shape = [];
    for (let i = 0; i < magic; i++) shape.push(c.u32(`${what}: dimension ${i}`));
  }
  const n = checkedSize(shape, what);
  const devType = c.i32(`${what}: context`);
  c.i32(`${what}: context`);
  if (devType < 1 || devType > 6) throw new Error(`load: ${what} has a bad device type ${devType} (shape ${fmtShape(shape)})`);
  const flag = c.i32(`${what}: type flag`);
  const t = MX_TYPES[flag];
  if (t === undefined) {
    const name = MX_TYPE_NAMES[flag];
    throw new Error(
      name !== undefined
        ? `load: ${what} has dtype ${name}, which ndgrad does not load (float32 float64 float16 uint8 int32 int8 int64 bool)`
        : `load: ${what} has an unknown type flag ${flag} (shape ${fmtShape(shape)})`,
    );
  }
  const bytes = c.take(n * t.size, `${what}: ${t.name} data of shape ${fmtShape(shape)}`);
  const kind = t.name === "bool" ? "b" : t.name[0] === "f" ? "f" : t.name[0] === "u" ? "u" : "i";
  return build(shape, t.as, (dst) => convertInto(bytes, kind, t.size, true, n, t.as, dst, what));
}

function readMx(bytes: Uint8Array): NDArrayList | NDArrayDict {
  const c = new Cursor(bytes, "MXNet NDArray file");
  const header = c.u64("header");
  if (header !== LIST_MAGIC) throw new Error(`load: not an NDArray file: header ${hex(header)}, expected 0x112`);
  c.u64("reserved word");
  const count = c.u64("array count");
  // Every record takes at least 4 bytes: a count beyond that is a lie, found
  // before a list of that length is made.
  if (count * 4 > c.left) throw new Error(`load: the file claims ${count} arrays but only ${c.left} bytes follow`);
  const arrays: NDArray[] = [];
  try {
    for (let i = 0; i < count; i++) arrays.push(readMxRecord(c, i, count));
    const nNames = c.u64("name count");
    if (nNames !== 0 && nNames !== count) {
      throw new Error(`load: the file has ${count} arrays but ${nNames} names (must be 0 or one per array)`);
    }
    if (nNames === 0) return arrays;
    const dec = new TextDecoder();
    const out: NDArrayDict = {};
    for (let i = 0; i < nNames; i++) {
      const len = c.u64(`name ${i}: length`);
      const name = dec.decode(c.take(len, `name ${i}`));
      // Python's dict(): a repeated name keeps the last array.
      const old = out[name];
      if (old !== undefined) old.dispose();
      out[name] = arrays[i]!;
    }
    return out;
  } catch (e) {
    for (const a of arrays) a.dispose();
    throw e;
  }
}

// ---------------------------------------------------------------------------
// MXNet: writing
// ---------------------------------------------------------------------------

/** Pieces of a file, copied once into the result by `concat`: an array's
 *  values are copied straight from WebAssembly memory (no engine call runs
 *  in between, so the memory cannot grow and its views stay valid). */
class Writer {
  parts: (Uint8Array | NDArray)[] = [];
  length = 0;
  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  values(a: NDArray, op: string): void {
    a.handleFor(op);
    this.parts.push(a);
    this.length += a.size * ({ float32: 4, float64: 8, int32: 4, uint8: 1 } as const)[a.dtype];
  }
  private scalar(n: number, f: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    f(new DataView(b.buffer));
    this.bytes(b);
  }
  u32(v: number): void {
    this.scalar(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.scalar(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number): void {
    this.scalar(8, (d) => {
      d.setUint32(0, v % 2 ** 32, true);
      d.setUint32(4, Math.floor(v / 2 ** 32), true);
    });
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const b of this.parts) {
      const v = b instanceof NDArray ? rawView(b, "save") : b;
      out.set(v, p);
      p += v.length;
    }
    return out;
  }
}

/** The values of `a` as little-endian bytes, a view into WebAssembly
 *  memory: use it at once. */
function rawView(a: NDArray, op: string): Uint8Array {
  const v = dataView(a.handleFor(op), a.size, a.dtype);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** MXNet's `nd.save` bytes for a list (no names) or a dict. */
export function mxBytes(arrays: readonly NDArray[], names: readonly string[] | null): Uint8Array {
  const w = new Writer();
  w.u64(LIST_MAGIC);
  w.u64(0);
  w.u64(arrays.length);
  for (const a of arrays) {
    const shape = a.shape;
    w.u32(shape.length === 0 ? V3_MAGIC : V2_MAGIC);
    w.i32(0); // dense
    w.i32(shape.length);
    for (const d of shape) w.u64(d); // int64, non-negative
    w.i32(1); // cpu
    w.i32(0); // device 0
    w.i32(MX_FLAG_OF[a.dtype]);
    w.values(a, "save");
  }
  const enc = new TextEncoder();
  w.u64(names === null ? 0 : names.length);
  for (const n of names ?? []) {
    const b = enc.encode(n);
    w.u64(b.length);
    w.bytes(b);
  }
  return w.concat();
}

// ---------------------------------------------------------------------------
// NumPy .npy
// ---------------------------------------------------------------------------

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const NPY_DESCR: Record<DType, string> = { float32: "<f4", float64: "<f8", int32: "<i4", uint8: "|u1" };

function isNpy(b: Uint8Array): boolean {
  return b.length >= 6 && NPY_MAGIC.every((m, i) => b[i] === m);
}

/** Parse the header dict NumPy writes: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseNpyHeader(text: string, what: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!text.trimStart().startsWith("{") || descr === null || fortran === null || shape === null) {
    const s = text.length > 120 ? text.slice(0, 120) + "..." : text;
    throw new Error(`load: ${what}: header is not a NumPy array header (got ${JSON.stringify(s)})`);
  }
  const dims = shape[1]!
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      if (!/^\d+L?$/.test(s)) throw new Error(`load: ${what}: bad dimension ${JSON.stringify(s)} in the header's shape`);
      return Number(s.replace("L", ""));
    });
  if (dims.length > MAX_RANK) throw new Error(`load: ${what}: ${dims.length} dimensions (at most ${MAX_RANK})`);
  return { descr: descr[1]!, fortran: fortran[1] === "True", shape: dims };
}

function readNpy(bytes: Uint8Array, what: string): NDArray {
  const c = new Cursor(bytes, what);
  c.take(6, "magic");
  const major = c.take(1, "version")[0]!;
  c.take(1, "version");
  if (major < 1 || major > 3) throw new Error(`load: ${what}: unsupported .npy version ${major} (1.0-3.0 are read)`);
  const hlen = major === 1 ? (c.need(2, "header length"), c.take(2, "header length").reduce((a, b, i) => a + b * 256 ** i, 0)) : c.u32("header length");
  const htext = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(c.take(hlen, "header"));
  const h = parseNpyHeader(htext, what);
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(h.descr);
  if (m === null) throw new Error(`load: ${what}: dtype ${JSON.stringify(h.descr)} is not supported (float16/32/64, int8/32/64, uint8, bool)`);
  const [, order, kind, sizeText] = m as unknown as [string, string, string, string];
  const size = Number(sizeText);
  const as: DType | undefined =
    kind === "f" ? (size === 8 ? "float64" : size === 4 || size === 2 ? "float32" : undefined)
    : kind === "i" ? (size === 4 || size === 1 || size === 8 ? "int32" : undefined)
    : size === 1 ? "uint8" : undefined;
  if (as === undefined) throw new Error(`load: ${what}: dtype ${JSON.stringify(h.descr)} is not supported (float16/32/64, int8/32/64, uint8, bool)`);
  const n = checkedSize(h.shape, what);
  const data = c.take(n * size, `${h.descr} data of shape ${fmtShape(h.shape)}`);
  const little = order !== ">";
  if (!h.fortran || h.shape.length < 2) {
    return build(h.shape, as, (dst) => convertInto(data, kind, size, little, n, as, dst, what));
  }
  // Fortran order is C order of the reversed shape: one engine transpose.
  const rev = [...h.shape].reverse();
  const t = build(rev, as, (dst) => convertInto(data, kind, size, little, n, as, dst, what));
  try {
    return t.transpose();
  } finally {
    t.dispose();
  }
}

/** NumPy's `np.save` bytes (format 1.0, header padded as NumPy pads it). */
export function npyBytes(a: NDArray): Uint8Array {
  const shape = a.shape;
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  // numpy/lib/format.py `_write_array_header`: room for the first axis to
  // grow to 21 digits, then `_wrap_header`: pad with spaces + "\n" to a
  // multiple of 64 bytes (ARRAY_ALIGN), counting magic, version and length.
  let h = `{'descr': '${NPY_DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) h += " ".repeat(Math.max(0, 21 - String(shape[0]).length));
  const hlen = h.length + 1;
  const pad = 64 - ((10 + hlen) % 64);
  h += " ".repeat(pad) + "\n";
  const data = rawView(a, "save");
  const out = new Uint8Array(10 + h.length + data.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = h.length & 0xff;
  out[9] = h.length >> 8;
  for (let i = 0; i < h.length; i++) out[10 + i] = h.charCodeAt(i);
  out.set(data, 10 + h.length);
  return out;
}

// ---------------------------------------------------------------------------
// .npz: zip archives of .npy members
// ---------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6);
}

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
}

function zipEntries(b: Uint8Array): ZipEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = -1;
  for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 65535); p--) {
    if (v.getUint32(p, true) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new Error("load: .npz: no zip end-of-central-directory record (truncated or not a zip file)");
  const count = v.getUint16(eocd + 10, true);
  let cd = v.getUint32(eocd + 16, true);
  let entries = count;
  // ZIP64 end of central directory (Python's zipfile writes it when asked to).
  if ((cd === 0xffffffff || count === 0xffff) && eocd >= 20 && v.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(v.getBigUint64(eocd - 12, true));
    if (z + 56 > b.length || v.getUint32(z, true) !== 0x06064b50) throw new Error("load: .npz: bad ZIP64 end record");
    entries = Number(v.getBigUint64(z + 32, true));
    cd = Number(v.getBigUint64(z + 48, true));
  }
  if (entries * 46 > b.length) throw new Error(`load: .npz: the directory claims ${entries} members, more than the file can hold`);
  const out: ZipEntry[] = [];
  const dec = new TextDecoder();
  let p = cd;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > b.length || v.getUint32(p, true) !== 0x02014b50) throw new Error(`load: .npz: bad central directory entry ${i} at offset ${p}`);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    let csize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nlen = v.getUint16(p + 28, true);
    const elen = v.getUint16(p + 30, true);
    const clen = v.getUint16(p + 32, true);
    let offset = v.getUint32(p + 42, true);
    if (p + 46 + nlen + elen + clen > b.length) throw new Error(`load: .npz: truncated central directory entry ${i}`);
    const name = dec.decode(b.subarray(p + 46, p + 46 + nlen));
    // ZIP64 extra field (id 1): the 0xffffffff fields, in order.
    let e = p + 46 + nlen;
    const end = e + elen;
    while (e + 4 <= end) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + len) throw new Error(`load: .npz: member ${JSON.stringify(name)}: short ZIP64 field`);
          const x = Number(v.getBigUint64(q, true));
          q += 8;
          return x;
        };
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (offset === 0xffffffff) offset = next();
      }
      e += 4 + len;
    }
    out.push({ name, method, crc, csize, usize, offset });
    p += 46 + nlen + elen + clen;
  }
  return out;
}

function zipMember(b: Uint8Array, e: ZipEntry): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const what = `.npz member ${JSON.stringify(e.name)}`;
  if (e.offset + 30 > b.length || v.getUint32(e.offset, true) !== 0x04034b50) throw new Error(`load: ${what}: bad local header at offset ${e.offset}`);
  const start = e.offset + 30 + v.getUint16(e.offset + 26, true) + v.getUint16(e.offset + 28, true);
  if (start + e.csize > b.length) throw new Error(`load: ${what}: truncated (${e.csize} bytes at offset ${start}, file has ${b.length})`);
  const raw = b.subarray(start, start + e.csize);
  let data: Uint8Array;
  if (e.method === 0) {
    if (e.usize !== e.csize) throw new Error(`load: ${what}: stored member with sizes ${e.csize} != ${e.usize}`);
    data = raw;
  } else if (e.method === 8) {
    // Deflate expands at most ~1032:1: a larger claim is a lie, refused
    // before the output is allocated.
    if (e.usize > e.csize * 1032 + 1024) throw new Error(`load: ${what}: claims ${e.usize} bytes from ${e.csize} compressed`);
    data = inflate(raw, e.usize, what);
  } else {
    throw new Error(`load: ${what}: compression method ${e.method} is not supported (stored or deflated)`);
  }
  if (crc32(data) !== e.crc) throw new Error(`load: ${what}: CRC mismatch (corrupt data)`);
  return data;
}

function readNpz(bytes: Uint8Array): NDArrayDict {
  const entries = zipEntries(bytes);
  const out: NDArrayDict = {};
  try {
    for (const e of entries) {
      const key = e.name.endsWith(".npy") ? e.name.slice(0, -4) : e.name;
      const data = zipMember(bytes, e);
      if (!isNpy(data)) throw new Error(`load: .npz member ${JSON.stringify(e.name)} is not a .npy array`);
      const a = readNpy(data, `.npz member ${JSON.stringify(e.name)}`);
      out[key]?.dispose();
      out[key] = a;
    }
    return out;
  } catch (err) {
    for (const a of Object.values(out)) a.dispose();
    throw err;
  }
}

/** A zip of stored members (what `np.savez` makes, without compression). */
export function npzBytes(members: readonly [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const local: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of members) {
    const n = enc.encode(name);
    const crc = crc32(data);
    const head = (size: number, sig: number): [Uint8Array, DataView] => {
      const h = new Uint8Array(size + n.length);
      const d = new DataView(h.buffer);
      d.setUint32(0, sig, true);
      h.set(n, size);
      return [h, d];
    };
    const [lh, l] = head(30, 0x04034b50);
    l.setUint16(4, 20, true); // version needed 2.0
    l.setUint16(12, 0x21, true); // 1980-01-01, as NumPy's members
    l.setUint32(14, crc, true);
    l.setUint32(18, data.length, true);
    l.setUint32(22, data.length, true);
    l.setUint16(26, n.length, true);
    const [ch, c] = head(46, 0x02014b50);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(14, 0x21, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true);
    c.setUint16(28, n.length, true);
    c.setUint32(38, 0o600 << 16, true); // external attributes: rw-------
    c.setUint32(42, offset, true);
    local.push(lh, data);
    central.push(ch);
    offset += lh.length + data.length;
  }
  const cdSize = central.reduce((s, b) => s + b.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, members.length, true);
  e.setUint16(10, members.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  const w = new Writer();
  for (const b of [...local, ...central, end]) w.bytes(b);
  return w.concat();
}

// ---------------------------------------------------------------------------
// inflate (RFC 1951), synchronous, bounded by the size the zip declares
// ---------------------------------------------------------------------------

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code: counts per length and symbols by code. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

function huffman(lengths: ArrayLike<number>, n: number, what: string): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < n; i++) counts[lengths[i]!]!++;
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - counts[len]!;
    if (left < 0) throw new Error(`load: ${what}: corrupt deflate data (over-subscribed Huffman code)`);
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + counts[len]!;
  const symbols = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbols[offs[lengths[i]!]!++] = i;
  return { counts, symbols };
}

const FIXED = (() => {
  const l = new Uint8Array(288);
  l.fill(8, 0, 144);
  l.fill(9, 144, 256);
  l.fill(7, 256, 280);
  l.fill(8, 280, 288);
  const d = new Uint8Array(30).fill(5);
  return { lit: huffman(l, 288, "fixed"), dist: huffman(d, 30, "fixed") };
})();

/** Inflate raw deflate `src` into exactly `size` bytes. */
export function inflate(src: Uint8Array, size: number, what: string): Uint8Array {
  const out = new Uint8Array(size);
  let op = 0;
  let ip = 0;
  let bitbuf = 0;
  let bitcnt = 0;
  const corrupt = (why: string): never => {
    throw new Error(`load: ${what}: corrupt deflate data (${why})`);
  };
  const bits = (need: number): number => {
    while (bitcnt < need) {
      if (ip >= src.length) corrupt("input ends early");
      bitbuf |= src[ip++]! << bitcnt;
      bitcnt += 8;
    }
    const v = bitbuf & ((1 << need) - 1);
    bitbuf >>>= need;
    bitcnt -= need;
    return v;
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.counts[len]!;
      if (code - count < first) return h.symbols[index + (code - first)]!;
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    return corrupt("bad Huffman code");
  };
  let last = 0;
  while (!last) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      bitbuf = 0;
      bitcnt = 0;
      if (ip + 4 > src.length) corrupt("input ends early");
      const len = src[ip]! | (src[ip + 1]! << 8);
      const nlen = src[ip + 2]! | (src[ip + 3]! << 8);
      ip += 4;
      if (len !== (~nlen & 0xffff)) corrupt("stored block length check");
      if (ip + len > src.length) corrupt("input ends early");
      if (op + len > size) corrupt("more output than the zip declares");
      out.set(src.subarray(ip, ip + len), op);
      ip += len;
      op += len;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) {
      ({ lit, dist } = FIXED);
    } else if (type === 2) {
      const nlen = bits(5) + 257;
      const ndist = bits(5) + 1;
      const ncode = bits(4) + 4;
      if (nlen > 286 || ndist > 30) corrupt("bad counts");
      const lengths = new Uint8Array(320);
      for (let i = 0; i < ncode; i++) lengths[CL_ORDER[i]!] = bits(3);
      const cl = huffman(lengths, 19, what);
      lengths.fill(0);
      let i = 0;
      while (i < nlen + ndist) {
        const sym = decode(cl);
        if (sym < 16) {
          lengths[i++] = sym;
        } else {
          let rep = 0;
          let val = 0;
          if (sym === 16) {
            if (i === 0) corrupt("repeat with no previous length");
            val = lengths[i - 1]!;
            rep = 3 + bits(2);
          } else if (sym === 17) {
            rep = 3 + bits(3);
          } else {
            rep = 11 + bits(7);
          }
          if (i + rep > nlen + ndist) corrupt("too many lengths");
          while (rep--) lengths[i++] = val;
        }
      }
      if (lengths[256] === 0) corrupt("no end-of-block code");
      lit = huffman(lengths.subarray(0, nlen), nlen, what);
      dist = huffman(lengths.subarray(nlen, nlen + ndist), ndist, what);
    } else {
      return corrupt("bad block type 3");
    }
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        if (op >= size) corrupt("more output than the zip declares");
        out[op++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const s = sym - 257;
        if (s >= 29) corrupt("bad length symbol");
        const len = LEN_BASE[s]! + bits(LEN_EXTRA[s]!);
        const ds = decode(dist);
        if (ds >= 30) corrupt("bad distance symbol");
        const d = DIST_BASE[ds]! + bits(DIST_EXTRA[ds]!);
        if (d > op) corrupt("distance before the start");
        if (op + len > size) corrupt("more output than the zip declares");
        for (let k = 0; k < len; k++, op++) out[op] = out[op - d]!;
      }
    }
  }
  if (op !== size) corrupt(`${op} bytes, the zip declares ${size}`);
  return out;
}

// ---------------------------------------------------------------------------
// nd.save / nd.load
// ---------------------------------------------------------------------------

type NodeFs = typeof import("node:fs");
const fs: NodeFs | null = await (async () => {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") return null;
  try {
    const name = "node:fs";
    return (await import(/* @vite-ignore */ name)) as NodeFs;
  } catch {
    return null;
  }
})();

/** The arrays and (for a dict) names of `nd.save`'s `data`, validated. */
function saveArgs(op: string, data: unknown): { arrays: NDArray[]; names: string[] | null } {
  if (data instanceof NDArray) return { arrays: [data], names: null };
  if (Array.isArray(data)) {
    data.forEach((a, i) => {
      if (!(a instanceof NDArray)) throw new Error(`${op}: element ${i} is not an NDArray (got ${describe(a)})`);
      a.handleFor(op);
    });
    return { arrays: data as NDArray[], names: null };
  }
  if (data !== null && typeof data === "object" && !ArrayBuffer.isView(data)) {
    const names = Object.keys(data);
    const arrays = names.map((k) => {
      const a = (data as Record<string, unknown>)[k];
      if (!(a instanceof NDArray)) throw new Error(`${op}: value of ${JSON.stringify(k)} is not an NDArray (got ${describe(a)})`);
      a.handleFor(op);
      return a;
    });
    return { arrays, names };
  }
  throw new Error(`${op}: data must be an NDArray, a list of NDArrays or a dict of name to NDArray (got ${describe(data)})`);
}

/** `nd.save` options: `format` overrides what the path's extension says
 *  (and gives NumPy bytes without writing a file). */
export interface SaveOptions {
  format?: "mxnet" | "npy" | "npz";
}

/**
 * MXNet's `nd.save(fname, data)`: the bytes MXNet 1.x writes for `data` (a
 * list, a dict or one array), returned; with a path (Node) also written
 * there. A path ending in `.npy` writes NumPy's `.npy` (one array), `.npz`
 * a zip of `.npy` members (dict keys, or `arr_0`, `arr_1`... as `np.savez`).
 */
export function save(path: string | null, data: NDArray | NDArrayList | NDArrayDict, options: SaveOptions = {}): Uint8Array {
  if (path !== null && typeof path !== "string") throw new Error(`save: path must be a string or null (got ${describe(path)})`);
  if (options === null || typeof options !== "object") throw new Error(`save: options must be an object {format?} (got ${describe(options)})`);
  const format = options.format ?? (path?.endsWith(".npy") ? "npy" : path?.endsWith(".npz") ? "npz" : "mxnet");
  if (format !== "mxnet" && format !== "npy" && format !== "npz") {
    throw new Error(`save: format must be "mxnet", "npy" or "npz" (got ${describe(format)})`);
  }
  const { arrays, names } = saveArgs("save", data);
  let bytes: Uint8Array;
  if (format === "npy") {
    if (arrays.length !== 1) throw new Error(`save: a .npy file holds one array (got ${arrays.length}); use .npz`);
    bytes = npyBytes(arrays[0]!);
  } else if (format === "npz") {
    const keys = names ?? arrays.map((_, i) => `arr_${i}`);
    bytes = npzBytes(arrays.map((a, i) => [`${keys[i]}.npy`, npyBytes(a)]));
  } else {
    bytes = mxBytes(arrays, names);
  }
  if (path !== null) {
    if (fs === null) throw new Error(`save: writing the file ${JSON.stringify(path)} needs Node (use nd.save(null, data) for the bytes)`);
    fs.writeFileSync(path, bytes);
  }
  return bytes;
}

/** The bytes of a `load` source. */
function sourceBytes(source: unknown): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof source === "string") {
    if (fs === null) throw new Error(`load: reading the file ${JSON.stringify(source)} needs Node (pass the bytes: an ArrayBuffer or Uint8Array)`);
    return fs.readFileSync(source);
  }
  throw new Error(`load: source must be a path, an ArrayBuffer or a Uint8Array (got ${describe(source)})`);
}

/**
 * MXNet's `nd.load`: a list (the file has no names) or a dict of name to
 * array. Reads MXNet's V2/V1/legacy records, `.npy` (a list of one array)
 * and `.npz` (a dict), told apart by their first bytes.
 */
export function load(source: string | ArrayBuffer | ArrayBufferView): NDArrayList | NDArrayDict {
  const bytes = sourceBytes(source);
  if (isNpy(bytes)) return [readNpy(bytes, ".npy file")];
  if (isZip(bytes)) return readNpz(bytes);
  return readMx(bytes);
}

// ---------------------------------------------------------------------------
// Gluon parameters (block.py `save_parameters` / `load_parameters`)
// ---------------------------------------------------------------------------

/** One parameter a `loadParamsInto` call may fill. */
export interface ParamSlot {
  /** The expected shape; `null`, or 0 in a dimension, while still unknown (deferred init). */
  readonly shape: readonly number[] | null;
  /** The parameter's dtype: loaded values are cast to it. */
  readonly dtype?: DType;
  /** Take the loaded values (the array is disposed after the call: copy it). */
  setData(value: NDArray): void;
}

export interface LoadParamsOptions {
  allowMissing?: boolean;
  ignoreExtra?: boolean;
  /** MXNet's `cast_dtype`: values saved in another dtype are cast to the parameter's (otherwise an Error). */
  castDtype?: boolean;
  /** MXNet's `dtype_source`: only `"current"` (the parameter keeps its dtype). */
  dtypeSource?: "current" | "saved";
}

/** `save_parameters`: the dict of structural names to arrays, MXNet's file. */
export function saveParams(path: string | null, params: NDArrayDict): Uint8Array {
  return save(path, params);
}

const brief = (names: string[]): string => {
  const shown = names.slice(0, 8).map((n) => `'${n}'`).join(", ");
  return `[${shown}${names.length > 8 ? `, ... (${names.length} in all)` : ""}]`;
};

/**
 * `load_parameters(filename, allow_missing, ignore_extra)` (MXNet 1.9.1
 * `python/mxnet/gluon/block.py` l. 522-558, `parameter.py` `_load_init`):
 * every check (a missing name, an extra name, a shape that disagrees) runs
 * before any parameter is set, so a failed load changes nothing.
 */
export function loadParamsInto(
  source: string | ArrayBuffer | ArrayBufferView,
  params: Record<string, ParamSlot>,
  options: LoadParamsOptions = {},
): void {
  const op = "loadParameters";
  if (typeof options !== "object" || options === null) throw new Error(`${op}: options must be an object (got ${describe(options)})`);
  const allowMissing = boolArg(op, "allowMissing", options.allowMissing, false);
  const ignoreExtra = boolArg(op, "ignoreExtra", options.ignoreExtra, false);
  const castDtype = boolArg(op, "castDtype", options.castDtype, false);
  const dtypeSource = options.dtypeSource ?? "current";
  if (dtypeSource !== "current") {
    throw new Error(
      dtypeSource === "saved"
        ? `loadParameters: dtypeSource "saved" is not supported (a parameter keeps the dtype it was created with); use castDtype: true to cast to it`
        : `loadParameters: dtypeSource must be "current" or "saved" (got ${describe(dtypeSource)})`,
    );
  }
  const loaded = load(source);
  const from = typeof source === "string" ? ` '${source}'` : "";
  try {
    if (Array.isArray(loaded)) {
      throw new Error(`loadParameters: the file${from} holds a list of ${loaded.length} arrays, not a dict of parameter names`);
    }
    const names = Object.keys(loaded);
    if (!allowMissing) {
      for (const name of Object.keys(params)) {
        if (!(name in loaded)) {
          throw new Error(
            `loadParameters: Parameter '${name}' is missing in file${from}, which contains parameters: ${brief(names)}. Set allowMissing: true to ignore missing parameters.`,
          );
        }
      }
    }
    for (const name of names) {
      const slot = params[name];
      if (slot === undefined) {
        if (ignoreExtra) continue;
        throw new Error(
          `loadParameters: Parameter '${name}' loaded from file${from} is not present in ParameterDict, which contains parameters ${brief(Object.keys(params))}. Set ignoreExtra: true to ignore.`,
        );
      }
      const got = loaded[name]!.shape;
      const want = slot.shape;
      const ok = want === null || (want.length === got.length && want.every((d, i) => d === 0 || d === got[i]));
      if (!ok) {
        throw new Error(
          `loadParameters: Failed loading Parameter '${name}' from saved params: shape incompatible expected [${want.join(",")}] vs saved [${got.join(",")}]`,
        );
      }
      // MXNet's _load_init: another dtype is refused unless cast_dtype.
      const saved = loaded[name]!.dtype;
      if (slot.dtype !== undefined && slot.dtype !== saved && !castDtype) {
        throw new Error(
          `loadParameters: Failed loading Parameter '${name}' from saved params: dtype incompatible expected ${slot.dtype} vs saved ${saved}. Set castDtype: true to cast the dtype of saved params.`,
        );
      }
    }
    for (const name of names) {
      const slot = params[name];
      if (slot === undefined) continue;
      const v = loaded[name]!;
      if (slot.dtype !== undefined && slot.dtype !== v.dtype) {
        const c = v.astype(slot.dtype);
        try {
          slot.setData(c);
        } finally {
          c.dispose();
        }
      } else {
        slot.setData(v);
      }
    }
  } finally {
    for (const a of Array.isArray(loaded) ? loaded : Object.values(loaded)) a.dispose();
  }
}
