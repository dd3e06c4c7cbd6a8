// Finite-difference gradient checks: for every differentiable op (and a few
// compositions), the gradient autograd computes is compared with central
// differences of the scalar loss
//
//     L(x) = Σ_j f(x)_j · head_j          (head: a fixed random array)
//
// evaluated with ndgrad forwards (float32), and summed in float64 in
// JavaScript.
//
// Step: h = 2^(e-7) with 2^e <= max(|x_i|, 1) < 2^(e+1), about 0.8% of the
// value (a power of two, so x ± h is almost always exact in float32; the
// denominator is the actual difference of the two float32 inputs anyway).
// The largest step reaches 2h = 2^(e-6), and every input is kept further than
// that from non-differentiable points (0 for abs/relu/sign, ties for
// maximum/minimum/max/min, branch switches in control flow).
//
// Tolerance for element i of an input's gradient:
//
//     |D(h) - g| <= 1e-3·|g| + 2·|D(h) - D(2h)| + 4·noise
//
// * g: the autograd gradient; D(h): the central difference with step h.
// * truncation: D(h) = L' + h²L'''/6 + ..., so |D(2h) - D(h)| ≈ 3× the
//   truncation error of D(h) (Richardson); 2× that difference bounds it with
//   margin, and adapts to each function's curvature instead of a fixed rtol.
// * noise: float32 rounding of the forward outputs. With u = 2^-19 (16 half
//   ulps, enough for chains of ~16 float32 ops), |ΔL| <= u·S where
//   S = Σ_j |f_j · head_j|, so the difference of two evaluations is off by at
//   most 2·u·S / (x+ - x-).
// * 1e-3·|g|: a floor for what the two estimates above can miss; any real
//   gradient bug (wrong formula, wrong broadcasting axis, missing term) is an
//   O(1) relative error.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";
import { CHECKS, U, differentiableOps, random, reseed, type Check, type F, type Input } from "./gradchecks.js";

afterEach(expectNoLeaks);

// ---------------------------------------------------------------------------
// the check itself
// ---------------------------------------------------------------------------

/** The dtype the checks run in (each check runs in float32 and float64). */
let DT: "float32" | "float64" = "float32";
/** Half-ulp bound on the forwards' relative rounding (see the header). */
const uFwd = (): number => (DT === "float32" ? 2 ** -19 : 2 ** -48);
/** The relative floor of the tolerance. */
const rFloor = (): number => (DT === "float32" ? 1e-3 : 1e-7);
const round = (v: number): number => (DT === "float32" ? Math.fround(v) : v);
const stats = { elements: 0, worstUse: 0, worstUseName: "", worstRel: 0, worstRelName: "" };

function load(x: Input): NDArray {
  return nd.array(x.values, { shape: x.shape, dtype: DT });
}

/** Forward only: f's output values, in float64. */
function evaluate(f: F, inputs: Input[]): Float64Array {
  return nd.scope(() => Float64Array.from(f(...inputs.map(load)).data()));
}

function stepFor(x: number): number {
  const e = Math.floor(Math.log2(Math.max(Math.abs(x), 1)));
  return 2 ** (e - (DT === "float32" ? 7 : 17));
}

interface Failure {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
  tol: number;
}

