// Neural-network operators of issue #12, the "nnmisc" group: MXNet 1.9.1's
// nd.FullyConnected, nd.Embedding, nd.Activation, nd.LeakyReLU (leaky elu
// selu gelu prelu), nd.Flatten and nd.softmax_cross_entropy. Options are
// checked here (an unknown actType names the op and the choices); shapes
// are checked by the engine, whose Errors name the op and the shapes.
import { boolArg, describe, intArg, numArg } from "./args.js";
import { wasm } from "./ffi.js";
import { NDArray, result } from "./ndarray.js";

export interface FullyConnectedOptions {
  numHidden: number;
  noBias?: boolean;
  flatten?: boolean;
}
export interface EmbeddingOptions {
  inputDim: number;
  outputDim: number;
}
export const ACTIVATION_TYPES = ["relu", "sigmoid", "tanh", "softrelu", "softsign"] as const;
export type ActType = (typeof ACTIVATION_TYPES)[number];
export interface ActivationOptions {
  actType: ActType;
}
/** In the engine's code order. */
export const LEAKY_RELU_TYPES = ["leaky", "elu", "selu", "gelu", "prelu"] as const;
export type LeakyActType = (typeof LEAKY_RELU_TYPES)[number];
export interface LeakyReLUOptions {
  actType?: LeakyActType;
  slope?: number;
  /** The PReLU weight (actType "prelu"): one slope per channel (axis 1), or one for all. */
  gamma?: NDArray;
}

function arrayIn(op: string, name: string, v: unknown): NDArray {
  if (!(v instanceof NDArray)) throw new Error(`${op}: ${name} must be an NDArray (got ${describe(v)})`);
  return v;
}

function optionsIn<T extends object>(op: string, v: unknown, required: boolean): Partial<T> {
  if (v === undefined && !required) return {};
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error(`${op}: expected an options object (got ${describe(v)})`);
  }
  return v as Partial<T>;
}

function choice<T extends string>(op: string, name: string, v: unknown, choices: readonly T[]): number {
  const i = choices.indexOf(v as T);
  if (typeof v !== "string" || i < 0) {
    throw new Error(`${op}: unknown ${name} ${describe(v)} (expected one of ${choices.map((c) => `"${c}"`).join(", ")})`);
  }
  return i;
}

/** MXNet's `FullyConnected`: `data · weightᵀ + bias`; weight `(numHidden, inputs)`. */
export function FullyConnected(
  data: NDArray,
  weight: NDArray,
  bias: NDArray | null,
  options: FullyConnectedOptions,
): NDArray {
  const op = "FullyConnected";
  const x = arrayIn(op, "data", data);
  const w = arrayIn(op, "weight", weight);
  const b = bias === null || bias === undefined ? null : arrayIn(op, "bias", bias);
  const o = optionsIn<FullyConnectedOptions>(op, options, true);
  const nh = intArg(op, "numHidden", o.numHidden);
  const flags = (boolArg(op, "noBias", o.noBias, false) ? 1 : 0) | (boolArg(op, "flatten", o.flatten, true) ? 2 : 0);
  const hb = b === null ? 0 : b.handleFor(op);
  return result(wasm.nd_fully_connected(x.handleFor(op), w.handleFor(op), hb, nh, flags));
}

/** MXNet's `Embedding`: rows of `weight (inputDim, outputDim)` at the indices `data` (any dtype, clipped). */
export function Embedding(data: NDArray, weight: NDArray, options: EmbeddingOptions): NDArray {
  const op = "Embedding";
  const d = arrayIn(op, "data", data);
  const w = arrayIn(op, "weight", weight);
  const o = optionsIn<EmbeddingOptions>(op, options, true);
  const inDim = intArg(op, "inputDim", o.inputDim);
  const outDim = intArg(op, "outputDim", o.outputDim);
  return result(wasm.nd_embedding(d.handleFor(op), w.handleFor(op), inDim, outDim));
}

/** MXNet's `Activation`: `actType` one of relu, sigmoid, tanh, softrelu, softsign. */
export function Activation(data: NDArray, options: ActivationOptions): NDArray {
  const op = "Activation";
  const x = arrayIn(op, "data", data);
  const o = optionsIn<ActivationOptions>(op, options, true);
  const code = choice(op, "actType", o.actType, ACTIVATION_TYPES);
  return result(wasm.nd_activation(x.handleFor(op), code));
}

/** MXNet's `LeakyReLU`: leaky (default, slope 0.25), elu, selu, gelu, prelu (with `gamma`). */
export function LeakyReLU(data: NDArray, options: LeakyReLUOptions = {}): NDArray {
  const op = "LeakyReLU";
  const x = arrayIn(op, "data", data);
  const o = optionsIn<LeakyReLUOptions>(op, options, false);
  const code = choice(op, "actType", o.actType ?? "leaky", LEAKY_RELU_TYPES);
  const slope = numArg(op, "slope", o.slope ?? 0.25);
  const g = o.gamma === undefined || o.gamma === null ? null : arrayIn(op, "gamma", o.gamma);
  return result(wasm.nd_leaky_relu_act(x.handleFor(op), code, slope, g === null ? 0 : g.handleFor(op)));
}

/** MXNet's `Flatten`: keeps axis 0, flattens the rest. */
export function Flatten(data: NDArray): NDArray {
  // The engine's own name; x.flatten() renames its Errors to "flatten".
  return result(wasm.nd_flatten(arrayIn("Flatten", "data", data).handleFor("Flatten")));
}

/** MXNet's `softmax_cross_entropy(data (N, C), label (N,))`: summed over the batch, shape [1]. */
export function softmaxCrossEntropy(data: NDArray, label: NDArray): NDArray {
  const op = "softmaxCrossEntropy";
  const x = arrayIn(op, "data", data);
  const l = arrayIn(op, "label", label);
  return result(wasm.nd_softmax_cross_entropy(x.handleFor(op), l.handleFor(op)));
}

/** The group's `nd` functions. */
export const nnmisc = { FullyConnected, Embedding, Activation, LeakyReLU, Flatten, softmaxCrossEntropy };
