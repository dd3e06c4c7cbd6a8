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
import { expectNoLeaks } from "./helpers.js";

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
    const [shape, values, text] = nd.scope(() => {
      const r = f(nd, nd.array([[1, 2, 3], [4, 5, 6]]), nd.array([10, 20, 30]));
      return [r.shape, r.toArray(), String(r)] as const;
    });
    const fixes = (await w.stats()).shapeFixes;
    await w.nd.scope(async () => {
      const remote = w.nd as unknown as Api;
      const x = w.nd.array([[1, 2, 3], [4, 5, 6]]) as unknown as Arr;
      const y = w.nd.array([10, 20, 30]) as unknown as Arr;
      const r = f(remote, x, y) as unknown as RemoteNDArray;
      expect(r.shape).toEqual(shape); // inferred here, before the worker ran it
      expect(await r.toArray()).toEqual(values);
      expect(await r.toString()).toBe(text);
    });
    expect((await w.stats()).shapeFixes).toBe(fixes);
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
  it("nd.array moves a typed array's buffer in; data() results are moved out", async () => {
    const f32 = new Float32Array([1, 2, 3, 4, 5, 6]);
    const a = w.nd.array(f32, { shape: [2, 3] });
    expect(await a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(f32.byteLength).toBe(0); // moved, not copied

    const kept = new Float32Array([1, 2]);
    const b = w.nd.array(kept, { transfer: false });
    expect(await b.toArray()).toEqual([1, 2]);
    expect(Array.from(kept)).toEqual([1, 2]);

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
      `,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exports are callable; arrays go in and come back as remote arrays; one engine", async () => {
    const t = await createWorker<Train>({ module: pathToFileURL(modulePath) });
    await t.nd.scope(async () => {
      expect(Object.keys(t.module).sort()).toEqual(
        ["crashSoon", "double", "exitSoon", "fails", "hang", "later", "live", "step", "total"],
      );
      const x = t.nd.array([1, 2, 3]);
      const y = await t.module.double(x);
      expect(y).toBeInstanceOf(RemoteNDArray);
      expect(y.shape).toEqual([3]);
      expect(await y.add(x).toArray()).toEqual([3, 6, 9]);
      // The module and w.nd share the engine (arrays: x, y, y.add(x)).
      expect(await t.module.live()).toBe(3);

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
