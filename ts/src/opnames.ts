// The names of the elementwise and reduction ops, in the engine's code order
// (tests/ts/engine.test.ts checks them against the Rust enums). Both `nd` and
// the worker's remote `nd` are built from these lists.

export const BINARY_OPS = [
  "add", "sub", "mul", "div", "pow", "maximum", "minimum",
  "equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual",
] as const;
export const UNARY_OPS = [
  "neg", "exp", "log", "sqrt", "square", "abs", "sigmoid", "tanh", "relu", "sign",
  "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
  "log1p", "expm1", "log2", "log10", "reciprocal", "rsqrt", "cbrt",
  "floor", "ceil", "round", "rint", "trunc", "erf", "softrelu",
] as const;
export const REDUCE_OPS = ["sum", "mean", "max", "min", "prod", "norm"] as const;
/** Reductions the engine has under their own code but the API reaches
 *  through another name (`norm(x, {ord: 1})`). */
export const INTERNAL_REDUCE_OPS = ["norm1"] as const;

/** `{ name: make(name) }` for every name, typed by name. */
export function opTable<N extends string, F>(names: readonly N[], make: (name: N) => F): Record<N, F> {
  return Object.fromEntries(names.map((n) => [n, make(n)])) as Record<N, F>;
}
