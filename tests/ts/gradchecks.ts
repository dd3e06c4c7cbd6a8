// The finite-difference checks (inputs and functions) and the lists that
// say which API names must have one. Shared by tests/ts/gradcheck.test.ts
// (which runs them) and tests/ts/opsdoc.test.ts (which writes docs/ops.md).
import { autograd, nd, NDArray } from "ndgrad";
import { prng, opsVectors } from "./helpers.js";

// ---------------------------------------------------------------------------
// deterministic inputs
// ---------------------------------------------------------------------------

let rand = prng(1);
/** Restart the input generators' random stream (each check seeds its own). */
export function reseed(seed: number): void {
  rand = prng(seed);
}
/** A uniform draw from the checks' stream. */
export function random(): number {
  return rand();
}

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export interface Input {
  shape: number[];
  values: number[]; // float32 values
}
export const input = (shape: number[], f: (i: number) => number): Input => ({
  shape,
  values: Array.from({ length: size(shape) }, (_, i) => Math.fround(f(i))),
});
const pickOf = (xs: readonly number[]): number => xs[Math.floor(rand() * xs.length)]!;
/** Uniform in [lo, hi). */
export const U = (shape: number[], lo = -2, hi = 2): Input => input(shape, () => lo + (hi - lo) * rand());
/** Random sign times uniform in [lo, hi): away from 0. */
const away = (shape: number[], lo = 0.3, hi = 2): Input =>
  input(shape, () => (rand() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rand()));
/** Shuffled, evenly spaced values in [lo, hi): no two closer than (hi-lo)/n. */
const distinct = (shape: number[], lo = -2, hi = 2): Input => {
  const n = size(shape);
  const v = Array.from({ length: n }, (_, i) => lo + ((i + 0.25 + 0.5 * rand()) * (hi - lo)) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return input(shape, (i) => v[i]!);
};
/** `base` (broadcast to `shape`) plus a random offset of magnitude in [lo, hi). */
const offsetFrom = (base: Input, shape: number[], lo = 0.3, hi = 1.5): Input => {
  const bs = base.shape;
  return input(shape, (i) => {
    // index of the broadcast element of `base`
    let rem = i;
    let bi = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const k = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
      const bd = d - (shape.length - bs.length);
      if (bd >= 0) {
        if (bs[bd] !== 1) bi += k * stride;
        stride *= bs[bd]!;
      }
    }
    return base.values[bi]! + (rand() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rand());
  });
};
const fixed = (shape: number[], values: number[]): Input => input(shape, (i) => values[i]!);

// ---------------------------------------------------------------------------
// the checks: one list, every differentiable op at least once
// ---------------------------------------------------------------------------

export type F = (...xs: NDArray[]) => NDArray;
export interface Check {
  name: string;
  /** The differentiable API names this check exercises. */
  ops: string[];
  inputs: () => Input[];
  f: F;
}

/** The tutorial's f(a): doubling until the norm reaches 1000, then a branch. */
function tutorialF(a: NDArray): NDArray {
  let b = a.mul(2);
  while (b.norm().asscalar() < 1000) b = b.mul(2);
  return b.sum().asscalar() >= 0 ? b.at(0) : b.at(1);
}

