// The `nd` namespace: creation, functional forms of every op, random, memory.
import { load, save } from "./io.js";
import { MAX_RANK, describe, numArg, shapeArg } from "./args.js";
import { dataView, dtypeCode, dtypeOfTyped, wasm, writeInts } from "./ffi.js";
import { formatScalar, type DType } from "./format.js";
import { debug, keep, memory, scope } from "./memory.js";
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS, opTable } from "./opnames.js";
import { getThreads, setThreads } from "./threads.js";
import { Convolution, Deconvolution } from "./conv.js"; // conv branch (issue #12)
// Pooling, BatchNorm, LayerNorm (pool branch)
import { BatchNorm, LayerNorm, Pooling, poolingShape } from "./pool.js";
import { nnmisc } from "./nnmisc.js";
import {
  NDArray,
  batchDot,
  binary,
  concat,
  dot,
  dtypeOption,
  fill,
  full,
  oneHot,
  reduce,
  renamed,
  result,
  stack,
  unary,
  where,
  type ArgOptions,
  type Axis,
  type DotOptions,
  type NormOptions,
  type PickOptions,
  type ReduceOptions,
  type SortOptions,
  type TakeOptions,
  type TopkOptions,
} from "./ndarray.js";

export interface ArrayOptions {
  dtype?: DType;
  /** Required shape; mandatory-free for nested arrays, defaults to [length] for typed arrays. */
  shape?: number[] | number;
}


/** Shape of nested arrays, checking they are rectangular and numeric. */
function nestedShape(data: unknown[]): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    // Also what stops an array that contains itself.
    if (shape.length === MAX_RANK) {
      throw new Error(`array: nested arrays deeper than ${MAX_RANK} levels (the maximum rank; is the array cyclic?)`);
    }
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function flatten(data: unknown[], shape: number[], out: Float64Array): void {
  const depth = shape.length;
  const index = new Array<number>(depth).fill(0);
  let pos = 0;
  const walk = (v: unknown[], d: number): void => {
    if (v.length !== shape[d]) jagged(shape, index, d, v);
    if (d === depth - 1) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x !== "number") {
          index[d] = i;
          throw new Error(`array: element at [${index.join(",")}] is not a number (got ${describe(x)})`);
        }
        out[pos++] = x;
      }
      return;
    }
    for (let i = 0; i < v.length; i++) {
      index[d] = i;
      const child = v[i];
      if (!Array.isArray(child)) jagged(shape, index, d + 1, child);
      walk(child as unknown[], d + 1);
    }
  };
  if (depth === 0) return;
  walk(data, 0);
}

function jagged(shape: number[], index: number[], d: number, got: unknown): never {
  const at = index.slice(0, d).join(",");
  const what = Array.isArray(got) ? `a list of ${got.length}` : `the value ${describe(got)}`;
  throw new Error(
    `array: jagged nested array: expected a list of ${shape[d]} at [${at}] ` +
      `(shape [${shape.join(",")}] from the first elements), got ${what}`,
  );
}

/** Copy values into a new engine array of `shape` and `dtype` (float32
 *  rounds to nearest; int32 and uint8 truncate toward zero). */
function fromValues(values: ArrayLike<number>, shape: number[], dtype: DType): NDArray {
  writeInts("array", shape);
  const a = result(wasm.nd_alloc(shape.length, dtypeCode("array", dtype)));
  if (values.length > 0) {
    const view = dataView(a.handleFor("array"), values.length, dtype);
    const native =
      (dtype === "int32" && values instanceof Int32Array) ||
      (dtype === "uint8" && (values instanceof Uint8Array || values instanceof Uint8ClampedArray));
    if ((dtype === "int32" || dtype === "uint8") && !native) {
      const [lo, hi] = dtype === "int32" ? [-2147483648, 2147483648] : [0, 256];
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        // NumPy refuses what the integer type cannot hold instead of wrapping
        // it (np.array([300], dtype=np.uint8) is an OverflowError).
        const t = Math.trunc(v);
        if (!(t >= lo && t < hi)) {
          a.dispose();
          throw new Error(`array: value ${v} at flat index ${i} does not fit in ${dtype} (shape [${shape.join(",")}])`);
        }
        view[i] = t;
      }
    } else {
      view.set(values);
    }
  }
  return a;
}

/**
 * An array from a number (shape [1], as MXNet 1.x), nested arrays, a typed
 * array (with `{shape}`), or another NDArray (copied).
 */
