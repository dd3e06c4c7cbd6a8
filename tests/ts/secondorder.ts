// The second-order table: one line per differentiable op (API name), run by
// tests/ts/secondorder.test.ts and counted in docs/ops.md by
// tests/ts/opsdoc.test.ts (which fails for a differentiable op without a
// line here). Adding an op: add a line.
//
// Each line is a function f of its inputs. The test takes a head gradient
// h and a direction v (one array per input), computes with autograd
//     g = autograd.grad(f(x), x, {headGrads: h, createGraph: true})
//     (Σ_i <g_i, v_i>).backward()          → x_i.grad = (H·v)_i
// (H: the Hessian of L(x) = <f(x), h>) and compares it with central
// differences of the first-order gradient along v, in float64. `kind`:
//   * "zero": the first-order gradient reads x only through a mask, an index,
//     or not at all (linear ops, piecewise ones away from their kinks): H·v
//     must be exactly 0 in every element (and the differences ~0 too);
//   * "value": a true second derivative, within the tolerance of the dtype.
// PyTorch's Hessian-vector products for the same ops (tests/vectors/
// autograd.json, "second") are replayed by tests/ts/autograd-torch.test.ts.
import { autograd, nd, type NDArray } from "ndgrad";
import { prng } from "./helpers.js";

