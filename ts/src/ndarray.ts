// The NDArray class: a handle into the engine plus its shape. Every method
// is one call into WebAssembly; values never stay in JavaScript.
import { MAX_RANK, axesArg, boolArg, describe, intArg, mxnetReshapeSpec, numArg, shapeArg } from "./args.js";
import {
  BINARY,
  REDUCE,
  UNARY,
  checkHandle,
  checkStatus,
  dataView,
  DTYPES,
  dtypeCode,
  isNDData,
  NDGradError,
  raise,
  resultDtype,
  resultShape,
  type NDData,
  wasm,
  withHostErrors,
  writeInts,
} from "./ffi.js";
import { formatArray, type DType } from "./format.js";
import { UNARY_OPS } from "./opnames.js";
import { markVariable, track, untrack } from "./memory.js";

export type { DType, NDData };
export type GradReq = "write" | "add" | "null";
/** A nested array of numbers, as `toArray()` returns and `nd.array` takes. */
export type NestedArray = number | NestedArray[];
/** An axis or several; omitted (or null) for all axes. */
export type Axis = number | number[] | null | undefined;

const GRAD_REQ: Record<GradReq, number> = { null: 0, write: 1, add: 2 };
const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

export interface BackwardOptions {
  retainGraph?: boolean;
  trainMode?: boolean;
}

export interface ReduceOptions {
  axis?: Axis;
  keepdims?: boolean;
}

/** Arrays constructed so far: each array's `_serial` is its place in that count. */
let created = 0;

/** @internal How many arrays have been constructed (a later array has a larger `_serial`). */
export function arraysCreated(): number {
  return created;
}

export class NDArray {
  #h: number;
  #shape: number[];
  readonly #serial = ++created;
  /** The `.grad` view, owned by this array (disposed with it). */
  #grad: NDArray | null = null;
  #dtype: DType;

  /** @internal Use `nd.array` and friends; this wraps an engine handle. */
  constructor(handle: number, shape: number[], dtype?: DType) {
    this.#h = handle;
    this.#shape = shape;
    this.#dtype = dtype ?? DTYPE_BY_CODE[wasm.nd_dtype(handle)] ?? "float32";
    track(this);
  }

  /** @internal When this array was constructed (see `arraysCreated`). */
  get _serial(): number {
    return this.#serial;
  }

  /** `"float32"` (the default), `"float64"`, `"int32"` or `"uint8"`. */
  get dtype(): DType {
    return this.#dtype;
  }

  /** @internal The live handle, or an Error naming `op` if disposed. */
  handleFor(op: string): number {
    if (this.#h === 0) {
      throw new Error(`${op}: the array has been disposed (shape [${this.#shape.join(",")}])`);
    }
    return this.#h;
  }

  get shape(): number[] {
    return this.#shape.slice();
  }
  get size(): number {
    return this.#shape.reduce((a, b) => a * b, 1);
  }
  get ndim(): number {
    return this.#shape.length;
  }
  get context(): string {
    return "cpu(0)";
  }
  get isDisposed(): boolean {
    return this.#h === 0;
  }