export function array(data: unknown, options: ArrayOptions = {}): NDArray {
  if (options === null || typeof options !== "object") {
    throw new Error(`array: options must be an object {dtype?, shape?} (got ${describe(options)})`);
  }
  if (options.dtype !== undefined) dtypeCode("array", options.dtype);
  // MXNet: the source's dtype for NDArrays and typed arrays (NumPy arrays
  // there), float32 for plain numbers and lists.
  let dtype: DType = options.dtype ?? "float32";
  const want = options.shape === undefined ? null : shapeArg("array", options.shape);
  let values: ArrayLike<number>;
  let shape: number[];
  if (data instanceof NDArray) {
    data.handleFor("array");
    values = data.data();
    shape = data.shape;
    dtype = options.dtype ?? data.dtype;
  } else if (typeof data === "number") {
    values = [data];
    shape = [1];
  } else if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    if (typeof (data as unknown as { [i: number]: unknown })[0] === "bigint") {
      throw new Error("array: BigInt typed arrays are not supported");
    }
    values = data as unknown as ArrayLike<number>;
    shape = [values.length];
    dtype = options.dtype ?? dtypeOfTyped(data);
  } else if (Array.isArray(data)) {
    shape = nestedShape(data);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > 2 ** 30) throw new Error(`array: shape [${shape.join(",")}] is too large`);
    const flat = new Float64Array(n);
    flatten(data, shape, flat);
    values = flat;
  } else {
    throw new Error(`array: expected a number, nested arrays of numbers, a typed array or an NDArray (got ${describe(data)})`);
  }
  if (want !== null) {
    const n = want.reduce((a, b) => a * b, 1);
    if (n !== values.length) {
      throw new Error(`array: ${values.length} values cannot fill shape [${want.join(",")}] (size ${n})`);
    }
    shape = want;
  }
  return fromValues(values, shape, dtype);
}

export function zeros(shape: number[] | number, options?: { dtype?: DType } | DType): NDArray {
  return fill(shape, 0, dtypeOption("zeros", options), "zeros");
}
export function ones(shape: number[] | number, options?: { dtype?: DType } | DType): NDArray {
  return fill(shape, 1, dtypeOption("ones", options), "ones");
}
/** Zeros of `x`'s shape and dtype. */
export function zerosLike(x: NDArray): NDArray {
  return fill(likeShape("zerosLike", x), 0, x.dtype, "zerosLike");
}
/** Ones of `x`'s shape and dtype. */
export function onesLike(x: NDArray): NDArray {
  return fill(likeShape("onesLike", x), 1, x.dtype, "onesLike");
}
function likeShape(op: string, x: unknown): number[] {
  if (!(x instanceof NDArray)) throw new Error(`${op}: expected an NDArray (got ${describe(x)})`);
  x.handleFor(op);
  return x.shape;
}
export { full };

/** Evenly spaced values in [start, stop) (or [0, start) with one argument). */
export function arange(
  start: number,
  stop?: number | null,
  step: number | { dtype?: DType } = 1,
  options?: { dtype?: DType } | DType,
): NDArray {
  if (typeof step === "object" && step !== null) {
    options = step;
    step = 1;
  }
  let a = numArg("arange", "start", start);
  let b: number;
  if (stop === undefined || stop === null) {
    b = a;
    a = 0;
  } else {
    b = numArg("arange", "stop", stop);
  }
  const code = dtypeCode("arange", dtypeOption("arange", options));
  return result(wasm.nd_arange(a, b, numArg("arange", "step", step), code));
}

/** The dtype of a random call: a trailing dtype string or `{dtype}` (also
 *  inside the `{shape, dtype}` object form). */
function randomDtype(op: string, shape: unknown, options: unknown): number {
  let d: unknown = options;
  if (d === undefined && shape !== null && typeof shape === "object" && !Array.isArray(shape) && !ArrayBuffer.isView(shape)) {
    d = shape;
  }
  return dtypeCode(op, dtypeOption(op, d));
}

function shapeOption(op: string, shape: unknown): number[] {
  if (shape !== null && typeof shape === "object" && !Array.isArray(shape) && !ArrayBuffer.isView(shape)) {
    return shapeArg(op, (shape as { shape?: unknown }).shape ?? [1]);
  }
  return shapeArg(op, shape ?? [1]);
}

