// MXNet 1.9.1's tests/python/unittest/test_higher_order_grad.py, ported for
// the ops ndgrad has (radians and rcbrt it has not; gluon.nn.Dense is
// written out as dot + bias), plus issue #11's form of test_relu and the
// semantics around it: recorded head gradients, gradReq "add", a variable
// reached through several paths, custom Functions, float64.
//
// check_nth_order_unary as in MXNet: inside record, y = op(x), then for each
// order y = autograd.grad(y, x, {headGrads: random normal, createGraph,
// retainGraph})[0]; the result of order n must be grad_op(x) times the
// product of the first n head gradients. The expected values are computed
// here in float64 from the float32 inputs (MXNet computes them with nd).
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { expectNoLeaks, prng } from "./helpers.js";

afterEach(expectNoLeaks);

const rand = prng(1234);
/** MXNet's rand_shape_nd(dim): each dimension in [1, 10]. */
const randShape = (dim: number, high = 10): number[] => Array.from({ length: dim }, () => 1 + Math.floor(rand() * high));
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
/** Standard normal (Box–Muller), as MXNet's random_arrays / nd.random.normal. */
function normal(): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
const normals = (n: number): number[] => Array.from({ length: n }, () => Math.fround(normal()));

type G = (x: number) => number;
/** The values of a 1-D array with -0 as 0 (a zero gradient is dy·0: its sign is dy's). */
const plain = (t: NDArray | ArrayLike<number>): number[] => Array.from(t instanceof NDArray ? t.data() : t, (v) => v + 0);

/** MXNet's check_nth_order_unary (float32; rtol/atol: assert_almost_equal's, loosened for float32 inputs). */
function checkNthOrderUnary(
  values: number[],
  shape: number[],
  op: (x: NDArray) => NDArray,
  gradOps: G | G[],
  orders: number | number[],
  rtol = 1e-4,
  atol = 1e-5,
): void {
  const os = Array.isArray(orders) ? orders : [orders];
  const gs = Array.isArray(gradOps) ? gradOps : [gradOps];
  const highest = Math.max(...os);
  nd.scope(() => {
    const x = nd.array(values, { shape });
    x.attachGrad();
    const computed: NDArray[] = [];
    const headGrads: number[][] = [];
    autograd.record(() => {
      let y = op(x);
      for (let order = 1; order <= highest; order++) {
        const hg = normals(size(shape));
        y = autograd.grad(y, x, { headGrads: nd.array(hg, { shape }), createGraph: true, retainGraph: true })[0]!;
        if (os.includes(order)) computed.push(y);
        headGrads.push(hg);
      }
    });
    os.forEach((order, k) => {
      const got = computed[k]!.data();
      const xs = x.data();
      for (let i = 0; i < got.length; i++) {
        let want = gs[k]!(xs[i]!);
        for (const hg of headGrads.slice(0, order)) want *= hg[i]!;
        const err = Math.abs(got[i]! - want);
        expect(err, `order ${order} at x = ${xs[i]}: ${got[i]} vs ${want}`).toBeLessThanOrEqual(atol + rtol * Math.abs(want));
      }
    });
    x.dispose();
  });
}

const checkSecondOrderUnary = (values: number[], shape: number[], op: (x: NDArray) => NDArray, g: G, rtol?: number, atol?: number): void =>
  checkNthOrderUnary(values, shape, op, g, 2, rtol, atol);

/** For dim 1..4: a random shape and values `gen(normal)` (MXNet's random_arrays, shifted per test). */
function eachDim(gen: () => number, f: (values: number[], shape: number[]) => void): void {
  for (let dim = 1; dim <= 4; dim++) {
    const shape = randShape(dim);
    f(Array.from({ length: size(shape) }, () => Math.fround(gen())), shape);
  }
}
const uniform = (lo: number, hi: number) => (): number => lo + (hi - lo) * rand();

