// Gluon's convolution and pooling layers (python/mxnet/gluon/nn/
// conv_layers.py, 1.9.1): thin wrappers over nd.Convolution,
// nd.Deconvolution and nd.Pooling, with MXNet's parameter shapes
// (weight `(channels, inChannels/groups, k…)`, transposed:
// `(inChannels, channels/groups, k…)`), defaults and initializers.
import { describe } from "../../args.js";
import { NDArray } from "../../ndarray.js";
import { HybridBlock } from "../block.js";
import type { Initializer } from "../init.js";
import { Parameter } from "../parameter.js";
import { activate, type ActivationName } from "./basic.js";
import { op } from "./ops.js";

type Size = number | number[];

function tuple(layer: string, name: string, v: Size, rank: number, min: number): number[] {
  const t = typeof v === "number" ? new Array<number>(rank).fill(v) : v;
  if (!Array.isArray(t) || t.length !== rank || !t.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`${layer}: ${name} must be an integer ≥ ${min} or a list of ${rank} (got ${describe(v)})`);
  }
  return t.slice();
}

export interface ConvOptions {
  strides?: Size;
  padding?: Size;
  dilation?: Size;
  groups?: number;
  activation?: ActivationName | null;
  useBias?: boolean;
  weightInitializer?: Initializer | string | null;
  biasInitializer?: Initializer | string;
  inChannels?: number;
  layout?: string;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: Size;
}

abstract class Conv extends HybridBlock {
  readonly channels: number;
  readonly kernel: number[];
  readonly strides: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly groups: number;
  readonly act: ActivationName | null;
  readonly transposed: boolean;
  readonly outputPadding: number[];
  weight: Parameter;
  bias: Parameter | null;

  constructor(rank: number, transposed: boolean, channels: number, kernelSize: Size, o: ConvTransposeOptions) {
    super();
    const layer = this.constructor.name;
    if (!Number.isInteger(channels) || channels <= 0) throw new Error(`${layer}: channels must be a positive integer (got ${describe(channels)})`);
    const layout = o.layout ?? (rank === 1 ? "NCW" : "NCHW");
    if (layout !== (rank === 1 ? "NCW" : "NCHW")) throw new Error(`${layer}: only the ${rank === 1 ? "NCW" : "NCHW"} layout is supported (got ${describe(layout)})`);
    this.channels = channels;
    this.transposed = transposed;
    this.kernel = tuple(layer, "kernelSize", kernelSize, rank, 1);
    this.strides = tuple(layer, "strides", o.strides ?? 1, rank, 1);
    this.padding = tuple(layer, "padding", o.padding ?? 0, rank, 0);
    this.dilation = tuple(layer, "dilation", o.dilation ?? 1, rank, 1);
    this.outputPadding = tuple(layer, "outputPadding", o.outputPadding ?? 0, rank, 0);
    this.groups = o.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups <= 0 || channels % this.groups !== 0) {
      throw new Error(`${layer}: groups must be a positive divisor of channels ${channels} (got ${describe(o.groups)})`);
    }
    this.act = o.activation ?? null;
    const inCh = o.inChannels ?? 0;
    // Gluon: weight (channels, in/groups, k…); transposed (in, channels/groups, k…).
    const wshape = transposed
      ? [inCh, channels / this.groups, ...this.kernel]
      : [channels, inCh === 0 ? 0 : inCh / this.groups, ...this.kernel];
    this.weight = new Parameter(`${this.name}_weight`, { shape: wshape, init: o.weightInitializer ?? null });
    this.bias =
      o.useBias === false ? null : new Parameter(`${this.name}_bias`, { shape: [channels], init: o.biasInitializer ?? "zeros" });
  }

  override forward(x: NDArray): NDArray {
    const layer = `${this.name} (${this.constructor.name})`;
    if (!(x instanceof NDArray)) throw new Error(`${layer}: expected an NDArray input (got ${describe(x)})`);
    const rank = this.kernel.length;
    if (x.ndim !== rank + 2) {
      throw new Error(`${layer}: expected input of rank ${rank + 2} (N, C, ${rank === 1 ? "W" : "H, W"}), got shape [${x.shape.join(",")}]`);
    }
    const inCh = x.shape[1]!;
    const w = this.weight;
    const want = this.transposed ? w.shape[0]! : w.shape[1]! * this.groups;
    if (want !== 0 && want !== inCh) {
      throw new Error(
        `${layer}: input of shape [${x.shape.join(",")}] has ${inCh} channels but the layer was initialized for ${want} (weight shape [${w.shape.join(",")}])`,
      );
    }
    if (want === 0) {
      if (inCh % this.groups !== 0) throw new Error(`${layer}: ${inCh} input channels are not divisible by groups ${this.groups}`);
      w.shape = this.transposed
        ? [inCh, this.channels / this.groups, ...this.kernel]
        : [this.channels, inCh / this.groups, ...this.kernel];
      w.finishDeferredInit();
      this.bias?.finishDeferredInit();
    }
    const common = {
      kernel: this.kernel,
      numFilter: this.channels,
      stride: this.strides,
      pad: this.padding,
      dilate: this.dilation,
      numGroup: this.groups,
      noBias: this.bias === null,
    };
    const b = this.bias === null ? null : this.bias.data();
    const out = this.transposed
      ? op(layer, "Deconvolution")(x, w.data(), b, { ...common, adj: this.outputPadding })
      : op(layer, "Convolution")(x, w.data(), b, common);
    if (this.act === null) return out;
    const y = activate(out, this.act);
    out.dispose();
    return y;
  }

  override describe(): string {
    const w = this.weight.shape;
    const inCh = this.transposed ? w[0] : w[1]! * this.groups;
    return `${inCh === 0 ? "None" : inCh} -> ${this.channels}, kernel_size=(${this.kernel.join(", ")}), stride=(${this.strides.join(", ")})`;
  }
}

