// Timing helpers shared by the bench workers: warm-up, calibrated inner
// loops, medians, and the conversion of a time per call into each row's unit.
import { rows as specRows, timing as specTiming } from "./spec.mjs";

export const now = () => performance.now();

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Collect garbage between rows when the worker runs with --expose-gc. */
export function gc() {
  if (typeof globalThis.gc === "function") globalThis.gc();
}

/**
 * Median milliseconds per call of `fn`. The first call is a cold probe;
 * warm-up repeats then run for at least `warmupMs` (and `warmup` repeats),
 * re-calibrating as the code gets faster, so that V8 has tiered everything
 * up (JavaScript in the peers' case; WebAssembly starts in Liftoff and has
 * no on-stack replacement, so only later calls run optimised code). Each
 * measured repeat runs `inner` calls so that it lasts at least
 * `minRepeatMs`; the result is the median over `repeats`.
 */
export function measure(fn, t) {
  gc();
  let t0 = now();
  fn();
  let one = now() - t0;
  const slow = one > 400;
  const warmup = slow ? 1 : t.warmup;
  const warmupMs = slow ? 0 : t.warmupMs;
  const repeats = slow ? Math.min(3, t.repeats) : t.repeats;
  const innerFor = (ms) => Math.max(1, Math.min(1e6, Math.ceil(t.minRepeatMs / Math.max(ms, 1e-4))));
  let inner = innerFor(one);
  const started = now();
  for (let r = 0; r < warmup || now() - started < warmupMs; r++) {
    t0 = now();
    for (let i = 0; i < inner; i++) fn();
    inner = innerFor((now() - t0) / inner);
  }
  gc();
  const times = [];
  for (let r = 0; r < repeats; r++) {
    t0 = now();
    for (let i = 0; i < inner; i++) fn();
    times.push((now() - t0) / inner);
  }
  return { ms: median(times), min: Math.min(...times), max: Math.max(...times), repeats, inner };
}

/** The row's value (in its unit) for `ms` milliseconds per call. */
export function valueOf(row, ms) {
  switch (row.unit) {
    case "GFLOP/s":
      return row.flops / (ms * 1e6);
    case "GB/s":
      return row.bytes / (ms * 1e6);
    case "µs":
      return ms * 1e3;
    case "steps/s":
      return 1e3 / ms;
    case "ms":
      return ms;
    default:
      throw new Error(`unknown unit ${row.unit}`);
  }
}

/**
 * Run a worker's measurements: `impl[kind](row)` returns a call to time (or
 * `{ skip: reason }`); results go to stdout as one marked JSON line.
 */
export async function runWorker(name, impl, quick) {
  const t = specTiming(quick);
  const results = {};
  for (const row of specRows(quick)) {
    let entry;
    try {
      const job = await impl(row);
      if (job.skip) {
        entry = { value: null, reason: job.skip };
      } else {
        const m = measure(job.fn, t);
        job.after?.();
        entry = { value: valueOf(row, m.ms), ms: m.ms, minMs: m.min, maxMs: m.max, repeats: m.repeats, inner: m.inner };
        if (row.perElement) entry.nsPerElement = (m.ms * 1e6) / row.n;
        if (job.note) entry.note = job.note;
      }
    } catch (e) {
      entry = { value: null, reason: `error: ${e?.message ?? e}` };
    }
    results[row.id] = entry;
    process.stderr.write(`[bench ${name}] ${row.id}: ${entry.value === null ? entry.reason : entry.value.toPrecision(4) + " " + row.unit}\n`);
  }
  emit({ backend: name, results });
}

export function emit(obj) {
  process.stdout.write(`\n@@BENCH ${JSON.stringify(obj)}\n`);
}

/**
 * Like `measure`, for several variants of one call (`variants[i]()` sets
 * variant i up, e.g. a thread count): warm-up for each, then the repeats
 * alternate between the variants, so that a machine whose load drifts
 * affects them alike and their ratio stays meaningful.
 */
export function measureInterleaved(fn, variants, t) {
  gc();
  variants[0]();
  let t0 = now();
  fn();
  const one = now() - t0;
  const slow = one > 400;
  const repeats = slow ? Math.min(3, t.repeats) : t.repeats;
  const inner = Math.max(1, Math.min(1e6, Math.ceil(t.minRepeatMs / Math.max(one, 1e-4))));
  for (const v of variants) {
    v();
    const started = now();
    for (let r = 0; r < (slow ? 1 : t.warmup) || now() - started < (slow ? 0 : t.warmupMs); r++) {
      for (let i = 0; i < inner; i++) fn();
    }
  }
  gc();
  const times = variants.map(() => []);
  for (let r = 0; r < repeats; r++) {
    variants.forEach((v, k) => {
      v();
      t0 = now();
      for (let i = 0; i < inner; i++) fn();
      times[k].push((now() - t0) / inner);
    });
  }
  return times.map((ts) => ({ ms: median(ts), min: Math.min(...ts), max: Math.max(...ts), repeats, inner }));
}
