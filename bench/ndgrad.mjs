// ndgrad worker: runs every row against the built package (pkg/).
import { autograd, gluon, init, nd } from "../pkg/index.js";
import { emit, measureInterleaved, runWorker, valueOf } from "./lib.mjs";
import { LENET, isThreadRow, rows as specRows, sizes, timing } from "./spec.mjs";

const quick = process.argv.includes("--quick");
const S = sizes(quick);
nd.random.seed(42);
process.stderr.write(`[bench ndgrad] relaxed SIMD: ${nd.relaxedSimd()}, threads: ${nd.getThreads()}\n`);

// `--threads 1,2`: the threads build, rows where threads matter only, each
// measured on every listed thread count with the repeats interleaved
// (bench/run.mjs starts the plain "ndgrad" run with NDGRAD_THREADS=0, the
// single-threaded build).
const ti = process.argv.indexOf("--threads");
const threads = ti >= 0 ? process.argv[ti + 1].split(",").map(Number) : null;

// Force a result by reading one element back (ndgrad is eager; this keeps
// the measurement honest for any backend that is not).
const one = new Float32Array(1 << 12);
function force(x) {
  // One element of any rank: a flat view's first element (a view: no copy).
  const flat = x.ndim > 2 ? x.reshape([-1]) : x;
  const r = flat.at(0);
  r.data(one);
  r.dispose();
  if (flat !== x) flat.dispose();
}

const inputs = new Map();
function vec(n) {
  if (!inputs.has(n)) inputs.set(n, [nd.random.uniform(-2, 2, [n]), nd.random.uniform(-2, 2, [n])]);
  return inputs.get(n);
}
function freeInputs() {
  for (const [a, b] of inputs.values()) {
    a.dispose();
    b.dispose();
  }
  inputs.clear();
}