export const CHECKS: Check[] = [
  // binary, with broadcasting in both directions
  { name: "add [2,3]+[3]", ops: ["add"], inputs: () => [U([2, 3]), U([3])], f: (a, b) => a.add(b) },
  { name: "nd.add [1]+[2,2,3]", ops: ["add"], inputs: () => [U([1]), U([2, 2, 3])], f: (a, b) => nd.add(a, b) },
  { name: "sub [3,1]-[1,4]", ops: ["sub"], inputs: () => [U([3, 1]), U([1, 4])], f: (a, b) => a.sub(b) },
  { name: "mul [2,3,1]*[4]", ops: ["mul"], inputs: () => [U([2, 3, 1]), U([4])], f: (a, b) => a.mul(b) },
  { name: "div [2,3]/[2,1]", ops: ["div"], inputs: () => [U([2, 3]), away([2, 1], 0.5, 2)], f: (a, b) => a.div(b) },
  { name: "div [3]/[2,3]", ops: ["div"], inputs: () => [U([3]), away([2, 3], 0.5, 2)], f: (a, b) => nd.div(a, b) },
  {
    name: "pow [2,3]^[3]",
    ops: ["pow"],
    inputs: () => [U([2, 3], 0.5, 2), U([3], -1.5, 2.5)],
    f: (a, b) => a.pow(b),
  },
  {
    name: "pow [2,1]^[3,1,4]",
    ops: ["pow"],
    inputs: () => [U([2, 1], 0.5, 2), U([3, 1, 4], -1, 3)],
    f: (a, b) => nd.pow(a, b),
  },
  {
    name: "maximum [2,3] vs [3]",
    ops: ["maximum"],
    inputs: () => {
      const b = U([3]);
      return [offsetFrom(b, [2, 3]), b];
    },
    f: (a, b) => a.maximum(b),
  },
  {
    name: "minimum [3] vs [2,3]",
    ops: ["minimum"],
    inputs: () => {
      const a = U([3]);
      return [a, offsetFrom(a, [2, 3])];
    },
    f: (a, b) => nd.minimum(a, b),
  },
  // scalar forms, number on either side
  { name: "x.add(2.5)", ops: ["add"], inputs: () => [U([2, 3])], f: (x) => x.add(2.5) },
  { name: "nd.sub(2, x)", ops: ["sub"], inputs: () => [U([4])], f: (x) => nd.sub(2, x) },
  { name: "x.sub(0.5)", ops: ["sub"], inputs: () => [U([4])], f: (x) => x.sub(0.5) },
  { name: "nd.mul(-1.5, x)", ops: ["mul"], inputs: () => [U([2, 2])], f: (x) => nd.mul(-1.5, x) },
  { name: "x.div(4)", ops: ["div"], inputs: () => [U([3])], f: (x) => x.div(4) },
  { name: "nd.div(2, x)", ops: ["div"], inputs: () => [away([2, 3], 0.5, 2)], f: (x) => nd.div(2, x) },
  { name: "x.pow(3)", ops: ["pow"], inputs: () => [U([2, 3])], f: (x) => x.pow(3) },
  { name: "x.pow(0.5)", ops: ["pow"], inputs: () => [U([5], 0.5, 3)], f: (x) => x.pow(0.5) },
  { name: "nd.pow(2, x)", ops: ["pow"], inputs: () => [U([2, 3])], f: (x) => nd.pow(2, x) },
  { name: "nd.pow(0.5, x)", ops: ["pow"], inputs: () => [U([4])], f: (x) => nd.pow(0.5, x) },
  {
    name: "x.maximum(0.25)",
    ops: ["maximum"],
    inputs: () => [offsetFrom(fixed([1], [0.25]), [2, 3])],
    f: (x) => x.maximum(0.25),
  },
  {
    name: "nd.maximum(0.25, x)",
    ops: ["maximum"],
    inputs: () => [offsetFrom(fixed([1], [0.25]), [5])],
    f: (x) => nd.maximum(0.25, x),
  },
  {
    name: "nd.minimum(-0.5, x)",
    ops: ["minimum"],
    inputs: () => [offsetFrom(fixed([1], [-0.5]), [2, 3])],
    f: (x) => nd.minimum(-0.5, x),
  },
  {
    name: "x.minimum(1)",
    ops: ["minimum"],
    inputs: () => [offsetFrom(fixed([1], [1]), [5])],
    f: (x) => x.minimum(1),
  },
  // unary
  { name: "neg", ops: ["neg"], inputs: () => [U([2, 3])], f: (x) => x.neg() },
  { name: "nd.negative", ops: ["negative"], inputs: () => [U([3])], f: (x) => nd.negative(x) },
  { name: "exp", ops: ["exp"], inputs: () => [U([2, 3], -3, 3)], f: (x) => x.exp() },
  { name: "log", ops: ["log"], inputs: () => [U([2, 3], 0.5, 5)], f: (x) => x.log() },
  { name: "sqrt", ops: ["sqrt"], inputs: () => [U([2, 3], 0.5, 5)], f: (x) => nd.sqrt(x) },
  { name: "square", ops: ["square"], inputs: () => [U([2, 1, 3])], f: (x) => x.square() },
  { name: "abs", ops: ["abs"], inputs: () => [away([2, 3])], f: (x) => x.abs() },
  { name: "sigmoid", ops: ["sigmoid"], inputs: () => [U([2, 3], -4, 4)], f: (x) => x.sigmoid() },
  { name: "tanh", ops: ["tanh"], inputs: () => [U([2, 3], -2, 2)], f: (x) => nd.tanh(x) },
  { name: "relu", ops: ["relu"], inputs: () => [away([2, 3])], f: (x) => x.relu() },
  // reductions
  { name: "sum()", ops: ["sum"], inputs: () => [U([2, 3])], f: (x) => x.sum() },
  { name: "sum(1)", ops: ["sum"], inputs: () => [U([2, 3, 2])], f: (x) => x.sum(1) },
  { name: "mean([0,2], keepdims)", ops: ["mean"], inputs: () => [U([2, 3, 2])], f: (x) => x.mean([0, 2], true) },
  { name: "nd.mean(x)", ops: ["mean"], inputs: () => [U([4])], f: (x) => nd.mean(x) },
  { name: "max(-1)", ops: ["max"], inputs: () => [distinct([3, 4])], f: (x) => x.max(-1) },
  { name: "max()", ops: ["max"], inputs: () => [distinct([2, 3])], f: (x) => x.max() },
  { name: "min(0, keepdims)", ops: ["min"], inputs: () => [distinct([3, 4])], f: (x) => x.min(0, true) },
  { name: "min([0,1])", ops: ["min"], inputs: () => [distinct([2, 3, 2])], f: (x) => x.min([0, 1]) },
  { name: "prod(1)", ops: ["prod"], inputs: () => [away([2, 3], 0.5, 1.5)], f: (x) => x.prod(1) },
  { name: "prod()", ops: ["prod"], inputs: () => [away([4], 0.5, 1.5)], f: (x) => x.prod() },
  { name: "norm()", ops: ["norm"], inputs: () => [U([2, 3])], f: (x) => x.norm() },
  { name: "norm(1, keepdims)", ops: ["norm"], inputs: () => [U([3, 4])], f: (x) => x.norm(1, true) },
  // shape, indexing, linear algebra
  { name: "reshape(-1, 2)", ops: ["reshape"], inputs: () => [U([2, 3, 2])], f: (x) => x.reshape(-1, 2) },
  { name: "nd.reshape", ops: ["reshape"], inputs: () => [U([6])], f: (x) => nd.reshape(x, [3, -1]) },
  { name: "transpose([1,0,2])", ops: ["transpose"], inputs: () => [U([2, 3, 2])], f: (x) => x.transpose([1, 0, 2]) },
  { name: "transpose()", ops: ["transpose"], inputs: () => [U([2, 3])], f: (x) => x.transpose() },
  { name: "T", ops: ["T"], inputs: () => [U([2, 3, 4])], f: (x) => x.T },
  { name: "broadcastTo", ops: ["broadcastTo"], inputs: () => [U([2, 1])], f: (x) => x.broadcastTo([3, 2, 4]) },
  { name: "nd.broadcastTo", ops: ["broadcastTo"], inputs: () => [U([3])], f: (x) => nd.broadcastTo(x, [2, 3]) },
  { name: "dot [2,3].[3,4]", ops: ["dot"], inputs: () => [U([2, 3]), U([3, 4])], f: (a, b) => a.dot(b) },
  { name: "dot [4].[4]", ops: ["dot"], inputs: () => [U([4]), U([4])], f: (a, b) => nd.dot(a, b) },
  { name: "dot [3].[3,2]", ops: ["dot"], inputs: () => [U([3]), U([3, 2])], f: (a, b) => a.dot(b) },
  { name: "dot [2,2,3].[3,2]", ops: ["dot"], inputs: () => [U([2, 2, 3]), U([3, 2])], f: (a, b) => a.dot(b) },
  { name: "dot [2,3].[3,2,2]", ops: ["dot"], inputs: () => [U([2, 3]), U([3, 2, 2])], f: (a, b) => a.dot(b) },
  { name: "at(1)", ops: ["at"], inputs: () => [U([3, 2])], f: (x) => x.at(1) },
  { name: "at(-1) of 1-D", ops: ["at"], inputs: () => [U([4])], f: (x) => x.at(-1) },
  { name: "slice(1, 3)", ops: ["slice"], inputs: () => [U([4, 2])], f: (x) => x.slice(1, 3) },
  { name: "slice(-2)", ops: ["slice"], inputs: () => [U([5])], f: (x) => x.slice(-2) },
  { name: "copy", ops: ["copy"], inputs: () => [U([2, 3])], f: (x) => x.copy() },
  { name: "astype", ops: ["astype"], inputs: () => [U([3])], f: (x) => x.astype(x.dtype) },
  { name: "expandDims(1)", ops: ["expandDims"], inputs: () => [U([2, 3])], f: (x) => x.expandDims(1) },
  { name: "nd.expandDims(-1)", ops: ["expandDims"], inputs: () => [U([3])], f: (x) => nd.expandDims(x, -1) },
  { name: "squeeze()", ops: ["squeeze"], inputs: () => [U([1, 3, 1])], f: (x) => x.squeeze() },
  { name: "nd.squeeze(0)", ops: ["squeeze"], inputs: () => [U([1, 2, 2])], f: (x) => nd.squeeze(x, 0) },
  // dropout: the mask is drawn from the seeded generator, so reseeding inside
  // f gives every evaluation (plain, recorded, perturbed) the same mask and L
  // is linear in x; in predict mode dropout is the identity.
  {
    name: "nd.dropout(x, 0.5) in train mode, seeded mask",
    ops: ["dropout"],
    inputs: () => [U([4, 5])],
    f: (x) => {
      nd.random.seed(11);
      return autograd.trainMode(() => nd.dropout(x, 0.5));
    },
  },
  {
    name: "nd.dropout(x, 0.3) in predict mode: identity",
    ops: ["dropout"],
    inputs: () => [U([2, 3])],
    f: (x) => autograd.predictMode(() => nd.dropout(x, 0.3)),
  },
  // joining arrays and batched products: linear (concat, stack) and bilinear
  // (batchDot) in each input element, so the truncation term is ~0 and the
  // tolerance is the float32 noise of the forwards plus the 1e-3 floor.
  {
    name: "nd.concat (default axis 1) [2,3]+[2,1]+[2,2]",
    ops: ["concat"],
    inputs: () => [U([2, 3]), U([2, 1]), U([2, 2])],
    f: (a, b, c) => nd.concat([a, b, c]),
  },
  {
    name: "nd.concat(-3) [1,2,3]+[2,2,3]",
    ops: ["concat"],
    inputs: () => [U([1, 2, 3]), U([2, 2, 3])],
    f: (a, b) => nd.concat([a, b], -3),
  },
  {
    name: "nd.concat(2) [2,1,2,2]+[2,1,1,2]",
    ops: ["concat"],
    inputs: () => [U([2, 1, 2, 2]), U([2, 1, 1, 2])],
    f: (a, b) => nd.concat([a, b], 2),
  },
  {
    name: "nd.concat(0) with a zero-length piece [3]+[0]+[2]",
    ops: ["concat"],
    inputs: () => [U([3]), U([0]), U([2])],
    f: (...xs) => nd.concat(xs, 0),
  },
  {
    name: "nd.concat([x, y, x], -1): one input twice",
    ops: ["concat"],
    inputs: () => [U([2, 2]), U([2, 3])],
    f: (x, y) => nd.concat([x, y, x], -1),
  },
  {
    name: "nd.stack (default axis 0) 3 x [3]",
    ops: ["stack"],
    inputs: () => [U([3]), U([3]), U([3])],
    f: (...xs) => nd.stack(xs),
  },
  {
    name: "nd.stack(-1) 2 x [2,3]",
    ops: ["stack"],
    inputs: () => [U([2, 3]), U([2, 3])],
    f: (a, b) => nd.stack([a, b], -1),
  },
  {
    name: "nd.stack(1) 4 x [2,1,2]",
    ops: ["stack"],
    inputs: () => [U([2, 1, 2]), U([2, 1, 2]), U([2, 1, 2]), U([2, 1, 2])],
    f: (...xs) => nd.stack(xs, 1),
  },
  {
    name: "nd.stack([x, x], -2): one input twice",
    ops: ["stack"],
    inputs: () => [U([2, 3])],
    f: (x) => nd.stack([x, x], -2),
  },
  {
    name: "batchDot [2,2,3].[2,3,4]",
    ops: ["batchDot"],
    inputs: () => [U([2, 2, 3]), U([2, 3, 4])],
    f: (a, b) => nd.batchDot(a, b),
  },
  {
    name: "batchDot B=1 [1,3,2].[1,2,3]",
    ops: ["batchDot"],
    inputs: () => [U([1, 3, 2]), U([1, 2, 3])],
    f: (a, b) => nd.batchDot(a, b),
  },
  {
    name: "batchDot K=1 [3,2,1].[3,1,2]",
    ops: ["batchDot"],
    inputs: () => [U([3, 2, 1]), U([3, 1, 2])],
    f: (a, b) => nd.batchDot(a, b),
  },
  {
    name: "batchDot M=N=1 [2,1,4].[2,4,1]",
    ops: ["batchDot"],
    inputs: () => [U([2, 1, 4]), U([2, 4, 1])],
    f: (a, b) => nd.batchDot(a, b),
  },

  // the model ops of issue #3: elementwise math (inputs inside each domain)
  ...(
    [
      ["sin", -3, 3], ["cos", -3, 3], ["tan", -1.2, 1.2], ["arcsin", -0.9, 0.9], ["arccos", -0.9, 0.9],
      ["arctan", -3, 3], ["sinh", -2, 2], ["cosh", -2, 2], ["arcsinh", -3, 3], ["arccosh", 1.2, 4],
      ["arctanh", -0.9, 0.9], ["log1p", -0.8, 3], ["expm1", -2, 2], ["log2", 0.3, 5], ["log10", 0.3, 5],
      ["reciprocal", 0.4, 3], ["rsqrt", 0.4, 3], ["cbrt", 0.3, 3], ["erf", -2.5, 2.5], ["softrelu", -4, 4],
    ] as const
  ).map(([op, lo, hi]): Check => ({ name: op, ops: [op], inputs: () => [U([2, 3], lo, hi)], f: (x) => x[op]() })),
  { name: "reciprocal of negatives", ops: ["reciprocal"], inputs: () => [U([3], -3, -0.4)], f: (x) => nd.reciprocal(x) },
  { name: "cbrt of negatives", ops: ["cbrt"], inputs: () => [U([3], -3, -0.3)], f: (x) => nd.cbrt(x) },
  // piecewise constant: zero gradient away from the jumps
  ...(["sign", "floor", "ceil", "round", "rint", "trunc"] as const).map(
    (op): Check => ({
      name: `${op} (zero gradient)`,
      ops: [op],
      inputs: () => [input([2, 3], () => (rand() < 0.5 ? -1 : 1) * (Math.floor(rand() * 3) + 0.2 + 0.2 * rand()))],
      f: (x) => x[op]().add(x.mul(0.5)),
    }),
  ),
  {
    name: "clip(-0.5, 0.75), away from the bounds",
    ops: ["clip"],
    inputs: () => [input([2, 4], () => pickOf([-1.2, -0.8, -0.2, 0.1, 0.4, 1.1, 1.6]) + 0.05 * rand())],
    f: (x) => x.clip(-0.5, 0.75),
  },
  { name: "nd.clip", ops: ["clip"], inputs: () => [U([5], -2, 2)], f: (x) => nd.clip(x, -1.05, 1.05) },
  { name: "leakyRelu(0.1)", ops: ["leakyRelu"], inputs: () => [away([2, 3])], f: (x) => x.leakyRelu(0.1) },
  { name: "nd.leakyRelu default slope", ops: ["leakyRelu"], inputs: () => [away([4])], f: (x) => nd.leakyRelu(x) },
  { name: "softmax (axis -1)", ops: ["softmax"], inputs: () => [U([2, 4], -3, 3)], f: (x) => x.softmax() },
  { name: "nd.softmax axis 0", ops: ["softmax"], inputs: () => [U([3, 2, 2], -3, 3)], f: (x) => nd.softmax(x, 0) },
  { name: "logSoftmax (axis -1)", ops: ["logSoftmax"], inputs: () => [U([2, 4], -3, 3)], f: (x) => x.logSoftmax() },
  { name: "nd.logSoftmax axis 1", ops: ["logSoftmax"], inputs: () => [U([2, 3, 2], -3, 3)], f: (x) => nd.logSoftmax(x, { axis: 1 }) },
  {
    name: "where(cond, x, y) with broadcasting",
    ops: ["where"],
    inputs: () => [U([2, 3]), U([3])],
    f: (x, y) => nd.where(nd.array([[1, 0, 1], [0, 0, 1]], { dtype: x.dtype }), x, y),
  },
  {
    name: "take(indices, axis 0) with repeated indices (scatter-add)",
    ops: ["take"],
    inputs: () => [U([4, 3])],
    f: (x) => x.take(nd.array([[0, 2], [2, 2], [3, 1]])),
  },
  {
    name: "nd.take axis -1, wrap mode",
    ops: ["take"],
    inputs: () => [U([2, 3])],
    f: (x) => nd.take(x, nd.array([-1, 4, 0, 0]), { axis: -1, mode: "wrap" }),
  },
  { name: "pick(index, axis 1)", ops: ["pick"], inputs: () => [U([3, 4])], f: (x) => x.pick(nd.array([0, 3, 1]), 1) },
  {
    name: "nd.pick axis 0, keepdims",
    ops: ["pick"],
    inputs: () => [U([3, 2])],
    f: (x) => nd.pick(x, nd.array([2, 0]), { axis: 0, keepdims: true }),
  },
  {
    name: "topk values, k 2",
    ops: ["topk"],
    inputs: () => [distinct([2, 5])],
    f: (x) => x.topk({ k: 2, retTyp: "value" }),
  },
  {
    name: "nd.topk values along axis 0, ascending",
    ops: ["topk"],
    inputs: () => [distinct([4, 2])],
    f: (x) => nd.topk(x, { axis: 0, k: 3, retTyp: "value", isAscend: true }),
  },
  { name: "sort", ops: ["sort"], inputs: () => [distinct([2, 4])], f: (x) => x.sort() },
  { name: "nd.sort descending axis 0", ops: ["sort"], inputs: () => [distinct([3, 2])], f: (x) => nd.sort(x, { axis: 0, isAscend: false }) },
  { name: "tile([2, 1, 2])", ops: ["tile"], inputs: () => [U([2, 3])], f: (x) => x.tile([2, 1, 2]) },
  { name: "nd.tile(3)", ops: ["tile"], inputs: () => [U([2])], f: (x) => nd.tile(x, 3) },
  { name: "repeat(2, 1)", ops: ["repeat"], inputs: () => [U([2, 3])], f: (x) => x.repeat(2, 1) },
  { name: "nd.repeat flattened", ops: ["repeat"], inputs: () => [U([2, 2])], f: (x) => nd.repeat(x, 3) },
  { name: "flip(1)", ops: ["flip"], inputs: () => [U([2, 3])], f: (x) => x.flip(1) },
  { name: "nd.flip([0, 2])", ops: ["flip"], inputs: () => [U([2, 2, 3])], f: (x) => nd.flip(x, [0, 2]) },
  { name: "slice(5, 0, -2)", ops: ["slice"], inputs: () => [U([6, 2])], f: (x) => x.slice(5, 0, -2) },
  {
    name: "nd.slice multi-axis with steps",
    ops: ["slice"],
    inputs: () => [U([4, 5, 2])],
    f: (x) => nd.slice(x, [1, null], [null, 0], [2, -2]),
  },
  { name: "sliceAxis(1, 1, -1)", ops: ["sliceAxis"], inputs: () => [U([2, 4])], f: (x) => x.sliceAxis(1, 1, -1) },
  { name: "nd.sliceAxis(0, -2, null)", ops: ["sliceAxis"], inputs: () => [U([4, 2])], f: (x) => nd.sliceAxis(x, 0, -2, null) },
  {
    name: "dot transposeA",
    ops: ["dot"],
    inputs: () => [U([3, 2]), U([3, 4])],
    f: (a, b) => a.dot(b, { transposeA: true }),
  },
  {
    name: "nd.dot transposeA and transposeB",
    ops: ["dot"],
    inputs: () => [U([3, 2]), U([4, 3])],
    f: (a, b) => nd.dot(a, b, { transposeA: true, transposeB: true }),
  },
  { name: "norm ord 1", ops: ["norm"], inputs: () => [away([2, 3])], f: (x) => x.norm({ ord: 1 }) },
  {
    name: "nd.norm ord 2 axis 1 keepdims",
    ops: ["norm"],
    inputs: () => [U([3, 4])],
    f: (x) => nd.norm(x, { ord: 2, axis: 1, keepdims: true }),
  },
  {
    name: "astype to the other float dtype and back",
    ops: ["astype", "cast"],
    inputs: () => [U([3])],
    f: (x) => nd.cast(x.astype(x.dtype === "float32" ? "float64" : "float32").mul(3), x.dtype),
  },
  { name: "nd.astype", ops: ["astype"], inputs: () => [U([2, 2])], f: (x) => nd.astype(x, x.dtype).square() },

  // compositions
  {
    name: "tutorial: 2*x*x",
    ops: ["mul"],
    inputs: () => [fixed([2, 2], [1, 2, 3, 4])],
    f: (x) => nd.mul(2, x).mul(x),
  },
  {
    name: "sigmoid(dot(x, w)).sum()",
    ops: ["sigmoid", "dot", "sum"],
    inputs: () => [U([4, 3]), U([3, 2])],
    f: (x, w) => x.dot(w).sigmoid().sum(),
  },
  {
    name: "broadcasting chain: exp((x + b) * c).mean(0)",
    ops: ["add", "mul", "exp", "mean"],
    inputs: () => [U([2, 3], -1, 1), U([3], -1, 1), U([2, 1], -1, 1)],
    f: (x, b, c) => x.add(b).mul(c).exp().mean(0),
  },
  {
    name: "variance: (x - x.mean(1, keepdims))² summed",
    ops: ["sub", "mean", "square", "sum"],
    inputs: () => [U([3, 4])],
    f: (x) => x.sub(x.mean(1, true)).square().sum(1),
  },
  {
    name: "log-softmax over axis 1",
    ops: ["exp", "sum", "log", "sub"],
    inputs: () => [U([2, 4])],
    f: (x) => x.sub(x.exp().sum(1, true).log()),
  },
  {
    name: "two-layer net: tanh(x·w1 + b1)·w2",
    ops: ["dot", "add", "tanh"],
    inputs: () => [U([3, 4], -1, 1), U([4, 5], -1, 1), U([5], -1, 1), U([5, 2], -1, 1)],
    f: (x, w1, b1, w2) => x.dot(w1).add(b1).tanh().dot(w2),
  },
  {
    name: "the same input on both sides: x*x + x/exp(x)",
    ops: ["mul", "div", "exp", "add"],
    inputs: () => [U([2, 3])],
    f: (x) => x.mul(x).add(x.div(x.exp())),
  },
  {
    name: "comparisons and sign pass no gradient: x*(x>0) + x*sign(x) + (x==x)",
    ops: ["mul", "add"],
    inputs: () => [away([2, 3])],
    f: (x) => x.mul(x.greater(0)).add(x.mul(x.sign())).add(x.equal(x)).add(nd.lesserEqual(x, 0.1)),
  },
  {
    name: "movement chain: broadcastTo(expandDims(x)).T.reshape.squeeze",
    ops: ["expandDims", "broadcastTo", "T", "reshape", "squeeze"],
    inputs: () => [U([2, 3])],
    f: (x) => x.expandDims(0).broadcastTo([4, 2, 3]).T.reshape(1, 3, 8).squeeze().mul(x.sum(0).reshape(3, 1)),
  },
  {
    name: "tutorial control flow f(a), at inside while/if",
    ops: ["mul", "norm", "sum", "at"],
    inputs: () => [fixed([2], [0.9273255, -0.45468742])],
    f: tutorialF,
  },
  {
    name: "tutorial control flow f(a), the other branch",
    ops: ["mul", "at"],
    inputs: () => [fixed([2], [-0.5, 0.25])],
    f: tutorialF,
  },
  {
    name: "slice inside if, loop over rows with at",
    ops: ["slice", "at", "sum", "square", "mul", "add"],
    inputs: () => [U([4, 3], 0.5, 1.5)],
    f: (x) => {
      let acc = x.slice(0, 1).square().sum();
      for (let i = 1; i < x.shape[0]!; i++) {
        const row = x.at(i);
        acc = row.sum().asscalar() > 3 ? acc.add(row.mul(row).sum()) : acc.mul(row.max());
      }
      return x.sum().asscalar() > 0 ? acc.add(x.slice(-2).prod()) : acc;
    },
  },
  {
    name: "batched Gram matrix: batchDot(t, tᵀ), t = tanh(x)",
    ops: ["tanh", "transpose", "batchDot"],
    inputs: () => [U([2, 3, 2], -1, 1)],
    f: (x) => {
      const t = x.tanh();
      return nd.batchDot(t, t.transpose([0, 2, 1]));
    },
  },
  {
    name: "stack -> batchDot -> concat with sigmoid",
    ops: ["stack", "batchDot", "concat", "sigmoid"],
    inputs: () => [U([2, 3]), U([2, 3]), U([2, 3, 2])],
    f: (q, k, w) => {
      const s = nd.stack([q, k]); // [2,2,3]
      return nd.concat([nd.batchDot(s, w).sigmoid(), s], 2); // [2,2,2+3]
    },
  },
  {
    name: "maximum/minimum/relu/abs chain",
    ops: ["maximum", "minimum", "relu", "abs", "sub"],
    inputs: () => {
      const a = U([3], -1, 1);
      return [a, offsetFrom(a, [2, 3], 0.3, 1)];
    },
    f: (a, b) => nd.maximum(a, b).sub(nd.minimum(b, a).mul(0.5)).abs().add(a.sub(0.1).relu()),
  },
  // ---- Convolution, Deconvolution (issue #12, conv branch): every input ----
  {
    name: "Convolution 2-D stride 2 pad 1, bias",
    ops: ["Convolution"],
    inputs: () => [U([2, 3, 5, 4]), U([4, 3, 3, 2]), U([4])],
    f: (x, w, b) => nd.Convolution(x, w, b, { kernel: [3, 2], stride: [2, 2], pad: [1, 1], numFilter: 4 }),
  },
  {
    name: "Convolution 2-D groups 2 dilate 2, no bias",
    ops: ["Convolution"],
    inputs: () => [U([1, 4, 6, 5]), U([4, 2, 2, 2])],
    f: (x, w) => nd.Convolution(x, w, null, { kernel: [2, 2], dilate: [2, 2], numGroup: 2, numFilter: 4, noBias: true }),
  },
  {
    name: "Convolution 1-D depthwise pad 1, bias",
    ops: ["Convolution"],
    inputs: () => [U([2, 3, 7]), U([3, 1, 3]), U([3])],
    f: (x, w, b) => nd.Convolution(x, w, b, { kernel: [3], pad: [1], numGroup: 3, numFilter: 3 }),
  },
  {
    name: "Convolution 1x1, bias",
    ops: ["Convolution"],
    inputs: () => [U([2, 3, 3, 2]), U([2, 3, 1, 1]), U([2])],
    f: (x, w, b) => nd.Convolution(x, w, b, { kernel: [1, 1], numFilter: 2 }),
  },
  {
    name: "Deconvolution 2-D stride 2 pad 1 adj 1, bias",
    ops: ["Deconvolution"],
    inputs: () => [U([1, 3, 3, 2]), U([3, 2, 3, 3]), U([2])],
    f: (x, w, b) =>
      nd.Deconvolution(x, w, b, { kernel: [3, 3], stride: [2, 2], pad: [1, 1], adj: [1, 1], numFilter: 2, noBias: false }),
  },
  {
    name: "Deconvolution 1-D groups 2, no bias",
    ops: ["Deconvolution"],
    inputs: () => [U([2, 4, 4]), U([4, 1, 3])],
    f: (x, w) => nd.Deconvolution(x, w, null, { kernel: [3], stride: [2], numGroup: 2, numFilter: 2 }),
  },
  {
    name: "Convolution -> tanh -> Deconvolution (an autoencoder step)",
    ops: ["Convolution", "Deconvolution", "tanh"],
    inputs: () => [U([1, 2, 5, 5]), U([3, 2, 3, 3], -0.5, 0.5), U([3, 2, 3, 3], -0.5, 0.5)],
    f: (x, w1, w2) =>
      nd.Deconvolution(nd.Convolution(x, w1, null, { kernel: [3, 3], stride: [2, 2], numFilter: 3, noBias: true }).tanh(), w2, null, {
        kernel: [3, 3],
        stride: [2, 2],
        numFilter: 2,
      }),
  },
  // ---- Pooling, BatchNorm, LayerNorm (pool branch) ----
  // Max pooling's inputs are distinct (no ties within a step of each other).
  {
    name: "Pooling max 2-D, kernel 3, stride 2, pad 1",
    ops: ["Pooling"],
    inputs: () => [distinct([2, 2, 7, 6])],
    f: (x) => nd.Pooling(x, { kernel: [3, 3], stride: [2, 2], pad: [1, 1] }),
  },
  {
    name: "Pooling max 1-D, full convention, kernel 2 stride 2",
    ops: ["Pooling"],
    inputs: () => [distinct([2, 3, 7])],
    f: (x) => nd.Pooling(x, { kernel: 2, stride: 2, poolingConvention: "full" }),
  },
  {
    name: "Pooling avg 2-D, full, countIncludePad false",
    ops: ["Pooling"],
    inputs: () => [U([1, 2, 6, 7])],
    f: (x) => nd.Pooling(x, { kernel: [3, 3], stride: [2, 2], pad: [1, 1], poolType: "avg", poolingConvention: "full", countIncludePad: false }),
  },
  {
    name: "Pooling sum 1-D and global avg, squared (a nonlinear loss through linear pooling)",
    ops: ["Pooling"],
    inputs: () => [U([2, 2, 6])],
    f: (x) => nd.Pooling(x, { kernel: 2, poolType: "sum" }).square().add(nd.Pooling(x, { globalPool: true, poolType: "avg" }).sum()),
  },
  {
    name: "BatchNorm train mode (batch statistics), NCHW",
    ops: ["BatchNorm"],
    inputs: () => [U([4, 3, 2, 2], -1, 3), U([3], 0.5, 2), U([3])],
    f: (x, g, b) => {
      const c = x.shape[1]!;
      const mm = nd.zeros([c], { dtype: x.dtype });
      const mv = nd.ones([c], { dtype: x.dtype });
      return autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false }), { trainMode: true }).square();
    },
  },
  {
    name: "BatchNorm train mode, fixGamma, axis -1",
    ops: ["BatchNorm"],
    inputs: () => [U([5, 2, 3], -1, 3), U([3], 0.5, 2), U([3])],
    f: (x, g, b) => {
      const mm = nd.zeros([3], { dtype: x.dtype });
      const mv = nd.ones([3], { dtype: x.dtype });
      return autograd.record(() => nd.BatchNorm(x, g, b, mm, mv, { axis: -1 }), { trainMode: true }).sin();
    },
  },
  {
    name: "BatchNorm predict mode (moving statistics)",
    ops: ["BatchNorm"],
    inputs: () => [U([3, 2, 4]), U([2], 0.5, 2), U([2])],
    // The moving statistics are constants here: MXNet gives them no gradient.
    f: (x, g, b) => {
      const mm = nd.array([0.3, -0.2], { dtype: x.dtype });
      const mv = nd.array([0.7, 1.6], { dtype: x.dtype });
      return autograd.predictMode(() => nd.BatchNorm(x, g, b, mm, mv, { fixGamma: false, eps: 0.01 })).square();
    },
  },
  {
    name: "LayerNorm over the last axis",
    ops: ["LayerNorm"],
    inputs: () => [U([3, 5]), U([5], 0.5, 2), U([5])],
    f: (x, g, b) => nd.LayerNorm(x, g, b).square(),
  },
  {
    name: "LayerNorm over axis 1, eps 0.01",
    ops: ["LayerNorm"],
    inputs: () => [U([2, 4, 3]), U([4], 0.5, 2), U([4])],
    f: (x, g, b) => nd.LayerNorm(x, g, b, { axis: 1, eps: 0.01 }).sin(),
  },
  // ---- nnmisc group (issue #12): every input of every op ----
  {
    name: "FullyConnected (flatten): data, weight, bias",
    ops: ["FullyConnected"],
    inputs: () => [U([3, 2, 2], -1, 1), U([4, 4], -1, 1), U([4], -1, 1)],
    f: (x, w, b) => nd.FullyConnected(x, w, b, { numHidden: 4 }),
  },
  {
    name: "FullyConnected flatten=false, no bias, then tanh",
    ops: ["FullyConnected", "tanh"],
    inputs: () => [U([2, 3, 5], -1, 1), U([2, 5], -1, 1)],
    f: (x, w) => nd.FullyConnected(x, w, null, { numHidden: 2, noBias: true, flatten: false }).tanh(),
  },
  {
    name: "Embedding: weight rows (repeated and clipped indices), then square",
    ops: ["Embedding", "square"],
    inputs: () => [U([4, 3], -1, 1)],
    f: (w) => nd.Embedding(nd.array([[0, 3, 3], [9, -1, 2]], { dtype: "int32" }), w, { inputDim: 4, outputDim: 3 }).square(),
  },
  ...(["relu", "sigmoid", "tanh", "softrelu", "softsign"] as const).map((act) => ({
    name: `Activation ${act}`,
    ops: ["Activation"],
    inputs: () => [away([2, 3], 0.1, 3)],
    f: (x: NDArray) => nd.Activation(x, { actType: act }),
  })),
  ...(["leaky", "elu", "selu", "gelu"] as const).map((act) => ({
    name: `LeakyReLU ${act}`,
    ops: ["LeakyReLU"],
    inputs: () => [away([2, 3], 0.1, 3)],
    f: (x: NDArray) => nd.LeakyReLU(x, { actType: act, slope: 0.4 }),
  })),
  {
    name: "LeakyReLU prelu: data and gamma (one per channel)",
    ops: ["LeakyReLU"],
    inputs: () => [away([2, 3, 2], 0.1, 2), U([3], 0.05, 0.6)],
    f: (x, g) => nd.LeakyReLU(x, { actType: "prelu", gamma: g }),
  },
  {
    name: "Flatten and x.flatten(), then square",
    ops: ["Flatten", "flatten", "square"],
    inputs: () => [U([2, 3, 2])],
    f: (x) => nd.Flatten(x).square().add(x.flatten()),
  },
  {
    name: "softmaxCrossEntropy: data (labels constant)",
    ops: ["softmaxCrossEntropy"],
    inputs: () => [U([3, 4], -2, 2)],
    f: (x) => nd.softmaxCrossEntropy(x, nd.array([3, 0, 1.5])),
  },
];

