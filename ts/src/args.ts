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

/**
 * MXNet 1.x's special values in a reshape target (src/operator/tensor/
 * matrix_op-inl.h `InferReshapeShape`, 1.9.1): `0` copies the input's
 * dimension, `-2` copies all remaining ones, `-3` merges the next two,
 * `-4 a b` splits the next one into `a × b` (one of them may be -1); `-1`
 * stays for the engine to infer. Returns the target with only plain sizes
 * and at most one -1, or the spec itself when it uses none of these codes.
 * (MXNet records -1's place by its index in the spec, which after a -2, -3
 * or -4 points at another dimension; here it is the -1's own place.)
 */
export function mxnetReshapeSpec(op: string, input: readonly number[], spec: readonly number[]): number[] {
  if (!spec.some((d) => d === 0 || d === -2 || d === -3 || d === -4)) return spec.slice();
  const shown = (): string => `[${spec.join(",")}] for an array of shape [${input.join(",")}]`;
  const out: number[] = [];
  let src = 0;
  let inferred = false;
  for (let i = 0; i < spec.length; i++) {
    const d = spec[i]!;
    if (d === 0) {
      if (src >= input.length) throw new Error(`${op}: 0 copies an input dimension, but the input has only ${input.length}: ${shown()}`);
      out.push(input[src++]!);
    } else if (d === -1) {
      if (inferred) throw new Error(`${op}: can only specify one unknown dimension (-1): ${shown()}`);
      inferred = true;
      out.push(-1);
      src++;
    } else if (d === -2) {
      while (src < input.length) out.push(input[src++]!);
    } else if (d === -3) {
      if (src + 1 >= input.length) throw new Error(`${op}: -3 merges two input dimensions, but fewer remain: ${shown()}`);
      out.push(input[src]! * input[src + 1]!);
      src += 2;
    } else if (d === -4) {
      if (i + 2 >= spec.length) throw new Error(`${op}: -4 must be followed by the two sizes to split into: ${shown()}`);
      if (src >= input.length) throw new Error(`${op}: -4 splits an input dimension, but none remains: ${shown()}`);
      const d0 = input[src++]!;
      let a = spec[++i]!;
      let b = spec[++i]!;
      if (a === -1 && b === -1) throw new Error(`${op}: split dims cannot both be -1: ${shown()}`);
      if (a < -1 || b < -1) throw new Error(`${op}: -4 takes two sizes (one may be -1): ${shown()}`);
      if (a === -1) a = b === 0 ? 0 : Math.floor(d0 / b);
      if (b === -1) b = a === 0 ? 0 : Math.floor(d0 / a);
      if (a * b !== d0) throw new Error(`${op}: split dims ${a}, ${b} do not divide original dim ${d0}: ${shown()}`);
      out.push(a, b);
    } else if (d < -4) {
      throw new Error(`${op}: invalid dimension ${d} in the target shape ${shown()}`);
    } else {
      out.push(d);
      src++;
    }
  }
  return out;
}