async function impl(row) {
  if (row.id.startsWith("matmul_")) {
    freeInputs();
    const a = nd.random.uniform(-1, 1, [row.n, row.n]);
    const b = nd.random.uniform(-1, 1, [row.n, row.n]);
    return {
      fn() {
        const c = a.dot(b);
        force(c);
        c.dispose();
      },
      after() {
        a.dispose();
        b.dispose();
      },
    };
  }
  if (row.op) {
    const [a, b] = vec(row.n);
    const f = {
      add: () => a.add(b),
      mul: () => a.mul(b),
      exp: () => a.exp(),
      relu: () => a.relu(),
    }[row.op];
    return {
      fn() {
        const c = f();
        force(c);
        c.dispose();
      },
    };
  }
  if (row.id.startsWith("sum_")) {
    const [a] = vec(row.n);
    return {
      fn() {
        const s = a.sum();
        s.asscalar();
        s.dispose();
      },
    };
  }
  if (row.id.startsWith("read_")) {
    const [a] = vec(row.n);
    if (row.id.endsWith("_reused")) {
      const out = new Float32Array(row.n).fill(1);
      return { fn: () => a.data(out), note: "x.data(out)" };
    }
    return { fn: () => a.data(), note: "x.data()" };
  }
  if (row.id === "add_2x2") {
    freeInputs();
    return {
      fn() {
        const x = nd.array([[1, 2], [3, 4]]);
        const y = nd.array([[5, 6], [7, 8]]);
        const z = x.add(y);
        z.data();
        x.dispose();
        y.dispose();
        z.dispose();
      },
    };
  }
  if (row.id === "grad_2x2") {
    const x = nd.array([[1, 2], [3, 4]]);
    x.attachGrad();
    const out = new Float32Array(4);
    return {
      fn() {
        nd.scope(() => {
          const y = autograd.record(() => x.mul(2).mul(x));
          y.backward();
          x.grad.data(out);
        });
      },
      after: () => x.dispose(),
      note: "nd.scope + autograd.record + backward + x.grad.data(out)",
    };
  }
  if (row.id === "mlp_step") {
    const { batch, inp, hidden, out } = S.mlp;
    const X = nd.random.uniform(0, 1, [batch, inp]);
    const Y = nd.random.uniform(0, 1, [batch, out]);
    const W1 = nd.random.normal(0, 0.05, [inp, hidden]);
    const b1 = nd.zeros([hidden]);
    const W2 = nd.random.normal(0, 0.05, [hidden, out]);
    const b2 = nd.zeros([out]);
    const params = [W1, b1, W2, b2];
    for (const p of params) p.attachGrad();
    const lr = 0.01;
    return {
      fn() {
        nd.scope(() => {
          const loss = autograd.record(() => {
            const h = X.dot(W1).add(b1).relu();
            return h.dot(W2).add(b2).sub(Y).square().mean();
          });
          loss.backward();
          for (const p of params) p.set(p.sub(p.grad.mul(lr)));
          loss.asscalar();
        });
      },
      after() {
        for (const p of [X, Y, ...params]) p.dispose();
      },
      note: "relu(X·W1+b1)·W2+b2, mean squared error, w[:] = w - lr·grad",
    };
  }
  // ---- max pooling and BatchNorm (pool branch) ----
  // One element of a 4-D result (x.at(0) would read a whole [C,H,W] slice).
  const force1 = (y) => {
    const flat = y.reshape([y.size]);
    force(flat);
    flat.dispose();
  };
  if (row.id.startsWith("maxpool_")) {
    freeInputs();
    const x = nd.random.uniform(-2, 2, row.shape);
    const o = row.id === "maxpool_3x3s2" ? { kernel: [3, 3], stride: [2, 2], pad: [1, 1] } : { kernel: [2, 2], stride: [2, 2] };
    return {
      fn() {
        const y = nd.Pooling(x, o);
        force1(y);
        y.dispose();
      },
      after: () => x.dispose(),
      note: `nd.Pooling(x, ${JSON.stringify(o)}) (NCHW)`,
    };
  }
  if (row.id === "batchnorm_train") {
    freeInputs();
    const c = row.shape[1];
    const x = nd.random.uniform(-2, 2, row.shape);
    const [g, b, mm, mv] = [nd.ones([c]), nd.zeros([c]), nd.zeros([c]), nd.ones([c])];
    return {
      fn() {
        // recording in train mode: batch statistics (nothing needs a
        // gradient, so no tape node)
        const y = autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false }), { trainMode: true });
        force1(y);
        y.dispose();
      },
      after: () => [x, g, b, mm, mv].forEach((t) => t.dispose()),
      note: "nd.BatchNorm under autograd.record (train mode: batch mean/variance), NCHW axis 1",
    };
  }
  // ---- conv branch (issue #12): 3×3 convolution, LeNet ----
  if (row.conv) {
    freeInputs();
    const { batch, channels, size } = row.conv;
    const x = nd.random.uniform(-1, 1, [batch, channels, size, size]);
    const w = nd.random.normal(0, 0.05, [channels, channels, 3, 3]);
    const o = { kernel: [3, 3], pad: [1, 1], numFilter: channels, noBias: true };
    if (row.id === "conv3x3_fwd") {
      return {
        fn() {
          const y = nd.Convolution(x, w, null, o);
          force(y);
          y.dispose();
        },
        after() {
          x.dispose();
          w.dispose();
        },
      };
    }
    x.attachGrad();
    w.attachGrad();
    const dy = nd.random.uniform(-1, 1, [batch, channels, size, size]);
    return {
      fn() {
        nd.scope(() => {
          const y = autograd.record(() => nd.Convolution(x, w, null, o));
          y.backward(dy);
          force(x.grad);
          force(w.grad);
        });
      },
      after() {
        for (const a of [x, w, dy]) a.dispose();
      },
      note: "record Convolution, backward(dy): data and weight gradients",
    };
  }
  if (row.id === "lenet_fwd" || row.id === "lenet_step") {
    freeInputs();
    const net = lenet(row.batch);
    if (row.id === "lenet_fwd") {
      return {
        fn() {
          nd.scope(() => force(net.forward()));
        },
        after: net.dispose,
        note: "predict mode, nd.Convolution/Pooling/FullyConnected",
      };
    }
    return {
      fn() {
        nd.scope(() => {
          const loss = autograd.record(() => net.loss(net.forward()));
          loss.backward();
          for (const p of net.params) p.set(p.sub(p.grad.mul(LENET.lr)));
          loss.asscalar();
        });
      },
      after: net.dispose,
      note: "forward, softmax cross-entropy (mean), backward, SGD w[:] = w - lr·grad",
    };
  }
  if (row.id === "trainer_step") {
    const { batch, inp, hidden, out } = S.mlp;
    const X = nd.random.uniform(0, 1, [batch, inp]);
    const labels = nd.array(Int32Array.from({ length: batch }, (_, i) => i % out), { dtype: "float32" });
    const net = new gluon.nn.Sequential();
    net.add(new gluon.nn.Dense(hidden, { activation: "relu" }), new gluon.nn.Dense(out));
    net.initialize(new init.Xavier());
    const lossFn = new gluon.loss.SoftmaxCrossEntropyLoss();
    const trainer = new gluon.Trainer(net.collectParams(), "sgd", { learningRate: 0.01 });
    return {
      fn() {
        nd.scope(() => {
          const loss = autograd.record(() => lossFn(net(X), labels));
          loss.backward();
          trainer.step(batch);
          loss.mean().asscalar();
        });
      },
      after() {
        trainer.dispose();
        net.dispose();
        X.dispose();
        labels.dispose();
      },
      note: "gluon: Dense(relu), Dense, SoftmaxCrossEntropyLoss, Trainer sgd (fused update)",
    };
  }
  return { skip: "not implemented" };
}

