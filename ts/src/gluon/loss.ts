// Gluon's losses (python/mxnet/gluon/loss.py, 1.9.1): the same formulas,
// including the numerically stable forms (log-softmax, softrelu), one value
// per sample: every axis but `batchAxis` is averaged (KLDivLoss: summed, as
// MXNet does).
import { boolArg, describe, intArg } from "../args.js";
import { scope } from "../memory.js";
import { NDArray } from "../ndarray.js";
import { reshapeExact, where } from "../ndarray.js";
import { HybridBlock } from "./block.js";

export interface LossOptions {
  /** A global scalar weight (MXNet's `weight`). */
  weight?: number | null;
  batchAxis?: number;
}

function arrayIn(op: string, what: string, v: unknown): NDArray {
  if (!(v instanceof NDArray)) throw new Error(`${op}: ${what} must be an NDArray (got ${describe(v)})`);
  return v;
}

/** MXNet's `_reshape_like`: label to pred's shape (same number of elements). */
function reshapeLike(op: string, label: NDArray, pred: NDArray): NDArray {
  if (label.size !== pred.size) {
    throw new Error(
      `${op}: label of shape [${label.shape.join(",")}] does not have as many elements as pred of shape [${pred.shape.join(",")}]`,
    );
  }
  return reshapeExact(label, pred.shape);
}

export abstract class Loss extends HybridBlock {
  readonly weight: number | null;
  readonly batchAxis: number;
  constructor(weight: number | null, options: LossOptions) {
    super();
    const w = options.weight === undefined ? weight : options.weight;
    if (w !== null && (typeof w !== "number" || !Number.isFinite(w))) {
      throw new Error(`${this.constructor.name}: weight must be a number or null (got ${describe(w)})`);
    }
    this.weight = w;
    const b = options.batchAxis ?? 0;
    if (!Number.isInteger(b)) throw new Error(`${this.constructor.name}: batchAxis must be an integer (got ${describe(b)})`);
    this.batchAxis = b;
  }

  override forward(pred: NDArray, label: NDArray, sampleWeight?: NDArray): NDArray {
    const op = this.constructor.name;
    arrayIn(op, "pred", pred);
    arrayIn(op, "label", label);
    if (sampleWeight !== undefined && sampleWeight !== null) arrayIn(op, "sampleWeight", sampleWeight);
    return scope(() => {
      let loss = this.compute(pred, label);
      // MXNet's _apply_weighting: sample weights, then the scalar weight.
      if (sampleWeight !== undefined && sampleWeight !== null) loss = loss.mul(sampleWeight);
      if (this.weight !== null) loss = loss.mul(this.weight);
      return this.reduceSample(loss);
    });
  }

  /** The elementwise loss, before weighting. */
  protected abstract compute(pred: NDArray, label: NDArray): NDArray;

  /** MXNet's `F.mean(loss, axis=batch_axis, exclude=True)`. */
  protected reduceSample(loss: NDArray, sum = false): NDArray {
    const nd = loss.ndim;
    const b = this.batchAxis < 0 ? this.batchAxis + nd : this.batchAxis;
    if (b < 0 || b >= nd) {
      throw new Error(`${this.constructor.name}: batchAxis ${this.batchAxis} out of range for a loss of shape [${loss.shape.join(",")}]`);
    }
    const axes = [...Array(nd).keys()].filter((i) => i !== b);
    if (axes.length === 0) return loss.copy();
    return sum ? loss.sum(axes) : loss.mean(axes);
  }
}

/** ½·(label − pred)², weighted by `weight` (default 1). */
export class L2Loss extends Loss {
  constructor(options: LossOptions = {}) {
    super(1, options);
  }
  override forward(pred: NDArray, label: NDArray, sampleWeight?: NDArray): NDArray {
    return super.forward(pred, label, sampleWeight);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    return reshapeLike("L2Loss", label, pred).sub(pred).square().mul(0.5);
  }
}

/** |label − pred|. */
export class L1Loss extends Loss {
  constructor(options: LossOptions = {}) {
    super(null, options);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    return reshapeLike("L1Loss", label, pred).sub(pred).abs();
  }
}

/**
 * Binary cross-entropy. On logits (default) MXNet's stable form
 * `relu(x) − x·z + softrelu(−|x|)`; with `fromSigmoid`,
 * `−(log(p + 1e-12)·z + log(1 − p + 1e-12)·(1 − z))`.
 */
export class SigmoidBinaryCrossEntropyLoss extends Loss {
  readonly fromSigmoid: boolean;
  constructor(options: LossOptions & { fromSigmoid?: boolean } = {}) {
    super(null, options);
    this.fromSigmoid = boolArg(this.constructor.name, "fromSigmoid", options.fromSigmoid, false);
  }
  override forward(pred: NDArray, label: NDArray, sampleWeight?: NDArray, posWeight?: NDArray): NDArray {
    if (posWeight === undefined || posWeight === null) return super.forward(pred, label, sampleWeight);
    arrayIn("SigmoidBinaryCrossEntropyLoss", "posWeight", posWeight);
    this.#posWeight = posWeight;
    try {
      return super.forward(pred, label, sampleWeight);
    } finally {
      this.#posWeight = null;
    }
  }
  #posWeight: NDArray | null = null;
  protected compute(pred: NDArray, label: NDArray): NDArray {
    const z = reshapeLike("SigmoidBinaryCrossEntropyLoss", label, pred);
    const pw = this.#posWeight;
    if (!this.fromSigmoid) {
      if (pw === null) return pred.relu().sub(pred.mul(z)).add(pred.abs().neg().softrelu());
      // x − x·z + (1 + (pw − 1)·z)·(softrelu(−|x|) + relu(−x))
      const logWeight = pw.sub(1).mul(z).add(1);
      return pred.sub(pred.mul(z)).add(logWeight.mul(pred.abs().neg().softrelu().add(pred.neg().relu())));
    }
    // MXNet: log(pred + eps)·label + log(1. - pred + eps)·(1. - label), in
    // that order: (1 − pred) first, then + eps, so that a probability of
    // exactly 1 (sigmoid(x) for x ≳ 17 in float32) gives log(1e-12), not
    // log(1 + 1e-12 − 1) = log(0) (1 + 1e-12 rounds to 1 in float32).
    const eps = 1e-12;
    const pos = pred.add(eps).log().mul(z);
    const neg = pred.neg().add(1).add(eps).log().mul(z.neg().add(1));
    return (pw === null ? pos : pos.mul(pw)).add(neg).neg();
  }
}
export const SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss;

