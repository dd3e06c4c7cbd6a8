// Gluon's semantics through the public API: blocks and their structural
// parameter names, deferred initialisation, Parameter, initializers
// (statistics, seeding), autograd through layers (gradReq "add", higher
// order), Trainer behaviour, learning-rate schedules, metrics, datasets and
// the DataLoader, IDX files and transforms, memory over training steps, and
// the bad-input catalogue of gluon (each an Error that says what is wrong,
// with nothing half-updated).
import { afterEach, describe, expect, it } from "vitest";
import { autograd, gluon, init, metric, nd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);
const { nn } = gluon;

class TwoLayer extends nn.Block {
  dense0 = new nn.Dense(4, { activation: "relu" });
  dense1 = new nn.Dense(2);
  override forward(x: NDArray): NDArray {
    const h = this.dense0(x);
    const y = this.dense1(h);
    h.dispose();
    return y;
  }
}

describe("blocks", () => {
  it("registers children and parameters assigned to fields, with MXNet 1.x structural names", () => {
    const net = new TwoLayer();
    expect(net.collectParams().keys()).toEqual(["dense0.weight", "dense0.bias", "dense1.weight", "dense1.bias"]);
    const seq = new nn.Sequential();
    seq.add(new nn.Dense(3), new TwoLayer());
    expect(seq.length).toBe(2);
    expect(seq.collectParams().keys()).toEqual([
      "0.weight",
      "0.bias",
      "1.dense0.weight",
      "1.dense0.bias",
      "1.dense1.weight",
      "1.dense1.bias",
    ]);
    expect(seq.collectParams(".*weight").keys()).toEqual(["0.weight", "1.dense0.weight", "1.dense1.weight"]);
    expect(seq.at(-1)).toBeInstanceOf(TwoLayer);
    expect(() => seq.at(2)).toThrow(/index 2 out of range \(length 2\)/);
    // Parameter names carry MXNet's auto-generated block prefixes.
    const d = new nn.Dense(2);
    expect(d.weight.name).toMatch(/^dense\d+_weight$/);
    expect(String(seq)).toContain("(0): Dense(None -> 3, linear)");
  });

  it("is callable and runs forward; deferred init infers inUnits from the first batch", () => {
    nd.random.seed(7);
    const net = new nn.Sequential();
    net.add(new nn.Dense(5, { activation: "tanh" }), new nn.Dense(2, { inUnits: 5 }));
    net.initialize(new init.Xavier());
    const p = net.collectParams();
    expect(p.get("0.weight").shape).toEqual([5, 0]);
    expect(p.get("1.weight").shape).toEqual([2, 5]);
    expect(() => p.get("0.weight").data()).toThrow(/deferred/);
    using x = nd.random.normal(0, 1, [3, 2, 4]);
    using y = net(x);
    expect(y.shape).toEqual([3, 2]);
    expect(p.get("0.weight").shape).toEqual([5, 8]);
    // Same values as doing the layers by hand.
    const b = nd.scope(() => {
      const h = nd.dot(x.reshape([3, 8]), p.get("0.weight").data(), { transposeB: true }).add(p.get("0.bias").data()).tanh();
      return nd.dot(h, p.get("1.weight").data(), { transposeB: true }).add(p.get("1.bias").data()).data();
    });
    const a = y.data();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 6);
    // Biases start at zero (their own initializer), weights do not.
    expect([...p.get("0.bias").data().data()]).toEqual([0, 0, 0, 0, 0]);
    net.dispose();
  });

  it("initialize keeps values unless forceReinit; the default initializer is Uniform(0.07)", () => {
    const d = new nn.Dense(50, { inUnits: 40 });
    d.initialize();
    const w0 = d.weight.data().data();
    expect(Math.max(...w0.map(Math.abs))).toBeLessThanOrEqual(0.07);
    expect(Math.max(...w0.map(Math.abs))).toBeGreaterThan(0.06);
    d.initialize(new init.One());
    expect(d.weight.data().data()).toEqual(w0);
    d.initialize(new init.One(), { forceReinit: true });
    expect(new Set(d.weight.data().data())).toEqual(new Set([1]));
    d.dispose();
  });

  it("gradients flow through layers with gradReq 'add' and to second order", () => {
    const d = new nn.Dense(1, { inUnits: 2, useBias: false });
    d.initialize(new init.Constant(0.5));
    d.collectParams().setattr("gradReq", "add");
    using x = nd.array([[1, 2]]);
    for (let i = 0; i < 3; i++) {
      const y = autograd.record(() => d(x));
      y.backward();
      y.dispose();
    }
    expect([...d.weight.grad().data()]).toEqual([3, 6]);
    d.collectParams().zeroGrad();
    expect([...d.weight.grad().data()]).toEqual([0, 0]);
    // Second order: d/dx of (sum of (d(x))^2)'s gradient w.r.t. the weight.
    d.weight.gradReq = "write";
    const xv = nd.array([[1, 2]]);
    xv.attachGrad();
    const [gw] = autograd.record(() => {
      const y = d(xv);
      const sq = y.square();
      const l = sq.sum();
      const g = autograd.grad(l, [d.weight.data()], { createGraph: true });
      sq.dispose();
      y.dispose();
      l.dispose();
      return g;
    });
    // gw = 2·(w·x)·x, so d(sum gw)/dx = 2·(w·(sum x)) + 2·(w·x)·1 per element.
    const s = autograd.record(() => gw!.sum());
    s.backward();
    s.dispose();
    const w = [0.5, 0.5];
    const wx = 0.5 * 1 + 0.5 * 2;
    expect([...xv.grad!.data()]).toEqual([2 * w[0]! * 3 + 2 * wx, 2 * w[1]! * 3 + 2 * wx]);
    gw!.dispose();
    xv.dispose();
    d.dispose();
  });

  it("a Parameter has MXNet's interface", () => {
    const p = new gluon.Parameter("w", { shape: [2, 3], lrMult: 2, wdMult: 0 });
    expect(() => p.data()).toThrow(/has not been initialized/);
    p.initialize(new init.Constant(2));
    expect(p.shape).toEqual([2, 3]);
    expect(p.dtype).toBe("float32");
    expect(p.gradReq).toBe("write");
    expect([p.lrMult, p.wdMult]).toEqual([2, 0]);
    using v = nd.ones([2, 3]);
    p.setData(v);
    expect(new Set(p.data().data())).toEqual(new Set([1]));
    expect([...p.grad().data()]).toEqual([0, 0, 0, 0, 0, 0]);
    using bad = nd.ones([3, 2]);
    expect(() => p.setData(bad)).toThrow(/w: setData: value of shape \[3,2\] does not match \[2,3\]/);
    p.gradReq = "null";
    expect(() => p.grad()).toThrow(/gradReq is "null"/);
    p.dispose();
  });
});

