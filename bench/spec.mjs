// What `npm run bench` measures: one list of rows shared by the runner, the
// per-backend workers and tests/ts/bench.test.ts. `--quick` keeps every row
// but shrinks the sizes so the whole run takes seconds.

/** Sizes for a full or a quick run. */
export function sizes(quick) {
  return quick
    ? {
        matmul: [16, 32, 48, 64],
        elems: [1 << 12, 1 << 16],
        sum: 1 << 16,
        read: 1 << 16,
        mlp: { batch: 8, inp: 64, hidden: 32, out: 10 },
        probeBytes: 1 << 20,
      }
    : {
        matmul: [64, 256, 512, 1024],
        elems: [1 << 20, 1 << 24],
        sum: 1 << 24,
        read: 1 << 24,
        mlp: { batch: 64, inp: 784, hidden: 256, out: 10 },
        probeBytes: 64 << 20,
      };
}

/** Timing policy: warm-up repeats, measured repeats, and the shortest repeat. */
export function timing(quick) {
  return quick
    ? { warmup: 1, warmupMs: 5, repeats: 2, minRepeatMs: 2 }
    : { warmup: 2, warmupMs: 400, repeats: 6, minRepeatMs: 80 };
}

const human = (n) =>
  n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20}M` : n >= 1 << 10 && n % (1 << 10) === 0 ? `${n >> 10}K` : String(n);

export const ELEMENTWISE = ["add", "mul", "exp", "relu"];

/**
 * Every row: `id` (stable key in the JSON), `label` (table text), `unit` of
 * `value`, whether higher is better, and `bytes`/`flops` per call where a
 * rate is derived. Peers that cannot do a row report `null` with a reason.
 */
export function rows(quick) {
  const s = sizes(quick);
  const out = [];
  for (const n of s.matmul) {
    out.push({ id: `matmul_${n}`, label: `matmul n=${n}`, unit: "GFLOP/s", higher: true, flops: 2 * n ** 3, n });
  }
  for (const op of ELEMENTWISE) {
    for (const n of s.elems) {
      const bytes = (op === "add" || op === "mul" ? 12 : 8) * n;
      // The largest add, mul and exp also run on the threads build.
      const threads = n === s.elems[s.elems.length - 1] && op !== "relu";
      out.push({ id: `${op}_${human(n)}`, label: `${op} ${human(n)}`, unit: "GB/s", higher: true, bytes, n, op, perElement: true, threads });
    }
  }
  out.push({ id: `sum_${human(s.sum)}`, label: `sum ${human(s.sum)}`, unit: "GB/s", higher: true, bytes: 4 * s.sum, n: s.sum, perElement: true, threads: true });
  out.push({ id: `read_${human(s.read)}_reused`, label: `read ${human(s.read)} → JS, reused dest`, unit: "GB/s", higher: true, bytes: 4 * s.read, n: s.read });
  out.push({ id: `read_${human(s.read)}_fresh`, label: `read ${human(s.read)} → JS, fresh array`, unit: "GB/s", higher: true, bytes: 4 * s.read, n: s.read });
  out.push({ id: "add_2x2", label: "2×2 add incl. create+dispose", unit: "µs", higher: false });
  out.push({ id: "grad_2x2", label: "grad of 2·x·x on 2×2", unit: "µs", higher: false });
  const m = s.mlp;
  out.push({
    id: "mlp_step",
    label: `MLP ${m.inp}-${m.hidden}-${m.out} b${m.batch} SGD step`,
    unit: "steps/s",
    higher: true,
    // The matmul work a step needs (PERF.md's count): forward X·W1 and
    // H·W2, the weight gradients, and the gradient into H (the gradient
    // into X is not needed).
    flops: 4 * m.batch * m.inp * m.hidden + 6 * m.batch * m.hidden * m.out,
  });
  // The same network written with Gluon (issue #14): Dense layers, softmax
  // cross-entropy against class labels, Trainer("sgd") — one fused engine
  // call for the update.
  out.push({
    id: "trainer_step",
    label: `Trainer: MLP ${m.inp}-${m.hidden}-${m.out} b${m.batch} gluon SGD step`,
    unit: "steps/s",
    higher: true,
    flops: 4 * m.batch * m.inp * m.hidden + 6 * m.batch * m.hidden * m.out,
  });
  return out;
}

/** The machine probes (hand-written WebAssembly, no library). */
export function probeRows(quick) {
  const mib = sizes(quick).probeBytes >> 20;
  return [
    { id: "simd_peak", label: "wasm f32x4 mul+add peak (12 acc.)", unit: "GFLOP/s" },
    { id: "stream_add", label: `stream z = x + y, ${mib} MiB arrays`, unit: "GB/s" },
    { id: "stream_read", label: `stream read (sum), ${mib} MiB`, unit: "GB/s" },
  ];
}

// "ndgrad" is the single-threaded build (what every runtime can load); the
// threads build runs the rows where threads matter in THREAD_BACKENDS.
export const BACKENDS = [
  { id: "ndgrad", label: "ndgrad", script: "ndgrad.mjs", args: [], env: { NDGRAD_THREADS: "0" } },
  { id: "tfjs-wasm", label: "tfjs-wasm", script: "tfjs.mjs", args: ["wasm"] },
  { id: "tfjs-cpu", label: "tfjs-cpu", script: "tfjs.mjs", args: ["cpu"] },
];

/** ndgrad's threads build (pkg/ndgrad-threads.wasm), each row measured on
 *  1 and 2 threads in one process, repeats interleaved. */
export const THREADS = { id: "ndgrad-threads", script: "ndgrad.mjs", counts: [1, 2] };

/** The rows the threads build runs: those a thread pool speeds up. */
export function isThreadRow(row) {
  return row.id.startsWith("matmul_") || row.id === "mlp_step" || row.threads === true;
}
