// Result shapes and dtypes computed on the client, so that a remote op can
// return its proxy (with `shape` and `dtype`) at once, before the worker has
// run it. These follow the engine's rules (crates/ndgrad-core: shape.rs,
// ops/*.rs) and the argument handling of ts/src/nd.ts and ndarray.ts. They
// are not checks: on bad input they return a guess, the worker raises the
// real error (with the main API's message), and the worker corrects any
// shape or dtype that differs from its own when the batch returns (the
// client calls them through `Session.op`, which also turns a throw into a
// guess). The convolution's rules are not copied here: the client asks the
// engine for them (engine-shapes.ts).
import type { DType } from "../format.js";
import { mxnetReshapeSpec } from "../args.js";

type Shape = number[];

/** What the client knows of an array before the worker made it. */
export interface Meta {
  shape: Shape;
  dtype: DType;
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isOptions = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v);
const DTYPES: readonly string[] = ["float32", "float64", "int32", "uint8"];
const isDtype = (v: unknown): v is DType => typeof v === "string" && DTYPES.includes(v);
const size = (s: Shape): number => s.reduce((a, b) => a * b, 1);
/** An axis as the engine normalises it (negative counts from the end). */
const axisIn = (a: number, ndim: number): number => (a < 0 ? a + ndim : a);

/** A shape argument: a number or a list of numbers. */
export function shapeOf(v: unknown): Shape {
  if (typeof v === "number") return [v];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number>, Number);
  return [1];
}

/** The `shape` option of `random.uniform(low, high, shape)`. */
export function shapeOption(v: unknown): Shape {
  if (isOptions(v)) return shapeOf(v.shape ?? [1]);
  return shapeOf(v ?? [1]);
}

// ---- dtypes ----

/** `{dtype}` or a bare dtype string (nd.ts `dtypeOption`); float32 when absent. */
export function dtypeOption(v: unknown): DType {
  if (isDtype(v)) return v;
  if (isOptions(v) && isDtype(v.dtype)) return v.dtype;
  return "float32";
}

/** `random.uniform(low, high, shape, options)`: `options`, else a `{shape, dtype}` object. */
export function randomDtype(shape: unknown, options: unknown): DType {
  return dtypeOption(options === undefined && isOptions(shape) ? shape : options);
}

/** The dtype a typed array holds natively (ffi.ts `dtypeOfTyped`). */
export function typedDtype(v: unknown): DType {
  if (v instanceof Float64Array) return "float64";
  if (v instanceof Int32Array) return "int32";
  if (v instanceof Uint8Array || v instanceof Uint8ClampedArray) return "uint8";
  return "float32";
}

/** `nd.array(data, options)`: the option, else the source's dtype (arrays and typed arrays), else float32. */
export function arrayDtype(data: unknown, dataDtype: DType | null, options: unknown): DType {
  if (isOptions(options) && isDtype(options.dtype)) return options.dtype;
  if (dataDtype !== null) return dataDtype;
  if (ArrayBuffer.isView(data)) return typedDtype(data);
  return "float32";
}

// ---- creation ----

/** Shape of `nd.array(data, {shape})`. */
export function arrayShape(data: unknown, shape: unknown): Shape {
  if (shape !== undefined && shape !== null) return shapeOf(shape);
  if (typeof data === "number") return [1];
  if (ArrayBuffer.isView(data)) return [(data as unknown as ArrayLike<number>).length ?? 0];
  const dims: Shape = [];
  let level: unknown = data;
  while (Array.isArray(level) && dims.length < 32) {
    dims.push(level.length);
    level = level[0];
  }
  return dims.length === 0 ? [1] : dims;
}

export function arangeShape(start: unknown, stop: unknown, step: unknown): Shape {
  let a = Number(start);
  let b: number;
  if (stop === undefined || stop === null) {
    b = a;
    a = 0;
  } else {
    b = Number(stop);
  }
  // `arange(start, stop, {dtype})`: the options take the step's place.
  const s = step === undefined || isOptions(step) ? 1 : Number(step);
  const n = Math.max(Math.ceil((b - a) / s), 0);
  return [Number.isFinite(n) ? n : 0];
}

/** The dtype of `arange(start, stop, step, options)`. */
export function arangeDtype(step: unknown, options: unknown): DType {
  return dtypeOption(isOptions(step) ? step : options);
}

// ---- elementwise and reductions ----

/** NumPy broadcasting (a number operand takes the other side's shape). */
export function broadcast(a: Shape | null, b: Shape | null): Shape {
  if (a === null && b === null) return [1];
  if (a === null) return b!.slice();
  if (b === null) return a.slice();
  const n = Math.max(a.length, b.length);
  const out: Shape = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i + a.length >= n ? a[i + a.length - n]! : 1;
    const db = i + b.length >= n ? b[i + b.length - n]! : 1;
    out[i] = da === db || db === 1 ? da : da === 1 ? db : Math.max(da, db);
  }
  return out;
}

