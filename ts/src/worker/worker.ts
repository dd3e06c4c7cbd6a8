// The worker thread's side of `ndgrad/worker`: the synchronous main API
// plus a table from the client's ids to NDArrays, exposed with comlink as two
// plain functions (`init`, `exec`). Never an NDArray object itself: a batch
// of commands naming arrays by id runs in order, in one message.
//
// Runs as compiled JS (pkg/worker/worker.js) in a Node `worker_threads`
// Worker or a browser module Worker.
// First: it must run before ../index.js loads the engine.
import "./worker-env.js";
import * as Comlink from "./comlink.js";
import nodeEndpoint, { type NodeEndpoint } from "./node-adapter.js";
import { nd, autograd, NDArray, type DType } from "../index.js";
// The recording and training flags are two engine globals; a remote
// `autograd.record` spans several batches, so it sets them directly (as
// `autograd.record` itself does around its callback).
import { wasm } from "../ffi.js";
import {
  ARRAY,
  FN,
  LOCAL,
  READY,
  REF,
  type Command,
  type InitOptions,
  type InitReply,
  type Reply,
  type WireError,
  type WorkerApi,
  type WorkerStats,
} from "./protocol.js";

/** A table slot whose op failed (or was skipped after a failure). */
interface Failed {
  failed: string;
}

const table = new Map<number, NDArray | Failed>();
/** Arrays also referenced outside the table (gradient views, module
 *  arguments and results): a collected proxy must not free them. */
const shared = new WeakSet<NDArray>();
/** Ids for arrays the worker hands out itself (module results). */
let nextWorkerId = -1;
/** Recording/training flags saved by each open `enter`. */
const modes: [number, number][] = [];
let userModule: Record<string, unknown> = {};

const stats = { batches: 0, commands: 0, buffersSent: 0 };
/** The last buffers sent with transfer, to check they were moved. */
const sent: WeakRef<ArrayBuffer>[] = [];

type Handler = (self: NDArray, args: unknown[]) => unknown;
const OPS = new Map<string, Handler>();

// Every method of NDArray and every function of `nd` is an op (`x.add(y)`
// arrives as "x.add", `nd.add(a, b)` as "nd.add"): the lists are the main
// API itself, so a new op there is callable here with nothing to add. Left
// out: what only the main thread's wrapper uses, and what the client does
// itself (`dispose` is "free"; `scope` and `keep` track proxies; `debug`
// reports this thread's creation stacks, which mean nothing to the caller).
const INTERNAL_METHODS = new Set(["constructor", "handleFor", "markVariable", "dispose"]);
const LOCAL_FUNCTIONS = new Set(["scope", "keep", "debug"]);
for (const m of Object.getOwnPropertyNames(NDArray.prototype)) {
  const d = Object.getOwnPropertyDescriptor(NDArray.prototype, m);
  if (INTERNAL_METHODS.has(m) || typeof d?.value !== "function") continue;
  const f = d.value as (...a: unknown[]) => unknown;
  OPS.set(`x.${m}`, (self, args) => f.apply(self, args));
}
// Values for `toArray` travel as a (transferred) typed array and are nested
// on the client; calling the real method first gives its errors.
OPS.set("x.toArray", (self) => {
  if (self.isDisposed) self.toArray();
  return [self.shape, self.data()];
});

const ndTable = nd as unknown as Record<string, unknown>;
for (const name of Object.keys(ndTable)) {
  const f = ndTable[name];
  if (LOCAL_FUNCTIONS.has(name) || typeof f !== "function") continue;
  OPS.set(`nd.${name}`, (_, args) => (f as (...a: unknown[]) => unknown)(...args));
}
for (const f of ["uniform", "normal", "seed"] as const) {
  OPS.set(`nd.random.${f}`, (_, args) => (nd.random[f] as (...a: unknown[]) => unknown)(...args));
}
for (const f of ["backward", "grad", "markVariables", "isRecording", "isTraining"] as const) {
  OPS.set(`autograd.${f}`, (_, args) => (autograd[f] as (...a: unknown[]) => unknown)(...args));
}

