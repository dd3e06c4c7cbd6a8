// Gluon's BatchNorm, LayerNorm and Embedding (python/mxnet/gluon/nn/
// basic_layers.py, 1.9.1) over nd.BatchNorm, nd.LayerNorm, nd.Embedding.
// BatchNorm's running statistics are parameters with gradReq "null",
// updated in place by the operator while recording in train mode.
import { describe, MAX_ELEMENTS } from "../../args.js";
import { NDArray } from "../../ndarray.js";
import { HybridBlock } from "../block.js";
import type { Initializer } from "../init.js";
import { Parameter } from "../parameter.js";
import { op } from "./ops.js";

export interface BatchNormOptions {
  axis?: number;
  momentum?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  useGlobalStats?: boolean;
  betaInitializer?: Initializer | string;
  gammaInitializer?: Initializer | string;
  runningMeanInitializer?: Initializer | string;
  runningVarianceInitializer?: Initializer | string;
  inChannels?: number;
}

function channelsOf(layer: string, x: NDArray, axis: number): number {
  const a = axis < 0 ? axis + x.ndim : axis;
  if (a < 0 || a >= x.ndim) throw new Error(`${layer}: axis ${axis} out of range for input of shape [${x.shape.join(",")}]`);
  return x.shape[a]!;
}

function inferChannels(layer: string, params: Parameter[], c: number, x: NDArray): void {
  for (const p of params) {
    const k = p.shape[0]!;
    if (k !== 0 && k !== c) {
      throw new Error(`${layer}: input of shape [${x.shape.join(",")}] has ${c} channels but the layer was initialized for ${k}`);
    }
    if (k === 0) p.shape = [c];
  }
  for (const p of params) p.finishDeferredInit();
}

/** MXNet's `nn.BatchNorm`. */
export class BatchNorm extends HybridBlock {
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly useGlobalStats: boolean;
  gamma: Parameter;
  beta: Parameter;
  // MXNet's attribute names: they are the structural names save_parameters
  // writes ("1.running_mean"); `runningMean` / `runningVar` read them too.
  running_mean: Parameter;
  running_var: Parameter;
  get runningMean(): Parameter {
    return this.running_mean;
  }
  get runningVar(): Parameter {
    return this.running_var;
  }
  constructor(o: BatchNormOptions = {}) {
    super();
    this.axis = o.axis ?? 1;
    this.momentum = o.momentum ?? 0.9;
    this.epsilon = o.epsilon ?? 1e-5;
    this.center = o.center ?? true;
    this.scale = o.scale ?? true;
    this.useGlobalStats = o.useGlobalStats ?? false;
    const c = o.inChannels ?? 0;
    const n = this.name;
    this.gamma = new Parameter(`${n}_gamma`, { shape: [c], init: o.gammaInitializer ?? "ones", gradReq: this.scale ? "write" : "null" });
    this.beta = new Parameter(`${n}_beta`, { shape: [c], init: o.betaInitializer ?? "zeros", gradReq: this.center ? "write" : "null" });
    this.running_mean = new Parameter(`${n}_running_mean`, { shape: [c], init: o.runningMeanInitializer ?? "zeros", gradReq: "null", differentiable: false });
    this.running_var = new Parameter(`${n}_running_var`, { shape: [c], init: o.runningVarianceInitializer ?? "ones", gradReq: "null", differentiable: false });
  }
  override forward(x: NDArray): NDArray {
    const layer = `${this.name} (BatchNorm)`;
    if (!(x instanceof NDArray)) throw new Error(`${layer}: expected an NDArray input (got ${describe(x)})`);
    inferChannels(layer, [this.gamma, this.beta, this.runningMean, this.runningVar], channelsOf(layer, x, this.axis), x);
    return op(layer, "BatchNorm")(x, this.gamma.data(), this.beta.data(), this.runningMean.data(), this.runningVar.data(), {
      eps: this.epsilon,
      momentum: this.momentum,
      fixGamma: !this.scale,
      useGlobalStats: this.useGlobalStats,
      axis: this.axis,
    });
  }
  override describe(): string {
    return `axis=${this.axis}, eps=${this.epsilon}, momentum=${this.momentum}, fix_gamma=${!this.scale ? "True" : "False"}, use_global_stats=${this.useGlobalStats ? "True" : "False"}, in_channels=${this.gamma.shape[0] || "None"}`;
  }
}

/** MXNet's `nn.LayerNorm({axis = -1, epsilon = 1e-5, center, scale})`. */
export class LayerNorm extends HybridBlock {
  readonly axis: number;
  readonly epsilon: number;
  gamma: Parameter;
  beta: Parameter;
  constructor(o: { axis?: number; epsilon?: number; center?: boolean; scale?: boolean; inChannels?: number; gammaInitializer?: Initializer | string; betaInitializer?: Initializer | string } = {}) {
    super();
    this.axis = o.axis ?? -1;
    this.epsilon = o.epsilon ?? 1e-5;
    const c = o.inChannels ?? 0;
    this.gamma = new Parameter(`${this.name}_gamma`, { shape: [c], init: o.gammaInitializer ?? "ones", gradReq: o.scale === false ? "null" : "write" });
    this.beta = new Parameter(`${this.name}_beta`, { shape: [c], init: o.betaInitializer ?? "zeros", gradReq: o.center === false ? "null" : "write" });
  }
  override forward(x: NDArray): NDArray {
    const layer = `${this.name} (LayerNorm)`;
    if (!(x instanceof NDArray)) throw new Error(`${layer}: expected an NDArray input (got ${describe(x)})`);
    inferChannels(layer, [this.gamma, this.beta], channelsOf(layer, x, this.axis), x);
    return op(layer, "LayerNorm")(x, this.gamma.data(), this.beta.data(), { axis: this.axis, eps: this.epsilon });
  }
}

/** MXNet's `nn.Embedding(inputDim, outputDim)`: weight `(inputDim, outputDim)`. */
export class Embedding extends HybridBlock {
  readonly inputDim: number;
  readonly outputDim: number;
  weight: Parameter;
  constructor(inputDim: number, outputDim: number, o: { dtype?: "float32" | "float64"; weightInitializer?: Initializer | string } = {}) {
    super();
    for (const [k, v] of [["inputDim", inputDim], ["outputDim", outputDim]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`Embedding: ${k} must be a positive integer (got ${describe(v)})`);
    }
    // The weight is one (inputDim, outputDim) array: refused here, naming
    // the layer, rather than by the engine at initialize().
    if (inputDim * outputDim > MAX_ELEMENTS) {
      throw new Error(
        `Embedding: inputDim ${inputDim} × outputDim ${outputDim} = ${inputDim * outputDim} weights, more than an array can hold (${MAX_ELEMENTS}, 2^30)`,
      );
    }
    this.inputDim = inputDim;
    this.outputDim = outputDim;
    this.weight = new Parameter(`${this.name}_weight`, { shape: [inputDim, outputDim], dtype: o.dtype ?? "float32", init: o.weightInitializer ?? null });
  }
  override forward(x: NDArray): NDArray {
    return op(`${this.name} (Embedding)`, "Embedding")(x, this.weight.data(), { inputDim: this.inputDim, outputDim: this.outputDim });
  }
  override describe(): string {
    return `${this.inputDim} -> ${this.outputDim}, float32`;
  }
}
