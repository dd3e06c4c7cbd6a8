// Lifetimes of arrays, gradients and the tape, as MXNet users expect them:
// exact `nd.memory()` counts, dispose / using / nd.scope / nd.keep, `.grad`
// ownership, tape nodes freed by backward (or kept by retainGraph), graphs
// freed when abandoned, buffers kept alive for backward after the user
// disposed them, a long training loop that stays flat, grad_req semantics,
// and the recording / training flags.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it, expect, afterEach } from "vitest";
import { nd, autograd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

/** Run `body` (an ES module body that sets `out`) in a fresh Node with the
 *  package loaded; returns `out`. For checks whose failure would leak
 *  unreachable handles into this file's later counts. */
function inChild(body: string, nodeArgs: string[] = []): unknown {
  const pkgUrl = new URL("../../pkg/index.js", import.meta.url).href;
  const script = `
    import { nd, autograd } from ${JSON.stringify(pkgUrl)};
    let out = null;
    ${body}
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, [...nodeArgs, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
    cwd: fileURLToPath(new URL("../../", import.meta.url)),
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

/** Live counts without the wasm memory size. */
const live = (): { arrays: number; bytes: number; tapeNodes: number } => {
  const { arrays, bytes, tapeNodes } = nd.memory();
  return { arrays, bytes, tapeNodes };
};

describe("nd.memory()", () => {
  it("starts empty and reports the WebAssembly memory size", () => {
    const m = nd.memory();
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
    expect(m.wasmBytes).toBeGreaterThan(0);
    expect(m.wasmBytes % 65536).toBe(0);
  });

  it("counts arrays, bytes and tape nodes exactly through a known sequence", () => {
    const wasm0 = nd.memory().wasmBytes;
    const x = nd.array([[1, 2, 3], [4, 5, 6]]);
    expect(live()).toEqual({ arrays: 1, bytes: 24, tapeNodes: 0 });
    const r = x.reshape([6]); // a view: same buffer
    expect(live()).toEqual({ arrays: 2, bytes: 24, tapeNodes: 0 });
    const d = x.detach(); // shares memory too (MXNet)
    expect(live()).toEqual({ arrays: 3, bytes: 24, tapeNodes: 0 });
    const c = x.copy(); // its own buffer
    expect(live()).toEqual({ arrays: 4, bytes: 48, tapeNodes: 0 });
    x.attachGrad(); // a gradient buffer
    expect(live()).toEqual({ arrays: 4, bytes: 72, tapeNodes: 0 });
    const g = x.grad!; // a handle onto that buffer
    expect(live()).toEqual({ arrays: 5, bytes: 72, tapeNodes: 0 });
    expect(x.grad).toBe(g);
    expect(live().arrays).toBe(5);

    const y = autograd.record(() => x.mul(x));
    expect(live()).toEqual({ arrays: 6, bytes: 96, tapeNodes: 1 });
    const s = autograd.record(() => y.sum());
    expect(live()).toEqual({ arrays: 7, bytes: 100, tapeNodes: 2 });
    // Not recorded: no node. A comparison records one (zero gradients, as
    // MXNet's MakeZeroGradNodes) that saves nothing, outside s's graph.
    const t = x.add(1);
    const u = autograd.record(() => x.greater(2));
    expect(live()).toEqual({ arrays: 9, bytes: 148, tapeNodes: 3 });

    s.backward();
    expect(live()).toEqual({ arrays: 9, bytes: 148, tapeNodes: 1 });
    expect(g.toArray()).toEqual([[2, 4, 6], [8, 10, 12]]);

    for (const a of [t, u, s, y, c, d, r]) a.dispose();
    expect(live()).toEqual({ arrays: 2, bytes: 48, tapeNodes: 0 });
    x.dispose(); // takes its .grad view along
    expect(g.isDisposed).toBe(true);
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
    expect(nd.memory().wasmBytes).toBe(wasm0);
  });

  it("counts the bytes a recorded graph keeps alive after the user disposed them", () => {
    const x = nd.array([1, 2, 3, 4]);
    x.attachGrad();
    const base = live(); // x + its gradient: 32 bytes
    expect(base).toEqual({ arrays: 1, bytes: 32, tapeNodes: 0 });
    const y = nd.scope(() => autograd.record(() => x.mul(x).exp().sum()));
    // x·x (16 bytes) and exp (16 bytes) were disposed by the scope, but exp's
    // backward needs its input x·x, and the tape holds it.
    expect(live()).toEqual({ arrays: 2, bytes: 32 + 16 + 4, tapeNodes: 3 });
    y.dispose();
    expect(live()).toEqual(base);
    x.dispose();
  });
});

describe("dispose and using", () => {
  it("dispose() is idempotent and never frees another array", () => {
    const a = nd.array([1, 2, 3]);
    a.dispose();
    expect(a.isDisposed).toBe(true);
    expect(live().arrays).toBe(0);
    const b = nd.array([7, 8, 9]); // may reuse a's slot in the engine
    a.dispose();
    a.dispose();
    expect(live()).toEqual({ arrays: 1, bytes: 12, tapeNodes: 0 });
    expect(b.toArray()).toEqual([7, 8, 9]);
    b.dispose();
    b.dispose();
    expect(live().arrays).toBe(0);
  });

  it("a disposed array throws instead of reading freed memory, and keeps its shape", () => {
    const a = nd.array([[1, 2], [3, 4]]);
    a.dispose();
    expect(() => a.toArray()).toThrow(/disposed/);
    expect(() => a.add(1)).toThrow(/^add: .*disposed/);
    expect(a.shape).toEqual([2, 2]);
  });

  it("`using` frees at the end of the block, also when the block throws", () => {
    {
      using a = nd.ones([4]);
      using b = a.mul(2);
      expect(b.toArray()).toEqual([2, 2, 2, 2]);
      expect(live()).toEqual({ arrays: 2, bytes: 32, tapeNodes: 0 });
    }
    expect(live().arrays).toBe(0);
    const f = (): void => {
      using a = nd.ones([4]);
      a.add(1).dispose();
      throw new Error("boom");
    };
    expect(f).toThrow("boom");
    expect(live().arrays).toBe(0);
  });

  it("`using` on a variable frees its gradient too", () => {
    {
      using x = nd.ones([3]);
      x.attachGrad();
      expect(x.grad!.toArray()).toEqual([0, 0, 0]);
      expect(live()).toEqual({ arrays: 2, bytes: 24, tapeNodes: 0 });
    }
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });
});

describe("nd.scope", () => {
  it("frees temporaries and keeps the returned array", () => {
    const r = nd.scope(() => {
      const a = nd.ones([2]);
      const b = a.add(1);
      const c = b.mul(b);
      expect(live().arrays).toBe(3);
      return c;
    });
    expect(live()).toEqual({ arrays: 1, bytes: 8, tapeNodes: 0 });
    expect(r.toArray()).toEqual([4, 4]);
    r.dispose();
  });

  it("keeps arrays returned inside arrays, objects and Maps, and non-array results", () => {
    const out = nd.scope(() => {
      const a = nd.ones([1]);
      const b = nd.full([1], 2);
      const c = nd.full([1], 3);
      const d = nd.full([1], 4);
      nd.zeros([100]); // a temporary
      return { list: [a, { deep: [b] }], map: new Map([["c", c]]), d, n: 5 };
    });
    expect(live()).toEqual({ arrays: 4, bytes: 16, tapeNodes: 0 });
    expect(out.n).toBe(5);
    const { list, map, d } = out;
    const a = list[0] as NDArray;
    const b = (list[1] as { deep: NDArray[] }).deep[0]!;
    const c = map.get("c")!;
    expect([a, b, c, d].map((x) => x.asscalar())).toEqual([1, 2, 3, 4]);
    for (const x of [a, b, c, d]) x.dispose();
    expect(nd.scope(() => (nd.ones([3]), 42))).toBe(42);
    expect(live().arrays).toBe(0);
  });

  it("keeps arrays with an attached gradient, even when not returned", () => {
    let w: NDArray | undefined;
    const loss = nd.scope(() => {
      w = nd.array([1, 2]);
      w.attachGrad();
      const tmp = nd.array([3, 4]);
      return autograd.record(() => w!.mul(tmp).sum());
    });
    // w (and its gradient) and loss survive; tmp survives only inside the tape.
    expect(live()).toEqual({ arrays: 2, bytes: 8 + 8 + 8 + 4, tapeNodes: 2 });
    loss.backward();
    expect(w!.grad!.toArray()).toEqual([3, 4]);
    loss.dispose();
    w!.dispose();
  });

  it("nests: inner results move to the outer scope, which frees them unless returned", () => {
    const kept = nd.scope(() => {
      const outerTmp = nd.ones([2]);
      const inner = nd.scope(() => {
        const t = outerTmp.add(1);
        return t.mul(10);
      });
      expect(live().arrays).toBe(2); // outerTmp, inner
      const dropped = nd.scope(() => outerTmp.add(5));
      expect(live().arrays).toBe(3);
      expect(dropped.toArray()).toEqual([6, 6]);
      return inner;
    });
    expect(live().arrays).toBe(1);
    expect(kept.toArray()).toEqual([20, 20]);
    kept.dispose();
  });

  it("frees everything created inside when fn throws, at every nesting level", () => {
    expect(() =>
      nd.scope(() => {
        nd.ones([5]);
        nd.zeros([5]).add(1);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });

    const r = nd.scope(() => {
      const outer = nd.ones([2]);
      expect(() =>
        nd.scope(() => {
          nd.ones([7]);
          throw new Error("inner");
        }),
      ).toThrow("inner");
      expect(live().arrays).toBe(1); // the inner temporaries are gone, outer is not
      return outer.add(1);
    });
    expect(r.toArray()).toEqual([2, 2]);
    r.dispose();
  });

  it("frees on an engine error too (an op that throws inside the scope)", () => {
    expect(() =>
      nd.scope(() => {
        const a = nd.ones([2, 3]);
        const b = a.mul(2);
        return b.add(nd.ones([4])); // incompatible shapes
      }),
    ).toThrow(/add/);
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });

  it("frees a recorded graph built inside it when nothing escapes", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    nd.scope(() => {
      autograd.record(() => x.mul(x).sigmoid().sum());
      expect(live().tapeNodes).toBe(3);
    });
    expect(live()).toEqual({ arrays: 1, bytes: 24, tapeNodes: 0 });
    x.dispose();
  });

  it("nd.keep lets an array escape every enclosing scope", () => {
    let k: NDArray | undefined;
    nd.scope(() => {
      nd.scope(() => {
        k = nd.keep(nd.arange(0, 3));
        nd.ones([2]);
      });
      nd.ones([2]);
    });
    expect(live().arrays).toBe(1);
    expect(k!.toArray()).toEqual([0, 1, 2]);
    expect(nd.keep(k!)).toBe(k); // outside any scope: a no-op
    k!.dispose();
  });

  it("an async scope frees what its own continuations created, once it settles", async () => {
    let inside: NDArray | undefined;
    let afterAwait: NDArray | undefined;
    const kept = await nd.scope(async () => {
      inside = nd.ones([2]);
      await new Promise((r) => setTimeout(r, 1));
      afterAwait = nd.ones([3]);
      expect(inside.isDisposed).toBe(false);
      return afterAwait.mul(2);
    });
    expect(inside!.isDisposed).toBe(true);
    expect(afterAwait!.isDisposed).toBe(true);
    expect(kept.toArray()).toEqual([2, 2, 2]);
    kept.dispose();
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });

  it("concurrent async scopes and unscoped async work never take each other's arrays (Node)", async () => {
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));
    let outside: NDArray | undefined;
    const unscoped = (async () => {
      await tick();
      outside = nd.ones([4]); // created while both scopes are open
      await tick();
    })();
    const a = nd.scope(async () => {
      const t = nd.ones([1]);
      await tick();
      await tick();
      return t.add(1);
    });
    const b = nd.scope(async () => {
      await tick();
      const u = nd.ones([1]);
      await tick();
      return u.add(2);
    });
    const [ra, rb] = await Promise.all([a, b, unscoped]);
    expect(ra.toArray()).toEqual([2]);
    expect(rb.toArray()).toEqual([3]);
    expect(outside!.isDisposed).toBe(false);
    for (const x of [ra, rb, outside!]) x.dispose();
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });

  it("an async scope that rejects frees everything it created", async () => {
    let made: NDArray | undefined;
    await expect(
      nd.scope(async () => {
        made = nd.ones([2]);
        await Promise.resolve();
        throw new Error("async boom");
      }),
    ).rejects.toThrow("async boom");
    expect(made!.isDisposed).toBe(true);
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });
});

describe("nd.debug leak tracking", () => {
  it("lists arrays created and never freed, with the stack where each was created", () => {
    nd.debug.trackLeaks();
    const freed = nd.ones([2]);
    const leaked = nd.zeros([3, 1]);
    freed.dispose();
    const leaks = nd.debug.leaks();
    expect(leaks).toHaveLength(1);
    expect(leaks[0]!.shape).toEqual([3, 1]);
    expect(leaks[0]!.stack).toContain("memory.test.ts");
    leaked.dispose();
    expect(nd.debug.leaks()).toHaveLength(0);
    nd.debug.stopTrackingLeaks();
    const untracked = nd.ones([1]);
    expect(nd.debug.leaks()).toHaveLength(0);
    untracked.dispose();
  });
});

describe("the .grad view", () => {
  it("is owned by its array and disposed with it", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    const g = x.grad!;
    expect(x.grad).toBe(g);
    x.dispose();
    expect(g.isDisposed).toBe(true);
    expect(() => g.toArray()).toThrow(/disposed/);
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });

  it("is null without attachGrad", () => {
    using x = nd.array([1, 2]);
    expect(x.grad).toBeNull();
    expect(live().arrays).toBe(1);
  });

  it("shows every backward, and re-reading after attachGrad gives fresh zeros", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    const g1 = x.grad!;
    nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
    expect(g1.toArray()).toEqual([2, 4, 6]); // the same view sees the new values
    x.attachGrad();
    expect(g1.isDisposed).toBe(true); // the old view went with the old buffer
    const g2 = x.grad!;
    expect(g2).not.toBe(g1);
    expect(g2.toArray()).toEqual([0, 0, 0]);
    expect(live()).toEqual({ arrays: 2, bytes: 24, tapeNodes: 0 });
    nd.scope(() => autograd.record(() => x.mul(3).sum()).backward());
    expect(g2.toArray()).toEqual([3, 3, 3]);
    x.dispose();
  });

  it("can be disposed by the user and read again", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    x.grad!.dispose();
    expect(live().arrays).toBe(1);
    nd.scope(() => autograd.record(() => x.mul(5).sum()).backward());
    expect(x.grad!.toArray()).toEqual([5, 5]);
    x.dispose();
  });

  it("read inside a scope is freed by the scope, then read again afterwards", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    nd.scope(() => {
      autograd.record(() => x.mul(x).sum()).backward();
      expect(x.grad!.toArray()).toEqual([2, 4]);
    });
    expect(live().arrays).toBe(1);
    expect(x.grad!.toArray()).toEqual([2, 4]);
    x.dispose();
  });
});

describe("the tape", () => {
  it("returns to zero nodes after backward without retainGraph", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    nd.scope(() => {
      const y = autograd.record(() => x.mul(2).add(1).square().sum());
      expect(live().tapeNodes).toBe(4);
      y.backward();
      expect(live().tapeNodes).toBe(0);
      expect(x.grad!.toArray()).toEqual([12, 20, 28]); // 4(2x+1)
      expect(() => y.backward()).toThrow(/backward.*retain_graph/s);
    });
    x.dispose();
  });

  it("keeps the nodes with retainGraph: true and allows another backward", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    nd.scope(() => {
      const y = autograd.record(() => x.mul(x).sum());
      y.backward({ retainGraph: true });
      expect(live().tapeNodes).toBe(2);
      expect(x.grad!.toArray()).toEqual([2, 4, 6]);
      y.backward(null, { retainGraph: true });
      expect(live().tapeNodes).toBe(2);
      expect(x.grad!.toArray()).toEqual([2, 4, 6]); // "write" overwrites
      y.backward();
      expect(live().tapeNodes).toBe(0);
      expect(x.grad!.toArray()).toEqual([2, 4, 6]);
      expect(() => y.backward()).toThrow(/backward/);
    });
    x.dispose();
  });

  it("frees a graph abandoned without backward when its output is disposed", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    const base = live();
    const y = nd.scope(() => autograd.record(() => x.mul(x).exp().sum()));
    expect(live().tapeNodes).toBe(3);
    y.dispose();
    expect(live()).toEqual(base);
    // x is no longer needed by any graph: in-place writes are allowed again.
    x.set(5);
    expect(x.toArray()).toEqual([5, 5, 5]);
    x.dispose();
  });

  it("frees a partly-consumed graph: a branch backwarded, the other abandoned", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    nd.scope(() => {
      const t = autograd.record(() => x.mul(x));
      const y1 = autograd.record(() => t.sum());
      const y2 = autograd.record(() => t.mul(3).sum());
      expect(live().tapeNodes).toBe(4);
      y1.backward();
      expect(x.grad!.toArray()).toEqual([2, 4]);
      // y2's own nodes are still alive until y2 goes.
      expect(live().tapeNodes).toBe(2);
    });
    expect(live()).toEqual({ arrays: 1, bytes: 16, tapeNodes: 0 });
    x.dispose();
  });

  it("keeps what backward needs alive after the user disposed it", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    const t = autograd.record(() => x.mul(x));
    const y = autograd.record(() => t.mul(3));
    t.dispose();
    y.backward();
    expect(x.grad!.toArray()).toEqual([6, 12, 18]);
    y.dispose();
    expect(live()).toEqual({ arrays: 2, bytes: 24, tapeNodes: 0 }); // x and its .grad view
    x.dispose();
  });

  it("survives disposing every intermediate and even the variable before backward", () => {
    const x = nd.array([0.5, -1]);
    x.attachGrad();
    const a = autograd.record(() => x.tanh());
    const b = autograd.record(() => a.mul(x));
    const y = autograd.record(() => b.sum());
    a.dispose();
    b.dispose();
    expect(live().tapeNodes).toBe(3);
    y.backward();
    // d/dx [x·tanh x] = tanh x + x·(1 − tanh² x)
    const expected = [0.5, -1].map((v) => Math.tanh(v) + v * (1 - Math.tanh(v) ** 2));
    const got = x.grad!.toArray() as number[];
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    y.dispose();

    const y2 = autograd.record(() => nd.scope(() => x.mul(4).sum()));
    x.dispose();
    y2.backward(); // writes into a gradient nobody can read any more: harmless
    y2.dispose();
    expect(live()).toEqual({ arrays: 0, bytes: 0, tapeNodes: 0 });
  });

  it("refuses in-place writes while a graph needs the array, and allows them after backward", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    const y = nd.scope(() => autograd.record(() => x.mul(x).sum()));
    expect(() => x.set(0)).toThrow(/set/);
    expect(x.toArray()).toEqual([1, 2]);
    y.backward();
    x.set(0);
    expect(x.toArray()).toEqual([0, 0]);
    expect(x.grad!.toArray()).toEqual([2, 4]);
    y.dispose();
    x.dispose();
  });
});

describe("autograd.grad and markVariables lifetimes", () => {
  it("autograd.grad with createGraph keeps the gradient graph until it is used or dropped", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    const base = live();
    nd.scope(() => {
      const y = autograd.record(() => x.mul(x).mul(x).sum());
      expect(live().tapeNodes).toBe(3);
      const [g] = autograd.record(() => autograd.grad(y, x, { createGraph: true }));
      expect(g!.toArray()).toEqual([3, 12, 27]); // 3x²
      expect(x.grad!.toArray()).toEqual([0, 0, 0]); // .grad untouched
      expect(live().tapeNodes).toBeGreaterThan(3); // the gradient is recorded too
      autograd.record(() => g!.sum()).backward();
      expect(x.grad!.toArray()).toEqual([6, 12, 18]); // 6x
    });
    expect(live()).toEqual(base);
    // Abandoned without using the gradient: freed with the scope.
    nd.scope(() => {
      const y = autograd.record(() => x.mul(x).mul(x).sum());
      autograd.record(() => autograd.grad(y, x, { createGraph: true }));
    });
    expect(live()).toEqual(base);
    // Without createGraph, retainGraph defaults to false: the graph goes at once.
    nd.scope(() => {
      const y = autograd.record(() => x.mul(x).sum());
      const [g] = autograd.grad(y, x);
      expect(live().tapeNodes).toBe(0);
      expect(g!.toArray()).toEqual([2, 4, 6]);
    });
    expect(live()).toEqual(base);
    x.dispose();
  });

  it("markVariables writes into the caller's buffer, which outlives the variable", () => {
    const v = nd.array([1, 2]);
    const buf = nd.zeros([2]);
    autograd.markVariables(v, buf);
    expect(live()).toEqual({ arrays: 2, bytes: 16, tapeNodes: 0 }); // no extra gradient buffer
    nd.scope(() => autograd.record(() => v.mul(3).sum()).backward());
    expect(buf.toArray()).toEqual([3, 3]);
    expect(v.grad!.toArray()).toEqual([3, 3]); // a view of buf
    v.dispose();
    expect(buf.isDisposed).toBe(false);
    expect(buf.toArray()).toEqual([3, 3]);
    expect(live()).toEqual({ arrays: 1, bytes: 8, tapeNodes: 0 });
    buf.dispose();
  });
});

describe("autograd.Function lifetimes", () => {
  class Sigmoid extends autograd.Function {
    forward(x: NDArray): NDArray {
      const y = nd.sigmoid(x);
      this.saveForBackward(y);
      return y;
    }
    backward(dy: NDArray): NDArray {
      const [y] = this.savedTensors;
      return nd.scope(() => dy.mul(y!).mul(nd.sub(1, y!)));
    }
  }

  it("tensors saved for backward stay valid after the user disposed them", () => {
    // The same rule as for built-in ops: what backward needs outlives the
    // user's handles. Here the scope disposes the forward's output y, which
    // the function saved for its backward.
    const x = nd.array([0, 0]);
    x.attachGrad();
    const loss = nd.scope(() => autograd.record(() => (new Sigmoid().apply(x) as NDArray).sum()));
    try {
      loss.backward();
      expect(x.grad!.toArray()).toEqual([0.25, 0.25]);
    } finally {
      loss.dispose();
      x.dispose();
    }
  });

  it("gradients returned by backward are not leaked (a loop without nd.scope stays flat)", () => {
    // In a child process: if this leaks, the leaked handles are unreachable
    // and would spoil every later count in this file.
    const out = inChild(`
      class Double extends autograd.Function {
        forward(x) { return x.mul(2); }
        backward(dy) { return dy.mul(2); }
      }
      const x = nd.array([1, 2]);
      x.attachGrad();
      const g = x.grad;
      const base = nd.memory();
      for (let i = 0; i < 5; i++) {
        const y = autograd.record(() => new Double().apply(x));
        const s = autograd.record(() => y.sum());
        s.backward();
        y.dispose();
        s.dispose();
      }
      out = { base, end: nd.memory(), grad: g.toArray() };
    `) as { base: object; end: object; grad: number[] };
    expect(out.grad).toEqual([2, 2]);
    expect(out.end).toEqual(out.base);
  });

  it("an abandoned graph through a Function is freed with its output", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    const base = live();
    const loss = nd.scope(() => autograd.record(() => (new Sigmoid().apply(x) as NDArray).sum()));
    expect(live().tapeNodes).toBe(2);
    loss.dispose();
    expect(live()).toEqual(base);
    x.dispose();
  });
});

describe("a training loop", () => {
  it("2,000 record/backward/update steps keep memory flat and reduce the loss", () => {
    // Least squares: y = 1·x0 + 2·x1, fitted from w = [0, 0].
    const X = nd.array([[1, 0], [0, 1], [1, 1], [1, -1]]);
    const Y = nd.array([1, 2, 3, -1]);
    const w = nd.zeros([2]);
    w.attachGrad();
    const lr = 0.003;
    const lossAt = (): number => nd.scope(() => X.dot(w).sub(Y).square().mean().asscalar());
    const first = lossAt();
    let warm: ReturnType<typeof nd.memory> | undefined;
    const losses: number[] = [];
    for (let step = 0; step < 2000; step++) {
      nd.scope(() => {
        const loss = autograd.record(() => X.dot(w).sub(Y).square().mean());
        loss.backward();
        w.set(w.sub(w.grad!.mul(lr)));
        if (step % 500 === 0) losses.push(loss.asscalar());
      });
      if (step === 100) warm = nd.memory();
      if (step > 100) {
        const m = nd.memory();
        if (m.arrays !== warm!.arrays || m.bytes !== warm!.bytes || m.tapeNodes !== 0 || m.wasmBytes !== warm!.wasmBytes) {
          expect({ step, ...m }).toEqual({ step, ...warm!, tapeNodes: 0 });
        }
      }
    }
    const end = nd.memory();
    // X, Y, w and w's gradient buffer, nothing else (the .grad view was
    // created inside a scope, which freed it).
    expect(end).toEqual({ arrays: 3, bytes: 32 + 16 + 8 + 8, tapeNodes: 0, wasmBytes: warm!.wasmBytes });
    const last = lossAt();
    expect(first).toBeCloseTo(3.75, 5); // mean of 1, 4, 9, 1
    expect(last).toBeLessThan(first / 1e4);
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]!);
    const [w0, w1] = w.toArray() as number[];
    expect(w0).toBeCloseTo(1, 2);
    expect(w1).toBeCloseTo(2, 2);
    for (const a of [X, Y, w]) a.dispose();
  });

  it("the same loop with `using` and manual dispose instead of nd.scope stays flat too", () => {
    const x = nd.array([1, 2, 3, 4]);
    const w = nd.array([3]);
    w.attachGrad();
    const g = w.grad!; // read once, outside any scope
    let warm: ReturnType<typeof live> | undefined;
    for (let step = 0; step < 500; step++) {
      {
        using loss = autograd.record(() => {
          using p = x.mul(w);
          using d = p.sub(x);
          using s = d.square();
          return s.sum();
        });
        loss.backward();
        using step_ = g.mul(0.01);
        using nw = w.sub(step_);
        w.set(nw);
      }
      if (step === 10) warm = live();
      if (step > 10 && live().bytes !== warm!.bytes) expect(live()).toEqual(warm);
    }
    expect(live()).toEqual({ arrays: 3, bytes: 16 + 4 + 4, tapeNodes: 0 });
    expect(w.asscalar()).toBeCloseTo(1, 4);
    x.dispose();
    w.dispose();
  });
});

describe("grad_req", () => {
  it('"add" accumulates over two backward calls; "write" overwrites', () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad("add");
    for (let i = 0; i < 2; i++) nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
    expect(x.grad!.toArray()).toEqual([4, 8, 12]);
    nd.scope(() => autograd.record(() => x.mul(10).sum()).backward());
    expect(x.grad!.toArray()).toEqual([14, 18, 22]);
    x.attachGrad("write");
    for (let i = 0; i < 2; i++) nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
    expect(x.grad!.toArray()).toEqual([2, 4, 6]);
    x.dispose();
  });

  it('"add" accumulates over backward calls on one retained graph', () => {
    const x = nd.array([1, -1]);
    x.attachGrad("add");
    nd.scope(() => {
      const y = autograd.record(() => x.mul(3).sum());
      y.backward({ retainGraph: true });
      y.backward();
    });
    expect(x.grad!.toArray()).toEqual([6, 6]);
    x.dispose();
  });

  it('"null" leaves zeros while the other variables get their gradients', () => {
    const x = nd.array([1, 2]);
    const w = nd.array([3, 4]);
    x.attachGrad("null");
    w.attachGrad();
    nd.scope(() => autograd.record(() => x.mul(w).sum()).backward());
    expect(x.grad!.toArray()).toEqual([0, 0]);
    expect(w.grad!.toArray()).toEqual([1, 2]);
    x.dispose();
    w.dispose();
  });
});

describe("recording and training flags", () => {
  it("record sets both flags and restores them, also after an exception", () => {
    expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
    autograd.record(() => {
      expect([autograd.isRecording(), autograd.isTraining()]).toEqual([true, true]);
    });
    expect(() =>
      autograd.record(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
    autograd.record(
      () => expect([autograd.isRecording(), autograd.isTraining()]).toEqual([true, false]),
      { trainMode: false },
    );
    expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
  });

  it("restores after an engine error inside record, and the graph built so far is freed", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    expect(() =>
      nd.scope(() =>
        autograd.record(() => {
          const y = x.mul(x);
          return y.add(nd.ones([3])); // incompatible shapes
        }),
      ),
    ).toThrow(/add/);
    expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
    expect(live()).toEqual({ arrays: 1, bytes: 16, tapeNodes: 0 });
    x.dispose();
  });

  it("nested modes restore the enclosing state, on return and on throw", () => {
    autograd.record(() => {
      autograd.pause(() => {
        expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
        autograd.trainMode(() => expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, true]));
      });
      expect([autograd.isRecording(), autograd.isTraining()]).toEqual([true, true]);
      expect(() =>
        autograd.pause(() => {
          throw new Error("inner");
        }),
      ).toThrow("inner");
      expect([autograd.isRecording(), autograd.isTraining()]).toEqual([true, true]);
      autograd.predictMode(() => expect([autograd.isRecording(), autograd.isTraining()]).toEqual([true, false]));
      autograd.pause(() => expect(autograd.isTraining()).toBe(true), { trainMode: true });
    });
    expect([autograd.isRecording(), autograd.isTraining()]).toEqual([false, false]);
  });

  it("pause inside record stops recording", () => {
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    nd.scope(() => {
      const { y, p } = autograd.record(() => {
        const a = x.mul(2);
        const p = autograd.pause(() => x.mul(3).exp());
        expect(live().tapeNodes).toBe(1); // only a = x·2
        return { y: a.mul(p).sum(), p };
      });
      expect(live().tapeNodes).toBe(3);
      expect(() => p.backward()).toThrow(/backward/); // p was never recorded
      y.backward();
      // p is a constant for the gradient: d/dx Σ 2x·p = 2p
      const expected = [1, 2, 3].map((v) => 2 * Math.fround(Math.exp(3 * v)));
      (x.grad!.toArray() as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, -1));
    });
    x.dispose();
  });
});

describe("the FinalizationRegistry safety net", () => {
  it("frees arrays that became unreachable", () => {
    const out = inChild(
      `
      const kept = nd.array([1, 2, 3]);
      (() => { for (let i = 0; i < 1000; i++) { const x = nd.ones([16]); x.attachGrad(); x.grad; x.add(1); } })();
      const before = nd.memory().arrays;
      for (let i = 0; i < 20 && nd.memory().arrays > 1; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      out = { before, after: nd.memory(), kept: kept.toArray() };
      `,
      ["--expose-gc"],
    ) as { before: number; after: ReturnType<typeof nd.memory>; kept: number[] };
    expect(out.before).toBe(3001);
    expect(out.after).toMatchObject({ arrays: 1, bytes: 12, tapeNodes: 0 });
    expect(out.kept).toEqual([1, 2, 3]);
  });

  it("also frees arrays that left their scopes (returned, kept, variables, nested scopes) once unreachable", () => {
    // Inside a scope, arrays are registered with the FinalizationRegistry
    // only when they leave the outermost scope; they must still be collected.
    const out = inChild(
      `
      const kept = nd.scope(() => nd.scope(() => nd.array([1, 2, 3])));
      (() => {
        for (let i = 0; i < 300; i++) {
          nd.scope(() => nd.ones([4]).mul(2));                       // returned from the outer scope
          nd.scope(() => { nd.keep(nd.ones([4])); });                // kept
          nd.scope(() => { const v = nd.ones([4]); v.attachGrad(); }); // a variable (and its grad)
          nd.scope(() => nd.scope(() => ({ a: nd.ones([2]) })));     // through two scopes, in an object
        }
      })();
      const before = nd.memory().arrays;
      for (let i = 0; i < 20 && nd.memory().arrays > 1; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      out = { before, after: nd.memory(), kept: kept.toArray() };
      `,
      ["--expose-gc"],
    ) as { before: number; after: ReturnType<typeof nd.memory>; kept: number[] };
    expect(out.before).toBe(1 + 4 * 300);
    expect(out.after).toMatchObject({ arrays: 1, tapeNodes: 0 });
    expect(out.kept).toEqual([1, 2, 3]);
  });
});
