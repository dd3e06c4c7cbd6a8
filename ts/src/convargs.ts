// The arguments of MXNet's `Convolution` / `Deconvolution` turned into the
// engine's integer lists (issue #12, conv branch). Free of the engine: the
// worker's client uses it too, with the engine's shape-only export.
import { describe, intArg } from "./args.js";

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