export const random = {
  /** Uniform samples in [low, high). */
  uniform(
    low = 0,
    high = 1,
    shape: number[] | number | { shape?: number[] | number; dtype?: DType } = [1],
    options?: { dtype?: DType } | DType,
  ): NDArray {
    const dims = shapeOption("uniform", shape);
    const code = randomDtype("uniform", shape, options);
    writeInts("uniform", dims);
    return result(wasm.nd_random_uniform(dims.length, numArg("uniform", "low", low), numArg("uniform", "high", high), code));
  },
  /** Normal samples with mean `loc` and standard deviation `scale`. */
  normal(
    loc = 0,
    scale = 1,
    shape: number[] | number | { shape?: number[] | number; dtype?: DType } = [1],
    options?: { dtype?: DType } | DType,
  ): NDArray {
    const dims = shapeOption("normal", shape);
    const code = randomDtype("normal", shape, options);
    writeInts("normal", dims);
    return result(wasm.nd_random_normal(dims.length, numArg("normal", "loc", loc), numArg("normal", "scale", scale), code));
  },
  /** Seed the generator: the same seed gives the same samples everywhere. */
  seed(n: number): void {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw new Error(`seed: expected a non-negative integer (got ${describe(n)})`);
    }
    wasm.nd_random_seed(n >>> 0, Math.floor(n / 2 ** 32) >>> 0);
  },
};

// Start unpredictable, as MXNet does, until the user seeds.
{
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  wasm.nd_random_seed(words[0]!, words[1]!);
}

