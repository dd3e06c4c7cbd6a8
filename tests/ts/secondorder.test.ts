// Second order for every differentiable op: the table of
// tests/ts/secondorder.ts (its header says what is computed and compared),
// in float32 and in float64. Where the first-order gradient reads x only
// through a mask, an index or not at all, the gradient from
// `autograd.grad({createGraph: true})` must still be in the graph and give
// exact zeros (issue #11); elsewhere the Hessian-vector product matches
// central differences of the first-order gradient (float64).
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { autograd, nd, type NDArray } from "ndgrad";
import { expectNoLeaks, prng } from "./helpers.js";
import { SECOND, type Input, type SecondCheck } from "./secondorder.js";

afterEach(expectNoLeaks);

type DT = "float32" | "float64";
const load = (x: Input | { shape: number[]; values: ArrayLike<number> }, dt: DT): NDArray =>
  nd.array(Array.from(x.values), { shape: x.shape, dtype: dt });
const seedOf = (s: string): number => [...s].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0, 11);

interface Setup {
  inputs: Input[];
  head: number[];
  headShape: number[];
  v: Input[];
}

function setup(c: SecondCheck, k: number): Setup {
  const r = prng(seedOf(`${c.op}/${k}`));
  const inputs = c.inputs(r);
  const shape = nd.scope(() => c.f(...inputs.map((x) => load(x, "float64"))).shape);
  const n = shape.reduce((a, b) => a * b, 1);
  const head = Array.from({ length: n }, () => Math.fround(r() * 2 - 1));
  const v = inputs.map((x) => ({ shape: x.shape, values: x.values.map(() => Math.fround(r() * 2 - 1)) }));
  return { inputs, head, headShape: shape, v };
}

/** x_i.grad after (Σ_i <g_i, v_i>).backward(), g = grad(f(x), x, {headGrads: h, createGraph}). */
function hvp(c: SecondCheck, s: Setup, dt: DT): { values: Float64Array[]; dtypes: string[]; shapes: number[][] } {
  return nd.scope(() => {
    const xs = s.inputs.map((x) => load(x, dt));
    for (const x of xs) x.attachGrad();
    const y = autograd.record(() => c.f(...xs));
    const h = nd.array(s.head, { shape: s.headShape, dtype: y.dtype });
    const gs = autograd.grad(y, xs, { headGrads: h, createGraph: true });
    const vs = s.v.map((v) => load(v, dt));
    const dot = autograd.record(() => gs.map((g, i) => g.mul(vs[i]!).sum()).reduce((a, b) => a.add(b)));
    dot.backward();
    const out = {
      values: xs.map((x) => Float64Array.from(x.grad!.data())),
      dtypes: xs.map((x) => x.grad!.dtype),
      shapes: xs.map((x) => x.grad!.shape),
    };
    for (const x of xs) x.dispose();
    return out;
  });
}

/** The first-order gradient of <f(x), h> at x + t·v, in float64. */
function firstAt(c: SecondCheck, s: Setup, t: number): Float64Array[] {
  return nd.scope(() => {
    const xs = s.inputs.map((x, i) => load({ shape: x.shape, values: x.values.map((w, j) => w + t * s.v[i]!.values[j]!) }, "float64"));
    for (const x of xs) x.attachGrad();
    const y = autograd.record(() => c.f(...xs));
    y.backward(nd.array(s.head, { shape: s.headShape, dtype: y.dtype }));
    const g = xs.map((x) => Float64Array.from(x.grad!.data()));
    for (const x of xs) x.dispose();
    return g;
  });
}

const stats = { lines: 0, zeros: 0, worst: { float32: 0, float64: 0 } as Record<DT, number>, worstName: { float32: "", float64: "" } as Record<DT, string> };

describe("second order of every differentiable op (tests/ts/secondorder.ts)", () => {
  SECOND.forEach((c, k) => {
    for (const dt of ["float32", "float64"] as const) {
      it(`${c.op} (${c.kind}) in ${dt}`, () => {
        const s = setup(c, k);
        const got = hvp(c, s, dt);
        const eps = 1e-4;
        const plus = firstAt(c, s, eps);
        const minus = firstAt(c, s, -eps);
        stats.lines++;
        let curved = false;
        s.inputs.forEach((x, i) => {
          const label = `${c.op} ${dt} x${i}`;
          expect(got.dtypes[i], `${label}: dtype of x.grad`).toBe(dt);
          expect(got.shapes[i], `${label}: shape of x.grad`).toEqual(x.shape);
          const fd = plus[i]!.map((p, j) => (p - minus[i]![j]!) / (2 * eps));
          const a = got.values[i]!;
          if (c.kind === "zero") {
            stats.zeros++;
            // ±0 (abs's sign(x)·dy·0 keeps signs): zero either way.
            expect(Array.from(a, (e) => (e === 0 ? 0 : e)), `${label}: H·v is exactly zero`).toEqual(Array.from(a, () => 0));
            for (const d of fd) expect(Math.abs(d), `${label}: differences of the gradient ~0`).toBeLessThanOrEqual(1e-9);
            return;
          }
          const scale = Math.max(1, ...Array.from(fd, Math.abs));
          const [rtol, atol] = dt === "float32" ? [2e-3, 2e-4 * scale] : [1e-6, 1e-7 * scale];
          fd.forEach((d, j) => {
            const err = Math.abs(a[j]! - d);
            const use = err / (atol + rtol * Math.abs(d));
            if (use > stats.worst[dt]) {
              stats.worst[dt] = use;
              stats.worstName[dt] = `${label}[${j}]`;
            }
            expect(err, `${label}[${j}]: autograd ${a[j]} vs differences ${d}`).toBeLessThanOrEqual(atol + rtol * Math.abs(d));
          });
          if (fd.some((d) => Math.abs(d) > 1e-3)) curved = true;
        });
        // A "value" line must have curvature (else it belongs with the zeros).
        if (c.kind === "value") expect(curved, `${c.op}: H·v is not ~0`).toBe(true);
      });
    }
  });
});

afterAll(() => {
  if (stats.lines > 0) {
    console.log(
      `second order: ${stats.lines} lines×dtypes, ${stats.zeros} exact-zero inputs; worst fraction of the tolerance ` +
        `float32 ${stats.worst.float32.toExponential(2)} (${stats.worstName.float32}), float64 ${stats.worst.float64.toExponential(2)} (${stats.worstName.float64})`,
    );
  }
});