// nd.load: how many arrays a file holds is known only here, so the worker
// allocates their ids (owned by the client's proxies, freed when those are
// disposed or collected); nd.save's bytes move back (see runBatch).
OPS.set("nd.load", (_, args) => {
  const r = (nd.load as (...a: unknown[]) => NDArray[] | Record<string, NDArray>)(...args);
  const enc = (a: NDArray): unknown => {
    const id = nextWorkerId--;
    table.set(id, a);
    return { [ARRAY]: id, shape: a.shape, dtype: a.dtype };
  };
  return Array.isArray(r) ? r.map(enc) : Object.fromEntries(Object.entries(r).map(([k, a]) => [k, enc(a)]));
});

/** The name an op's errors use ("x.add" → "add"). */
function shortName(op: string): string {
  return op.slice(op.lastIndexOf(".") + 1);
}

function lookup(id: unknown, op: string): NDArray {
  const e = typeof id === "number" ? table.get(id) : undefined;
  if (e === undefined) {
    throw new Error(
      `${op}: unknown array (id ${String(id)}): it was freed by the garbage collector or belongs to another ndgrad worker`,
    );
  }
  if (e instanceof NDArray) return e;
  throw new Error(`${op}: the array was never created, because an earlier operation failed: ${e.failed}`);
}

/** Arguments as sent → what the main API takes (ids → NDArrays). */
function decode(v: unknown, op: string, share: boolean, depth = 0): unknown {
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || depth > 16) return v;
  if (Array.isArray(v)) return v.map((x) => decode(x, op, share, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const o = v as Record<string, unknown>;
  if (REF in o) {
    const a = lookup(o[REF], op);
    if (share) shared.add(a);
    return a;
  }
  if (FN in o) {
    if (o[FN] === "symbol") return Symbol("argument");
    if (o[FN] === "object") {
      // An instance of a class with the same name, for the main API's `got Foo`.
      const name = String(o.name);
      const standIn = { [name]: class {} }[name]!;
      return new standIn();
    }
    return function argument(): void {};
  }
  if (LOCAL in o) {
    throw new Error(
      `${op}: an NDArray of the calling thread cannot be used in the worker ` +
        "(copy it in with w.nd.array(x.data(), { shape: x.shape }))",
    );
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = decode(x, op, share, depth + 1);
  return out;
}

/** A module call's result → plain data (NDArrays → fresh ids). */
function encodeResult(v: unknown, seen: Map<NDArray, number>, depth = 0): unknown {
  if (v instanceof NDArray) {
    let id = seen.get(v);
    if (id === undefined) {
      id = nextWorkerId--;
      seen.set(v, id);
      table.set(id, v);
      shared.add(v);
    }
    return { [ARRAY]: id, shape: v.isDisposed ? [] : v.shape, dtype: v.dtype };
  }
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || depth > 16) return v;
  if (Array.isArray(v)) return v.map((x) => encodeResult(x, seen, depth + 1));
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, encodeResult(x, seen, depth + 1)]));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = encodeResult(x, seen, depth + 1);
  return out;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

function wireError(e: unknown): WireError {
  if (e instanceof Error) {
    const kind = (e as { kind?: unknown }).kind;
    return typeof kind === "string" ? { message: e.message, name: e.name, kind } : { message: e.message, name: e.name };
  }
  return { message: String(e), name: "Error" };
}

const MODE_KINDS = new Set(["record", "pause", "trainMode", "predictMode"]);

