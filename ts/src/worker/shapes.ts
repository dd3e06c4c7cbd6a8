// Result shapes computed on the client, so that a remote op can return its
// proxy (with `shape`) at once, before the worker has run it. These follow
// the engine's rules (crates/ndgrad-core: shape.rs, ops/*.rs). They never
// throw: on bad input they return a guess, the worker raises the real error
// (with the main API's message), and the worker corrects any shape that
// differs from its own when the batch returns.

type Shape = number[];

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** A shape argument: a number or a list of numbers. */
export function shapeOf(v: unknown): Shape {
  if (typeof v === "number") return [v];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number>, Number);
  return [1];
}

/** The `shape` option of `random.uniform(low, high, shape)`. */
export function shapeOption(v: unknown): Shape {
  if (v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    return shapeOf((v as { shape?: unknown }).shape ?? [1]);
  }
  return shapeOf(v ?? [1]);
}

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
  const s = step === undefined ? 1 : Number(step);
  const n = Math.max(Math.ceil((b - a) / s), 0);
  return [Number.isFinite(n) ? n : 0];
}

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
  return list.filter(isInt).map((a) => (a < 0 ? a + ndim : a));
}

/** `sum`, `mean`, …: `axis` or `{axis, keepdims}`. */
export function reduceShape(x: Shape, axis: unknown, keepdims: unknown): Shape {
  let ax = axis;
  let keep = keepdims;
  if (axis !== null && typeof axis === "object" && !Array.isArray(axis)) {
    ax = (axis as { axis?: unknown }).axis;
    keep = (axis as { keepdims?: unknown }).keepdims;
  }
  const axes = axisList(ax, x.length) ?? x.map((_, i) => i);
  if (keep === true) return x.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = x.filter((_, i) => !axes.includes(i));
  return out.length === 0 ? [1] : out;
}

/** The variadic `reshape(2, 3)` / `reshape([2, 3])` spec. */
export function specOf(args: unknown[]): unknown[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
}

export function reshapeShape(x: Shape, spec: unknown[]): Shape {
  const size = x.reduce((a, b) => a * b, 1);
  const out = spec.map((d) => (isInt(d) ? d : 1));
  const infer = out.indexOf(-1);
  if (infer >= 0) {
    const known = out.reduce((a, d, i) => (i === infer ? a : a * d), 1);
    out[infer] = known > 0 ? Math.floor(size / known) : 0;
  }
  return out;
}

export function transposeShape(x: Shape, args: unknown[]): Shape {
  if (args.length === 0 || (args.length === 1 && args[0] === undefined)) return x.slice().reverse();
  const axes = specOf(args);
  if (axes.length !== x.length) return x.slice().reverse();
  return axes.map((a) => (isInt(a) ? x[a < 0 ? a + x.length : a] ?? 1 : 1));
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

export function dotShape(a: Shape, b: Shape): Shape {
  const out = [...a.slice(0, -1), ...b.slice(1)];
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

/** `x.at(i)`: row `i` of axis 0; a 1-D array gives `[1]`. */
export function atShape(x: Shape): Shape {
  return x.length <= 1 ? [1] : x.slice(1);
}

/** `x.slice(begin, end)` on axis 0 with Python's clamping. */
export function sliceShape(x: Shape, begin: unknown, end: unknown): Shape {
  const rows = x[0] ?? 0;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rows : v, 0), rows);
  const b = isInt(begin) ? clamp(begin) : 0;
  const e = Math.max(isInt(end) ? clamp(end) : rows, b);
  return [e - b, ...x.slice(1)];
}