describe("init", () => {
  const stats = (v: ArrayLike<number>): [number, number] => {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < v.length; i++) {
      s += v[i]!;
      s2 += v[i]! * v[i]!;
    }
    const m = s / v.length;
    return [m, Math.sqrt(s2 / v.length - m * m)];
  };
  const sample = (ini: InstanceType<typeof init.Initializer>, shape: number[]): Float32Array => {
    const p = new gluon.Parameter("x_weight", { shape, init: ini });
    p.initialize();
    const v = p.data().data() as Float32Array;
    p.dispose();
    return v;
  };
  it("Uniform, Normal, Xavier (uniform, gaussian, in/out/avg), MSRAPrelu have MXNet's statistics", () => {
    nd.random.seed(11);
    const n = 200 * 300;
    const u = sample(new init.Uniform(0.3), [200, 300]);
    expect(Math.max(...u)).toBeLessThanOrEqual(0.3);
    expect(stats(u)[1]).toBeCloseTo(0.3 / Math.sqrt(3), 2);
    expect(stats(sample(new init.Normal(0.2), [200, 300]))[1]).toBeCloseTo(0.2, 2);
    // Xavier on (out=64, in=32, 3, 3): fan_in 288, fan_out 576.
    const shape = [64, 32, 3, 3];
    const avg = (288 + 576) / 2;
    const xu = sample(new init.Xavier(), shape);
    const bound = Math.sqrt(3 / avg);
    expect(Math.max(...xu)).toBeLessThanOrEqual(bound);
    expect(stats(xu)[1] / (bound / Math.sqrt(3))).toBeCloseTo(1, 1);
    const xg = sample(new init.Xavier({ rndType: "gaussian", factorType: "in", magnitude: 2 }), shape);
    expect(stats(xg)[1] / Math.sqrt(2 / 288)).toBeCloseTo(1, 1);
    const xo = sample(new init.Xavier({ rndType: "gaussian", factorType: "out", magnitude: 2 }), shape);
    expect(stats(xo)[1] / Math.sqrt(2 / 576)).toBeCloseTo(1, 1);
    const msra = sample(new init.MSRAPrelu(), shape);
    // Sample standard deviations of 18432 draws: within 2 % (≈ 6 standard errors).
    expect(stats(msra)[1] / Math.sqrt(2 / (1 + 0.25 ** 2) / avg)).toBeCloseTo(1, 1);
    expect(Math.abs(stats(msra)[0])).toBeLessThan(0.003);
    expect(n).toBe(60000);
    expect([...sample(new init.Constant(3), [2])]).toEqual([3, 3]);
    expect([...sample(new init.Zero(), [2])]).toEqual([0, 0]);
    expect([...sample(new init.One(), [2])]).toEqual([1, 1]);
  });
  it("is reproducible under nd.random.seed", () => {
    nd.random.seed(5);
    const a = sample(new init.Xavier(), [4, 5]);
    nd.random.seed(5);
    const b = sample(new init.Xavier(), [4, 5]);
    expect(b).toEqual(a);
    const c = sample(new init.Xavier(), [4, 5]);
    expect(c).not.toEqual(a);
  });
});

/** Mark hand-written gradients as written by backward (MXNet's `_fresh_grad = True`). */
function fresh(...ps: gluon.Parameter[]): void {
  for (const p of ps) p.data()._freshGrad = true;
}

