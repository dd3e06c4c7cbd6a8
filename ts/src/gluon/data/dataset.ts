// Gluon's datasets (python/mxnet/gluon/data/dataset.py, 1.9.1).
import { describe } from "../../args.js";
import { array } from "../../nd.js";
import { stack } from "../../ndarray.js";
import { NDArray } from "../../ndarray.js";
import type { DType } from "../../format.js";

/** One field of a sample: an array, or a number (MXNet's NumPy scalars). */
export type Item = NDArray | number;
export type Sample = Item | Item[];

/**
 * @internal The dtype of a sample's plain-number fields, by position (null:
 * not a number column, or unknown). MXNet's items are NumPy scalars that
 * carry their dtype through transforms into `default_batchify_fn`'s
 * `np.asarray(data)` (python/mxnet/gluon/data/dataset.py `ArrayDataset`,
 * dataloader.py, 1.9.1); a JS number cannot, so the dataset says it.
 */
export type FieldDtypes = readonly (DType | null)[];

/** A transform of one field (or a whole batch of it, see `BatchTransform`). */
export type Transform = (x: NDArray) => NDArray;

/**
 * A transform that can also run on a stacked batch (leading batch axis)
 * with the same result as stacking the per-sample results: the DataLoader
 * then transforms each batch in a few engine calls instead of per sample.
 */
export interface BatchTransform {
  (x: NDArray): NDArray;
  batch(x: NDArray): NDArray;
}

function isBatchTransform(f: unknown): f is BatchTransform {
  return typeof f === "function" && typeof (f as { batch?: unknown }).batch === "function";
}

export abstract class Dataset {
  abstract get length(): number;
  /** The i-th sample: a field or a list of fields. New arrays belong to the caller. */
  abstract at(i: number): Sample;

  /**
   * @internal A whole batch at once, one array per field (stacked), or null
   * when this dataset can only give samples one by one.
   */
  batch(_indices: readonly number[]): NDArray[] | null {
    return null;
  }

  /**
   * @internal The dtypes of the plain-number fields of this dataset's
   * samples, by position, or null when unknown (numbers then batch as
   * int32 when all are integers, float32 otherwise).
   */
  fieldDtypes(): FieldDtypes | null {
    return null;
  }

  /** MXNet's `transform_first`: `fn` applied to the first field of every sample. */
  transformFirst(fn: Transform | BatchTransform): Dataset {
    if (typeof fn !== "function") throw new Error(`transformFirst: expected a function (got ${describe(fn)})`);
    return new TransformFirstDataset(this, fn);
  }

  /** MXNet's `transform`: `fn` applied to every sample. */
  transform(fn: (...fields: Item[]) => Sample): Dataset {
    if (typeof fn !== "function") throw new Error(`transform: expected a function (got ${describe(fn)})`);
    return new LazyTransformDataset(this, fn);
  }

  /** @internal Bounds check for `at`. */
  protected index(i: number): number {
    const n = this.length;
    if (!Number.isInteger(i) || i < -n || i >= n) {
      throw new Error(`${this.constructor.name}.at: index ${describe(i)} out of range (length ${n})`);
    }
    return i < 0 ? i + n : i;
  }
}

class TransformFirstDataset extends Dataset {
  constructor(
    readonly base: Dataset,
    readonly fn: Transform | BatchTransform,
  ) {
    super();
  }
  get length(): number {
    return this.base.length;
  }
  at(i: number): Sample {
    const s = this.base.at(i);
    const fields = Array.isArray(s) ? s : [s];
    const first = fields[0];
    if (!(first instanceof NDArray)) throw new Error(`transformFirst: the first field of sample ${i} is not an NDArray`);
    const out = this.fn(first);
    if (out !== first) first.dispose();
    return Array.isArray(s) ? [out, ...fields.slice(1)] : out;
  }
  override fieldDtypes(): FieldDtypes | null {
    // The first field becomes an NDArray; the others are the base's.
    const d = this.base.fieldDtypes();
    return d === null ? null : [null, ...d.slice(1)];
  }
  override batch(indices: readonly number[]): NDArray[] | null {
    const b = this.base.batch(indices);
    if (b === null) return null;
    const x = b[0]!;
    let keepX = false;
    try {
      if (isBatchTransform(this.fn)) {
        const out = this.fn.batch(x);
        keepX = out === x;
        return [out, ...b.slice(1)];
      }
      // A per-sample transform: run it on each row, keep the other fields'
      // batched arrays (and their dtypes).
      const rows: NDArray[] = [];
      try {
        for (let k = 0; k < indices.length; k++) {
          const r = x.at(k);
          const t = this.fn(r);
          if (t !== r) r.dispose();
          rows.push(t);
        }
        return [stack(rows, 0), ...b.slice(1)];
      } finally {
        for (const r of rows) r.dispose();
      }
    } catch (e) {
      for (const a of b.slice(1)) a.dispose();
      throw e;
    } finally {
      if (!keepX) x.dispose();
    }
  }
}

