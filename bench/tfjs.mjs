// TensorFlow.js worker: `node bench/tfjs.mjs wasm|cpu [--quick]`. One
// backend per process; the same rows as bench/ndgrad.mjs.
import { runWorker, emit } from "./lib.mjs";
import { LENET, sizes } from "./spec.mjs";
import { registerAllGradients } from "./tfjs-gradients.mjs";

const which = process.argv[2];
const quick = process.argv.includes("--quick");
const S = sizes(quick);
const name = `tfjs-${which}`;

let tf;
try {
  // tfjs-core prints a hint about tfjs-node to the console; keep stdout clean.
  const log = console.log;
  console.log = (...a) => console.error(...a);
  tf = await import("@tensorflow/tfjs-core");
  await registerAllGradients();
  if (which === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  else await import("@tensorflow/tfjs-backend-cpu");
  const ok = await tf.setBackend(which);
  await tf.ready();
  console.log = log;
  if (!ok || tf.getBackend() !== which) throw new Error(`backend ${which} did not start`);
} catch (e) {
  emit({ backend: name, error: String(e?.message ?? e) });
  process.exit(0);
}

// Force a result by reading one element back through the backend's own
// reader (the wasm backend reads a range of its heap; the cpu backend hands
// out its array). Not tf.slice: on the wasm backend slicing one element out
// of 1M costs ~4 ms, which would swamp the op being measured.
const backend = tf.backend();
function force(x) {
  const v = backend.readSync(x.dataId, 0, 1);
  if (v.length < 1) throw new Error("empty read");
}

const inputs = new Map();
function vec(n) {
  if (!inputs.has(n)) inputs.set(n, [tf.randomUniform([n], -2, 2), tf.randomUniform([n], -2, 2)]);
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
    const a = tf.randomUniform([row.n, row.n], -1, 1);
    const b = tf.randomUniform([row.n, row.n], -1, 1);
    return {
      fn() {
        const c = tf.matMul(a, b);
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
      add: () => tf.add(a, b),
      mul: () => tf.mul(a, b),
      exp: () => tf.exp(a),
      relu: () => tf.relu(a),
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
        const s = tf.sum(a);
        s.dataSync();
        s.dispose();
      },
    };
  }
  if (row.id.startsWith("read_")) {
    const [a] = vec(row.n);
    if (row.id.endsWith("_reused")) return { skip: "no API reads into a caller's array" };
    if (a.dataSync() === a.dataSync()) return { skip: "dataSync() hands out the backend's own array: no copy to time" };
    return { fn: () => a.dataSync(), note: "x.dataSync()" };
  }
  if (row.id === "add_2x2") {
    freeInputs();
    return {
      fn() {
        const x = tf.tensor2d([[1, 2], [3, 4]]);
        const y = tf.tensor2d([[5, 6], [7, 8]]);
        const z = tf.add(x, y);
        z.dataSync();
        x.dispose();
        y.dispose();
        z.dispose();
      },
    };
  }
  if (row.id === "grad_2x2") {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const g = tf.grad((v) => tf.mul(tf.mul(v, 2), v));
    return {
      fn() {
        const dx = g(x);
        dx.dataSync();
        dx.dispose();
      },
      after: () => x.dispose(),
      note: "tf.grad(f)(x).dataSync()",
    };
  }
  if (row.id === "mlp_step") {
    const { batch, inp, hidden, out } = S.mlp;
    const X = tf.randomUniform([batch, inp], 0, 1);
    const Y = tf.randomUniform([batch, out], 0, 1);
    const W1 = tf.variable(tf.randomNormal([inp, hidden], 0, 0.05));
    const b1 = tf.variable(tf.zeros([hidden]));
    const W2 = tf.variable(tf.randomNormal([hidden, out], 0, 0.05));
    const b2 = tf.variable(tf.zeros([out]));
    const vars = [W1, b1, W2, b2];
    const opt = tf.train.sgd(0.01);
    return {
      fn() {
        const loss = opt.minimize(
          () => {
            const h = tf.relu(tf.add(tf.matMul(X, W1), b1));
            return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(h, W2), b2), Y)));
          },
          true,
          vars,
        );
        loss.dataSync();
        loss.dispose();
      },
      after() {
        for (const t of [X, Y, ...vars]) t.dispose();
        opt.dispose();
      },
      note: "tf.train.sgd(0.01).minimize, mean squared error",
    };
  }
  // ---- max pooling and BatchNorm (pool branch): tfjs's layout is NHWC ----
  if (row.id.startsWith("maxpool_")) {
    freeInputs();
    const [n, c, h, w] = row.shape;
    const x = tf.randomUniform([n, h, w, c], -2, 2);
    const three = row.id === "maxpool_3x3s2";
    return {
      fn() {
        const y = three ? tf.maxPool(x, 3, 2, 1) : tf.maxPool(x, 2, 2, "valid");
        force(y);
        y.dispose();
      },
      after: () => x.dispose(),
      note: three ? "tf.maxPool(x, 3, 2, 1) (NHWC)" : "tf.maxPool(x, 2, 2, 'valid') (NHWC)",
    };
  }
  if (row.id === "batchnorm_train") {
    freeInputs();
    const [n, c, h, w] = row.shape;
    const x = tf.randomUniform([n, h, w, c], -2, 2);
    const [g, b] = [tf.ones([c]), tf.zeros([c])];
    return {
      fn() {
        const y = tf.tidy(() => {
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          return tf.batchNorm(x, mean, variance, b, g, 1e-3);
        });
        force(y);
        y.dispose();
      },
      after: () => [x, g, b].forEach((t) => t.dispose()),
      note: "tf.moments over N, H, W then tf.batchNorm (NHWC)",
    };
  }
  // ---- conv branch (issue #12): 3×3 convolution, LeNet (NHWC, tfjs's layout) ----
  if (row.conv) {
    freeInputs();
    // tfjs-cpu's conv2d is a plain JavaScript loop: ~0.01 GFLOP/s here, so
    // the full-size row would take minutes per call.
    if (which === "cpu" && !quick) return { skip: "skipped: tfjs-cpu's conv2d runs ~0.01 GFLOP/s (minutes per call at this size)" };
    const { batch, channels, size } = row.conv;
    const x = tf.randomUniform([batch, size, size, channels], -1, 1);
    const w = tf.randomNormal([3, 3, channels, channels], 0, 0.05);
    if (row.id === "conv3x3_fwd") {
      return {
        fn() {
          const y = tf.conv2d(x, w, 1, "same");
          force(y);
          y.dispose();
        },
        after: () => tf.dispose([x, w]),
      };
    }
    const dy = tf.randomUniform([batch, size, size, channels], -1, 1);
    const grads = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a, b, 1, "same"), dy)));
    return {
      fn() {
        const [gx, gw] = grads([x, w]);
        force(gx);
        force(gw);
        tf.dispose([gx, gw]);
      },
      after: () => tf.dispose([x, w, dy]),
      note: "tf.grads of sum(conv2d · dy)",
    };
  }
  if (row.id === "lenet_fwd" || row.id === "lenet_step") {
    freeInputs();
    const B = row.batch;
    const X = tf.randomUniform([B, 28, 28, 1], 0, 1);
    const Y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), "int32"), 10);
    const [d0, d1, d2, d3] = LENET.dense;
    const { conv1, conv2 } = LENET;
    const v = {
      w1: tf.variable(tf.randomNormal([conv1.kernel, conv1.kernel, 1, conv1.filters], 0, 0.1)),
      b1: tf.variable(tf.zeros([conv1.filters])),
      w2: tf.variable(tf.randomNormal([conv2.kernel, conv2.kernel, conv1.filters, conv2.filters], 0, 0.1)),
      b2: tf.variable(tf.zeros([conv2.filters])),
      w3: tf.variable(tf.randomNormal([d0, d1], 0, 0.05)),
      b3: tf.variable(tf.zeros([d1])),
      w4: tf.variable(tf.randomNormal([d1, d2], 0, 0.05)),
      b4: tf.variable(tf.zeros([d2])),
      w5: tf.variable(tf.randomNormal([d2, d3], 0, 0.05)),
      b5: tf.variable(tf.zeros([d3])),
    };
    const forward = () => {
      let h = tf.relu(tf.add(tf.conv2d(X, v.w1, 1, "valid"), v.b1));
      h = tf.maxPool(h, 2, 2, "valid");
      h = tf.relu(tf.add(tf.conv2d(h, v.w2, 1, "valid"), v.b2));
      h = tf.reshape(tf.maxPool(h, 2, 2, "valid"), [B, d0]);
      h = tf.relu(tf.add(tf.matMul(h, v.w3), v.b3));
      h = tf.relu(tf.add(tf.matMul(h, v.w4), v.b4));
      return tf.add(tf.matMul(h, v.w5), v.b5);
    };
    const after = () => {
      tf.dispose([X, Y, ...Object.values(v)]);
    };
    if (row.id === "lenet_fwd") {
      return {
        fn() {
          const y = tf.tidy(forward);
          force(y);
          y.dispose();
        },
        after,
      };
    }
    const opt = tf.train.sgd(LENET.lr);
    return {
      fn() {
        const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(Y, forward()), true, Object.values(v));
        loss.dataSync();
        loss.dispose();
      },
      after() {
        after();
        opt.dispose();
      },
      note: "tf.train.sgd(0.1).minimize, tf.losses.softmaxCrossEntropy",
    };
  }
  if (row.id === "trainer_step") {
    const { batch, inp, hidden, out } = S.mlp;
    const X = tf.randomUniform([batch, inp], 0, 1);
    const Y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % out), "int32"), out);
    // Glorot-uniform weights, zero biases: the Gluon row's Xavier().
    const glorot = (a, b) => tf.randomUniform([a, b], -Math.sqrt(6 / (a + b)), Math.sqrt(6 / (a + b)));
    const W1 = tf.variable(glorot(inp, hidden));
    const b1 = tf.variable(tf.zeros([hidden]));
    const W2 = tf.variable(glorot(hidden, out));
    const b2 = tf.variable(tf.zeros([out]));
    const vars = [W1, b1, W2, b2];
    const opt = tf.train.sgd(0.01);
    return {
      fn() {
        const loss = opt.minimize(
          () => {
            const h = tf.relu(tf.add(tf.matMul(X, W1), b1));
            return tf.losses.softmaxCrossEntropy(Y, tf.add(tf.matMul(h, W2), b2));
          },
          true,
          vars,
        );
        loss.dataSync();
        loss.dispose();
      },
      after() {
        for (const t of [X, Y, ...vars]) t.dispose();
        opt.dispose();
      },
      note: "tf.train.sgd(0.01).minimize, tf.losses.softmaxCrossEntropy (mean over the batch)",
    };
  }
  return { skip: "not implemented" };
}

await runWorker(name, impl, quick);
freeInputs();
