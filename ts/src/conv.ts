// MXNet's `Convolution` and `Deconvolution` (issue #12, conv branch): the
// engine does the arithmetic, checks and gradients (crates/ndgrad-core
// ops/nn/conv.rs); this layer turns MXNet's keyword arguments into the
// engine's integer lists and refuses arguments of the wrong kind.
import { describe, intArg } from "./args.js";
import { wasm, writeInts } from "./ffi.js";
import { NDArray, result } from "./ndarray.js";

export interface ConvolutionOptions {
  /** Kernel size, one value per spatial axis: [k] (NCW) or [kh, kw] (NCHW). */
  kernel: number[];
  numFilter: number;
  stride?: number[];
  pad?: number[];
  dilate?: number[];
  numGroup?: number;
  noBias?: boolean;
}

export interface DeconvolutionOptions extends ConvolutionOptions {
  /** Extra size added to one side of each output axis (less than the stride). */
  adj?: number[];
}

const KEYS = new Set(["kernel", "numFilter", "stride", "pad", "dilate", "numGroup", "noBias", "adj"]);

function list(op: string, name: string, v: unknown, rank: number, dflt: number): number[] {
  if (v === undefined || v === null) return new Array<number>(rank).fill(dflt);
  const arr = typeof v === "number" ? [v] : v;
  if (!Array.isArray(arr)) {
    throw new Error(`${op}: ${name} must be an array of integers (got ${describe(v)})`);
  }
  if (arr.length !== rank) {
    throw new Error(
      `${op}: ${name} has ${arr.length} values but kernel has ${rank} (one per spatial axis; got ${describe(v)})`,
    );
  }
  return arr.map((d) => intArg(op, name, d));
}

/** The engine's integer arguments: [rank, numFilter, numGroup] and the
 *  I/O list (kernel, stride, pad, dilate, adj; `rank` values each). */
export function convArgs(op: string, options: unknown, deconv: boolean): { head: number[]; ints: number[]; noBias: boolean } {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new Error(`${op}: options {kernel, numFilter, ...} are required (got ${describe(options)})`);
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k) || (k === "adj" && !deconv)) throw new Error(`${op}: unknown option ${k}`);
  }
  const k = typeof o.kernel === "number" ? [o.kernel] : o.kernel;
  if (!Array.isArray(k) || k.length < 1 || k.length > 2) {
    throw new Error(`${op}: kernel must be an array of 1 (NCW) or 2 (NCHW) integers (got ${describe(o.kernel)})`);
  }
  const rank = k.length;
  const kernel = list(op, "kernel", k, rank, 1);
  if (o.numFilter === undefined) throw new Error(`${op}: numFilter is required`);
  const numFilter = intArg(op, "numFilter", o.numFilter);
  const numGroup = o.numGroup === undefined ? 1 : intArg(op, "numGroup", o.numGroup);
  const noBias = o.noBias === undefined ? deconv : o.noBias;
  if (typeof noBias !== "boolean") throw new Error(`${op}: noBias must be a boolean (got ${describe(o.noBias)})`);
  const ints = [
    ...kernel,
    ...list(op, "stride", o.stride, rank, 1),
    ...list(op, "pad", o.pad, rank, 0),
    ...list(op, "dilate", o.dilate, rank, 1),
    ...list(op, "adj", deconv ? o.adj : undefined, rank, 0),
  ];
  return { head: [rank, numFilter, numGroup], ints, noBias };
}

function run(op: string, deconv: boolean, data: unknown, weight: unknown, bias: unknown, options: unknown): NDArray {
  if (!(data instanceof NDArray)) throw new Error(`${op}: data must be an NDArray (got ${describe(data)})`);
  if (!(weight instanceof NDArray)) throw new Error(`${op}: weight must be an NDArray (got ${describe(weight)})`);
  const { head, ints, noBias } = convArgs(op, options, deconv);
  let b = 0;
  if (noBias) {
    if (bias !== null && bias !== undefined) {
      throw new Error(`${op}: a bias was given with noBias: true (pass null, or noBias: false)`);
    }
  } else {
    if (!(bias instanceof NDArray)) {
      throw new Error(`${op}: bias must be an NDArray when noBias is false (got ${describe(bias)})`);
    }
    b = bias.handleFor(op);
  }
  const [rank, numFilter, numGroup] = head as [number, number, number];
  const x = data.handleFor(op);
  const w = weight.handleFor(op);
  writeInts(op, ints);
  return result(wasm.nd_convolution(x, w, b, rank, numFilter, numGroup, deconv ? 1 : 0));
}

/**
 * MXNet's `Convolution(data, weight, bias, {kernel, numFilter, stride, pad,
 * dilate, numGroup, noBias})`: 1-D (NCW) or 2-D (NCHW) cross-correlation,
 * weight `(numFilter, C/numGroup, k…)`, bias `(numFilter)` (null with
 * `noBias: true`).
 */
export function Convolution(data: NDArray, weight: NDArray, bias: NDArray | null, options: ConvolutionOptions): NDArray {
  return run("Convolution", false, data, weight, bias, options);
}

/**
 * MXNet's `Deconvolution` (transposed convolution): weight
 * `(C, numFilter/numGroup, k…)`, output `stride·(in−1) + dilate·(k−1) + 1 −
 * 2·pad + adj`; `noBias` defaults to true, as in MXNet.
 */
export function Deconvolution(
  data: NDArray,
  weight: NDArray,
  bias: NDArray | null,
  options: DeconvolutionOptions,
): NDArray {
  return run("Deconvolution", true, data, weight, bias, options);
}