/** Run one command; its value (an array for ops with `out`). */
function run(c: Command): unknown {
  const args = c.args ?? [];
  switch (c.op) {
    case "free": {
      const e = table.get(c.self!);
      if (e instanceof NDArray) e.dispose();
      return undefined;
    }
    case "forget": {
      // The client's proxy was garbage collected: nobody can name this id again.
      const e = table.get(c.self!);
      table.delete(c.self!);
      if (e instanceof NDArray && !shared.has(e)) e.dispose();
      return undefined;
    }
    case "fail": {
      // A batch that could not be sent: its arrays will never exist.
      const [ids, message] = args as [number[], string];
      for (const id of ids) table.set(id, { failed: message });
      return undefined;
    }
    case "enter": {
      const [kind, options] = args as [string, unknown];
      // Save first, so that the matching `exit` restores even if this fails.
      modes.push([wasm.nd_is_recording(), wasm.nd_is_training()]);
      if (!MODE_KINDS.has(kind)) throw new Error(`autograd: unknown mode ${String(kind)}`);
      const train = (options as { trainMode?: unknown } | undefined)?.trainMode;
      // The main API's own checks and messages (it runs the empty function).
      (autograd[kind as "record"] as (fn: () => void, o?: unknown) => void)(() => undefined, options);
      const recording = kind === "record" ? 1 : kind === "pause" ? 0 : wasm.nd_is_recording();
      const training =
        kind === "record" ? train ?? true : kind === "pause" ? train ?? false : kind === "trainMode";
      wasm.nd_set_recording(recording);
      wasm.nd_set_training(training ? 1 : 0);
      return undefined;
    }
    case "exit": {
      const m = modes.pop();
      if (m !== undefined) {
        wasm.nd_set_recording(m[0]);
        wasm.nd_set_training(m[1]);
      }
      return undefined;
    }
    case "grad": {
      // `x.grad`: the same gradient array (and id) while it lives, as in the main API.
      const self = lookup(c.self, "grad");
      const [cached, fresh] = args as [number, number];
      const g = self.grad;
      if (g === null) return null;
      if (table.get(cached) === g) return { id: cached, shape: g.shape, dtype: g.dtype };
      table.set(fresh, g);
      shared.add(g);
      return { id: fresh, shape: g.shape, dtype: g.dtype };
    }
    case "call": {
      const [name, ...rest] = args as [string, ...unknown[]];
      const f = userModule[name];
      if (typeof f !== "function") throw new Error(`${name}: not a function exported by the worker's module`);
      const decoded = rest.map((a) => decode(a, name, true));
      const r = (f as (...a: unknown[]) => unknown)(...decoded);
      return isThenable(r) ? Promise.resolve(r).then((v) => encodeResult(v, new Map())) : encodeResult(r, new Map());
    }
    case "stats": {
      const alive = sent.map((r) => r.deref()).filter((b) => b !== undefined);
      const out: WorkerStats = {
        batches: stats.batches,
        commands: stats.commands,
        tableSize: table.size,
        buffersSent: stats.buffersSent,
        recentBuffers: alive.length,
        recentDetached: alive.filter((b) => b.byteLength === 0).length,
      };
      return out;
    }
    default: {
      const h = OPS.get(c.op);
      if (h === undefined) throw new Error(`ndgrad worker: unknown operation ${c.op}`);
      const name = shortName(c.op);
      const self = c.self === undefined ? (undefined as unknown as NDArray) : lookup(c.self, name);
      return h(self, decode(args, name, false) as unknown[]);
    }
  }
}

/** Keep an op's result arrays under the client's ids; note shapes and
 *  dtypes the client guessed wrong. */
