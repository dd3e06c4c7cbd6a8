// Gluon's Trainer (python/mxnet/gluon/trainer.py) with MXNet 1.9.1's
// optimizers (python/mxnet/optimizer/optimizer.py): the per-step scalars
// (learning rate × lrMult, the schedule, Adam's bias correction,
// rescaleGrad = 1/batchSize, wd × wdMult) are computed here, and one engine
// call (`nd_optim_step`, crates/ndgrad-core/src/optim.rs) updates every
// parameter in place with MXNet's fused kernel for the rule. Optimizer
// state lives in engine arrays owned by the trainer (`dispose()` / `using`).
import { describe } from "../args.js";
import { NDGradError, checkStatus, io, wasm } from "../ffi.js";
import { keep } from "../memory.js";
import { zeros } from "../nd.js";
import type { NDArray } from "../ndarray.js";
import { LRScheduler } from "./lr_scheduler.js";
import { Parameter, ParameterDict } from "./parameter.js";

/** Update rule codes (`optim::Rule` in Rust). */
const RULE = { sgd: 0, sgdMom: 1, nagMom: 2, adam: 3, rmsprop: 4, rmspropAlex: 5, adagrad: 6, adadelta: 7 } as const;
/** How many state arrays each rule keeps per parameter (`Rule::states`). */
const STATES = [0, 1, 1, 2, 1, 3, 1, 2];
/** I/O words per parameter (`OPTIM_WORDS` in crates/ndgrad-wasm). */
const WORDS = 9;

export interface OptimizerParams {
  learningRate?: number;
  wd?: number;
  clipGradient?: number | null;
  rescaleGrad?: number;
  lrScheduler?: LRScheduler | null;
  /** sgd, nag */
  momentum?: number;
  /** adam */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** rmsprop */
  gamma1?: number;
  gamma2?: number;
  centered?: boolean;
  clipWeights?: number | null;
  /** adagrad (MXNet's `eps`) */
  eps?: number;
  /** adadelta */
  rho?: number;
  /** Accepted for MXNet compatibility; no effect (no float16, no sparse). */
  multiPrecision?: boolean;
  lazyUpdate?: boolean;
}

/** Each optimizer's own options and defaults (MXNet 1.9.1's `__init__`). */
const OPTIMIZERS: Record<string, { lr: number; own: Record<string, number | boolean | null> }> = {
  sgd: { lr: 0.01, own: { momentum: 0 } },
  nag: { lr: 0.01, own: { momentum: 0 } },
  adam: { lr: 0.001, own: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } },
  rmsprop: { lr: 0.001, own: { gamma1: 0.9, gamma2: 0.9, epsilon: 1e-8, centered: false, clipWeights: null } },
  adagrad: { lr: 0.01, own: { eps: 1e-7 } },
  adadelta: { lr: 0.01, own: { rho: 0.9, epsilon: 1e-5 } },
};
const COMMON = ["learningRate", "wd", "clipGradient", "rescaleGrad", "lrScheduler", "multiPrecision", "lazyUpdate"];

// f64 → two i32 words (low first) for the I/O area.
const f64Box = new Float64Array(1);
const f64Words = new Int32Array(f64Box.buffer);

