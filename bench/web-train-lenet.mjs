// One training step of the Gluon crash course's LeNet (SGD lr 0.1, Xavier,
// softmax cross-entropy) on a fixed random batch, through the synchronous
// API and gluon. Imported three ways by bench/web-train.mjs: as the module of
// `createWorker({ module })` in Chromium (measurement a), on the page's main
// thread (c), and in Node. It imports the package by relative URL, which
// resolves to /pkg/ when served and to ../pkg/ on disk, so one file serves
// all three (a module Worker has no import map).
import { autograd, gluon, init, nd } from "../pkg/index.js";
import { threadsInfo } from "../pkg/threads.js";

let net = null;
let trainer = null;
let lossFn = null;
let x = null;
let y = null;
let batch = 0;

/** The crash course's LeNet (as examples/train-fashion-mnist.ts). */
function lenet() {
  const { nn } = gluon;
  const n = new nn.Sequential();
  n.add(
    new nn.Conv2D(6, 5, { activation: "relu" }),
    new nn.MaxPool2D({ poolSize: 2, strides: 2 }),
    new nn.Conv2D(16, 3, { activation: "relu" }),
    new nn.MaxPool2D({ poolSize: 2, strides: 2 }),
    new nn.Flatten(),
    new nn.Dense(120, { activation: "relu" }),
    new nn.Dense(84, { activation: "relu" }),
    new nn.Dense(10),
  );
  return n;
}

/** Builds the net and a random batch; `threads` (when given) sets the engine's thread count. */
export function setup(batchSize, seed, threads) {
  if (threads !== undefined && threads !== null) nd.setThreads(threads);
  batch = batchSize;
  nd.random.seed(seed);
  net = lenet();
  net.initialize(new init.Xavier());
  lossFn = new gluon.loss.SoftmaxCrossEntropyLoss();
  trainer = new gluon.Trainer(net.collectParams(), "sgd", { learningRate: 0.1 });
  x = nd.random.normal(0, 1, [batch, 1, 28, 28]);
  const labels = new Float32Array(batch);
  for (let i = 0; i < batch; i++) labels[i] = i % 10;
  y = nd.array(labels);
  const info = threadsInfo();
  return { build: info.build, threads: info.threads, simd: nd.simd(), relaxed: nd.relaxedSimd() };
}

/** One step: forward + loss under record, backward, trainer.step. Returns the mean loss. */
export function step() {
  return nd.scope(() => {
    const loss = autograd.record(() => lossFn(net(x), y));
    loss.backward();
    trainer.step(batch);
    return loss.mean().asscalar();
  });
}

/** `n` steps in one call, timed here: [ms per step, losses]. */
export function steps(n) {
  const losses = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) losses.push(step());
  return { msPerStep: (performance.now() - t0) / n, losses };
}

export function teardown() {
  trainer?.dispose();
  net?.dispose();
  x?.dispose();
  y?.dispose();
  net = trainer = x = y = null;
  return nd.memory().arrays;
}

// The same step without gluon: the ops the remote mode of bench/web-train.mjs
// queues (fused softmaxCrossEntropy, p -= lr/batch * grad), synchronously.
// Tells the cost of gluon's layers and Trainer apart from the messaging.
let raw = null;

export function setupRaw(batchSize, seed, threads) {
  if (threads !== undefined && threads !== null) nd.setThreads(threads);
  batch = batchSize;
  nd.random.seed(seed);
  const shapes = [[6, 1, 5, 5], [6], [16, 6, 3, 3], [16], [120, 400], [120], [84, 120], [84], [10, 84], [10]];
  const P = shapes.map((s) => {
    if (s.length === 1) return nd.zeros(s);
    const field = s.slice(2).reduce((a, b) => a * b, 1);
    const scale = Math.sqrt(3 / (((s[1] + s[0]) * field) / 2));
    return nd.random.uniform(-scale, scale, s);
  });
  for (const p of P) p.attachGrad();
  x = nd.random.normal(0, 1, [batch, 1, 28, 28]);
  const labels = new Float32Array(batch);
  for (let i = 0; i < batch; i++) labels[i] = i % 10;
  y = nd.array(labels);
  raw = P;
  const info = threadsInfo();
  return { build: info.build, threads: info.threads, simd: nd.simd(), relaxed: nd.relaxedSimd() };
}

export function stepRaw() {
  const P = raw;
  return nd.scope(() => {
    const relu = { actType: "relu" };
    const pool = { kernel: 2, stride: 2, poolType: "max" };
    const loss = autograd.record(() => {
      let h = nd.Activation(nd.Convolution(x, P[0], P[1], { kernel: [5, 5], numFilter: 6 }), relu);
      h = nd.Pooling(h, pool);
      h = nd.Activation(nd.Convolution(h, P[2], P[3], { kernel: [3, 3], numFilter: 16 }), relu);
      h = nd.Pooling(h, pool);
      h = nd.Activation(nd.FullyConnected(h, P[4], P[5], { numHidden: 120 }), relu);
      h = nd.Activation(nd.FullyConnected(h, P[6], P[7], { numHidden: 84 }), relu);
      return nd.softmaxCrossEntropy(nd.FullyConnected(h, P[8], P[9], { numHidden: 10 }), y);
    });
    loss.backward();
    for (const p of P) p.set(p.sub(p.grad.mul(0.1 / batch)));
    return loss.asscalar() / batch;
  });
}

export function teardownRaw() {
  for (const p of raw ?? []) p.dispose();
  x?.dispose();
  y?.dispose();
  raw = x = y = null;
  return nd.memory().arrays;
}