type Operand = NDArray | number;
const bin = (op: string) => (a: Operand, b: Operand): NDArray => binary(op, a, b);
const un = (op: string) => (x: NDArray): NDArray => unary(op, x);
const red = (op: string) => (x: NDArray, axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray => {
  if (!(x instanceof NDArray)) throw new Error(`${op}: expected an NDArray (got ${describe(x)})`);
  return reduce(op, x, axis, keepdims);
};

function arrayArg(op: string, x: unknown): NDArray {
  if (!(x instanceof NDArray)) throw new Error(`${op}: expected an NDArray (got ${describe(x)})`);
  return x;
}

/**
 * MXNet's `Dropout`: in training mode (`autograd.record` or
 * `autograd.trainMode`) each element is zeroed with probability `p` and the
 * rest are scaled by 1/(1-p), using the seeded generator; in predict mode it
 * is the identity (a copy). The gradient is the same mask.
 */
export function dropout(x: NDArray, p = 0.5): NDArray {
  if (!(x instanceof NDArray)) throw new Error(`dropout: expected an NDArray (got ${describe(x)})`);
  const rate = numArg("dropout", "p", p);
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: p must be in [0, 1) (got ${rate})`);
  x.handleFor("dropout");
  if (wasm.nd_is_training() === 0 || rate === 0) return x.copy();
  return scope(() => {
    const keepMask = random.uniform(0, 1, x.shape, x.dtype).greaterEqual(rate).mul(1 / (1 - rate));
    return x.mul(keepMask);
  });
}

/** MXNet's `nd` module. */
export const nd = {
  array,
  /** MXNet's `nd.save`: MXNet's file bytes (or .npy/.npz by the path's extension). */
  save,
  /** MXNet's `nd.load`: MXNet files, .npy and .npz, from a path (Node) or bytes. */
  load,
  zeros,
  ones,
  full,
  arange,
  zerosLike,
  onesLike,
  random,
  ...opTable(BINARY_OPS, bin),
  ...opTable(UNARY_OPS, un),
  // MXNet's other name for neg; its Errors say "negative", as called.
  negative: (x: NDArray): NDArray => renamed("neg", "negative", () => unary("neg", x)),
  ...opTable(REDUCE_OPS, red),
  dot: (a: NDArray, b: NDArray, options?: DotOptions): NDArray => dot(a, b, options),
  batchDot,
  concat,
  stack,
  dropout,
  reshape: (x: NDArray, shape: number[]): NDArray => arrayArg("reshape", x).reshape(shape),
  transpose: (x: NDArray, axes?: number[]): NDArray =>
    axes === undefined ? arrayArg("transpose", x).transpose() : arrayArg("transpose", x).transpose(axes),
  expandDims: (x: NDArray, axis: number): NDArray => arrayArg("expandDims", x).expandDims(axis),
  squeeze: (x: NDArray, axis?: Axis): NDArray => arrayArg("squeeze", x).squeeze(axis),
  broadcastTo: (x: NDArray, shape: number[] | number): NDArray => arrayArg("broadcastTo", x).broadcastTo(shape),
  norm: (x: NDArray, axis?: Axis | NormOptions, keepdims?: boolean): NDArray => arrayArg("norm", x).norm(axis, keepdims),
  argmax: (x: NDArray, axis?: number | null | ArgOptions, keepdims?: boolean): NDArray =>
    arrayArg("argmax", x).argmax(axis, keepdims),
  argmin: (x: NDArray, axis?: number | null | ArgOptions, keepdims?: boolean): NDArray =>
    arrayArg("argmin", x).argmin(axis, keepdims),
  where,
  clip: (x: NDArray, aMin: number, aMax: number): NDArray => arrayArg("clip", x).clip(aMin, aMax),
  leakyRelu: (x: NDArray, slope?: number): NDArray => arrayArg("leakyRelu", x).leakyRelu(slope),
  softmax: (x: NDArray, axis?: number | { axis?: number }): NDArray => arrayArg("softmax", x).softmax(axis),
  logSoftmax: (x: NDArray, axis?: number | { axis?: number }): NDArray => arrayArg("logSoftmax", x).logSoftmax(axis),
  take: (a: NDArray, indices: NDArray, axis?: number | TakeOptions): NDArray => arrayArg("take", a).take(indices, axis),
  pick: (data: NDArray, index: NDArray, axis?: number | PickOptions): NDArray => arrayArg("pick", data).pick(index, axis),
  oneHot,
  topk: ((x: NDArray, options?: TopkOptions) => arrayArg("topk", x).topk(options)) as {
    (x: NDArray, options: TopkOptions & { retTyp: "both" }): [NDArray, NDArray];
    (x: NDArray, options?: TopkOptions): NDArray;
  },
  sort: (x: NDArray, axis?: number | SortOptions): NDArray => arrayArg("sort", x).sort(axis),
  argsort: (x: NDArray, axis?: number | SortOptions): NDArray => arrayArg("argsort", x).argsort(axis),
  tile: (x: NDArray, reps: number | number[]): NDArray => arrayArg("tile", x).tile(reps),
  repeat: (x: NDArray, repeats: number, axis?: number | null): NDArray => arrayArg("repeat", x).repeat(repeats, axis),
  flip: (x: NDArray, axis: number | number[]): NDArray => arrayArg("flip", x).flip(axis),
  slice: (
    x: NDArray,
    begin?: number | null | (number | null)[],
    end?: number | null | (number | null)[],
    step?: number | null | (number | null)[],
  ): NDArray => arrayArg("slice", x).slice(begin, end, step),
  sliceAxis: (x: NDArray, axis: number, begin: number | null, end: number | null): NDArray =>
    arrayArg("sliceAxis", x).sliceAxis(axis, begin, end),
  /** MXNet's `cast`: `x.astype(dtype)`. */
  cast: (x: NDArray, dtype: DType): NDArray => renamed("astype", "cast", () => arrayArg("cast", x).astype(dtype)),
  astype: (x: NDArray, dtype: DType): NDArray => arrayArg("astype", x).astype(dtype),
  // ---- Pooling, BatchNorm, LayerNorm (pool branch) ----
  Pooling,
  BatchNorm,
  LayerNorm,
  /** The shape `nd.Pooling` gives for data of `shape` (the engine's rule; no array is created). */
  poolingShape,
  // Neural-network operators, nnmisc group (issue #12)
  ...nnmisc,
  /** Free every array created in `fn` except its result and variables. */
  scope,
  keep,
  memory,
  /** Opt-in leak detection: `trackLeaks()`, then `leaks()` lists arrays never freed, with their creation stacks. */
  debug,
  /** MXNet's `waitall`: ndgrad computes eagerly, so there is nothing to wait for. */
  waitall(): void {},
  /** How NumPy prints a scalar of `dtype` (e.g. what Python prints for `x.asscalar()`). */
  formatScalar(v: number, dtype: DType = "float32"): string {
    return formatScalar(numArg("formatScalar", "value", v), dtype);
  },
  /** Threads for large kernels (threads build only; see ts/src/threads.ts). */
  setThreads,
  getThreads,
  /** Whether the engine runs WebAssembly SIMD kernels. */
  simd(): boolean {
    return wasm.nd_simd_enabled() !== 0;
  },
  /**
   * Whether the engine is the relaxed-SIMD build (GEMM accumulates with
   * fused multiply-adds: results may differ from the plain build in the last
   * bits). Loaded where the runtime validates relaxed SIMD; `NDGRAD_RELAXED=0`
   * forces the plain build.
   */
  relaxedSimd(): boolean {
    return wasm.nd_relaxed_simd() !== 0;
  },
  // ---- neural-network operators: Convolution, Deconvolution (issue #12, conv branch) ----
  Convolution,
  Deconvolution,
  // ---- end conv ----
};