describe("Trainer", () => {
  it("skips gradReq 'null' parameters, applies lrMult, and sets the learning rate", () => {
    const a = new gluon.Parameter("a", { shape: [2], init: "ones" });
    const b = new gluon.Parameter("b", { shape: [2], init: "ones", gradReq: "null" });
    const c = new gluon.Parameter("c", { shape: [2], init: "ones", lrMult: 0.5 });
    for (const p of [a, b, c]) p.initialize();
    a.grad().set(1);
    c.grad().set(1);
    const t = new gluon.Trainer([a, b, c], "sgd", { learningRate: 0.2 });
    expect(t.learningRate).toBe(0.2);
    // Gradients written by hand, not by backward: marked fresh as
    // backward would (MXNet's `_fresh_grad`), or the step refuses them.
    fresh(a, c);
    t.step(2);
    expect([...a.data().data()].map((v) => +v.toFixed(6))).toEqual([0.9, 0.9]);
    expect([...b.data().data()]).toEqual([1, 1]);
    expect([...c.data().data()].map((v) => +v.toFixed(6))).toEqual([0.95, 0.95]);
    t.setLearningRate(0.4);
    expect(t.learningRate).toBe(0.4);
    fresh(a, c);
    t.step(4);
    expect([...a.data().data()].map((v) => +v.toFixed(6))).toEqual([0.8, 0.8]);
    t.dispose();
    expect(() => t.step(1)).toThrow(/disposed/);
    for (const p of [a, b, c]) p.dispose();
  });

  it("refuses a gradient backward has not written since the last step, or skips it with ignoreStaleGrad (MXNet 1.9.1 Trainer._update)", () => {
    const a = new gluon.Parameter("a", { shape: [2], init: "ones" });
    const b = new gluon.Parameter("b", { shape: [2], init: "ones" });
    a.initialize();
    b.initialize();
    const t = new gluon.Trainer([a, b], "sgd", { learningRate: 1, momentum: 0.5 });
    const stale = (name: string) =>
      new RegExp(`Trainer.step: Gradient of Parameter \`${name}\` on context cpu\\(0\\) has not been updated by backward since last \`step\`.*ignoreStaleGrad`);
    expect(a.data()._freshGrad).toBe(false);
    expect(() => t.step(1)).toThrow(stale("a"));
    // backward through a only: b stays stale, and the refused step writes nothing
    nd.scope(() => autograd.record(() => a.data().mul(2).sum()).backward());
    expect([a.data()._freshGrad, b.data()._freshGrad]).toEqual([true, false]);
    expect(() => t.step(1)).toThrow(stale("b"));
    expect([...a.data().data()]).toEqual([1, 1]);
    expect(() => t.update(1)).toThrow(/Trainer.update: Gradient of Parameter `b`/);
    // skipped: b keeps its value and gets no momentum state or update count
    t.step(1, true); // a: mom = -2, a = -1
    expect([...a.data().data()]).toEqual([-1, -1]);
    expect([...b.data().data()]).toEqual([1, 1]);
    expect(a.data()._freshGrad).toBe(false);
    expect(() => t.step(1)).toThrow(stale("a"));
    t.step(1, true); // nothing fresh: nothing changes
    expect([...a.data().data()]).toEqual([-1, -1]);
    nd.scope(() => autograd.record(() => a.data().mul(b.data()).sum()).backward());
    t.step(1); // a: grad b = 1, mom = 0.5·(-2) - 1 = -2, a = -3; b: grad a = -1, mom = 1, b = 2
    expect([...a.data().data()]).toEqual([-3, -3]);
    expect([...b.data().data()]).toEqual([2, 2]);
    expect(() => t.step(1, "yes" as never)).toThrow(/Trainer.step: ignoreStaleGrad must be a boolean \(got string "yes"\)/);
    t.dispose();
    a.dispose();
    b.dispose();
  });

  it("_freshGrad: set by backward (all variables of the graph, gradReq add too), not by autograd.grad; an Error without a gradient", () => {
    using x = nd.array([1, 2]);
    using y = nd.array([3, 4]);
    using z = nd.array([5]);
    x.attachGrad();
    y.attachGrad("add");
    z.attachGrad("null");
    nd.scope(() => {
      autograd.grad(autograd.record(() => x.mul(y).sum()), [x]);
    });
    expect([x._freshGrad, y._freshGrad]).toEqual([false, false]);
    nd.scope(() => autograd.record(() => x.mul(y).sum().add(z.mul(0))).backward());
    expect([x._freshGrad, y._freshGrad, z._freshGrad]).toEqual([true, true, false]);
    x._freshGrad = false;
    expect(x._freshGrad).toBe(false);
    x.attachGrad(); // a new gradient buffer starts stale, as MXNet's attach_grad
    y._freshGrad = false;
    nd.scope(() => autograd.record(() => y.square().sum()).backward());
    expect([x._freshGrad, y._freshGrad]).toEqual([false, true]);
    using w = nd.array([1]);
    expect(() => w._freshGrad).toThrow(/_freshGrad: the array has no gradient \(call attachGrad first\)/);
    expect(() => {
      w._freshGrad = true;
    }).toThrow(/_freshGrad: the array has no gradient/);
  });

  it("scheduler options are checked, each Error naming the option (MXNet's lr_scheduler.py asserts, and types)", () => {
    const { FactorScheduler, MultiFactorScheduler, CosineScheduler } = gluon.lrScheduler;
    const bad = (o: Record<string, unknown>) => o as never;
    expect(() => new FactorScheduler(10, bad({ baseLr: "x" }))).toThrow(/FactorScheduler: baseLr must be a finite number \(got string "x"\)/);
    expect(() => new FactorScheduler(10, bad({ factor: "x" }))).toThrow(/FactorScheduler: factor must be a finite number \(got string "x"\)/);
    expect(() => new FactorScheduler(10, bad({ factor: NaN }))).toThrow(/FactorScheduler: factor must be a finite number \(got NaN\)/);
    expect(() => new FactorScheduler(10, { factor: 1.5 })).toThrow(/FactorScheduler: factor must be no more than 1 \(got 1.5\)/);
    expect(() => new FactorScheduler(10, bad({ stopFactorLr: null }))).toThrow(/FactorScheduler: stopFactorLr must be a finite number \(got null\)/);
    expect(() => new FactorScheduler(0.5)).toThrow(/FactorScheduler: step must be a number of at least 1 \(got 0.5\)/);
    expect(() => new FactorScheduler("3" as never)).toThrow(/FactorScheduler: step must be a number of at least 1 \(got string "3"\)/);
    expect(() => new FactorScheduler(10, bad({ warmupSteps: 1.5 }))).toThrow(/FactorScheduler: warmupSteps must be a non-negative integer \(got 1.5\)/);
    expect(() => new FactorScheduler(10, bad({ warmupSteps: -1 }))).toThrow(/FactorScheduler: warmupSteps must be a non-negative integer \(got -1\)/);
    expect(() => new FactorScheduler(10, bad({ warmupBeginLr: "0" }))).toThrow(/FactorScheduler: warmupBeginLr must be a finite number/);
    expect(() => new FactorScheduler(10, { baseLr: 0.1, warmupBeginLr: 0.2 })).toThrow(/FactorScheduler: baseLr \(0.1\) has to be higher than warmupBeginLr \(0.2\)/);
    expect(() => new FactorScheduler(10, bad({ warmupMode: "cosine" }))).toThrow(/FactorScheduler: warmupMode must be "linear" or "constant" \(got string "cosine"\)/);
    expect(() => new FactorScheduler(10, bad({ base_lr: 0.1 }))).toThrow(/FactorScheduler: unknown option "base_lr"/);
    expect(() => new FactorScheduler(10, null as never)).toThrow(/FactorScheduler: options must be an object \(got null\)/);
    expect(() => new MultiFactorScheduler([2, 2])).toThrow(/MultiFactorScheduler: schedule steps must be an increasing integer list \(got array \[2, 2\]\)/);
    expect(() => new MultiFactorScheduler([0, 2])).toThrow(/MultiFactorScheduler: schedule steps must be at least 1/);
    expect(() => new MultiFactorScheduler([2, "5"] as never)).toThrow(/MultiFactorScheduler: steps\[1\] must be a number \(got string "5"\)/);
    expect(() => new MultiFactorScheduler([])).toThrow(/MultiFactorScheduler: steps must be a non-empty list/);
    expect(() => new MultiFactorScheduler([2], bad({ factor: "x" }))).toThrow(/MultiFactorScheduler: factor must be a finite number/);
    expect(() => new MultiFactorScheduler([2], { factor: 2 })).toThrow(/MultiFactorScheduler: factor must be no more than 1 \(got 2\)/);
    expect(() => new MultiFactorScheduler([2], bad({ finalLr: 0 }))).toThrow(/MultiFactorScheduler: unknown option "finalLr"/);
    expect(() => new CosineScheduler(10, bad({ finalLr: "x" }))).toThrow(/CosineScheduler: finalLr must be a finite number \(got string "x"\)/);
    expect(() => new CosineScheduler(10, bad({ baseLr: Infinity }))).toThrow(/CosineScheduler: baseLr must be a finite number \(got Infinity\)/);
    expect(() => new CosineScheduler(2.5)).toThrow(/CosineScheduler: maxUpdate must be a positive integer \(got 2.5\)/);
    expect(() => new CosineScheduler(5, { warmupSteps: 5 })).toThrow(/CosineScheduler: warmupSteps \(5\) must differ from maxUpdate \(5\)/);
    const f = new FactorScheduler(2, { factor: 0.5, baseLr: 1 });
    expect(() => f.call("3" as never)).toThrow(/FactorScheduler.call: numUpdate must be a non-negative integer \(got string "3"\)/);
    expect(f.call(3)).toBe(0.5); // the refused call changed nothing
    // Absent options (undefined) take MXNet's defaults.
    const d = new FactorScheduler(2, { factor: undefined, baseLr: undefined });
    expect([d.baseLr, d.factor, d.stopFactorLr, d.warmupSteps, d.warmupMode]).toEqual([0.01, 1, 1e-8, 0, "linear"]);
  });

  it("schedules follow MXNet's FactorScheduler, MultiFactorScheduler and CosineScheduler", () => {
    const f = new gluon.lrScheduler.FactorScheduler(2, { factor: 0.5, baseLr: 1 });
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => f.call(n))).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]);
    const m = new gluon.lrScheduler.MultiFactorScheduler([2, 5], { factor: 0.1, baseLr: 1 });
    expect([1, 2, 3, 5, 6].map((n) => +m.call(n).toPrecision(6))).toEqual([1, 1, 0.1, 0.1, 0.01]);
    const c = new gluon.lrScheduler.CosineScheduler(10, { baseLr: 1, finalLr: 0 });
    expect(c.call(5)).toBeCloseTo(0.5, 12);
    expect(c.call(10)).toBeCloseTo(0, 12);
    expect(c.call(20)).toBeCloseTo(0, 12);
    const p = new gluon.Parameter("p", { shape: [1], init: "zeros" });
    p.initialize();
    const t = new gluon.Trainer([p], "sgd", { lrScheduler: new gluon.lrScheduler.FactorScheduler(1, { factor: 0.5, baseLr: 1 }) });
    expect(() => t.setLearningRate(0.1)).toThrow(/lrScheduler/);
    p.grad().set(1);
    fresh(p);
    t.step(1); // num_update 1: lr 1
    fresh(p);
    t.step(1); // num_update 2: lr 0.5
    expect(p.data().asscalar()).toBeCloseTo(-1.5, 6);
    t.dispose();
    p.dispose();
  });

  it("keeps optimizer state in engine memory until dispose", () => {
    const p = new gluon.Parameter("p", { shape: [10, 10], init: "zeros" });
    p.initialize();
    p.grad(); // the gradient's handle, made on first use
    const before = nd.memory().arrays;
    {
      using t = new gluon.Trainer([p], "adam", {});
      fresh(p);
      t.step(1);
      expect(nd.memory().arrays).toBe(before + 2);
    }
    expect(nd.memory().arrays).toBe(before);
    p.dispose();
  });
});