/** MXNet's `nn.Conv1D(channels, kernelSize, …)` (NCW). */
export class Conv1D extends Conv {
  constructor(channels: number, kernelSize: Size, options: ConvOptions = {}) {
    super(1, false, channels, kernelSize, options);
  }
}
/** MXNet's `nn.Conv2D(channels, kernelSize, …)` (NCHW). */
export class Conv2D extends Conv {
  constructor(channels: number, kernelSize: Size, options: ConvOptions = {}) {
    super(2, false, channels, kernelSize, options);
  }
}
/** MXNet's `nn.Conv1DTranspose`. */
export class Conv1DTranspose extends Conv {
  constructor(channels: number, kernelSize: Size, options: ConvTransposeOptions = {}) {
    super(1, true, channels, kernelSize, options);
  }
}
/** MXNet's `nn.Conv2DTranspose(channels, kernelSize, {strides, padding, outputPadding, …})`. */
export class Conv2DTranspose extends Conv {
  constructor(channels: number, kernelSize: Size, options: ConvTransposeOptions = {}) {
    super(2, true, channels, kernelSize, options);
  }
}

export interface PoolOptions {
  poolSize?: Size;
  strides?: Size | null;
  padding?: Size;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  layout?: string;
}

abstract class Pool extends HybridBlock {
  readonly poolType: "max" | "avg";
  readonly rank: number;
  readonly global: boolean;
  readonly poolSize: number[];
  readonly strides: number[];
  readonly padding: number[];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  constructor(rank: number, poolType: "max" | "avg", global: boolean, o: PoolOptions) {
    super();
    const layer = this.constructor.name;
    this.rank = rank;
    this.poolType = poolType;
    this.global = global;
    this.poolSize = tuple(layer, "poolSize", o.poolSize ?? (global ? 1 : 2), rank, 1);
    this.strides = tuple(layer, "strides", o.strides ?? this.poolSize, rank, 1);
    this.padding = tuple(layer, "padding", o.padding ?? 0, rank, 0);
    this.ceilMode = o.ceilMode ?? false;
    this.countIncludePad = o.countIncludePad ?? true;
  }
  override forward(x: NDArray): NDArray {
    const layer = `${this.name} (${this.constructor.name})`;
    if (!(x instanceof NDArray) || x.ndim !== this.rank + 2) {
      throw new Error(`${layer}: expected input of rank ${this.rank + 2} (got ${x instanceof NDArray ? `shape [${x.shape.join(",")}]` : describe(x)})`);
    }
    return op(layer, "Pooling")(x, {
      kernel: this.poolSize,
      poolType: this.poolType,
      stride: this.strides,
      pad: this.padding,
      globalPool: this.global,
      poolingConvention: this.ceilMode ? "full" : "valid",
      countIncludePad: this.countIncludePad,
    });
  }
  override describe(): string {
    return `size=(${this.poolSize.join(", ")}), stride=(${this.strides.join(", ")}), padding=(${this.padding.join(", ")}), ceil_mode=${this.ceilMode ? "True" : "False"}`;
  }
}

export class MaxPool1D extends Pool {
  constructor(options: PoolOptions = {}) {
    super(1, "max", false, options);
  }
}
export class MaxPool2D extends Pool {
  constructor(options: PoolOptions = {}) {
    super(2, "max", false, options);
  }
}
export class AvgPool1D extends Pool {
  constructor(options: PoolOptions = {}) {
    super(1, "avg", false, options);
  }
}
export class AvgPool2D extends Pool {
  constructor(options: PoolOptions = {}) {
    super(2, "avg", false, options);
  }
}
export class GlobalMaxPool2D extends Pool {
  constructor(options: { layout?: string } = {}) {
    super(2, "max", true, options);
  }
}
export class GlobalAvgPool2D extends Pool {
  constructor(options: { layout?: string } = {}) {
    super(2, "avg", true, options);
  }
}
