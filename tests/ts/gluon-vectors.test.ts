// gluon held to MXNet 1.9.1's rules re-implemented in NumPy: every case of
// tests/vectors/gluon.json (tests/vectors/gen_gluon.py documents how each
// reference is computed).
//
// * optim: gluon.Trainer with every optimizer and option over five steps
//   (lrMult/wdMult, schedules, batch sizes), the weights after each step;
// * losses: every loss's per-sample values and the gradient of their sum
//   w.r.t. pred (float64 central differences of MXNet's formula);
// * dense: nn.Dense outputs and the gradients w.r.t. input, weight, bias.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, gluon, nd, NDArray } from "ndgrad";
import type { OptimizerParams } from "ndgrad";
import { expectNoLeaks, vectors } from "./helpers.js";

afterEach(expectNoLeaks);

interface T {
  shape: number[];
  data: number[];
}
interface OptimCase {
  name: string;
  optimizer: string;
  options: Record<string, unknown>;
  dtype: "float32" | "float64";
  shapes: number[][];
  lrMult: number[];
  wdMult: number[];
  batchSizes: number[];
  weights: number[][];
  grads: number[][][];
  expected: number[][][];
}
interface LossCase {
  name: string;
  loss: string;
  options: Record<string, unknown>;
  pred: T;
  label: T;
  sampleWeight: T | null;
  expected: T;
  grad: number[];
}
interface DenseCase {
  name: string;
  units: number;
  options: Record<string, unknown>;
  x: T;
  weight: number[];
  bias: number[];
  head: number[];
  expected: T;
  gradX: number[];
  gradW: number[];
  gradB: number[] | null;
}
const V = vectors<{ optim: OptimCase[]; losses: LossCase[]; dense: DenseCase[] }>("gluon.json");

/** |got − want| ≤ atol + rtol·|want| everywhere; returns the worst ratio. */
function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): number {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const tol = atol + rtol * Math.abs(want[i]!);
    worst = Math.max(worst, err / tol);
    if (!(err <= tol)) {
      throw new Error(`${what}: element ${i}: got ${got[i]}, want ${want[i]} (|err| ${err} > ${tol})`);
    }
  }
  return worst;
}

function scheduler(spec: Record<string, unknown>): InstanceType<typeof gluon.lrScheduler.LRScheduler> {
  const s = gluon.lrScheduler;
  const base = spec.baseLr === undefined ? {} : { baseLr: spec.baseLr as number };
  switch (spec.kind) {
    case "factor":
      return new s.FactorScheduler(spec.step as number, { ...base, factor: spec.factor as number });
    case "multifactor":
      return new s.MultiFactorScheduler(spec.steps as number[], { ...base, factor: spec.factor as number });
    case "cosine":
      return new s.CosineScheduler(spec.maxUpdate as number, { ...base, finalLr: spec.finalLr as number });
  }
  throw new Error(`unknown scheduler ${String(spec.kind)}`);
}

describe("Trainer against NumPy re-implementations of MXNet's optimizers", () => {
  for (const c of V.optim) {
    it(c.name, () => {
      const params = c.shapes.map((shape, i) => {
        const p = new gluon.Parameter(`p${i}`, { shape, dtype: c.dtype, lrMult: c.lrMult[i], wdMult: c.wdMult[i] });
        p.initialize("zeros");
        using w = nd.array(c.weights[i]!, { shape, dtype: c.dtype });
        p.setData(w);
        return p;
      });
      const opts = { ...c.options } as OptimizerParams & { lrScheduler?: unknown };
      if (c.options.lrScheduler !== undefined) opts.lrScheduler = scheduler(c.options.lrScheduler as Record<string, unknown>);
      const trainer = new gluon.Trainer(params, c.optimizer, opts as OptimizerParams);
      // float32 kernels in the reference's operation order: a few ulps.
      const rtol = c.dtype === "float32" ? 2e-6 : 1e-13;
      for (let s = 0; s < c.batchSizes.length; s++) {
        params.forEach((p, i) => {
          using g = nd.array(c.grads[s]![i]!, { shape: c.shapes[i]!, dtype: c.dtype });
          p.grad().set(g);
          // written by hand, not by backward: fresh as backward would make it
          p.data()._freshGrad = true;
        });
        trainer.step(c.batchSizes[s]!);
        params.forEach((p, i) => close(`${c.name} step ${s} param ${i}`, p.data().data(), c.expected[s]![i]!, rtol, rtol));
      }
      trainer.dispose();
      for (const p of params) p.dispose();
    });
  }
});