describe("metrics", () => {
  it("Accuracy, TopKAccuracy, MSE, MAE, CrossEntropy compute MXNet's values", () => {
    using pred = nd.array([
      [0.1, 0.7, 0.2],
      [0.5, 0.3, 0.2],
      [0.2, 0.3, 0.5],
      [0.6, 0.1, 0.3],
    ]);
    using label = nd.array([1, 1, 2, 1]);
    const acc = new metric.Accuracy();
    expect(acc.get()[1]).toBeNaN();
    acc.update(label, pred);
    expect(acc.get()).toEqual(["accuracy", 0.5]);
    acc.update([label], [pred]);
    expect(acc.get()).toEqual(["accuracy", 0.5]);
    acc.reset();
    expect(acc.get()[1]).toBeNaN();
    const top2 = new metric.TopKAccuracy(2);
    top2.update(label, pred);
    expect(top2.get()).toEqual(["top_k_accuracy_2", 0.75]);
    const ce = new metric.CrossEntropy();
    ce.update(label, pred);
    const want = -(Math.log(0.7) + Math.log(0.3) + Math.log(0.5) + Math.log(0.1)) / 4;
    expect(ce.get()[0]).toBe("cross-entropy");
    expect(ce.get()[1]).toBeCloseTo(want, 6);
    using y = nd.array([1, 2, 3]);
    using yh = nd.array([1.5, 2, 2]);
    const mse = new metric.MSE();
    mse.update(y, yh);
    mse.update(y, y);
    expect(mse.get()[1]).toBeCloseTo((0.25 + 1) / 3 / 2, 6);
    const mae = new metric.MAE();
    mae.update(y, yh);
    expect(mae.get()).toEqual(["mae", 0.5]);
    expect(() => acc.update([label, label], [pred])).toThrow(/2 label arrays but 1 prediction arrays/);
  });
});

