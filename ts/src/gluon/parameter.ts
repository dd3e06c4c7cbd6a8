// Gluon's Parameter and ParameterDict (python/mxnet/gluon/parameter.py,
// 1.9.1). A parameter's value is an ordinary ndgrad array with an attached
// gradient, so everything autograd does (higher order, gradReq "add")
// works through layers unchanged.
import { describe, MAX_ELEMENTS } from "../args.js";
import { zeros } from "../nd.js";
import { NDArray, type DType, type GradReq } from "../ndarray.js";
import { keep } from "../memory.js";
import { autograd } from "../autograd.js";
import { Initializer, Uniform, create } from "./init.js";

export interface ParameterOptions {
  /** Dimensions of 0 are unknown until the first batch (deferred init). */
  shape?: number[] | number;
  dtype?: DType;
  init?: Initializer | string | null;
  gradReq?: GradReq;
  lrMult?: number;
  wdMult?: number;
  allowDeferredInit?: boolean;
  differentiable?: boolean;
}

const GRAD_REQS: readonly GradReq[] = ["write", "add", "null"];

export class Parameter {
  readonly name: string;
  #shape: number[];
  readonly dtype: DType;
  init: Initializer | null;
  lrMult: number;
  wdMult: number;
  readonly allowDeferredInit: boolean;
  #gradReq: GradReq;
  #data: NDArray | null = null;
  /** The initializer waiting for the shape (MXNet's `_deferred_init`). */
  #deferred: Initializer | null = null;

  constructor(name: string, options: ParameterOptions = {}) {
    this.name = name;
    const shape = options.shape ?? [];
    this.#shape = typeof shape === "number" ? [shape] : shape.slice();
    for (const d of this.#shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Parameter ${name}: bad shape [${this.#shape.join(",")}]`);
    }
    this.dtype = options.dtype ?? "float32";
    this.init = options.init === undefined || options.init === null ? null : create(options.init, `Parameter ${name}`);
    this.lrMult = options.lrMult ?? 1;
    this.wdMult = options.wdMult ?? 1;
    this.allowDeferredInit = options.allowDeferredInit ?? true;
    const req = options.differentiable === false ? "null" : (options.gradReq ?? "write");
    if (!GRAD_REQS.includes(req)) throw new Error(`Parameter ${name}: gradReq must be "write", "add" or "null" (got ${describe(req)})`);
    this.#gradReq = req;
  }