/**
 * Softmax cross-entropy: `−log_softmax(pred)[label]` along `axis` (sparse
 * labels, the default; a label out of range is an Error, where MXNet's
 * `pick` would clip it silently) or `−Σ label·log_softmax(pred)`.
 */
export class SoftmaxCrossEntropyLoss extends Loss {
  readonly axis: number;
  readonly sparseLabel: boolean;
  readonly fromLogits: boolean;
  constructor(options: LossOptions & { axis?: number; sparseLabel?: boolean; fromLogits?: boolean } = {}) {
    super(null, options);
    this.axis = intArg(this.constructor.name, "axis", options.axis ?? -1);
    this.sparseLabel = boolArg(this.constructor.name, "sparseLabel", options.sparseLabel, true);
    this.fromLogits = boolArg(this.constructor.name, "fromLogits", options.fromLogits, false);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    const logp = this.fromLogits ? pred : pred.logSoftmax(this.axis);
    if (this.sparseLabel) {
      const ax = this.axis < 0 ? this.axis + pred.ndim : this.axis;
      const want = pred.shape.filter((_, i) => i !== ax);
      if (label.size !== want.reduce((a, b) => a * b, 1)) {
        throw new Error(
          `SoftmaxCrossEntropyLoss: label of shape [${label.shape.join(",")}] does not match pred of shape [${pred.shape.join(",")}] ` +
            `without axis ${this.axis} ([${want.join(",")}])`,
        );
      }
      checkClasses(label, pred.shape[ax]!, pred.shape);
      return logp.pick(reshapeExact(label, want), { axis: this.axis, keepdims: true }).neg();
    }
    return logp.mul(reshapeLike("SoftmaxCrossEntropyLoss", label, pred)).sum(this.axis, true).neg();
  }
}
export const SoftmaxCELoss = SoftmaxCrossEntropyLoss;

/** Class labels must be integers in [0, classes). */
function checkClasses(label: NDArray, classes: number, predShape: number[]): void {
  const v = label.data();
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < classes)) {
      throw new Error(
        `SoftmaxCrossEntropyLoss: label ${c} at flat index ${i} is not a class index in [0, ${classes}) ` +
          `(pred shape [${predShape.join(",")}], label shape [${label.shape.join(",")}])`,
      );
    }
  }
}

function finite(op: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${op}: ${name} must be a finite number (got ${describe(v)})`);
  return v;
}

/** `label·(log(label + 1e-12) − pred)`, summed over the non-batch axes (MXNet's KLDivLoss). */
export class KLDivLoss extends Loss {
  readonly fromLogits: boolean;
  readonly axis: number;
  constructor(options: LossOptions & { fromLogits?: boolean; axis?: number } = {}) {
    super(null, options);
    this.fromLogits = boolArg(this.constructor.name, "fromLogits", options.fromLogits, true);
    this.axis = intArg(this.constructor.name, "axis", options.axis ?? -1);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    const logp = this.fromLogits ? pred : pred.logSoftmax(this.axis);
    return label.mul(label.add(1e-12).log().sub(logp));
  }
  protected override reduceSample(loss: NDArray): NDArray {
    return super.reduceSample(loss, true);
  }
}

/** |d| − ρ/2 where |d| > ρ, else d²/(2ρ). */
export class HuberLoss extends Loss {
  readonly rho: number;
  constructor(options: LossOptions & { rho?: number } = {}) {
    super(null, options);
    this.rho = finite(this.constructor.name, "rho", options.rho ?? 1);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    const d = reshapeLike("HuberLoss", label, pred).sub(pred).abs();
    return where(d.greater(this.rho), d.sub(0.5 * this.rho), d.square().mul(0.5 / this.rho));
  }
}

/** max(0, margin − pred·label), labels ±1. */
export class HingeLoss extends Loss {
  readonly margin: number;
  constructor(options: LossOptions & { margin?: number } = {}) {
    super(null, options);
    this.margin = finite(this.constructor.name, "margin", options.margin ?? 1);
  }
  protected compute(pred: NDArray, label: NDArray): NDArray {
    return pred.mul(reshapeLike("HingeLoss", label, pred)).neg().add(this.margin).relu();
  }
}

/** MXNet's `gluon.loss`. */
export const loss = {
  Loss,
  L2Loss,
  L1Loss,
  SigmoidBinaryCrossEntropyLoss,
  SigmoidBCELoss,
  SoftmaxCrossEntropyLoss,
  SoftmaxCELoss,
  KLDivLoss,
  HuberLoss,
  HingeLoss,
};
