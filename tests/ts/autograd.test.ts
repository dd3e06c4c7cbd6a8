// autograd beyond the tutorial: several heads, head gradients, retainGraph,
// grad_req, modes, and autograd.grad with createGraph (second derivatives
// checked against the analytic ones).
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

function close(actual: ArrayLike<number>, expected: number[], rtol = 2e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * Math.max(1, Math.abs(expected[i]!));
    expect(Math.abs(actual[i]! - expected[i]!), `element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol);
  }
}

const xs = [0.3, 0.7, 1.3, 2.1];

// f, f', f'' for ops whose second derivative is not zero.
const SECOND: [string, (x: NDArray) => NDArray, (v: number) => number, (v: number) => number][] = [
  ["exp", (x) => x.exp(), Math.exp, Math.exp],
  ["log", (x) => x.log(), (v) => 1 / v, (v) => -1 / (v * v)],
  ["sqrt", (x) => x.sqrt(), (v) => 0.5 / Math.sqrt(v), (v) => -0.25 * v ** -1.5],
  ["square", (x) => x.square(), (v) => 2 * v, () => 2],
  ["sigmoid", (x) => x.sigmoid(), (v) => s(v) * (1 - s(v)), (v) => s(v) * (1 - s(v)) * (1 - 2 * s(v))],
  ["tanh", (x) => x.tanh(), (v) => 1 - Math.tanh(v) ** 2, (v) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2)],
  ["pow(x,3)", (x) => x.pow(3), (v) => 3 * v * v, (v) => 6 * v],
  ["pow(2,x)", (x) => nd.pow(2, x), (v) => 2 ** v * Math.LN2, (v) => 2 ** v * Math.LN2 ** 2],
  ["x^x", (x) => x.pow(x), (v) => v ** v * (Math.log(v) + 1), (v) => v ** v * ((Math.log(v) + 1) ** 2 + 1 / v)],
  ["1/x", (x) => nd.div(1, x), (v) => -1 / (v * v), (v) => 2 / v ** 3],
  ["x/(x+1)", (x) => x.div(x.add(1)), (v) => 1 / (v + 1) ** 2, (v) => -2 / (v + 1) ** 3],
  ["x*x*x", (x) => x.mul(x).mul(x), (v) => 3 * v * v, (v) => 6 * v],
  ["sum(x)^2", (x) => x.sum().square().broadcastTo([4]), (v) => 0 * v, () => 0],
];
function s(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

describe("autograd.grad", () => {
  it("returns new arrays and leaves .grad untouched", () => {
    nd.scope(() => {
      const x = nd.array([1, 2, 3]);
      x.attachGrad();
      const y = autograd.record(() => x.mul(x).sum());
      const [g] = autograd.grad(y, x);
      expect(g!.toArray()).toEqual([2, 4, 6]);
      expect(x.grad!.toArray()).toEqual([0, 0, 0]);
      // Without createGraph the graph is freed (retainGraph defaults to createGraph).
      expect(nd.memory().tapeNodes).toBe(0);
      expect(() => autograd.grad(y, x)).toThrow(/not in a computational graph/);
      x.dispose();
    });
  });

  it("gives zeros for a variable the heads do not depend on, and errors for one without a gradient", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      const w = nd.array([5, 6]);
      const plain = nd.array([7, 8]);
      x.attachGrad();
      w.attachGrad();
      const y = autograd.record(() => x.exp().sum());
      const [gx, gw] = autograd.grad(y, [x, w], { retainGraph: true });
      close(gx!.data(), [Math.E, Math.exp(2)]);
      expect(gw!.toArray()).toEqual([0, 0]);
      expect(() => autograd.grad(y, [x, plain])).toThrow(
        "grad: Cannot differentiate with respect to the 2-th variable because it does not require gradient",
      );
      x.dispose();
      w.dispose();
    });
  });

  it.each(SECOND.map((c) => [c[0], c] as const))("createGraph gives the second derivative of %s", (_n, c) => {
    const [, f, d1, d2] = c;
    nd.scope(() => {
      const x = nd.array(xs);
      x.attachGrad();
      const y = autograd.record(() => f(x));
      const [g] = autograd.grad(y, x, { createGraph: true });
      close(g!.data(), c[0] === "sum(x)^2" ? xs.map(() => 8 * xs.reduce((a, b) => a + b, 0)) : xs.map(d1));
      const gg = autograd.record(() => g!.sum());
      gg.backward();
      close(x.grad!.data(), c[0] === "sum(x)^2" ? xs.map(() => 32) : xs.map(d2), 1e-4);
      x.dispose();
    });
  });

  it("third derivatives: d³/dx³ x⁴ = 24x", () => {
    nd.scope(() => {
      const x = nd.array([0.5, 1, 2]);
      x.attachGrad();
      const y = autograd.record(() => x.pow(4).sum());
      const [g1] = autograd.grad(y, x, { createGraph: true });
      const s1 = autograd.record(() => g1!.sum());
      const [g2] = autograd.grad(s1, x, { createGraph: true });
      close(g2!.data(), [3, 12, 48]);
      const s2 = autograd.record(() => g2!.sum());
      const [g3] = autograd.grad(s2, x);
      close(g3!.data(), [12, 24, 48]);
      x.dispose();
    });
  });

  it("a Hessian-vector product through dot and broadcasting", () => {
    nd.scope(() => {
      // f(w) = sum(tanh(A·w)), H = Aᵀ diag(tanh''(A·w)) A
      const A = nd.array([[1, 2], [0.5, -1], [2, 0.25]]);
      const w = nd.array([[0.3], [-0.2]]);
      const v = nd.array([[1], [2]]);
      w.attachGrad();
      const y = autograd.record(() => A.dot(w).tanh().sum());
      const [g] = autograd.grad(y, w, { createGraph: true });
      const gv = autograd.record(() => g!.mul(v).sum());
      gv.backward();
      const a = [[1, 2], [0.5, -1], [2, 0.25]];
      const z = a.map((r) => r[0]! * 0.3 + r[1]! * -0.2);
      const t2 = z.map((zz) => -2 * Math.tanh(zz) * (1 - Math.tanh(zz) ** 2));
      const Av = a.map((r) => r[0]! * 1 + r[1]! * 2);
      const hv = [0, 1].map((j) => a.reduce((acc, r, i) => acc + r[j]! * t2[i]! * Av[i]!, 0));
      close(w.grad!.data(), hv, 1e-4);
      w.dispose();
    });
  });
});

describe("backward options and modes", () => {
  it("retainGraph allows a second backward; grad_req add accumulates; null leaves zeros", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      const z = nd.array([3, 4]);
      x.attachGrad("add");
      z.attachGrad("null");
      const y = autograd.record(() => x.mul(z).sum());
      y.backward(null, { retainGraph: true });
      expect(nd.memory().tapeNodes).toBeGreaterThan(0);
      y.backward();
      expect(x.grad!.toArray()).toEqual([6, 8]);
      expect(z.grad!.toArray()).toEqual([0, 0]);
      expect(nd.memory().tapeNodes).toBe(0);
      x.dispose();
      z.dispose();
    });
  });

  it("an explicit head gradient scales the result", () => {
    nd.scope(() => {
      const x = nd.array([1, 2, 3]);
      x.attachGrad();
      const y = autograd.record(() => x.square());
      y.backward(nd.array([1, 0.5, -1]));
      expect(x.grad!.toArray()).toEqual([2, 2, -6]);
      x.dispose();
    });
  });

  it("autograd.backward takes several heads", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const [a, b] = autograd.record(() => [x.mul(3), x.square().sum()]);
      autograd.backward([a!, b!], { headGrads: [nd.array([1, 1]), null] });
      expect(x.grad!.toArray()).toEqual([5, 7]);
      x.dispose();
    });
  });

  it("record, pause, trainMode and predictMode set and restore the flags, also on exceptions", () => {
    expect(autograd.isRecording()).toBe(false);
    expect(autograd.isTraining()).toBe(false);
    autograd.record(() => {
      expect(autograd.isRecording()).toBe(true);
      expect(autograd.isTraining()).toBe(true);
      autograd.pause(() => {
        expect(autograd.isRecording()).toBe(false);
        expect(autograd.isTraining()).toBe(false);
      });
      autograd.predictMode(() => {
        expect(autograd.isRecording()).toBe(true);
        expect(autograd.isTraining()).toBe(false);
      });
    });
    autograd.record(() => expect(autograd.isTraining()).toBe(false), { trainMode: false });
    autograd.trainMode(() => expect(autograd.isTraining()).toBe(true));
    expect(() =>
      autograd.record(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(autograd.isRecording()).toBe(false);
    expect(autograd.isTraining()).toBe(false);
  });

  it("ops paused inside record are not part of the graph", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const y = autograd.record(() => {
        const c = autograd.pause(() => x.mul(10));
        return x.mul(c).sum();
      });
      y.backward();
      expect(x.grad!.toArray()).toEqual([10, 20]);
      x.dispose();
    });
  });

  it("detach cuts the graph", () => {
    nd.scope(() => {
      const x = nd.array([2, 3]);
      x.attachGrad();
      const y = autograd.record(() => x.mul(x.detach()).sum());
      y.backward();
      expect(x.grad!.toArray()).toEqual([2, 3]);
      x.dispose();
    });
  });
});

describe("autograd.markVariables", () => {
  it("writes gradients into the given buffers, with each gradReq", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      const y = nd.array([3]);
      const gx = nd.zeros([2]);
      const gy = nd.full([1], 100);
      autograd.markVariables([x, y], [gx, gy], ["write", "add"]);
      autograd.record(() => x.mul(y).sum()).backward();
      expect(gx.toArray()).toEqual([3, 3]);
      expect(gy.toArray()).toEqual([103]);
      expect(x.grad!.toArray()).toEqual([3, 3]); // the same buffer
      expect(() => autograd.markVariables([x], [nd.zeros([3])])).toThrow(
        "markVariables: gradient of shape [3] for a variable of shape [2]",
      );
      expect(() => autograd.markVariables([x, y], [gx])).toThrow(/same length/);
      x.dispose();
      y.dispose();
    });
  });
});

describe("nd.dropout and the train/predict modes", () => {
  it("is the identity in predict mode and a scaled, seeded mask in train mode", () => {
    nd.scope(() => {
      const x = nd.ones([1000]);
      x.attachGrad();
      expect(nd.dropout(x, 0.3).toArray()).toEqual(x.toArray()); // not recording: predict mode
      nd.random.seed(7);
      const y = autograd.record(() => nd.dropout(x, 0.3));
      const v = y.data();
      const kept = v.filter((e) => e !== 0);
      expect(kept.every((e) => Math.abs(e - 1 / 0.7) < 1e-6)).toBe(true);
      expect(Math.abs(kept.length / 1000 - 0.7)).toBeLessThan(0.06);
      y.backward();
      expect(Array.from(x.grad!.data())).toEqual(Array.from(v)); // the gradient is the mask
      nd.random.seed(7);
      const again = autograd.record(() => nd.dropout(x, 0.3));
      expect(Array.from(again.data())).toEqual(Array.from(v));
      const inPredict = autograd.record(() => nd.dropout(x, 0.3), { trainMode: false });
      expect(inPredict.toArray()).toEqual(x.toArray());
      const viaPredictMode = autograd.record(() => autograd.predictMode(() => nd.dropout(x, 0.3)));
      expect(viaPredictMode.toArray()).toEqual(x.toArray());
      const viaTrainMode = autograd.trainMode(() => nd.dropout(x, 0.3));
      expect(viaTrainMode.data().some((e) => e === 0)).toBe(true);
      expect(() => nd.dropout(x, 1)).toThrow("dropout: p must be in [0, 1) (got 1)");
      x.dispose();
    });
  });
});