function gradcheck(c: Check, record = true): Failure[] {
  reseed([...c.name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0, 7));
  const inputs = c.inputs();
  const y0 = evaluate(c.f, inputs);
  const head = Float64Array.from({ length: y0.length }, () => Math.fround(random() * 2 - 1));
  expect(y0.every(Number.isFinite), `${c.name}: forward is finite`).toBe(true);

  // autograd
  const xs = inputs.map(load);
  let analytic: Float64Array[];
  try {
    analytic = nd.scope(() => {
      for (const x of xs) x.attachGrad();
      const y = autograd.record(() => c.f(...xs));
      expect(y.size, `${c.name}: output size`).toBe(y0.length);
      expect(y.dtype, `${c.name}: output dtype`).toBe(DT);
      y.backward(nd.array(head, { shape: y.shape, dtype: DT }));
      return xs.map((x) => Float64Array.from(x.grad!.data()));
    });
  } finally {
    for (const x of xs) x.dispose();
  }

  // central differences in float64 of float32 forwards
  const loss = (ins: Input[]): { L: number; S: number } => {
    const y = evaluate(c.f, ins);
    let L = 0;
    let S = 0;
    for (let j = 0; j < y.length; j++) {
      L += y[j]! * head[j]!;
      S += Math.abs(y[j]! * head[j]!);
    }
    return { L, S };
  };
  const S0 = loss(inputs).S;
  const failures: Failure[] = [];
  inputs.forEach((inp, k) => {
    for (let i = 0; i < inp.values.length; i++) {
      const x = inp.values[i]!;
      const h = stepFor(x);
      const D = (step: number): { d: number; S: number } => {
        const xp = round(x + step);
        const xm = round(x - step);
        const at = (v: number): Input[] =>
          inputs.map((q, kk) => (kk === k ? { shape: q.shape, values: q.values.map((w, ii) => (ii === i ? v : w)) } : q));
        const p = loss(at(xp));
        const m = loss(at(xm));
        return { d: (p.L - m.L) / (xp - xm), S: Math.max(p.S, m.S) / (xp - xm) };
      };
      const d1 = D(h);
      const d2 = D(2 * h);
      const g = analytic[k]![i]!;
      const noise = 2 * uFwd() * Math.max(d1.S, S0 / (2 * h));
      const tol = rFloor() * Math.abs(g) + 2 * Math.abs(d1.d - d2.d) + 4 * noise;
      const err = Math.abs(d1.d - g);
      if (record) stats.elements++;
      if (record && err / tol > stats.worstUse) {
        stats.worstUse = err / tol;
        stats.worstUseName = `${c.name} input ${k}[${i}]`;
      }
      if (record && Math.abs(g) > 1e-3 && err / Math.abs(g) > stats.worstRel) {
        stats.worstRel = err / Math.abs(g);
        stats.worstRelName = `${c.name} input ${k}[${i}]`;
      }
      if (!(err <= tol)) failures.push({ input: k, index: i, analytic: g, numeric: d1.d, tol });
    }
  });
  return failures;
}

describe("finite differences", () => {
  it("cover every differentiable op", () => {
    const covered = new Set(CHECKS.flatMap((c) => c.ops));
    const all = differentiableOps();
    const missing = [...all].filter((op) => !covered.has(op));
    expect(missing, "differentiable ops without a finite-difference check (add them to CHECKS)").toEqual([]);
    const unknown = [...covered].filter((op) => !all.has(op));
    expect(unknown, "CHECKS name ops that are not differentiable API names").toEqual([]);
    expect(new Set(CHECKS.map((c) => c.name)).size).toBe(CHECKS.length);
  });

  it("would catch a wrong gradient (the harness itself)", () => {
    // detach() hides x from autograd on one side: autograd says x, the true
    // derivative of x·x is 2x; every element must be reported.
    const failures = gradcheck({ name: "detach(x)*x", ops: [], inputs: () => [U([4], 0.5, 2)], f: (x) => x.detach().mul(x) }, false);
    expect(failures).toHaveLength(4);
    for (const f of failures) expect(f.numeric / f.analytic).toBeCloseTo(2, 2);
  });

  for (const dtype of ["float32", "float64"] as const) {
    describe(dtype, () => {
      it.each(CHECKS.map((c) => ({ name: c.name, c })))("$name", ({ c }) => {
        DT = dtype;
        try {
          const failures = gradcheck(c);
          const msg = failures
            .slice(0, 6)
            .map((f) => `input ${f.input}[${f.index}]: autograd ${f.analytic}, finite difference ${f.numeric} (tolerance ${f.tol.toExponential(2)})`)
            .join("\n  ");
          expect(failures.length, `${c.name} (${dtype}):\n  ${msg}`).toBe(0);
        } finally {
          DT = "float32";
        }
      });
      afterAll(() => {
        console.log(
          `[gradcheck ${dtype}] ${CHECKS.length} checks, ${stats.elements} gradient elements; ` +
            `worst |fd - autograd|/|autograd| ${stats.worstRel.toExponential(2)} (${stats.worstRelName}); ` +
            `worst tolerance use ${stats.worstUse.toFixed(3)} (${stats.worstUseName})`,
        );
        Object.assign(stats, { elements: 0, worstUse: 0, worstUseName: "", worstRel: 0, worstRelName: "" });
      });
    });
  }
});
