// A helper thread of the threads build (see ./threads.ts): instantiate the
// module on the engine's shared memory with this thread's own stack and
// TLS, say so, then run the helper loop, which blocks in
// `memory.atomic.wait32` between jobs and never returns. Works as a Node
// `worker_threads` worker and as a browser module Worker.
import type { HelperStart } from "./threads.js";

interface HelperExports {
  __stack_pointer: WebAssembly.Global;
  nd_threads_helper(id: number): void;
}

async function run(start: HelperStart, post: (m: unknown) => void): Promise<void> {
  let ex: HelperExports;
  try {
    const instance = await WebAssembly.instantiate(start.module, {
      env: { memory: start.memory },
      // Helpers run kernels only: they never call back into JavaScript.
      ndgrad: { custom_backward: () => -1, custom_release: () => {} },
    });
    ex = instance.exports as unknown as HelperExports;
    // Before anything runs on this instance: its own stack (it starts with
    // the engine's stack pointer). `nd_threads_helper` then sets up its
    // thread-locals.
    ex.__stack_pointer.value = start.stackTop;
  } catch (e) {
    post({ error: e instanceof Error ? e.message : String(e) });
    return;
  }
  post({ ready: true });
  ex.nd_threads_helper(start.id);
}

// No top-level await: bundlers may emit this worker as a classic script
// (Vite's default worker format).
const g = globalThis as { process?: { versions?: { node?: string } } };
if (typeof g.process?.versions?.node === "string") {
  const name = "node:worker_threads";
  void (import(/* @vite-ignore */ name) as Promise<typeof import("node:worker_threads")>).then(({ parentPort }) => {
    parentPort?.once("message", (m: HelperStart) => void run(m, (x) => parentPort.postMessage(x)));
  });
} else {
  const scope = globalThis as unknown as {
    addEventListener(type: "message", f: (ev: MessageEvent) => void, opts: { once: boolean }): void;
    postMessage(m: unknown): void;
  };
  scope.addEventListener("message", (ev) => void run(ev.data as HelperStart, (x) => scope.postMessage(x)), { once: true });
}
