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
        pool: [2, 4, 16, 16], // Pooling / BatchNorm rows (pool branch)
        // conv branch (issue #12)
        conv: { batch: 2, channels: 8, size: 14 },
        lenet: { batch: 8 },
      }
    : {
        matmul: [64, 256, 512, 1024],
        elems: [1 << 20, 1 << 24],
        sum: 1 << 24,
        read: 1 << 24,
        mlp: { batch: 64, inp: 784, hidden: 256, out: 10 },
        probeBytes: 64 << 20,
        pool: [8, 64, 56, 56], // Pooling / BatchNorm rows (pool branch)
        // conv branch (issue #12)
        conv: { batch: 8, channels: 64, size: 56 },
        lenet: { batch: 256 },
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
  // ---- max pooling and BatchNorm (pool branch) ----
  const [pn, pc, ph, pw] = s.pool;
  const ne = pn * pc * ph * pw;
  const pshape = s.pool.join("×");
  const pooled = pn * pc * Math.floor((ph - 1) / 2 + 1) * Math.floor((pw - 1) / 2 + 1);
  out.push({
    id: "maxpool_3x3s2",
    label: `max pooling 3×3/2 pad 1, ${pshape}`,
    unit: "GB/s",
    higher: true,
    // the input read once and the output written once (ndgrad also writes
    // the argmax positions its gradient needs, not counted)
    bytes: 4 * (ne + pooled),
    shape: s.pool,
    streamOf: "stream_add",
  });
  out.push({
    id: "maxpool_2x2s2",
    label: `max pooling 2×2/2, ${pshape}`,
    unit: "GB/s",
    higher: true,
    bytes: 4 * (ne + ne / 4),
    shape: s.pool,
    streamOf: "stream_add",
  });
  out.push({
    id: "batchnorm_train",
    label: `BatchNorm train (batch stats), ${pshape}`,
    unit: "GB/s",
    higher: true,
    // 12 bytes per element, as stream z = x + y: the statistics pass reads
    // x, the output pass reads x and writes y
    bytes: 12 * ne,
    shape: s.pool,
    streamOf: "stream_add",
  });
  // ---- conv branch (issue #12): 3×3 convolution and LeNet ----
  const c = s.conv;
  const convFlops = 2 * c.batch * c.channels * c.size * c.size * c.channels * 9;
  const cl = `3×3 conv ${c.channels}→${c.channels} ${c.size}×${c.size} b${c.batch}`;
  out.push({ id: "conv3x3_fwd", label: `${cl} forward`, unit: "GFLOP/s", higher: true, flops: convFlops, threads: true, conv: c });
  // forward, then the data and weight gradients: three times the forward's work
  out.push({ id: "conv3x3_fwd_bwd", label: `${cl} fwd+bwd`, unit: "GFLOP/s", higher: true, flops: 3 * convFlops, threads: true, conv: c });
  const lb = s.lenet.batch;
  out.push({ id: "lenet_fwd", label: `LeNet forward b${lb}`, unit: "ms", higher: false, batch: lb, threads: true });
  out.push({ id: "lenet_step", label: `LeNet SGD step b${lb}`, unit: "ms", higher: false, batch: lb, threads: true });
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

/**
 * LeNet as PERF.md measures it (MXNet's Gluon crash course model):
 * Conv2D(6, 5, relu) → MaxPool(2, 2) → Conv2D(16, 3, relu) → MaxPool(2, 2)
 * → Dense(120, relu) → Dense(84, relu) → Dense(10), softmax cross-entropy
 * (mean over the batch), SGD 0.1, 1×28×28 inputs. Every peer builds this.
 */
export const LENET = {
  input: [1, 28, 28],
  conv1: { filters: 6, kernel: 5 },
  conv2: { filters: 16, kernel: 3 },
  dense: [400, 120, 84, 10],
  lr: 0.1,
};

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
  // ---- conv branch (issue #12): the convolution and LeNet rows' other peers ----
  { id: "jax-js", label: "jax-js", script: "jax.mjs", args: [] },
  { id: "torch-1", label: "torch-1", script: "torch.mjs", args: ["1"] }, // PyTorch 1.13 native, 1 thread
  { id: "torch-2", label: "torch-2", script: "torch.mjs", args: ["2"] }, // 2 threads
];

/** ndgrad's threads build (pkg/ndgrad-threads.wasm), each row measured on
 *  1 and 2 threads in one process, repeats interleaved. */
export const THREADS = { id: "ndgrad-threads", script: "ndgrad.mjs", counts: [1, 2] };

/** The rows the threads build runs: those a thread pool speeds up. */
export function isThreadRow(row) {
  return row.id.startsWith("matmul_") || row.id === "mlp_step" || row.threads === true;
}
