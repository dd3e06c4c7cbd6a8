// Gluon behaviours an audit of API.md's "Part 2" against MXNet 1.9.1 found
// wrong (session 5): each test fails on the code before its fix.
//   - nn.Sequential freed the caller's input when its first child returned
//     the input itself (MXNet's Sequential.forward only chains children);
//   - SigmoidBinaryCrossEntropyLoss({ fromSigmoid: true }) added eps to 1
//     before subtracting pred (1 + 1e-12 is 1 in float32: log(0) for a
//     probability of exactly 1; MXNet computes log(1. - pred + eps));
//   - collectParams(select) matched the whole name (MXNet: re.match, anchored
//     at the start only);
//   - loadParameters cast values saved in another dtype silently (MXNet's
//     _load_init refuses them unless cast_dtype=True);
//   - loss options of the wrong type were taken as truthy/NaN.
import { afterEach, describe, expect, it } from "vitest";
import { gluon, nd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);
const { nn } = gluon;

class Identity extends nn.Block {
  override forward(x: NDArray): NDArray {
    return x;
  }
}

describe("nn.Sequential frees only what its children made during the call", () => {
  it("an identity first child: the caller's input stays alive, the result is right", () => {
    const net = new nn.Sequential();
    net.add(new Identity(), new nn.Dense(2, { inUnits: 3, useBias: false }));
    net.initialize();
    const x = nd.ones([2, 3]);
    const w = net.collectParams().get("1.weight").data().toArray() as number[][];
    const y = net(x);
    expect(x.toArray()).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
    const want = w.map((row) => row.reduce((a, b) => a + b, 0));
    const got = y.toArray() as number[][];
    for (const r of got) r.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 6));
    // Twice: nothing was freed the first time.
    net(x).dispose();
    y.dispose();
    x.dispose();
    net.dispose();
  });

  it("an empty HybridSequential first, identities in the middle: the input is not freed", () => {
    const net = new nn.HybridSequential();
    net.add(new nn.HybridSequential(), new nn.Dense(2, { inUnits: 3 }), new Identity(), new nn.Dense(1));
    net.initialize();
    const x = nd.ones([2, 3]);
    net(x).dispose();
    const y = net(x);
    expect(y.shape).toEqual([2, 1]);
    expect(x.isDisposed).toBe(false);
    y.dispose();
    x.dispose();
    net.dispose();
  });

  it("frees the intermediate outputs its children made: one new array per call", () => {
    const net = new nn.Sequential();
    net.add(new nn.Dense(4, { inUnits: 3 }), new nn.Dense(2), new nn.Dense(1));
    net.initialize();
    const x = nd.ones([1, 3]);
    net(x).dispose(); // deferred initialization's parameters
    const before = nd.memory().arrays;
    const y = net(x);
    expect(nd.memory().arrays).toBe(before + 1);
    y.dispose();
    x.dispose();
    net.dispose();
  });
});