  /** The shape; 0 marks a dimension not known yet. */
  get shape(): number[] {
    return this.#shape.slice();
  }
  /** @internal Complete unknown dimensions (deferred init); known ones must agree. */
  set shape(shape: number[]) {
    const cur = this.#shape;
    const ok =
      cur.length === 0 ||
      (cur.length === shape.length && cur.every((d, i) => d === 0 || d === shape[i]));
    if (!ok) {
      throw new Error(
        `Parameter ${this.name}: expected shape [${cur.join(",")}] (0 = unknown), got [${shape.join(",")}]` +
          (this.#data !== null ? " (the input does not match what the layer was initialized for)" : ""),
      );
    }
    this.#shape = shape.slice();
  }
  get shapeKnown(): boolean {
    return this.#shape.length > 0 && this.#shape.every((d) => d > 0);
  }

  get gradReq(): GradReq {
    return this.#gradReq;
  }
  set gradReq(req: GradReq) {
    if (!GRAD_REQS.includes(req)) {
      throw new Error(`Parameter ${this.name}: gradReq must be "write", "add" or "null" (got ${describe(req)})`);
    }
    if (req === this.#gradReq) return;
    this.#gradReq = req;
    if (this.#data !== null) this.#attach();
  }

  /** Whether `initialize` ran and the shape is known (not deferred). */
  get initialized(): boolean {
    return this.#data !== null;
  }

  /**
   * MXNet's `Parameter.initialize`: with the shape known, fill it now with
   * this parameter's own initializer, else `defaultInit`; with unknown
   * dimensions, wait for the first batch.
   */
  initialize(init: Initializer | string | null = null, options: { defaultInit?: Initializer; forceReinit?: boolean } = {}): void {
    if (this.#data !== null && options.forceReinit !== true) return;
    const chosen = init !== null ? create(init, `Parameter ${this.name}`) : (this.init ?? options.defaultInit ?? new Uniform());
    if (this.shapeKnown) this.#checkSize();
    this.#free();
    if (!this.shapeKnown) {
      if (!this.allowDeferredInit) {
        throw new Error(`Parameter ${this.name}: cannot initialize with unknown shape [${this.#shape.join(",")}]`);
      }
      this.#deferred = chosen;
      return;
    }
    this.#deferred = chosen;
    this.finishDeferredInit();
  }

  /** @internal Run the waiting initializer once the shape is known. */
  finishDeferredInit(): void {
    const init = this.#deferred;
    if (init === null || this.#data !== null) return;
    if (!this.shapeKnown) {
      throw new Error(`Parameter ${this.name}: shape [${this.#shape.join(",")}] is still unknown`);
    }
    this.#checkSize();
    const data = keep(zeros(this.#shape, { dtype: this.dtype }));
    try {
      autograd.pause(() => init.call({ name: this.name }, data));
    } catch (e) {
      data.dispose();
      throw e;
    }
    this.#deferred = null;
    this.#data = data;
    this.#attach();
  }

  /** A shape too large for any array, refused naming this parameter (the engine would name only `zeros`). */
  #checkSize(): void {
    const n = this.#shape.reduce((a, b) => a * b, 1);
    if (n > MAX_ELEMENTS) {
      throw new Error(
        `Parameter ${this.name}: shape [${this.#shape.join(",")}] has ${n} elements, more than an array can hold (${MAX_ELEMENTS}, 2^30)`,
      );
    }
  }

  #attach(): void {
    if (this.#data === null) return;
    this.#data.attachGrad(this.#gradReq);
  }

  #check(what: string): NDArray {
    if (this.#data !== null) return this.#data;
    if (this.#deferred !== null) {
      throw new Error(
        `Parameter ${this.name}: ${what}: not initialized yet because initialization was deferred (shape [${this.#shape.join(",")}]); ` +
          "it happens during the first forward pass",
      );
    }
    throw new Error(
      `Parameter ${this.name}: ${what}: it has not been initialized; call initialize() on the block (or the parameter) first`,
    );
  }

  /** The value (an NDArray that carries the gradient buffer). */
  data(): NDArray {
    return this.#check("data");
  }

  /** The gradient buffer; an Error if gradReq is "null". */
  grad(): NDArray {
    const d = this.#check("grad");
    if (this.#gradReq === "null") {
      throw new Error(`Parameter ${this.name}: grad: it has no gradient because gradReq is "null"`);
    }
    const g = d.grad;
    if (g === null) throw new Error(`Parameter ${this.name}: grad: no gradient buffer`);
    return g;
  }

  /** Write `v` into the value in place (MXNet's `set_data`). */
  setData(v: NDArray | number): void {
    if (this.#data === null && this.#deferred !== null && v instanceof NDArray) {
      // As MXNet: setting data of a deferred parameter fixes its shape.
      this.shape = v.shape;
      this.finishDeferredInit();
    }
    const d = this.#check("setData");
    if (v instanceof NDArray && v.shape.join(",") !== d.shape.join(",")) {
      throw new Error(`Parameter ${this.name}: setData: value of shape [${v.shape.join(",")}] does not match [${d.shape.join(",")}]`);
    }
    d.set(v);
  }

  /**
   * @internal `load_parameters`: take `v`'s values (a copy), fixing unknown
   * dimensions and initializing a parameter that was never initialized.
   * The caller has checked the shape with `compatible`.
   */
  loadData(v: NDArray): void {
    if (this.#data !== null) {
      this.#data.set(v);
      return;
    }
    this.shape = v.shape;
    const data = keep(v.astype(this.dtype));
    this.#deferred = null;
    this.#data = data;
    this.#attach();
  }

  /** Whether a value of `shape` fits (0 = unknown dimension). */
  compatible(shape: number[]): boolean {
    const cur = this.#shape;
    return cur.length === 0 || (cur.length === shape.length && cur.every((d, i) => d === 0 || d === shape[i]));
  }

  /** Zero the gradient buffer (for gradReq "add"). */
  zeroGrad(): void {
    if (this.#data === null || this.#gradReq === "null") return;
    this.#data.grad?.set(0);
  }

  /** Free the value; the parameter needs `initialize` again. */
  dispose(): void {
    this.#free();
    this.#deferred = null;
  }

  #free(): void {
    this.#data?.dispose();
    this.#data = null;
  }

  toString(): string {
    return `Parameter ${this.name} (shape=(${this.#shape.join(", ")}), dtype=${this.dtype})`;
  }
}

/** Parameters by structural name (`"0.weight"`, `"dense0.bias"`), in registration order. */
export class ParameterDict implements Iterable<[string, Parameter]> {
  readonly #params = new Map<string, Parameter>();

  /** @internal */
  set(name: string, p: Parameter): void {
    this.#params.set(name, p);
  }
  keys(): string[] {
    return [...this.#params.keys()];
  }
  values(): Parameter[] {
    return [...this.#params.values()];
  }
  entries(): [string, Parameter][] {
    return [...this.#params.entries()];
  }
  has(name: string): boolean {
    return this.#params.has(name);
  }
  get(name: string): Parameter {
    const p = this.#params.get(name);
    if (p === undefined) {
      throw new Error(`ParameterDict: no parameter named "${name}" (have: ${this.keys().join(", ") || "none"})`);
    }
    return p;
  }
  get size(): number {
    return this.#params.size;
  }
  [Symbol.iterator](): Iterator<[string, Parameter]> {
    return this.#params.entries();
  }
  /** MXNet's `ParameterDict.initialize`: every parameter, `init` the default. */
  initialize(init: Initializer | string = new Uniform(), options: { forceReinit?: boolean } = {}): void {
    const defaultInit = create(init, "initialize");
    for (const p of this.#params.values()) p.initialize(null, { defaultInit, forceReinit: options.forceReinit ?? false });
  }
  zeroGrad(): void {
    for (const p of this.#params.values()) p.zeroGrad();
  }
  /** MXNet's `setattr`: e.g. `setattr("gradReq", "null")` or `setattr("lrMult", 0.1)`. */
  setattr(name: "gradReq" | "lrMult" | "wdMult", value: GradReq | number): void {
    for (const p of this.#params.values()) {
      if (name === "gradReq") p.gradReq = value as GradReq;
      else if (name === "lrMult" || name === "wdMult") {
        if (typeof value !== "number") throw new Error(`setattr: ${name} must be a number (got ${describe(value)})`);
        p[name] = value;
      } else throw new Error(`setattr: unknown attribute ${describe(name)} (gradReq, lrMult or wdMult)`);
    }
  }
  toString(): string {
    return `(\n${[...this.#params.entries()].map(([k, p]) => `  ${k}: ${p.toString()}`).join("\n")}\n)`;
  }
}
