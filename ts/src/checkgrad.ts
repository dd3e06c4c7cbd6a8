// autograd.checkGrad: a public gradient checker, like PyTorch's gradcheck.
import { describe } from "./args.js";
import { setRecordingAndTraining, wasm } from "./ffi.js";
import { scope } from "./memory.js";
import { array } from "./nd.js";
import { NDArray, type DType } from "./ndarray.js";

export interface CheckGradOptions {
  /**
   * Finite-difference step, relative to each input's magnitude (default
   * 2^-7 ≈ 0.8 % for float32 inputs, a power of two, exact in float32;
   * 2^-20 ≈ 1e-6 for float64 inputs, as PyTorch's gradcheck).
   */
  eps?: number;
  /** Relative tolerance on top of the estimated truncation and rounding error (default 1e-3; 1e-6 when every input is float64). */
  rtol?: number;
  /** Absolute tolerance on top of it (default 1e-5). */
  atol?: number;
  /** Random projections of the output to check (default 2). */
  projections?: number;
  /** Throw an Error describing the first mismatch (default) or return false. */
  raiseException?: boolean;
}

/** mulberry32: the projections are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Forwards accumulate a few ulps of error: 16 half-ulps of the dtype. */
const U_FWD = { float32: 2 ** -19, float64: 2 ** -48 } as const;

/**
 * Compare `fn`'s autograd gradients with central finite differences, like
 * PyTorch's `gradcheck`. The loss is a random projection `Σ fn(xs)·head`;
 * differences are taken in float64 of the engine's forward values, with two
 * steps (h, 2h) so the truncation error is estimated (Richardson), and the
 * float32 rounding of the forwards is bounded and allowed for. Returns true,
 * or throws (or returns false) on the first element out of tolerance.
 * `inputs` are not modified; inputs should stay away from kinks (|x| at 0,
 * ties of max/min) by more than 2·eps.
 */
export function checkGrad(fn: (...xs: NDArray[]) => NDArray, inputs: NDArray[], options: CheckGradOptions = {}): boolean {
  if (typeof fn !== "function") throw new Error(`checkGrad: expected a function (got ${describe(fn)})`);
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((x) => x instanceof NDArray)) {
    throw new Error(`checkGrad: inputs must be a non-empty array of NDArrays (got ${describe(inputs)})`);
  }
  const dtypes = inputs.map((x, k) => {
    const d = x.dtype;
    if (d !== "float32" && d !== "float64") throw new Error(`checkGrad: input ${k} is ${d}; gradients need float32 or float64 inputs`);
    return d;
  });
  // The coarsest dtype sets the step, the rounding allowance and the defaults.
  const wide = dtypes.every((d) => d === "float64");
  const eps = options.eps ?? (wide ? 2 ** -20 : 2 ** -7);
  const rtol = options.rtol ?? (wide ? 1e-6 : 1e-3);
  const uFwd = wide ? U_FWD.float64 : U_FWD.float32;
  const atol = options.atol ?? 1e-5;
  const projections = options.projections ?? 2;
  for (const [k, v] of Object.entries({ eps, rtol, atol })) {
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new Error(`checkGrad: ${k} must be a finite number >= 0 (got ${describe(v)})`);
  }
  const shapes = inputs.map((x) => x.shape);
  const values = inputs.map((x) => Float64Array.from(x.data()));
  const make = (vals: Float64Array[]): NDArray[] => vals.map((v, k) => fromF64(v, shapes[k]!, dtypes[k]!));
  // Forwards run with recording off and the caller's modes restored.
  const forward = (vals: Float64Array[]): Float64Array =>
    withoutRecording(() => scope(() => Float64Array.from(fn(...make(vals)).data())));
  const y0 = forward(values);
  const rand = prng(0x5eed);
  for (let p = 0; p < projections; p++) {
    const head = Float64Array.from({ length: y0.length }, () => Math.fround(rand() * 2 - 1));
    const analytic = scope(() => {
      const xs = make(values);
      for (const x of xs) x.attachGrad();
      try {
        const prev = setRecordingAndTraining(true, true);
        let y: NDArray;
        try {
          y = fn(...xs);
        } finally {
          setRecordingAndTraining(prev.recording, prev.training);
        }
        if (!(y instanceof NDArray)) throw new Error(`checkGrad: fn must return an NDArray (got ${describe(y)})`);
        if (y.size !== y0.length) throw new Error(`checkGrad: fn returned ${y.size} values, then ${y0.length}: it is not deterministic`);
        y.backward(fromF64(head, y.shape, y.dtype));
        return xs.map((x) => Float64Array.from(x.grad!.data()));
      } finally {
        for (const x of xs) x.dispose();
      }
    });
    const loss = (vals: Float64Array[]): { L: number; S: number } => {
      const y = forward(vals);
      let L = 0;
      let S = 0;
      for (let j = 0; j < y.length; j++) {
        L += y[j]! * head[j]!;
        S += Math.abs(y[j]! * head[j]!);
      }
      return { L, S };
    };
    const S0 = loss(values).S;
    for (let k = 0; k < values.length; k++) {
      for (let i = 0; i < values[k]!.length; i++) {
        const x = values[k]![i]!;
        const h = eps * 2 ** Math.floor(Math.log2(Math.max(Math.abs(x), 1)));
        const D = (step: number): { d: number; S: number } => {
          const round = dtypes[k] === "float32" ? Math.fround : (v: number): number => v;
          const xp = round(x + step);
          const xm = round(x - step);
          const at = (v: number): Float64Array[] => values.map((q, kk) => (kk === k ? q.map((w, ii) => (ii === i ? v : w)) : q));
          const a = loss(at(xp));
          const b = loss(at(xm));
          return { d: (a.L - b.L) / (xp - xm), S: Math.max(a.S, b.S) / (xp - xm) };
        };
        const d1 = D(h);
        const d2 = D(2 * h);
        const g = analytic[k]![i]!;
        const noise = 2 * uFwd * Math.max(d1.S, S0 / (2 * h));
        const tol = atol + rtol * Math.abs(g) + 2 * Math.abs(d1.d - d2.d) + 4 * noise;
        if (!(Math.abs(d1.d - g) <= tol)) {
          if (options.raiseException === false) return false;
          throw new Error(
            `checkGrad: gradient of input ${k} at flat index ${i} (shape [${shapes[k]!.join(",")}]): ` +
              `autograd gives ${g}, finite differences give ${d1.d} (tolerance ${tol.toPrecision(3)})`,
          );
        }
      }
    }
  }
  return true;
}

function fromF64(v: Float64Array, shape: number[], dtype: DType): NDArray {
  return array(v, { shape, dtype });
}

function withoutRecording<T>(f: () => T): T {
  const prev = setRecordingAndTraining(false, wasm.nd_is_training() !== 0);
  try {
    return f();
  } finally {
    setRecordingAndTraining(prev.recording, prev.training);
  }
}
