// Argument checking shared by every op: bad input becomes an Error that
// names the operation before it ever reaches the engine.

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `array [${v.map(describe).join(", ")}]`;
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return `string "${v}"`;
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

/** The largest rank (NumPy's limit too). */
export const MAX_RANK = 32;

/**
 * The most elements one array holds: the engine's `MAX_ELEMENTS`
 * (crates/ndgrad-core/src/shape.rs; 4 GiB of memory is 2^30 float32s).
 * The engine enforces it; this copy lets a caller say which layer or
 * parameter asked for too much before the engine sees the shape.
 */
export const MAX_ELEMENTS = 2 ** 30;

/** A shape: a non-negative integer (1-D) or a list of them. */
export function shapeArg(op: string, shape: unknown): number[] {
  const dims = typeof shape === "number" ? [shape] : shape;
  if (!Array.isArray(dims) && !ArrayBuffer.isView(dims)) {
    throw new Error(`${op}: shape must be a number or an array of numbers (got ${describe(shape)})`);
  }
  const out = Array.from(dims as ArrayLike<unknown>);
  for (const d of out) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: shape dimensions must be non-negative integers (got ${describe(shape)})`);
    }
    if (d > 0x7fffffff) {
      throw new Error(`${op}: shape dimension ${d} is too large: an array holds at most ${MAX_ELEMENTS} (2^30) elements (got ${describe(shape)})`);
    }
  }
  if (out.length > MAX_RANK) throw new Error(`${op}: rank ${out.length} exceeds the maximum of ${MAX_RANK}`);
  return out as number[];
}

/** An integer (index or axis), checked. */
export function intArg(op: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || Math.abs(v) > 0x7fffffff) {
    throw new Error(`${op}: ${name} must be an integer (got ${describe(v)})`);
  }
  return v;
}

/** Axes: undefined/null for "all", a number, or a list of numbers. */
export function axesArg(op: string, axis: unknown): number[] | null {
  if (axis === undefined || axis === null) return null;
  const list = typeof axis === "number" ? [axis] : axis;
  if (!Array.isArray(list)) {
    throw new Error(`${op}: axis must be a number or an array of numbers (got ${describe(axis)})`);
  }
  if (list.length > MAX_RANK) throw new Error(`${op}: ${list.length} axes given; an array has at most ${MAX_RANK}`);
  return list.map((a) => intArg(op, "axis", a));
}

/** A finite number. */
export function numArg(op: string, name: string, v: unknown): number {
  if (typeof v !== "number") {
    throw new Error(`${op}: ${name} must be a number (got ${describe(v)})`);
  }
  return v;
}

export function boolArg(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new Error(`${op}: ${name} must be a boolean (got ${describe(v)})`);
  return v;
}