function axisList(axis: unknown, ndim: number): number[] | null {
  if (axis === undefined || axis === null) return null;
  const list = typeof axis === "number" ? [axis] : Array.isArray(axis) ? axis : [];
  if (list.length === 0) return null; // MXNet's `axis=()`: everything
  return list.filter(isInt).map((a) => axisIn(a, ndim));
}

/** `sum`, `mean`, `norm`, …: `axis` or `{axis, keepdims}`. */
export function reduceShape(x: Shape, axis: unknown, keepdims: unknown): Shape {
  let ax = axis;
  let keep = keepdims;
  if (isOptions(axis)) {
    ax = axis.axis;
    keep = axis.keepdims;
  }
  const axes = axisList(ax, x.length) ?? x.map((_, i) => i);
  if (keep === true) return x.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = x.filter((_, i) => !axes.includes(i));
  return out.length === 0 ? [1] : out;
}

/** `argmax`/`argmin(axis | {axis, keepdims}, keepdims)`: no axis gives the
 *  flattened index, shape [1] (all ones with keepdims). */
export function argextShape(x: Shape, axis: unknown, keepdims: unknown): Shape {
  let ax = axis;
  let keep = keepdims;
  if (isOptions(axis)) {
    ax = axis.axis;
    keep = axis.keepdims;
  }
  if (!isInt(ax)) return keep === true ? new Array<number>(Math.max(x.length, 1)).fill(1) : [1];
  const a = axisIn(ax, x.length);
  if (keep === true) return x.map((d, i) => (i === a ? 1 : d));
  const out = x.filter((_, i) => i !== a);
  return out.length === 0 ? [1] : out;
}

/** The `axis` of `softmax(axis | {axis})`, `take`, `pick`, `topk`, `sort` (nd ts `axisOption`). */
function axisOption(v: unknown, dflt: number): number {
  const a = isOptions(v) ? v.axis : v;
  return isInt(a) ? a : dflt;
}

// ---- shape ----

/** The variadic `reshape(2, 3)` / `reshape([2, 3])` spec. */
export function specOf(args: unknown[]): unknown[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
}

export function reshapeShape(x: Shape, spec: unknown[]): Shape {
  let out = spec.map((d) => (isInt(d) ? d : 1));
  try {
    out = mxnetReshapeSpec("reshape", x, out);
  } catch {
    // The worker's error corrects this guess.
  }
  const infer = out.indexOf(-1);
  if (infer >= 0) {
    const known = out.reduce((a, d, i) => (i === infer ? a : a * d), 1);
    out[infer] = known > 0 ? Math.floor(size(x) / known) : 0;
  }
  return out;
}

export function transposeShape(x: Shape, args: unknown[]): Shape {
  if (args.length === 0 || (args.length === 1 && args[0] === undefined)) return x.slice().reverse();
  const axes = specOf(args);
  if (axes.length !== x.length) return x.slice().reverse();
  return axes.map((a) => (isInt(a) ? x[axisIn(a, x.length)] ?? 1 : 1));
}

export function expandDimsShape(x: Shape, axis: unknown): Shape {
  const nd = x.length + 1;
  let a = isInt(axis) ? axis : 0;
  if (a < 0) a += nd;
  const out = x.slice();
  out.splice(Math.min(Math.max(a, 0), x.length), 0, 1);
  return out;
}

export function squeezeShape(x: Shape, axis: unknown): Shape {
  const axes = axisList(axis, x.length);
  const drop = axes === null ? x.flatMap((d, i) => (d === 1 ? [i] : [])) : axes;
  const out = x.filter((_, i) => !drop.includes(i));
  return out.length === 0 ? [1] : out;
}

/** `dot(a, b, {transposeA, transposeB})`: a transposed operand has its axes reversed. */
export function dotShape(a: Shape, b: Shape, options?: unknown): Shape {
  const ta = isOptions(options) && options.transposeA === true;
  const tb = isOptions(options) && options.transposeB === true;
  const l = ta ? a.slice().reverse() : a;
  const r = tb ? b.slice().reverse() : b;
  const out = [...l.slice(0, -1), ...r.slice(1)];
  return out.length === 0 ? [1] : out;
}

export function batchDotShape(a: Shape, b: Shape): Shape {
  return [a[0] ?? 1, a[1] ?? 1, b[2] ?? 1];
}

export function concatShape(shapes: Shape[], axis: unknown): Shape {
  const first = shapes[0];
  if (first === undefined) return [0];
  let ax = isInt(axis) ? axis : 1;
  if (ax < 0) ax += first.length;
  const out = first.slice();
  if (ax >= 0 && ax < out.length) out[ax] = shapes.reduce((n, s) => n + (s[ax] ?? 0), 0);
  return out;
}

export function stackShape(shapes: Shape[], axis: unknown): Shape {
  const first = shapes[0] ?? [];
  let a = isInt(axis) ? axis : 0;
  if (a < 0) a += first.length + 1;
  const out = first.slice();
  out.splice(Math.min(Math.max(a, 0), first.length), 0, shapes.length);
  return out;
}

