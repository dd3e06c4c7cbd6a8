// Memory exhaustion, run in a fresh Node by tests/ts/oom.test.ts (filling
// 4 GiB of WebAssembly memory must not disturb the rest of the suite):
//
//   node tests/ts/oom-child.mjs <pkg/index.js URL>      (NDGRAD_THREADS picks the build)
//
// Fills WebAssembly memory to within a few hundred KiB of its 4 GiB limit,
// then calls every export family (the table `CALLS`, one line per call) at
// a sweep of free-memory levels, from none to 24 MiB: each call must either
// succeed or throw an `Error`; a trap (WebAssembly.RuntimeError) ends the
// run. An allocation the engine makes infallibly traps at the level where it
// is the one that runs out, so the sweep finds it wherever it sits in a
// call. Then the filler is freed: the arrays made before must hold their
// values and every call must succeed. Prints one JSON line.
//
// To cover a new export family, add a line to `CALLS`: a name and a
// function of the inputs `c` (made before memory was filled) returning what
// the call made (arrays, lists of arrays or anything else; arrays are
// disposed after each call).
const { nd, autograd, NDArray } = await import(process.argv[2]);

const warnings = [];
const warn = console.warn;
console.warn = (...args) => {
  warnings.push(args.map(String).join(" "));
};

class Cube extends autograd.Function {
  forward(x) {
    this.saveForBackward(x);
    return x.pow(3);
  }
  backward(dy) {
    const [x] = this.savedTensors;
    return dy.mul(x.square()).mul(3);
  }
}

// Inputs: 2 MiB float32 operands (512×1024), far above the 64 KiB up to
// which the engine's reserve absorbs an allocation, so an infallible
// allocation of their size (or of a fraction of it) traps when it fails. 2^19 elements: the threads build splits
// elementwise ops and reductions of this size, and the products below.
const R = 512;
const C = 1024;
nd.random.seed(11);
// Made in a scope, so that the run can check at the end that nothing leaked.
const c = nd.scope(() => {
  const c = {
    a: nd.random.uniform(-1, 1, [R, C]),
    b: nd.random.uniform(-1, 1, [R, C]),
    row: nd.random.uniform(-1, 1, [1, C]),
    a64: nd.random.uniform(-1, 1, [R, C], { dtype: "float64" }),
    ai: nd.arange(0, R * C, 1, { dtype: "int32" }).reshape([R, C]),
    idx: nd.array(Array.from({ length: R }, (_, i) => (i * 7) % C), { dtype: "int32" }),
    cond: nd.random.uniform(-1, 1, [R, C]).greater(0),
    t: nd.zeros([R, C]),
    data: new Float32Array(R * C).fill(0.5),
    v: nd.random.uniform(-1, 1, [R, C]),
    w: nd.random.uniform(-1, 1, [C, 256]),
    // Neural-network operators: an image batch of 2 MiB (8×16×64×64).
    img: nd.random.uniform(-1, 1, [8, 16, 64, 64]),
    k: nd.random.uniform(-0.2, 0.2, [16, 16, 3, 3]),
    fw: nd.random.uniform(-0.1, 0.1, [256, C]),
    ch: nd.random.uniform(0.5, 1, [16]),
    ch0: nd.zeros([16]),
    mm: nd.zeros([16]),
    mv: nd.ones([16]),
    lg: nd.ones([C]),
    lb: nd.zeros([C]),
  };
  c.v.attachGrad();
  c.w.attachGrad();
  // Graphs recorded before memory is full, differentiated at every level
  // (retainGraph keeps them for the next call).
  c.y = autograd.record(() => c.v.mul(c.b).exp().sum());
  c.z = autograd.record(() => nd.dot(c.v, c.w).tanh().sum());
  c.cube = autograd.record(() => new Cube().apply(c.v).sum());
  return c;
});

