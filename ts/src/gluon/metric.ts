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

/**
 * The mean of f(label − pred) over NumPy's broadcast of the two, after
 * MXNet's reshape of a 1-D label or prediction to (N, 1) (`MSE.update`,
 * `MAE.update`, `RMSE.update` in python/mxnet/metric.py, 1.9.1): a (N,)
 * label against an (N, C) prediction is compared with every column.
 * Computed in doubles.
 */
function meanOf(op: string, label: NDArray, pred: NDArray, f: (d: number) => number): number {
  const as2d = (s: readonly number[]): number[] => (s.length === 1 ? [s[0]!, 1] : [...s]);
  const ls = as2d(label.shape);
  const ps = as2d(pred.shape);
  const nd = Math.max(ls.length, ps.length);
  const lp = [...new Array<number>(nd - ls.length).fill(1), ...ls];
  const pp = [...new Array<number>(nd - ps.length).fill(1), ...ps];
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    const a = lp[i]!;
    const b = pp[i]!;
    if (a !== b && a !== 1 && b !== 1) {
      throw new Error(
        `${op}.update: label of shape [${label.shape.join(",")}] and prediction of shape [${pred.shape.join(",")}] do not broadcast` +
          ` (as (${ls.join(",")}) against (${ps.join(",")}))`,
      );
    }
    out.push(a === 1 ? b : a);
  }
  const l = label.data();
  const p = pred.data();
  const n = out.reduce((x, y) => x * y, 1);
  if (n === 0) return NaN; // NumPy's mean of nothing
  // Row-major strides, 0 along a broadcast axis.
  const strides = (shape: number[]): number[] => {
    const st = new Array<number>(nd).fill(0);
    let acc = 1;
    for (let i = nd - 1; i >= 0; i--) {
      st[i] = shape[i] === 1 ? 0 : acc;
      acc *= shape[i]!;
    }
    return st;
  };
  const sl = strides(lp);
  const sp = strides(pp);
  const idx = new Array<number>(nd).fill(0);
  let il = 0;
  let ip = 0;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += f(l[il]! - p[ip]!);
    // Advance the multi-index, last axis fastest.
    for (let ax = nd - 1; ax >= 0; ax--) {
      idx[ax]! += 1;
      il += sl[ax]!;
      ip += sp[ax]!;
      if (idx[ax]! < out[ax]!) break;
      il -= sl[ax]! * out[ax]!;
      ip -= sp[ax]! * out[ax]!;
      idx[ax] = 0;
    }
  }
  return sum / n;
}

/** A metric of one number per (label, prediction) pair, averaged over pairs (MXNet counts one instance per array). */
abstract class PerPairMetric extends EvalMetric {
  /** `op` names the metric in errors (a bundler may rename the class). */
  constructor(
    private readonly op: string,
    name: string,
  ) {
    super(name);
  }
  /** The pair's value. */
  protected abstract value(op: string, label: NDArray, pred: NDArray): number;
  update(labels: NDArray | NDArray[], preds: NDArray | NDArray[]): void {
    const op = this.op;
    // Every pair checked before the running sums change.
    const m = pairs(op, labels, preds).map(([label, pred]) => this.value(op, label, pred));
    for (const v of m) {
      this.sumMetric += v;
      this.numInst += 1;
    }
  }
}

/** Mean absolute error, averaged per update (MXNet counts one instance per array). */
export class MAE extends PerPairMetric {
  constructor(options: { name?: string } = {}) {
    super("MAE", options.name ?? "mae");
  }
  protected value(op: string, label: NDArray, pred: NDArray): number {
    return meanOf(op, label, pred, Math.abs);
  }
}

/** Mean squared error, averaged per update (as MXNet). */
export class MSE extends PerPairMetric {
  constructor(options: { name?: string } = {}) {
    super("MSE", options.name ?? "mse");
  }
  protected value(op: string, label: NDArray, pred: NDArray): number {
    return meanOf(op, label, pred, (d) => d * d);
  }
}

/** Root mean squared error per update, averaged over updates (MXNet's `RMSE`). */
export class RMSE extends PerPairMetric {
  constructor(options: { name?: string } = {}) {
    super("RMSE", options.name ?? "rmse");
  }
  protected value(op: string, label: NDArray, pred: NDArray): number {
    return Math.sqrt(meanOf(op, label, pred, (d) => d * d));
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
export const metric = { EvalMetric, Accuracy, TopKAccuracy, MAE, MSE, RMSE, CrossEntropy };
