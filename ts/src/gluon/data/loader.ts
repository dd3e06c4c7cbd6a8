// Gluon's DataLoader (python/mxnet/gluon/data/dataloader.py and
// sampler.py, 1.9.1): sequential or shuffled sampling (shuffled with the
// engine's seeded generator, so `nd.random.seed` makes epochs
// reproducible), `lastBatch` keep / discard / rollover, batches stacked
// like `default_batchify_fn`.
import { describe } from "../../args.js";
import { array, random } from "../../nd.js";
import { NDArray, stack } from "../../ndarray.js";
import { SimpleDataset, type Dataset, type FieldDtypes, type Item, type Sample } from "./dataset.js";
import type { DType } from "../../format.js";

export type LastBatch = "keep" | "discard" | "rollover";

export interface DataLoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  lastBatch?: LastBatch;
  /** Called with the samples of one batch (MXNet's `batchify_fn`). */
  batchifyFn?: (samples: Sample[]) => NDArray | NDArray[];
}

/**
 * Iterate it: `for (const [data, label] of loader)`. A batch's arrays are
 * freed when the next batch is produced (or the loop ends), so an epoch
 * never piles batches up in memory; `copy()` what must outlive its step.
 */
export class DataLoader implements Iterable<NDArray[]> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly lastBatch: LastBatch;
  readonly #batchify: ((samples: Sample[]) => NDArray | NDArray[]) | null;
  /** Rollover's leftover indices, which start the next epoch. */
  #prev: number[] = [];

  /**
   * `dataset`: a Dataset, or a plain list of samples (MXNet's DataLoader
   * takes any sequence with `__getitem__` and `__len__`; a list is wrapped
   * as a SimpleDataset, so numbers batch into a 1-D array and NDArrays are
   * stacked, as `default_batchify_fn` does).
   */
  constructor(dataset: Dataset | readonly Sample[], options: DataLoaderOptions) {
    if (Array.isArray(dataset)) {
      dataset = new SimpleDataset(dataset as readonly Sample[]);
    } else if (
      dataset === null ||
      typeof dataset !== "object" ||
      typeof (dataset as Dataset).at !== "function" ||
      typeof (dataset as Dataset).length !== "number"
    ) {
      throw new Error(`DataLoader: expected a Dataset or a list of samples (got ${describe(dataset)})`);
    }
    if (options === null || typeof options !== "object") throw new Error(`DataLoader: options {batchSize, …} are required (got ${describe(options)})`);
    const { batchSize, shuffle = false, lastBatch = "keep" } = options;
    if (typeof batchSize !== "number" || !Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(`DataLoader: batchSize must be a positive integer (got ${describe(batchSize)})`);
    }
    if (lastBatch !== "keep" && lastBatch !== "discard" && lastBatch !== "rollover") {
      throw new Error(`DataLoader: lastBatch must be "keep", "discard" or "rollover" (got ${describe(lastBatch)})`);
    }
    if (typeof shuffle !== "boolean") throw new Error(`DataLoader: shuffle must be a boolean (got ${describe(shuffle)})`);
    this.dataset = dataset as Dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.lastBatch = lastBatch;
    this.#batchify = options.batchifyFn ?? null;
  }

  /** Batches in the next epoch (MXNet's `len(loader)`). */
  get length(): number {
    const n = this.dataset.length;
    switch (this.lastBatch) {
      case "keep":
        return Math.ceil(n / this.batchSize);
      case "discard":
        return Math.floor(n / this.batchSize);
      case "rollover":
        return Math.floor((this.#prev.length + n) / this.batchSize);
    }
  }

  #order(): number[] {
    const n = this.dataset.length;
    const idx = Array.from({ length: n }, (_, i) => i);
    if (!this.shuffle || n < 2) return idx;
    // Random keys from the seeded generator, sorted: a uniform permutation
    // reproducible under nd.random.seed (ties broken by index).
    const u = random.uniform(0, 1, [n], "float64");
    const keys = u.data();
    u.dispose();
    idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
    return idx;
  }

  /** The index lists of one epoch (MXNet's BatchSampler). */
  #batches(): number[][] {
    const out: number[][] = [];
    let batch = this.#prev;
    this.#prev = [];
    for (const i of this.#order()) {
      batch.push(i);
      if (batch.length === this.batchSize) {
        out.push(batch);
        batch = [];
      }
    }
    if (batch.length > 0) {
      if (this.lastBatch === "keep") out.push(batch);
      else if (this.lastBatch === "rollover") this.#prev = batch;
    }
    return out;
  }

  #make(indices: number[]): NDArray[] {
    // A dataset of another making (only `at` and `length`) has no batch path.
    const fast = this.#batchify === null && typeof this.dataset.batch === "function" ? this.dataset.batch(indices) : null;
    if (fast !== null) return fast;
    const samples: Sample[] = [];
    try {
      for (const i of indices) samples.push(this.dataset.at(i));
      if (this.#batchify !== null) {
        const b = this.#batchify(samples);
        return Array.isArray(b) ? b : [b];
      }
      return defaultBatchify(samples, typeof this.dataset.fieldDtypes === "function" ? this.dataset.fieldDtypes() : null);
    } finally {
      for (const s of samples) for (const f of Array.isArray(s) ? s : [s]) if (f instanceof NDArray) f.dispose();
    }
  }

  *[Symbol.iterator](): Iterator<NDArray[]> {
    let current: NDArray[] = [];
    try {
      for (const indices of this.#batches()) {
        for (const a of current) a.dispose();
        current = [];
        current = this.#make(indices);
        yield current;
      }
    } finally {
      for (const a of current) a.dispose();
    }
  }
}

/** Whether every value is representable in `dtype` without rounding (else NumPy would have promoted). */
function fits(dtype: DType, v: readonly number[]): boolean {
  switch (dtype) {
    case "int32":
      return v.every((x) => Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff);
    case "uint8":
      return v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255);
    default:
      return true;
  }
}

/**
 * MXNet's `default_batchify_fn` (python/mxnet/gluon/data/dataloader.py,
 * 1.9.1): stack arrays, turn numbers into a 1-D array. MXNet's numbers are
 * NumPy scalars whose dtype `np.asarray` keeps; here `dtypes` (the
 * dataset's, by field position) stands in for it. Without one, numbers that
 * are all integers give int32 and others float32.
 */
export function defaultBatchify(samples: Sample[], dtypes: FieldDtypes | null = null): NDArray[] {
  if (samples.length === 0) return [];
  const first = samples[0]!;
  const nFields = Array.isArray(first) ? first.length : 1;
  const field = (s: Sample, k: number): Item => (Array.isArray(s) ? s[k]! : s);
  const out: NDArray[] = [];
  try {
    for (let k = 0; k < nFields; k++) {
      const f0 = field(first, k);
      if (f0 instanceof NDArray) {
        out.push(stack(samples.map((s) => field(s, k) as NDArray), 0));
      } else {
        const v = samples.map((s) => field(s, k) as number);
        const d = dtypes?.[k] ?? null;
        if (d !== null && fits(d, v)) out.push(array(v, { dtype: d }));
        else out.push(array(v.every(Number.isInteger) ? Int32Array.from(v) : Float32Array.from(v)));
      }
    }
  } catch (e) {
    for (const a of out) a.dispose();
    throw e;
  }
  return out;
}