class LazyTransformDataset extends Dataset {
  constructor(
    readonly base: Dataset,
    readonly fn: (...fields: Item[]) => Sample,
  ) {
    super();
  }
  get length(): number {
    return this.base.length;
  }
  at(i: number): Sample {
    const s = this.base.at(i);
    const inputs = Array.isArray(s) ? s : [s];
    let out: Sample | undefined;
    try {
      out = Array.isArray(s) ? this.fn(...s) : this.fn(s);
      return out;
    } finally {
      // The base's arrays are this call's to free once the transform has
      // made new ones from them (as transformFirst does); those it passes
      // through belong to the caller with the rest of the sample.
      const kept = out === undefined ? [] : Array.isArray(out) ? out : [out];
      for (const f of inputs) if (f instanceof NDArray && !kept.includes(f)) f.dispose();
    }
  }
  override fieldDtypes(): FieldDtypes | null {
    // Positional: a number the transform passes through (or computes in
    // place of one) keeps its column's dtype, as a NumPy scalar would.
    // The batchify checks the values fit (an integer dtype is dropped for
    // non-integers, as NumPy promotes int32 / 2 to a float).
    return this.base.fieldDtypes();
  }
}

/**
 * A dataset over a list (MXNet's SimpleDataset): samples are its items
 * (numbers, NDArrays, or lists of them), NDArrays given as copies.
 */
export class SimpleDataset extends Dataset {
  constructor(readonly data: readonly Sample[]) {
    super();
  }
  get length(): number {
    return this.data.length;
  }
  at(i: number): Sample {
    // Copies: the caller owns (and the DataLoader frees) what `at` returns,
    // and the list's own arrays must outlive every epoch.
    const s = this.data[this.index(i)]!;
    const own = (f: Item): Item => (f instanceof NDArray ? f.copy() : f);
    if (!Array.isArray(s)) return own(s);
    const out: Item[] = [];
    try {
      for (const f of s) out.push(own(f));
    } catch (e) {
      for (const f of out) if (f instanceof NDArray) f.dispose();
      throw e;
    }
    return out;
  }
}

type Column =
  | { kind: "array"; a: NDArray }
  | { kind: "numbers"; v: Float32Array | Float64Array | Int32Array | Uint8Array | number[]; dtype: "float32" | "float64" | "int32" | "uint8" };

/**
 * MXNet's `ArrayDataset(*args)`: samples are the i-th rows of each array
 * (NDArrays, typed arrays or lists of the same length). As in MXNet, 1-D
 * NDArrays and plain lists give numbers, which the DataLoader batches into a
 * 1-D array of their dtype.
 */
export class ArrayDataset extends Dataset {
  readonly #cols: Column[];
  readonly #length: number;
  constructor(...arrays: (NDArray | number[] | Float32Array | Float64Array | Int32Array)[]) {
    super();
    if (arrays.length === 0) throw new Error("ArrayDataset: needs at least one array");
    this.#cols = arrays.map((a, k): Column => {
      if (a instanceof NDArray) {
        if (a.ndim === 0) throw new Error(`ArrayDataset: array ${k} has no first axis`);
        if (a.ndim === 1) return { kind: "numbers", v: a.data(), dtype: a.dtype };
        return { kind: "array", a };
      }
      if (a instanceof Float32Array) return { kind: "numbers", v: a, dtype: "float32" };
      if (a instanceof Float64Array) return { kind: "numbers", v: a, dtype: "float64" };
      if (a instanceof Int32Array) return { kind: "numbers", v: a, dtype: "int32" };
      if (Array.isArray(a) && a.every((x) => typeof x === "number")) return { kind: "numbers", v: a, dtype: "float32" };
      throw new Error(`ArrayDataset: argument ${k} must be an NDArray, a typed array or a list of numbers (got ${describe(a)})`);
    });
    const lens = this.#cols.map((c) => (c.kind === "array" ? c.a.shape[0]! : c.v.length));
    if (lens.some((n) => n !== lens[0])) {
      throw new Error(`ArrayDataset: all arrays must have the same length (got ${lens.join(", ")})`);
    }
    this.#length = lens[0]!;
  }
  get length(): number {
    return this.#length;
  }
  at(i: number): Sample {
    const j = this.index(i);
    const fields = this.#cols.map((c) => (c.kind === "array" ? c.a.at(j) : c.v[j]!));
    return fields.length === 1 ? fields[0]! : fields;
  }
  override fieldDtypes(): FieldDtypes {
    return this.#cols.map((c) => (c.kind === "numbers" ? c.dtype : null));
  }
  override batch(indices: readonly number[]): NDArray[] {
    const idx = Int32Array.from(indices);
    return this.#cols.map((c) => {
      if (c.kind === "array") {
        const ix = array(idx, { dtype: "int32" });
        try {
          return c.a.take(ix);
        } finally {
          ix.dispose();
        }
      }
      const out =
        c.dtype === "float64"
          ? new Float64Array(idx.length)
          : c.dtype === "int32"
            ? new Int32Array(idx.length)
            : c.dtype === "uint8"
              ? new Uint8Array(idx.length)
              : new Float32Array(idx.length);
      for (let k = 0; k < idx.length; k++) out[k] = c.v[idx[k]!]!;
      return array(out, { dtype: c.dtype });
    });
  }
}
