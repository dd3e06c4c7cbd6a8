// The nnmisc group of issue #12 (FullyConnected, Embedding, Activation,
// LeakyReLU, Flatten, softmaxCrossEntropy) beyond the operator vectors of
// tests/ts/ops.test.ts (set "nn-misc"):
//
// * second derivatives held to PyTorch: every case of
//   tests/vectors/nn-misc-second.json (tests/vectors/gen_nn_nnmisc.py
//   documents it) replayed through the public API: g = autograd.grad(post(op),
//   wrt, {headGrads, createGraph}), s = Σ sum(g_i·v_i), autograd.grad(s, wrt);
// * MXNet's calling conventions and defaults that the vectors do not pin.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { decodeValue, expectNoLeaks, vectors, type Value } from "./helpers.js";

afterEach(expectNoLeaks);

type FloatDType = "float32" | "float64";
interface Tensor {
  dtype: "float32" | "float64" | "int32";
  shape: number[];
  data: Value[];
}
interface Expected extends Tensor {
  tol: number;
}
interface Case {
  name: string;
  dtype: FloatDType;
  op: string;
  params: Record<string, unknown>;
  inputs: Tensor[];
  consts: Record<string, Tensor>;
  post: "none" | "square" | "tanh";
  head: Tensor;
  wrt: number[];
  v: Tensor[];
  first: Expected[];
  expect: Expected[];
}

const V = vectors<{ torch: string; cases: Case[] }>("nn-misc-second.json");

function load(t: Tensor): NDArray {
  return nd.array(t.data.map(decodeValue), { shape: t.shape, dtype: t.dtype });
}

function forward(c: Case, xs: NDArray[]): NDArray {
  const p = c.params;
  let y: NDArray;
  switch (c.op) {
    case "FullyConnected":
      y = nd.FullyConnected(xs[0]!, xs[1]!, xs[2] ?? null, {
        numHidden: p.num_hidden as number,
        noBias: p.no_bias as boolean,
        flatten: p.flatten as boolean,
      });
      break;
    case "Embedding":
      y = nd.Embedding(load(c.consts.data!), xs[0]!, { inputDim: p.input_dim as number, outputDim: p.output_dim as number });
      break;
    case "Activation":
      y = nd.Activation(xs[0]!, { actType: p.act_type as "relu" });
      break;
    case "LeakyReLU":
      y = nd.LeakyReLU(xs[0]!, { actType: p.act_type as "leaky", slope: p.slope as number, ...(xs[1] ? { gamma: xs[1] } : {}) });
      break;
    case "Flatten":
      y = nd.Flatten(xs[0]!);
      break;
    case "softmaxCrossEntropy":
      y = nd.softmaxCrossEntropy(xs[0]!, load(c.consts.label!));
      break;
    default:
      throw new Error(`unknown op ${c.op}`);
  }
  return c.post === "square" ? y.square() : c.post === "tanh" ? y.tanh() : y;
}

function expectClose(what: string, got: NDArray, want: Expected): void {
  expect(got.shape, what).toEqual(want.shape);
  expect(got.dtype, what).toBe(want.dtype);
  const g = got.data();
  const bad: string[] = [];
  want.data.forEach((w, i) => {
    const d = Math.abs(g[i]! - decodeValue(w));
    if (!(d <= want.tol)) bad.push(`[${i}] got ${g[i]} want ${decodeValue(w)}`);
  });
  expect(bad, `${what} (tol ${want.tol})`).toEqual([]);
}

describe("nnmisc ops: second derivatives vs PyTorch", () => {
  it("cover every op in float32 and float64", () => {
    for (const op of ["FullyConnected", "Embedding", "Activation", "LeakyReLU", "Flatten", "softmaxCrossEntropy"]) {
      for (const dt of ["float32", "float64"]) {
        expect(V.cases.some((c) => c.op === op && c.dtype === dt), `${op} ${dt}`).toBe(true);
      }
    }
  });
  it.each(V.cases.map((c) => [c.name, c] as const))("%s", (_n, c) => {
    const xs = c.inputs.map(load);
    try {
      nd.scope(() => {
        const wrt = c.wrt.map((i) => xs[i]!);
        for (const x of wrt) x.attachGrad();
        const g = autograd.record(() => {
          const y = forward(c, xs);
          return autograd.grad(y, wrt, { headGrads: [load(c.head)], createGraph: true });
        });
        g.forEach((gi, i) => expectClose(`first derivative ${i}`, gi, c.first[i]!));
        const s = autograd.record(() =>
          g.map((gi, i) => gi.mul(load(c.v[i]!)).sum()).reduce((a, b) => a.add(b)),
        );
        const h = autograd.grad(s, wrt);
        h.forEach((hi, i) => expectClose(`Hessian-vector product ${i}`, hi, c.expect[i]!));
      });
    } finally {
      for (const x of xs) x.dispose();
    }
  });
});

