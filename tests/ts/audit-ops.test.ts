// Defects found by an audit of API.md (Part 1) against MXNet 1.9.1, each
// tested as MXNet behaves:
//   1. comparisons are recorded with zero gradients (MXNet registers every
//      comparison with `FGradient = MakeZeroGradNodes`:
//      src/operator/tensor/elemwise_binary_broadcast_op_logic.cc,
//      elemwise_binary_scalar_op_logic.cc), so backward through one works;
//   2. squeeze refuses an axis named twice (SqueezeShape's "duplicate value
//      in axis", src/operator/tensor/matrix_op-inl.h; NumPy too);
//   3. an op implemented through another names itself, and the caller's
//      shapes, in its Errors (API.md: "names the operation and the shapes").
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { createWorker, type NDWorker } from "ndgrad/worker";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

const COMPARISONS = ["equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual"] as const;
type Cmp = (typeof COMPARISONS)[number];

/** The message of the Error `f` throws (arrays it made are freed). */
function errorOf(f: () => unknown): string {
  try {
    nd.scope(() => {
      f();
    });
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as Error).message;
  }
  throw new Error("expected an Error");
}

describe("comparisons are recorded, with zero gradients (MXNet's MakeZeroGradNodes)", () => {
  // Each form of each comparison, as `f(x, b)`: x is [2,3], b is [3] (broadcast).
  const forms: [string, (op: Cmp, x: NDArray, b: NDArray) => NDArray][] = [
    ["method, array (broadcast)", (op, x, b) => x[op](b)],
    ["method, number", (op, x) => x[op](0.5)],
    ["nd, array then array (broadcast)", (op, x, b) => nd[op](b, x)],
    ["nd, number then array", (op, x) => nd[op](0.5, x)],
    ["nd, array then number", (op, x) => nd[op](x, 0.5)],
    ["method, same shape", (op, x) => x[op](x.mul(0.5))],
  ];

  for (const op of COMPARISONS) {
    for (const [form, f] of forms) {
      it(`${op}, ${form}: backward writes zeros, add keeps the sum, grad gives zeros`, () => {
        using x = nd.array([[1, -2, 0.5], [3, 0, -1]]);
        using b = nd.array([0.5, 0, 2]);
        x.attachGrad();
        b.attachGrad("add");
        // Non-zero gradients first, so that "write" must overwrite them.
        {
          using y = autograd.record(() => nd.scope(() => x.mul(x).add(b.mul(3)).sum()));
          y.backward();
        }
        expect(x.grad!.toArray()).toEqual([[2, -4, 1], [6, 0, -2]]);
        expect(b.grad!.toArray()).toEqual([6, 6, 6]);
        {
          using y = autograd.record(() => nd.scope(() => f(op, x, b).sum()));
          y.backward();
        }
        expect(x.grad!.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
        expect(b.grad!.toArray()).toEqual([6, 6, 6]); // add: + 0
        {
          using y = autograd.record(() => nd.scope(() => f(op, x, b).sum()));
          const g = autograd.grad(y, [x, b]);
          expect(g.map((a) => a.toArray())).toEqual([[[0, 0, 0], [0, 0, 0]], [0, 0, 0]]);
          for (const a of g) a.dispose();
        }
      });
    }
  }

  it("zeros even for an infinite or NaN head gradient (zeros_like, not dy * 0), summed back to each input's shape", () => {
    for (const op of COMPARISONS) {
      using x = nd.array([[1, 2], [3, 4]], { dtype: "float64" });
      using b = nd.array([[2], [3]], { dtype: "float64" });
      x.attachGrad();
      b.attachGrad();
      using y = autograd.record(() => nd[op](x, b));
      using head = nd.array([[Infinity, NaN], [-Infinity, 1]], { dtype: "float64" });
      y.backward(head);
      expect(x.grad!.toArray()).toEqual([[0, 0], [0, 0]]);
      expect(b.grad!.toArray()).toEqual([[0], [0]]);
      expect(x.grad!.dtype).toBe("float64");
    }
  });

  it("a mask from a comparison: d/dx Σ x²·(x > 0.5) = 2x·(x > 0.5), and the second derivative 2·(x > 0.5) (createGraph)", () => {
    using x = nd.array([-1, 0.25, 1, 2]);
    x.attachGrad();
    const [g] = autograd.record(() => {
      using y = nd.scope(() => x.square().mul(x.greater(0.5)).sum());
      return autograd.grad(y, [x], { createGraph: true });
    });
    using gx = g!;
    expect(gx.toArray()).toEqual([0, 0, 2, 4]);
    gx.backward();
    expect(x.grad!.toArray()).toEqual([0, 0, 2, 2]);
  });

  it("the gradient of a comparison's gradient is zero (createGraph), with gradReq add accumulating it", () => {
    for (const op of COMPARISONS) {
      using x = nd.array([0.3, -1.2, 2]);
      x.attachGrad("add");
      const [g] = autograd.record(() => {
        using y = nd.scope(() => nd[op](x, 0.3).mul(2).sum());
        return autograd.grad(y, [x], { createGraph: true });
      });
      using gx = g!;
      expect(gx.toArray()).toEqual([0, 0, 0]);
      using s = autograd.record(() => gx.sum());
      s.backward();
      expect(x.grad!.toArray()).toEqual([0, 0, 0]);
      // add: a later backward accumulates onto these zeros
      using t = autograd.record(() => nd.scope(() => x.mul(3).sum()));
      t.backward();
      expect(x.grad!.toArray()).toEqual([3, 3, 3]);
    }
  });

  it("integer comparisons are still not recorded (integer arrays have no gradients)", () => {
    using i = nd.array([1, 2, 3], { dtype: "int32" });
    using y = autograd.record(() => i.greater(1));
    expect(y.dtype).toBe("int32");
    expect(() => y.backward()).toThrow(/not in a computational graph/);
  });

  describe("through the worker (the same engine)", () => {
    let w: NDWorker;
    beforeAll(async () => {
      w = await createWorker();
    });
    afterAll(async () => {
      await w.terminate();
    });
    it("x.greater(1.5).sum().backward() and autograd.grad give zeros remotely", async () => {
      await w.nd.scope(async () => {
        const x = w.nd.array([1, 2, 3]);
        await x.attachGrad();
        const y = await w.autograd.record(() => x.greater(1.5).sum());
        await y.backward();
        expect(await (await x.grad)!.toArray()).toEqual([0, 0, 0]);
        const [g] = await w.autograd.record(() => w.autograd.grad(w.nd.lesserEqual(x, 2).mul(x).sum(), [x]));
        expect(await g!.toArray()).toEqual([1, 1, 0]);
        x.dispose(); // a scope keeps arrays with an attached gradient
      });
      const m = await w.nd.memory();
      expect([m.arrays, m.tapeNodes]).toEqual([0, 0]);
    });
  });
});

describe("squeeze refuses duplicate axes (MXNet's SqueezeShape, NumPy)", () => {
  it.each([
    [[0, 0], "[0,0]"],
    [[2, -1], "[2,-1]"],
    [[-3, 0, 2], "[-3,0,2]"],
  ])("squeeze(%j) of [1,2,1]", (axes, shown) => {
    using z = nd.zeros([1, 2, 1]);
    const m = errorOf(() => z.squeeze(axes));
    expect(m).toMatch(/^squeeze: duplicate value in axis/);
    expect(m).toContain(shown);
    expect(m).toContain("[1,2,1]");
    expect(errorOf(() => nd.squeeze(z, axes))).toBe(m);
    expect(z.toArray()).toEqual([[[0], [0]]]);
  });
  it("distinct axes still squeeze", () => {
    using z = nd.zeros([1, 2, 1]);
    using a = z.squeeze([0, -1]);
    expect(a.shape).toEqual([2]);
    using b = z.squeeze(2);
    expect(b.shape).toEqual([1, 2]);
  });
});

describe("Errors name the op called and the caller's shapes, not an op it is built on", () => {
  const FULL_SIZE = /^(\w+): shape \[100000,100000\] has more than 1073741824 elements/;
  it("zeros, ones, full: too many elements", () => {
    for (const [op, f] of [
      ["zeros", () => nd.zeros([1e5, 1e5])],
      ["ones", () => nd.ones([1e5, 1e5])],
      ["full", () => nd.full([1e5, 1e5], 2)],
    ] as const) {
      const m = errorOf(f);
      expect(m).toMatch(FULL_SIZE);
      expect(m.startsWith(`${op}:`)).toBe(true);
    }
  });
  it("zeros, ones: out of memory", () => {
    // 2^30 float64 elements (8 GiB) never fit in WebAssembly's 4 GiB.
    for (const op of ["zeros", "ones"] as const) {
      const m = errorOf(() => nd[op]([2 ** 29, 2], { dtype: "float64" }));
      expect(m).toMatch(new RegExp(`^${op}: out of memory`));
    }
  });
  it("zerosLike, onesLike of a disposed array", () => {
    const a = nd.ones([2, 3]);
    a.dispose();
    expect(errorOf(() => nd.zerosLike(a))).toMatch(/^zerosLike: .*\[2,3\]/);
    expect(errorOf(() => nd.onesLike(a))).toMatch(/^onesLike: .*\[2,3\]/);
  });
  it("stack of mixed dtypes names stack and the caller's shapes", () => {
    using a = nd.ones([2]);
    using b = nd.ones([2], { dtype: "float64" });
    const m = errorOf(() => nd.stack([a, b]));
    expect(m).toBe("stack: dtype mismatch: float32 (shape [2]) and float64 (shape [2]); cast one with astype");
    using c = nd.ones([2, 3]);
    using d = nd.ones([2, 3], { dtype: "int32" });
    expect(errorOf(() => nd.stack([c, c, d], 1))).toBe(
      "stack: dtype mismatch: float32 (shape [2,3]) and int32 (shape [2,3]); cast one with astype",
    );
  });
  it("expandDims and stack past the maximum rank", () => {
    using r32 = nd.zeros(new Array<number>(32).fill(1));
    const shape = `[${new Array<number>(32).fill(1).join(",")}]`;
    expect(errorOf(() => r32.expandDims(0))).toBe(`expandDims: rank 33 exceeds the maximum of 32 (shape ${shape})`);
    expect(errorOf(() => nd.expandDims(r32, -1))).toBe(`expandDims: rank 33 exceeds the maximum of 32 (shape ${shape})`);
    expect(errorOf(() => nd.stack([r32, r32]))).toBe(`stack: rank 33 exceeds the maximum of 32 (arrays of shape ${shape})`);
  });
  it("T, flatten of a disposed array; flatten of a 0-d array", () => {
    const a = nd.ones([2, 3]);
    a.dispose();
    expect(errorOf(() => a.T)).toMatch(/^T: .*disposed.*\[2,3\]/);
    expect(errorOf(() => a.flatten())).toMatch(/^flatten: .*disposed.*\[2,3\]/);
    using z = nd.zeros([]);
    expect(errorOf(() => z.flatten())).toMatch(/^flatten: .*shape \[\]/);
    expect(errorOf(() => nd.Flatten(z))).toMatch(/^Flatten: .*shape \[\]/);
  });
  it("nd.negative and nd.cast (MXNet's other names for neg and astype) name themselves", () => {
    const a = nd.ones([2, 3]);
    a.dispose();
    expect(errorOf(() => nd.negative(a))).toBe("negative: the array has been disposed (shape [2,3])");
    expect(errorOf(() => nd.cast(a, "float64"))).toBe("cast: the array has been disposed (shape [2,3])");
    using i = nd.ones([2], { dtype: "int32" });
    expect(errorOf(() => nd.cast(i, "int8" as "int32"))).toMatch(/^cast: dtype must be/);
  });
  it("slice with a step of a 0-d array says what slice without one says", () => {
    using z = nd.zeros([]);
    expect(errorOf(() => z.slice(0, 1))).toMatch(/^slice: cannot index a 0-d array/);
    expect(errorOf(() => z.slice(0, 1, 2))).toMatch(/^slice: cannot index a 0-d array/);
  });
  it("the worker gives the same messages", async () => {
    const w = await createWorker();
    try {
      const err = async (p: PromiseLike<unknown>): Promise<string> => {
        try {
          await p;
        } catch (e) {
          return (e as Error).message;
        }
        throw new Error("expected a rejection");
      };
      expect(await err(w.nd.zeros([1e5, 1e5]).toArray())).toMatch(/^zeros: shape \[100000,100000\]/);
      await w.nd.scope(async () => {
        const m = await err(w.nd.stack([w.nd.ones([2]), w.nd.ones([2], { dtype: "float64" })]).toArray());
        expect(m).toBe("stack: dtype mismatch: float32 (shape [2]) and float64 (shape [2]); cast one with astype");
        expect(await err(w.nd.zeros([1, 2, 1]).squeeze([2, -1]).toArray())).toMatch(/^squeeze: duplicate value in axis \[2,-1\]/);
      });
      const m = await w.nd.memory();
      expect([m.arrays, m.tapeNodes]).toEqual([0, 0]);
    } finally {
      await w.terminate();
    }
  });
});

describe("x.set(v) under autograd.record records a copy (MXNet's x[:] = v: broadcast_to, then _copyto with an identity gradient)", () => {
  it("MXNet's example: q = zeros(2); q[:] = w * 2; q.sum() gives w.grad = [2, 2]", () => {
    using w = nd.array([1, 2]);
    w.attachGrad();
    using s = autograd.record(() =>
      nd.scope(() => {
        const q = nd.zeros([2]);
        q.set(w.mul(2));
        return q.sum();
      }),
    );
    expect(s.toArray()).toEqual([6]);
    s.backward();
    expect(w.grad!.toArray()).toEqual([2, 2]);
  });
  it("a broadcast value's gradient is summed back; another float dtype is cast back; autograd.grad and createGraph work", () => {
    using w = nd.array([1, 2, 3], { dtype: "float64" });
    w.attachGrad();
    using q = nd.zeros([2, 3]);
    const [g] = autograd.record(() => {
      using s = nd.scope(() => {
        q.set(w.square());
        return q.mul(q).sum(); // Σ over 2 rows of w⁴ (computed in float32)
      });
      return autograd.grad(s, [w], { createGraph: true });
    });
    using gw = g!;
    expect(gw.dtype).toBe("float64");
    expect(gw.toArray()).toEqual([8, 64, 216]); // 2 · 4w³
    gw.backward();
    expect(w.grad!.toArray()).toEqual([24, 96, 216]); // 2 · 12w²
  });
  it("outside record, into a variable, or a number: not recorded; into a recorded array: still refused", () => {
    using w = nd.array([1, 2]);
    w.attachGrad();
    using q = nd.zeros([2]);
    {
      using w2 = w.mul(2);
      q.set(w2);
    }
    using s = autograd.record(() => q.sum());
    expect(() => s.backward()).toThrow(/not in a computational graph/);
    using v = nd.zeros([2]);
    v.attachGrad();
    autograd.record(() => {
      using w3 = w.mul(3);
      v.set(w3);
    });
    expect(v.toArray()).toEqual([3, 6]);
    expect(v.grad!.toArray()).toEqual([0, 0]);
    expect(nd.memory().tapeNodes).toBe(0);
    using y = autograd.record(() => w.mul(2));
    expect(errorOf(() => autograd.record(() => y.set(w)))).toMatch(/^set: in-place operations/);
    expect(y.toArray()).toEqual([2, 4]);
  });
});
