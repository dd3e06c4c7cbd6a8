// `ndgrad/worker`: the same API, asynchronous, in a worker thread. Remote
// ops give the main API's shapes, values, printing and error messages;
// chained ops are pipelined (one message, not one round trip each);
// recording, backward and gradients work remotely; arrays are freed by
// dispose / using / scope / garbage collection; typed arrays are moved;
// a crash rejects what waits; terminate lets Node exit; a user's module runs
// in the worker. Every test frees what it creates, in the worker too.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nd, autograd, NDArray } from "ndgrad";
import { createWorker, RemoteNDArray, transfer, type NDWorker } from "ndgrad/worker";
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS } from "../../pkg/opnames.js";
import { expectNoLeaks, prng } from "./helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const workerUrl = pathToFileURL(join(root, "pkg/worker/index.js")).href;
const mainUrl = pathToFileURL(join(root, "pkg/index.js")).href;

let w: NDWorker;
beforeAll(async () => {
  w = await createWorker();
});
afterAll(async () => {
  await w.terminate();
});

/** The worker's live counts are back to zero, and so are this thread's. */
async function expectNoRemoteLeaks(worker: NDWorker<unknown> = w): Promise<void> {
  const m = await worker.nd.memory();
  expect({ arrays: m.arrays, bytes: m.bytes, tapeNodes: m.tapeNodes }).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  expect(await worker.autograd.isRecording()).toBe(false);
  expect(await worker.autograd.isTraining()).toBe(false);
}
afterEach(async () => {
  await expectNoRemoteLeaks();
  expectNoLeaks();
});

