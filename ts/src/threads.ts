// Helper threads for the threads build (pkg/ndgrad-threads.wasm): a pool of
// workers (Node `worker_threads`, browser `Worker`), each running its own
// instance of the module on the engine's shared memory, and
// `nd.setThreads` / `nd.getThreads`.
//
// Calls stay synchronous: the engine's thread hands a kernel's work to the
// pool through shared memory and atomics, does its share, and spin-waits
// for the rest (crates/ndgrad-core/src/threads.rs). Helpers block in
// `memory.atomic.wait32` between jobs; they never touch arrays, the tape
// or anything JavaScript sees. In Node they are `unref`ed: they never keep
// the process alive.

/** The exports the pool uses (crates/ndgrad-wasm, "threads"). */
export interface ThreadsExports {
  nd_threads_supported(): number;
  nd_threads_set(helpers: number): void;
  nd_threads_joined(): number;
  nd_threads_leader_blocks(blocks: number): void;
  nd_threads_helper_tasks(): number;
  nd_threads_prepare(id: number, tlsSize: number, tlsAlign: number): number;
  nd_threads_helper(id: number): void;
}

/** What a helper worker gets (ts/src/threads-worker.ts). */
export interface HelperStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  id: number;
  /** Top of the helper's stack (stacks grow down), from `nd_threads_prepare`. */
  stackTop: number;
}

/** Most threads `setThreads` accepts (the engine's limit is 64). */
const MAX_THREADS = 64;
/** Default thread count: the cores, at most this many. */
const DEFAULT_MAX = 4;
/** How long starting the first helpers at load may take. */
const START_TIMEOUT_MS = 20_000;

interface Helper {
  id: number;
  ready: Promise<void>;
  terminate(): void;
}

interface Pool {
  exports: ThreadsExports & { __tls_size: WebAssembly.Global; __tls_align: WebAssembly.Global };
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Node's worker_threads, or null in browsers. */
  nodeWorkers: typeof import("node:worker_threads") | null;
  helpers: Helper[];
  threads: number;
}

let pool: Pool | null = null;
let singleReason = "ndgrad has not loaded yet";

/** Record why the single-threaded build runs (for setThreads' error). */
export function singleThreaded(why: string): void {
  pool = null;
  singleReason = why;
}

function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  return typeof g.process?.versions?.node === "string";
}

