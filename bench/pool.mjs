// Max pooling timings in ns per input element: the two LeNet shapes (2×2/2)
// and the 3×3/2 pad 1 ResNet stem shape, forward alone and forward under
// autograd.record + backward (the argmax scatter).
//
//   NDGRAD_THREADS=0 node bench/pool.mjs [pkgDirA pkgDirB ...]
//
// With several package directories (e.g. a copy of pkg/ built before a
// change, and pkg/) the builds are measured interleaved, round by round, so
// that the load of a shared machine hits them alike; each figure is the
// median over rounds. Every build is checked to give the same values first.
import path from "node:path";
import { pathToFileURL } from "node:url";

const dirs = process.argv.slice(2);
if (dirs.length === 0) dirs.push(new URL("../pkg", import.meta.url).pathname);
const libs = [];
for (const d of dirs) {
  libs.push({ name: path.basename(path.resolve(d)), ...(await import(pathToFileURL(path.resolve(d, "index.js")).href)) });
}

const cases = [
  { label: "lenet1 256x6x24x24 2x2/2", shape: [256, 6, 24, 24], o: { kernel: [2, 2], stride: [2, 2], poolType: "max" } },
  { label: "lenet2 256x16x10x10 2x2/2", shape: [256, 16, 10, 10], o: { kernel: [2, 2], stride: [2, 2], poolType: "max" } },
  { label: "stem 8x64x56x56 3x3/2 p1", shape: [8, 64, 56, 56], o: { kernel: [3, 3], stride: [2, 2], pad: [1, 1], poolType: "max" } },
];
const ROUNDS = Number(process.env.POOL_ROUNDS ?? 15);
const WARM = 3;

function setup(lib, c) {
  lib.nd.random.seed(7);
  const x = lib.nd.random.uniform(-1, 1, c.shape);
  x.attachGrad();
  return x;
}
function fwd(lib, x, c) {
  lib.nd.Pooling(x, c.o).dispose();
}
function fwdBwd(lib, x, c) {
  const y = lib.autograd.record(() => lib.nd.Pooling(x, c.o));
  y.backward();
  y.dispose();
  // backward is eager: its work is done when it returns.
}
function time(f, iters) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) f();
  return Number(process.hrtime.bigint() - t0) / iters;
}

const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const rows = [];
for (const c of cases) {
  const xs = libs.map((l) => setup(l, c));
  const n = xs[0].size;
  // Same values and same gradients in every build.
  const ref = libs.map((l, i) => {
    const y = l.autograd.record(() => l.nd.Pooling(xs[i], c.o));
    y.backward();
    const r = [y.data().slice(), xs[i].grad.data().slice()];
    y.dispose();
    return r;
  });
  for (let i = 1; i < libs.length; i++) {
    for (let k = 0; k < 2; k++) {
      const a = ref[0][k], b = ref[i][k];
      for (let j = 0; j < a.length; j++) {
        if (!Object.is(a[j], b[j])) throw new Error(`${c.label}: ${libs[i].name} differs from ${libs[0].name} at ${k ? "grad" : "value"} ${j}`);
      }
    }
  }
  for (const [mode, f] of [["fwd", fwd], ["fwd+bwd", fwdBwd]]) {
    const iters = Math.max(1, Math.round(4e6 / n));
    const t = libs.map(() => []);
    for (let r = 0; r < WARM + ROUNDS; r++) {
      libs.forEach((l, i) => {
        const ns = time(() => f(l, xs[i], c), iters);
        if (r >= WARM) t[i].push(ns / n);
      });
    }
    rows.push({ case: c.label, mode, ...Object.fromEntries(libs.map((l, i) => [l.name, median(t[i]).toFixed(3)])) });
  }
  xs.forEach((x) => x.dispose());
}
console.log(`ns per input element, median of ${ROUNDS} interleaved rounds (threads: ${libs.map((l) => l.nd.getThreads()).join(",")})`);
console.table(rows);