/** Every export family: [name, call]. */
const CALLS = [
  // creation
  ["array", () => nd.array(c.data).reshape([R, C])],
  ["zeros", () => nd.zeros([R, C])],
  ["full float64", () => nd.full([R, C], 3, { dtype: "float64" })],
  ["arange", () => nd.arange(0, R * C)],
  ["random.uniform", () => nd.random.uniform(0, 1, [R, C])],
  ["random.normal", () => nd.random.normal(0, 1, [R, C])],
  ["onesLike", () => nd.onesLike(c.a)],
  ["astype", () => c.a.astype("float64")],
  // elementwise (split over threads in the threads build)
  ["add", () => c.a.add(c.b)],
  ["mul broadcast", () => c.a.mul(c.row)],
  ["sub scalar", () => c.a.sub(2)],
  ["div float64", () => c.a64.div(c.a64)],
  ["add int32", () => c.ai.add(c.ai)],
  ["greater", () => c.a.greater(c.b)],
  ["exp", () => c.a.exp()],
  ["relu", () => c.a.relu()],
  ["clip", () => c.a.clip(-0.5, 0.5)],
  ["leakyRelu", () => c.a.leakyRelu(0.1)],
  ["where", () => nd.where(c.cond, c.a, c.b)],
  // reductions
  ["sum", () => c.a.sum()],
  ["mean axis 0", () => c.a.mean(0)],
  ["max axis 1", () => c.a.max(1)],
  ["norm", () => c.a.norm()],
  ["softmax", () => c.a.softmax()],
  ["logSoftmax", () => c.a.logSoftmax(0)],
  ["argmax", () => c.a.argmax(1)],
  // movement and indexing
  ["reshape", () => c.a.reshape([C, R])],
  ["transpose", () => c.a.T],
  ["broadcastTo", () => c.row.broadcastTo([R, C])],
  ["slice", () => c.a.slice(1, R - 1)],
  ["slice step", () => c.a.slice([0, 0], [R, C], [1, 2])],
  ["sliceAxis", () => c.a.sliceAxis(1, 1, C - 1)],
  ["at", () => c.a.at(3)],
  ["copy", () => c.a.copy()],
  ["concat", () => nd.concat([c.a, c.b], 0)],
  ["stack", () => nd.stack([c.a, c.b])],
  ["tile", () => c.a.tile([2, 1])],
  ["repeat", () => c.a.repeat(2, 0)],
  ["flip", () => c.a.flip(1)],
  ["take", () => c.a.take(c.idx, 1)],
  ["pick", () => c.a.pick(c.idx, 1)],
  ["oneHot", () => c.idx.oneHot(C)],
  ["topk", () => c.a.topk({ k: 4, retTyp: "both" })],
  ["sort", () => c.a.sort()],
  ["argsort", () => c.a.argsort(0)],
  ["detach", () => c.a.detach()],
  // linear algebra (GEMM: packed and split over threads)
  ["dot", () => nd.dot(c.a, c.w)],
  ["dot transposeB", () => nd.dot(c.a, c.b, { transposeB: true })],
  ["batchDot", () => nd.batchDot(c.a.reshape([8, 64, C]), c.b.reshape([8, C, 64]))],
  ["dot float64", () => nd.dot(c.a64.slice(0, 64), c.a64.slice(0, 64), { transposeB: true })],
  // neural-network operators
  ["Convolution", () => nd.Convolution(c.img, c.k, c.ch, { kernel: [3, 3], numFilter: 16, pad: [1, 1] })],
  ["Deconvolution", () => nd.Deconvolution(c.img, c.k, null, { kernel: [3, 3], numFilter: 16, pad: [1, 1] })],
  ["Pooling max", () => nd.Pooling(c.img, { kernel: [2, 2], stride: [2, 2], poolType: "max" })],
  ["Pooling avg", () => nd.Pooling(c.img, { kernel: [3, 3], poolType: "avg" })],
  ["BatchNorm", () => nd.BatchNorm(c.img, c.ch, c.ch0, c.mm, c.mv)],
  ["BatchNorm train", () => autograd.record(() => nd.BatchNorm(c.img, c.ch, c.ch0, c.mm, c.mv))],
  ["LayerNorm", () => nd.LayerNorm(c.a, c.lg, c.lb)],
  ["FullyConnected", () => nd.FullyConnected(c.a, c.fw, null, { numHidden: 256, noBias: true })],
  ["Embedding", () => nd.Embedding(c.idx, c.w, { inputDim: C, outputDim: 256 })],
  ["Activation", () => nd.Activation(c.a, { actType: "softrelu" })],
  ["LeakyReLU elu", () => nd.LeakyReLU(c.a, { actType: "elu" })],
  ["Flatten", () => nd.Flatten(c.img)],
  ["softmaxCrossEntropy", () => nd.softmaxCrossEntropy(c.a, c.idx)],
  // in place
  ["set", () => void c.t.set(c.b)],
  ["set float64", () => void c.t.set(c.a64)],
  ["set broadcast", () => void c.t.set(c.row)],
  ["set scalar", () => void c.t.set(0.25)],
  // autograd
  ["record", () => autograd.record(() => c.v.mul(c.v).sum())],
  ["attachGrad", () => {
    const x = c.a.copy();
    x.attachGrad();
    return x;
  }],
  ["backward", () => c.y.backward({ retainGraph: true })],
  ["backward dot", () => c.z.backward({ retainGraph: true })],
  ["grad", () => autograd.grad(c.z, [c.v, c.w], { retainGraph: true })],
  ["grad createGraph", () => autograd.grad(c.y, [c.v], { createGraph: true, retainGraph: true })],
  ["Function forward", () => autograd.record(() => new Cube().apply(c.v))],
  ["Function backward", () => c.cube.backward({ retainGraph: true })],
  // reading out
  ["data", () => c.a.data().length],
  ["toArray", () => c.a.slice(0, 2).toArray().length],
  ["asscalar", () => c.a.sum().asscalar()],
  ["toString", () => String(c.a).length],
];