/** NumPy's `tile`: shape and reps padded with ones on the left to the same length. */
export function tileShape(x: Shape, reps: unknown): Shape {
  const r = (typeof reps === "number" ? [reps] : Array.isArray(reps) ? reps : []).map((v) => (isInt(v) ? v : 1));
  const nd = Math.max(x.length, r.length);
  const s = [...new Array<number>(nd - x.length).fill(1), ...x];
  const k = [...new Array<number>(nd - r.length).fill(1), ...r];
  return s.map((d, i) => d * k[i]!);
}

/** NumPy's `repeat` (no axis: the flattened array). */
export function repeatShape(x: Shape, repeats: unknown, axis: unknown): Shape {
  const r = isInt(repeats) ? Math.max(repeats, 0) : 1;
  if (!isInt(axis)) return [size(x) * r];
  const a = axisIn(axis, x.length);
  return x.map((d, i) => (i === a ? d * r : d));
}

// ---- indexing ----

/** `x.at(i)`: row `i` of axis 0; a 1-D array gives `[1]`. */
export function atShape(x: Shape): Shape {
  return x.length <= 1 ? [1] : x.slice(1);
}

/** The length of Python's `range(n)[begin:end:step]` (the engine's `slice_range`). */
function sliceLength(n: number, begin: number | null, end: number | null, step: number): number {
  const [lo, hi] = step > 0 ? [0, n] : [-1, n - 1];
  const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
  const b = begin === null ? (step > 0 ? 0 : n - 1) : norm(begin);
  const e = end === null ? (step > 0 ? n : -1) : norm(end);
  return Math.max(step > 0 ? Math.ceil((e - b) / step) : Math.ceil((b - e) / -step), 0);
}

const bound = (v: unknown): number | null => (isInt(v) ? v : null);

/** `x.slice(begin, end, step)`: axis 0 with a step, or (with lists) MXNet's
 *  multi-axis `slice` over the leading axes (ndarray.ts `sliceMulti`). */
export function sliceShape(x: Shape, begin: unknown, end: unknown, step?: unknown): Shape {
  const multi = Array.isArray(begin) || Array.isArray(end) || Array.isArray(step);
  if (!multi && (step === undefined || step === null || step === 1)) {
    // The plain axis-0 slice: Python's clamping, never reversed.
    const rows = x[0] ?? 0;
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rows : v, 0), rows);
    const b = isInt(begin) ? clamp(begin) : 0;
    const e = Math.max(isInt(end) ? clamp(end) : rows, b);
    return [e - b, ...x.slice(1)];
  }
  const list = (v: unknown): (number | null)[] => (Array.isArray(v) ? v.map(bound) : multi ? [] : [bound(v)]);
  const b = list(begin);
  const e = list(end);
  const s = list(step);
  const n = Math.max(b.length, e.length);
  while (b.length < n) b.push(null);
  while (e.length < n) e.push(null);
  const out = x.slice();
  for (let d = 0; d < n && d < out.length; d++) {
    const st = s[d] ?? 1;
    out[d] = sliceLength(out[d]!, b[d]!, e[d]!, st === 0 ? 1 : st);
  }
  return out;
}

/** MXNet's `slice_axis(x, axis, begin, end)`. */
export function sliceAxisShape(x: Shape, axis: unknown, begin: unknown, end: unknown): Shape {
  if (!isInt(axis)) return x.slice();
  const a = axisIn(axis, x.length);
  return x.map((d, i) => (i === a ? sliceLength(d, bound(begin), bound(end), 1) : d));
}

/** `take(indices, axis | {axis, mode})`: `a.shape[:axis] + indices.shape + a.shape[axis+1:]`. */
export function takeShape(a: Shape, indices: Shape, axis: unknown): Shape {
  const ax = axisIn(axisOption(axis, 0), a.length);
  return [...a.slice(0, ax), ...indices, ...a.slice(ax + 1)];
}

/** `pick(index, axis | {axis, keepdims, mode})`: the axis dropped (or kept as 1). */
export function pickShape(x: Shape, axis: unknown): Shape {
  const ax = axisIn(axisOption(axis, -1), x.length);
  if (isOptions(axis) && axis.keepdims === true) return x.map((d, i) => (i === ax ? 1 : d));
  const out = x.filter((_, i) => i !== ax);
  return out.length === 0 ? [1] : out;
}

/** `oneHot(depth)`: `indices.shape + [depth]`. */
export function oneHotShape(indices: Shape, depth: unknown): Shape {
  return [...indices, isInt(depth) ? depth : 1];
}

/** `topk({axis, k, retTyp})`: the axis cut to `k` (the mask keeps the shape). */
export function topkShape(x: Shape, options: unknown): Shape {
  const o = isOptions(options) ? options : {};
  if (o.retTyp === "mask") return x.slice();
  const ax = axisIn(axisOption(o, -1), x.length);
  const k = o.k === undefined ? 1 : isInt(o.k) ? o.k : 1;
  return x.map((d, i) => (i === ax ? k : d));
}

/** `where(cond, x, y)`: the three shapes broadcast together. */
export function whereShape(c: Shape | null, x: Shape | null, y: Shape | null): Shape {
  return broadcast(broadcast(c, x), y);
}
