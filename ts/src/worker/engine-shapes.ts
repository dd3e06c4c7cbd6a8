// Result shapes the client asks the engine itself for (issue #12, item 6):
// a private instance of the plain .wasm module (`instantiateShapeEngine`),
// loaded by `createWorker` next to the worker, answers through shape-only
// exports that run the very checks and arithmetic of the ops (e.g.
// `nd_convolution_shape` calls `ops::nn::conv::output_shape`). So the
// convolution's shape rules exist once, in Rust; shapes.ts keeps only the
// simple rules it had. Until the instance is loaded (or on bad input) these
// throw, and `Session.op` falls back to a guess that the worker corrects.
import { convArgs } from "../convargs.js";
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