function store(c: Command, r: unknown, fixes: [number, number[], DType][]): void {
  const many = Array.isArray(c.out);
  const ids = many ? (c.out as number[]) : [c.out as number];
  const arrays = many ? (Array.isArray(r) ? r : []) : [r];
  const shapes = (many ? c.shape : [c.shape]) as (number[] | undefined)[] | undefined;
  const dtypes = (many ? c.dtype : [c.dtype]) as (DType | undefined)[] | undefined;
  if (arrays.length !== ids.length || !arrays.every((a) => a instanceof NDArray)) {
    // Dispose what it made: nothing can name those arrays.
    for (const a of Array.isArray(r) ? r : [r]) if (a instanceof NDArray) a.dispose();
    throw new Error(`ndgrad worker: ${c.op} did not return ${many ? `${ids.length} arrays` : "an array"}`);
  }
  ids.forEach((id, i) => {
    const a = arrays[i] as NDArray;
    table.set(id, a);
    const guess = shapes?.[i];
    const shape = a.shape;
    if (
      guess === undefined ||
      guess.length !== shape.length ||
      guess.some((d, j) => d !== shape[j]) ||
      dtypes?.[i] !== a.dtype
    ) {
      fixes.push([id, shape, a.dtype]);
    }
  });
}

function fail(c: Command, message: string): void {
  if (c.out === undefined) return;
  for (const id of Array.isArray(c.out) ? c.out : [c.out]) table.set(id, { failed: message });
}

/** A value going back: whole-buffer typed arrays are moved, not copied. */
function transferable(v: unknown, transfers: Transferable[]): void {
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) {
    const typed =
      x instanceof Float32Array || x instanceof Float64Array || x instanceof Int32Array || x instanceof Uint8Array;
    const whole = typed && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength;
    if (whole && x.buffer instanceof ArrayBuffer) {
      transfers.push(x.buffer);
      stats.buffersSent++;
      sent.push(new WeakRef(x.buffer));
      if (sent.length > 64) sent.shift();
    }
  }
}

async function runBatch(batch: Command[]): Promise<Reply> {
  stats.batches++;
  stats.commands += batch.length;
  const values: [number, unknown][] = [];
  const transfers: Transferable[] = [];
  const fixes: [number, number[], DType][] = [];
  let error: Reply["error"];
  for (let k = 0; k < batch.length; k++) {
    const c = batch[k]!;
    if (error !== undefined && c.always !== true) {
      fail(c, error.error.message);
      continue;
    }
    try {
      let r = run(c);
      if (isThenable(r)) r = await r;
      if (c.out !== undefined) store(c, r, fixes);
      if (c.reply === true) {
        // `data` and `toArray` values move (only data reads: a module's own
        // typed arrays may still be in use there, so those are copied).
        if (c.op === "x.data" || c.op === "nd.save") transferable(r, transfers);
        else if (c.op === "x.toArray") transferable((r as unknown[])[1], transfers);
        values.push([k, r]);
      }
    } catch (e) {
      const err = wireError(e);
      if (error === undefined) error = { at: k, error: err };
      fail(c, err.message);
    }
  }
  const reply: Reply = { values };
  if (error !== undefined) reply.error = error;
  if (fixes.length > 0) reply.fixes = fixes;
  return Comlink.transfer(reply, transfers);
}

// Batches run one after another, also when one awaits an async module function.
let last: Promise<unknown> = Promise.resolve();

const api: WorkerApi = {
  async init(options: InitOptions): Promise<InitReply> {
    if (options.module !== undefined) {
      userModule = (await import(/* @vite-ignore */ options.module)) as Record<string, unknown>;
    }
    return { exports: Object.keys(userModule).filter((k) => typeof userModule[k] === "function") };
  },
  exec(batch: Command[]): Promise<Reply> {
    const p = last.then(() => runBatch(batch));
    last = p.catch(() => undefined);
    return p;
  },
};

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
if (isNode) {
  const name = "node:worker_threads";
  const { parentPort } = (await import(/* @vite-ignore */ name)) as typeof import("node:worker_threads");
  if (parentPort === null) throw new Error("ndgrad/worker: worker.js must run in a worker thread (use createWorker)");
  Comlink.expose(api, nodeEndpoint(parentPort as unknown as NodeEndpoint));
} else {
  Comlink.expose(api);
  (globalThis as unknown as { postMessage(m: unknown): void }).postMessage({ [READY]: true });
}
