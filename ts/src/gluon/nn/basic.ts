// Gluon's basic layers (python/mxnet/gluon/nn/basic_layers.py and
// activations.py, 1.9.1): parameter names, shapes, defaults and
// initializers as MXNet's.
import { describe } from "../../args.js";
import { dropout, nd } from "../../nd.js";
import { NDArray } from "../../ndarray.js";
import { scope } from "../../memory.js";
import { HybridBlock } from "../block.js";
import { Constant, type Initializer } from "../init.js";
import { Parameter } from "../parameter.js";

export type ActivationName = "relu" | "sigmoid" | "tanh" | "softrelu" | "softsign";
const ACTIVATIONS: readonly string[] = ["relu", "sigmoid", "tanh", "softrelu", "softsign"];

function actName(op: string, v: unknown): ActivationName {
  if (typeof v !== "string" || !ACTIVATIONS.includes(v)) {
    throw new Error(`${op}: unknown activation ${describe(v)} (expected one of ${ACTIVATIONS.join(", ")})`);
  }
  return v as ActivationName;
}

/** MXNet's `Activation` operator on `x` (a new array). */
export function activate(x: NDArray, act: ActivationName): NDArray {
  return nd.Activation(x, { actType: act });
}

function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${op}: ${name} must be a positive integer (got ${describe(v)})`);
  }
  return v;
}

export interface DenseOptions {
  activation?: ActivationName | null;
  useBias?: boolean;
  flatten?: boolean;
  dtype?: "float32" | "float64";
  weightInitializer?: Initializer | string | null;
  biasInitializer?: Initializer | string;
  inUnits?: number;
}

/**
 * MXNet's `nn.Dense`: `activation(dot(x, weight.T) + bias)` with weight
 * `(units, inUnits)` and bias `(units,)`; `flatten` (default) flattens all
 * but the first axis, otherwise the last axis is the one transformed.
 * `inUnits` 0 or omitted: inferred from the first batch.
 */
export class Dense extends HybridBlock {
  readonly units: number;
  readonly act: ActivationName | null;
  readonly flatten: boolean;
  weight: Parameter;
  bias: Parameter | null;

  constructor(units: number, options: DenseOptions = {}) {
    super();
    this.units = positiveInt("Dense", "units", units);
    this.act = options.activation === undefined || options.activation === null ? null : actName("Dense", options.activation);
    this.flatten = options.flatten ?? true;
    const inUnits = options.inUnits ?? 0;
    if (!Number.isInteger(inUnits) || inUnits < 0) throw new Error(`Dense: inUnits must be a non-negative integer (got ${describe(inUnits)})`);
    const dtype = options.dtype ?? "float32";
    this.weight = new Parameter(`${this.name}_weight`, {
      shape: [units, inUnits],
      dtype,
      init: options.weightInitializer ?? null,
    });
    this.bias =
      options.useBias === false
        ? null
        : new Parameter(`${this.name}_bias`, { shape: [units], dtype, init: options.biasInitializer ?? "zeros" });
  }

  override forward(x: NDArray): NDArray {
    if (!(x instanceof NDArray)) throw new Error(`${this.name} (Dense): expected an NDArray input (got ${describe(x)})`);
    const shape = x.shape;
    if (shape.length < (this.flatten ? 2 : 1)) {
      throw new Error(`${this.name} (Dense): input of shape [${shape.join(",")}] has no features axis`);
    }
    const inUnits = this.flatten ? shape.slice(1).reduce((a, b) => a * b, 1) : shape[shape.length - 1]!;
    const w = this.weight;
    const known = w.shape[1]!;
    if (known !== 0 && known !== inUnits) {
      throw new Error(
        `${this.name} (Dense): input of shape [${shape.join(",")}] has ${inUnits} features but the layer was ` +
          `initialized for ${known} (weight shape [${w.shape.join(",")}])`,
      );
    }
    if (known === 0) {
      w.shape = [this.units, inUnits];
      w.finishDeferredInit();
      this.bias?.finishDeferredInit();
    }
    const b = this.bias === null ? null : this.bias.data();
    const out = nd.FullyConnected(x, w.data(), b, { numHidden: this.units, noBias: b === null, flatten: this.flatten });
    if (this.act === null) return out;
    const y = activate(out, this.act);
    out.dispose();
    return y;
  }

  override describe(): string {
    const w = this.weight.shape;
    return `${w[1] === 0 ? "None" : w[1]} -> ${this.units}, ${this.act === null ? "linear" : this.act}`;
  }
}

/** MXNet's `nn.Flatten`: keeps axis 0, flattens the rest. */
export class Flatten extends HybridBlock {
  override forward(x: NDArray): NDArray {
    return nd.Flatten(x);
  }
}

/** MXNet's `nn.Dropout(rate)`: active in training mode only. */
export class Dropout extends HybridBlock {
  readonly rate: number;
  constructor(rate: number) {
    super();
    if (typeof rate !== "number" || !(rate >= 0 && rate < 1)) throw new Error(`Dropout: rate must be in [0, 1) (got ${describe(rate)})`);
    this.rate = rate;
  }
  override forward(x: NDArray): NDArray {
    return dropout(x, this.rate);
  }
  override describe(): string {
    return `p = ${this.rate}`;
  }
}

/** MXNet's `nn.Activation(name)`. */
export class Activation extends HybridBlock {
  readonly actType: ActivationName;
  constructor(activation: ActivationName) {
    super();
    this.actType = actName("Activation", activation);
  }
  override forward(x: NDArray): NDArray {
    return activate(x, this.actType);
  }
  override describe(): string {
    return this.actType;
  }
}

/** MXNet's `nn.LeakyReLU(alpha)`. */
export class LeakyReLU extends HybridBlock {
  readonly alpha: number;
  constructor(alpha: number) {
    super();
    if (typeof alpha !== "number" || !(alpha >= 0)) throw new Error(`LeakyReLU: alpha must be a non-negative number (got ${describe(alpha)})`);
    this.alpha = alpha;
  }
  override forward(x: NDArray): NDArray {
    return nd.LeakyReLU(x, { actType: "leaky", slope: this.alpha });
  }
}

/** MXNet's `nn.PReLU`: a learned slope `alpha` (shape `(inChannels,)`, init 0.25). */
export class PReLU extends HybridBlock {
  alpha: Parameter;
  constructor(options: { alphaInitializer?: Initializer; inChannels?: number } = {}) {
    super();
    this.alpha = new Parameter(`${this.name}_alpha`, {
      shape: [options.inChannels ?? 1],
      init: options.alphaInitializer ?? new Constant(0.25),
    });
  }
  override forward(x: NDArray): NDArray {
    return nd.LeakyReLU(x, { actType: "prelu", gamma: this.alpha.data() });
  }
}

/** MXNet's `nn.ELU(alpha = 1)`: x for x > 0, alpha·(exp(x) − 1) otherwise. */
export class ELU extends HybridBlock {
  readonly alpha: number;
  constructor(alpha = 1) {
    super();
    this.alpha = alpha;
  }
  override forward(x: NDArray): NDArray {
    return nd.LeakyReLU(x, { actType: "elu", slope: this.alpha });
  }
}

/** MXNet's `nn.SELU` (`LeakyReLU` act_type "selu"). */
export class SELU extends HybridBlock {
  override forward(x: NDArray): NDArray {
    return nd.LeakyReLU(x, { actType: "selu" });
  }
}

/** MXNet's `nn.GELU` (`LeakyReLU` act_type "gelu"). */
export class GELU extends HybridBlock {
  override forward(x: NDArray): NDArray {
    return nd.LeakyReLU(x, { actType: "gelu" });
  }
}

/** MXNet's `nn.Swish(beta = 1)`: x·sigmoid(beta·x). */
export class Swish extends HybridBlock {
  readonly beta: number;
  constructor(beta = 1) {
    super();
    this.beta = beta;
  }
  override forward(x: NDArray): NDArray {
    return scope(() => x.mul(x.mul(this.beta).sigmoid()));
  }
}
