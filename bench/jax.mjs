// jax-js (@jax-js/jax, WebAssembly backend, jit) as a bench peer for the
// LeNet rows (issue #12): the same network as bench/spec.mjs LENET, a jitted
// forward and a jitted SGD step (valueAndGrad). Rows it does not implement
// are marked absent. jax-js arrays move into the ops that use them (`.ref`
// keeps one).
import { emit, runWorker } from "./lib.mjs";
import { LENET } from "./spec.mjs";

const quick = process.argv.includes("--quick");
let jax;
try {
  jax = await import("@jax-js/jax");
  await jax.init("wasm");
  jax.defaultDevice?.("wasm");
} catch (e) {
  emit({ backend: "jax-js", error: `@jax-js/jax not available: ${e?.message ?? e}` });
  process.exit(0);
}
const { numpy: np, lax, nn, random, jit, valueAndGrad } = jax;

function lenet(B) {
  const [d0, d1, d2, d3] = LENET.dense;
  const { conv1, conv2 } = LENET;
  let key = random.key(0);
  const normal = (shape, s) => {
    const [k1, k2] = random.split(key);
    key = k1;
    return random.normal(k2, shape).mul(s);
  };
  const params = {
    w1: normal([conv1.filters, 1, conv1.kernel, conv1.kernel], 0.1),
    b1: np.zeros([conv1.filters]),
    w2: normal([conv2.filters, conv1.filters, conv2.kernel, conv2.kernel], 0.1),
    b2: np.zeros([conv2.filters]),
    w3: normal([d0, d1], 0.05),
    b3: np.zeros([d1]),
    w4: normal([d1, d2], 0.05),
    b4: np.zeros([d2]),
    w5: normal([d2, d3], 0.05),
    b5: np.zeros([d3]),
  };
  const X = random.uniform(random.key(1), [B, 1, 28, 28]);
  const Y = nn.oneHot(np.array(Array.from({ length: B }, (_, i) => i % 10), { dtype: "int32" }), 10);
  const pool = (h) => {
    const [n, c, hh, ww] = h.shape;
    return np.max(h.reshape([n, c, hh / 2, 2, ww / 2, 2]), [3, 5]);
  };
  const forward = (p, x) => {
    let h = nn.relu(lax.conv(x, p.w1, [1, 1], "VALID").add(p.b1.reshape([1, conv1.filters, 1, 1])));
    h = pool(h);
    h = nn.relu(lax.conv(h, p.w2, [1, 1], "VALID").add(p.b2.reshape([1, conv2.filters, 1, 1])));
    h = pool(h).reshape([B, d0]);
    h = nn.relu(np.matmul(h, p.w3).add(p.b3));
    h = nn.relu(np.matmul(h, p.w4).add(p.b4));
    return np.matmul(h, p.w5).add(p.b5);
  };
  const loss = (p, x, y) => np.mean(np.sum(nn.logSoftmax(forward(p, x), -1).mul(y), -1)).mul(-1);
  return { params, X, Y, forward: jit(forward), step: jit((p, x, y) => {
    const [l, g] = valueAndGrad(loss)(tree(p), x, y);
    const next = {};
    for (const k of Object.keys(p)) next[k] = p[k].sub(g[k].mul(LENET.lr));
    return [l, next];
  }) };
}

async function impl(row) {
  if (row.id !== "lenet_fwd" && row.id !== "lenet_step") return { skip: "not implemented" };
  const net = lenet(row.batch);
  let p = net.params;
  if (row.id === "lenet_fwd") {
    return {
      fn() {
        net.forward(tree(p), net.X.ref).dataSync();
      },
      note: "jit forward",
    };
  }
  return {
    fn() {
      const [l, next] = net.step(p, net.X.ref, net.Y.ref);
      p = next;
      l.dataSync();
    },
    note: "jit(valueAndGrad + SGD)",
  };
}

/** A new reference to each array of the parameter tree (calls consume their arguments). */
function tree(p) {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.ref]));
}

await runWorker("jax-js", impl, quick);
