// Run by tests/pack in a fresh Node project that installed the packed tarball.
import { nd, autograd } from "ndgrad";

const X = nd.array([[1, 2], [3, 4]]);
console.log(X); // In [14]
X.attachGrad();
console.log(X.grad); // In [16]
const Y = autograd.record(() => nd.mul(2, X).mul(X));
console.log(Y); // In [17]
console.log("Before back-prop"); // In [18]
console.log(X);
console.log(X.grad);
console.log(Y);
Y.backward();
console.log("After back-prop");
console.log(X);
console.log(X.grad);
console.log(Y);
const X2 = nd.array([[2, 4], [7, 5]]);
console.log(X2.norm()); // In [93]
console.log(X2.sum()); // In [94]
console.log(`simd ${nd.simd()}`);