function lossOf(c: LossCase): InstanceType<typeof gluon.loss.Loss> {
  const L = gluon.loss as unknown as Record<string, new (o: Record<string, unknown>) => InstanceType<typeof gluon.loss.Loss>>;
  return new L[c.loss]!(c.options);
}

describe("losses against MXNet's formulas (float64 NumPy)", () => {
  for (const c of V.losses) {
    it(c.name, () => {
      const loss = lossOf(c);
      const pred = nd.array(c.pred.data, { shape: c.pred.shape });
      const label = nd.array(c.label.data, { shape: c.label.shape });
      const sw = c.sampleWeight === null ? undefined : nd.array(c.sampleWeight.data, { shape: c.sampleWeight.shape });
      pred.attachGrad();
      const out = autograd.record(() => loss(pred, label, ...(sw === undefined ? [] : [sw])));
      expect(out.shape).toEqual(c.expected.shape);
      close(`${c.name} value`, out.data(), c.expected.data, 2e-5, 2e-6);
      out.backward();
      close(`${c.name} grad`, pred.grad!.data(), c.grad, 1e-4, 2e-5);
      for (const a of [out, pred, label, sw]) a?.dispose();
    });
  }
});

describe("nn.Dense against float64 references", () => {
  for (const c of V.dense) {
    it(c.name, () => {
      const layer = new gluon.nn.Dense(c.units, c.options);
      layer.initialize();
      const x = nd.array(c.x.data, { shape: c.x.shape });
      x.attachGrad();
      // Deferred init: the first batch fixes inUnits.
      const first = layer(x);
      first.dispose();
      const w = layer.weight.data();
      using wv = nd.array(c.weight, { shape: w.shape });
      w.set(wv);
      if (layer.bias !== null) {
        using bv = nd.array(c.bias);
        layer.bias.data().set(bv);
      }
      const out = autograd.record(() => layer(x));
      expect(out.shape).toEqual(c.expected.shape);
      close(`${c.name} out`, out.data(), c.expected.data, 1e-5, 1e-6);
      using head = nd.array(c.head, { shape: out.shape });
      out.backward(head);
      close(`${c.name} dx`, x.grad!.data(), c.gradX, 1e-4, 1e-5);
      close(`${c.name} dW`, layer.weight.grad().data(), c.gradW, 1e-4, 1e-5);
      if (c.gradB !== null) close(`${c.name} db`, layer.bias!.grad().data(), c.gradB, 1e-4, 1e-5);
      out.dispose();
      x.dispose();
      layer.dispose();
    });
  }
});

