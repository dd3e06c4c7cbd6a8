// LeNet (MXNet's Gluon crash course: Conv2D(6,5,relu) MaxPool(2,2)
// Conv2D(16,3,relu) MaxPool(2,2) Flatten Dense(120,relu) Dense(84,relu)
// Dense(10)) at batch 4, one forward and backward pass through ndgrad's nd
// operators, held to PyTorch float64 (tests/vectors/lenet.json, written by
// tests/vectors/gen_lenet.py from weights that are a hash of the element
// index: the same function below). Run in float64 (tight) and float32
// (float32 rounding through five layers).
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { expectNoLeaks, vectors } from "./helpers.js";

afterEach(expectNoLeaks);
/** The largest |got - want| / scale per dtype, and where. */
const worst = new Map<string, [number, string]>();
afterAll(() => {
  for (const [d, [w, where]] of worst) console.log(`[lenet ${d}] worst |got - want| / max|want| ${w.toExponential(2)} (${where})`);
});

interface Big {
  indices: number[];
  values: number[];
  sum: number;
  sumAbs: number;
  projection: number;
  projectionAbs: number;
  maxAbs: number;
}
interface Full {
  values: number[];
  maxAbs: number;
}
interface LeNet {
  seeds: Record<string, number>;
  shapes: Record<string, number[]>;
  scales: Record<string, number>;
  label: number[];
  logits: number[];
  loss: number;
  grads: Record<string, Full | Big>;
  proj: number;
}
const V = vectors<LeNet>("lenet.json");

/** gen_lenet.py's hash32 and value, in 32-bit integer arithmetic. */
function hash32(seed: number, i: number): number {
  let h = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed, 0x85ebca77)) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h = (h ^ (h >>> 12)) >>> 0;
  h = Math.imul(h, 0x297a2d39) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}
const value = (seed: number, i: number, scale: number): number => (((hash32(seed, i) >>> 8) - 2 ** 23) / 2 ** 23) * scale;
function values(seed: number, n: number, scale: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => value(seed, i, scale));
}

const NAMES = [
  "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "dense1.weight", "dense1.bias",
  "dense2.weight", "dense2.bias", "dense3.weight", "dense3.bias",
] as const;

function lenet(x: NDArray, p: Record<string, NDArray>, label: NDArray): { logits: NDArray; loss: NDArray } {
  const relu = { actType: "relu" } as const;
  const pool = { kernel: [2, 2], stride: [2, 2], poolType: "max" } as const;
  let y = nd.Convolution(x, p["conv1.weight"]!, p["conv1.bias"]!, { kernel: [5, 5], numFilter: 6 });
  y = nd.Pooling(nd.Activation(y, relu), pool);
  y = nd.Convolution(y, p["conv2.weight"]!, p["conv2.bias"]!, { kernel: [3, 3], numFilter: 16 });
  y = nd.Flatten(nd.Pooling(nd.Activation(y, relu), pool));
  y = nd.Activation(nd.FullyConnected(y, p["dense1.weight"]!, p["dense1.bias"]!, { numHidden: 120 }), relu);
  y = nd.Activation(nd.FullyConnected(y, p["dense2.weight"]!, p["dense2.bias"]!, { numHidden: 84 }), relu);
  const logits = nd.FullyConnected(y, p["dense3.weight"]!, p["dense3.bias"]!, { numHidden: 10 });
  return { logits, loss: nd.softmaxCrossEntropy(logits, label) };
}

describe("LeNet forward and backward vs PyTorch float64", () => {
  it("the weights are gen_lenet.py's", () => {
    // values of the hash as Python computes them (gen_lenet.py's `value`)
    expect([0, 1, 2].map((i) => value(1001, i, 0.25))).toEqual([0.08307984471321106, 0.16769176721572876, 0.12363281846046448]);
    expect(value(4242, 5, 1)).toBe(0.8773713111877441);
    expect(V.shapes["dense1.weight"]).toEqual([120, 400]);
    expect(V.label).toHaveLength(4);
  });

  it.each([
    ["float64", 1e-12],
    ["float32", 1e-5],
  ] as const)("%s", (dtype, rel) => {
    const inputs: Record<string, NDArray> = {};
    for (const n of ["data", ...NAMES]) {
      const shape = V.shapes[n]!;
      const size = shape.reduce((a, b) => a * b, 1);
      inputs[n] = nd.array(values(V.seeds[n]!, size, V.scales[n]!), { shape, dtype });
    }
    try {
      for (const a of Object.values(inputs)) a.attachGrad();
      nd.scope(() => {
        const label = nd.array(V.label, { dtype: "int32" });
        const { logits, loss } = autograd.record(() => lenet(inputs.data!, inputs, label));
        // within `rel` of the largest magnitude involved
        const close = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, scale: number): void => {
          const bad: string[] = [];
          for (let i = 0; i < want.length; i++) {
            const e = Math.abs(got[i]! - want[i]!);
            if (!(e <= rel * scale)) bad.push(`[${i}] got ${got[i]} want ${want[i]}`);
            if (e / scale > (worst.get(dtype)?.[0] ?? 0)) worst.set(dtype, [e / scale, what]);
          }
          expect(bad.slice(0, 4), `${what}: ${bad.length} of ${want.length} off by more than ${rel}·${scale}`).toEqual([]);
        };
        const maxAbs = (v: ArrayLike<number>): number => Array.from(v).reduce((m, a) => Math.max(m, Math.abs(a)), 0);
        expect(logits.shape).toEqual([4, 10]);
        close("logits", logits.data(), V.logits, maxAbs(V.logits));
        close("loss", loss.data(), [V.loss], Math.abs(V.loss));
        loss.backward();
        for (const n of ["data", ...NAMES]) {
          const want = V.grads[n]!;
          const g = inputs[n]!.grad!.data();
          if ("indices" in want) {
            close(`${n} gradient (sampled)`, want.indices.map((i) => g[i]!), want.values, want.maxAbs);
            let s = 0;
            let proj = 0;
            const pv = values(V.proj, g.length, 1);
            for (let i = 0; i < g.length; i++) {
              s += g[i]!;
              proj += g[i]! * pv[i]!;
            }
            close(`${n} gradient sum`, [s], [want.sum], want.sumAbs);
            close(`${n} gradient projection`, [proj], [want.projection], want.projectionAbs);
          } else {
            close(`${n} gradient`, g, want.values, want.maxAbs);
          }
        }
      });
    } finally {
      for (const a of Object.values(inputs)) a.dispose();
    }
  });
});
