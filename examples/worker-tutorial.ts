// MXNet's autograd tutorial, first cells, with the engine in a worker thread
// (`ndgrad/worker`), then what pipelining buys. Run: `npx tsx examples/worker-tutorial.ts`
// (after `npm run build`).
import { createWorker, type RemoteNDArray } from "ndgrad/worker";

const w = await createWorker();
try {
  // Ops return proxies at once; values come back with `await`. `scope`
  // frees what was made inside (but not variables, like X).
  const X = w.nd.array([[1, 2], [3, 4]]);
  await w.nd.scope(async () => {
    await X.attachGrad();
    const Y = await w.autograd.record(() => w.nd.mul(2, X).mul(X));
    await Y.backward();
    console.log("X.grad:", await (await X.grad)!.toString());
  });

  // The tutorial's dynamic graph: plain control flow, awaiting values inside `record`.
  const f = async (a: RemoteNDArray): Promise<RemoteNDArray> => {
    let b = a.mul(2);
    while ((await b.norm().asscalar()) < 1000) b = b.mul(2);
    return (await b.sum().asscalar()) > 0 ? b : b.mul(100);
  };
  await w.nd.scope(async () => {
    w.nd.random.seed(1);
    const a = w.nd.random.normal(0, 1, [1]);
    a.attachGrad();
    const c = await w.autograd.record(() => f(a));
    await c.backward();
    console.log("a.grad == c / a:", await (await a.grad)!.toArray(), await c.div(a).toArray());
    a.dispose();
  });

  // A chain of 1,000 ops is one message; awaiting each op is one round trip each.
  const N = 1000;
  const time = async (awaitEach: boolean): Promise<[number, number]> =>
    w.nd.scope(async () => {
      const before = (await w.stats()).messagesSent + 1;
      const t0 = performance.now();
      let y = w.nd.ones([4]);
      for (let i = 0; i < N; i++) {
        y = y.add(1);
        if (awaitEach) await w.nd.waitall();
      }
      await y.toArray();
      const ms = performance.now() - t0;
      return [ms, (await w.stats()).messagesSent - before];
    });
  await time(false); // warm up
  const [chained, chainedMessages] = await time(false);
  const [awaited, awaitedMessages] = await time(true);
  const us = (ms: number): string => `${((ms / N) * 1000).toFixed(1)} µs/op`;
  console.log(`${N} chained ops, then one read: ${us(chained)}, ${chainedMessages} message(s) with the read`);
  console.log(`${N} ops awaited one by one:     ${us(awaited)}, ${awaitedMessages} messages with the read`);

  X.dispose();
  console.log("worker memory:", await w.nd.memory());
} finally {
  await w.terminate();
}