// ---------------------------------------------------------------------------
// what must be covered
// ---------------------------------------------------------------------------

/** API names that compute no gradient by definition. */
export const NOT_DIFFERENTIABLE = [
  "equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual", "detach",
  // indices and masks
  "argmax", "argmin", "argsort", "oneHot",
];
/**
 * The NOT_DIFFERENTIABLE names that are nevertheless recorded, with an
 * all-zero gradient (MXNet 1.9.1 registers every comparison with
 * `FGradient = MakeZeroGradNodes`): backward through them gives zeros.
 * Their reference vectors carry no gradients (nothing to compare but
 * zeros); tests/ts/audit-ops.test.ts checks every form of each.
 */
export const ZERO_GRADIENT = ["equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual"];
/** API names that are not array -> array computations. */
export const NOT_OPS = [
  // NDArray
  "constructor", "handleFor", "shape", "size", "ndim", "dtype", "context", "isDisposed", "grad", "attachGrad", "markVariable",
  "backward", "dispose", "toString", "asscalar", "data", "toArray", "set",
  // MXNet's `_fresh_grad` flag (gluon.Trainer's stale-gradient check)
  "_freshGrad",
  "_serial",
  // nd
  "array", "zeros", "ones", "full", "arange", "zerosLike", "onesLike", "random", "scope", "keep", "debug",
  "memory", "waitall", "formatScalar", "simd", "relaxedSimd", "setThreads", "getThreads",
  // files (tests/ts/io.test.ts)
  "save", "load",
  // a shape rule (pool branch)
  "poolingShape",
];

/**
 * Every differentiable name: the ops with gradient vectors in ops.json, and
 * every NDArray method and `nd` function that is neither NOT_DIFFERENTIABLE
 * nor NOT_OPS (so a new op added to the API fails here until it is checked).
 */
export function differentiableOps(): Set<string> {
  const fromVectors = opsVectors<{ op: string; grads?: unknown }>()
    .filter((c) => c.grads !== undefined)
    .map((c) => c.op);
  const fromApi = [...Object.getOwnPropertyNames(NDArray.prototype), ...Object.keys(nd)].filter(
    (n) => !NOT_DIFFERENTIABLE.includes(n) && !NOT_OPS.includes(n),
  );
  return new Set([...fromVectors, ...fromApi]);
}