function disposeAll(v) {
  if (v instanceof NDArray) v.dispose();
  else if (Array.isArray(v)) for (const x of v) disposeAll(x);
}

const snapshot = Object.fromEntries(["a", "a64", "ai", "v", "w"].map((k) => [k, c[k].data().slice()]));
const baseline = nd.memory().arrays;
const started = Date.now();

// ---- fill ----
const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 256 * KiB;
const filler = [];
function fillWith(bytes) {
  for (;;) {
    try {
      filler.push(nd.zeros([bytes / 4]));
    } catch (e) {
      if (!(e instanceof Error) || e.kind !== "OutOfMemory") throw e;
      return e;
    }
  }
}
fillWith(64 * MiB);
// The last big block becomes small chunks, so that freeing the newest
// chunks frees adjacent memory: up to 64 MiB of free space in 256 KiB steps.
filler.pop().dispose();
const firstOom = fillWith(CHUNK);
const smallChunks = filler.filter((f) => f.size === CHUNK / 4).length;
const fillMs = Date.now() - started;

// ---- sweep ----
// Free memory levels, in chunks of 256 KiB: fine up to 8 MiB, then coarser.
const LEVELS = [];
for (let k = 0; k <= 24; k++) LEVELS.push(k);
LEVELS.push(28, 32, 40, 48, 64, 96);

const results = [];
let trap = null;
for (const [name, call] of CALLS) {
  const r = { name, ok: 0, oom: 0, errors: [] };
  results.push(r);
  for (const level of LEVELS) {
    const freed = filler.splice(filler.length - level, level);
    for (const f of freed) f.dispose();
    try {
      // The scope frees what the call made on the way (a failed call too).
      disposeAll(nd.scope(() => call(c)));
      r.ok++;
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError || !(e instanceof Error)) {
        trap = { name, level, message: String(e), stack: e instanceof Error ? e.stack : "" };
        break;
      }
      if (e.kind === "OutOfMemory") {
        r.oom++;
        if (r.oomMessage === undefined) r.oomMessage = e.message;
      } else r.errors.push(`${e.name}: ${e.message}`);
    }
    // Fill back what was freed (and what the call may have left behind).
    fillWith(CHUNK);
  }
  if (trap) break;
}
const sweepMs = Date.now() - started - fillMs;

// ---- recovery ----
let recovered = null;
if (!trap) {
  for (const f of filler) f.dispose();
  const intact = Object.entries(snapshot).every(([k, v]) => {
    const now = c[k].data();
    return now.length === v.length && now.every((x, i) => Object.is(x, v[i]));
  });
  const failures = [];
  for (const [name, call] of CALLS) {
    try {
      disposeAll(nd.scope(() => call(c)));
    } catch (e) {
      failures.push(`${name}: ${e}`);
    }
  }
  // The graphs, differentiated for good, and every input freed.
  c.y.backward();
  c.z.backward();
  c.cube.backward();
  const gradOk = c.v.grad.data().every(Number.isFinite);
  for (const k of Object.keys(c)) disposeAll(c[k]);
  recovered = { intact, failures, gradOk, liveAfter: nd.memory().arrays, tapeAfter: nd.memory().tapeNodes };
}

console.warn = warn;
console.log(
  JSON.stringify({
    threads: nd.getThreads(),
    baseline,
    fillMs,
    sweepMs,
    filled: filler.length,
    smallChunks,
    firstOom: firstOom.message,
    wasmBytes: nd.memory().wasmBytes,
    results,
    trap,
    recovered,
    warnings,
  }),
);