describe("MXNet 1.9.1 test_higher_order_grad.py", () => {
  it("test_sin, test_cos: orders 2 and 3", () => {
    eachDim(normal, (a, s) => {
      checkSecondOrderUnary(a, s, nd.sin, (x) => -Math.sin(x));
      checkNthOrderUnary(a, s, nd.sin, [(x) => -Math.sin(x), (x) => -Math.cos(x)], [2, 3]);
      checkSecondOrderUnary(a, s, nd.cos, (x) => -Math.cos(x));
      checkNthOrderUnary(a, s, nd.cos, [(x) => -Math.cos(x), (x) => Math.sin(x)], [2, 3]);
    });
  });

  it("test_tan, test_sinh, test_cosh, test_tanh", () => {
    const sec2 = (x: number): number => 1 / Math.cos(x) ** 2;
    eachDim(normal, (a, s) => {
      checkSecondOrderUnary(a, s, nd.tan, (x) => 2 * Math.tan(x) * sec2(x), 1e-4, 1e-4);
      checkSecondOrderUnary(a, s, nd.sinh, Math.sinh);
      checkSecondOrderUnary(a, s, nd.cosh, Math.cosh);
      const dtanh = (x: number): number => 1 - Math.tanh(x) ** 2;
      checkNthOrderUnary(a, s, nd.tanh, dtanh, 1, 1e-6, 1e-6);
      checkSecondOrderUnary(a, s, nd.tanh, (x) => -2 * Math.tanh(x) * dtanh(x), 1e-5, 1e-5);
    });
  });

  it("test_arcsin, test_arccos, test_arctanh (inside (-0.99, 0.99))", () => {
    eachDim(uniform(-0.99, 0.99), (a, s) => {
      checkSecondOrderUnary(a, s, nd.arcsin, (x) => x / Math.sqrt((1 - x * x) ** 3), 1e-4, 1e-4);
      checkSecondOrderUnary(a, s, nd.arccos, (x) => -x / Math.sqrt((1 - x * x) ** 3), 1e-4, 1e-4);
      checkSecondOrderUnary(a, s, nd.arctanh, (x) => (2 * x) / (1 - x * x) ** 2, 1e-4, 1e-4);
    });
  });

  it("test_arctan (scaled by 500..10000), test_arcsinh, test_arccosh", () => {
    const scale = 500 + Math.floor(rand() * 9500);
    eachDim(() => normal() * scale, (a, s) => checkSecondOrderUnary(a, s, nd.arctan, (x) => (-2 * x) / (1 + x * x) ** 2));
    // MXNet 1.9.1's test_arcsinh and test_arccosh expect +x/(x² ± 1)^(3/2), and
    // its _backward_arcsinh/_backward_arccosh gradients agree with them: the
    // sign is wrong there (d/dx (x² ± 1)^(-1/2) = -x·(x² ± 1)^(-3/2); PyTorch's
    // vectors in tests/vectors/autograd.json and the differences in
    // tests/ts/secondorder.test.ts agree with ndgrad). The true values here.
    eachDim(normal, (a, s) => checkSecondOrderUnary(a, s, nd.arcsinh, (x) => -x / Math.sqrt((x * x + 1) ** 3)));
    const sigma = 25 + Math.floor(rand() * 75);
    const mu = 500 + Math.floor(rand() * 500);
    eachDim(
      () => normal() * sigma + mu,
      (a, s) => {
        expect(a.every((v) => v > 1)).toBe(true);
        checkSecondOrderUnary(a, s, nd.arccosh, (x) => -x / (Math.sqrt(x - 1) * Math.sqrt(x + 1) * (x + 1) * (x - 1)), 1e-4, 1e-9);
      },
    );
  });

  it("test_relu, test_abs, test_clip, test_dropout: zeros", () => {
    eachDim(normal, (a, s) => {
      checkSecondOrderUnary(a, s, nd.relu, () => 0);
      checkSecondOrderUnary(a, s, nd.abs, () => 0);
      const [lo, hi] = [rand(), rand()].sort((p, q) => p - q) as [number, number];
      checkSecondOrderUnary(a, s, (x) => nd.clip(x, lo, hi), () => 0);
      checkSecondOrderUnary(a, s, (x) => nd.dropout(x), () => 0);
    });
  });

  it("test_log (orders 1 and 2), test_log2, test_log10, test_log1p, test_expm1, test_square, test_reciprocal", () => {
    eachDim(normal, (a, s) => {
      checkSecondOrderUnary(a, s, nd.log, (x) => -1 / x ** 2);
      checkNthOrderUnary(a, s, nd.log, [(x) => 1 / x, (x) => -1 / x ** 2], [1, 2]);
      checkSecondOrderUnary(a, s, nd.log2, (x) => -1 / (x ** 2 * Math.LN2));
      checkSecondOrderUnary(a, s, nd.log10, (x) => -1 / (x ** 2 * Math.LN10));
      checkSecondOrderUnary(a, s, nd.square, () => 2);
      checkSecondOrderUnary(a, s, nd.expm1, Math.exp);
      checkSecondOrderUnary(a, s, nd.reciprocal, (x) => 2 / x ** 3);
    });
    // log1p: MXNet draws normals; -1/(1+x)² is only meaningful above -1.
    eachDim(uniform(-0.9, 3), (a, s) => checkSecondOrderUnary(a, s, nd.log1p, (x) => -1 / (1 + x) ** 2));
  });

  it("test_sigmoid: orders 1 and 2", () => {
    const sig = (x: number): number => 1 / (1 + Math.exp(-x));
    const d1 = (x: number): number => sig(x) * (1 - sig(x));
    const d2 = (x: number): number => d1(x) * (1 - 2 * sig(x));
    eachDim(normal, (a, s) => {
      checkSecondOrderUnary(a, s, nd.sigmoid, d2);
      checkNthOrderUnary(a, s, nd.sigmoid, [d1, d2], [1, 2]);
      checkNthOrderUnary(a, s, nd.sigmoid, d2, 2);
    });
  });

  it("test_sqrt, test_cbrt, test_rsqrt (positive: normal·sigma + mu)", () => {
    const sigma = 25 + Math.floor(rand() * 75);
    const mu = 500 + Math.floor(rand() * 500);
    eachDim(
      () => normal() * sigma + mu,
      (a, s) => {
        expect(a.every((v) => v > 0)).toBe(true);
        checkSecondOrderUnary(a, s, nd.sqrt, (x) => -1 / (4 * Math.sqrt(x ** 3)), 1e-4, 1e-12);
        checkSecondOrderUnary(a, s, nd.cbrt, (x) => -2 / (9 * Math.cbrt(x ** 5)), 1e-4, 1e-12);
        checkSecondOrderUnary(a, s, nd.rsqrt, (x) => 3 / (4 * Math.sqrt(x ** 5)), 1e-4, 1e-12);
      },
    );
  });

  /** MXNet's arange_shape_like. */
  const arangeLike = (shape: number[]): NDArray => nd.arange(size(shape)).reshape(shape);
  /** gluon.nn.Dense(hidden) initialised with Constant(0.5): y = x·wᵀ + b.
   *  ndgrad has no FullyConnected op: the weight variable is held transposed
   *  (`wT`, [in_units, hidden]) so that y = dot(x, wT) + b has no node between
   *  the variable and dot. (With `w.T` the transpose node would be part of
   *  x_grad's graph, which the createGraph: false call frees, as PyTorch's
   *  retain_graph=False would: the later grad(y, w) would find it gone.) */
  function denseCase(x: NDArray, hidden: number, flatten: boolean): void {
    const inUnits = flatten ? size(x.shape.slice(1)) : x.shape[x.shape.length - 1]!;
    const wT = nd.full([inUnits, hidden], 0.5);
    const b = nd.full([hidden], 0.5);
    wT.attachGrad();
    b.attachGrad();
    x.attachGrad();
    const flat = (t: NDArray): NDArray => (flatten ? t.reshape(t.shape[0]!, -1) : t.reshape(-1, t.shape[t.shape.length - 1]!));
    const r = autograd.record(() => {
      const y = (flatten ? x.reshape(x.shape[0]!, -1) : x).dot(wT).add(b);
      const oY = arangeLike(y.shape);
      const xGrad = autograd.grad(y, x, { headGrads: oY, createGraph: true, retainGraph: true })[0]!;
      const oXGrad = arangeLike(xGrad.shape);
      const wGradGrad = autograd.grad(xGrad, wT, { headGrads: oXGrad, createGraph: false })[0]!.T;
      const wGrad = autograd.grad(y, wT, { headGrads: oY, createGraph: true, retainGraph: true })[0]!.T;
      const oWGrad = arangeLike(wGrad.shape);
      const xGradGrad = autograd.grad(wGrad, x, { headGrads: oWGrad, createGraph: false })[0]!;
      return { oY, xGrad, oXGrad, wGradGrad, wGrad, oWGrad, xGradGrad };
    });
    const w = wT.T;
    // expected results (all values are small integers: exact in float32)
    const oY = flat(r.oY);
    const wGradE = nd.dot(oY, flat(x), { transposeA: true });
    const wGradGradE = nd.dot(oY, flat(r.oXGrad), { transposeA: true });
    const xGradE = nd.dot(oY, w);
    const xGradGradE = nd.dot(oY, r.oWGrad);
    expect(r.wGrad.shape).toEqual(w.shape);
    expect(r.wGradGrad.shape).toEqual(w.shape);
    expect(r.xGrad.shape).toEqual(x.shape);
    expect(r.xGradGrad.shape).toEqual(x.shape);
    expect(r.wGrad.toArray()).toEqual(wGradE.toArray());
    expect(r.wGradGrad.toArray()).toEqual(wGradGradE.toArray());
    expect(flat(r.xGrad).toArray()).toEqual(xGradE.toArray());
    expect(flat(r.xGradGrad).toArray()).toEqual(xGradGradE.toArray());
    for (const t of [wT, b, x]) t.dispose();
  }

  it("test_dense_backward_flatten (x of rank 2..4)", () => {
    for (let dim = 2; dim <= 4; dim++) {
      nd.scope(() => denseCase(arangeLike(randShape(dim, 4)), 1 + Math.floor(rand() * 3), true));
    }
  });

  it("test_dense_backward_no_flatten (x of rank 3..5)", () => {
    for (let dim = 3; dim <= 5; dim++) {
      nd.scope(() => denseCase(arangeLike(randShape(dim, 4)), 1 + Math.floor(rand() * 3), false));
    }
  });
});

