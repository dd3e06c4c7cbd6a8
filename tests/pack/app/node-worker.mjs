// Run by tests/pack: the same cells through `ndgrad/worker` (worker_threads).
import { createWorker } from "ndgrad/worker";

const w = await createWorker();
const { nd, autograd } = w;
const print = async (x) => console.log(typeof x === "string" ? x : await x.toString());
const X = nd.array([[1, 2], [3, 4]]);
await print(X);
X.attachGrad();
await print(await X.grad);
const Y = await autograd.record(() => nd.mul(2, X).mul(X));
await print(Y);
await print("Before back-prop");
await print(X);
await print(await X.grad);
await print(Y);
await Y.backward();
await print("After back-prop");
await print(X);
await print(await X.grad);
await print(Y);
const X2 = nd.array([[2, 4], [7, 5]]);
await print(X2.norm());
await print(X2.sum());
console.log(`simd ${await nd.simd()}`);
await w.terminate();
// No process.exit: the process must end by itself once the worker is gone.
