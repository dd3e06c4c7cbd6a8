// Convolution and Deconvolution beyond the first-order vectors (those run in
// ops.test.ts with every set of tests/vectors/sets.json):
//
// * second order through the public API: tests/vectors/nn-conv-hvp.json
//   (torch float64, tests/vectors/gen_nn_conv.py; also read natively by
//   crates/ndgrad-core/tests/conv.rs): out = square(op(inputs)),
//   g = autograd.grad(out, inputs, {headGrads, createGraph}),
//   s = Σ sum(gᵢ·vᵢ), then autograd.grad(s, inputs) against torch's
//   Hessian-vector products, in float32 and float64, with the tolerances the
//   file carries (rtol ≤ 1e-5 / 1e-12, atol = rtol · the largest |terms| sum);
// * larger shapes than the vectors (so the packed GEMM's blocked paths, edge
//   tiles and several k blocks run) against a direct float64 loop written
//   here: forward, data gradient and weight gradient.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray, type DeconvolutionOptions } from "ndgrad";
import { decodeValue, expectNoLeaks, prng, vectors, type Value } from "./helpers.js";

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
interface HvpCase {
  name: string;
  op: "Convolution" | "Deconvolution";
  dtype: DT;
  params: {
    kernel: number[];
    stride: number[];
    pad: number[];
    dilate: number[];
    adj?: number[];
    num_filter: number;
    num_group: number;
    no_bias: boolean;
  };
  inputs: Arr[];
  head: Arr;
  v: Arr[];
  hvp: Expected[];
}

const load = (a: Arr): NDArray =>
  nd.array(a.data.map((v) => decodeValue(v)), { shape: a.shape, dtype: a.dtype });

function apply(c: HvpCase, xs: NDArray[]): NDArray {
  const p = c.params;
  const o: DeconvolutionOptions = {
    kernel: p.kernel,
    stride: p.stride,
    pad: p.pad,
    dilate: p.dilate,
    numFilter: p.num_filter,
    numGroup: p.num_group,
    noBias: p.no_bias,
  };
  const bias = p.no_bias ? null : xs[2]!;
  return c.op === "Deconvolution"
    ? nd.Deconvolution(xs[0]!, xs[1]!, bias, { ...o, adj: p.adj })
    : nd.Convolution(xs[0]!, xs[1]!, bias, o);
}

function compare(what: string, got: NDArray, want: Expected): string[] {
  if (!(want.rtol > 0 && want.rtol <= 1e-5)) return [`${what}: rtol ${want.rtol} outside (0, 1e-5]`];
  if (JSON.stringify(got.shape) !== JSON.stringify(want.shape)) return [`${what}: shape ${got.shape}, want ${want.shape}`];
  if (got.dtype !== want.dtype) return [`${what}: dtype ${got.dtype}, want ${want.dtype}`];
  const g = got.data();
  const bad: string[] = [];
  want.data.forEach((wv, i) => {
    const w = want.dtype === "float32" ? Math.fround(decodeValue(wv)) : decodeValue(wv);
    if (!(Math.abs(g[i]! - w) <= want.atol + want.rtol * Math.abs(w)) && bad.length < 4) {
      bad.push(`${what}[${i}]: got ${g[i]} want ${w}`);
    }
  });
  return bad;
}