/** LeNet (bench/spec.mjs LENET) on a fixed random batch, with the nn operators. */
function lenet(batch) {
  const X = nd.random.uniform(0, 1, [batch, ...LENET.input]);
  const labels = nd.array(Array.from({ length: batch }, (_, i) => i % 10));
  const onehot = nd.oneHot(labels, 10);
  const [d0, d1, d2, d3] = LENET.dense;
  const { conv1, conv2 } = LENET;
  const P = {
    w1: nd.random.normal(0, 0.1, [conv1.filters, 1, conv1.kernel, conv1.kernel]),
    b1: nd.zeros([conv1.filters]),
    w2: nd.random.normal(0, 0.1, [conv2.filters, conv1.filters, conv2.kernel, conv2.kernel]),
    b2: nd.zeros([conv2.filters]),
    w3: nd.random.normal(0, 0.05, [d1, d0]),
    b3: nd.zeros([d1]),
    w4: nd.random.normal(0, 0.05, [d2, d1]),
    b4: nd.zeros([d2]),
    w5: nd.random.normal(0, 0.05, [d3, d2]),
    b5: nd.zeros([d3]),
  };
  const params = Object.values(P);
  for (const p of params) p.attachGrad();
  // MXNet's FullyConnected (weight (out, in)) where the branch that adds it
  // has landed; otherwise the same product through dot.
  const dense = (h, w, b) =>
    nd.FullyConnected ? nd.FullyConnected(h, w, b, { numHidden: w.shape[0] }) : h.dot(w.T).add(b);
  const pool = (h) => nd.Pooling(h, { kernel: [2, 2], stride: [2, 2], poolType: "max" });
  return {
    params,
    forward() {
      let h = nd.Convolution(X, P.w1, P.b1, { kernel: [conv1.kernel, conv1.kernel], numFilter: conv1.filters }).relu();
      h = pool(h);
      h = nd.Convolution(h, P.w2, P.b2, { kernel: [conv2.kernel, conv2.kernel], numFilter: conv2.filters }).relu();
      h = pool(h).reshape([batch, d0]);
      h = dense(h, P.w3, P.b3).relu();
      h = dense(h, P.w4, P.b4).relu();
      return dense(h, P.w5, P.b5);
    },
    loss(logits) {
      return nd.softmaxCrossEntropy
        ? nd.softmaxCrossEntropy(logits, labels).mul(1 / batch)
        : logits.logSoftmax().mul(onehot).sum().mul(-1 / batch);
    },
    dispose() {
      for (const p of [X, labels, onehot, ...params]) p.dispose();
    },
  };
}

/**
 * How many cores this machine gives two threads right now: the same
 * integer loop alone, then on this thread and a worker thread at once,
 * as 2 × time alone / time together (2: two free cores; about 1 when the
 * two vCPUs share one core, as happens on shared virtual machines).
 */
async function parallelCapacity(quick) {
  const { Worker } = await import("node:worker_threads");
  const body = "let x = 0; for (let i = 0; i < n; i++) x = (x + Math.imul(i, 7)) | 0; return x;";
  const loop = new Function("n", body);
  const w = new Worker(`const { parentPort } = require("node:worker_threads"); const loop = new Function("n", ${JSON.stringify(body)}); parentPort.on("message", (n) => parentPort.postMessage(loop(n)));`, { eval: true });
  const run = (n) => new Promise((resolve) => { w.once("message", resolve); w.postMessage(n); });
  const n = quick ? 2e6 : 1e8;
  loop(1e6);
  await run(1e6);
  const best = { alone: Infinity, together: Infinity };
  for (let r = 0; r < 3; r++) {
    let t0 = performance.now();
    loop(n);
    best.alone = Math.min(best.alone, performance.now() - t0);
    t0 = performance.now();
    const other = run(n);
    loop(n);
    await other;
    best.together = Math.min(best.together, performance.now() - t0);
  }
  await w.terminate();
  return (2 * best.alone) / best.together;
}

if (threads === null) {
  await runWorker("ndgrad", impl, quick);
} else {
  const t = timing(quick);
  const results = Object.fromEntries(threads.map((n) => [n, {}]));
  const capacity = [await parallelCapacity(quick)];
  for (const row of specRows(quick).filter(isThreadRow)) {
    const job = await impl(row);
    const ms = measureInterleaved(job.fn, threads.map((n) => () => nd.setThreads(n)), t);
    job.after?.();
    threads.forEach((n, k) => {
      results[n][row.id] = { value: valueOf(row, ms[k].ms), ms: ms[k].ms, minMs: ms[k].min, maxMs: ms[k].max, repeats: ms[k].repeats, inner: ms[k].inner };
    });
    process.stderr.write(`[bench ndgrad threads] ${row.id}: ${threads.map((n, k) => `${n}: ${valueOf(row, ms[k].ms).toPrecision(4)}`).join(", ")} ${row.unit}\n`);
  }
  capacity.push(await parallelCapacity(quick));
  emit({ backend: "ndgrad-threads", threads: results, capacity });
}
freeInputs();