describe("finite differences through layers and losses (float64)", () => {
  const layers: [string, () => InstanceType<typeof gluon.nn.Block>][] = [
    ["Dense relu", () => new gluon.nn.Dense(3, { activation: "relu", dtype: "float64" })],
    ["Dense softsign, flatten false", () => new gluon.nn.Dense(3, { activation: "softsign", flatten: false, dtype: "float64" })],
    ["ELU", () => new gluon.nn.ELU(0.7)],
    ["SELU", () => new gluon.nn.SELU()],
    ["GELU", () => new gluon.nn.GELU()],
    ["Swish", () => new gluon.nn.Swish(1.5)],
    ["LeakyReLU", () => new gluon.nn.LeakyReLU(0.1)],
    ["Activation softrelu", () => new gluon.nn.Activation("softrelu")],
  ];
  for (const [name, make] of layers) {
    it(name, () => {
      nd.random.seed(3);
      const layer = make();
      layer.initialize();
      // Away from 0, where relu-like layers have their kink.
      const x = nd.scope(() => {
        const r = nd.random.uniform(0.2, 1.5, [2, 3, 2], "float64");
        const s = nd.random.uniform(0, 1, [2, 3, 2], "float64").greater(0.5).mul(2).sub(1);
        return r.mul(s);
      });
      layer(x).dispose(); // deferred init
      expect(autograd.checkGrad((a: NDArray) => layer(a), [x])).toBe(true);
      x.dispose();
      layer.dispose();
    });
  }
  const losses: [string, InstanceType<typeof gluon.loss.Loss>, (p: NDArray) => NDArray][] = [
    ["SoftmaxCrossEntropyLoss", new gluon.loss.SoftmaxCrossEntropyLoss(), (p) => nd.array([0, 3, 1], { dtype: "float64" })],
    ["SigmoidBinaryCrossEntropyLoss", new gluon.loss.SigmoidBinaryCrossEntropyLoss(), (p) => nd.onesLike(p).mul(0.3)],
    ["KLDivLoss fromLogits false", new gluon.loss.KLDivLoss({ fromLogits: false }), (p) => p.softmax().mul(0.5).add(0.1)],
    ["L2Loss", new gluon.loss.L2Loss(), (p) => nd.zerosLike(p)],
  ];
  for (const [name, loss, labelOf] of losses) {
    it(name, () => {
      nd.random.seed(4);
      const p = nd.random.normal(0, 1, [3, 4], "float64");
      const label = autograd.pause(() => nd.scope(() => labelOf(p)));
      expect(autograd.checkGrad((a: NDArray) => loss(a, label), [p])).toBe(true);
      p.dispose();
      label.dispose();
    });
  }
});

