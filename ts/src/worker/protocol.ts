// The id-based protocol between the client (`ndgrad/worker`) and the worker
// thread. Plain data only: the worker keeps the NDArrays in a table keyed by
// ids the client allocated, and commands name arrays by id. A batch of
// commands travels in one comlink call, so a chain of ops costs one message.
import type { DType } from "../format.js";

/** A worker array inside a command's arguments: `{ [REF]: id }`. */
export const REF = "__ndgrad_ref";
/** A function argument (functions cannot be cloned): decoded to a stand-in
 *  function so the main API reports it with its own message. */
export const FN = "__ndgrad_fn";
/** An NDArray of the calling thread, which the worker cannot see. */
export const LOCAL = "__ndgrad_local";
/** An array in a result (a module call's return value). */
export const ARRAY = "__ndgrad_array";
/** Posted by a browser worker once it listens: a module worker's messages
 *  that arrive while its top-level await (loading the engine) runs go to
 *  no listener, so the client sends nothing before this. */
export const READY = "__ndgrad_ready";
/** How a browser worker's name carries `createWorker({ threads })` (see worker-env.ts). */
export const THREADS_TAG = " [ndgrad threads=";

export interface Command {
  /** `x.add`, `nd.array`, `autograd.grad`, … or a protocol op: `free`,
   *  `forget`, `enter`, `exit`, `grad`, `call`, `stats`. */
  op: string;
  /** The array a method (`x.*`) runs on. */
  self?: number;
  args?: unknown[];
  /** Ids the client allocated for the resulting arrays. */
  out?: number | number[];
  /** The shapes the client inferred for `out`; the worker reports differences. */
  shape?: number[] | number[][];
  /** The dtypes the client inferred for `out`; the worker reports differences. */
  dtype?: DType | DType[];
  /** The client waits for this command's value. */
  reply?: true;
  /** Runs even after an earlier command of its batch failed (frees, the end
   *  of a recording scope). */
  always?: true;
}

/** An Error as it crosses the boundary. */
export interface WireError {
  message: string;
  name: string;
  kind?: string;
}

export interface Reply {
  /** `[command index, value]` for each command with `reply` that ran. */
  values: [number, unknown][];
  /** The first failure of the batch; later commands (except `always` ones)
   *  did not run, and their arrays were never created. */
  error?: { at: number; error: WireError };
  /** `[id, shape, dtype]` wherever the client's inferred shape or dtype was not the real one. */
  fixes?: [number, number[], DType][];
}

export interface InitOptions {
  /** URL of a module to import in the worker; its exported functions become callable. */
  module?: string;
}

export interface InitReply {
  /** Names of the module's exported functions. */
  exports: string[];
}

/** What the worker exposes with comlink: two plain functions. */
export interface WorkerApi {
  init(options: InitOptions): Promise<InitReply>;
  exec(batch: Command[]): Promise<Reply>;
}

/** Counters the worker keeps (read with `w.stats()`). */
export interface WorkerStats {
  batches: number;
  commands: number;
  /** Arrays in the worker's id table (live or disposed-but-still-referenced). */
  tableSize: number;
  /** Buffers sent back with `Comlink.transfer` (values of `data()`, `toArray()`). */
  buffersSent: number;
  /** Of the last 64 sent, those still reachable in the worker, and how many
   *  of them are detached there (moved, not copied: all of them). */
  recentBuffers: number;
  recentDetached: number;
}