describe("SigmoidBinaryCrossEntropyLoss({ fromSigmoid: true })", () => {
  // MXNet 1.9.1 gluon/loss.py: -(log(pred + eps)·label + log(1. - pred + eps)·(1. - label)), eps = 1e-12.
  const mxnet = (p: number, z: number): number => {
    const f = Math.fround;
    const pos = Math.log(f(f(p) + f(1e-12)));
    const neg = Math.log(f(f(1 - p) + f(1e-12)));
    return -(pos * z + neg * (1 - z));
  };

  it("saturated probabilities (0 and 1, as sigmoid rounds them in float32) give MXNet's finite values", () => {
    const loss = new gluon.loss.SigmoidBinaryCrossEntropyLoss({ fromSigmoid: true });
    const pred = nd.array([[1], [1], [0], [0], [0.25]]);
    const label = nd.array([[1], [0], [1], [0], [1]]);
    const got = loss(pred, label);
    const want = [
      [1, 1],
      [1, 0],
      [0, 1],
      [0, 0],
      [0.25, 1],
    ].map(([p, z]) => mxnet(p!, z!));
    const values = Array.from(got.data());
    for (const v of values) expect(Number.isFinite(v)).toBe(true);
    values.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    expect(values[1]).toBeCloseTo(27.631021, 4);
    // and with posWeight
    const pw = nd.array([[2]]);
    const weighted = loss.forward(pred, label, undefined, pw);
    for (const v of weighted.data()) expect(Number.isFinite(v)).toBe(true);
    expect(weighted.data()[1]).toBeCloseTo(27.631021, 4);
    for (const a of [pred, label, got, pw, weighted]) a.dispose();
  });

  it("options of the wrong type are Errors naming them", () => {
    expect(() => new gluon.loss.SigmoidBinaryCrossEntropyLoss({ fromSigmoid: "yes" as unknown as boolean })).toThrow(/fromSigmoid must be a boolean/);
    expect(() => new gluon.loss.SoftmaxCrossEntropyLoss({ sparseLabel: 1 as unknown as boolean })).toThrow(/sparseLabel must be a boolean/);
    expect(() => new gluon.loss.SoftmaxCrossEntropyLoss({ axis: 0.5 })).toThrow(/axis must be an integer/);
    expect(() => new gluon.loss.KLDivLoss({ fromLogits: null as unknown as boolean })).toThrow(/fromLogits must be a boolean/);
    expect(() => new gluon.loss.HuberLoss({ rho: "1" as unknown as number })).toThrow(/rho must be a finite number/);
    expect(() => new gluon.loss.HingeLoss({ margin: NaN })).toThrow(/margin must be a finite number/);
  });
});

describe("collectParams(select): MXNet's re.match, anchored at the start only", () => {
  it("a prefix selects, a pattern in the middle does not; a RegExp is used as given", () => {
    class Net extends nn.Block {
      dense0 = new nn.Dense(3, { inUnits: 2 });
      dense1 = new nn.Dense(2, { inUnits: 3 });
      override forward(x: NDArray): NDArray {
        return this.dense1(this.dense0(x));
      }
    }
    const net = new Net();
    expect(net.collectParams("dense0").keys()).toEqual(["dense0.weight", "dense0.bias"]);
    expect(net.collectParams(".*weight").keys()).toEqual(["dense0.weight", "dense1.weight"]);
    expect(net.collectParams("dense0.weight|dense1.bias").keys()).toEqual(["dense0.weight", "dense1.bias"]);
    expect(net.collectParams("weight").keys()).toEqual([]);
    expect(net.collectParams(/bias$/).keys()).toEqual(["dense0.bias", "dense1.bias"]);
    expect(() => net.collectParams("(")).toThrow(/collectParams: select is not a valid regular expression/);
    expect(() => net.collectParams(3 as unknown as string)).toThrow(/collectParams: select must be a string or a RegExp/);
  });
});

describe("loadParameters: a parameter saved in another dtype (MXNet's _load_init)", () => {
  it("is an Error naming it unless castDtype; with castDtype the values are cast; nothing is half-loaded", () => {
    const net = new nn.Dense(2, { inUnits: 3 });
    net.initialize();
    const before = net.weight.data().toArray();
    const w = nd.array(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: "float64" },
    );
    const b = nd.array([0.5, -0.5], { dtype: "float32" });
    const file = nd.save(null, { weight: w, bias: b });
    expect(() => net.loadParameters(file)).toThrow(
      /Failed loading Parameter 'weight' from saved params: dtype incompatible expected float32 vs saved float64\. Set castDtype: true/,
    );
    expect(net.weight.data().toArray()).toEqual(before);
    expect(() => net.loadParameters(file, { dtypeSource: "saved" })).toThrow(/dtypeSource "saved" is not supported/);
    expect(() => net.loadParameters(file, { castDtype: "yes" as unknown as boolean })).toThrow(/castDtype must be a boolean/);
    net.loadParameters(file, { castDtype: true });
    expect(net.weight.data().dtype).toBe("float32");
    expect(net.weight.data().toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(Array.from(net.bias.data().data())).toEqual([0.5, -0.5]);
    // A deferred (not yet shaped) net refuses it too.
    const fresh = new nn.Dense(2);
    fresh.initialize();
    expect(() => fresh.loadParameters(file)).toThrow(/dtype incompatible/);
    for (const a of [w, b]) a.dispose();
    net.dispose();
    fresh.dispose();
  });
});
