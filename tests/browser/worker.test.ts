// Browser only: `ndgrad/worker` in a browser module Worker (served by Vite,
// which bundles the worker from the literal `new Worker(new URL(…))`).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nd } from "ndgrad";
import { createWorker, type NDWorker } from "ndgrad/worker";

let w: NDWorker;

beforeAll(async () => {
  w = await createWorker();
});

afterAll(async () => {
  await w?.terminate();
});

// Every test frees what it made in the worker (nd.scope, as in the Node worker tests).
afterEach(async () => {
  const m = await w.nd.memory();
  expect({ arrays: m.arrays, tapeNodes: m.tapeNodes, bytes: m.bytes }).toEqual({ arrays: 0, tapeNodes: 0, bytes: 0 });
});

/** The main API's error message for the same call, run here synchronously. */
function mainMessage(fn: () => unknown): string {
  try {
    nd.scope(fn);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected the call to throw");
}

describe("ndgrad/worker with a browser Worker", () => {
  it("runs the tutorial's cells 14-18 and prints MXNet's strings", () =>
    w.nd.scope(async () => {
      const X = w.nd.array([[1, 2], [3, 4]]);
      expect(await X.toString()).toBe("\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>");
      X.attachGrad();
      expect(await (await X.grad)!.toString()).toBe("\n[[0. 0.]\n [0. 0.]]\n<NDArray 2x2 @cpu(0)>");
      const Y = await w.autograd.record(() => w.nd.mul(2, X).mul(X));
      expect(await Y.toString()).toBe("\n[[ 2.  8.]\n [18. 32.]]\n<NDArray 2x2 @cpu(0)>");
      await Y.backward();
      expect(await (await X.grad)!.toString()).toBe("\n[[ 4.  8.]\n [12. 16.]]\n<NDArray 2x2 @cpu(0)>");
      expect(await (await X.grad)!.toArray()).toEqual([[4, 8], [12, 16]]);
      X.dispose(); // a variable outlives its scope
    }));

  it("uses SIMD in the worker, and moves typed arrays instead of copying them when asked", () =>
    w.nd.scope(async () => {
      expect(await w.nd.simd()).toBe(true);
      const data = new Float32Array([1, 2, 3, 4, 5, 6]);
      const a = w.nd.array(data, { shape: [2, 3], transfer: true });
      expect(a.shape).toEqual([2, 3]);
      expect(await a.sum().asscalar()).toBe(21);
      expect(data.length).toBe(0); // transferred to the worker
      expect(Array.from(await a.data())).toEqual([1, 2, 3, 4, 5, 6]);
    }));

  it("keeps dtypes: float64 and int32 arrays move in and out as Float64Array and Int32Array", () =>
    w.nd.scope(async () => {
      const f64 = new Float64Array([0.1, 1e300]);
      const a = w.nd.array(f64, { transfer: true });
      const b = w.nd.arange(0, 4, 1, { dtype: "int32" }).topk({ k: 2, retTyp: "both" });
      expect([a.dtype, b[0].dtype, b[1].dtype, b[0].shape]).toEqual(["float64", "int32", "int32", [2]]);
      const d = await a.data();
      expect(d).toBeInstanceOf(Float64Array);
      expect(Array.from(d)).toEqual([0.1, 1e300]);
      expect(f64.length).toBe(0); // transferred to the worker
      const v = await b[0].data();
      expect(v).toBeInstanceOf(Int32Array);
      expect([Array.from(v), await b[1].toArray()]).toEqual([[3, 2], [3, 2]]);
    }));

  it("rejects with the main API's error message, and keeps working", () =>
    w.nd.scope(async () => {
      const expected = mainMessage(() => nd.ones([2, 3]).add(nd.ones([4])));
      expect(expected).toMatch(/add/);
      const a = w.nd.ones([2, 3]);
      const b = w.nd.ones([4]);
      await expect(a.add(b).toArray()).rejects.toThrow(expected);
      expect(await a.sum().asscalar()).toBe(6);
    }));

  it("runs a user module inside a real Worker (createWorker({ module }))", async () => {
    const w2 = await createWorker<typeof import("./fixtures/worker-module.js")>({
      module: new URL("./fixtures/worker-module.ts", import.meta.url),
    });
    try {
      expect(await w2.module.where()).toEqual({ worker: true, window: false, simd: true });
      const x = w2.nd.array([1, 2, 3]);
      const s = await w2.module.sumOfSquares(x);
      expect(await s.toString()).toBe("\n[14.]\n<NDArray 1 @cpu(0)>");
    } finally {
      await w2.terminate();
    }
  });

  it("a module that cannot be loaded rejects createWorker (no hang)", async () => {
    const missing = new URL("./fixtures/no-such-module.js", import.meta.url);
    await expect(createWorker({ module: missing })).rejects.toThrow(/createWorker: could not load/);
  });

  it("counts one message each way per awaited batch (the READY signal is not a reply)", async () => {
    const w4 = await createWorker();
    try {
      // Client counters are read before the message that fetches the worker's.
      const s0 = await w4.stats(); // init and its reply
      expect([s0.messagesSent, s0.messagesReceived]).toEqual([1, 1]);
      expect(await w4.nd.ones([3]).mul(2).sum().asscalar()).toBe(6); // one batch
      const s1 = await w4.stats();
      expect([s1.messagesSent, s1.messagesReceived]).toEqual([3, 3]); // + the first stats, the batch
    } finally {
      await w4.terminate();
    }
  });

  it("terminate() ends the worker: later calls reject", async () => {
    const w3 = await createWorker();
    expect(await w3.nd.ones([2]).sum().asscalar()).toBe(2);
    await w3.terminate();
    await expect(w3.nd.ones([2]).toArray()).rejects.toThrow(/terminated/);
  });
});