describe("nnmisc ops: MXNet's conventions", () => {
  it("FullyConnected: bias null with noBias, flatten=false on the last axis, bias (numHidden, 1)", () => {
    nd.scope(() => {
      const x = nd.arange(0, 12).reshape([2, 2, 3]);
      const w = nd.array([[1, 0, -1], [0.5, 0.5, 0.5]]);
      const b = nd.array([1, -1]);
      const flat = nd.FullyConnected(x.reshape([4, 3]), w, b, { numHidden: 2 });
      const last = nd.FullyConnected(x, w, b, { numHidden: 2, flatten: false });
      expect(last.shape).toEqual([2, 2, 2]);
      expect(Array.from(last.data())).toEqual(Array.from(flat.data()));
      const nb = nd.FullyConnected(x, w, null, { numHidden: 2, noBias: true, flatten: false });
      expect(Array.from(nb.data())).toEqual(Array.from(flat.data()).map((v, i) => v - (i % 2 === 0 ? 1 : -1)));
      const b2 = nd.FullyConnected(x.reshape([4, 3]), w, b.reshape([2, 1]), { numHidden: 2 });
      expect(Array.from(b2.data())).toEqual(Array.from(flat.data()));
      // flatten=true: (2, 2·3) against a (2, 6) weight
      const w6 = nd.ones([2, 6]);
      expect(nd.FullyConnected(x, w6, null, { numHidden: 2, noBias: true }).toArray()).toEqual([[15, 15], [51, 51]]);
    });
  });

  it("Embedding clips out-of-range indices and passes the gradient to the weight only", () => {
    const w = nd.array([[1, 2], [3, 4], [5, 6]]);
    const idx = nd.array([-3, 0, 2, 9, 1.7], { dtype: "float64" });
    try {
      w.attachGrad();
      idx.attachGrad();
      nd.scope(() => {
        const y = autograd.record(() => nd.Embedding(idx, w, { inputDim: 3, outputDim: 2 }));
        expect(y.toArray()).toEqual([[1, 2], [1, 2], [5, 6], [5, 6], [3, 4]]);
        y.backward();
        expect(w.grad!.toArray()).toEqual([[2, 2], [1, 1], [2, 2]]);
        expect(idx.grad!.toArray()).toEqual([0, 0, 0, 0, 0]);
      });
    } finally {
      w.dispose();
      idx.dispose();
    }
  });

  it("LeakyReLU defaults to leaky with slope 0.25, as nd.leakyRelu; x.flatten() as nd.Flatten", () => {
    nd.scope(() => {
      const x = nd.array([[-2, 3], [0.5, -1]]);
      expect(nd.LeakyReLU(x).toArray()).toEqual(nd.leakyRelu(x).toArray());
      expect(nd.LeakyReLU(x).toArray()).toEqual([[-0.5, 3], [0.5, -0.25]]);
      const y = nd.ones([2, 3, 4]);
      expect(y.flatten().shape).toEqual([2, 12]);
      expect(nd.Flatten(nd.ones([5])).shape).toEqual([5, 1]);
    });
  });

  it("softmaxCrossEntropy: the summed negative log-probability of the labels, gradient softmax - onehot", () => {
    const x = nd.array([[1, 2, 0.5], [-1, 0, 3]], { dtype: "float64" });
    try {
      x.attachGrad();
      nd.scope(() => {
        const label = nd.array([1, 2], { dtype: "int32" });
        const l = autograd.record(() => nd.softmaxCrossEntropy(x, label));
        const lp = x.logSoftmax().data();
        expect(l.shape).toEqual([1]);
        expect(l.asscalar()).toBeCloseTo(-(lp[1]! + lp[5]!), 14);
        l.backward();
        const p = x.softmax().data();
        const want = Array.from(p).map((v, i) => v - (i === 1 || i === 5 ? 1 : 0));
        Array.from(x.grad!.data()).forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 14));
      });
    } finally {
      x.dispose();
    }
  });
});
