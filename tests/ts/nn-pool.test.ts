// nd.Pooling, nd.BatchNorm, nd.LayerNorm beyond the first-order vectors
// (those run in ops.test.ts with every other op), through the .wasm:
// * second order: tests/vectors/hvp-nn-pool.json (PyTorch float64 with
//   create_graph, tests/vectors/gen_nn_pool.py): the gradient under
//   createGraph, then the gradient of Σ g·v w.r.t. every input and the head;
// * BatchNorm's moving statistics, updated in place when the backward pass
//   runs (MXNet 1.9.1's BatchNormBackwardImpl), against `moving_after`;
// * nd.poolingShape (the engine's shape rule, no array) agreeing with the
//   arrays nd.Pooling returns, for every Pooling case.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray, type PoolingOptions } from "ndgrad";
import { decodeValue, expectNoLeaks, opsVectors, vectors, type Value } from "./helpers.js";

afterEach(expectNoLeaks);

type DT = "float32" | "float64";
interface Arr {
  dtype: DT;
  shape: number[];
  data: Value[];
}
interface Expected extends Arr {
  rtol: number;
  atol: number;
}
type Params = Record<string, unknown>;
interface Hvp {
  name: string;
  op: string;
  dtype: DT;
  params: Params;
  inputs: Arr[];
  wants: number[];
  head: Arr;
  v: Arr[];
  first: Expected[];
  second: Expected[];
}
interface Case {
  name: string;
  op: string;
  dtype: DT;
  params: Params;
  inputs: Arr[];
  output: Expected;
  head: Arr;
  moving_after?: [Expected, Expected];
}

const load = (a: Arr): NDArray => nd.array(a.data.map(decodeValue), { shape: a.shape, dtype: a.dtype });

function poolingOptions(q: Params): PoolingOptions {
  return {
    poolType: q.pool_type as PoolingOptions["poolType"],
    globalPool: q.global_pool as boolean,
    poolingConvention: q.pooling_convention as PoolingOptions["poolingConvention"],
    countIncludePad: q.count_include_pad as boolean,
    ...(q.kernel === undefined ? {} : { kernel: q.kernel as number[] }),
    ...(q.stride === undefined ? {} : { stride: q.stride as number[] }),
    ...(q.pad === undefined ? {} : { pad: q.pad as number[] }),
  };
}

function apply(op: string, q: Params, xs: NDArray[]): NDArray {
  switch (op) {
    case "Pooling":
      return nd.Pooling(xs[0]!, poolingOptions(q));
    case "BatchNorm":
      return nd.BatchNorm(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, {
        eps: q.eps as number,
        momentum: q.momentum as number,
        fixGamma: q.fix_gamma as boolean,
        useGlobalStats: q.use_global_stats as boolean,
        axis: q.axis as number,
      });
    case "LayerNorm":
      return nd.LayerNorm(xs[0]!, xs[1]!, xs[2]!, { axis: q.axis as number, eps: q.eps as number });
    default:
      throw new Error(`unknown op ${op}`);
  }
}

let worstUse = 0;
function check(what: string, got: NDArray, want: Expected): void {
  expect(got.dtype, what).toBe(want.dtype);
  expect(got.shape, what).toEqual(want.shape);
  const g = got.data();
  const bad: string[] = [];
  want.data.forEach((wv, i) => {
    const w = decodeValue(wv);
    const err = Math.abs(g[i]! - w);
    const lim = want.atol + want.rtol * Math.abs(w);
    worstUse = Math.max(worstUse, err / lim);
    if (!(err <= lim)) bad.push(`[${i}] got ${g[i]} want ${w}`);
  });
  expect(bad, what).toEqual([]);
}

describe("second-order vectors (PyTorch, create_graph)", () => {
  const cases = vectors<Hvp[]>("hvp-nn-pool.json");
  it("cover the three operators in both float dtypes", () => {
    for (const op of ["Pooling", "BatchNorm", "LayerNorm"]) {
      for (const dt of ["float32", "float64"]) expect(cases.some((c) => c.op === op && c.dtype === dt), `${op} ${dt}`).toBe(true);
    }
  });
  it.each(cases.map((c) => ({ name: c.name, c })))("$name", ({ c }) => {
    const xs = c.inputs.map(load);
    const h = load(c.head);
    try {
      nd.scope(() => {
        for (const i of c.wants) xs[i]!.attachGrad();
        h.attachGrad();
        const vars = c.wants.map((i) => xs[i]!);
        const vs = c.v.map(load);
        const train = c.params.train === true;
        const z = autograd.record(
          () => {
            const y = apply(c.op, c.params, xs);
            // Σ y·h: its gradient is the vector-Jacobian product with head h,
            // recorded as a function of h as well.
            const gs = autograd.grad(y.mul(h).sum(), vars, { createGraph: true });
            gs.forEach((g, k) => check(`${c.name}: gradient ${k}`, g, c.first[k]!));
            return gs.map((g, k) => g.mul(vs[k]!).sum()).reduce((a, b) => a.add(b));
          },
          { trainMode: train },
        );
        const second = autograd.grad(z, [...vars, h]);
        second.forEach((g, k) => check(`${c.name}: second order ${k}`, g, c.second[k]!));
      });
    } finally {
      for (const x of xs) x.dispose();
      h.dispose();
    }
  });
});