async function cores(): Promise<number> {
  if (isNode()) {
    const osName = "node:os";
    const os = (await import(/* @vite-ignore */ osName)) as typeof import("node:os");
    return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** Start helper `id`: reserve its stack and TLS, start its worker. */
function spawn(p: Pool, id: number): Helper {
  const ex = p.exports;
  const stackTop = ex.nd_threads_prepare(id, Number(ex.__tls_size.value), Number(ex.__tls_align.value)) >>> 0;
  if (stackTop === 0) {
    return { id, ready: Promise.reject(new Error("no memory for a helper's stack")), terminate: () => {} };
  }
  const start: HelperStart = { module: p.module, memory: p.memory, id, stackTop };
  let terminate: () => void;
  let ready: Promise<void>;
  if (p.nodeWorkers !== null) {
    // No execArgv: the parent's (`--input-type`, `-e`, …) may not suit a
    // worker, and V8 flags are process-wide anyway.
    const worker = new p.nodeWorkers.Worker(new URL("./threads-worker.js", import.meta.url), { execArgv: [] });
    ready = new Promise<void>((resolve, reject) => {
      worker.once("message", (m: { ready?: boolean; error?: string }) => {
        // Referenced while starting (the load awaits it); then never again.
        worker.unref();
        if (m.ready === true) resolve();
        else reject(new Error(m.error ?? "helper failed"));
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`helper exited (code ${code})`)));
    });
    worker.postMessage(start);
    terminate = () => void worker.terminate();
  } else {
    // The literal `new Worker(new URL(…, import.meta.url), { type: "module" })`
    // lets bundlers emit the worker script.
    const worker = new Worker(new URL("./threads-worker.js", import.meta.url), { type: "module" });
    ready = new Promise<void>((resolve, reject) => {
      worker.addEventListener(
        "message",
        (ev: MessageEvent) => {
          const m = ev.data as { ready?: boolean; error?: string };
          if (m.ready === true) resolve();
          else reject(new Error(m.error ?? "helper failed"));
        },
        { once: true },
      );
      worker.addEventListener("error", (ev: ErrorEvent) => {
        ev.preventDefault();
        reject(new Error(ev.message || "helper failed to start"));
      });
    });
    worker.postMessage(start);
    terminate = () => worker.terminate();
  }
  ready.catch(() => {});
  return { id, ready, terminate };
}

/**
 * Start the pool on a freshly instantiated threads build with `threads`
 * threads (default: the cores, at most 4), waiting until the helpers run.
 * Throws (after stopping any helper) if one cannot start.
 */
export async function startThreads(
  exports: ThreadsExports,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  threads: number | undefined,
): Promise<void> {
  const wtName = "node:worker_threads";
  const p: Pool = {
    exports: exports as Pool["exports"],
    module,
    memory,
    nodeWorkers: isNode() ? ((await import(/* @vite-ignore */ wtName)) as typeof import("node:worker_threads")) : null,
    helpers: [],
    threads: 1,
  };
  const n = Math.max(1, Math.min(threads ?? Math.min(await cores(), DEFAULT_MAX), MAX_THREADS));
  for (let id = 0; id < n - 1; id++) p.helpers.push(spawn(p, id));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.all(p.helpers.map((h) => h.ready)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("helpers did not start in time")), START_TIMEOUT_MS);
      }),
    ]);
    // "ready" comes just before a helper enters its loop: wait until the
    // engine counts them all, so the first kernels already share the work.
    for (let i = 0; exports.nd_threads_joined() < n - 1; i++) {
      if (i === 1000) throw new Error("helpers did not enter their loop");
      await new Promise((r) => setTimeout(r, 1));
    }
  } catch (e) {
    for (const h of p.helpers) h.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  p.threads = n;
  exports.nd_threads_set(n - 1);
  // Only a browser's main thread may not block (Atomics.wait throws there).
  const g = globalThis as { WorkerGlobalScope?: unknown };
  exports.nd_threads_leader_blocks(p.nodeWorkers !== null || g.WorkerGlobalScope !== undefined ? 1 : 0);
  pool = p;
}

function describe(v: unknown): string {
  return typeof v === "number" ? String(v) : typeof v === "string" ? JSON.stringify(v) : typeof v;
}

/**
 * Use `n` threads for large kernels (matrix products): 1 runs everything
 * on the calling thread. Only the threads build can use more than one
 * thread (see `getThreads`); asking for more on the single-threaded build
 * throws an Error that says why it is running.
 */
export function setThreads(n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new Error(`setThreads: expected an integer from 1 to ${MAX_THREADS} (got ${describe(n)})`);
  }
  if (pool === null) {
    if (n === 1) return;
    throw new Error(`setThreads(${n}): ndgrad is running its single-threaded WebAssembly build: ${singleReason}`);
  }
  // New helpers join as soon as their worker is up (a few milliseconds);
  // until then jobs are shared among those already running.
  while (pool.helpers.length < n - 1) pool.helpers.push(spawn(pool, pool.helpers.length));
  pool.threads = n;
  pool.exports.nd_threads_set(n - 1);
}

/** How many threads large kernels use: 1 on the single-threaded build;
 *  on the threads build, `setThreads`' value (default: the cores, at most 4). */
export function getThreads(): number {
  return pool === null ? 1 : pool.threads;
}

/** Internal state for tests and benchmarks: which build runs, the thread
 *  count, helpers running, tasks they ran so far, and (single-threaded
 *  build) why. */
export function threadsInfo(): {
  build: "threads" | "single";
  threads: number;
  helpersRunning: number;
  helperTasks: number;
  reason: string | null;
} {
  return pool === null
    ? { build: "single", threads: 1, helpersRunning: 0, helperTasks: 0, reason: singleReason }
    : {
        build: "threads",
        threads: pool.threads,
        helpersRunning: pool.exports.nd_threads_joined(),
        helperTasks: pool.exports.nd_threads_helper_tasks() >>> 0,
        reason: null,
      };
}
