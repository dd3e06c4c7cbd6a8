/**
 * `ndgrad/worker`: the ndgrad API, asynchronous, running in a worker thread
 * (Node `worker_threads`, or a browser module `Worker`) through comlink.
 *
 * ```ts
 * import { createWorker } from "ndgrad/worker";
 * const w = await createWorker();
 * const x = w.nd.array([[1, 2], [3, 4]]);
 * x.attachGrad();
 * const y = await w.autograd.record(() => w.nd.mul(2, x).mul(x));
 * y.backward();
 * console.log(await (await x.grad)!.toString()); // [[ 4.  8.] [12. 16.]]
 * x.dispose(); y.dispose();
 * await w.terminate();
 * ```
 *
 * Ops return proxies (`RemoteNDArray`) at once and are sent in batches: a
 * chain of ops costs one message, not one round trip each. Values come back
 * with `await` (`toArray()`, `data()`, `asscalar()`, `toString()`, `grad`).
 * An op's error rejects the next awaited call, with the main API's message.
 */
import * as Comlink from "./comlink.js";
import nodeEndpoint, { type NodeEndpoint } from "./node-adapter.js";
import type { NDArray } from "../ndarray.js";
import {
  Pending,
  RemoteNDArray,
  Session,
  remoteAutograd,
  remoteND,
  transfer,
  type ClientStats,
  type Host,
  type RemoteAutograd,
  type RemoteND,
} from "./client.js";
import { loadShapeEngine } from "./engine-shapes.js"; // conv branch (issue #12)
import { READY, THREADS_TAG, type InitReply, type WorkerApi, type WorkerStats } from "./protocol.js";

export { Pending, RemoteNDArray, transfer };
export type {
  ClientStats,
  RemoteAutograd,
  RemoteND,
  RemoteArrayOptions,
  RemoteBackwardOptions,
  RemoteError,
  RemoteGradOptions,
  RemoteLeakyReLUOptions,
} from "./client.js";
export type { WorkerStats } from "./protocol.js";

export interface WorkerOptions {
  /**
   * A module to import in the worker (a URL, e.g.
   * `new URL("./train.js", import.meta.url)`, or an absolute path in Node).
   * It uses the synchronous API (`import { nd } from "ndgrad"`); its exported
   * functions become callable as `w.module.name(...args)`.
   */
  module?: URL | string;
  /** A name for the thread (shown by debuggers). */
  name?: string;
  /**
   * The worker's engine threads, as `NDGRAD_THREADS` does for the main
   * thread: 0 loads the single-threaded build even where the threads build
   * could run (e.g. to compare them); n ≥ 1 loads the threads build (where
   * possible) with n threads. Default: the threads build where possible,
   * on as many threads as cores (at most 4).
   */
  threads?: number;
}

/** An NDArray parameter or result as the calling thread sees it. */
export type Remoted<T> = T extends NDArray
  ? RemoteNDArray
  : T extends ArrayBufferView | ArrayBuffer | Date | RegExp | Error
    ? T
    : T extends (infer U)[]
    ? Remoted<U>[]
    : T extends Map<infer K, infer V>
      ? Map<K, Remoted<V>>
      : T extends (...args: never[]) => unknown
        ? never
        : T extends object
          ? { [K in keyof T]: Remoted<T[K]> }
          : T;

/** A worker module's exported functions, called from this thread: arrays go
 *  in and come out as `RemoteNDArray`s, other values are cloned. */
export type RemoteModule<M> = {
  [K in keyof M as M[K] extends (...args: never[]) => unknown ? K : never]: M[K] extends (...args: infer A) => infer R
    ? (...args: { [I in keyof A]: Remoted<A[I]> }) => Promise<Remoted<Awaited<R>>>
    : never;
};

export interface Stats extends ClientStats {
  worker: WorkerStats;
}

/** A running worker: `nd` and `autograd` as in the main API, remote. */
export class NDWorker<M = Record<string, never>> {
  readonly nd: RemoteND;
  readonly autograd: RemoteAutograd;
  /** The exported functions of `createWorker({ module })`. */
  readonly module: RemoteModule<M>;
  readonly #session: Session;
  readonly #stop: () => Promise<void>;