describe("MSE, MAE, RMSE broadcast as MXNet's (1-D reshaped to (N, 1))", () => {
  it("a (N,) label against an (N, C) prediction, and the other way round", () => {
    using y = nd.array([1, 2]);
    using yh = nd.array([
      [1, 1],
      [2, 4],
    ]);
    // (1-1, 1-1, 2-2, 2-4): squares 0 0 0 4, absolutes 0 0 0 2.
    const mse = new metric.MSE();
    mse.update(y, yh);
    expect(mse.get()).toEqual(["mse", 1]);
    const mae = new metric.MAE();
    mae.update([y], [yh]);
    expect(mae.get()).toEqual(["mae", 0.5]);
    const rmse = new metric.RMSE();
    rmse.update(y, yh);
    expect(rmse.get()).toEqual(["rmse", 1]);
    // A 1-D prediction against an (N, C) label: rows minus (1, 3).
    using l2 = nd.array([
      [1, 2],
      [3, 6],
    ]);
    using p1 = nd.array([1, 3]);
    const m2 = new metric.MSE();
    m2.update(l2, p1); // 0 1 0 9
    expect(m2.get()[1]).toBe(2.5);
    // (N, 1) against (N,): the same (N, 1) on both sides.
    using c = nd.array([[3], [5]]);
    using r = nd.array([1, 2]);
    const m3 = new metric.MAE();
    m3.update(c, r); // 2, 3
    expect(m3.get()[1]).toBe(2.5);
    // RMSE is the mean over updates of each update's root.
    rmse.update(c, r); // sqrt((4 + 9) / 2)
    expect(rmse.get()[1]).toBeCloseTo((1 + Math.sqrt(6.5)) / 2, 14);
    // Rank 3 against rank 2, both broadcast. NumPy: L = np.arange(6.).reshape(2,1,3);
    // P = np.array([.5,1.5,2.5,7]).reshape(4,1); ((L-P)**2).mean(), abs(P-L).mean()
    using a6 = nd.arange(6);
    using L3 = a6.reshape([2, 1, 3]);
    using P2 = nd.array([[0.5], [1.5], [2.5], [7]]);
    const m4 = new metric.MSE();
    m4.update(L3, P2);
    expect(m4.get()[1]).toBe(9.229166666666666);
    const m5 = new metric.MAE();
    m5.update(P2, L3);
    expect(m5.get()[1]).toBe(2.4583333333333335);
    // Shapes NumPy cannot broadcast: an Error naming both, and no update counted.
    using p3 = nd.array([1, 2, 3]);
    using l23 = nd.ones([2, 3]);
    expect(() => m2.update([l2, l23], [p1, p3])).toThrow(
      /MSE.update: label of shape \[2,3\] and prediction of shape \[3\] do not broadcast \(as \(2,3\) against \(3,1\)\)/,
    );
    expect([m2.sumMetric, m2.numInst]).toEqual([2.5, 1]);
  });
});

