/**
 * ndgrad: MXNet's `nd` + `autograd` for JavaScript and TypeScript, computed
 * by a Rust engine compiled to WebAssembly (SIMD).
 *
 * ```ts
 * import { nd, autograd } from "ndgrad";
 * const x = nd.array([[1, 2], [3, 4]]);
 * x.attachGrad();
 * const y = autograd.record(() => x.mul(2).mul(x));
 * y.backward();
 * console.log(x.grad); // [[ 4.  8.] [12. 16.]]
 * ```
 */
export { nd, array, zeros, ones, full, arange, zerosLike, onesLike, random, dropout } from "./nd.js";
export type { ArrayOptions } from "./nd.js";
export type { ConvolutionOptions, DeconvolutionOptions } from "./conv.js"; // conv branch (issue #12)
export { autograd } from "./autograd.js";
export type { ModeOptions, AutogradBackwardOptions, GradOptions } from "./autograd.js";
export { NDArray } from "./ndarray.js";
export { Function } from "./function.js";
export type { CheckGradOptions } from "./checkgrad.js";
export type {
  ArgOptions,
  Axis,
  BackwardOptions,
  DotOptions,
  DType,
  DTypeOptions,
  GradReq,
  NDData,
  NestedArray,
  NormOptions,
  OneHotOptions,
  PickOptions,
  ReduceOptions,
  SortOptions,
  TakeOptions,
  TopkOptions,
} from "./ndarray.js";
// Pooling, BatchNorm, LayerNorm (pool branch)
export type { BatchNormOptions, LayerNormOptions, PoolingConvention, PoolingOptions, PoolType } from "./pool.js";
export { NDGradError } from "./ffi.js";
// nnmisc group (issue #12)
export type {
  ActType,
  ActivationOptions,
  EmbeddingOptions,
  FullyConnectedOptions,
  LeakyActType,
  LeakyReLUOptions,
} from "./nnmisc.js";
export { formatArray, formatScalar } from "./format.js";
export type { Leak, MemoryInfo } from "./memory.js";
export { saveParams, loadParamsInto } from "./io.js";
export type { NDArrayList, NDArrayDict, ParamSlot, LoadParamsOptions, SaveOptions } from "./io.js";
export { gluon, init, metric } from "./gluon/index.js";
export type {
  ActivationName,
  BatchTransform,
  DataLoaderOptions,
  DenseOptions,
  LastBatch,
  LossOptions,
  OptimizerParams,
  ParameterOptions,
  Sample,
} from "./gluon/index.js";