  /** @internal Use `createWorker`. */
  constructor(session: Session, init: InitReply, stop: () => Promise<void>) {
    this.#session = session;
    this.#stop = stop;
    this.nd = remoteND(session);
    this.autograd = remoteAutograd(session);
    const module: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const name of init.exports) {
      module[name] = (...args) => session.call(name, args);
    }
    this.module = Object.freeze(module) as unknown as RemoteModule<M>;
  }

  /** Message and batch counters here, and the worker's own. The client
   *  counters are read before the message that fetches the worker's. */
  async stats(): Promise<Stats> {
    const client = { ...this.#session.counters };
    const worker = await this.#session.read<WorkerStats>("stats", undefined);
    return { ...client, worker };
  }

  /** End the worker now: calls still waiting reject, later calls reject,
   *  and the thread no longer keeps the process alive. */
  async terminate(): Promise<void> {
    if (this.#session.dead === null) this.#session.kill(new Error("ndgrad worker: the worker was terminated"));
    await this.#stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }
}

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

/**
 * The parent's Node options minus those about the main script (`node
 * --input-type=module -e …` would otherwise make the worker refuse to start):
 * loaders, `--expose-gc`, conditions and the like still apply in the worker.
 */
function workerExecArgv(argv: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-e" || a === "--eval" || a === "-p" || a === "--print" || a === "--input-type") {
      i++; // and its value
    } else if (!/^--(eval|print|input-type)=/.test(a)) {
      out.push(a);
    }
  }
  // Nothing to drop: inherit, as Node does by default.
  return out.length === argv.length ? undefined : out;
}

/** Counts messages both ways (for `stats()`). */
function counted(ep: Comlink.Endpoint, counters: ClientStats): Comlink.Endpoint {
  ep.addEventListener("message", (ev: Event) => {
    // Not the browser worker's READY signal: only the replies count.
    if (((ev as MessageEvent).data as Record<string, unknown> | null)?.[READY] !== true) counters.messagesReceived++;
  });
  return {
    postMessage(message: unknown, transfer?: Transferable[]) {
      counters.messagesSent++;
      ep.postMessage(message, transfer);
    },
    addEventListener: ep.addEventListener.bind(ep),
    removeEventListener: ep.removeEventListener.bind(ep),
    ...(ep.start === undefined ? {} : { start: ep.start.bind(ep) }),
  };
}

function moduleHref(m: URL | string | undefined): string | undefined {
  if (m === undefined) return undefined;
  if (m instanceof URL) return m.href;
  if (typeof m !== "string") throw new Error(`createWorker: module must be a URL or a string (got ${typeof m})`);
  try {
    return new URL(m).href;
  } catch {
    if (isNode && (m.startsWith("/") || /^[A-Za-z]:[\\/]/.test(m))) {
      return new URL(`file://${m.startsWith("/") ? "" : "/"}${m.replace(/\\/g, "/")}`).href;
    }
    throw new Error(`createWorker: module must be an absolute URL or path (got "${m}")`);
  }
}

/**
 * Start a worker running ndgrad. Resolves once the worker has loaded the
 * engine (and `options.module`); rejects if it cannot.
 */
