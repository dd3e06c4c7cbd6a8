// nd.Pooling, nd.BatchNorm, nd.LayerNorm (MXNet 1.9.1's operators of the
// same names). Arguments are checked here (types); everything about shapes
// and values is the engine's (crates/ndgrad-core/src/ops/{pool,norm}.rs).
import { boolArg, describe, intArg, numArg, shapeArg } from "./args.js";
import { checkStatus, io, wasm, writeInts } from "./ffi.js";
import { NDArray, result } from "./ndarray.js";
import { optionsObject, poolingArgs, type PoolingOptions } from "./poolargs.js";

export type { PoolingConvention, PoolingOptions, PoolType } from "./poolargs.js";

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


/** MXNet's `nd.Pooling(data, kernel, pool_type, stride, pad, global_pool, pooling_convention, count_include_pad)`. */
export function Pooling(data: NDArray, options?: PoolingOptions): NDArray {
  if (!(data instanceof NDArray)) throw new Error(`Pooling: data must be an NDArray (got ${describe(data)})`);
  const a = poolingArgs(options, data.ndim);
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
  const a = poolingArgs(options, dims.length);
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
