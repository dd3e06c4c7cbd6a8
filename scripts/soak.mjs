// The long memory loop: N record/backward/update steps of a small model,
// checking that nd.memory() and the WebAssembly memory size stay flat after
// warm-up (freed tensor memory is reused; wasm memory cannot shrink).
// `node scripts/soak.mjs [steps]` (default 100,000); part of `npm run bench`.
import { autograd, nd } from "../pkg/index.js";

const steps = Number(process.argv[2] ?? 100_000);
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