export async function createWorker<M = Record<string, never>>(options: WorkerOptions = {}): Promise<NDWorker<M>> {
  const href = moduleHref(options.module);
  const { threads } = options;
  if (threads !== undefined && (typeof threads !== "number" || !Number.isInteger(threads) || threads < 0 || threads > 64)) {
    throw new Error(`createWorker: threads must be an integer from 0 to 64 (got ${typeof threads === "number" ? threads : typeof threads})`);
  }
  const counters: ClientStats = {
    messagesSent: 0,
    messagesReceived: 0,
    batches: 0,
    commands: 0,
    shapeFixes: 0,
    dtypeFixes: 0,
    freeBatches: 0,
  };
  let endpoint: Comlink.Endpoint;
  let host: Host;
  let stop: () => Promise<void>;
  let onDeath: (f: (e: Error) => void) => void;
  let stopping = false;
  /** Resolves once the worker listens for messages (browsers: see READY). */
  let ready: Promise<unknown> = Promise.resolve();

  if (isNode) {
    const name = "node:worker_threads";
    const wt = (await import(/* @vite-ignore */ name)) as typeof import("node:worker_threads");
    const url = new URL("./worker.js", import.meta.url);
    const named = options.name === undefined ? {} : { name: options.name };
    let execArgv = workerExecArgv(process.execArgv);
    let worker: import("node:worker_threads").Worker;
    for (;;) {
      try {
        worker = new wt.Worker(url, {
          ...named,
          ...(execArgv === undefined ? {} : { execArgv }),
          ...(threads === undefined ? {} : { env: { ...process.env, NDGRAD_THREADS: String(threads) } }),
        });
        break;
      } catch (e) {
        // Given explicitly, process-wide flags (`--expose-gc`, …) are refused: drop those.
        const code = (e as { code?: unknown }).code;
        const bad =
          code === "ERR_WORKER_INVALID_EXEC_ARGV" ? /flags: (.*)$/.exec(String((e as Error).message))?.[1] : undefined;
        if (execArgv === undefined || bad === undefined) throw e;
        const refused = new Set(bad.split(/[ ,]+/));
        const kept = execArgv.filter((a) => !refused.has(a) && !refused.has(a.split("=")[0]!));
        if (kept.length === execArgv.length) throw e;
        execArgv = kept;
      }
    }
    endpoint = nodeEndpoint(worker as unknown as NodeEndpoint);
    host = { ref: () => worker.ref(), unref: () => worker.unref() };
    stop = async () => {
      stopping = true;
      await worker.terminate();
    };
    onDeath = (f) => {
      worker.on("error", (e: unknown) => {
        f(new Error(`ndgrad worker crashed: ${e instanceof Error ? e.message : String(e)}`));
      });
      worker.on("exit", (code: number) => {
        if (!stopping) f(new Error(`ndgrad worker exited unexpectedly (exit code ${code})`));
      });
    };
  } else if (typeof globalThis.Worker === "function") {
    // The literal `new Worker(new URL(…, import.meta.url), { type: "module", … })`
    // lets bundlers emit the worker; Vite needs `type` static and after any spread,
    // so no spread here (an undefined `name` is the default, ""). The name
    // also carries `threads` (worker-env.ts: nothing else reaches the
    // worker before its engine loads).
    const worker = new Worker(new URL("./worker.js", import.meta.url), {
      type: "module",
      name: threads === undefined ? options.name : `${options.name ?? "ndgrad"}${THREADS_TAG}${threads}]`,
    });
    endpoint = worker;
    ready = new Promise<void>((resolve) => {
      const onMessage = (ev: MessageEvent): void => {
        if ((ev.data as Record<string, unknown> | null)?.[READY] !== true) return;
        worker.removeEventListener("message", onMessage);
        resolve();
      };
      worker.addEventListener("message", onMessage);
    });
    host = { ref: () => {}, unref: () => {} };
    stop = async () => {
      stopping = true;
      worker.terminate();
    };
    onDeath = (f) => {
      worker.addEventListener("error", (ev: ErrorEvent) => {
        ev.preventDefault();
        f(new Error(`ndgrad worker crashed: ${ev.message || "error in the worker"}`));
      });
    };
  } else {
    throw new Error("createWorker: no worker support here (need Node's worker_threads or a browser Worker)");
  }

  const api = Comlink.wrap<WorkerApi>(counted(endpoint, counters));
  const session = new Session(api, host, counters);

  let died: (e: Error) => void = () => {};
  const death = new Promise<never>((_, reject) => {
    died = reject;
  });
  death.catch(() => {});
  onDeath((e) => {
    session.kill(e);
    died(e);
  });

  host.ref();
  try {
    // The engine's shape rules for the client (engine-shapes.ts), loaded
    // while the worker starts.
    const shapes = loadShapeEngine();
    await Promise.race([ready, death]);
    await shapes;
    const init = await Promise.race([api.init(href === undefined ? {} : { module: href }), death]);
    return new NDWorker<M>(session, init, stop);
  } catch (e) {
    await stop();
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(href === undefined ? `createWorker: ${message}` : `createWorker: could not load ${href}: ${message}`);
  } finally {
    if (session.dead === null) host.unref();
  }
}