/** The main API's error for the same call (arrays made in `f` are freed). */
function mainError(f: () => unknown): Error {
  try {
    nd.scope(() => {
      f();
    });
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the main API to throw");
}

/** Await `p` and return its rejection. */
async function rejection(p: PromiseLike<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** Run an ES module body in a fresh Node; returns its last stdout line as JSON. */
function inChild(body: string, nodeArgs: string[] = []): { status: number | null; out: unknown; stderr: string; ms: number } {
  const script = `
    import { createWorker, transfer } from ${JSON.stringify(workerUrl)};
    let out = null;
    ${body}
    console.log(JSON.stringify(out));
  `;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...nodeArgs, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
    cwd: root,
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  let out: unknown = undefined;
  try {
    out = JSON.parse(last);
  } catch {
    out = last;
  }
  return { status: r.status, out, stderr: r.stderr, ms: Date.now() - t0 };
}

describe("remote arrays give the main API's results", () => {
  it("runs the tutorial's first cells: record, backward, grad, printing", () =>
    w.nd.scope(async () => {
      const X = w.nd.array([[1, 2], [3, 4]]);
      expect(X).toBeInstanceOf(RemoteNDArray);
      expect([X.shape, X.size, X.ndim, X.dtype, X.context]).toEqual([[2, 2], 4, 2, "float32", "cpu(0)"]);
      await X.attachGrad();
      const g0 = await X.grad;
      expect(g0).toBeInstanceOf(RemoteNDArray);
      expect(await g0!.toArray()).toEqual([[0, 0], [0, 0]]);
      const Y = await w.autograd.record(() => w.nd.mul(2, X).mul(X));
      expect(Y.shape).toEqual([2, 2]);
      await Y.backward();
      const g = await X.grad;
      expect(g).toBe(g0); // the same gradient array, as in the main API

      using lx = nd.array([[1, 2], [3, 4]]);
      lx.attachGrad();
      using ly = nd.scope(() => autograd.record(() => nd.mul(2, lx).mul(lx)));
      ly.backward();
      expect(await X.toString()).toBe(String(lx));
      expect(await Y.toString()).toBe(String(ly));
      expect(await g!.toString()).toBe(String(lx.grad));
      expect(await g!.toArray()).toEqual([[4, 8], [12, 16]]);
      expect(await X.sum().asscalar()).toBe(10);
      X.dispose();
      Y.dispose();
      expect(g!.isDisposed).toBe(true); // freed with X, as in the main API
    }));

  // Each case runs on the main API and remotely on x = [[1,2,3],[4,5,6]],
  // y = [10,20,30]; the remote shape is checked before the worker ran the op.
  type Api = typeof nd;
  type Arr = NDArray;
  const cases: [string, (api: Api, x: Arr, y: Arr) => Arr][] = [
    ["add", (_, x, y) => x.add(y)],
    ["sub number", (_, x) => x.sub(2)],
    ["nd.mul number first", (api, x) => api.mul(2, x)],
    ["nd.sub numbers", (api) => api.sub(5, 3)],
    ["div", (_, x, y) => y.div(x)],
    ["pow", (_, x) => x.pow(2)],
    ["maximum, minimum", (api, x, y) => api.maximum(x, 3).minimum(y.div(10))],
    ["comparisons", (_, x) => x.greater(2).add(x.lesserEqual(4)).add(x.equal(5)).add(x.notEqual(1))],
    ["unary", (api, x) => api.sqrt(x).exp().log().neg().abs().square().sigmoid().tanh().relu().sign()],
    ["sum", (_, x) => x.sum()],
    ["sum axis 0", (_, x) => x.sum(0)],
    ["sum axis 1 keepdims", (_, x) => x.sum(1, true)],
    ["sum {axis: [0, 1]}", (_, x) => x.sum({ axis: [0, 1] })],
    ["sum keepdims all", (_, x) => x.sum(null, true)],
    ["mean -1", (_, x) => x.mean(-1)],
    ["max, min, prod", (api, x) => api.max(x, 0).add(x.min()).add(x.prod(0))],
    ["norm", (_, x) => x.norm()],
    ["nd.norm axis keepdims", (api, x) => api.norm(x, 1, true)],
    ["reshape list", (_, x) => x.reshape([3, 2])],
    ["reshape -1", (_, x) => x.reshape(-1)],
    ["reshape varargs", (_, x) => x.reshape(3, -1)],
    ["nd.reshape", (api, x) => api.reshape(x, [1, 6])],
    ["transpose", (_, x) => x.transpose()],
    ["T", (_, x) => x.T],
    ["transpose axes", (api, x) => api.transpose(x.reshape([1, 2, 3]), [2, 0, 1])],
    ["expandDims", (_, x) => x.expandDims(0).expandDims(-1)],
    ["squeeze", (_, x) => x.reshape([1, 6, 1]).squeeze()],
    ["squeeze axis", (api, x) => api.squeeze(x.reshape([1, 6, 1]), 2)],
    ["squeeze all-ones", (api) => api.ones([1, 1]).squeeze()],
    ["broadcastTo", (_, x, y) => y.broadcastTo([2, 2, 3]).add(x)],
    ["dot 2-D", (_, x) => x.dot(x.T)],
    ["dot 1-D", (api, _x, y) => api.dot(y, y)],
    ["dot 2-D x 1-D", (_, x, y) => x.dot(y)],
    ["batchDot", (api, x) => api.batchDot(api.stack([x, x], 0), api.stack([x.T, x.T], 0))],
    ["at", (_, x) => x.at(-1)],
    ["at 1-D", (_, _x, y) => y.at(1)],
    ["slice", (_, x) => x.slice(1)],
    ["slice negative", (_, x) => x.slice(-1, null)],
    ["slice empty", (_, x) => x.slice(5, 10)],
    ["concat axis 0", (api, x) => api.concat([x, x], 0)],
    ["concat default axis", (api, x) => api.concat([x, x, x])],
    ["stack axis 1", (api, x) => api.stack([x, x], 1)],
    ["stack axis -1", (api, x) => api.stack([x, x], -1)],
    ["arange", (api) => api.arange(5)],
    ["arange float step", (api) => api.arange(1, 2, 0.3)],
    ["arange empty", (api) => api.arange(3, 1)],
    ["zeros with a 0", (api) => api.zeros([2, 0])],
    ["ones", (api) => api.ones(3)],
    ["full", (api) => api.full([2], 7)],
    ["zerosLike, onesLike", (api, x) => api.zerosLike(x).add(api.onesLike(x))],
    ["array number", (api) => api.array(5)],
    ["array typed + shape", (api) => api.array(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2] })],
    ["array of an array", (api, x) => api.array(x)],
    ["seeded uniform", (api) => {
      api.random.seed(42);
      return api.random.uniform(-1, 1, [2, 3]);
    }],
    ["seeded normal {shape}", (api) => {
      api.random.seed(7);
      return api.random.normal(0, 2, { shape: [4] });
    }],
    ["copy, detach, astype", (_, x) => x.copy().detach().astype("float32")],
    ["dropout in predict mode", (api, x) => api.dropout(x, 0.5)],
    ["set", (_, x) => x.copy().set(x.mul(3))],
  ];

  it.each(cases)("%s", async (_name, f) => {
    const [shape, dtype, values, text] = nd.scope(() => {
      const r = f(nd, nd.array([[1, 2, 3], [4, 5, 6]]), nd.array([10, 20, 30]));
      return [r.shape, r.dtype, r.toArray(), String(r)] as const;
    });
    const before = await w.stats();
    await w.nd.scope(async () => {
      const remote = w.nd as unknown as Api;
      const x = w.nd.array([[1, 2, 3], [4, 5, 6]]) as unknown as Arr;
      const y = w.nd.array([10, 20, 30]) as unknown as Arr;
      const r = f(remote, x, y) as unknown as RemoteNDArray;
      expect([r.shape, r.dtype]).toEqual([shape, dtype]); // inferred here, before the worker ran it
      expect(await r.toArray()).toEqual(values);
      expect(await r.toString()).toBe(text);
    });
    const after = await w.stats();
    expect([after.shapeFixes, after.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
  });

  it("autograd.grad, markVariables, autograd.backward with head gradients, pause and modes", async () => {
    await w.nd.scope(async () => {
      const x = w.nd.array([1, 2, 3]);
      x.attachGrad();
      const [gx] = await w.autograd.record(() => {
        const y = x.mul(x).mul(x);
        return w.autograd.grad(y, [x], { createGraph: true });
      });
      expect(gx!.shape).toEqual([3]);
      expect(await gx!.toArray()).toEqual([3, 12, 27]);
      await gx!.backward(); // d/dx 3x^2 = 6x
      expect(await (await x.grad)!.toArray()).toEqual([6, 12, 18]);

      const v = w.nd.array([1, 2]);
      const gv = w.nd.zeros([2]);
      await w.autograd.markVariables(v, gv, "write");
      const z = await w.autograd.record(() => v.square());
      await w.autograd.backward(z, { headGrads: w.nd.array([1, 10]) });
      expect(await gv.toArray()).toEqual([2, 40]);

      const inside = await w.autograd.record(async () => {
        const r = await w.autograd.isRecording();
        const p = await w.autograd.pause(() => w.autograd.isRecording());
        const t = await w.autograd.predictMode(() => w.autograd.isTraining());
        return [r, p, t, await w.autograd.isTraining()];
      });
      expect(inside).toEqual([true, false, false, true]);
      x.dispose();
      v.dispose();
    });
  });

  it("higher order through relu, max, take and linear ops stays in the graph remotely (issue #11), as on the main thread", async () => {
    const xv = [[0.3, -0.7, 1.9], [-1.2, 0.8, 2.6]];
    const hv = [[1, 2, 3], [4, 5, 6]];
    type Ops<A> = { relu: (x: A) => A; max: (x: A) => A; take: (x: A) => A; reshape: (x: A) => A; mul: (x: A) => A };
    // x.grad after xg.backward(), xg = grad(f(x), x, {headGrads, createGraph, retainGraph}), and xg itself.
    const local = (f: (x: NDArray) => NDArray): [number[], number[]] =>
      nd.scope(() => {
        const x = nd.array(xv);
        x.attachGrad();
        x.grad!.set(7);
        const xg = autograd.record(() => {
          const y = f(x);
          return autograd.grad(y, x, { headGrads: nd.onesLike(y).mul(3), createGraph: true, retainGraph: true })[0]!;
        });
        xg.backward(nd.array(hv));
        const out: [number[], number[]] = [Array.from(x.grad!.data()), Array.from(xg.data())];
        x.dispose();
        return out;
      });
    const ops: Ops<NDArray> = {
      relu: (x) => x.relu(),
      max: (x) => x.max(1),
      take: (x) => x.take(nd.array([1, 1, 0])),
      reshape: (x) => x.reshape(3, 2),
      mul: (x) => x.mul(x),
    };
    const remoteOps: Ops<RemoteNDArray> = {
      relu: (x) => x.relu(),
      max: (x) => x.max(1),
      take: (x) => x.take(w.nd.array([1, 1, 0])),
      reshape: (x) => x.reshape(3, 2),
      mul: (x) => x.mul(x),
    };
    for (const name of Object.keys(ops) as (keyof Ops<NDArray>)[]) {
      const want = local(ops[name]);
      const got = await w.nd.scope(async () => {
        const x = w.nd.array(xv);
        x.attachGrad();
        (await x.grad)!.set(7);
        const xg = await w.autograd.record(async () => {
          const y = remoteOps[name](x);
          return (await w.autograd.grad(y, [x], { headGrads: w.nd.onesLike(y).mul(3), createGraph: true, retainGraph: true }))[0]!;
        });
        await xg.backward(w.nd.array(hv));
        const out: [number[], number[]] = [Array.from(await (await x.grad)!.data()), Array.from(await xg.data())];
        x.dispose();
        return out;
      });
      expect(got, name).toEqual(want);
      // zeros where the derivative is zero, 2·head·head_grad for x·x
      const second = name === "mul" ? hv.flat().map((h) => 6 * h) : [0, 0, 0, 0, 0, 0];
      expect(got[0].map((v) => v + 0), name).toEqual(second);
    }
  });

  it("a remote `record` spans awaits: the tutorial's dynamic control flow", async () => {
    // MXNet's f(a): double until the norm reaches 1000, then pick by the sign of the sum.
    const f = async (a: RemoteNDArray): Promise<RemoteNDArray> => {
      let b = a.mul(2);
      while ((await b.norm().asscalar()) < 1000) b = b.mul(2);
      return (await b.sum().asscalar()) > 0 ? b : b.mul(100);
    };
    await w.nd.scope(async () => {
      const a = w.nd.array([0.25, -0.5]);
      a.attachGrad();
      const c = await w.autograd.record(() => f(a));
      await c.backward();
      const [grad, ratio] = await Promise.all([(await a.grad)!.toArray(), c.div(a).toArray()]);
      expect(grad).toEqual(ratio);
      a.dispose();
    });
  });
});

describe("every op and dtype gives the main API's result", () => {
  // Each case runs on the main API and remotely, for each dtype, on the
  // inputs below; results (one array or a list of them: `topk` "both") must
  // have the same shape and dtype (the remote ones read before the worker
  // ran anything), values, printing and typed array kind; a call the main
  // API refuses (float-only math on int32, mixed dtypes, …) must be refused
  // with the same message.
  type Api = typeof nd;
  type Arr = NDArray;
  interface In {
    /** [[0.5, -1.5, 2.25], [3, -0.25, 1]] (int32: [[0, -1, 2], [3, 0, 1]]). */
    x: Arr;
    /** A 1-D array, [4, -2, 7, 1]. */
    v: Arr;
    /** Indices [2, 0, 1, 1] (for take and oneHot). */
    idx: Arr;
    /** One index per row of x ([2, 0], for pick). */
    pidx: Arr;
    /** The same values as x in another dtype (float32, or float64 for float32). */
    other: Arr;
  }
  const DTYPES = ["float32", "float64", "int32", "uint8"] as const;
  type D = (typeof DTYPES)[number];
  function inputs(api: Api, dtype: D): In {
    // uint8 holds no negative values: the same magnitudes, positive.
    const sign = dtype === "uint8" ? 1 : -1;
    return {
      x: api.array([[0.5, sign * 1.5, 2.25], [3, sign * 0.25, 1]], { dtype }),
      v: api.array([4, sign * 2, 7, 1], { dtype }),
      idx: api.array([2, 0, 1, 1], { dtype }),
      pidx: api.array([2, 0], { dtype }),
      other: api.array([[0.5, -1.5, 2.25], [3, -0.25, 1]], { dtype: dtype === "float32" ? "float64" : "float32" }),
    };
  }
  type Result = Arr | Arr[];
  const unary = UNARY_OPS.map((op): [string, (api: Api, a: In, d: D) => Result] => [
    op,
    (api, { x }) => api[op](x),
  ]);
  const cases: [string, (api: Api, a: In, d: D) => Result][] = [
    ...unary,
    ["unary methods chained", (_, { x }) => x.abs().add(1).log1p().floor()],
    ["negative", (api, { x }) => api.negative(x)],
    ["binary", (api, { x, v }) => api.mul(x, 2.5).sub(v.at(0)).div(2).maximum(x).pow(2)],
    ["binary number first", (api, { x }) => api.sub(7, x)],
    ["comparisons keep the dtype", (_, { x }) => x.greater(0).add(x.lesserEqual(1))],
    ["mixed dtypes", (_, { x, other }) => x.add(other)],
    ["division by zero", (_, { x }) => x.div(0)],
    ["reductions", (api, { x }) => api.sum(x, 0).add(x.mean(0)).add(x.prod(0)).add(x.max(0)).add(x.min(0))],
    ["mean keepdims", (_, { x }) => x.mean({ axis: 1, keepdims: true })],
    ["norm", (_, { x }) => x.norm()],
    ["norm ord 1", (_, { x }) => x.norm({ ord: 1 })],
    ["norm ord 2 axis keepdims", (_, { x }) => x.norm({ ord: 2, axis: 1, keepdims: true })],
    ["nd.norm ord 1 axis", (api, { x }) => api.norm(x, { ord: 1, axis: 0 })],
    ["argmax", (_, { x }) => x.argmax()],
    ["argmax axis", (_, { x }) => x.argmax(1)],
    ["argmin {axis, keepdims}", (_, { x }) => x.argmin({ axis: 0, keepdims: true })],
    ["nd.argmax null keepdims", (api, { x }) => api.argmax(x, null, true)],
    ["nd.argmin 1-D", (api, { v }) => api.argmin(v, 0)],
    ["clip", (_, { x }) => x.clip(-1, 2)],
    ["nd.clip", (api, { v }) => api.clip(v, 0, 5)],
    ["leakyRelu", (_, { x }) => x.leakyRelu()],
    ["nd.leakyRelu slope", (api, { x }) => api.leakyRelu(x, 0.1)],
    ["softmax", (_, { x }) => x.softmax()],
    ["nd.softmax {axis: 0}", (api, { x }) => api.softmax(x, { axis: 0 })],
    ["logSoftmax", (_, { x }) => x.logSoftmax(0)],
    ["nd.logSoftmax", (api, { x }) => api.logSoftmax(x)],
    ["take", (_, { x, idx }) => x.take(idx)],
    ["take axis 1", (_, { x, idx }) => x.take(idx, 1)],
    ["nd.take {axis, mode: wrap}", (api, { x, idx }) => api.take(x, idx.add(2), { axis: -1, mode: "wrap" })],
    ["take 2-D indices", (_, { v, x }) => v.take(x.abs())],
    ["pick", (_, { x, pidx }) => x.pick(pidx)],
    ["nd.pick {axis: 0, keepdims}", (api, { x }) => api.pick(x, api.array([[1, 0, 1]]).astype(x.dtype), { axis: 0, keepdims: true })],
    ["oneHot", (_, { idx }) => idx.oneHot(3)],
    ["nd.oneHot {onValue, offValue, dtype}", (api, { idx }) => api.oneHot(idx, 4, { onValue: 5, offValue: -1, dtype: "float64" })],
    ["oneHot int32", (api, { pidx }) => api.oneHot(pidx, 3, { dtype: "int32" })],
    ["topk", (_, { x }) => x.topk()],
    ["topk k 2 values", (_, { x }) => x.topk({ k: 2, retTyp: "value" })],
    ["topk axis 0 ascending", (_, { x }) => x.topk({ axis: 0, isAscend: true })],
    ["topk mask", (_, { x }) => x.topk({ k: 2, retTyp: "mask" })],
    ["topk both", (_, { x }) => x.topk({ k: 2, retTyp: "both" })],
    ["nd.topk both", (api, { v }) => api.topk(v, { k: 3, retTyp: "both", isAscend: true })],
    ["nd.topk", (api, { v }) => api.topk(v, { k: 2 })],
    ["sort", (_, { x }) => x.sort()],
    ["nd.sort {axis: 0, isAscend: false}", (api, { x }) => api.sort(x, { axis: 0, isAscend: false })],
    ["argsort", (_, { x }) => x.argsort(0)],
    ["nd.argsort", (api, { v }) => api.argsort(v, { isAscend: false })],
    ["tile", (_, { x }) => x.tile(2)],
    ["nd.tile more reps than axes", (api, { x }) => api.tile(x, [2, 1, 2])],
    ["repeat flattened", (_, { x }) => x.repeat(2)],
    ["nd.repeat axis", (api, { x }) => api.repeat(x, 3, 0)],
    ["flip", (_, { x }) => x.flip(1)],
    ["nd.flip axes", (api, { x }) => api.flip(x, [0, 1])],
    ["slice step", (_, { v }) => v.slice(null, null, 2)],
    ["slice negative step", (_, { v }) => v.slice(-1, 0, -2)],
    ["slice reversed axis 0", (_, { x }) => x.slice(null, null, -1)],
    ["slice lists", (_, { x }) => x.slice([0, 1], [2, 3], [1, 2])],
    ["nd.slice lists with nulls", (api, { x }) => api.slice(x, [null, 2], [null, 0], [null, -1])],
    ["nd.slice lists, no step", (api, { x }) => api.slice(x, [1], [null])],
    ["slice empty", (_, { x }) => x.slice([0, 2], [2, 1])],
    ["sliceAxis", (_, { x }) => x.sliceAxis(1, 1, null)],
    ["nd.sliceAxis negative", (api, { x }) => api.sliceAxis(x, -1, -2, 3)],
    ["where", (api, { x }) => api.where(x.greater(0), x, x.neg())],
    ["where broadcast", (api, { x, v }) => api.where(api.array([1, 0, 1]), x, v.slice(0, 1).reshape([1, 1]).broadcastTo([2, 1]))],
    ["where cond of another dtype", (api, { x, other }) => api.where(other.greater(1), x, x.mul(2))],
    ["dot", (_, { x }) => x.dot(x, { transposeB: true })],
    ["nd.dot transposeA", (api, { x }) => api.dot(x, x, { transposeA: true })],
    ["nd.dot both", (api, { x }) => api.dot(x, x.T, { transposeA: true, transposeB: true })],
    ["dot 1-D", (_, { v }) => v.dot(v)],
    ["astype float32", (_, { x }) => x.astype("float32")],
    ["astype float64", (_, { x }) => x.astype("float64")],
    ["astype int32", (_, { x }) => x.astype("int32")],
    ["nd.cast", (api, { x }) => api.cast(x, "int32")],
    ["nd.astype", (api, { x }) => api.astype(x, "float64")],
    ["movement keeps the dtype", (api, { x }) =>
      api.concat([x.reshape([3, 2]).T, api.stack([x.at(0), x.at(1)]).expandDims(0).squeeze(0)], 0).transpose().slice(1)],
    ["batchDot", (api, { x }) => api.batchDot(api.stack([x, x]), api.stack([x.T, x.T]))],
    ["copy, detach", (_, { x }) => x.copy().detach()],
    ["zerosLike, onesLike keep the dtype", (api, { x }) => api.zerosLike(x).add(api.onesLike(x))],
    ["dropout keeps the dtype", (api, { x }) => api.dropout(x)],
    ["array of an array keeps its dtype", (api, { x }) => api.array(x)],
    ["array of an array with a dtype and shape", (api, { x }) => api.array(x, { dtype: "float64", shape: [3, 2] })],
    ["array {dtype}", (api, _, dtype) => api.array([[1.7, -2.5]], { dtype })],
    ["array of a typed array of the dtype", (api, _, dtype) =>
      api.array(
        dtype === "float64"
          ? new Float64Array([1.5, 2])
          : dtype === "int32"
            ? new Int32Array([3, -4])
            : dtype === "uint8"
              ? new Uint8Array([3, 250])
              : new Float32Array([0.1, 2]),
      )],
    ["array of a Uint8Array", (api) => api.array(new Uint8Array([1, 255]))],
    ["zeros {dtype}", (api, _, dtype) => api.zeros([2, 2], { dtype })],
    ["ones dtype string", (api, _, dtype) => api.ones(3, dtype)],
    ["full {dtype}", (api, _, dtype) => api.full([2], 7.9, { dtype })],
    ["arange {dtype}", (api, _, dtype) => api.arange(0, 5, 1.5, { dtype })],
    ["arange step options", (api, _, dtype) => api.arange(-2, 3, { dtype })],
    ["arange one argument", (api, _, dtype) => api.arange(4, null, 1, dtype)],
    ["seeded uniform {dtype}", (api, _, dtype) => {
      api.random.seed(3);
      return api.random.uniform(-5, 5, [2, 3], { dtype });
    }],
    ["seeded normal {shape, dtype}", (api, _, dtype) => {
      api.random.seed(4);
      return api.random.normal(0, 3, { shape: [4], dtype });
    }],
    ["int32 arithmetic", (api, _, dtype) => api.array([7, -7, 2147483647], { dtype }).add(1).div(2).mul(3)],
    // nnmisc group (issue #12)
    ["nd.FullyConnected no bias", (api, { x }) => api.FullyConnected(x, x, null, { numHidden: 2, noBias: true })],
    ["nd.FullyConnected flatten false, bias", (api, { x }) =>
      api.FullyConnected(x.reshape([1, 2, 3]), x, x.at(0).slice(0, 2), { numHidden: 2, flatten: false })],
    ["nd.FullyConnected flatten of 3-D data", (api, { x }) => api.FullyConnected(x.reshape([2, 3, 1]), x, x.at(1).slice(1), { numHidden: 2 })],
    ["nd.FullyConnected wrong weight", (api, { x }) => api.FullyConnected(x, x.T, null, { numHidden: 3, noBias: true })],
    ["nd.Embedding", (api, { x, idx }) => api.Embedding(idx, x.T, { inputDim: 3, outputDim: 2 })],
    ["nd.Activation softsign", (api, { x }) => api.Activation(x, { actType: "softsign" })],
    ["nd.Activation softrelu", (api, { x }) => api.Activation(x, { actType: "softrelu" })],
    ["nd.LeakyReLU default", (api, { x }) => api.LeakyReLU(x)],
    ["nd.LeakyReLU gelu", (api, { x }) => api.LeakyReLU(x, { actType: "gelu" })],
    ["nd.LeakyReLU elu slope", (api, { x }) => api.LeakyReLU(x, { actType: "elu", slope: 0.5 })],
    ["nd.LeakyReLU prelu with a remote gamma", (api, { x }) => api.LeakyReLU(x, { actType: "prelu", gamma: x.at(0).abs() })],
    ["nd.Flatten, flatten()", (api, { x }) => api.Flatten(x.reshape([2, 3, 1])).add(x.reshape([1, 2, 3]).flatten().reshape([2, 3]))],
    ["nd.softmaxCrossEntropy", (api, { x, pidx }) => api.softmaxCrossEntropy(x, pidx)],
  ];
  const table = cases.flatMap(([name, f]) => DTYPES.map((d) => [`${name} (${d})`, d, f] as const));

  interface Snapshot {
    shape: number[];
    dtype: string;
    values: unknown;
    text: string;
    kind: string;
  }
  const list = (r: unknown): unknown[] => (Array.isArray(r) ? r : [r]);

  it.each(table)("%s", async (_name, dtype, f) => {
    let expected: Snapshot[] | Error;
    try {
      expected = nd.scope(() =>
        list(f(nd, inputs(nd, dtype), dtype)).map((a) => {
          const r = a as NDArray;
          return { shape: r.shape, dtype: r.dtype, values: r.toArray(), text: String(r), kind: r.data().constructor.name };
        }),
      );
    } catch (e) {
      expected = e as Error;
    }
    const before = await w.stats();
    await w.nd.scope(async () => {
      const remote = w.nd as unknown as Api;
      const args = inputs(remote, dtype);
      const r = list(f(remote, args, dtype)) as RemoteNDArray[];
      for (const a of r) expect(a).toBeInstanceOf(RemoteNDArray);
      if (expected instanceof Error) {
        const e = await rejection(r[0]!.toArray());
        expect([e.message, e.name]).toEqual([expected.message, expected.name]);
        for (const a of r.slice(1)) {
          expect((await rejection(a.toArray())).message).toBe(
            `toArray: the array was never created, because an earlier operation failed: ${expected.message}`,
          );
        }
        return;
      }
      // Known here at once, before the worker ran the op.
      expect(r.map((a) => [a.shape, a.dtype])).toEqual(expected.map((e) => [e.shape, e.dtype]));
      const got: Snapshot[] = [];
      for (const a of r) {
        got.push({
          shape: a.shape,
          dtype: a.dtype,
          values: await a.toArray(),
          text: await a.toString(),
          kind: (await a.data()).constructor.name,
        });
      }
      expect(got).toEqual(expected);
    });
    const after = await w.stats();
    expect([after.shapeFixes, after.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
  });

  it("every nd function and NDArray method exists remotely", () => {
    // What the worker does not offer: the main thread's own leak tracker
    // (`debug` would report the worker's creation stacks).
    const localOnly = new Set(["debug"]);
    const missing = Object.keys(nd).filter((k) => !localOnly.has(k) && typeof (w.nd as unknown as Record<string, unknown>)[k] !== typeof (nd as unknown as Record<string, unknown>)[k]);
    expect(missing).toEqual([]);
    expect(Object.keys(w.nd.random).sort()).toEqual(Object.keys(nd.random).sort());
    // Internal: the handle, the hook `autograd.markVariables` uses, and
    // MXNet's private `_fresh_grad` flag, which only gluon.Trainer reads
    // (gluon runs inside a worker module, not through the remote API).
    const internal = new Set(["handleFor", "markVariable", "_freshGrad", "_serial"]);
    const methods = Object.getOwnPropertyNames(NDArray.prototype).filter((m) => !internal.has(m));
    const remote = new Set(Object.getOwnPropertyNames(RemoteNDArray.prototype));
    expect(methods.filter((m) => !remote.has(m))).toEqual([]);
    for (const op of [...BINARY_OPS, ...UNARY_OPS, ...REDUCE_OPS]) {
      expect(typeof (RemoteNDArray.prototype as unknown as Record<string, unknown>)[op]).toBe("function");
    }
  });

  it("the worker's GEMM threads are set and read remotely, with the main API's errors", async () => {
    const n = await w.nd.getThreads();
    expect(Number.isInteger(n) && n >= 1).toBe(true);
    await w.nd.setThreads(1);
    expect(await w.nd.getThreads()).toBe(1);
    const local = mainError(() => nd.setThreads(0));
    await expect(w.nd.setThreads(0)).rejects.toThrow(local.message);
    await w.nd.setThreads(n);
    expect(await w.nd.getThreads()).toBe(n);
  });

  it("a chain of the new ops, in any dtype, is one message and needs no correction", async () => {
    const chain = (api: Api, x: Arr, idx: Arr): Arr[] => {
      const [vals, ids] = x
        .softmax()
        .logSoftmax(0)
        .clip(-3, 0)
        .leakyRelu(0.5)
        .tile([2, 1])
        .repeat(2, 1)
        .flip(0)
        .slice([null, 1], [null, null], [2, 2])
        .sliceAxis(0, 0, 1)
        .take(idx, 1)
        .sort({ isAscend: false })
        .topk({ retTyp: "both", k: 1 });
      const y = ids.astype("int32").oneHot(2, { dtype: "int32" }).add(vals.argmax(0).astype("int32")).sum();
      const z = api.where(x.greater(3), x, x.exp()).dot(x, { transposeB: true }).norm({ ord: 1 }).sin();
      return [y, z];
    };
    const expected = nd.scope(() =>
      chain(nd, nd.array([[3, 1, 2], [6, 5, 4]], { dtype: "float64" }), nd.array([1, 0], { dtype: "int32" })).map((r) => [
        r.shape,
        r.dtype,
        r.toArray(),
      ]),
    );
    await w.nd.scope(async () => {
      const x = w.nd.array([[3, 1, 2], [6, 5, 4]], { dtype: "float64" });
      const idx = w.nd.array([1, 0], { dtype: "int32" });
      await w.nd.waitall();
      const before = await w.stats();
      const r = chain(w.nd as unknown as Api, x as unknown as Arr, idx as unknown as Arr) as unknown as RemoteNDArray[];
      const shapes = r.map((a) => [a.shape, a.dtype]);
      const first = await r[0]!.toArray();
      const after = await w.stats();
      // All the ops and the first read: one message (then `after`'s own).
      const messages = after.messagesSent - before.messagesSent - 1 - (after.freeBatches - before.freeBatches);
      expect(messages).toBe(1);
      const values = [first, await r[1]!.toArray()];
      const end = await w.stats();
      expect([end.shapeFixes, end.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
      expect(r.map((a, i) => [...shapes[i]!, values[i]])).toEqual(expected);
      expect(shapes.map(([, d]) => d)).toEqual(["int32", "float64"]);
    });
  });

  it("inferred shapes match the engine's for many argument combinations (no corrections)", async () => {
    const rand = prng(11);
    const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const maybe = <T>(v: T): T | null => (rand() < 0.3 ? null : v);
    type Call = (a: Arr, i: Arr) => Result;
    const input = (api: Api, shape: number[]): Arr => api.arange(shape.reduce((p, q) => p * q, 1)).reshape(shape);
    const indices = (api: Api): Arr => api.array([[1, 0], [2, -1]]);
    const valid: { what: string; shape: number[]; f: Call; out: number[][] }[] = [];
    for (let n = 0; n < 400; n++) {
      const rank = int(1, 3);
      const shape = Array.from({ length: rank }, () => int(0, 3));
      const axis = int(-rank, rank - 1);
      const bound = (): number | null => maybe(int(-4, 4));
      const step = (): number | null => maybe(int(-3, 3) || 1);
      const some = <T>(f: () => T): T[] => Array.from({ length: int(1, rank) }, f);
      const [b, e, s, bs, es, ss] = [bound(), bound(), step(), some(bound), some(bound), some(step)];
      const kd = rand() < 0.5;
      const ax = rand() < 0.3 ? null : axis;
      const k = int(1, 3);
      const small = int(0, 3);
      const reps = Array.from({ length: int(0, 4) }, () => int(0, 3));
      const ret = (["value", "indices", "mask", "both"] as const)[int(0, 3)]!;
      const mode = rand() < 0.5 ? "wrap" : "clip";
      const ord = rand() < 0.5 ? 1 : 2;
      const tb = rand() < 0.5;
      const es2 = es.length === bs.length ? es : bs.map(() => null);
      const fs: Call[] = [
        (a) => a.slice(b, e, s),
        (a) => a.slice(bs, es2, ss.length === bs.length ? ss : undefined),
        (a) => a.sliceAxis(axis, b, e),
        (a) => a.tile(reps),
        (a) => a.repeat(small, ax),
        (a) => a.argmax(ax, kd),
        (a) => a.argmin({ axis: ax, keepdims: kd }),
        (a) => a.topk({ axis, k, retTyp: ret }),
        (a, i) => a.take(i, { axis, mode }),
        (a) => a.norm({ ord, axis: ax, keepdims: kd }),
        (a) => a.sort({ axis }).flip(axis),
        (a) => a.oneHot(small),
        (a) => a.pick(a.sum({ axis, keepdims: kd }), { axis, keepdims: kd }),
        (a) => a.dot(a, { transposeA: kd, transposeB: tb }),
      ];
      const f = fs[int(0, fs.length - 1)]!;
      // What the call is, for a failure's message.
      const what = `[${shape}] ${String(f).replace(/\s+/g, " ")} ${JSON.stringify({ b, e, s, bs, es2, ss, axis, ax, kd, k, small, reps, ret, mode, ord, tb })}`;
      try {
        const out = nd.scope(() => list(f(input(nd, shape), indices(nd))).map((r) => (r as Arr).shape));
        valid.push({ what, shape, f, out });
      } catch {
        // Refused by the main API: not a question of shapes.
      }
    }
    expect(valid.length).toBeGreaterThan(200);
    const before = await w.stats();
    await w.nd.scope(async () => {
      const remote = w.nd as unknown as Api;
      const idx = indices(remote);
      const got = valid.map((c) => [c.what, list(c.f(input(remote, c.shape), idx)).map((r) => (r as unknown as RemoteNDArray).shape)]);
      const want = valid.map((c) => [c.what, c.out]);
      expect(got.filter((g, i) => JSON.stringify(g) !== JSON.stringify(want[i]))).toEqual([]);
      expect(got).toEqual(want);
      await w.nd.waitall();
    });
    const after = await w.stats();
    expect([after.shapeFixes, after.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
  });
});

// ---- conv branch (issue #12): Convolution / Deconvolution remotely ----
describe("Convolution and Deconvolution in the worker", () => {
  it("give the main API's values (and Pooling's); shapes come from the engine's rules at once (no corrections)", async () => {
    const opts = { kernel: [3, 2], stride: [2, 1], pad: [1, 0], dilate: [1, 2], numFilter: 4, numGroup: 2 };
    const dopts = { kernel: [3], stride: [2], pad: [1], adj: [1], numFilter: 3 };
    const run = (api: Api, x: Arr, wt: Arr, b: Arr, x1: Arr, w1: Arr): Arr[] => {
      const a = api as unknown as typeof nd;
      const y = a.Convolution(x as unknown as NDArray, wt as unknown as NDArray, b as unknown as NDArray, opts);
      const z = a.Deconvolution(x1 as unknown as NDArray, w1 as unknown as NDArray, null, dopts);
      const q = a.Pooling(y, { kernel: 2, stride: [2, 1], poolType: "avg", poolingConvention: "full" });
      return [y as unknown as Arr, z as unknown as Arr, q as unknown as Arr];
    };
    const data = (api: Api, shape: number[], scale: number): Arr =>
      api.arange(shape.reduce((p, q) => p * q, 1)).mul(scale).sin().reshape(shape);
    const shapes = { x: [2, 4, 7, 6], w: [4, 2, 3, 2], b: [4], x1: [2, 2, 5], w1: [2, 3, 3] };
    const expected = nd.scope(() => {
      const ins = [data(nd, shapes.x, 0.3), data(nd, shapes.w, 0.7), data(nd, shapes.b, 1.1), data(nd, shapes.x1, 0.5), data(nd, shapes.w1, 0.9)];
      const outs = run(nd, ...(ins as [Arr, Arr, Arr, Arr, Arr]));
      return outs.map((r) => [r.shape, (r as unknown as NDArray).toArray()]);
    });
    const before = await w.stats();
    await w.nd.scope(async () => {
      const remote = w.nd as unknown as Api;
      const ins = [
        data(remote, shapes.x, 0.3),
        data(remote, shapes.w, 0.7),
        data(remote, shapes.b, 1.1),
        data(remote, shapes.x1, 0.5),
        data(remote, shapes.w1, 0.9),
      ];
      const outs = run(remote, ...(ins as [Arr, Arr, Arr, Arr, Arr])) as unknown as RemoteNDArray[];
      const known = outs.map((r) => r.shape);
      expect(known).toEqual([[2, 4, 4, 4], [2, 3, 10], [2, 4, 2, 3]]);
      const got = [];
      for (const [i, r] of outs.entries()) got.push([known[i], await r.toArray()]);
      expect(got).toEqual(expected);
    });
    const after = await w.stats();
    expect([after.shapeFixes, after.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
  });

  it("BatchNorm, LayerNorm and poolingShape give the main API's results", async () => {
    const mk = (api: Api) => {
      const a = api as unknown as typeof nd;
      const x = a.arange(48).mul(0.37).sin().reshape([2, 3, 2, 4]);
      const mm = a.zeros([3]);
      const mv = a.ones([3]);
      // predict mode on both sides (a remote `record` is asynchronous): the moving statistics
      const y = a.BatchNorm(x, a.ones([3]).mul(1.5), a.zeros([3]).add(0.25), mm.add(0.5), mv.mul(2), { fixGamma: false });
      const z = a.LayerNorm(x, a.ones([4]), a.zeros([4]));
      return [y, z, mm] as unknown as Arr[];
    };
    const want = nd.scope(() => mk(nd).map((r) => [r.shape, (r as unknown as NDArray).toArray()]));
    await w.nd.scope(async () => {
      const r = mk(w.nd as unknown as Api) as unknown as RemoteNDArray[];
      const got = [];
      for (const a of r) got.push([a.shape, await a.toArray()]);
      expect(got).toEqual(want);
    });
    expect(w.nd.poolingShape([2, 3, 7, 5], { kernel: 3, stride: 2, poolingConvention: "full" })).toEqual(
      nd.poolingShape([2, 3, 7, 5], { kernel: 3, stride: 2, poolingConvention: "full" }),
    );
  });

  it("a bad weight shape is the main API's Error", async () => {
    await w.nd.scope(async () => {
      const y = w.nd.Convolution(w.nd.zeros([1, 2, 4, 4]), w.nd.zeros([3, 1, 3, 3]), null, {
        kernel: [3, 3],
        numFilter: 3,
        noBias: true,
      });
      await expect(y.toArray()).rejects.toThrow(/Convolution: weight must have shape \[3,2,3,3\]/);
    });
  });
});

// ---- pool branch (issue #12): Pooling, BatchNorm, LayerNorm remotely ----
describe("Pooling, BatchNorm and LayerNorm in the worker", () => {
  type Api = typeof nd;
  type Arr = NDArray;
  const data = (api: Api, shape: number[], scale: number): Arr =>
    api.arange(shape.reduce((p, q) => p * q, 1)).mul(scale).sin().reshape(shape);
  const run = (api: Api): Arr[] => {
    const x = data(api, [2, 3, 7, 6], 0.37);
    const x1 = data(api, [2, 2, 9], 0.61);
    const c = [data(api, [3], 1.3).add(2), data(api, [3], 0.7), data(api, [3], 0.2), data(api, [3], 0.9).add(2)];
    const [g, b] = [data(api, [6], 0.4).add(2), data(api, [6], 1.7)];
    return [
      api.Pooling(x, { kernel: 3, stride: 2, pad: 1 }),
      api.Pooling(x, { kernel: [2, 3], stride: [2, 2], poolType: "avg", poolingConvention: "full", countIncludePad: false }),
      api.Pooling(x1, { kernel: 3, stride: 2, poolType: "sum" }),
      api.Pooling(x, { globalPool: true, poolType: "avg" }),
      api.BatchNorm(x, c[0]!, c[1]!, c[2]!, c[3]!, { fixGamma: false }),
      api.LayerNorm(x, g, b),
    ];
  };

  it("give the main API's values; shapes come from the engine's rule at once (no corrections)", async () => {
    const expected = nd.scope(() => run(nd).map((r) => [r.shape, r.toArray()]));
    const before = await w.stats();
    await w.nd.scope(async () => {
      const outs = run(w.nd as unknown as Api) as unknown as RemoteNDArray[];
      const known = outs.map((r) => r.shape);
      expect(known).toEqual(expected.map((e) => e[0]));
      const got = [];
      for (const [i, r] of outs.entries()) got.push([known[i], await r.toArray()]);
      expect(got).toEqual(expected);
    });
    const after = await w.stats();
    expect([after.shapeFixes, after.dtypeFixes]).toEqual([before.shapeFixes, before.dtypeFixes]);
  });

  it("nd.poolingShape answers in the client, as the main API does", () => {
    expect(w.nd.poolingShape([8, 64, 56, 56], { kernel: 3, stride: 2, pad: 1 })).toEqual(nd.poolingShape([8, 64, 56, 56], { kernel: 3, stride: 2, pad: 1 }));
    expect(w.nd.poolingShape([1, 1, 6, 7], { kernel: [3, 2], stride: 2, poolingConvention: "full" })).toEqual([1, 1, 3, 4]);
    const local = mainError(() => nd.poolingShape([1, 1, 4, 4], { kernel: 5 }));
    expect(() => w.nd.poolingShape([1, 1, 4, 4], { kernel: 5 })).toThrow(local.message);
  });

  it("train mode: gradients and the moving statistics' update as on the main thread", async () => {
    const local = nd.scope(() => {
      const x = data(nd, [4, 3, 2, 2], 0.9);
      const [g, b, mm, mv] = [nd.ones([3]).mul(1.5), nd.zeros([3]), nd.zeros([3]), nd.ones([3])];
      x.attachGrad();
      g.attachGrad();
      const y = autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false }).square().sum());
      y.backward();
      const r = [x.grad!.toArray(), g.grad!.toArray(), mm.toArray(), mv.toArray()];
      x.dispose();
      g.dispose();
      return r;
    });
    await w.nd.scope(async () => {
      const x = data(w.nd as unknown as Api, [4, 3, 2, 2], 0.9) as unknown as RemoteNDArray;
      const [g, b, mm, mv] = [w.nd.ones([3]).mul(1.5), w.nd.zeros([3]), w.nd.zeros([3]), w.nd.ones([3])];
      await x.attachGrad();
      await g.attachGrad();
      const y = await w.autograd.record(() => w.nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false }).square().sum());
      await y.backward();
      const got = [await (await x.grad)!.toArray(), await (await g.grad)!.toArray(), await mm.toArray(), await mv.toArray()];
      expect(got).toEqual(local);
      x.dispose();
      g.dispose();
    });
  });

  it("bad input is the main API's Error", async () => {
    await w.nd.scope(async () => {
      const y = w.nd.Pooling(w.nd.zeros([1, 2, 4, 4]), { kernel: [5, 5] });
      await expect(y.toArray()).rejects.toThrow(/^Pooling: kernel size \(5\) exceeds input \(4 padded to 4\)/);
      const z = w.nd.BatchNorm(w.nd.zeros([2, 3]), w.nd.ones([4]), w.nd.ones([3]), w.nd.ones([3]), w.nd.ones([3]));
      await expect(z.toArray()).rejects.toThrow(/BatchNorm: gamma must have shape \[3\]/);
    });
  });
});

describe("pipelining", () => {
  it("1,000 chained ops then one read cost one message; awaiting each costs one round trip each", async () => {
    const N = 1000;
    await w.nd.scope(async () => {
      const x = w.nd.array([1, 2, 3, 4]);
      let warm = x;
      for (let i = 0; i < N; i++) warm = warm.add(1);
      await warm.toArray(); // warm up (JIT, both threads)

      const before = await w.stats();
      let t0 = performance.now();
      let y = x;
      for (let i = 0; i < N; i++) y = y.add(1);
      const values = await y.toArray();
      const chainedMs = performance.now() - t0;
      const after = await w.stats();
      expect(values).toEqual([1001, 1002, 1003, 1004]);
      // `after` was read with one message of its own; a batch that only frees
      // collected proxies (sent on a timer) may come in between.
      const gcFrees = (a: typeof after, b: typeof after): number => a.freeBatches - b.freeBatches;
      const chainedMessages = after.messagesSent - before.messagesSent - 1 - gcFrees(after, before);
      expect(chainedMessages).toBe(1);
      expect(after.commands - before.commands).toBeGreaterThanOrEqual(N + 1);

      const before2 = await w.stats();
      t0 = performance.now();
      let z = x;
      for (let i = 0; i < N; i++) {
        z = z.add(1);
        await w.nd.waitall(); // one round trip per op
      }
      const awaitedMs = performance.now() - t0;
      const after2 = await w.stats();
      const awaitedMessages = after2.messagesSent - before2.messagesSent - 1 - gcFrees(after2, before2);
      expect(awaitedMessages).toBe(N);
      expect(await z.toArray()).toEqual([1001, 1002, 1003, 1004]);

      console.log(
        `[worker pipelining] ${N} chained ops + 1 read: ${chainedMs.toFixed(1)} ms ` +
          `(${((chainedMs / N) * 1000).toFixed(1)} µs/op, ${chainedMessages} message); ` +
          `awaited one by one: ${awaitedMs.toFixed(1)} ms (${((awaitedMs / N) * 1000).toFixed(1)} µs/op, ` +
          `${awaitedMessages} messages)`,
      );
    });
  });

  it("ops queued without any await go out in one batch at the end of the microtask", async () => {
    await w.nd.scope(async () => {
      const before = await w.stats();
      const a = w.nd.ones([2]);
      const b = a.mul(3).add(a);
      await Promise.resolve(); // the batch leaves here, without a read
      const mid = await w.stats();
      expect(mid.batches - before.batches).toBe(2); // the read of `before`, then the ops
      expect(await b.toArray()).toEqual([4, 4]);
    });
  });
});

describe("errors", () => {
  it("arrive as Errors with the main API's message, name and kind", async () => {
    const local = mainError(() => nd.ones([2, 2]).add(nd.ones([3])));
    await w.nd.scope(async () => {
      const x = w.nd.ones([2, 2]);
      const e = await rejection(x.add(w.nd.ones([3])).toArray());
      expect(e).toBeInstanceOf(Error);
      expect(e.message).toBe(local.message);
      expect(e.message).toBe("add: operands could not be broadcast together with shapes [2,2] [3]");
      expect(e.name).toBe(local.name);
      expect((e as { kind?: string }).kind).toBe((local as { kind?: string }).kind);
      // The engine is intact.
      expect(await x.sum().asscalar()).toBe(4);
    });
  });

  it("surface on the next awaited call; later uses of a never-created array say why", async () => {
    const msg = mainError(() => nd.array([1, 2, 3]).reshape([2, 2])).message;
    await w.nd.scope(async () => {
      const x = w.nd.array([1, 2, 3]);
      x.reshape([2, 2]);
      const after = x.mul(2); // queued after the failure: not run
      expect((await rejection(w.nd.memory())).message).toBe(msg);
      expect((await rejection(after.toArray())).message).toBe(
        `toArray: the array was never created, because an earlier operation failed: ${msg}`,
      );
      expect(await x.sum().asscalar()).toBe(6); // and the worker goes on
    });
  });

  it("for autograd: backward twice, backward of an unrecorded array, disposed arrays", () =>
    w.nd.scope(async () => {
      const x = w.nd.array([1, 2]);
      x.attachGrad();
      const y = await w.autograd.record(() => x.mul(x).sum());
      await y.backward();
      const twice = mainError(() => {
        const lx = nd.array([1, 2]);
        lx.attachGrad();
        const ly = autograd.record(() => lx.mul(lx).sum());
        ly.backward();
        try {
          ly.backward();
        } finally {
          lx.dispose();
          ly.dispose();
        }
      });
      expect((await rejection(y.backward())).message).toBe(twice.message);
      const unrecorded = mainError(() => nd.ones([2]).backward());
      const z = w.nd.ones([2]);
      expect((await rejection(z.backward())).message).toBe(unrecorded.message);

      z.dispose();
      const disposed = mainError(() => {
        const a = nd.ones([2]);
        a.dispose();
        a.add(1);
      });
      expect(disposed.message).toBe("add: the array has been disposed (shape [2])");
      expect((await rejection(z.add(1).toArray())).message).toBe(disposed.message);
      expect((await rejection(z.toArray())).message).toBe("toArray: the array has been disposed (shape [2])");
      x.dispose();
    }));

  it("an unobserved failing `backward` is reported once, by the next awaited call", async () => {
    const z = w.nd.ones([2]);
    void z.backward(); // not awaited
    const msg = mainError(() => nd.ones([2]).backward()).message;
    expect((await rejection(w.nd.waitall())).message).toBe(msg);
    await w.nd.waitall(); // reported once only
    z.dispose();
  });

  it("a failing op inside `record` still ends the recording scope", () =>
    w.nd.scope(async () => {
      const x = w.nd.ones([2]);
      const msg = mainError(() => nd.ones([2]).dot(nd.ones([3]))).message;
      const e = await rejection(
        w.autograd.record(async () => {
          const r = x.dot(w.nd.ones([3]));
          await w.nd.waitall();
          return r;
        }),
      );
      expect(e.message).toBe(msg);
      expect(await w.autograd.isRecording()).toBe(false);
    }));

  it("argument errors match the main API", async () => {
    const cases: [(api: typeof nd) => unknown, string][] = [
      [(api) => api.ones([2]).add((() => 1) as never), "add: expected an NDArray or a number (got function)"],
      [(api) => api.array([[1, 2], [3]]), ""],
      [(api) => api.zeros([2, -1]), ""],
      [(api) => api.ones([2]).sum(5), ""],
      [(api) => api.ones([2, 3]).transpose([0, 0]), ""],
      [(api) => api.ones([2]).at(2), ""],
      [(api) => api.ones([4]).asscalar(), ""],
      [(api) => api.array(1, { dtype: "int8" as never }), ""],
      [(api) => api.ones([2]).attachGrad("sometimes" as never), ""],
      [(api) => api.ones([2]).add(new (class Foo {})() as never), "add: expected an NDArray or a number (got Foo)"],
      [(api) => api.zeros(new Map() as never), ""],
      [(api) => api.ones([2]).reshape(Symbol("s") as never), ""],
      // dtypes and the ops of #3
      [(api) => api.zeros([2], { dtype: "int8" as never }), ""],
      [(api) => api.full([2], 1, "int8" as never), ""],
      [(api) => api.arange(0, 3, 1, { dtype: "int8" as never }), ""],
      [(api) => api.array([256], { dtype: "uint8" }), ""],
      [(api) => api.array(new Uint8Array([1, 2])).exp(), ""],
      [(api) => api.array(new Uint8Array([1, 2])).attachGrad(), ""],
      [(api) => api.random.uniform(0, 1, [2], { dtype: "int8" as never }), ""],
      [(api) => api.ones([2]).astype("int8" as never), ""],
      [(api) => api.cast(3 as never, "int32"), "cast: expected an NDArray (got 3)"],
      [(api) => api.ones([2], { dtype: "int32" }).attachGrad(), ""],
      [(api) => api.ones([2], { dtype: "int32" }).exp(), ""],
      [(api) => api.ones([2]).add(api.ones([2], { dtype: "float64" })), ""],
      [(api) => api.ones([2], { dtype: "int32" }).div(0), ""],
      [(api) => api.arange(0, 1, 0), ""],
      [(api) => api.ones([2, 3]).topk({ retTyp: "bad" as never }), ""],
      [(api) => api.ones([2, 3]).topk({ retTyp: "both", k: 5 }), ""],
      [(api) => api.topk(api.ones([2, 3]), 3 as never), ""],
      [(api) => api.ones([2, 3]).take(3 as never), "take: indices must be an NDArray (got 3)"],
      [(api) => api.ones([2, 3]).take(api.ones([2]), { mode: "bad" as never }), ""],
      [(api) => api.ones([2, 3]).clip("a" as never, 1), ""],
      [(api) => api.ones([2, 3]).clip(2, 1), ""],
      [(api) => api.ones([2]).oneHot(-1), ""],
      [(api) => api.ones([2, 3]).slice([0], [1, 2]), ""],
      [(api) => api.ones([2, 3]).slice(0, 1, 0), ""],
      [(api) => api.ones([2, 3]).slice([0, 0, 0], [1, 1, 1]), ""],
      [(api) => api.ones([2, 3]).sliceAxis(5, 0, 1), ""],
      [(api) => api.ones([2, 3]).flip(undefined as never), ""],
      [(api) => api.ones([2, 3]).tile("a" as never), ""],
      [(api) => api.ones([2, 3]).repeat(-1), ""],
      [(api) => api.ones([2, 3]).argmax(5), ""],
      [(api) => api.argmax("x" as never), ""],
      [(api) => api.ones([2, 3]).argmin({ keepdims: 1 as never }), ""],
      [(api) => api.ones([2, 3]).softmax("a" as never), ""],
      [(api) => api.ones([2, 3]).pick(api.ones([5])), ""],
      [(api) => api.ones([2, 3]).dot(api.ones([2, 3]), null as never), ""],
      [(api) => api.ones([2, 3]).dot(api.ones([2, 3]), { transposeA: "yes" as never }), ""],
      [(api) => api.where(1 as never, api.ones([2]), api.ones([2])), ""],
      [(api) => api.where(api.ones([2]), api.ones([2]), api.ones([2], { dtype: "int32" })), ""],
      [(api) => api.ones([2]).norm({ ord: 3 as never }), ""],
      [(api) => api.sort(api.ones([2]), { isAscend: "no" as never }), ""],
      [(api) => api.ones([2]).leakyRelu("a" as never), ""],
    ];
    for (const [f, expected] of cases) {
      const local = mainError(() => f(nd));
      if (expected !== "") expect(local.message).toBe(expected);
      const remote = await w.nd.scope(async () => {
        const r = f(w.nd as unknown as typeof nd);
        return rejection(r instanceof RemoteNDArray ? r.toArray() : Promise.resolve(r).then(() => w.nd.waitall()));
      });
      expect(remote.message).toBe(local.message);
    }
    const local = mainError(() => autograd.record(3 as never));
    expect(local.message).toBe("record: expected a function (got 3)");
    expect((await rejection(w.autograd.record(3 as never))).message).toBe(local.message);
    const opts = mainError(() => autograd.record(() => 1, { trainMode: "yes" as never }));
    expect((await rejection(w.autograd.record(() => 1, { trainMode: "yes" as never }))).message).toBe(opts.message);
    const out = mainError(() => nd.ones([4]).data(new Float32Array(2)));
    await w.nd.scope(async () => {
      expect((await rejection(w.nd.ones([4]).data(new Float32Array(2)))).message).toBe(out.message);
    });
  });

  it("an array of this thread, or of another worker, is refused with a clear message", () =>
    w.nd.scope(async () => {
      using local = nd.ones([2]);
      const x = w.nd.ones([2]);
      const e = await rejection(x.add(local as never).toArray());
      expect(e.message).toMatch(/^add: an NDArray of the calling thread cannot be used in the worker/);
      const w2 = await createWorker();
      const other = w2.nd.ones([2]);
      const e2 = await rejection(x.add(other as never).toArray());
      expect(e2.message).toMatch(/^add: unknown array .*belongs to another ndgrad worker/);
      other.dispose();
      await expectNoRemoteLeaks(w2);
      await w2.terminate();
    }));
});

describe("freeing", () => {
  it("dispose, `using`, `await using` and nd.scope free in the worker", async () => {
    {
      using a = w.nd.ones([3]);
      await using b = a.mul(2);
      using s = b.sum();
      expect((await w.nd.memory()).arrays).toBe(3);
      expect(await s.asscalar()).toBe(6);
    }
    expect((await w.nd.memory()).arrays).toBe(0);
    const kept = await w.nd.scope(async () => {
      const a = w.nd.ones([2]);
      const b = a.add(1);
      const c = w.nd.keep(b.mul(2));
      const v = w.nd.ones([1]);
      v.attachGrad(); // variables survive scopes, as in the main API
      await b.toArray();
      return { b, list: [a.mul(5)], c, v };
    });
    expect((await w.nd.memory()).arrays).toBe(4); // b, a*5, c, v
    expect(await kept.b.toArray()).toEqual([2, 2]);
    expect(await kept.c.toArray()).toEqual([4, 4]);
    kept.b.dispose();
    kept.b.dispose(); // twice is safe
    expect(kept.b.isDisposed).toBe(true);
    for (const a of [kept.list[0]!, kept.c, kept.v]) a.dispose();
    // A scope frees what it made also when it throws.
    const e = await rejection(
      w.nd.scope(async () => {
        w.nd.ones([5]).mul(2);
        throw new Error("inside");
      }),
    );
    expect(e.message).toBe("inside");
  });

  it("a proxy that is garbage collected frees its array in the next batch", () => {
    const r = inChild(
      `
      const w = await createWorker();
      const make = () => { let y = w.nd.ones([100]); for (let i = 0; i < 50; i++) y = y.add(i); return y.sum().asscalar(); };
      const s = await make();
      const before = (await w.nd.memory()).arrays;
      for (let i = 0; i < 5 && (await w.nd.memory()).arrays > 0; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      const after = (await w.nd.memory()).arrays;
      out = { s, before, after };
      await w.terminate();
      `,
      ["--expose-gc"],
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual({ s: 100 * (1 + (50 * 49) / 2), before: 52, after: 0 });
  });
});

describe("transfer", () => {
  it("nd.array copies a typed array (as the synchronous API), moves it when asked; data() results are moved out", async () => {
    const f32 = new Float32Array([1, 2, 3, 4, 5, 6]);
    const a = w.nd.array(f32, { shape: [2, 3], transfer: true });
    expect(await a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(f32.byteLength).toBe(0); // moved, not copied

    const kept = new Float32Array([1, 2]);
    const b = w.nd.array(kept);
    expect(await b.toArray()).toEqual([1, 2]);
    expect(Array.from(kept)).toEqual([1, 2]); // copied: still the caller's
    // Twice from the same array: the same values (it was not moved away).
    const b2 = w.nd.array(kept);
    expect(await b2.toArray()).toEqual([1, 2]);
    b2.dispose();
    const marked = transfer(new Float32Array([3, 4]));
    const m = w.nd.array(marked);
    expect(await m.toArray()).toEqual([3, 4]);
    expect(marked.length).toBe(0); // transfer() moves
    m.dispose();

    // A detached array (moved before) is an Error naming the call, at once, not a call that never settles.
    expect(() => w.nd.array(f32)).toThrow(/nd\.array: the Float32Array passed is detached/);
    await expect(w.nd.load(marked as unknown as Uint8Array)).rejects.toThrow(/nd\.load: the Float32Array passed is detached/);
    const o = w.nd.ones([2]);
    expect(await o.toArray()).toEqual([1, 1]); // and the worker keeps working
    o.dispose();

    // nd.load copies the file's bytes unless marked.
    const one = nd.ones([2]);
    const file = nd.save(null, { x: one });
    one.dispose();
    const loaded = (await w.nd.load(file)) as Record<string, RemoteNDArray>;
    expect(await loaded.x!.toArray()).toEqual([1, 1]);
    expect(file.length).toBeGreaterThan(0);
    loaded.x!.dispose();

    // A view into a larger buffer is copied (moving would take the whole buffer).
    const big = new Float32Array([9, 8, 7, 6]);
    const c = w.nd.array(big.subarray(1, 3));
    expect(await c.toArray()).toEqual([8, 7]);
    expect(big.length).toBe(4);

    const s0 = await w.stats();
    const d = await a.data();
    expect(d).toBeInstanceOf(Float32Array);
    expect(Array.from(d)).toEqual([1, 2, 3, 4, 5, 6]);
    const out = new Float32Array(8).fill(-1);
    expect(await b.data(out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 2, -1, -1, -1, -1, -1, -1]);
    const s1 = await w.stats();
    expect(s1.worker.buffersSent - s0.worker.buffersSent).toBe(2);
    // Moved out of the worker: its copies are detached there.
    expect(s1.worker.recentBuffers).toBeGreaterThan(0);
    expect(s1.worker.recentDetached).toBe(s1.worker.recentBuffers);
    for (const x of [a, b, c]) x.dispose();
  });
});

describe("dtypes across the boundary", () => {
  it("typed arrays of each dtype move in and out with their dtype; data(out) converts as in the main API", async () => {
    const s0 = await w.stats();
    const f64 = new Float64Array([1.5, 2.5, 1e300]);
    const i32 = new Int32Array([1, -2, 2147483647]);
    const a = w.nd.array(f64, { transfer: true });
    const b = w.nd.array(i32, { shape: [3, 1], transfer: true });
    const c = w.nd.array(new Float64Array([1.9, -1.9]), { dtype: "int32" });
    expect([a.dtype, b.dtype, b.shape, c.dtype]).toEqual(["float64", "int32", [3, 1], "int32"]);
    const da = await a.data();
    expect([f64.byteLength, i32.byteLength]).toEqual([0, 0]); // moved, not copied
    expect(da).toBeInstanceOf(Float64Array);
    expect(Array.from(da)).toEqual([1.5, 2.5, 1e300]);
    const db = await b.data();
    expect(db).toBeInstanceOf(Int32Array);
    expect(Array.from(db)).toEqual([1, -2, 2147483647]);
    expect(await b.toArray()).toEqual([[1], [-2], [2147483647]]);
    expect(Array.from(await c.data())).toEqual([1, -1]);

    using la = nd.array(new Float64Array([1.5, 2.5, 1e300]));
    const f32 = await a.data(new Float32Array(3));
    expect(f32).toBeInstanceOf(Float32Array);
    expect(Array.from(f32)).toEqual(Array.from(la.data(new Float32Array(3))));
    const ints = await a.data(new Int32Array(4));
    expect(Array.from(ints)).toEqual(Array.from(la.data(new Int32Array(4))));

    const s1 = await w.stats();
    // Six reads, each value moved out of the worker.
    expect(s1.worker.buffersSent - s0.worker.buffersSent).toBe(6);
    expect(s1.worker.recentDetached).toBe(s1.worker.recentBuffers);
    expect([s1.shapeFixes, s1.dtypeFixes]).toEqual([s0.shapeFixes, s0.dtypeFixes]);
    for (const x of [a, b, c]) x.dispose();
  });

  it("float64 gradients are float64; an int32 array refuses attachGrad and stays scoped", async () => {
    await w.nd.scope(async () => {
      const x = w.nd.array([1, 2, 3], { dtype: "float64" });
      await x.attachGrad();
      const g0 = await x.grad;
      expect([g0!.dtype, await g0!.toArray()]).toEqual(["float64", [0, 0, 0]]);
      const y = await w.autograd.record(() => x.mul(x).sum());
      expect(y.dtype).toBe("float64");
      await y.backward();
      const g = (await x.grad)!;
      expect(g.dtype).toBe("float64");
      expect(await g.data()).toEqual(new Float64Array([2, 4, 6]));
      const y3 = await w.autograd.record(() => x.mul(x).mul(x).sum());
      const [gx] = w.autograd.grad(y3, [x]);
      expect(gx!.dtype).toBe("float64"); // inferred
      expect(await gx!.data()).toEqual(new Float64Array([3, 12, 27]));
      x.dispose(); // a variable: scopes keep it
    });

    const msg = mainError(() => nd.ones([2], { dtype: "int32" }).attachGrad()).message;
    await w.nd.scope(async () => {
      const i = w.nd.ones([2], { dtype: "int32" });
      expect((await rejection(i.attachGrad())).message).toBe(msg);
    });
    // Not a variable: the scope freed it (the leak check after each test).
  });
});

describe("lifetime of the worker", () => {
  it("terminate rejects waiting calls, refuses later ones, and Node exits by itself", () => {
    const r = inChild(`
      const w = await createWorker();
      const x = w.nd.array([1, 2, 3]);
      const first = await x.mul(2).toArray();
      const msg = (p) => p.then(() => "resolved", (e) => e.message);
      const waiting = msg(x.sum().asscalar());
      await w.terminate();
      out = { first, waiting: await waiting, later: await msg(x.toArray()), again: await w.terminate() ?? "ok" };
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual({
      first: [2, 4, 6],
      waiting: "ndgrad worker: the worker was terminated",
      later: "ndgrad worker: the worker was terminated",
      again: "ok",
    });
  });

  it("`await using` a worker ends it; a forgotten worker does not keep Node alive", () => {
    const r = inChild(`
      const w = await createWorker();
      out = await w.nd.ones([2]).toArray();
      await w[Symbol.asyncDispose]();
      const gone = await w.nd.memory().then(() => "alive", (e) => e.message);
      if (gone !== "ndgrad worker: the worker was terminated") throw new Error(gone);
      const forgotten = await createWorker();
      out = [out, await forgotten.nd.arange(3).toArray()];
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual([[1, 1], [0, 1, 2]]);
    expect(r.ms).toBeLessThan(20_000);
  });
});

describe("a user's module in the worker", () => {
  let dir: string;
  let modulePath: string;
  interface Train {
    double(x: NDArray): NDArray;
    step(w: NDArray, x: NDArray, y: NDArray, lr: number): number;
    later(v: number): Promise<{ v: number; arr: NDArray }>;
    fails(): NDArray;
    live(): number;
    total(xs: Float32Array): number;
    crashSoon(): string;
    exitSoon(code: number): void;
    hang(): Promise<never>;
    counts(): NDArray;
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ndgrad-worker-"));
    modulePath = join(dir, "train.mjs");
    writeFileSync(
      modulePath,
      `
      import { nd, autograd } from ${JSON.stringify(mainUrl)};
      export const notAFunction = 3;
      export function double(x) { return x.mul(2); }
      /** One step of least squares on w: the synchronous API, in the worker. */
      export function step(w, x, y, lr) {
        return nd.scope(() => {
          const loss = autograd.record(() => x.mul(w).sub(y).square().mean());
          loss.backward();
          w.set(w.sub(w.grad.mul(lr)));
          return loss.asscalar();
        });
      }
      export async function later(v) {
        await new Promise((r) => setTimeout(r, 5));
        return { v, arr: nd.array([v]) };
      }
      export function fails() { return nd.scope(() => nd.ones([2]).add(nd.ones([3]))); }
      export function live() { return nd.memory().arrays; }
      export function total(xs) { return xs.reduce((a, b) => a + b, 0); }
      export function crashSoon() { setTimeout(() => { throw new Error("boom"); }, 20); return "soon"; }
      export function exitSoon(code) { setTimeout(() => process.exit(code), 20); }
      export function hang() { return new Promise(() => {}); }
      export function counts() { return nd.arange(3, null, 1, { dtype: "int32" }); }
      `,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exports are callable; arrays go in and come back as remote arrays; one engine", async () => {
    const t = await createWorker<Train>({ module: pathToFileURL(modulePath) });
    await t.nd.scope(async () => {
      expect(Object.keys(t.module).sort()).toEqual(
        ["counts", "crashSoon", "double", "exitSoon", "fails", "hang", "later", "live", "step", "total"],
      );
      const x = t.nd.array([1, 2, 3]);
      const y = await t.module.double(x);
      expect(y).toBeInstanceOf(RemoteNDArray);
      expect(y.shape).toEqual([3]);
      expect(await y.add(x).toArray()).toEqual([3, 6, 9]);
      // The module and w.nd share the engine (arrays: x, y, y.add(x)).
      expect(await t.module.live()).toBe(3);
      // Results keep their dtype.
      const c = await t.module.counts();
      expect([c.shape, c.dtype]).toEqual([[3], "int32"]);
      expect(await c.data()).toEqual(new Int32Array([0, 1, 2]));
      const d = await t.module.double(t.nd.array([1.5], { dtype: "float64" }));
      expect([d.dtype, await d.toArray()]).toEqual(["float64", [3]]);
      const dd = d.add(d); // inferred from the module result's dtype
      expect(dd.dtype).toBe("float64");

      // Training with parameters that live in the worker.
      const param = t.nd.zeros([1]);
      param.attachGrad();
      const xs = t.nd.array([1, 2, 3, 4]);
      const ys = t.nd.array([3, 6, 9, 12]);
      const losses: number[] = [];
      for (let i = 0; i < 30; i++) losses.push(await t.module.step(param, xs, ys, 0.05));
      expect(losses[29]!).toBeLessThan(losses[0]! / 100);
      expect(await param.asscalar()).toBeCloseTo(3, 2);

      const { v, arr } = await t.module.later(7);
      expect(v).toBe(7);
      expect(await arr.toArray()).toEqual([7]);

      const local = mainError(() => nd.ones([2]).add(nd.ones([3])));
      expect((await rejection(t.module.fails())).message).toBe(local.message);

      const f32 = new Float32Array([1, 2, 3]);
      expect(await t.module.total(f32)).toBe(6);
      expect(f32.length).toBe(3); // copied by default
      expect(await t.module.total(transfer(f32))).toBe(6);
      expect(f32.length).toBe(0); // moved when asked
      param.dispose(); // a variable: scopes keep it
    });
    await expectNoRemoteLeaks(t);
    await t.terminate();
  });

  it("a crash rejects waiting calls with a clear message, and later calls too", async () => {
    const t = await createWorker<Train>({ module: pathToFileURL(modulePath) });
    expect(await t.module.crashSoon()).toBe("soon");
    const waiting = t.module.hang();
    expect((await rejection(waiting)).message).toBe("ndgrad worker crashed: boom");
    expect((await rejection(t.nd.memory())).message).toBe("ndgrad worker crashed: boom");
    await t.terminate();

    const u = await createWorker<Train>({ module: pathToFileURL(modulePath) });
    await u.module.exitSoon(3);
    expect((await rejection(u.module.hang())).message).toBe("ndgrad worker exited unexpectedly (exit code 3)");
    await u.terminate();
  });

  it("a call that cannot be sent (a value that cannot be cloned) fails alone; frees still happen", async () => {
    const t = await createWorker<Train>({ module: pathToFileURL(modulePath) });
    const a = t.nd.ones([2]);
    const b = t.nd.ones([3]);
    b.dispose();
    const failed = t.module.total(new WeakMap() as never);
    const e = await rejection(failed);
    expect(e.message).toMatch(/could not be cloned/);
    // `a` was in the batch that could not be sent: never created.
    expect((await rejection(a.toArray())).message).toMatch(
      /^toArray: the array was never created, because an earlier operation failed: .*could not be cloned/,
    );
    a.dispose();
    await t.nd.scope(async () => expect(await t.nd.ones([2]).sum().asscalar()).toBe(2));
    await expectNoRemoteLeaks(t);
    await t.terminate();
  });

  it("a module that cannot be loaded rejects createWorker", async () => {
    const missing = join(dir, "missing.mjs");
    const e = await rejection(createWorker({ module: missing }));
    expect(e.message).toMatch(/^createWorker: could not load file:\/\/.*missing\.mjs: .*Cannot find module/);
  });
});

describe("createWorker({ threads })", () => {
  // Which build a worker's engine loaded: only the single-threaded one
  // refuses setThreads(2), naming itself.
  async function build(t: NDWorker): Promise<string> {
    try {
      await t.nd.setThreads(2);
      return `threads, ${await t.nd.getThreads()} threads`;
    } catch (e) {
      return (e as Error).message;
    }
  }

  it("0 loads the single-threaded build; n loads the threads build on n threads; the default is unchanged", async () => {
    const single = await createWorker({ threads: 0 });
    expect(await build(single)).toMatch(/^setThreads\(2\): ndgrad is running its single-threaded WebAssembly build: NDGRAD_THREADS=0/);
    expect(await single.nd.getThreads()).toBe(1);
    await single.terminate();
    if ((await build(w)).startsWith("threads")) {
      await w.nd.setThreads(1);
      const three = await createWorker({ threads: 3 });
      expect(await three.nd.getThreads()).toBe(3);
      await three.terminate();
    }
  });

  it("a thread count that is not an integer from 0 to 64 is an Error before any thread starts", async () => {
    for (const bad of [-1, 1.5, 65, Number.NaN, "2" as unknown as number]) {
      const e = await rejection(createWorker({ threads: bad }));
      expect(e.message).toMatch(/^createWorker: threads must be an integer from 0 to 64 \(got /);
    }
  });
});
