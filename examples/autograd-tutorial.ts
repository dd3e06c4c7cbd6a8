// MXNet's autograd tutorial (shared/seed/autograd-tutorial.txt), cell by
// cell, through ndgrad. Each cell prints its number and code as a comment
// line, then exactly what the notebook printed.
import { nd, autograd, NDArray } from "ndgrad";

/** Python's print(): arrays print their repr, numbers print as NumPy float32 scalars. */
function print(...values: (NDArray | number | string)[]): void {
  console.log(values.map((v) => (typeof v === "number" ? nd.formatScalar(v) : String(v))).join(" "));
}

/** What a notebook cell shows for a Python list of NDArrays (IPython's pretty printer). */
function displayList(items: NDArray[]): string {
  const parts = items.map((a) => String(a).split("\n").join("\n "));
  return `[${parts.join(", ")}]`;
}

function cell(n: string, code: string): void {
  console.log(`\nIn [${n}]:`);
  for (const line of code.split("\n")) console.log(`# ${line}`);
  console.log();
}

cell("0", 'import { nd, autograd } from "ndgrad";');

cell("14", "X = nd.array([[1, 2], [3, 4]]); X");
const X = nd.array([[1, 2], [3, 4]]);
print(X);

cell("0", "X.attachGrad()");
X.attachGrad();

cell("16", "X.grad");
print(X.grad!);

cell("17", "Y = autograd.record(() => nd.mul(2, X).mul(X)); Y");
const Y = autograd.record(() => nd.mul(2, X).mul(X));
print(Y);

cell("18", 'print("Before back-prop") ... Y.backward() ... print("After back-prop") ...');
print("Before back-prop");
print(X);
print(X.grad!);
print(Y);
Y.backward();
print("After back-prop");
print(X);
print(X.grad!);
print(Y);

cell("0", "function f(a) { b = a * 2; while (b.norm() < 1000) { b = b * 2; ... } ... }");
/** Doubles `a` until its norm reaches 1000, then picks an element by the sign of the sum. */
function f(a: NDArray): NDArray {
  let b = a.mul(2);
  while (b.norm().asscalar() < 1000) {
    b = b.mul(2);
    print(b);
    print(b.sum().asscalar());
    print(b.norm().asscalar());
  }
  print("Done");
  return b.sum().asscalar() >= 0 ? b.at(0) : b.at(1);
}

function runCell90(a: NDArray): { a: NDArray; c: NDArray } {
  print(a);
  a.attachGrad();
  const c = autograd.record(() => f(a));
  c.backward();
  print(c);
  return { a, c };
}

cell("90", "nd.random.seed(1); a = nd.random.uniform(-1, 1, 2); ...; c = f(a); c.backward(); c");
nd.random.seed(1);
const r1 = nd.scope(() => runCell90(nd.random.uniform(-1, 1, 2)));

cell("91", "[a.grad, c / a]");
console.log(displayList([r1.a.grad!, nd.scope(() => r1.c.div(r1.a))]));

console.log("\n# The same two cells replayed with the notebook's own sample a = [0.9273255, -0.45468742]:");
cell("90", "a = nd.array([0.9273255, -0.45468742]); ...; c = f(a); c.backward(); c");
const r2 = nd.scope(() => runCell90(nd.array([0.9273255, -0.45468742])));

cell("91", "[a.grad, c / a]");
console.log(displayList([r2.a.grad!, r2.c.div(r2.a)]));

cell("0", "X = nd.array([[2, 4], [7, 5]])");
const X2 = nd.array([[2, 4], [7, 5]]);

cell("93", "X.norm()");
print(X2.norm());

cell("94", "X.sum()");
print(X2.sum());
