// Result shapes the client asks the engine itself for (issue #12, item 6):
// a private instance of the plain .wasm module (`instantiateShapeEngine`),
// loaded by `createWorker` next to the worker, answers through shape-only
// exports that run the very checks and arithmetic of the ops (e.g.
// `nd_convolution_shape` calls `ops::nn::conv::output_shape`). So the
// convolution's shape rules exist once, in Rust; shapes.ts keeps only the
// simple rules it had. Until the instance is loaded (or on bad input) these
// throw, and `Session.op` falls back to a guess that the worker corrects.
import { convArgs } from "../convargs.js";
import { shapeArg } from "../args.js"; // pool branch
import { poolingArgs } from "../poolargs.js"; // pool branch
import { instantiateShapeEngine, type Exports } from "../loader.js";

type Shape = number[];

let engine: Exports | null = null;
let loading: Promise<void> | null = null;

/** Load the shape engine once (createWorker awaits it). */
export function loadShapeEngine(): Promise<void> {
  loading ??= instantiateShapeEngine().then((e) => {
    engine = e;
  });
  return loading;
}

function io(e: Exports): Int32Array {
  return new Int32Array(e.memory.buffer, e.nd_io() >>> 0, e.nd_io_len());
}

/** The output shape of `Convolution` / `Deconvolution` for these operand shapes and options. */
export function convolutionShape(deconv: boolean, data: Shape, weight: Shape, options: unknown): Shape {
  const e = engine;
  if (e === null) throw new Error("the shape engine is not loaded");
  const op = deconv ? "Deconvolution" : "Convolution";
  const { head, ints } = convArgs(op, options, deconv);
  const values = [...data, ...weight, ...ints];
  let v = io(e);
  if (values.length > v.length) throw new Error(`${op}: too many dimensions`);
  v.set(values);
  const [rank, numFilter, numGroup] = head as [number, number, number];
  if (e.nd_convolution_shape(data.length, weight.length, rank, numFilter, numGroup, deconv ? 1 : 0) !== 0) {
    throw new Error(`${op}: invalid shapes`);
  }
  v = io(e);
  return Array.from(v.subarray(1, 1 + v[0]!));
}

// ---- pool branch (issue #12): Pooling through `nd_pooling_shape`, which
// calls `ops::pool::pool_shape`, the operator's own rule ----

/** The output shape of `Pooling` for data of `shape` (the main API's `nd.poolingShape`, with its errors). */
export function poolingShape(shape: Shape, options: unknown): Shape {
  const e = engine;
  if (e === null) throw new Error("the shape engine is not loaded");
  const dims = shapeArg("Pooling", shape);
  const a = poolingArgs(options, dims.length);
  const values = [...dims, ...a.kernel, ...a.stride, ...a.pad];
  let v = io(e);
  if (values.length > v.length) throw new Error("Pooling: too many dimensions");
  v.set(values);
  const n = e.nd_pooling_shape(dims.length, a.code, a.kernel.length, a.stride.length, a.pad.length, a.flags);
  if (n < 0) throw new Error(engineError(e, "Pooling: invalid shapes"));
  v = io(e);
  return Array.from(v.subarray(0, n));
}

/** The shape engine's last error message (the main API's text), or `fallback`. */
function engineError(e: Exports, fallback: string): string {
  const len = e.nd_error_len();
  if (len <= 0) return fallback;
  const bytes = new Uint8Array(e.memory.buffer, e.nd_error_ptr() >>> 0, len);
  return new TextDecoder().decode(bytes.slice());
}

// ---- nnmisc group (issue #12): FullyConnected, Embedding, Flatten ----
// (`nd_nnmisc_shape` calls the ops' own shape rules in ops/nnmisc.rs.)

const isOpts = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function nnmiscShape(op: number, shapes: (Shape | null)[], i0: number, i1: number, flags: number): Shape {
  const e = engine;
  if (e === null) throw new Error("the shape engine is not loaded");
  const values = shapes.flatMap((s) => s ?? []);
  let v = io(e);
  if (values.length > v.length) throw new Error("too many dimensions");
  v.set(values);
  const n = (s: Shape | null | undefined): number => (s === null || s === undefined ? -1 : s.length);
  if (e.nd_nnmisc_shape(op, n(shapes[0]), n(shapes[1]), n(shapes[2]), i0, i1, flags) !== 0) {
    throw new Error("invalid shapes");
  }
  v = io(e);
  return Array.from(v.subarray(1, 1 + v[0]!));
}

/** `FullyConnected(data, weight, bias | null, {numHidden, noBias, flatten})`. */
export function fullyConnectedShape(data: Shape, weight: Shape, bias: Shape | null, options: unknown): Shape {
  const o = isOpts(options) ? options : {};
  if (typeof o.numHidden !== "number") throw new Error("FullyConnected: numHidden");
  const flags = (o.noBias === true ? 1 : 0) | (o.flatten === false ? 0 : 2);
  return nnmiscShape(0, [data, weight, bias], o.numHidden, 0, flags);
}

/** `Embedding(data, weight, {inputDim, outputDim})`. */
export function embeddingShape(data: Shape, weight: Shape, options: unknown): Shape {
  const o = isOpts(options) ? options : {};
  if (typeof o.inputDim !== "number" || typeof o.outputDim !== "number") throw new Error("Embedding: dims");
  return nnmiscShape(1, [data, weight, null], o.inputDim, o.outputDim, 0);
}

/** `Flatten(x)`, `x.flatten()`. */
export function flattenShape(x: Shape): Shape {
  return nnmiscShape(2, [x, null, null], 0, 0, 0);
}
