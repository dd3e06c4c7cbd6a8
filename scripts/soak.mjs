// The long memory loop: N record/backward/update steps of a small model,
// checking that nd.memory() and the WebAssembly memory size stay flat after
// warm-up (freed tensor memory is reused; wasm memory cannot shrink).
// Then the same for a Gluon training loop (issue #14): DataLoader batches of
// the committed Fashion-MNIST subset, an MLP, SoftmaxCrossEntropyLoss and a
// Trainer with momentum, for 2,000 steps.
// `node scripts/soak.mjs [steps] [gluonSteps]` (defaults 100,000 and
// 2,000); part of `npm run bench`.
import { readFileSync } from "node:fs";
import { autograd, gluon, init, nd } from "../pkg/index.js";

const steps = Number(process.argv[2] ?? 100_000);
const gluonSteps = Number(process.argv[3] ?? 2_000);
const warmup = Math.min(1000, Math.floor(steps / 10));

nd.random.seed(1);
const X = nd.random.normal(0, 1, [64, 8]);
const trueW = nd.array([[1], [-2], [0.5], [3], [0], [-1], [2], [0.25]]);
const Y = X.dot(trueW);
const w = nd.zeros([8, 1]);
const b = nd.zeros([1]);
w.attachGrad();
b.attachGrad();

let first = null;
let after = null;
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  const loss = nd.scope(() => {
    const l = autograd.record(() => X.dot(w).add(b).sub(Y).square().mean());
    l.backward();
    w.set(w.sub(w.grad.mul(0.1)));
    b.set(b.sub(b.grad.mul(0.1)));
    return i % 10000 === 0 || i === steps - 1 ? l.asscalar() : 0;
  });
  if (i === 0) first = { loss, ...nd.memory() };
  if (i === warmup) after = nd.memory();
  if (i > warmup && i % 1000 === 0) {
    const m = nd.memory();
    if (m.arrays !== after.arrays || m.bytes !== after.bytes || m.tapeNodes !== 0 || m.wasmBytes !== after.wasmBytes) {
      console.error(`memory grew at step ${i}:`, m, "after warm-up:", after);
      process.exit(1);
    }
  }
  if (i === steps - 1) {
    const end = { loss, ...nd.memory() };
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ steps, first, afterWarmup: after, end, stepsPerSecond: Math.round((steps / ms) * 1000) }));
  }
}

for (const a of [X, trueW, Y, w, b]) a.dispose();

// ---- the Gluon training loop ----
{
  const file = (name) => readFileSync(new URL(`../tests/fixtures/fashion-mnist/${name}.gz`, import.meta.url));
  const { transforms } = gluon.data.vision;
  const train = new gluon.data.vision.FashionMNIST({
    images: file("train-images-idx3-ubyte"),
    labels: file("train-labels-idx1-ubyte"),
  }).transformFirst(transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)]));
  const loader = new gluon.data.DataLoader(train, { batchSize: 64, shuffle: true, lastBatch: "rollover" });
  const net = new gluon.nn.Sequential();
  net.add(new gluon.nn.Flatten(), new gluon.nn.Dense(64, { activation: "relu" }), new gluon.nn.Dense(10));
  net.initialize(new init.Xavier());
  const lossFn = new gluon.loss.SoftmaxCrossEntropyLoss();
  const trainer = new gluon.Trainer(net.collectParams(), "sgd", { learningRate: 0.05, momentum: 0.9 });
  const gWarmup = Math.min(100, Math.floor(gluonSteps / 10));
  let step = 0;
  let base = null;
  let firstLoss = null;
  let lastLoss = null;
  const t1 = performance.now();
  while (step < gluonSteps) {
    for (const [data, label] of loader) {
      const l = nd.scope(() => {
        const loss = autograd.record(() => lossFn(net(data), label));
        loss.backward();
        trainer.step(64);
        return step % 500 === 0 || step === gluonSteps - 1 ? loss.mean().asscalar() : null;
      });
      if (step === 0) firstLoss = l;
      if (l !== null) lastLoss = l;
      if (step === gWarmup) base = nd.memory();
      if (step > gWarmup && step % 100 === 0) {
        const m = nd.memory();
        if (m.arrays !== base.arrays || m.bytes !== base.bytes || m.tapeNodes !== 0 || m.wasmBytes !== base.wasmBytes) {
          console.error(`gluon loop: memory grew at step ${step}:`, m, "after warm-up:", base);
          process.exit(1);
        }
      }
      step += 1;
      if (step === gluonSteps) break;
    }
  }
  const ms = performance.now() - t1;
  console.log(
    JSON.stringify({ gluon: { steps: gluonSteps, firstLoss, lastLoss, afterWarmup: base, end: nd.memory(), stepsPerSecond: Math.round((gluonSteps / ms) * 1000) } }),
  );
  trainer.dispose();
  net.dispose();
}