function num(op: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${op}: ${name} must be a finite number (got ${describe(v)})`);
  return v;
}

export class Trainer {
  readonly optimizer: string;
  readonly #params: Parameter[];
  readonly #names: string[];
  readonly #opts: Record<string, number | boolean | null>;
  #lr: number;
  readonly #scheduler: LRScheduler | null;
  readonly #wd: number;
  readonly #clip: number | null;
  readonly #scale: number;
  #rescaleGrad: number;
  readonly #states = new Map<Parameter, NDArray[]>();
  readonly #counts = new Map<Parameter, number>();
  #numUpdate = 0;
  #disposed = false;

  constructor(
    params: ParameterDict | Parameter[] | Map<string, Parameter> | Record<string, Parameter>,
    optimizer: string,
    optimizerParams: OptimizerParams = {},
  ) {
    const op = "Trainer";
    const list: [string, Parameter][] =
      params instanceof ParameterDict || params instanceof Map
        ? [...params.entries()]
        : Array.isArray(params)
          ? params.map((p) => [p instanceof Parameter ? p.name : "", p])
          : params !== null && typeof params === "object"
            ? Object.entries(params)
            : [];
    if (list.length === 0 && !(params instanceof ParameterDict || params instanceof Map || Array.isArray(params))) {
      throw new Error(`${op}: params must be a ParameterDict, a list of Parameters or a dict (got ${describe(params)})`);
    }
    const seen = new Set<Parameter>();
    this.#params = [];
    this.#names = [];
    for (const [name, p] of list) {
      if (!(p instanceof Parameter)) throw new Error(`${op}: params must contain Parameters (got ${describe(p)} for "${name}")`);
      if (seen.has(p)) continue;
      seen.add(p);
      this.#params.push(p);
      this.#names.push(name || p.name);
    }
    if (typeof optimizer !== "string" || !Object.hasOwn(OPTIMIZERS, optimizer.toLowerCase())) {
      throw new Error(`${op}: unknown optimizer ${describe(optimizer)} (expected one of ${Object.keys(OPTIMIZERS).join(", ")})`);
    }
    this.optimizer = optimizer.toLowerCase();
    const spec = OPTIMIZERS[this.optimizer]!;
    if (optimizerParams === null || typeof optimizerParams !== "object") {
      throw new Error(`${op}: optimizerParams must be an object (got ${describe(optimizerParams)})`);
    }
    for (const k of Object.keys(optimizerParams)) {
      if (!COMMON.includes(k) && !Object.hasOwn(spec.own, k)) {
        throw new Error(
          `${op}: unknown option "${k}" for optimizer "${this.optimizer}" (known: ${[...COMMON, ...Object.keys(spec.own)].join(", ")})`,
        );
      }
    }
    const o = optimizerParams as Record<string, unknown>;
    this.#opts = {};
    for (const [k, dflt] of Object.entries(spec.own)) {
      const v = o[k] ?? dflt;
      if (k === "centered") {
        if (typeof v !== "boolean") throw new Error(`${op}: centered must be a boolean (got ${describe(v)})`);
      } else if (v !== null) num(op, k, v);
      this.#opts[k] = v as number | boolean | null;
    }
    const sched = o.lrScheduler ?? null;
    if (sched !== null && !(sched instanceof LRScheduler)) throw new Error(`${op}: lrScheduler must be an LRScheduler (got ${describe(sched)})`);
    this.#scheduler = sched;
    // MXNet: learning_rate defaults to 0.01 without a scheduler; given
    // both, the scheduler's base rate is overwritten.
    const lr = o.learningRate === undefined || o.learningRate === null ? null : num(op, "learningRate", o.learningRate);
    this.#lr = lr ?? (sched !== null ? sched.baseLr : spec.lr);
    if (sched !== null && lr !== null) sched.baseLr = lr;
    this.#wd = o.wd === undefined ? 0 : num(op, "wd", o.wd);
    this.#clip = o.clipGradient === undefined || o.clipGradient === null ? null : num(op, "clipGradient", o.clipGradient);
    this.#scale = o.rescaleGrad === undefined ? 1 : num(op, "rescaleGrad", o.rescaleGrad);
    this.#rescaleGrad = this.#scale;
  }

  /** The current learning rate (the schedule's, if there is one). */
  get learningRate(): number {
    return this.#scheduler !== null ? this.#scheduler.call(this.#numUpdate) : this.#lr;
  }

  /** MXNet's `set_learning_rate` (an Error with a scheduler, as MXNet). */
  setLearningRate(lr: number): void {
    if (this.#scheduler !== null) {
      throw new Error("Trainer.setLearningRate: the optimizer has an lrScheduler; the learning rate is the schedule's");
    }
    this.#lr = num("Trainer.setLearningRate", "lr", lr);
  }

  /** The parameters this trainer updates. */
  get params(): Parameter[] {
    return this.#params.slice();
  }

  /**
   * One optimizer step with `rescaleGrad = 1/batchSize`: every parameter
   * whose gradReq is not "null" is updated in place, in one engine call.
   * A failure leaves every parameter as it was.
   */
  step(batchSize: number, ignoreStaleGrad = false): void {
    const op = "Trainer.step";
    if (this.#disposed) throw new Error(`${op}: the trainer has been disposed`);
    this.#rescale(op, batchSize);
    this.#update(op, ignoreStaleGrad);
  }

  /**
   * MXNet's `update(batch_size, ignore_stale_grad)`: the step without the
   * gradient reduction (a no-op here: one device). Without `batchSize` the
   * last step's `rescaleGrad` is kept.
   */
  update(batchSize?: number, ignoreStaleGrad = false): void {
    const op = "Trainer.update";
    if (this.#disposed) throw new Error(`${op}: the trainer has been disposed`);
    if (batchSize !== undefined) this.#rescale(op, batchSize);
    this.#update(op, ignoreStaleGrad);
  }

  #rescale(op: string, batchSize: number): void {
    if (typeof batchSize !== "number" || !(batchSize > 0) || !Number.isFinite(batchSize)) {
      throw new Error(`${op}: batchSize must be a positive number (got ${describe(batchSize)})`);
    }
    this.#rescaleGrad = this.#scale / batchSize;
  }

  #update(op: string, ignoreStaleGrad: boolean): void {
    if (typeof ignoreStaleGrad !== "boolean") {
      throw new Error(`${op}: ignoreStaleGrad must be a boolean (got ${describe(ignoreStaleGrad)})`);
    }
    let active = this.#params.filter((p) => p.gradReq !== "null");
    let names = this.#names.filter((_, i) => this.#params[i]!.gradReq !== "null");
    // Check everything that can fail in JavaScript before the engine writes.
    let datas = active.map((p) => {
      const d = p.data();
      const g = d.grad;
      if (g === null) throw new Error(`${op}: parameter ${p.name} has no gradient buffer`);
      return [d, g] as const;
    });
    // MXNet 1.9.1's Trainer._update (python/mxnet/gluon/trainer.py): a
    // gradient backward has not written since the last step is refused, or
    // with ignoreStaleGrad its parameter is left alone (no update, no count).
    const fresh = datas.map(([d]) => d._freshGrad);
    if (!ignoreStaleGrad) {
      const i = fresh.indexOf(false);
      if (i >= 0) {
        throw new Error(
          `${op}: Gradient of Parameter \`${names[i]}\` on context cpu(0) has not been updated by backward since last \`step\`. ` +
            "This could mean a bug in your model that made it only use a subset of the Parameters (Blocks) for this iteration. " +
            "If you are intentionally only using a subset, call step with ignoreStaleGrad = true to suppress this error " +
            "and skip updating of Parameters with stale gradient",
        );
      }
    } else {
      active = active.filter((_, i) => fresh[i]);
      names = names.filter((_, i) => fresh[i]);
      datas = datas.filter((_, i) => fresh[i]);
    }
    if (active.length === 0) return;
    const rule = this.#rule();
    const nStates = STATES[rule]!;
    for (const [i, p] of active.entries()) {
      const d = datas[i]![0];
      let st = this.#states.get(p);
      if (st !== undefined && st.some((s) => s.shape.join(",") !== d.shape.join(",") || s.dtype !== d.dtype)) {
        for (const s of st) s.dispose();
        st = undefined;
      }
      if (st === undefined) {
        st = [];
        for (let k = 0; k < nStates; k++) st.push(keep(zeros(d.shape, { dtype: d.dtype })));
        this.#states.set(p, st);
      }
    }
    // MXNet's _update_count, then the schedule at the new num_update.
    const counts = active.map((p) => (this.#counts.get(p) ?? 0) + 1);
    const numUpdate = Math.max(this.#numUpdate, ...counts);
    const baseLr = this.#scheduler !== null ? this.#scheduler.call(numUpdate) : this.#lr;
    const o = this.#opts;
    let a = 0;
    let b = 0;
    let eps = 0;
    let clipWeights = -1;
    switch (this.optimizer) {
      case "sgd":
      case "nag":
        a = o.momentum as number;
        break;
      case "adam":
        a = o.beta1 as number;
        b = o.beta2 as number;
        eps = o.epsilon as number;
        break;
      case "rmsprop":
        a = o.gamma1 as number;
        b = o.gamma2 as number;
        eps = o.epsilon as number;
        clipWeights = o.clipWeights ? (o.clipWeights as number) : -1;
        break;
      case "adagrad":
        eps = o.eps as number;
        break;
      case "adadelta":
        a = o.rho as number;
        eps = o.epsilon as number;
        break;
    }
    // sgd/nag/adam/rmsprop clip when clip_gradient is truthy; AdaGrad and
    // AdaDelta (written in Python in MXNet) whenever it is not None.
    const pyClip = this.optimizer === "adagrad" || this.optimizer === "adadelta";
    const clip = this.#clip === null || (!pyClip && this.#clip === 0) ? -1 : this.#clip;
    const maxPer = Math.floor(io().length / WORDS);
    for (let start = 0; start < active.length; start += maxPer) {
      const end = Math.min(active.length, start + maxPer);
      const v = io();
      for (let i = start; i < end; i++) {
        const p = active[i]!;
        const [d, g] = datas[i]!;
        let lr = baseLr * p.lrMult;
        if (this.optimizer === "adam") {
          const t = counts[i]!;
          lr *= Math.sqrt(1 - (o.beta2 as number) ** t) / (1 - (o.beta1 as number) ** t);
        }
        const wd = this.#wd * p.wdMult;
        const at = (i - start) * WORDS;
        v[at] = d.handleFor(op);
        v[at + 1] = g.handleFor(op);
        const st = this.#states.get(p)!;
        for (let k = 0; k < 3; k++) v[at + 2 + k] = k < st.length ? st[k]!.handleFor(op) : 0;
        f64Box[0] = lr;
        v[at + 5] = f64Words[0]!;
        v[at + 6] = f64Words[1]!;
        f64Box[0] = wd;
        v[at + 7] = f64Words[0]!;
        v[at + 8] = f64Words[1]!;
      }
      try {
        checkStatus(wasm.nd_optim_step(rule, end - start, this.#rescaleGrad, clip, a, b, eps, clipWeights));
      } catch (e) {
        // The engine numbers parameters within the call; name them.
        if (e instanceof NDGradError) {
          const msg = e.message.replace(/parameter (\d+)/, (_, k: string) => `parameter ${names[start + Number(k)] ?? k}`);
          throw new NDGradError(`${op}: ${msg}`, e.kind);
        }
        throw e;
      }
    }
    active.forEach((p, i) => this.#counts.set(p, counts[i]!));
    this.#numUpdate = numUpdate;
    for (const [d] of datas) d._freshGrad = false;
  }

  #rule(): number {
    const o = this.#opts;
    switch (this.optimizer) {
      case "sgd":
        return (o.momentum as number) > 0 ? RULE.sgdMom : RULE.sgd;
      case "nag":
        return (o.momentum as number) > 0 ? RULE.nagMom : RULE.sgd;
      case "adam":
        return RULE.adam;
      case "rmsprop":
        return o.centered === true ? RULE.rmspropAlex : RULE.rmsprop;
      case "adagrad":
        return RULE.adagrad;
      default:
        return RULE.adadelta;
    }
  }

  /** Free the optimizer state (engine memory). */
  dispose(): void {
    for (const st of this.#states.values()) for (const s of st) s.dispose();
    this.#states.clear();
    this.#disposed = true;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
