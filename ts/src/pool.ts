// nd.Pooling, nd.BatchNorm, nd.LayerNorm (MXNet 1.9.1's operators of the
// same names). Arguments are checked here (types); everything about shapes
// and values is the engine's (crates/ndgrad-core/src/ops/{pool,norm}.rs).
import { boolArg, describe, intArg, numArg, shapeArg } from "./args.js";
import { checkStatus, io, wasm, writeInts } from "./ffi.js";
import { NDArray, result } from "./ndarray.js";

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

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  fixGamma?: boolean;
  useGlobalStats?: boolean;
  axis?: number;
}

export interface LayerNormOptions {
  axis?: number;
  eps?: number;
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

function optionsObject<T extends object>(op: string, o: unknown): Partial<T> {
  if (o === undefined) return {};
  if (o === null || typeof o !== "object" || Array.isArray(o)) {
    throw new Error(`${op}: expected an options object (got ${describe(o)})`);
  }
  return o as Partial<T>;
}

interface PoolArgs {
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

/** MXNet's `nd.Pooling(data, kernel, pool_type, stride, pad, global_pool, pooling_convention, count_include_pad)`. */
export function Pooling(data: NDArray, options?: PoolingOptions): NDArray {
  if (!(data instanceof NDArray)) throw new Error(`Pooling: data must be an NDArray (got ${describe(data)})`);
  const a = expand(options, poolArgs(options), data.ndim);
  const h = data.handleFor("Pooling");
  writeInts("Pooling", [...a.kernel, ...a.stride, ...a.pad]);
  return result(wasm.nd_pooling(h, a.code, a.kernel.length, a.stride.length, a.pad.length, a.flags));
}

/**
 * The shape `nd.Pooling(data, options)` gives for data of `shape`, computed
 * by the engine's own rule (no array is created): the worker client's
 * shape source for Pooling.
 */
export function poolingShape(shape: number[], options?: PoolingOptions): number[] {
  const dims = shapeArg("Pooling", shape);
  const a = expand(options, poolArgs(options), dims.length);
  writeInts("Pooling", [...dims, ...a.kernel, ...a.stride, ...a.pad]);
  const n = wasm.nd_pooling_shape(dims.length, a.code, a.kernel.length, a.stride.length, a.pad.length, a.flags);
  checkStatus(n);
  return Array.from(io().subarray(0, n));
}

function operand(op: string, name: string, v: unknown): NDArray {
  if (!(v instanceof NDArray)) throw new Error(`${op}: ${name} must be an NDArray (got ${describe(v)})`);
  return v;
}

/**
 * MXNet's `nd.BatchNorm(data, gamma, beta, moving_mean, moving_var, eps=1e-3,
 * momentum=0.9, fix_gamma=True, use_global_stats=False, axis=1)`. While
 * recording in train mode it normalises with the batch's statistics, and
 * the backward pass then updates `movingMean`/`movingVar` in place
 * (`moving = moving·momentum + batch·(1 − momentum)`, the biased batch
 * variance), as MXNet 1.9.1 does; otherwise it uses the moving statistics.
 */
export function BatchNorm(
  data: NDArray,
  gamma: NDArray,
  beta: NDArray,
  movingMean: NDArray,
  movingVar: NDArray,
  options?: BatchNormOptions,
): NDArray {
  const op = "BatchNorm";
  const xs = [
    operand(op, "data", data),
    operand(op, "gamma", gamma),
    operand(op, "beta", beta),
    operand(op, "movingMean", movingMean),
    operand(op, "movingVar", movingVar),
  ].map((x) => x.handleFor(op)) as [number, number, number, number, number];
  const o = optionsObject<BatchNormOptions>(op, options);
  const eps = numArg(op, "eps", o.eps ?? 1e-3);
  const momentum = numArg(op, "momentum", o.momentum ?? 0.9);
  const fix = boolArg(op, "fixGamma", o.fixGamma, true);
  const global = boolArg(op, "useGlobalStats", o.useGlobalStats, false);
  const axis = intArg(op, "axis", o.axis ?? 1);
  return result(wasm.nd_batch_norm(...xs, eps, momentum, (fix ? 1 : 0) | (global ? 2 : 0), axis));
}

/** MXNet's `nd.LayerNorm(data, gamma, beta, axis=-1, eps=1e-5)`. */
export function LayerNorm(data: NDArray, gamma: NDArray, beta: NDArray, options?: LayerNormOptions): NDArray {
  const op = "LayerNorm";
  const xs = [operand(op, "data", data), operand(op, "gamma", gamma), operand(op, "beta", beta)].map((x) =>
    x.handleFor(op),
  ) as [number, number, number];
  const o = optionsObject<LayerNormOptions>(op, options);
  const axis = intArg(op, "axis", o.axis ?? -1);
  const eps = numArg(op, "eps", o.eps ?? 1e-5);
  return result(wasm.nd_layer_norm(...xs, axis, eps));
}