describe("data", () => {
  const collect = (loader: InstanceType<typeof gluon.data.DataLoader>): number[][][] => {
    const out: number[][][] = [];
    for (const batch of loader) out.push(batch.map((b) => [...b.data()]));
    return out;
  };

  it("ArrayDataset and DataLoader: batches, lastBatch keep/discard/rollover, length", () => {
    using x0 = nd.arange(10);
    using x = x0.reshape([5, 2]);
    const ds = new gluon.data.ArrayDataset(x, [10, 11, 12, 13, 14]);
    expect(ds.length).toBe(5);
    const s = ds.at(1) as [NDArray, number];
    expect([...s[0].data()]).toEqual([2, 3]);
    expect(s[1]).toBe(11);
    s[0].dispose();
    const keep = new gluon.data.DataLoader(ds, { batchSize: 2 });
    expect(keep.length).toBe(3);
    expect(collect(keep)).toEqual([
      [[0, 1, 2, 3], [10, 11]],
      [[4, 5, 6, 7], [12, 13]],
      [[8, 9], [14]],
    ]);
    const discard = new gluon.data.DataLoader(ds, { batchSize: 2, lastBatch: "discard" });
    expect(discard.length).toBe(2);
    expect(collect(discard).length).toBe(2);
    const roll = new gluon.data.DataLoader(ds, { batchSize: 2, lastBatch: "rollover" });
    expect(roll.length).toBe(2);
    expect(collect(roll).map((b) => b[1])).toEqual([[10, 11], [12, 13]]);
    expect(roll.length).toBe(3); // the leftover sample starts the next epoch
    expect(collect(roll).map((b) => b[1])).toEqual([[14, 10], [11, 12], [13, 14]].slice(0, 3));
  });

  it("shuffles with the seeded generator: each epoch a permutation, reproducible", () => {
    const ds = new gluon.data.ArrayDataset(Int32Array.from({ length: 50 }, (_, i) => i));
    const loader = new gluon.data.DataLoader(ds, { batchSize: 7, shuffle: true });
    nd.random.seed(42);
    const e1 = collect(loader).flatMap((b) => b[0]!);
    const e2 = collect(loader).flatMap((b) => b[0]!);
    nd.random.seed(42);
    const again = collect(loader).flatMap((b) => b[0]!);
    expect(e1).toEqual(again);
    expect([...e1].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    expect(e1).not.toEqual([...Array(50).keys()]);
    expect(e2).not.toEqual(e1);
  });

  it("frees each batch when the next is produced, and the last when the loop ends", () => {
    using x = nd.zeros([64, 3]);
    const loader = new gluon.data.DataLoader(new gluon.data.ArrayDataset(x, new Float32Array(64)), { batchSize: 8 });
    const base = nd.memory().arrays;
    const seen: number[] = [];
    for (const [d] of loader) {
      seen.push(nd.memory().arrays - base);
      expect(d!.shape).toEqual([8, 3]);
    }
    expect(new Set(seen)).toEqual(new Set([2]));
    expect(nd.memory().arrays).toBe(base);
    for (const _ of loader) break;
    expect(nd.memory().arrays).toBe(base);
  });

  it("transformFirst with a per-sample function and with batched transforms give the same batches", () => {
    const raw = new Uint8Array(4 * 3 * 2 * 1).map((_, i) => i * 10);
    using imgs = nd.array(raw, { shape: [4, 3, 2, 1], dtype: "int32" });
    const labels = Int32Array.from([3, 1, 4, 1]);
    const tf = gluon.data.vision.transforms.Compose([
      gluon.data.vision.transforms.ToTensor(),
      gluon.data.vision.transforms.Normalize(0.5, 0.25),
    ]);
    const batched = collect(new gluon.data.DataLoader(new gluon.data.ArrayDataset(imgs, labels).transformFirst(tf), { batchSize: 4 }));
    const perSample = collect(
      new gluon.data.DataLoader(new gluon.data.ArrayDataset(imgs, labels).transformFirst((x: NDArray) => tf(x)), { batchSize: 4 }),
    );
    expect(perSample).toEqual(batched);
    // CHW float32 in [0,1], normalized: (v/255 − 0.5)/0.25.
    expect(batched[0]![0]!.length).toBe(24);
    expect(batched[0]![0]![1]).toBeCloseTo((10 / 255 - 0.5) / 0.25, 5);
    expect(batched[0]![1]).toEqual([3, 1, 4, 1]);
  });

  it("Normalize and ToTensor take an image or a batch, told apart by rank (MXNet's image_random-inl.h)", () => {
    const { Normalize, ToTensor } = gluon.data.vision.transforms;
    const norm = Normalize([0, 10, 20], [1, 2, 4]);
    // N == C == 3: the channel axis of a 4-D batch is axis 1, not axis 0.
    using b0 = nd.arange(9);
    using b = b0.reshape([3, 3, 1, 1]);
    using nb = norm(b);
    expect(nb.shape).toEqual([3, 3, 1, 1]);
    expect([...nb.data()]).toEqual([0, -4.5, -4.5, 3, -3, -3.75, 6, -1.5, -3]);
    // A batch of 2 three-channel images (was refused: 3 means for 2 "channels").
    using c0 = nd.arange(6);
    using c = c0.reshape([2, 3, 1, 1]);
    using nc = norm(c);
    expect([...nc.data()]).toEqual([0, -4.5, -4.5, 3, -3, -3.75]);
    // A (C, H, W) image keeps axis 0 as channels.
    using im0 = nd.arange(6);
    using im = im0.reshape([3, 1, 2]);
    using ni = norm(im);
    expect([...ni.data()]).toEqual([0, 1, -4, -3.5, -4, -3.75]);
    // ToTensor: (N, H, W, C) → (N, C, H, W), values / 255.
    const raw = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    using hwc = nd.array(raw, { shape: [2, 1, 2, 3], dtype: "uint8" });
    using t = ToTensor()(hwc);
    expect(t.shape).toEqual([2, 3, 1, 2]);
    expect(t.dtype).toBe("float32");
    const want: number[] = [];
    for (let n = 0; n < 2; n++) for (let ch = 0; ch < 3; ch++) for (let w = 0; w < 2; w++) want.push(Math.fround(raw[n * 6 + w * 3 + ch]! / 255));
    expect([...t.data()]).toEqual(want);
    // Each batch row equals the transform of the image alone.
    using one = hwc.at(1);
    using t1 = ToTensor()(one);
    using row = t.at(1);
    expect([...t1.data()]).toEqual([...row.data()]);
    // (H, W) images through the DataLoader's batched path: (N, 1, H, W).
    using hw = nd.array(Uint8Array.from([0, 51, 102, 255]), { shape: [2, 1, 2], dtype: "uint8" });
    for (const [xb] of new gluon.data.DataLoader(new gluon.data.ArrayDataset(hw).transformFirst(ToTensor()), { batchSize: 2 })) {
      expect(xb!.shape).toEqual([2, 1, 1, 2]);
      expect([...xb!.data()]).toEqual([0, 0.2, 0.4, 1].map(Math.fround));
    }
    // Other ranks and channel-count mismatches are Errors naming the shape.
    using flat = nd.ones([3, 4]);
    expect(() => norm(flat)).toThrow(/Normalize: expected a tensor of shape \(C, H, W\) or a batch of shape \(N, C, H, W\) \(got \[3,4\]\)/);
    using five = nd.ones([1, 1, 3, 1, 1]);
    expect(() => norm(five)).toThrow(/Normalize: .*\(got \[1,1,3,1,1\]\)/);
    using two = nd.ones([4, 2, 1, 1]);
    expect(() => norm(two)).toThrow(/Normalize: 3 means and 3 stds for 2 channels \(input shape \[4,2,1,1\]\)/);
    using five8 = nd.zeros([1, 1, 1, 1, 3], { dtype: "uint8" });
    expect(() => ToTensor()(five8)).toThrow(/ToTensor: expected an image of shape \(H, W, C\) or a batch of shape \(N, H, W, C\) \(got \[1,1,1,1,3\]\)/);
  });

  it("a number column keeps its dtype through at + transform + batchify (MXNet's NumPy scalars)", () => {
    using x = nd.ones([4, 3]);
    using yf = nd.array([1, 2, 3, 4]);
    const ds = new gluon.data.ArrayDataset(x, yf);
    const labelOf = (d: InstanceType<typeof gluon.data.Dataset>): [string, number[]] => {
      for (const [, y] of new gluon.data.DataLoader(d, { batchSize: 4 })) return [y!.dtype, [...y!.data()]];
      throw new Error("no batch");
    };
    // The fast path and the per-sample path agree: float32, as the column.
    expect(labelOf(ds)).toEqual(["float32", [1, 2, 3, 4]]);
    expect(labelOf(ds.transform((a, b) => [(a as NDArray).mul(2), b!]))).toEqual(["float32", [1, 2, 3, 4]]);
    // ...and an L2Loss against a float32 prediction then works (was "sub: dtype mismatch").
    const l2 = new gluon.loss.L2Loss();
    for (const [a, b] of new gluon.data.DataLoader(ds.transform((a, b) => [(a as NDArray).mul(2), b!]), { batchSize: 4 })) {
      using p = a!.sum(1);
      using l = l2(p, b!);
      expect([...l.data()]).toEqual([12.5, 8, 4.5, 2]);
    }
    // float64 and non-integer float32 values survive bit for bit.
    const v = [0.1, 1 / 3, 2, -7];
    using y64 = nd.array(v, { dtype: "float64" });
    using y32 = nd.array(v);
    const d64 = new gluon.data.ArrayDataset(x, y64).transformFirst((a: NDArray) => a.mul(2));
    expect(labelOf(d64)).toEqual(["float64", v]);
    const d32 = new gluon.data.ArrayDataset(x, y32);
    const fast = labelOf(d32);
    expect(fast).toEqual(["float32", v.map(Math.fround)]);
    expect(labelOf(d32.transform((a, b) => [(a as NDArray).copy(), b!]))).toEqual(fast);
    // An int32 column stays int32; a transform that makes it non-integer gets
    // a float (NumPy promotes int32 / 2 to a float).
    const di = new gluon.data.ArrayDataset(x, Int32Array.from([1, 2, 3, 4]));
    expect(labelOf(di.transformFirst((a: NDArray) => a.copy()))).toEqual(["int32", [1, 2, 3, 4]]);
    expect(labelOf(di.transform((a, b) => [(a as NDArray).copy(), (b as number) / 2]))).toEqual(["float32", [0.5, 1, 1.5, 2]]);
    // FashionMNIST's labels stay int32 through a transform too.
    const images = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 10, 20]);
    const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
    const fm = new gluon.data.vision.FashionMNIST({ images, labels });
    expect(labelOf(fm)).toEqual(["int32", [7, 9]]);
    expect(labelOf(fm.transform((a, b) => [(a as NDArray).astype("float32"), b!]))).toEqual(["int32", [7, 9]]);
  });

  it("DataLoader over a plain list: numbers batch into a 1-D array, NDArrays are stacked and stay intact", () => {
    expect(collect(new gluon.data.DataLoader([1, 2, 3], { batchSize: 2 }))).toEqual([[[1, 2]], [[3]]]);
    for (const [b] of new gluon.data.DataLoader([1, 2, 3], { batchSize: 2 })) expect(b!.dtype).toBe("int32");
    for (const [b] of new gluon.data.DataLoader([0.5, 2], { batchSize: 2 })) expect([b!.dtype, ...b!.data()]).toEqual(["float32", 0.5, 2]);
    using a = nd.array([1, 2]);
    using b = nd.array([3, 4]);
    const pairs = [
      [a, 7],
      [b, 8],
    ];
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = [...new gluon.data.DataLoader(pairs, { batchSize: 2 })].length;
      expect(batches).toBe(1);
      expect(collect(new gluon.data.DataLoader(pairs, { batchSize: 2 }))).toEqual([[[1, 2, 3, 4], [7, 8]]]);
    }
    for (const [x] of new gluon.data.DataLoader([a, b], { batchSize: 2 })) expect(x!.shape).toEqual([2, 2]);
    // The list's own arrays outlive the epochs.
    expect([...a.data(), ...b.data()]).toEqual([1, 2, 3, 4]);
    // A dataset of the user's own making needs only at and length.
    const own = { length: 3, at: (i: number) => i * 10 } as unknown as InstanceType<typeof gluon.data.Dataset>;
    expect(collect(new gluon.data.DataLoader(own, { batchSize: 3 }))).toEqual([[[0, 10, 20]]]);
    expect(() => new gluon.data.DataLoader({ at: () => 1 } as never, { batchSize: 1 })).toThrow(
      /DataLoader: expected a Dataset or a list of samples \(got Object\)/,
    );
  });

  it("reads IDX files, gzipped or not, from bytes", async () => {
    const images = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2, 3, 4]);
    const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
    const ds = new gluon.data.vision.FashionMNIST({ images, labels });
    expect(ds.length).toBe(2);
    const [img, lab] = ds.at(1) as [NDArray, number];
    expect(img.shape).toEqual([2, 1, 1]);
    expect([...img.data()]).toEqual([3, 4]);
    expect(lab).toBe(9);
    img.dispose();
    const gz = async (b: Uint8Array): Promise<Uint8Array> =>
      new Uint8Array(await new Response(new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    const ds2 = await gluon.data.vision.MNIST.load({ images: await gz(images), labels: await gz(labels) });
    expect(ds2.labels).toEqual(Int32Array.from([7, 9]));
    expect(() => new gluon.data.vision.MNIST({ images: images.slice(0, 18), labels })).toThrow(/needs 4 bytes of data, the file has 2/);
    expect(() => new gluon.data.vision.MNIST({ images: labels, labels })).toThrow(/expected an IDX file of 3 dimensions, got 1/);
    expect(() => new gluon.data.vision.MNIST({ images, labels: labels.slice(0, 9) })).toThrow(/IDX shape \[2\] needs 2 bytes/);
  });
});