describe("Hessian-vector products (torch float64 references)", () => {
  const cases = vectors<HvpCase[]>("nn-conv-hvp.json");
  it("cover both ops, both dtypes, 1-D and 2-D, groups and bias", () => {
    for (const dt of ["float32", "float64"]) {
      for (const op of ["Convolution", "Deconvolution"]) {
        const sel = cases.filter((c) => c.dtype === dt && c.op === op);
        expect(sel.some((c) => c.params.kernel.length === 1)).toBe(true);
        expect(sel.some((c) => c.params.kernel.length === 2)).toBe(true);
        expect(sel.some((c) => c.params.num_group > 1)).toBe(true);
        expect(sel.some((c) => !c.params.no_bias)).toBe(true);
      }
    }
  });
  it.each(cases.map((c) => ({ name: c.name, c })))("$name", ({ c }) => {
    const xs = c.inputs.map(load);
    const problems: string[] = [];
    try {
      nd.scope(() => {
        xs.forEach((x) => x.attachGrad());
        const out = autograd.record(() => apply(c, xs).square());
        const gs = autograd.grad(out, xs, { headGrads: [load(c.head)], createGraph: true });
        const s = autograd.record(() =>
          gs.map((g, i) => g.mul(load(c.v[i]!)).sum()).reduce((a, b) => a.add(b)),
        );
        const hv = autograd.grad(s, xs);
        hv.forEach((h, i) => problems.push(...compare(`hvp of input ${i}`, h, c.hvp[i]!)));
      });
    } finally {
      xs.forEach((x) => x.dispose());
    }
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// larger shapes against a direct loop

interface Geo {
  n: number; c: number; h: number; w: number; f: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; g: number;
}
const outDims = (q: Geo): [number, number] => [
  Math.floor((q.h + 2 * q.ph - q.dh * (q.kh - 1) - 1) / q.sh) + 1,
  Math.floor((q.w + 2 * q.pw - q.dw * (q.kw - 1) - 1) / q.sw) + 1,
];

/** y, dx, dw of a convolution with head `dy`, in float64, the textbook loops. */
function direct(q: Geo, x: Float64Array, w: Float64Array, dy: Float64Array): { y: Float64Array; dx: Float64Array; dw: Float64Array } {
  const [oh, ow] = outDims(q);
  const cg = q.c / q.g;
  const fg = q.f / q.g;
  const y = new Float64Array(q.n * q.f * oh * ow);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let n = 0; n < q.n; n++)
    for (let f = 0; f < q.f; f++) {
      const gi = Math.floor(f / fg);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const yi = ((n * q.f + f) * oh + oy) * ow + ox;
          let acc = 0;
          for (let ci = 0; ci < cg; ci++)
            for (let ki = 0; ki < q.kh; ki++) {
              const iy = oy * q.sh - q.ph + ki * q.dh;
              if (iy < 0 || iy >= q.h) continue;
              for (let kj = 0; kj < q.kw; kj++) {
                const ix = ox * q.sw - q.pw + kj * q.dw;
                if (ix < 0 || ix >= q.w) continue;
                const xi = ((n * q.c + gi * cg + ci) * q.h + iy) * q.w + ix;
                const wi = ((f * cg + ci) * q.kh + ki) * q.kw + kj;
                acc += x[xi]! * w[wi]!;
                dx[xi]! += dy[yi]! * w[wi]!;
                dw[wi]! += dy[yi]! * x[xi]!;
              }
            }
          y[yi] = acc;
        }
    }
  return { y, dx, dw };
}

const GEOS: [string, Geo][] = [
  ["LeNet conv1 (batch 4)", { n: 4, c: 1, h: 28, w: 28, f: 6, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, g: 1 }],
  ["LeNet conv2 (batch 4)", { n: 4, c: 6, h: 12, w: 12, f: 16, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, g: 1 }],
  ["3x3 pad 1, 40 -> 36 channels", { n: 2, c: 40, h: 11, w: 13, f: 36, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, g: 1 }],
  ["1x1, 70 -> 33 channels", { n: 3, c: 70, h: 9, w: 7, f: 33, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, g: 1 }],
  ["3x3 stride 2, groups 4", { n: 2, c: 32, h: 15, w: 17, f: 24, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 0, dh: 1, dw: 1, g: 4 }],
  ["depthwise 3x3 dilate 2", { n: 2, c: 12, h: 16, w: 16, f: 12, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2, dh: 2, dw: 2, g: 12 }],
  ["1-D k=7 stride 3, 300 long", { n: 3, c: 5, h: 1, w: 300, f: 9, kh: 1, kw: 7, sh: 1, sw: 3, ph: 0, pw: 2, dh: 1, dw: 1, g: 1 }],
];

describe("larger shapes against a direct float64 loop (float32 engine)", () => {
  it.each(GEOS.map(([name, q]) => ({ name, q })))("$name: output, data and weight gradients", ({ q }) => {
    const rand = prng(q.c * 1000 + q.f);
    const oneD = q.h === 1 && q.kh === 1;
    const xs = [q.n, q.c, ...(oneD ? [] : [q.h]), q.w];
    const ws = [q.f, q.c / q.g, ...(oneD ? [] : [q.kh]), q.kw];
    const [oh, ow] = outDims(q);
    const ys = [q.n, q.f, ...(oneD ? [] : [oh]), ow];
    const draw = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
    const xv = draw(xs.reduce((a, b) => a * b));
    const wv = draw(ws.reduce((a, b) => a * b));
    const dyv = draw(ys.reduce((a, b) => a * b));
    const want = direct(q, Float64Array.from(xv), Float64Array.from(wv), Float64Array.from(dyv));
    // |terms| sums bound the float32 accumulation error
    const mag = direct(q, Float64Array.from(xv, Math.abs), Float64Array.from(wv, Math.abs), Float64Array.from(dyv, Math.abs));
    nd.scope(() => {
      const x = nd.array(xv, { shape: xs });
      const w = nd.array(wv, { shape: ws });
      x.attachGrad();
      w.attachGrad();
      const opts = {
        kernel: oneD ? [q.kw] : [q.kh, q.kw],
        stride: oneD ? [q.sw] : [q.sh, q.sw],
        pad: oneD ? [q.pw] : [q.ph, q.pw],
        dilate: oneD ? [q.dw] : [q.dh, q.dw],
        numFilter: q.f,
        numGroup: q.g,
        noBias: true,
      };
      const y = autograd.record(() => nd.Convolution(x, w, null, opts));
      expect(y.shape).toEqual(ys);
      y.backward(nd.array(dyv, { shape: ys }));
      const within = (what: string, got: NDArray, ref: Float64Array, m: Float64Array): void => {
        const g = got.data();
        const atol = 1e-5 * m.reduce((a, b) => Math.max(a, b), 0);
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(g[i]! - ref[i]!) / (atol + 1e-5 * Math.abs(ref[i]!)));
        expect(worst, `${what}: worst use of the tolerance`).toBeLessThanOrEqual(1);
      };
      within("output", y, want.y, mag.y);
      within("data gradient", x.grad!, want.dx, mag.dx);
      within("weight gradient", w.grad!, want.dw, mag.dw);
      x.dispose();
      w.dispose();
    });
  });
});