describe("issue #11: higher order through piecewise and linear ops stays connected", () => {
  it("test_relu as in the issue: x_grad.backward(head_grad_grads) leaves x.grad zero (rank 1..4)", () => {
    for (let dim = 1; dim <= 4; dim++) {
      nd.scope(() => {
        const shape = randShape(dim);
        const x = nd.array(normals(size(shape)), { shape });
        const yGrad = nd.array(normals(size(shape)), { shape });
        const headGradGrads = nd.array(normals(size(shape)), { shape });
        x.attachGrad();
        const xGrad = autograd.record(() => {
          const y = nd.relu(x);
          return autograd.grad(y, x, { headGrads: yGrad, createGraph: true, retainGraph: true })[0]!;
        });
        const xs = x.data();
        const hg = yGrad.data();
        expect(plain(xGrad)).toEqual(Array.from(xs, (v, i) => (v > 0 ? hg[i]! : 0)));
        // A stale first-order gradient in x.grad is overwritten.
        autograd.record(() => nd.relu(x)).backward(yGrad);
        expect(x.grad!.data().some((v) => v !== 0)).toBe(true);
        xGrad.backward(headGradGrads);
        expect(Array.from(x.grad!.data(), (v) => v + 0)).toEqual(Array.from(xs, () => 0));
        x.dispose();
      });
    }
  });

  it("each op of the issue: y = f(x), xg = grad([y], [x], {headGrads: [ones], createGraph}), xg.backward() gives zeros, in float32 and float64", () => {
    const c = nd.array([0.5, -1, 1.5]);
    const fs: [string, (x: NDArray) => NDArray][] = [
      ["relu", (x) => x.relu()],
      ["sign", (x) => x.sign()],
      ["floor", (x) => x.floor()],
      ["round", (x) => x.round()],
      ["clip", (x) => x.clip(-0.5, 0.5)],
      ["maximum", (x) => nd.maximum(x, c.astype(x.dtype))],
      ["minimum", (x) => nd.minimum(0.1, x)],
      ["leakyRelu", (x) => x.leakyRelu(0.3)],
      ["max", (x) => x.max(1)],
      ["min", (x) => x.min()],
      ["where", (x) => nd.where(x.greater(0), x, nd.zerosLike(x))],
      ["take", (x) => x.take(nd.array([1, 0, 1]))],
      ["pick", (x) => x.pick(nd.array([2, 0]), 1)],
      ["sort", (x) => x.sort()],
      ["topk", (x) => x.topk({ k: 2, retTyp: "value" })],
      ["add", (x) => x.add(x)],
      ["mul by a number", (x) => x.mul(3)],
      ["reshape", (x) => x.reshape(3, 2)],
      ["transpose", (x) => x.transpose()],
      ["slice", (x) => x.slice(1)],
      ["sum", (x) => x.sum()],
      ["flip", (x) => x.flip(0)],
      ["tile", (x) => x.tile([2, 2])],
    ];
    for (const dtype of ["float32", "float64"] as const) {
      for (const [name, f] of fs) {
        nd.scope(() => {
          const x = nd.array([[0.3, -0.7, 1.9], [-1.2, 0.8, 2.6]], { dtype });
          x.attachGrad();
          x.grad!.set(7); // stale
          const y = autograd.record(() => f(x));
          const [xg] = autograd.grad([y], [x], { headGrads: [nd.onesLike(y)], createGraph: true });
          xg!.backward();
          expect(x.grad!.dtype, name).toBe(dtype);
          expect(x.grad!.shape, name).toEqual([2, 3]);
          expect(Array.from(x.grad!.data(), (v) => v + 0), `${name} ${dtype}`).toEqual([0, 0, 0, 0, 0, 0]);
          x.dispose();
        });
      }
    }
    c.dispose();
  });

  it("a recorded head gradient keeps its own path; several paths add; gradReq 'add' accumulates zeros", () => {
    nd.scope(() => {
      const x = nd.array([-1.5, -0.5, 0.5, 2], { dtype: "float64" });
      x.attachGrad();
      // head gradient x² for relu: g = x²·(x > 0), dg/dx = 2x·(x > 0)
      const g = autograd.record(() => {
        const hg = x.square();
        return autograd.grad(x.relu(), x, { headGrads: hg, createGraph: true })[0]!;
      });
      expect(plain(g)).toEqual([0, 0, 0.25, 4]);
      g.backward();
      expect(plain(x.grad!)).toEqual([0, 0, 1, 4]);
      // relu(x) + relu(x) + x²: d² = 2
      const g2 = autograd.record(() => {
        const y = x.relu().add(x.relu()).add(x.square()).sum();
        return autograd.grad(y, x, { createGraph: true })[0]!;
      });
      expect(plain(g2)).toEqual([-3, -1, 3, 6]);
      g2.backward();
      expect(plain(x.grad!)).toEqual([2, 2, 2, 2]);
      x.dispose();

      const a = nd.array([1, -2]);
      a.attachGrad("add");
      a.grad!.set(5);
      const ga = autograd.grad(autograd.record(() => a.relu().sum()), a, { createGraph: true })[0]!;
      ga.backward();
      expect(plain(a.grad!)).toEqual([5, 5]);
      a.dispose();
    });
  });

  it("autograd.Function: a backward linear in dy is tied to the variable too (zeros)", () => {
    class Triple extends autograd.Function {
      override forward(x: NDArray): NDArray {
        return x.mul(3);
      }
      override backward(dy: NDArray): NDArray {
        return dy.mul(3);
      }
    }
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const y = autograd.record(() => (new Triple().apply(x) as NDArray).sum());
      const [g] = autograd.grad(y, x, { createGraph: true });
      expect(plain(g!)).toEqual([3, 3]);
      x.grad!.set(1);
      g!.backward();
      expect(plain(x.grad!)).toEqual([0, 0]);
      // and the gradient's gradient, by autograd.grad, from a fresh graph
      const y2 = autograd.record(() => (new Triple().apply(x) as NDArray).sum());
      const [g2] = autograd.grad(y2, x, { createGraph: true });
      expect(plain(autograd.grad(g2!, x)[0]!)).toEqual([0, 0]);
      x.dispose();
    });
  });

  it("a third order through relu is zero again, and every order stays in the graph", () => {
    nd.scope(() => {
      const x = nd.array([-1, 0.5, 2]);
      x.attachGrad();
      const [g1, g2, g3] = autograd.record(() => {
        const g1 = autograd.grad(x.relu(), x, { headGrads: nd.array([2, 3, 4]), createGraph: true })[0]!;
        const g2 = autograd.grad(g1, x, { headGrads: nd.array([1, 1, 1]), createGraph: true })[0]!;
        const g3 = autograd.grad(g2, x, { headGrads: nd.array([1, 1, 1]), createGraph: true })[0]!;
        return [g1, g2, g3];
      });
      expect(plain(g1!)).toEqual([0, 3, 4]);
      expect(plain(g2!)).toEqual([0, 0, 0]);
      expect(plain(g3!)).toEqual([0, 0, 0]);
      g3!.backward();
      expect(plain(x.grad!)).toEqual([0, 0, 0]);
      x.dispose();
    });
  });
});
