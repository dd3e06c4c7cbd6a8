// nd.Pooling's options, checked and encoded for the engine (pure: no
// WebAssembly import, so the worker's client can use it too).
import { boolArg, describe, intArg } from "./args.js";

export type PoolType = "max" | "avg" | "sum";
export type PoolingConvention = "valid" | "full";

export interface PoolingOptions {
  /** `[w]` (1-D, NCW data) or `[h, w]` (2-D, NCHW); a number means that size on every axis. Ignored with `globalPool`. */
  kernel?: number | number[];
  poolType?: PoolType;
  /** Default 1 per axis. */
  stride?: number | number[];
  /** Default 0 per axis. */
  pad?: number | number[];
  globalPool?: boolean;
  /** "valid": out = 1 + floor((in + 2p − k)/s); "full": 1 + ceil(…). */
  poolingConvention?: PoolingConvention;
  /** avg only: divide by the window including padding (default) or only the input's elements. */
  countIncludePad?: boolean;
}

const POOL_TYPES: readonly PoolType[] = ["max", "avg", "sum"];

/** A per-axis integer list; negative values are the engine's to reject (with the shapes). */
function intList(name: string, v: unknown): number[] {
  if (v === undefined) return [];
  const list = typeof v === "number" ? [v] : v;
  if (!Array.isArray(list) || list.length > 3) {
    throw new Error(`Pooling: ${name} must be a number or an array of up to 3 numbers (got ${describe(v)})`);
  }
  return list.map((d) => intArg("Pooling", name, d));
}

export function optionsObject<T extends object>(op: string, o: unknown): Partial<T> {
  if (o === undefined) return {};
  if (o === null || typeof o !== "object" || Array.isArray(o)) {
    throw new Error(`${op}: expected an options object (got ${describe(o)})`);
  }
  return o as Partial<T>;
}

export interface PoolArgs {
  code: number;
  kernel: number[];
  stride: number[];
  pad: number[];
  flags: number;
}

function poolArgs(opts: unknown): PoolArgs {
  const o = optionsObject<PoolingOptions>("Pooling", opts);
  const type = o.poolType ?? "max";
  const code = POOL_TYPES.indexOf(type);
  if (code < 0) throw new Error(`Pooling: unknown poolType ${describe(type)} (expected "max", "avg" or "sum")`);
  const conv = o.poolingConvention ?? "valid";
  if (conv !== "valid" && conv !== "full") {
    throw new Error(`Pooling: unknown poolingConvention ${describe(conv)} (expected "valid" or "full")`);
  }
  const globalPool = boolArg("Pooling", "globalPool", o.globalPool, false);
  const include = boolArg("Pooling", "countIncludePad", o.countIncludePad, true);
  let kernel = intList("kernel", o.kernel);
  const stride = intList("stride", o.stride);
  const pad = intList("pad", o.pad);
  // A number kernel means that size on every spatial axis; how many there
  // are depends on the data, so the caller expands it (see `expand`).
  if (globalPool) kernel = [];
  return { code, kernel, stride, pad, flags: (globalPool ? 1 : 0) | (conv === "full" ? 2 : 0) | (include ? 4 : 0) };
}

/** Numbers given for kernel/stride/pad apply to every spatial axis of `ndim`-D data. */
function expand(opts: unknown, a: PoolArgs, ndim: number): PoolArgs {
  const o = (opts ?? {}) as PoolingOptions;
  const sp = ndim - 2;
  if (sp !== 1 && sp !== 2) return a;
  const rep = (v: unknown, list: number[]): number[] => (typeof v === "number" ? new Array<number>(sp).fill(list[0]!) : list);
  return {
    ...a,
    kernel: a.kernel.length === 0 ? a.kernel : rep(o.kernel, a.kernel),
    stride: rep(o.stride, a.stride),
    pad: rep(o.pad, a.pad),
  };
}

/** The engine's arguments for `nd.Pooling` on `ndim`-D data: the pool type
 *  code, the kernel/stride/pad lists (empty: not given) and the flags. */
export function poolingArgs(opts: unknown, ndim: number): PoolArgs {
  return expand(opts, poolArgs(opts), ndim);
}