describe("saveParameters / loadParameters: MXNet's file format", () => {
  interface PF {
    arrays: { name: string; dtype: "float32" | "float64"; shape: number[]; data: number[] }[];
    hex: string;
  }
  const pf = (vectors<Record<string, unknown>>("gluon.json").paramfile as PF);
  class Inner extends gluon.nn.Block {
    dense0 = new gluon.nn.Dense(2, { useBias: false, dtype: "float64" });
  }
  const make = (): InstanceType<typeof gluon.nn.Sequential> => {
    const net = new gluon.nn.Sequential();
    net.add(new gluon.nn.Dense(3), new Inner());
    return net;
  };
  const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

  it("writes the bytes MXNet 1.x writes, and a fresh block loads them (no initialize needed)", () => {
    const net = make();
    net.initialize();
    const params = net.collectParams();
    for (const a of pf.arrays) {
      const p = params.get(a.name);
      p.shape = a.shape;
      p.finishDeferredInit();
      using v = nd.array(a.data, { shape: a.shape, dtype: a.dtype });
      p.setData(v);
    }
    const bytes = net.saveParameters();
    expect(hex(bytes)).toBe(pf.hex);
    const fresh = make();
    fresh.loadParameters(bytes);
    for (const a of pf.arrays) {
      const p = fresh.collectParams().get(a.name);
      expect(p.shape).toEqual(a.shape);
      expect(p.data().dtype).toBe(a.dtype);
      expect([...p.data().data()]).toEqual([...nd.scope(() => nd.array(a.data, { shape: a.shape, dtype: a.dtype }).data())]);
    }
    // The loaded parameters train: they carry gradient buffers.
    expect(fresh.collectParams().get("0.weight").grad().shape).toEqual([3, 2]);
    fresh.dispose();
    net.dispose();
  });

  it("a missing, extra or misshaped parameter, or corrupt bytes, is an Error naming it; nothing is loaded", () => {
    const net = make();
    net.initialize("ones");
    using x = nd.ones([1, 2]);
    const y = net.at(0)(x);
    y.dispose();
    const inner = net.at(1) as Inner;
    using h = nd.ones([1, 3], "float64");
    inner.dense0(h).dispose();
    const bytes = net.saveParameters();
    const before = [...net.collectParams().get("0.weight").data().data()];

    class Small extends gluon.nn.Block {
      dense0 = new gluon.nn.Dense(3);
    }
    const small = new Small();
    expect(() => small.loadParameters(bytes)).toThrow(/Parameter 'dense0.weight' is missing in file/);
    expect(() => small.loadParameters(bytes, { allowMissing: true })).toThrow(/Parameter '0.weight' loaded from file is not present in ParameterDict, which contains parameters \['dense0.weight', 'dense0.bias'\]/);
    small.loadParameters(bytes, { ignoreExtra: true, allowMissing: true });
    small.dispose();

    const bigger = make();
    bigger.add(new gluon.nn.Dense(4));
    expect(() => bigger.loadParameters(bytes)).toThrow(/Parameter '2.weight' is missing in file, which contains parameters: \['0.weight', '0.bias', '1.dense0.weight'/);
    bigger.dispose();

    const wrong = new gluon.nn.Sequential();
    wrong.add(new gluon.nn.Dense(3, { inUnits: 5 }), new Inner());
    expect(() => wrong.loadParameters(bytes)).toThrow(/Parameter '0.weight' from saved params: shape incompatible expected \[3,5\] vs saved \[3,2\]/);
    expect(() => wrong.collectParams().get("1.dense0.weight").data()).toThrow(/not been initialized/);
    wrong.dispose();

    expect(() => net.loadParameters(bytes.slice(0, bytes.length - 30))).toThrow(/truncated/);
    expect(() => net.loadParameters(new Uint8Array(40))).toThrow(/not an NDArray file/);
    expect([...net.collectParams().get("0.weight").data().data()]).toEqual(before);
    net.dispose();
  });
});

describe("conv layers against torch.nn.functional (float64 references)", () => {
  interface ConvCase {
    name: string;
    layer: "Conv1D" | "Conv2D" | "Conv2DTranspose";
    channels: number;
    kernel: number[];
    options: Record<string, unknown>;
    x: T;
    weight: T;
    bias: number[];
    head: number[];
    expected: T;
    gradX: number[];
    gradW: number[];
    gradB: number[] | null;
  }
  const cases = vectors<Record<string, unknown>>("gluon.json").conv as ConvCase[];
  for (const c of cases) {
    it(c.name, () => {
      const L = gluon.nn[c.layer] as unknown as new (ch: number, k: number[], o: Record<string, unknown>) => InstanceType<typeof gluon.nn.Conv2D>;
      const layer = new L(c.channels, c.kernel, c.options);
      layer.initialize();
      const x = nd.array(c.x.data, { shape: c.x.shape });
      x.attachGrad();
      layer(x).dispose(); // deferred init from the input's channels
      expect(layer.weight.shape).toEqual(c.weight.shape);
      using w = nd.array(c.weight.data, { shape: c.weight.shape });
      layer.weight.setData(w);
      if (layer.bias !== null) {
        using b = nd.array(c.bias);
        layer.bias.setData(b);
      }
      const out = autograd.record(() => layer(x));
      expect(out.shape).toEqual(c.expected.shape);
      close(`${c.name} out`, out.data(), c.expected.data, 1e-4, 1e-5);
      using head = nd.array(c.head, { shape: out.shape });
      out.backward(head);
      close(`${c.name} dx`, x.grad!.data(), c.gradX, 1e-4, 1e-4);
      close(`${c.name} dW`, layer.weight.grad().data(), c.gradW, 1e-4, 1e-4);
      if (c.gradB !== null) close(`${c.name} db`, layer.bias!.grad().data(), c.gradB, 1e-4, 1e-4);
      out.dispose();
      x.dispose();
      layer.dispose();
    });
  }
});
