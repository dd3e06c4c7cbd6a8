// MXNet's `Convolution` and `Deconvolution` (issue #12, conv branch): the
// engine does the arithmetic, checks and gradients (crates/ndgrad-core
// ops/nn/conv.rs); this layer turns MXNet's keyword arguments into the
// engine's integer lists and refuses arguments of the wrong kind.
import { describe } from "./args.js";
import { convArgs, type ConvolutionOptions, type DeconvolutionOptions } from "./convargs.js";
import { wasm, writeInts } from "./ffi.js";
import { NDArray, result } from "./ndarray.js";

export type { ConvolutionOptions, DeconvolutionOptions };

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
