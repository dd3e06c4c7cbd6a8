// MXNet's evaluation metrics (python/mxnet/metric.py, 1.9.1): running sums
// kept in JavaScript numbers, values read from the arrays once per update.
import { describe } from "../args.js";
import { NDArray } from "../ndarray.js";

function asList(op: string, what: string, v: unknown): NDArray[] {
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) {
    if (!(x instanceof NDArray)) throw new Error(`${op}.update: ${what} must be NDArrays (got ${describe(x)})`);
  }
  return list as NDArray[];
}

/** `check_label_shapes(labels, preds, wrap=True)`: as many labels as predictions. */
function pairs(op: string, labels: unknown, preds: unknown): [NDArray, NDArray][] {
  const ls = asList(op, "labels", labels);
  const ps = asList(op, "preds", preds);
  if (ls.length !== ps.length) {
    throw new Error(`${op}.update: ${ls.length} label arrays but ${ps.length} prediction arrays`);
  }
  return ls.map((l, i) => [l, ps[i]!]);
}

export abstract class EvalMetric {
  name: string;
  sumMetric = 0;
  numInst = 0;
  constructor(name: string) {
    this.name = name;
  }
  abstract update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void;
  /** `[name, value]`; NaN before any update (as MXNet). */
  get(): [string, number] {
    return [this.name, this.numInst === 0 ? NaN : this.sumMetric / this.numInst];
  }
  reset(): void {
    this.sumMetric = 0;
    this.numInst = 0;
  }
  toString(): string {
    const [n, v] = this.get();
    return `EvalMetric: {'${n}': ${v}}`;
  }
}

/** The fraction of predictions (argmax along `axis` when shapes differ) equal to the labels. */
export class Accuracy extends EvalMetric {
  readonly axis: number;
  constructor(options: { axis?: number; name?: string } = {}) {
    super(options.name ?? "accuracy");
    this.axis = options.axis ?? 1;
  }
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    for (const [label, pred] of pairs("Accuracy", labels, preds)) {
      let p: ArrayLike<number>;
      if (pred.shape.join(",") !== label.shape.join(",")) {
        const am = pred.argmax(this.axis);
        p = am.data();
        am.dispose();
      } else {
        p = pred.data();
      }
      const l = label.data();
      if (p.length !== l.length) {
        throw new Error(
          `Accuracy.update: ${l.length} labels (shape [${label.shape.join(",")}]) but ${p.length} predictions (shape [${pred.shape.join(",")}])`,
        );
      }
      let correct = 0;
      // MXNet compares after astype('int32') (truncation).
      for (let i = 0; i < l.length; i++) if (Math.trunc(p[i]!) === Math.trunc(l[i]!)) correct++;
      this.sumMetric += correct;
      this.numInst += l.length;
    }
  }
}

/** Whether the label is among the `topK` highest-scored classes. */
export class TopKAccuracy extends EvalMetric {
  readonly topK: number;
  constructor(topK = 1, options: { name?: string } = {}) {
    if (!Number.isInteger(topK) || topK <= 1) {
      throw new Error(`TopKAccuracy: topK must be an integer above 1 (got ${describe(topK)}); use Accuracy for top 1`);
    }
    super(`${options.name ?? "top_k_accuracy"}_${topK}`);
    this.topK = topK;
  }
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    for (const [label, pred] of pairs("TopKAccuracy", labels, preds)) {
      if (pred.ndim > 2) throw new Error(`TopKAccuracy.update: predictions must have at most 2 dims (got [${pred.shape.join(",")}])`);
      const p = pred.data();
      const l = label.data();
      const n = pred.ndim === 2 ? pred.shape[0]! : p.length;
      const c = pred.ndim === 2 ? pred.shape[1]! : 1;
      if (l.length !== n) {
        throw new Error(`TopKAccuracy.update: ${l.length} labels but ${n} predictions (shape [${pred.shape.join(",")}])`);
      }
      const k = Math.min(c, this.topK);
      for (let i = 0; i < n; i++) {
        const want = Math.trunc(l[i]!);
        if (want < 0 || want >= c) continue;
        // The label is in the top k when fewer than k scores beat it.
        const s = Math.fround(p[i * c + want]!);
        let above = 0;
        for (let j = 0; j < c; j++) if (Math.fround(p[i * c + j]!) > s) above++;
        if (above < k) this.sumMetric += 1;
      }
      this.numInst += n;
    }
  }
}

function meanOf(op: string, label: NDArray, pred: NDArray, f: (d: number) => number): number {
  const l = label.data();
  const p = pred.data();
  if (l.length !== p.length) {
    throw new Error(`${op}.update: label of shape [${label.shape.join(",")}] and prediction of shape [${pred.shape.join(",")}] differ`);
  }
  let s = 0;
  for (let i = 0; i < l.length; i++) s += f(l[i]! - p[i]!);
  return l.length === 0 ? NaN : s / l.length;
}

/** Mean absolute error, averaged per update (MXNet counts one instance per array). */
export class MAE extends EvalMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? "mae");
  }
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    for (const [label, pred] of pairs("MAE", labels, preds)) {
      this.sumMetric += meanOf("MAE", label, pred, Math.abs);
      this.numInst += 1;
    }
  }
}

/** Mean squared error, averaged per update (as MXNet). */
export class MSE extends EvalMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? "mse");
  }
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    for (const [label, pred] of pairs("MSE", labels, preds)) {
      this.sumMetric += meanOf("MSE", label, pred, (d) => d * d);
      this.numInst += 1;
    }
  }
}

/** −log(p[label] + eps) per sample, of probabilities `preds` (N, C). */
export class CrossEntropy extends EvalMetric {
  readonly eps: number;
  constructor(options: { eps?: number; name?: string } = {}) {
    super(options.name ?? "cross-entropy");
    this.eps = options.eps ?? 1e-12;
  }
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    for (const [label, pred] of pairs("CrossEntropy", labels, preds)) {
      const l = label.data();
      if (pred.ndim !== 2 || pred.shape[0] !== l.length) {
        throw new Error(
          `CrossEntropy.update: predictions of shape [${pred.shape.join(",")}] must be (N, C) with N = ${l.length} labels`,
        );
      }
      const c = pred.shape[1]!;
      const p = pred.data();
      let s = 0;
      for (let i = 0; i < l.length; i++) {
        const k = Math.trunc(l[i]!);
        if (!(k >= 0 && k < c)) throw new Error(`CrossEntropy.update: label ${l[i]} at ${i} is not a class index in [0, ${c})`);
        s += -Math.log(p[i * c + k]! + this.eps);
      }
      this.sumMetric += s;
      this.numInst += l.length;
    }
  }
}

/** MXNet's `mx.metric`. */
export const metric = { EvalMetric, Accuracy, TopKAccuracy, MAE, MSE, CrossEntropy };