describe("bad input is an Error that says what is wrong, and nothing is half-updated", () => {
  it("wrong input features after deferred init", () => {
    const d = new nn.Dense(3);
    d.initialize();
    using a = nd.ones([2, 4]);
    d(a).dispose();
    using b = nd.ones([2, 5]);
    expect(() => d(b)).toThrow(/dense\d+ \(Dense\): input of shape \[2,5\] has 5 features but the layer was initialized for 4 \(weight shape \[3,4\]\)/);
    d.dispose();
  });
  it("labels out of range", () => {
    const l = new gluon.loss.SoftmaxCrossEntropyLoss();
    using pred = nd.zeros([2, 3]);
    using lab = nd.array([0, 3]);
    expect(() => l(pred, lab)).toThrow(/SoftmaxCrossEntropyLoss: label 3 at flat index 1 is not a class index in \[0, 3\) \(pred shape \[2,3\]/);
    using lab2 = nd.array([0, 1.5]);
    expect(() => l(pred, lab2)).toThrow(/label 1.5/);
    using lab3 = nd.array([0, 1, 2]);
    expect(() => l(pred, lab3)).toThrow(/label of shape \[3\] does not match pred of shape \[2,3\]/);
  });
  it("unknown optimizer, option or initializer; batchSize 0", () => {
    const p = new gluon.Parameter("p", { shape: [2], init: "ones" });
    p.initialize();
    expect(() => new gluon.Trainer([p], "sgdd")).toThrow(/unknown optimizer string "sgdd" \(expected one of sgd, nag, adam, rmsprop, adagrad, adadelta\)/);
    expect(() => new gluon.Trainer([p], "adam", { momentum: 0.9 } as never)).toThrow(/unknown option "momentum" for optimizer "adam"/);
    expect(() => new nn.Dense(2).initialize("glorot")).toThrow(/unknown initializer string "glorot"/);
    expect(() => new gluon.data.DataLoader(new gluon.data.ArrayDataset([1, 2]), { batchSize: 0 })).toThrow(
      /DataLoader: batchSize must be a positive integer \(got 0\)/,
    );
    const t = new gluon.Trainer([p], "sgd", { learningRate: 1 });
    expect(() => t.step(0)).toThrow(/Trainer.step: batchSize must be a positive number \(got 0\)/);
    t.dispose();
    p.dispose();
  });
  it("a step that fails leaves every parameter as it was", () => {
    const a = new gluon.Parameter("a", { shape: [2], init: "ones" });
    const b = new gluon.Parameter("b", { shape: [2], init: "ones" });
    a.initialize();
    b.initialize();
    a.grad().set(1);
    const t = new gluon.Trainer([a, b], "sgd", { learningRate: 1, momentum: 0.5 });
    // b's value is still needed by a recorded graph: the step must refuse.
    fresh(a, b);
    const keepGraph = autograd.record(() => b.data().mul(b.data()));
    expect(() => t.step(1)).toThrow(/Trainer.step: sgd_mom_update: parameter b .*recorded graph/);
    expect([...a.data().data()]).toEqual([1, 1]);
    keepGraph.backward();
    keepGraph.dispose();
    fresh(a);
    t.step(1);
    expect([...a.data().data()]).toEqual([0, 0]);
    t.dispose();
    a.dispose();
    b.dispose();
  });
  it("a parameter too large for any array is refused naming the layer and the size (the engine's 2^30 elements)", () => {
    expect(() => new nn.Embedding(2 ** 31, 4)).toThrow(
      /Embedding: inputDim 2147483648 × outputDim 4 = 8589934592 weights, more than an array can hold \(1073741824, 2\^30\)/,
    );
    expect(() => new nn.Embedding(2 ** 28, 8)).toThrow(/Embedding: inputDim 268435456 × outputDim 8 = 2147483648 weights/);
    const d = new nn.Dense(100000, { inUnits: 100000 });
    expect(() => d.initialize()).toThrow(/Parameter dense\d+_weight: shape \[100000,100000\] has 10000000000 elements, more than an array can hold/);
    d.dispose();
    // Deferred: refused when the first batch fixes the shape.
    const d2 = new nn.Dense(2 ** 16);
    d2.initialize();
    using x = nd.ones([1, 2 ** 15]);
    expect(() => d2(x)).toThrow(/Parameter dense\d+_weight: shape \[65536,32768\] has 2147483648 elements/);
    d2.dispose();
    const p = new gluon.Parameter("big", { shape: [2 ** 40, 2 ** 40] });
    expect(() => p.initialize()).toThrow(/Parameter big: shape \[1099511627776,1099511627776\] has .* elements, more than an array can hold/);
    // A dimension past 2^31 - 1 is too large, not "not an integer".
    expect(() => nd.zeros([2 ** 31, 4])).toThrow(/zeros: shape dimension 2147483648 is too large: an array holds at most 1073741824 \(2\^30\) elements/);
    // The engine's own limit is the one the message names.
    expect(() => nd.zeros([2 ** 30 + 1])).toThrow(/more than 1073741824 elements/);
  });
  it("a dataset directory without the files names them and what to install", () => {
    const inNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
    expect(() => new gluon.data.vision.FashionMNIST({ root: "/nonexistent/dir" })).toThrow(
      inNode
        ? /FashionMNIST: train-images-idx3-ubyte\(\.gz\) not found in \/nonexistent\/dir/
        : /FashionMNIST: reading from a directory needs Node; in browsers pass \{images, labels\} bytes to FashionMNIST.load/,
    );
  });
});

describe("layers over the nn operators", () => {
  it("BatchNorm: running statistics are gradReq 'null' parameters, updated while training (MXNet's rule)", () => {
    const bn = new nn.BatchNorm({ momentum: 0.8 });
    bn.initialize();
    const names = bn.collectParams().keys();
    expect(names).toEqual(["gamma", "beta", "running_mean", "running_var"]);
    using x = nd.array([[[[1, 3]], [[2, 6]]], [[[5, 7]], [[4, 8]]]]); // (N=2, C=2, 1, 2)
    const y = autograd.record(() => bn(x));
    expect(bn.runningMean.gradReq).toBe("null");
    y.backward();
    y.dispose();
    // Channel 0 values 1,3,5,7: mean 4, biased variance 5; channel 1: 2,6,4,8: mean 5, variance 5.
    const m = [...bn.runningMean.data().data()];
    const v = [...bn.runningVar.data().data()];
    expect(m[0]).toBeCloseTo(0.8 * 0 + 0.2 * 4, 5);
    expect(m[1]).toBeCloseTo(0.2 * 5, 5);
    expect(v[0]).toBeCloseTo(0.8 * 1 + 0.2 * 5, 5);
    expect(v[1]).toBeCloseTo(0.8 * 1 + 0.2 * 5, 5);
    // Predict mode uses the running statistics: (x − mean)/sqrt(var + eps).
    using p = bn(x);
    expect(p.data()[0]).toBeCloseTo((1 - 0.8) / Math.sqrt(1.8 + 1e-5), 5);
    using bad = nd.ones([2, 3, 1, 2]);
    expect(() => bn(bad)).toThrow(/batchnorm\d+ \(BatchNorm\): input of shape \[2,3,1,2\] has 3 channels but the layer was initialized for 2/);
    bn.dispose();
  });

  it("Conv2D refuses another channel count after deferred init; pools, LayerNorm, Embedding have MXNet's shapes", () => {
    const conv = new nn.Conv2D(4, 3, { padding: 1 });
    conv.initialize();
    using x = nd.ones([1, 2, 5, 5]);
    using y = conv(x);
    expect(y.shape).toEqual([1, 4, 5, 5]);
    expect(conv.weight.shape).toEqual([4, 2, 3, 3]);
    using x3 = nd.ones([1, 3, 5, 5]);
    expect(() => conv(x3)).toThrow(/conv2d\d+ \(Conv2D\): input of shape \[1,3,5,5\] has 3 channels but the layer was initialized for 2 \(weight shape \[4,2,3,3\]\)/);
    using m = new nn.MaxPool2D()(y);
    expect(m.shape).toEqual([1, 4, 2, 2]);
    using c = new nn.MaxPool2D({ ceilMode: true })(y);
    expect(c.shape).toEqual([1, 4, 3, 3]);
    using g = new nn.GlobalAvgPool2D()(y);
    expect(g.shape).toEqual([1, 4, 1, 1]);
    using a1 = nd.array([[[1, 2, 3]]]);
    using a = new nn.AvgPool1D({ poolSize: 3, strides: 1, padding: 1, countIncludePad: false })(a1);
    expect([...a.data()].map((v) => +v.toFixed(5))).toEqual([1.5, 2, 2.5]);
    const ln = new nn.LayerNorm();
    ln.initialize();
    using l = ln(y);
    expect(ln.gamma.shape).toEqual([5]);
    expect(l.shape).toEqual([1, 4, 5, 5]);
    const emb = new nn.Embedding(10, 3);
    emb.initialize();
    using idx = nd.array([[1, 2], [3, 9]]);
    using e = emb(idx);
    expect(e.shape).toEqual([2, 2, 3]);
    expect([...e.data()].slice(0, 3)).toEqual([...emb.weight.data().data()].slice(3, 6));
    for (const b of [conv, ln, emb]) b.dispose();
  });
});