export interface Input {
  shape: number[];
  values: number[];
}
export type F = (...xs: NDArray[]) => NDArray;
export interface SecondCheck {
  /** The API name this line covers (a row of docs/ops.md). */
  op: string;
  kind: "zero" | "value";
  inputs: (r: () => number) => Input[];
  f: F;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const gen =
  (shape: number[], g: (r: () => number, i: number) => number) =>
  (r: () => number): Input => ({ shape, values: Array.from({ length: size(shape) }, (_, i) => Math.fround(g(r, i))) });
/** Uniform in [lo, hi). */
const U = (shape: number[], lo = -2, hi = 2) => gen(shape, (r) => lo + (hi - lo) * r());
/** A random sign times uniform in [lo, hi): away from 0 (relu, abs, sign...). */
const away = (shape: number[], lo = 0.3, hi = 2) => gen(shape, (r) => (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r()));
/** Evenly spaced values (0.3 apart and more) in a shuffled order: no ties for max/sort/topk. */
const distinct = (shape: number[]) => (r: () => number): Input => {
  const n = size(shape);
  const v = Array.from({ length: n }, (_, i) => -2 + (i + 0.3 + 0.4 * r()) * (4 / n));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return { shape, values: v.map(Math.fround) };
};
/** Away from the integers and from the halves (floor, round, ...). */
const offGrid = (shape: number[]) => gen(shape, (r, i) => (i % 2 === 0 ? -1 : 1) * (Math.floor(r() * 3) + 0.15 + 0.2 * r()));
const one = (g: (r: () => number) => Input) => (r: () => number): Input[] => [g(r)];

const unaryValue = (op: string, lo: number, hi: number): SecondCheck => ({
  op,
  kind: "value",
  inputs: one(U([2, 3], lo, hi)),
  f: (x) => (x as unknown as Record<string, () => NDArray>)[op]!.call(x),
});
const unaryZero = (op: string, input = away([2, 3])): SecondCheck => ({
  op,
  kind: "zero",
  inputs: one(input),
  f: (x) => (x as unknown as Record<string, () => NDArray>)[op]!.call(x),
});

export const SECOND: SecondCheck[] = [
  // elementwise, binary: both operands variables, with broadcasting
  { op: "add", kind: "zero", inputs: (r) => [U([2, 3])(r), U([3])(r)], f: (a, b) => a.add(b) },
  { op: "sub", kind: "zero", inputs: (r) => [U([2, 1])(r), U([1, 3])(r)], f: (a, b) => nd.sub(a, b) },
  { op: "mul", kind: "value", inputs: (r) => [U([2, 3])(r), U([3])(r)], f: (a, b) => a.mul(b).mul(a) },
  { op: "div", kind: "value", inputs: (r) => [U([2, 3])(r), away([2, 1], 0.5, 2)(r)], f: (a, b) => a.div(b) },
  { op: "pow", kind: "value", inputs: (r) => [U([2, 3], 0.5, 2)(r), U([3], -1.5, 2)(r)], f: (a, b) => a.pow(b) },
  {
    op: "maximum",
    kind: "zero",
    inputs: (r) => [away([2, 3], 0.3, 1)(r), U([3], -0.1, 0.1)(r)],
    f: (a, b) => nd.maximum(a, b),
  },
  {
    op: "minimum",
    kind: "zero",
    inputs: (r) => [away([3], 0.3, 1)(r), U([2, 3], -0.1, 0.1)(r)],
    f: (a, b) => a.minimum(b),
  },
  // elementwise, unary
  unaryZero("neg", U([2, 3])),
  { op: "negative", kind: "zero", inputs: one(U([4])), f: (x) => nd.negative(x) },
  unaryZero("abs"),
  unaryZero("relu"),
  unaryZero("sign"),
  ...(["floor", "ceil", "round", "rint", "trunc"] as const).map((op) => unaryZero(op, offGrid([2, 3]))),
  unaryValue("exp", -2, 2),
  unaryValue("log", 0.3, 3),
  unaryValue("sqrt", 0.3, 3),
  unaryValue("square", -2, 2),
  unaryValue("sigmoid", -3, 3),
  unaryValue("tanh", -2, 2),
  unaryValue("sin", -3, 3),
  unaryValue("cos", -3, 3),
  unaryValue("tan", -1.1, 1.1),
  unaryValue("arcsin", -0.9, 0.9),
  unaryValue("arccos", -0.9, 0.9),
  unaryValue("arctan", -3, 3),
  unaryValue("sinh", -2, 2),
  unaryValue("cosh", -2, 2),
  unaryValue("arcsinh", -3, 3),
  unaryValue("arccosh", 1.3, 4),
  unaryValue("arctanh", -0.9, 0.9),
  unaryValue("log1p", -0.7, 3),
  unaryValue("expm1", -2, 2),
  unaryValue("log2", 0.3, 4),
  unaryValue("log10", 0.3, 4),
  unaryValue("reciprocal", 0.4, 3),
  unaryValue("rsqrt", 0.4, 3),
  unaryValue("cbrt", 0.3, 3),
  unaryValue("erf", -2, 2),
  unaryValue("softrelu", -3, 3),
  {
    op: "clip",
    kind: "zero",
    inputs: one(gen([2, 4], (r, i) => [-1.2, -0.8, -0.2, 0.1, 0.4, 1.1, 1.6, 0.3][i]! + 0.05 * r())),
    f: (x) => x.clip(-0.5, 0.75),
  },
  { op: "leakyRelu", kind: "zero", inputs: one(away([2, 3])), f: (x) => x.leakyRelu(0.2) },
  { op: "softmax", kind: "value", inputs: one(U([2, 4], -2, 2)), f: (x) => x.softmax() },
  { op: "logSoftmax", kind: "value", inputs: one(U([3, 2], -2, 2)), f: (x) => nd.logSoftmax(x, { axis: 0 }) },
  {
    op: "where",
    kind: "zero",
    inputs: (r) => [U([2, 3])(r), U([3])(r)],
    f: (x, y) => nd.where(nd.array([[1, 0, 1], [0, 0, 1]], { dtype: "int32" }), x, y),
  },
  {
    op: "dropout",
    kind: "zero",
    inputs: one(U([4, 5])),
    f: (x) => {
      nd.random.seed(5); // the same mask in every evaluation
      return autograd.trainMode(() => nd.dropout(x, 0.5));
    },
  },
  // reductions
  { op: "sum", kind: "zero", inputs: one(U([2, 3, 2])), f: (x) => x.sum(1) },
  { op: "mean", kind: "zero", inputs: one(U([2, 3])), f: (x) => nd.mean(x, 0, true) },
  { op: "max", kind: "zero", inputs: one(distinct([3, 4])), f: (x) => x.max(-1) },
  { op: "min", kind: "zero", inputs: one(distinct([2, 3])), f: (x) => x.min() },
  { op: "prod", kind: "value", inputs: one(away([2, 3], 0.5, 1.5)), f: (x) => x.prod(1) },
  { op: "norm", kind: "value", inputs: one(U([3, 4])), f: (x) => x.norm(1, true) },
  // movement and indexing: linear
  { op: "reshape", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.reshape(3, -1) },
  { op: "transpose", kind: "zero", inputs: one(U([2, 3, 2])), f: (x) => x.transpose([1, 0, 2]) },
  { op: "T", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.T },
  { op: "broadcastTo", kind: "zero", inputs: one(U([2, 1])), f: (x) => x.broadcastTo([3, 2, 4]) },
  { op: "expandDims", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.expandDims(1) },
  { op: "squeeze", kind: "zero", inputs: one(U([1, 3, 1])), f: (x) => nd.squeeze(x) },
  { op: "at", kind: "zero", inputs: one(U([3, 2])), f: (x) => x.at(-1) },
  { op: "slice", kind: "zero", inputs: one(U([5, 2])), f: (x) => x.slice(4, 0, -2) },
  { op: "sliceAxis", kind: "zero", inputs: one(U([2, 4])), f: (x) => x.sliceAxis(1, 1, -1) },
  { op: "copy", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.copy() },
  { op: "astype", kind: "zero", inputs: one(U([3])), f: (x) => x.astype(x.dtype === "float32" ? "float64" : "float32") },
  { op: "cast", kind: "zero", inputs: one(U([2, 2])), f: (x) => nd.cast(x, x.dtype) },
  { op: "concat", kind: "zero", inputs: (r) => [U([2, 3])(r), U([2, 1])(r)], f: (a, b) => nd.concat([a, b, a], 1) },
  { op: "stack", kind: "zero", inputs: (r) => [U([3])(r), U([3])(r)], f: (a, b) => nd.stack([a, b], -1) },
  { op: "flip", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.flip(1) },
  { op: "tile", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.tile([2, 1, 2]) },
  { op: "repeat", kind: "zero", inputs: one(U([2, 2])), f: (x) => nd.repeat(x, 2, 0) },
  {
    op: "take",
    kind: "zero",
    inputs: one(U([4, 3])),
    f: (x) => x.take(nd.array([[0, 2], [2, 2], [3, 1]])),
  },
  { op: "pick", kind: "zero", inputs: one(U([3, 4])), f: (x) => x.pick(nd.array([0, 3, 3]), 1) },
  { op: "sort", kind: "zero", inputs: one(distinct([2, 4])), f: (x) => x.sort() },
  { op: "topk", kind: "zero", inputs: one(distinct([2, 5])), f: (x) => x.topk({ k: 2, retTyp: "value" }) },
  // linear algebra: bilinear, so the cross terms are the second derivative
  { op: "dot", kind: "value", inputs: (r) => [U([2, 3])(r), U([3, 4])(r)], f: (a, b) => a.dot(b) },
  { op: "batchDot", kind: "value", inputs: (r) => [U([2, 2, 3])(r), U([2, 3, 2])(r)], f: (a, b) => nd.batchDot(a, b) },
  // convolutions: bilinear in data and weight, linear in the bias
  {
    op: "Convolution",
    kind: "value",
    inputs: (r) => [U([2, 3, 5, 4])(r), U([4, 3, 3, 2])(r), U([4])(r)],
    f: (x, w, b) => nd.Convolution(x, w, b, { kernel: [3, 2], stride: [2, 1], pad: [1, 0], numFilter: 4 }),
  },
  {
    op: "Deconvolution",
    kind: "value",
    inputs: (r) => [U([1, 4, 3, 2])(r), U([4, 1, 3, 3])(r)],
    f: (x, w) => nd.Deconvolution(x, w, null, { kernel: [3, 3], stride: [2, 2], pad: [1, 1], adj: [1, 0], numGroup: 2, numFilter: 2 }),
  },
  // pooling: max routes the gradient by index, avg/sum are linear
  { op: "Pooling", kind: "zero", inputs: one(distinct([1, 2, 5, 4])), f: (x) => nd.Pooling(x, { kernel: [3, 2], stride: [2, 2], pad: [1, 0] }) },
  {
    op: "Pooling",
    kind: "zero",
    inputs: one(U([2, 2, 6])),
    f: (x) => nd.Pooling(x, { kernel: 3, stride: 2, poolType: "avg", poolingConvention: "full", countIncludePad: false, pad: 1 }),
  },
  // normalisation: curvature through the batch / layer statistics
  {
    op: "BatchNorm",
    kind: "value",
    inputs: (r) => [U([4, 3, 2], -1, 3)(r), U([3], 0.5, 2)(r), U([3])(r)],
    // train mode: batch statistics (fresh moving statistics each evaluation)
    f: (x, g, b) =>
      autograd.trainMode(() => nd.BatchNorm(x, g, b, nd.zeros([3], { dtype: x.dtype }), nd.ones([3], { dtype: x.dtype }), { fixGamma: false })),
  },
  { op: "LayerNorm", kind: "value", inputs: (r) => [U([3, 5])(r), U([5], 0.5, 2)(r), U([5])(r)], f: (x, g, b) => nd.LayerNorm(x, g, b) },
  // the nnmisc group
  {
    op: "FullyConnected",
    kind: "value",
    inputs: (r) => [U([3, 2, 2], -1, 1)(r), U([4, 4], -1, 1)(r), U([4], -1, 1)(r)],
    f: (x, w, b) => nd.FullyConnected(x, w, b, { numHidden: 4 }),
  },
  {
    op: "Embedding",
    kind: "zero",
    inputs: one(U([4, 3], -1, 1)),
    f: (w) => nd.Embedding(nd.array([[0, 3, 3], [9, -1, 2]], { dtype: "int32" }), w, { inputDim: 4, outputDim: 3 }),
  },
  { op: "Activation", kind: "zero", inputs: one(away([2, 3], 0.1, 3)), f: (x) => nd.Activation(x, { actType: "relu" }) },
  { op: "Activation", kind: "value", inputs: one(U([2, 3], -2, 2)), f: (x) => nd.Activation(x, { actType: "softsign" }) },
  { op: "LeakyReLU", kind: "zero", inputs: one(away([2, 3], 0.1, 3)), f: (x) => nd.LeakyReLU(x, { actType: "leaky", slope: 0.4 }) },
  { op: "LeakyReLU", kind: "value", inputs: one(away([2, 3], 0.1, 3)), f: (x) => nd.LeakyReLU(x, { actType: "elu", slope: 0.4 }) },
  { op: "Flatten", kind: "zero", inputs: one(U([2, 3, 2])), f: (x) => nd.Flatten(x) },
  { op: "flatten", kind: "zero", inputs: one(U([2, 3])), f: (x) => x.flatten() },
  {
    op: "softmaxCrossEntropy",
    kind: "value",
    inputs: one(U([3, 4], -2, 2)),
    f: (x) => nd.softmaxCrossEntropy(x, nd.array([3, 0, 1.5])),
  },
];

export { prng };
