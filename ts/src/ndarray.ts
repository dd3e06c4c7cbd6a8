// The NDArray class: a handle into the engine plus its shape. Every method
// is one call into WebAssembly; values never stay in JavaScript.
import { MAX_RANK, axesArg, boolArg, describe, intArg, numArg, shapeArg } from "./args.js";
import {
  BINARY,
  REDUCE,
  UNARY,
  checkHandle,
  checkStatus,
  f32View,
  raise,
  resultShape,
  wasm,
  withHostErrors,
  writeInts,
} from "./ffi.js";
import { formatArray, type DType } from "./format.js";
import { markVariable, track, untrack } from "./memory.js";

export type { DType };
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

export class NDArray {
  #h: number;
  #shape: number[];
  /** The `.grad` view, owned by this array (disposed with it). */
  #grad: NDArray | null = null;
  readonly dtype: DType = "float32";

  /** @internal Use `nd.array` and friends; this wraps an engine handle. */
  constructor(handle: number, shape: number[]) {
    this.#h = handle;
    this.#shape = shape;
    track(this, handle);
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
  neg(): NDArray {
    return unary("neg", this);
  }
  exp(): NDArray {
    return unary("exp", this);
  }
  log(): NDArray {
    return unary("log", this);
  }
  sqrt(): NDArray {
    return unary("sqrt", this);
  }
  square(): NDArray {
    return unary("square", this);
  }
  abs(): NDArray {
    return unary("abs", this);
  }
  sigmoid(): NDArray {
    return unary("sigmoid", this);
  }
  tanh(): NDArray {
    return unary("tanh", this);
  }
  relu(): NDArray {
    return unary("relu", this);
  }
  sign(): NDArray {
    return unary("sign", this);
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
  /** L2 norm over all elements (or `axis`), computed as MXNet does. */
  norm(axis?: Axis | ReduceOptions, keepdims?: boolean): NDArray {
    return reduce("norm", this, axis, keepdims);
  }

  // ---- shape ----
  reshape(...shape: (number | number[])[]): NDArray {
    const spec = shape.length === 1 && Array.isArray(shape[0]) ? shape[0] : shape;
    if (spec.length > MAX_RANK) throw new Error(`reshape: rank ${spec.length} exceeds the maximum of ${MAX_RANK}`);
    const dims = (spec as unknown[]).map((d) => intArg("reshape", "dimension", d));
    writeInts("reshape", dims);
    return result(wasm.nd_reshape(this.handleFor("reshape"), dims.length));
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
    return this.transpose();
  }
  expandDims(axis: number): NDArray {
    this.handleFor("expandDims");
    const nd = this.ndim + 1;
    let a = intArg("expandDims", "axis", axis);
    if (a < -nd || a >= nd) {
      throw new Error(`expandDims: axis ${axis} is out of bounds for the result of dimension ${nd}`);
    }
    if (a < 0) a += nd;
    const shape = this.shape;
    shape.splice(a, 0, 1);
    return this.reshape(shape);
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
    }
    let out = shape.filter((_, i) => !drop.includes(i));
    if (out.length === 0) out = [1]; // MXNet 1.x has no 0-d arrays
    return this.reshape(out);
  }
  broadcastTo(shape: number[] | number): NDArray {
    const dims = shapeArg("broadcastTo", shape);
    writeInts("broadcastTo", dims);
    return result(wasm.nd_broadcast_to(this.handleFor("broadcastTo"), dims.length));
  }
  dot(y: NDArray): NDArray {
    return dot(this, y);
  }

  // ---- indexing ----
  /** MXNet's `x[i]` on axis 0; a 1-D array gives shape [1]. */
  at(i: number): NDArray {
    const idx = intArg("at", "index", i);
    return result(wasm.nd_at(this.handleFor("at"), idx));
  }
  /** `x[begin:end]` on axis 0, with Python's slicing rules. */
  slice(begin?: number | null, end?: number | null): NDArray {
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
    return f32View(h, 1)[0]!;
  }
  /** A copy of the values; written into `out` when given. */
  data(out?: Float32Array): Float32Array {
    const view = f32View(this.handleFor("data"), this.size);
    if (out === undefined) return view.slice();
    if (!(out instanceof Float32Array) || out.length < view.length) {
      throw new Error(`data: out must be a Float32Array of at least ${view.length} elements (got ${describe(out)})`);
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
  astype(dtype: DType): NDArray {
    this.handleFor("astype");
    if (dtype !== "float32") {
      throw new Error(`astype: dtype ${describe(dtype)} is not supported (ndgrad arrays are float32)`);
    }
    return this.copy();
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
    this.#grad = new NDArray(g, resultShape());
    return this.#grad;
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
    const body = formatArray(f32View(h, this.size), this.#shape, this.dtype);
    return `\n${body}\n<NDArray ${this.#shape.join("x")} @cpu(0)>`;
  }
  [inspectSymbol](): string {
    return this.isDisposed ? "<NDArray disposed>" : this.toString();
  }
  get [Symbol.toStringTag](): string {
    return "NDArray";
  }
}

function gradReqCode(op: string, gradReq: unknown): number {
  if (typeof gradReq !== "string" || !Object.hasOwn(GRAD_REQ, gradReq)) {
    throw new Error(`${op}: gradReq must be "write", "add" or "null" (got ${describe(gradReq)})`);
  }
  return GRAD_REQ[gradReq as GradReq];
}

/** Wrap a handle an op returned (its shape is in the I/O area). */
export function result(h: number): NDArray {
  checkHandle(h);
  return new NDArray(h, resultShape());
}

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
  using one = full([1], x);
  return result(wasm.nd_binary_scalar(code, one.handleFor(op), y, 0));
}

export function unary(op: string, x: unknown): NDArray {
  if (!(x instanceof NDArray)) throw new Error(`${op}: expected an NDArray (got ${describe(x)})`);
  return result(wasm.nd_unary(UNARY[op]!, x.handleFor(op)));
}

export function reduce(op: string, x: NDArray, axis: Axis | ReduceOptions, keepdims?: boolean): NDArray {
  let ax: unknown = axis;
  let keep: unknown = keepdims;
  if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) {
    ax = axis.axis;
    keep = axis.keepdims;
  }
  const axes = axesArg(op, ax);
  const kd = boolArg(op, "keepdims", keep, false);
  if (axes !== null) writeInts(op, axes);
  return result(wasm.nd_reduce(REDUCE[op]!, x.handleFor(op), axes === null ? -1 : axes.length, kd ? 1 : 0));
}

export function dot(a: unknown, b: unknown): NDArray {
  if (!(a instanceof NDArray) || !(b instanceof NDArray)) {
    throw new Error(`dot: expected two NDArrays (got ${describe(a)} and ${describe(b)})`);
  }
  return result(wasm.nd_dot(a.handleFor("dot"), b.handleFor("dot")));
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
  const nd = first.length + 1;
  const ax = intArg("stack", "axis", axis);
  if (ax < -nd || ax >= nd) throw new Error(`stack: axis ${ax} is out of bounds for the result of dimension ${nd}`);
  const expanded = arrays.map((a) => a.expandDims(ax));
  try {
    return concat(expanded, ax < 0 ? ax + nd : ax);
  } finally {
    for (const e of expanded) e.dispose();
  }
}

/** MXNet's `batch_dot`: (B,M,K)·(B,K,N) → (B,M,N). */
export function batchDot(a: unknown, b: unknown): NDArray {
  if (!(a instanceof NDArray) || !(b instanceof NDArray)) {
    throw new Error(`batchDot: expected two NDArrays (got ${describe(a)} and ${describe(b)})`);
  }
  return result(wasm.nd_batch_dot(a.handleFor("batchDot"), b.handleFor("batchDot")));
}

export function full(shape: number[] | number, value: number, op = "full"): NDArray {
  const dims = shapeArg(op, shape);
  const v = numArg(op, "value", value);
  writeInts(op, dims);
  return result(wasm.nd_full(dims.length, v));
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