  // ---- elementwise ----
  add(y: NDArray | number): NDArray {
    return binary("add", this, y);
  }
  sub(y: NDArray | number): NDArray {
    return binary("sub", this, y);
  }
  mul(y: NDArray | number): NDArray {
    return binary("mul", this, y);
  }
  div(y: NDArray | number): NDArray {
    return binary("div", this, y);
  }
  pow(y: NDArray | number): NDArray {
    return binary("pow", this, y);
  }
  maximum(y: NDArray | number): NDArray {
    return binary("maximum", this, y);
  }
  minimum(y: NDArray | number): NDArray {
    return binary("minimum", this, y);
  }
  equal(y: NDArray | number): NDArray {
    return binary("equal", this, y);
  }
  notEqual(y: NDArray | number): NDArray {
    return binary("notEqual", this, y);
  }
  greater(y: NDArray | number): NDArray {
    return binary("greater", this, y);
  }
  greaterEqual(y: NDArray | number): NDArray {
    return binary("greaterEqual", this, y);
  }
  lesser(y: NDArray | number): NDArray {
    return binary("lesser", this, y);
  }
  lesserEqual(y: NDArray | number): NDArray {
    return binary("lesserEqual", this, y);
  }
  // ---- reductions ----
  sum(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("sum", this, axis, keepdims);
  }
  mean(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("mean", this, axis, keepdims);
  }
  max(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("max", this, axis, keepdims);
  }
  min(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("min", this, axis, keepdims);
  }
  prod(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("prod", this, axis, keepdims);
  }
  /**
   * MXNet's `norm`: L2 over all elements by default (computed as MXNet
   * does); `{ord: 1}` is the L1 norm; `axis` and `keepdims` as for `sum`.
   */
  norm(axis?: Axis | NormOptions, keepdims?: boolean): NDArray {
    let ord: unknown = 2;
    if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) {
      ord = (axis as NormOptions).ord ?? 2;
    }
    if (ord !== 1 && ord !== 2) throw new Error(`norm: ord must be 1 or 2 (got ${describe(ord)})`);
    return reduce(ord === 1 ? "norm1" : "norm", this, axis, keepdims, "norm");
  }
  /** MXNet's `argmax`: indices (in this array's dtype) of the maxima along `axis` (all: flattened). */
  argmax(axis?: number | null | ArgOptions, keepdims?: boolean): NDArray {
    return argext("argmax", this, axis, keepdims);
  }
  /** MXNet's `argmin`. */
  argmin(axis?: number | null | ArgOptions, keepdims?: boolean): NDArray {
    return argext("argmin", this, axis, keepdims);
  }

  // ---- model ops ----
  /** Clamp to [aMin, aMax]; the gradient passes where aMin <= x <= aMax. */
  clip(aMin: number, aMax: number): NDArray {
    const lo = numArg("clip", "aMin", aMin);
    const hi = numArg("clip", "aMax", aMax);
    return result(wasm.nd_clip(this.handleFor("clip"), lo, hi));
  }
  /** MXNet's `LeakyReLU(act_type="leaky", slope)`. */
  leakyRelu(slope = 0.25): NDArray {
    return result(wasm.nd_leaky_relu(this.handleFor("leakyRelu"), numArg("leakyRelu", "slope", slope)));
  }
  /** MXNet's `flatten()` (nnmisc group, issue #12): `(d0, d1·d2·…)`; a 1-D `(n,)` becomes `(n, 1)`. */
  flatten(): NDArray {
    const h = this.handleFor("flatten");
    return renamed("Flatten", "flatten", () => result(wasm.nd_flatten(h)));
  }
  /** Softmax along `axis` (default -1), numerically stable. */
  softmax(axis?: number | { axis?: number }): NDArray {
    return result(wasm.nd_softmax(this.handleFor("softmax"), axisOption("softmax", axis, -1), 0));
  }
  /** Log-softmax along `axis` (default -1), numerically stable. */
  logSoftmax(axis?: number | { axis?: number }): NDArray {
    return result(wasm.nd_softmax(this.handleFor("logSoftmax"), axisOption("logSoftmax", axis, -1), 1));
  }
  /** MXNet's `take`: slices at `indices` along `axis` (default 0); mode "clip" (default) or "wrap". */
  take(indices: NDArray, axis?: number | TakeOptions): NDArray {
    const o = typeof axis === "object" && axis !== null ? axis : { axis };
    const ax = axisOption("take", o.axis, 0);
    const idx = arrayOperand("take", "indices", indices);
    return result(wasm.nd_take(this.handleFor("take"), idx.handleFor("take"), ax, modeCode("take", o.mode)));
  }
  /** MXNet's `pick`: one element per row along `axis` (default -1). */
  pick(index: NDArray, axis?: number | PickOptions): NDArray {
    const o: PickOptions = typeof axis === "object" && axis !== null ? axis : { axis };
    const ax = axisOption("pick", o.axis, -1);
    const kd = boolArg("pick", "keepdims", o.keepdims, false);
    const idx = arrayOperand("pick", "index", index);
    return result(wasm.nd_pick(this.handleFor("pick"), idx.handleFor("pick"), ax, kd ? 1 : 0, modeCode("pick", o.mode)));
  }
  /** MXNet's `one_hot` of this array of indices. */
  oneHot(depth: number, options: OneHotOptions = {}): NDArray {
    return oneHot(this, depth, options);
  }
  /** MXNet's `topk`: `retTyp` "indices" (default), "value", "mask" or "both" ([values, indices]). */
  topk(options: TopkOptions & { retTyp: "both" }): [NDArray, NDArray];
  topk(options?: TopkOptions): NDArray;
  topk(options: TopkOptions = {}): NDArray | [NDArray, NDArray] {
    if (options === null || typeof options !== "object") throw new Error(`topk: expected an options object (got ${describe(options)})`);
    const ax = axisOption("topk", options.axis, -1);
    const k = intArg("topk", "k", options.k ?? 1);
    const asc = boolArg("topk", "isAscend", options.isAscend, false);
    const ret = options.retTyp ?? "indices";
    const h = this.handleFor("topk");
    const call = (code: number): NDArray => result(wasm.nd_topk(h, ax, k, code, asc ? 1 : 0));
    switch (ret) {
      case "value":
        return call(0);
      case "indices":
        return call(1);
      case "mask":
        return call(2);
      case "both": {
        const v = call(0);
        try {
          return [v, call(1)];
        } catch (e) {
          v.dispose();
          throw e;
        }
      }
      default:
        throw new Error(`topk: retTyp must be "value", "indices", "mask" or "both" (got ${describe(ret)})`);
    }
  }
  /** Sorted along `axis` (default -1), ascending unless `isAscend: false`. */
  sort(axis?: number | SortOptions): NDArray {
    return sortCall("sort", this, axis, 0);
  }
  /** Indices that sort along `axis` (in this array's dtype). */
  argsort(axis?: number | SortOptions): NDArray {
    return sortCall("argsort", this, axis, 1);
  }
  /** NumPy's `tile`. */
  tile(reps: number | number[]): NDArray {
    const r = typeof reps === "number" ? [reps] : reps;
    if (!Array.isArray(r)) throw new Error(`tile: reps must be a number or an array of numbers (got ${describe(reps)})`);
    if (r.length > MAX_RANK) throw new Error(`tile: ${r.length} reps given; at most ${MAX_RANK}`);
    const vals = r.map((v) => intArg("tile", "reps", v));
    writeInts("tile", vals);
    return result(wasm.nd_tile(this.handleFor("tile"), vals.length));
  }
  /** NumPy's `repeat` (no axis: the flattened array). */
  repeat(repeats: number, axis?: number | null): NDArray {
    const r = intArg("repeat", "repeats", repeats);
    const ax = axis === undefined || axis === null ? NONE : intArg("repeat", "axis", axis);
    return result(wasm.nd_repeat(this.handleFor("repeat"), r, ax));
  }
  /** MXNet's `flip` (`reverse`) along `axis` (a number or a list). */
  flip(axis: number | number[]): NDArray {
    const axes = axesArg("flip", axis);
    if (axes === null) throw new Error(`flip: axis is required (got ${describe(axis)})`);
    writeInts("flip", axes);
    return result(wasm.nd_flip(this.handleFor("flip"), axes.length));
  }
  /** MXNet's `slice_axis`: `x[..., begin:end, ...]` on `axis`. */
  sliceAxis(axis: number, begin: number | null, end: number | null): NDArray {
    const ax = intArg("sliceAxis", "axis", axis);
    const b = begin === undefined || begin === null ? NaN : intArg("sliceAxis", "begin", begin);
    const e = end === undefined || end === null ? NaN : intArg("sliceAxis", "end", end);
    return result(wasm.nd_slice_axis(this.handleFor("sliceAxis"), ax, b, e));
  }

  // ---- shape ----
  reshape(...shape: (number | number[])[]): NDArray {
    const spec = shape.length === 1 && Array.isArray(shape[0]) ? shape[0] : shape;
    if (spec.length > MAX_RANK) throw new Error(`reshape: rank ${spec.length} exceeds the maximum of ${MAX_RANK}`);
    this.handleFor("reshape");
    const dims = mxnetReshapeSpec("reshape", this.#shape, (spec as unknown[]).map((d) => intArg("reshape", "dimension", d)));
    if (dims.length > MAX_RANK) throw new Error(`reshape: rank ${dims.length} exceeds the maximum of ${MAX_RANK}`);
    return reshapeExact(this, dims);
  }
  transpose(...axes: (number | number[])[]): NDArray {
    const h = this.handleFor("transpose");
    if (axes.length === 0 || (axes.length === 1 && axes[0] === undefined)) {
      return result(wasm.nd_transpose(h, -1));
    }
    const list = axes.length === 1 && Array.isArray(axes[0]) ? axes[0] : axes;
    if (list.length > MAX_RANK) throw new Error(`transpose: ${list.length} axes given; an array has at most ${MAX_RANK}`);
    const dims = (list as unknown[]).map((d) => intArg("transpose", "axis", d));
    writeInts("transpose", dims);
    return result(wasm.nd_transpose(h, dims.length));
  }
  get T(): NDArray {
    this.handleFor("T");
    return renamed("transpose", "T", () => this.transpose());
  }
  expandDims(axis: number): NDArray {
    this.handleFor("expandDims");
    const nd = this.ndim + 1;
    let a = intArg("expandDims", "axis", axis);
    if (a < -nd || a >= nd) {
      throw new Error(`expandDims: axis ${axis} is out of bounds for the result of dimension ${nd}`);
    }
    // Checked here: the reshape below would refuse it under its own name.
    if (nd > MAX_RANK) {
      throw new Error(`expandDims: rank ${nd} exceeds the maximum of ${MAX_RANK} (shape [${this.#shape.join(",")}])`);
    }
    if (a < 0) a += nd;
    const shape = this.shape;
    shape.splice(a, 0, 1);
    return renamed("reshape", "expandDims", () => reshapeExact(this, shape));
  }
  squeeze(axis?: Axis): NDArray {
    this.handleFor("squeeze");
    const axes = axesArg("squeeze", axis);
    const shape = this.shape;
    const nd = shape.length;
    let drop: number[];
    if (axes === null) {
      drop = shape.flatMap((d, i) => (d === 1 ? [i] : []));
    } else {
      drop = axes.map((a) => {
        if (a < -nd || a >= nd) throw new Error(`squeeze: axis ${a} is out of bounds for an array of dimension ${nd}`);
        const p = a < 0 ? a + nd : a;
        if (shape[p] !== 1) {
          throw new Error(`squeeze: cannot select an axis to squeeze out which has size not equal to one (axis ${a} of shape [${shape.join(",")}])`);
        }
        return p;
      });
      // MXNet's SqueezeShape (src/operator/tensor/matrix_op-inl.h:
      // `CHECK_NE(oshape[axes[i]], -1) << "duplicate value in axis"`) and
      // NumPy refuse an axis named twice, also as a negative and a positive.
      const dup = drop.findIndex((p, i) => drop.indexOf(p) !== i);
      if (dup >= 0) {
        throw new Error(`squeeze: duplicate value in axis [${axes.join(",")}] (axis ${drop[dup]} of shape [${shape.join(",")}])`);
      }
    }
    let out = shape.filter((_, i) => !drop.includes(i));
    if (out.length === 0) out = [1]; // MXNet 1.x has no 0-d arrays
    return renamed("reshape", "squeeze", () => reshapeExact(this, out));
  }
  broadcastTo(shape: number[] | number): NDArray {
    const dims = shapeArg("broadcastTo", shape);
    writeInts("broadcastTo", dims);
    return result(wasm.nd_broadcast_to(this.handleFor("broadcastTo"), dims.length));
  }
  dot(y: NDArray, options?: DotOptions): NDArray {
    return dot(this, y, options);
  }

  // ---- indexing ----
  /** MXNet's `x[i]` on axis 0; a 1-D array gives shape [1]. */
  at(i: number): NDArray {
    const idx = intArg("at", "index", i);
    return result(wasm.nd_at(this.handleFor("at"), idx));
  }
  /**
   * `x[begin:end:step]` on axis 0, with Python's slicing rules; or, with
   * lists, MXNet's `slice(begin, end, step)` over the leading axes (null
   * entries take the whole axis).
   */
  slice(
    begin?: number | null | (number | null)[],
    end?: number | null | (number | null)[],
    step?: number | null | (number | null)[],
  ): NDArray {
    if (Array.isArray(begin) || Array.isArray(end) || Array.isArray(step)) return sliceMulti(this, begin, end, step);
    if (step !== undefined && step !== null && step !== 1) {
      // As without a step; the multi-axis form would count "1 axes given".
      if (this.ndim === 0) throw new Error(`slice: cannot index a 0-d array (shape [])`);
      return sliceMulti(this, [begin ?? null], [end ?? null], [step]);
    }
    const b = begin === undefined || begin === null ? NaN : intArg("slice", "begin", begin);
    const e = end === undefined || end === null ? NaN : intArg("slice", "end", end);
    return result(wasm.nd_slice(this.handleFor("slice"), b, e));
  }
  /** MXNet's `x[:] = v`: write in place (broadcasting `v`). */
  set(v: NDArray | number): this {
    const h = this.handleFor("set");
    if (v instanceof NDArray) checkStatus(wasm.nd_set(h, v.handleFor("set")));
    else checkStatus(wasm.nd_set_scalar(h, numArg("set", "value", v)));
    return this;
  }

  // ---- conversion ----
  asscalar(): number {
    const h = this.handleFor("asscalar");
    if (this.size !== 1) {
      throw new Error(`asscalar: the array must have exactly one element (shape [${this.#shape.join(",")}], size ${this.size})`);
    }
    return dataView(h, 1, this.#dtype)[0]!;
  }
  /**
   * A copy of the values, as a typed array of the array's dtype
   * (`Float32Array`, `Float64Array`, `Int32Array` or `Uint8Array`). With `out`
   * (a typed array of any of the four kinds, at least `size` long), the values are
   * written into it (converted to its element type) and `out` is returned.
   */
  data<T extends NDData>(out: T): T;
  data(): NDData;
  data(out?: NDData): NDData {
    const view = dataView(this.handleFor("data"), this.size, this.#dtype);
    if (out === undefined) return view.slice();
    if (!isNDData(out) || out.length < view.length) {
      throw new Error(
        `data: out must be a Float32Array, Float64Array, Int32Array or Uint8Array of at least ${view.length} elements (got ${describe(out)})`,
      );
    }
    out.set(view);
    return out;
  }
  /** Nested arrays of numbers, like `asnumpy().tolist()`. */
  toArray(): NestedArray[] {
    this.handleFor("toArray");
    const flat = this.data();
    const shape = this.#shape;
    if (shape.length === 0) return [flat[0]!];
    let pos = 0;
    const build = (d: number): NestedArray[] => {
      const n = shape[d]!;
      const out: NestedArray[] = new Array<NestedArray>(n);
      for (let i = 0; i < n; i++) out[i] = d === shape.length - 1 ? flat[pos++]! : build(d + 1);
      return out;
    };
    return build(0);
  }
  /** A copy converted to `dtype` (float to int32 truncates toward zero;
   *  to uint8 it also wraps modulo 256, as NumPy's `astype(np.uint8)`). */
  astype(dtype: DType): NDArray {
    const code = dtypeCode("astype", dtype);
    return result(wasm.nd_astype(this.handleFor("astype"), code));
  }
  copy(): NDArray {
    return result(wasm.nd_copy(this.handleFor("copy")));
  }
  /** The same values, cut from the autograd graph (shares memory, as MXNet). */
  detach(): NDArray {
    return result(wasm.nd_detach(this.handleFor("detach")));
  }

  // ---- autograd ----
  attachGrad(gradReq: GradReq = "write"): void {
    checkStatus(wasm.nd_attach_grad(this.handleFor("attachGrad"), gradReqCode("attachGrad", gradReq)));
    this.#becameVariable();
  }

  /** @internal `autograd.markVariables`: `grad` becomes this array's gradient buffer. */
  markVariable(grad: NDArray, gradReq: GradReq): void {
    const req = gradReqCode("markVariables", gradReq);
    checkStatus(wasm.nd_mark_variable(this.handleFor("markVariables"), grad.handleFor("markVariables"), req));
    this.#becameVariable();
  }

  #becameVariable(): void {
    markVariable(this);
    this.#grad?.dispose();
    this.#grad = null;
  }
  /** The gradient buffer (zeros after `attachGrad`), or null without one. */
  get grad(): NDArray | null {
    const h = this.handleFor("grad");
    if (this.#grad !== null && !this.#grad.isDisposed) return this.#grad;
    const g = wasm.nd_grad(h);
    if (g === 0) {
      if (wasm.nd_error_code() !== 0) raise();
      return null;
    }
    this.#grad = new NDArray(g, resultShape(), this.#dtype);
    return this.#grad;
  }
  /**
   * MXNet's `_fresh_grad`: whether `backward` has written this variable's
   * gradient since the flag was last cleared (`gluon.Trainer.step` clears it
   * and refuses a stale gradient). An Error on an array without a gradient.
   */
  get _freshGrad(): boolean {
    const v = wasm.nd_fresh_grad(this.handleFor("_freshGrad"));
    if (v < 0) raise();
    return v === 1;
  }
  set _freshGrad(state: boolean) {
    if (typeof state !== "boolean") throw new Error(`_freshGrad: must be a boolean (got ${describe(state)})`);
    checkStatus(wasm.nd_set_fresh_grad(this.handleFor("_freshGrad"), state ? 1 : 0));
  }
  backward(outGrad?: NDArray | null | BackwardOptions, options: BackwardOptions = {}): void {
    let head: NDArray | null = null;
    if (outGrad instanceof NDArray) head = outGrad;
    else if (outGrad !== null && typeof outGrad === "object" && !Array.isArray(outGrad)) options = outGrad;
    else if (outGrad !== undefined && outGrad !== null) {
      throw new Error(`backward: outGrad must be an NDArray, null or an options object (got ${describe(outGrad)})`);
    }
    runBackward([this], [head], options);
  }

  // ---- lifetime ----
  /** Free the array now (its `.grad` view too). Safe to call twice. */
  dispose(): void {
    if (this.#h === 0) return;
    this.#grad?.dispose();
    this.#grad = null;
    wasm.nd_free(this.#h);
    untrack(this);
    this.#h = 0;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- printing ----
  /** MXNet's repr: the values as NumPy prints them, then `<NDArray 2x2 @cpu(0)>`. */
  toString(): string {
    const h = this.handleFor("toString");
    const body = formatArray(dataView(h, this.size, this.#dtype), this.#shape, this.#dtype);
    return `\n${body}\n<NDArray ${this.#shape.join("x")} @cpu(0)>`;
  }
  [inspectSymbol](): string {
    return this.isDisposed ? "<NDArray disposed>" : this.toString();
  }
  get [Symbol.toStringTag](): string {
    return "NDArray";
  }
}

type UnaryMethods = { [K in (typeof UNARY_OPS)[number]]: () => NDArray };
// The elementwise unary ops are methods too (`x.exp()`), made from the one
// list of names the engine's codes are checked against.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface NDArray extends UnaryMethods {}
for (const op of UNARY_OPS) {
  Object.defineProperty(NDArray.prototype, op, {
    value: function (this: NDArray): NDArray {
      return unary(op, this);
    },
    writable: true,
    configurable: true,
  });
}

function gradReqCode(op: string, gradReq: unknown): number {
  if (typeof gradReq !== "string" || !Object.hasOwn(GRAD_REQ, gradReq)) {
    throw new Error(`${op}: gradReq must be "write", "add" or "null" (got ${describe(gradReq)})`);
  }
  return GRAD_REQ[gradReq as GradReq];
}

/** Wrap a handle an op returned (its shape is in the I/O area). */
/** @internal A reshape to exactly `dims` (0 is a zero size, not MXNet's "copy"; -1 infers): for shapes computed here. */
export function reshapeExact(x: NDArray, dims: number[]): NDArray {
  const h = x.handleFor("reshape");
  writeInts("reshape", dims);
  return result(wasm.nd_reshape(h, dims.length));
}

export function result(h: number): NDArray {
  checkHandle(h);
  return new NDArray(h, resultShape(), resultDtype());
}

const DTYPE_BY_CODE: readonly DType[] = DTYPES;

function operand(op: string, v: unknown): NDArray | number {
  if (v instanceof NDArray || typeof v === "number") return v;
  throw new Error(`${op}: expected an NDArray or a number (got ${describe(v)})`);
}

/** `a op b`, either side an NDArray or a number. */
export function binary(op: string, a: unknown, b: unknown): NDArray {
  const code = BINARY[op]!;
  const x = operand(op, a);
  const y = operand(op, b);
  if (x instanceof NDArray) {
    if (y instanceof NDArray) return result(wasm.nd_binary(code, x.handleFor(op), y.handleFor(op)));
    return result(wasm.nd_binary_scalar(code, x.handleFor(op), y, 0));
  }
  if (y instanceof NDArray) return result(wasm.nd_binary_scalar(code, y.handleFor(op), x, 1));
  // Two numbers: a shape-[1] array, as MXNet gives for scalar arithmetic on arrays.
  using one = fill([1], x, "float32", op);
  return result(wasm.nd_binary_scalar(code, one.handleFor(op), y, 0));
}

export function unary(op: string, x: unknown): NDArray {
  if (!(x instanceof NDArray)) throw new Error(`${op}: expected an NDArray (got ${describe(x)})`);
  return result(wasm.nd_unary(UNARY[op]!, x.handleFor(op)));
}

export function reduce(op: string, x: NDArray, axis: Axis | ReduceOptions, keepdims?: boolean, name = op): NDArray {
  let ax: unknown = axis;
  let keep: unknown = keepdims;
  if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) {
    ax = axis.axis;
    keep = axis.keepdims;
  }
  const axes = axesArg(name, ax);
  const kd = boolArg(name, "keepdims", keep, false);
  if (axes !== null) writeInts(name, axes);
  return result(wasm.nd_reduce(REDUCE[op]!, x.handleFor(name), axes === null ? -1 : axes.length, kd ? 1 : 0));
}

/** The I/O sentinel for an omitted index or axis (`None`). */
const NONE = -0x80000000;

export interface NormOptions extends ReduceOptions {
  ord?: 1 | 2;
}
export interface ArgOptions {
  axis?: number | null;
  keepdims?: boolean;
}
export interface TakeOptions {
  axis?: number;
  mode?: "clip" | "wrap";
}
export interface PickOptions extends TakeOptions {
  keepdims?: boolean;
}
export interface OneHotOptions {
  onValue?: number;
  offValue?: number;
  dtype?: DType;
}
export interface TopkOptions {
  axis?: number;
  k?: number;
  retTyp?: "value" | "indices" | "mask" | "both";
  isAscend?: boolean;
}
export interface SortOptions {
  axis?: number;
  isAscend?: boolean;
}
export interface DotOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

function axisOption(op: string, axis: unknown, dflt: number): number {
  if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) axis = (axis as { axis?: unknown }).axis;
  if (axis === undefined || axis === null) return dflt;
  return intArg(op, "axis", axis);
}

function modeCode(op: string, mode: unknown): number {
  if (mode === undefined || mode === "clip") return 0;
  if (mode === "wrap") return 1;
  throw new Error(`${op}: mode must be "clip" or "wrap" (got ${describe(mode)})`);
}

function arrayOperand(op: string, name: string, v: unknown): NDArray {
  if (!(v instanceof NDArray)) throw new Error(`${op}: ${name} must be an NDArray (got ${describe(v)})`);
  return v;
}

function argext(op: string, x: NDArray, axis: unknown, keepdims: unknown): NDArray {
  let ax: unknown = axis;
  let kd: unknown = keepdims;
  if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) {
    ax = (axis as ArgOptions).axis;
    kd = (axis as ArgOptions).keepdims;
  }
  const a = ax === undefined || ax === null ? NONE : intArg(op, "axis", ax);
  const k = boolArg(op, "keepdims", kd, false);
  return result(wasm.nd_argext(x.handleFor(op), a, k ? 1 : 0, op === "argmax" ? 1 : 0));
}

function sortCall(op: string, x: NDArray, axis: unknown, indices: number): NDArray {
  const o = (axis !== null && typeof axis === "object" ? axis : { axis }) as SortOptions;
  const ax = axisOption(op, o.axis, -1);
  const asc = boolArg(op, "isAscend", o.isAscend, true);
  return result(wasm.nd_sort(x.handleFor(op), ax, asc ? 1 : 0, indices));
}

function sliceMulti(x: NDArray, begin: unknown, end: unknown, step: unknown): NDArray {
  const list = (name: string, v: unknown): (number | null)[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new Error(`slice: ${name} must be a list when another bound is (got ${describe(v)})`);
    return v.map((e) => (e === null || e === undefined ? null : intArg("slice", name, e)));
  };
  const b = list("begin", begin);
  const e = list("end", end);
  let s = list("step", step);
  const n = Math.max(b.length, e.length);
  if (begin === undefined || begin === null) b.push(...new Array<null>(n).fill(null));
  if (end === undefined || end === null) e.push(...new Array<null>(n).fill(null));
  if (s.length === 0) s = new Array<null>(b.length).fill(null);
  if (b.length !== e.length || s.length !== b.length) {
    throw new Error(`slice: begin, end and step must have the same length (got ${b.length}, ${e.length} and ${s.length})`);
  }
  if (s.some((v) => v === 0)) throw new Error("slice: step cannot be zero");
  const enc = (v: number | null): number => (v === null ? NONE : v);
  writeInts("slice", [...b.map(enc), ...e.map(enc), ...s.map(enc)]);
  return result(wasm.nd_slice_multi(x.handleFor("slice"), b.length));
}

/** MXNet's `where(condition, x, y)` (NumPy broadcasting of all three). */
export function where(cond: unknown, x: unknown, y: unknown): NDArray {
  const c = arrayOperand("where", "condition", cond);
  const a = arrayOperand("where", "x", x);
  const b = arrayOperand("where", "y", y);
  return result(wasm.nd_where(c.handleFor("where"), a.handleFor("where"), b.handleFor("where")));
}

/** MXNet's `one_hot(indices, depth, on_value, off_value, dtype)`. */
export function oneHot(indices: unknown, depth: number, options: OneHotOptions = {}): NDArray {
  const idx = arrayOperand("oneHot", "indices", indices);
  const d = intArg("oneHot", "depth", depth);
  if (options === null || typeof options !== "object") throw new Error(`oneHot: expected an options object (got ${describe(options)})`);
  const on = numArg("oneHot", "onValue", options.onValue ?? 1);
  const off = numArg("oneHot", "offValue", options.offValue ?? 0);
  const code = dtypeCode("oneHot", options.dtype ?? "float32");
  return result(wasm.nd_one_hot(idx.handleFor("oneHot"), d, on, off, code));
}

export function dot(a: unknown, b: unknown, options: DotOptions = {}): NDArray {
  if (!(a instanceof NDArray) || !(b instanceof NDArray)) {
    throw new Error(`dot: expected two NDArrays (got ${describe(a)} and ${describe(b)})`);
  }
  if (options === null || typeof options !== "object") throw new Error(`dot: expected an options object (got ${describe(options)})`);
  const ta = boolArg("dot", "transposeA", options.transposeA, false);
  const tb = boolArg("dot", "transposeB", options.transposeB, false);
  return result(wasm.nd_dot(a.handleFor("dot"), b.handleFor("dot"), (ta ? 1 : 0) | (tb ? 2 : 0)));
}

/** MXNet's `concat`: join arrays along an existing axis (default 1, as MXNet). */
export function concat(arrays: NDArray[], axis = 1): NDArray {
  if (!Array.isArray(arrays) || arrays.length === 0 || !arrays.every((a) => a instanceof NDArray)) {
    throw new Error(`concat: expected a non-empty array of NDArrays (got ${describe(arrays)})`);
  }
  const ax = intArg("concat", "axis", axis);
  writeInts("concat", arrays.map((a) => a.handleFor("concat")));
  return result(wasm.nd_concat(arrays.length, ax));
}

/** MXNet's `stack`: join arrays along a new axis (default 0). */
export function stack(arrays: NDArray[], axis = 0): NDArray {
  if (!Array.isArray(arrays) || arrays.length === 0 || !arrays.every((a) => a instanceof NDArray)) {
    throw new Error(`stack: expected a non-empty array of NDArrays (got ${describe(arrays)})`);
  }
  for (const a of arrays) a.handleFor("stack");
  const first = arrays[0]!.shape;
  for (const a of arrays) {
    const s = a.shape;
    if (s.length !== first.length || s.some((d, i) => d !== first[i])) {
      throw new Error(`stack: all arrays must have the same shape: [${first.join(",")}] vs [${s.join(",")}]`);
    }
  }
  // Checked on the caller's arrays: the concat below would name itself and
  // the expanded shapes (MXNet's stack infers one dtype for all inputs).
  const mixed = arrays.find((a) => a.dtype !== arrays[0]!.dtype);
  if (mixed !== undefined) {
    throw new Error(
      `stack: dtype mismatch: ${arrays[0]!.dtype} (shape [${first.join(",")}]) and ${mixed.dtype} (shape [${mixed.shape.join(",")}]); cast one with astype`,
    );
  }
  const nd = first.length + 1;
  const ax = intArg("stack", "axis", axis);
  if (ax < -nd || ax >= nd) throw new Error(`stack: axis ${ax} is out of bounds for the result of dimension ${nd}`);
  if (nd > MAX_RANK) throw new Error(`stack: rank ${nd} exceeds the maximum of ${MAX_RANK} (arrays of shape [${first.join(",")}])`);
  const expanded: NDArray[] = [];
  try {
    for (const a of arrays) expanded.push(renamed("expandDims", "stack", () => a.expandDims(ax)));
    return renamed("concat", "stack", () => concat(expanded, ax < 0 ? ax + nd : ax));
  } finally {
    for (const e of expanded) e.dispose();
  }
}

/**
 * @internal Run `f`, an op implemented through the op `from`, so that an
 * Error it raises under `from`'s name names `to`, the op the caller called
 * (API.md: the message names the operation).
 */
export function renamed<T>(from: string, to: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith(`${from}:`)) throw e;
    const message = to + e.message.slice(from.length);
    throw e instanceof NDGradError ? new NDGradError(message, e.kind) : new Error(message);
  }
}

/** MXNet's `batch_dot`: (B,M,K)·(B,K,N) → (B,M,N). */
export function batchDot(a: unknown, b: unknown): NDArray {
  if (!(a instanceof NDArray) || !(b instanceof NDArray)) {
    throw new Error(`batchDot: expected two NDArrays (got ${describe(a)} and ${describe(b)})`);
  }
  return result(wasm.nd_batch_dot(a.handleFor("batchDot"), b.handleFor("batchDot")));
}

/** `shape` filled with `value` (cast to `dtype`); `op` names errors. */
export function fill(shape: number[] | number, value: number, dtype: DType = "float32", op = "full"): NDArray {
  const dims = shapeArg(op, shape);
  const v = numArg(op, "value", value);
  const code = dtypeCode(op, dtype);
  writeInts(op, dims);
  // The engine's `full` serves zeros, ones, zerosLike, onesLike and the
  // scalar-scalar arithmetic: its errors name the caller's op.
  return renamed("full", op, () => result(wasm.nd_full(dims.length, v, code)));
}

/** Options accepted where MXNet takes a `dtype` keyword. */
export interface DTypeOptions {
  dtype?: DType;
}

/** `nd.full(shape, value, {dtype})` (also `nd.full(shape, value, "float64")`). */
export function full(shape: number[] | number, value: number, options?: DTypeOptions | DType): NDArray {
  return fill(shape, value, dtypeOption("full", options), "full");
}

/** The dtype in `{dtype}` or a bare dtype string; float32 when absent. */
export function dtypeOption(op: string, options: unknown): DType {
  if (options === undefined || options === null) return "float32";
  if (typeof options === "string") {
    dtypeCode(op, options);
    return options as DType;
  }
  if (typeof options === "object" && !Array.isArray(options)) {
    const d = (options as { dtype?: unknown }).dtype;
    if (d === undefined) return "float32";
    dtypeCode(op, d);
    return d as DType;
  }
  throw new Error(`${op}: expected an options object {dtype} (got ${describe(options)})`);
}

/** Backward from several heads (MXNet's `autograd.backward`). */
export function runBackward(heads: NDArray[], headGrads: (NDArray | null)[], options: BackwardOptions): void {
  const retain = boolArg("backward", "retainGraph", options.retainGraph, false);
  const train = boolArg("backward", "trainMode", options.trainMode, true);
  const ids = heads.map((h) => h.handleFor("backward"));
  const gs = headGrads.map((g) => (g === null ? 0 : g.handleFor("backward")));
  writeInts("backward", [...ids, ...gs]);
  withHostErrors(() => checkStatus(wasm.nd_backward(heads.length, retain ? 1 : 0, train ? 1 : 0)));
}
