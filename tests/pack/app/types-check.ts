// Type-checked by tests/pack against the installed package's .d.ts files.
import { nd, autograd, NDArray } from "ndgrad";
import { createWorker, RemoteNDArray, type NDWorker } from "ndgrad/worker";

const X: NDArray = nd.array([[1, 2], [3, 4]]);
X.attachGrad();
const Y: NDArray = autograd.record(() => nd.mul(2, X).mul(X));
Y.backward();
const g: NDArray | null = X.grad;
const [dx]: NDArray[] = autograd.grad(Y, [X], { createGraph: true, retainGraph: true });
const w: NDWorker = await createWorker();
const x: RemoteNDArray = w.nd.array([1, 2]);
const text: Promise<string> = x.toString();
export { g, dx, text };
