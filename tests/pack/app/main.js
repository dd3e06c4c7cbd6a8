// A fresh Vite app's page: the tutorial's first cells on the main thread and
// in a Web Worker, written into the page for tests/pack to read.
import { nd, autograd } from "ndgrad";
import { createWorker } from "ndgrad/worker";

async function main() {
  const X = nd.array([[1, 2], [3, 4]]);
  X.attachGrad();
  const Y = autograd.record(() => nd.mul(2, X).mul(X));
  const before = String(X.grad);
  Y.backward();
  document.getElementById("main").textContent = [String(X), before, String(Y), String(X.grad), `simd ${nd.simd()}`].join("");

  const w = await createWorker();
  const x = w.nd.array([[1, 2], [3, 4]]);
  x.attachGrad();
  const wbefore = await (await x.grad).toString();
  const y = await w.autograd.record(() => w.nd.mul(2, x).mul(x));
  await y.backward();
  const parts = [await x.toString(), wbefore, await y.toString(), await (await x.grad).toString(), `simd ${await w.nd.simd()}`];
  document.getElementById("worker").textContent = parts.join("");
  await w.terminate();
  document.body.dataset.state = "done";
}

main().catch((e) => {
  document.body.dataset.state = "error";
  document.getElementById("main").textContent = String(e && e.stack ? e.stack : e);
});
