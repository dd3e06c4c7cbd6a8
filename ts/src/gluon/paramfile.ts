// MXNet's NDArray-list file, as `save_parameters` writes it
// (src/ndarray/ndarray.cc: NDArray::Save with NDARRAY_V2_MAGIC, and
// MXNDArraySave's list header 0x112): enough of the format for Gluon's
// parameter files (dense float32/float64/int32 arrays on cpu(0), names).
// TODO(io): delegate to nd.save / nd.load once they land (same bytes).
import { array } from "../nd.js";
import type { NDArray } from "../ndarray.js";

const LIST_MAGIC = 0x112;
const V2_MAGIC = 0xf993fac9;
/** mshadow type flags. */
const TYPE_FLAG: Record<string, number> = { float32: 0, float64: 1, uint8: 3, int32: 4 };
const FLAG_DTYPE: Record<number, { dtype: "float32" | "float64" | "int32"; size: number }> = {
  0: { dtype: "float32", size: 4 },
  1: { dtype: "float64", size: 8 },
  3: { dtype: "int32", size: 1 },
  4: { dtype: "int32", size: 4 },
};

/** The bytes of `mx.nd.save(fname, dict)` for these named arrays. */
export function saveDict(entries: [string, NDArray][]): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map(([k]) => enc.encode(k));
  let size = 24;
  for (const [, a] of entries) size += 4 + 4 + 4 + 8 * a.ndim + 8 + 4 + a.size * (a.dtype === "float64" ? 8 : 4);
  size += 8;
  for (const n of names) size += 8 + n.length;
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  let o = 0;
  const u32 = (x: number): void => {
    v.setUint32(o, x, true);
    o += 4;
  };
  const u64 = (x: number): void => {
    v.setBigUint64(o, BigInt(x), true);
    o += 8;
  };
  u64(LIST_MAGIC);
  u64(0);
  u64(entries.length);
  for (const [, a] of entries) {
    u32(V2_MAGIC);
    v.setInt32(o, 0, true); // kDefaultStorage
    o += 4;
    u32(a.ndim);
    for (const d of a.shape) u64(d);
    v.setInt32(o, 1, true); // Context: cpu
    v.setInt32(o + 4, 0, true); // device 0
    o += 8;
    const flag = TYPE_FLAG[a.dtype];
    if (flag === undefined) throw new Error(`saveParameters: cannot save dtype ${a.dtype}`);
    v.setInt32(o, flag, true);
    o += 4;
    const d = a.data();
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    buf.set(bytes, o);
    o += bytes.length;
  }
  u64(names.length);
  for (const n of names) {
    u64(n.length);
    buf.set(n, o);
    o += n.length;
  }
  return buf;
}

/** The named arrays of an MXNet NDArray-list file (V2 dense records). */
export function loadDict(what: string, bytes: Uint8Array): Map<string, NDArray> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number): void => {
    if (o + n > bytes.length) throw new Error(`${what}: the file is truncated (needs ${o + n} bytes, has ${bytes.length})`);
  };
  const u32 = (): number => {
    need(4);
    const x = v.getUint32(o, true);
    o += 4;
    return x;
  };
  const u64 = (): number => {
    need(8);
    const x = v.getBigUint64(o, true);
    o += 8;
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: corrupt file (a count of ${x})`);
    return Number(x);
  };
  if (u64() !== LIST_MAGIC) throw new Error(`${what}: not an MXNet NDArray file (bad magic number)`);
  u64();
  const count = u64();
  const arrays: NDArray[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const magic = u32();
      if (magic !== V2_MAGIC) throw new Error(`${what}: array ${i}: unsupported record (magic 0x${magic.toString(16)}; only MXNet's V2 records are read here)`);
      need(4);
      const stype = v.getInt32(o, true);
      o += 4;
      if (stype !== 0) throw new Error(`${what}: array ${i}: sparse storage is not supported`);
      const ndim = u32();
      if (ndim > 32) throw new Error(`${what}: array ${i}: corrupt rank ${ndim}`);
      const shape: number[] = [];
      for (let k = 0; k < ndim; k++) shape.push(u64());
      o += 8; // context
      need(4);
      const flag = v.getInt32(o, true);
      o += 4;
      const t = FLAG_DTYPE[flag];
      if (t === undefined) throw new Error(`${what}: array ${i}: unsupported type flag ${flag}`);
      const n = shape.reduce((a, b) => a * b, 1);
      need(n * t.size);
      const raw = bytes.slice(o, o + n * t.size);
      o += n * t.size;
      const vals = flag === 0 ? new Float32Array(raw.buffer) : flag === 1 ? new Float64Array(raw.buffer) : flag === 4 ? new Int32Array(raw.buffer) : raw;
      arrays.push(array(vals, { shape, dtype: t.dtype }));
    }
    const nNames = u64();
    if (nNames !== count) throw new Error(`${what}: ${count} arrays but ${nNames} names (saveParameters files name every array)`);
    const dec = new TextDecoder();
    const out = new Map<string, NDArray>();
    for (let i = 0; i < nNames; i++) {
      const len = u64();
      need(len);
      out.set(dec.decode(bytes.subarray(o, o + len)), arrays[i]!);
      o += len;
    }
    return out;
  } catch (e) {
    for (const a of arrays) a.dispose();
    throw e;
  }
}

interface NodeFs {
  readFileSync(p: string): Uint8Array;
  writeFileSync(p: string, b: Uint8Array): void;
}
/** Node's fs when there is a Node (the name hidden from bundlers). */
export const nodeFs: NodeFs | null = await (async () => {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") return null;
  try {
    const name = "node:fs";
    const fs = (await import(/* @vite-ignore */ name)) as typeof import("node:fs");
    return {
      readFileSync: (p: string) => new Uint8Array(fs.readFileSync(p)),
      writeFileSync: (p: string, b: Uint8Array) => fs.writeFileSync(p, b),
    };
  } catch {
    return null;
  }
})();