const cases = opsVectors<Case>();

describe("BatchNorm's moving statistics (MXNet: updated when backward runs)", () => {
  const train = cases.filter((c) => c.moving_after !== undefined);
  it("has train cases in both dtypes", () => {
    expect(train.filter((c) => c.dtype === "float32").length).toBeGreaterThanOrEqual(4);
    expect(train.filter((c) => c.dtype === "float64").length).toBeGreaterThanOrEqual(4);
  });
  it.each(train.map((c) => ({ name: c.name, c })))("$name", ({ c }) => {
    const xs = c.inputs.map(load);
    try {
      nd.scope(() => {
        xs[0]!.attachGrad();
        xs[1]!.attachGrad();
        const y = autograd.record(() => apply(c.op, c.params, xs));
        check(`${c.name}: output`, y, c.output);
        // Forward alone leaves them.
        expect(Array.from(xs[3]!.data())).toEqual(c.inputs[3]!.data.map(decodeValue).map((v) => (c.dtype === "float32" ? Math.fround(v) : v)));
        y.backward(load(c.head));
        check(`${c.name}: moving mean`, xs[3]!, c.moving_after![0]);
        check(`${c.name}: moving var`, xs[4]!, c.moving_after![1]);
      });
    } finally {
      for (const x of xs) x.dispose();
    }
  });
  it("stay as they are in predict mode, outside record, and with useGlobalStats", () => {
    nd.scope(() => {
      const x = nd.array([[1, 2], [3, 5]]);
      const [g, b] = [nd.array([1, 2]), nd.array([0, 1])];
      const [mm, mv] = [nd.array([0.5, -1]), nd.array([2, 3])];
      x.attachGrad();
      const runs: (() => NDArray)[] = [
        () => autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false }), { trainMode: false }),
        () => autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false, useGlobalStats: true })),
      ];
      for (const run of runs) {
        const y = run();
        const want = [0.5 / Math.sqrt(2.001), (3 / Math.sqrt(3.001)) * 2 + 1, 2.5 / Math.sqrt(2.001), (6 / Math.sqrt(3.001)) * 2 + 1];
        Array.from(y.data()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
        y.backward();
        expect(Array.from(mm.data())).toEqual([0.5, -1]);
        expect(Array.from(mv.data())).toEqual([2, 3]);
      }
      // Not recording: the moving statistics too (MXNet's is_train is false).
      const y = nd.BatchNorm(x, g, b, mm, mv);
      expect(y.data()[0]).toBeCloseTo(0.5 / Math.sqrt(2.001), 5);
      x.dispose(); // a variable outlives its scope
    });
  });
});

describe("nd.poolingShape", () => {
  const pools = cases.filter((c) => c.op === "Pooling");
  it("agrees with the arrays nd.Pooling returns, for every Pooling case", () => {
    expect(pools.length).toBeGreaterThan(20);
    nd.scope(() => {
      for (const c of pools) {
        const o = poolingOptions(c.params);
        expect(nd.poolingShape(c.inputs[0]!.shape, o), c.name).toEqual(c.output.shape);
        expect(nd.Pooling(load(c.inputs[0]!), o).shape, c.name).toEqual(c.output.shape);
      }
    });
  });
  it("takes numbers for every spatial axis, and reports bad input as nd.Pooling does", () => {
    expect(nd.poolingShape([8, 64, 56, 56], { kernel: 3, stride: 2, pad: 1 })).toEqual([8, 64, 28, 28]);
    expect(nd.poolingShape([1, 1, 6, 7], { kernel: [3, 2], stride: 2, poolingConvention: "full" })).toEqual([1, 1, 3, 4]);
    expect(nd.poolingShape([2, 3, 9], { kernel: 3 })).toEqual([2, 3, 7]);
    expect(nd.poolingShape([2, 3, 4, 5], { globalPool: true, poolType: "avg" })).toEqual([2, 3, 1, 1]);
    expect(() => nd.poolingShape([1, 1, 4, 4], { kernel: 5 })).toThrow(/^Pooling: kernel size \(5\) exceeds input \(4 padded to 4\) \(data shape \[1,1,4,4\]\)/);
    expect(() => nd.poolingShape([4, 4], { kernel: 2 })).toThrow(/Pooling.*\[4,4\]/);
  });
});
