// The calling thread's side of `ndgrad/worker`: lightweight proxies that
// hold an id, and a queue of commands flushed to the worker in one message.
//
// Pipelining: an op allocates the result's id here, infers its shape, queues
// one command and returns its proxy at once. The queue goes out in a single
// comlink call at the end of the current microtask (or at once when
// something awaits a value), so a chain of ops costs one message, and the
// worker computes while this thread goes on. An op's error surfaces on the
// next awaited call, with the main API's message.
import type { NDData } from "../ffi.js";
import * as Comlink from "./comlink.js";
import { describe } from "../args.js";
import type { AutogradBackwardOptions, GradOptions, ModeOptions } from "../autograd.js";
import type { MemoryInfo } from "../memory.js";
import type { SaveOptions } from "../io.js";
import type { ArrayOptions } from "../nd.js";
import type {
  ArgOptions,
  Axis,
  BackwardOptions,
  DotOptions,
  DType,
  DTypeOptions,
  GradReq,
  NestedArray,
  NormOptions,
  OneHotOptions,
  PickOptions,
  ReduceOptions,
  SortOptions,
  TakeOptions,
  TopkOptions,
} from "../ndarray.js";
import {
  ARRAY,
  FN,
  LOCAL,
  REF,
  type Command,
  type Reply,
  type WireError,
  type WorkerApi,
  type WorkerStats,
} from "./protocol.js";
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS, opTable } from "../opnames.js";
import type { ActivationOptions, EmbeddingOptions, FullyConnectedOptions, LeakyReLUOptions } from "../nnmisc.js";
import * as S from "./shapes.js";
import { convolutionShape } from "./engine-shapes.js"; // conv branch (issue #12)
import { embeddingShape, flattenShape, fullyConnectedShape } from "./engine-shapes.js"; // nnmisc group (issue #12)
import type { ConvolutionOptions, DeconvolutionOptions } from "../convargs.js";
import { poolingShape } from "./engine-shapes.js"; // pool branch (issue #12)
import type { PoolingOptions } from "../poolargs.js";
import type { BatchNormOptions, LayerNormOptions } from "../pool.js";
import type { Meta } from "./shapes.js";

/** An Error raised in the worker, rebuilt here with the same message (and,
 *  for engine errors, the same `name` "NDGradError" and `kind`). */
export interface RemoteError extends Error {
  kind?: string;
}

function toError(w: WireError): RemoteError {
  const e: RemoteError = new Error(w.message);
  if (w.name !== "Error") e.name = w.name;
  if (w.kind !== undefined) e.kind = w.kind;
  return e;
}

/** Typed arrays marked to be moved into the worker by a module call. */
const toTransfer = new WeakSet<object>();

/** Whether `buffer` was detached (moved to another thread): only a detached buffer cannot be cloned. */
function detached(buffer: ArrayBuffer): boolean {
  try {
    structuredClone(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * Mark a typed array to be moved (transferred, not copied) into the worker
 * when passed to a module function or `w.nd.array` / `w.nd.load`:
 * `w.module.fit(transfer(xs))`. Afterwards it is detached (length 0) here.
 * Unmarked typed arrays are copied, as the synchronous API copies them.
 */
export function transfer<T extends ArrayBufferView>(typed: T): T {
  toTransfer.add(typed);
  return typed;
}

/** What a reply does with the value of a command that awaits one. */
interface Slot {
  /** Index of the command in its batch. */
  index: number;
  always: boolean;
  /** Whether someone awaits the outcome (so an error given to it is reported). */
  readonly observed: boolean;
  settle(value: unknown, error: Error | null): void;
}

interface Batch {
  commands: Command[];
  slots: Slot[];
  /** The proxies this batch creates, to correct a shape the worker reports. */
  outs: Map<number, RemoteNDArray>;
}

/** The outcome of a queued command with no value (`backward`, `attachGrad`,
 *  …): await it to wait for the worker and get its error, or don't, and
 *  the error surfaces on the next awaited call. */
export class Pending implements PromiseLike<void> {
  #session: Session;
  #done = false;
  #error: Error | null = null;
  #promise: Promise<void> | null = null;
  #resolve: () => void = () => {};
  #reject: (e: Error) => void = () => {};
  /** @internal */
  index = 0;
  /** @internal */
  always = false;

  /** @internal */
  constructor(session: Session) {
    this.#session = session;
  }

  /** @internal */
  get observed(): boolean {
    return this.#promise !== null;
  }

  /** @internal */
  settle(_value: unknown, error: Error | null): void {
    this.#done = true;
    this.#error = error;
    if (this.#promise !== null) {
      if (error === null) this.#resolve();
      else this.#reject(error);
    }
  }

  then<A = void, B = never>(
    onFulfilled?: ((value: void) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    if (this.#promise === null) {
      this.#promise = new Promise<void>((resolve, reject) => {
        this.#resolve = resolve;
        this.#reject = reject;
      });
      if (this.#done) {
        if (this.#error === null) this.#resolve();
        else {
          // Reported here, so not again on the next awaited call.
          this.#session.consumed(this.#error);
          this.#reject(this.#error);
        }
      } else {
        this.#session.flush();
      }
    }
    return this.#promise.then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<void | B> {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<void> {
    return this.then().finally(onFinally);
  }
}

/** How the client talks to one worker (filled in by `createWorker`). */
export interface Host {
  /** Keep the Node process alive while replies are awaited, not when idle. */
  ref(): void;
  unref(): void;
}

/** Client-side counters (see `NDWorker.stats()`). */
export interface ClientStats {
  /** Messages posted to the worker (each batch is one; `init` is one). */
  messagesSent: number;
  messagesReceived: number;
  batches: number;
  commands: number;
  /** Shapes inferred here that the worker corrected (expected 0). */
  shapeFixes: number;
  /** Dtypes inferred here that the worker corrected (expected 0). */
  dtypeFixes: number;
  /** Batches sent only to free the arrays of collected proxies (when no
   *  other batch came within 100 ms to carry them). */
  freeBatches: number;
}

/** @internal One worker connection: ids, the queue, replies, lifetimes. */
export class Session {
  readonly api: Comlink.Remote<WorkerApi>;
  readonly #exec: (batch: Command[]) => Promise<Reply>;
  readonly #host: Host;
  #nextId = 1;
  #queue: Command[] = [];
  #slots: Slot[] = [];
  #transfers: Transferable[] = [];
  #outs = new Map<number, RemoteNDArray>();
  #scheduled = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #inflight = new Set<Batch>();
  /** An error no awaited call has reported yet. */
  #pendingError: Error | null = null;
  /** Why the worker is gone (crash or terminate). */
  dead: Error | null = null;
  readonly counters: ClientStats;
  /** `nd.scope` frames. */
  readonly scopes: Set<RemoteNDArray>[] = [];
  /** A proxy that was garbage collected: its id can go (in the next batch). */
  readonly #registry = new FinalizationRegistry<number>((id) => this.#forget(id));

  constructor(api: Comlink.Remote<WorkerApi>, host: Host, counters: ClientStats) {
    this.api = api;
    this.counters = counters;
    // One comlink sub-proxy for every batch (each property read makes one).
    this.#exec = api.exec as unknown as (batch: Command[]) => Promise<Reply>;
    this.#host = host;
  }

  newId(): number {
    return this.#nextId++;
  }

  /**
   * Queue an op that creates an array; returns its proxy at once, with the
   * shape and dtype `infer` gives (a guess if it throws: the worker has the
   * last word, and corrects the proxy when the batch returns).
   */
  op(op: string, self: RemoteNDArray | undefined, args: unknown[], infer: () => Meta, moveTyped = false): RemoteNDArray {
    return this.#create(op, self, args, null, () => [infer()], moveTyped)[0]!;
  }

  /** Like `op` for an op that returns a list of `count` arrays
   *  (`autograd.grad`, `topk` with "both"). */
  opMany(op: string, self: RemoteNDArray | undefined, args: unknown[], count: number, infer: () => Meta[]): RemoteNDArray[] {
    return this.#create(op, self, args, count, infer, false);
  }

  /** `count` null: one array, not in a list. */
  #create(
    op: string,
    self: RemoteNDArray | undefined,
    args: unknown[],
    count: number | null,
    infer: () => Meta[],
    moveTyped: boolean,
  ): RemoteNDArray[] {
    // First: a bad argument (a detached typed array) throws before any proxy exists.
    const encoded = this.encode(args, moveTyped, true, op);
    let metas: Meta[];
    try {
      metas = infer();
    } catch {
      metas = [];
    }
    const ids: number[] = [];
    const arrays: RemoteNDArray[] = [];
    for (let i = 0; i < (count ?? 1); i++) {
      const id = this.#nextId++;
      const m = metas[i] ?? { shape: [1], dtype: "float32" };
      const a = new RemoteNDArray(this, id, m.shape, m.dtype);
      this.adopt(a);
      this.#outs.set(id, a);
      ids.push(id);
      arrays.push(a);
    }
    const c: Command = { op, args: encoded };
    if (count === null) {
      c.out = ids[0]!;
      c.shape = arrays[0]!.shapeRef;
      c.dtype = arrays[0]!.dtype;
    } else {
      c.out = ids;
      c.shape = arrays.map((a) => a.shapeRef);
      c.dtype = arrays.map((a) => a.dtype);
    }
    if (self !== undefined) c.self = self.id;
    this.#push(c);
    return arrays;
  }

  /** Track a new proxy: scopes, and freeing when it is collected. */
  adopt(a: RemoteNDArray, inScope = true): void {
    this.#registry.register(a, a.id);
    if (inScope && this.scopes.length > 0) this.scopes[this.scopes.length - 1]!.add(a);
  }

  /** Queue a command with no value. */
  command(op: string, self: RemoteNDArray | undefined, args: unknown[] = [], always = false): Pending {
    const c: Command = { op };
    if (args.length > 0) c.args = this.encode(args, false, true, op);
    if (self !== undefined) c.self = self.id;
    if (always) c.always = true;
    const p = new Pending(this);
    p.always = always;
    this.#push(c, p);
    return p;
  }

  /** Queue a command whose value is awaited; sends the queue now. */
  read<T>(op: string, self: RemoteNDArray | undefined, args: unknown[] = [], decode?: (v: unknown) => T): Promise<T> {
    const c: Command = { op, reply: true };
    try {
      if (args.length > 0) c.args = this.encode(args, false, true, op);
    } catch (e) {
      return Promise.reject(e);
    }
    if (self !== undefined) c.self = self.id;
    return this.#await(c, decode);
  }

  /** Call a function of the worker's module (arrays in its result become proxies). */
  call(name: string, args: unknown[]): Promise<unknown> {
    let encoded: unknown[];
    try {
      encoded = this.encode([name, ...args], false, false, `module.${name}`);
    } catch (e) {
      return Promise.reject(e);
    }
    const c: Command = { op: "call", reply: true, args: encoded };
    return this.#await(c, (v) => this.decodeResult(v));
  }

  #await<T>(c: Command, decode?: (v: unknown) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const slot: Slot = {
        index: 0,
        always: false,
        observed: true,
        settle: (value, error) => {
          if (error !== null) reject(error);
          else {
            try {
              resolve(decode === undefined ? (value as T) : decode(value));
            } catch (e) {
              reject(e);
            }
          }
        },
      };
      this.#push(c, slot);
      this.flush();
    });
  }

  #push(c: Command, slot?: Slot): void {
    if (slot !== undefined) {
      slot.index = this.#queue.length;
      this.#slots.push(slot);
    }
    this.#queue.push(c);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  #forget(id: number): void {
    if (this.dead !== null) return;
    this.#queue.push({ op: "forget", self: id, always: true });
    // Frees ride along with the next batch; if none comes soon, send them.
    if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (this.#queue.length > 0) this.counters.freeBatches++;
        this.flush();
      }, 100);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  /** Send everything queued as one batch (one message). */
  flush(): void {
    if (this.#queue.length === 0) return;
    const batch: Batch = { commands: this.#queue, slots: this.#slots, outs: this.#outs };
    const transfers = this.#transfers;
    this.#queue = [];
    this.#slots = [];
    this.#outs = new Map();
    this.#transfers = [];
    if (this.dead !== null) {
      for (const s of batch.slots) s.settle(undefined, this.dead);
      return;
    }
    this.counters.batches++;
    this.counters.commands += batch.commands.length;
    this.#inflight.add(batch);
    if (this.#inflight.size === 1) this.#host.ref();
    this.#exec(Comlink.transfer(batch.commands, transfers)).then(
      (reply) => this.#settle(batch, reply),
      (e: unknown) => this.#unsent(batch, e),
    );
  }

  #settle(batch: Batch, reply: Reply): void {
    if (!this.#inflight.delete(batch)) return; // already rejected (crash/terminate)
    if (this.#inflight.size === 0) this.#host.unref();
    for (const [id, shape, dtype] of reply.fixes ?? []) {
      const a = batch.outs.get(id);
      if (a !== undefined) {
        const old = a.shapeRef;
        if (old.length !== shape.length || old.some((d, i) => d !== shape[i])) this.counters.shapeFixes++;
        if (a.dtype !== dtype) this.counters.dtypeFixes++;
        a.fix(shape, dtype);
      }
    }
    const values = new Map(reply.values);
    const failure = reply.error === undefined ? null : toError(reply.error.error);
    const at = reply.error?.at ?? Infinity;
    let reported = false;
    for (const s of batch.slots) {
      let error: Error | null = null;
      if (failure !== null && s.index >= at && !s.always) {
        error = failure;
        if (s.observed) reported = true;
      } else if (this.#pendingError !== null && s.observed) {
        error = this.#pendingError;
        this.#pendingError = null;
      }
      s.settle(values.get(s.index), error);
    }
    if (failure !== null && !reported) this.#pendingError ??= failure;
  }

  /** The batch could not be posted (a value that cannot be cloned): nothing
   *  ran. Still free and close scopes, and mark its arrays as never created. */
  #unsent(batch: Batch, e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    const wire = { message: error.message, name: error.name };
    if (error.name !== "DataCloneError" || batch.commands.every((c) => c.always === true)) {
      // Not a cloning failure (or one that retrying would repeat): report it.
      this.#settle(batch, { values: [], error: { at: 0, error: wire } });
      return;
    }
    const ids = batch.commands.flatMap((c) => (c.out === undefined ? [] : Array.isArray(c.out) ? c.out : [c.out]));
    const again: Command[] = [
      { op: "fail", args: [ids, error.message], always: true },
      ...batch.commands.filter((c) => c.always === true),
    ];
    this.#queue.unshift(...again);
    for (const s of this.#slots) s.index += again.length;
    this.#settle(batch, { values: [], error: { at: 0, error: wire } });
    this.flush();
  }

  /** An error was reported by awaiting a `Pending`. */
  consumed(error: Error): void {
    if (this.#pendingError === error) this.#pendingError = null;
  }

  /** The worker is gone: reject what waits, refuse what comes. */
  kill(error: Error): void {
    if (this.dead !== null) return;
    this.dead = error;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const batches = [...this.#inflight];
    this.#inflight.clear();
    this.#host.unref();
    for (const b of batches) for (const s of b.slots) s.settle(undefined, error);
    this.flush();
  }

  /**
   * Arguments → clonable data: proxies become `{[REF]: id}`. For ops
   * (`standIns`), functions, symbols and class instances, which no op takes,
   * become stand-ins the worker rebuilds, so that the main API rejects them
   * with its own message (`got function`, `got Foo`) rather than the
   * structured clone failing; a module's functions get class instances as
   * structured clone copies them.
   */
  encode(args: unknown[], moveTyped: boolean, standIns = true, op = "worker"): unknown[] {
    return args.map((a) => this.#encode(a, moveTyped, standIns, 0, op));
  }

  #encode(v: unknown, moveTyped: boolean, standIns: boolean, depth: number, op: string): unknown {
    if (v instanceof RemoteNDArray) return { [REF]: v.session === this ? v.id : 0 };
    if (typeof v === "function") return { [FN]: "function" };
    if (typeof v === "symbol") return { [FN]: "symbol" };
    if (v === null || typeof v !== "object" || depth > 16) return v;
    if (ArrayBuffer.isView(v)) {
      // A buffer moved to a worker before is detached: structured clone
      // refuses it (and a transfer list holding it never delivers the batch).
      if (v.byteLength === 0 && v.buffer instanceof ArrayBuffer && detached(v.buffer)) {
        throw new Error(`${op}: the ${v.constructor.name} passed is detached (its buffer was moved to a worker, e.g. with transfer()); pass a copy`);
      }
      if ((moveTyped || toTransfer.has(v)) && !(v instanceof DataView)) {
        const whole = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.byteLength > 0;
        if (whole && v.buffer instanceof ArrayBuffer && !this.#transfers.includes(v.buffer)) {
          this.#transfers.push(v.buffer);
        }
      }
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => this.#encode(x, moveTyped, standIns, depth + 1, op));
    if ((v as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "NDArray") return { [LOCAL]: 1 };
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      if (!standIns) return v;
      const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
      return { [FN]: "object", name: typeof name === "string" ? name : "Object" };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = this.#encode(x, moveTyped, standIns, depth + 1, op);
    return out;
  }

  /** Arrays in a module call's result → proxies. */
  decodeResult(v: unknown, depth = 0): unknown {
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || depth > 16) return v;
    if (Array.isArray(v)) return v.map((x) => this.decodeResult(x, depth + 1));
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, this.decodeResult(x, depth + 1)]));
    if (Object.getPrototypeOf(v) !== Object.prototype) return v;
    const o = v as Record<string, unknown>;
    if (ARRAY in o) {
      const a = new RemoteNDArray(this, o[ARRAY] as number, o.shape as number[], o.dtype as DType);
      this.adopt(a);
      return a;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = this.decodeResult(x, depth + 1);
    return out;
  }
}

const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");
type Operand = RemoteNDArray | number;
const shapeOrNull = (v: unknown): number[] | null => (v instanceof RemoteNDArray ? v.shapeRef : null);
/** What is known of an argument that should be an array (a guess if it is not). */
const metaOf = (v: unknown): Meta =>
  v instanceof RemoteNDArray ? { shape: v.shapeRef, dtype: v.dtype } : { shape: [1], dtype: "float32" };
const shp = (v: unknown): number[] => shapeOrNull(v) ?? [1];
const isDType = (v: unknown): v is DType => v === "float32" || v === "float64" || v === "int32" || v === "uint8";
/** Integer arrays never get gradients (the engine refuses them). */
const isFloat = (d: DType): boolean => d === "float32" || d === "float64";
/** Trailing undefined arguments keep the main API's defaults. */
function trim(args: unknown[]): unknown[] {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return n === args.length ? args : args.slice(0, n);
}

type Infer = (x: Meta, args: unknown[]) => Meta;
const same: Infer = (x) => ({ shape: x.shape.slice(), dtype: x.dtype });
const shaped =
  (f: (x: number[], args: unknown[]) => number[]): Infer =>
  (x, args) => ({ shape: f(x.shape, args), dtype: x.dtype });

/**
 * Result shape and dtype of the ops that exist both as `x.name(...args)`
 * and `nd.name(x, ...args)`, from `x` and `args` (shared by the two forms).
 */
const INFER = {
  reduce: shaped((x, [axis, keepdims]) => S.reduceShape(x, axis, keepdims)),
  argext: shaped((x, [axis, keepdims]) => S.argextShape(x, axis, keepdims)),
  take: shaped((x, [indices, axis]) => S.takeShape(x, shp(indices), axis)),
  pick: shaped((x, [, axis]) => S.pickShape(x, axis)),
  oneHot: (x, [depth, options]) => ({
    shape: S.oneHotShape(x.shape, depth),
    dtype: S.dtypeOption((options as { dtype?: unknown } | undefined)?.dtype),
  }),
  topk: shaped((x, [options]) => S.topkShape(x, options)),
  tile: shaped((x, [reps]) => S.tileShape(x, reps)),
  repeat: shaped((x, [repeats, axis]) => S.repeatShape(x, repeats, axis)),
  slice: shaped((x, [begin, end, step]) => S.sliceShape(x, begin, end, step)),
  sliceAxis: shaped((x, [axis, begin, end]) => S.sliceAxisShape(x, axis, begin, end)),
  dot: shaped((x, [y, options]) => S.dotShape(x, shp(y), options)),
  astype: (x, [dtype]) => ({ shape: x.shape.slice(), dtype: isDType(dtype) ? dtype : x.dtype }),
} satisfies Record<string, Infer>;

type BinaryName = (typeof BINARY_OPS)[number];
type UnaryName = (typeof UNARY_OPS)[number];
/** The reductions with the plain `(axis, keepdims)` signature (`norm` also takes `ord`). */
type PlainReduceName = Exclude<(typeof REDUCE_OPS)[number], "norm">;
const PLAIN_REDUCE_OPS = REDUCE_OPS.filter((n): n is PlainReduceName => n !== "norm");

type RemoteElementwiseMethods = { [K in BinaryName]: (y: Operand) => RemoteNDArray } & {
  [K in UnaryName]: () => RemoteNDArray;
} & { [K in PlainReduceName]: (axis?: Axis | ReduceOptions, keepdims?: boolean) => RemoteNDArray };

/**
 * An array that lives in the worker: an id plus its shape and dtype. Ops
 * return new proxies at once (the work is queued); values are read with
 * `await` (`toArray()`, `data()`, `asscalar()`, `toString()`, `grad`).
 * Free it with `dispose()` or `using`; a proxy that is garbage collected
 * frees its array in the next batch.
 *
 * The elementwise ops and reductions (`add`, `exp`, `sum`, …) are methods
 * too, made from the lists in opnames.ts, as on `NDArray`.
 */
export class RemoteNDArray {
  readonly #session: Session;
  #shape: number[];
  #dtype: DType;
  #disposed = false;
  #variable = false;
  #grad: RemoteNDArray | null = null;
  /** The id of the array in its worker. */
  readonly id: number;

  /** @internal Arrays come from `w.nd` and ops. */
  constructor(session: Session, id: number, shape: number[], dtype: DType = "float32") {
    this.#session = session;
    this.id = id;
    this.#shape = shape;
    this.#dtype = dtype;
  }

  static {
    // `x.add(y)`, `x.exp()`, `x.sum(axis)`: one list of names with nd and the engine.
    const define = (name: string, value: (this: RemoteNDArray, ...args: never[]) => RemoteNDArray): void => {
      Object.defineProperty(RemoteNDArray.prototype, name, { value, writable: true, configurable: true });
    };
    for (const op of BINARY_OPS) {
      define(op, function (this: RemoteNDArray, y: Operand) {
        return this.#session.op(`x.${op}`, this, [y], () => ({
          shape: S.broadcast(this.#shape, shapeOrNull(y)),
          dtype: this.#dtype,
        }));
      });
    }
    for (const op of UNARY_OPS) {
      define(op, function (this: RemoteNDArray) {
        return this.#call(op, [], same);
      });
    }
    for (const op of PLAIN_REDUCE_OPS) {
      define(op, function (this: RemoteNDArray, axis?: Axis | ReduceOptions, keepdims?: boolean) {
        return this.#call(op, [axis, keepdims], INFER.reduce);
      });
    }
  }

  /** @internal */
  get session(): Session {
    return this.#session;
  }
  /** @internal The shape without a copy. */
  get shapeRef(): number[] {
    return this.#shape;
  }
  /** @internal The worker's shape and dtype, where they differ from the inferred ones. */
  fix(shape: number[], dtype: DType): void {
    this.#shape = shape;
    this.#dtype = dtype;
  }
  /** @internal Has an attached gradient (survives `nd.scope`). */
  get isVariable(): boolean {
    return this.#variable;
  }
  /** @internal */
  markVariable(): void {
    this.#variable = true;
    this.#grad?.markDisposed();
    this.#grad = null;
  }
  /** @internal Freed in the worker by another array's dispose. */
  markDisposed(): void {
    this.#disposed = true;
  }

  /** `"float32"` (the default), `"float64"`, `"int32"` or `"uint8"`. */
  get dtype(): DType {
    return this.#dtype;
  }
  get shape(): number[] {
    return this.#shape.slice();
  }
  get size(): number {
    return this.#shape.reduce((a, b) => a * b, 1);
  }
  get ndim(): number {
    return this.#shape.length;
  }
  get context(): string {
    return "cpu(0)";
  }
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Queue `x.name(...args)`. */
  #call(name: string, args: unknown[], infer: Infer): RemoteNDArray {
    return this.#session.op(`x.${name}`, this, trim(args), () =>
      infer({ shape: this.#shape, dtype: this.#dtype }, args),
    );
  }

  // ---- reductions ----
  /** MXNet's `norm`: L2 by default, `{ord: 1}` for L1; `axis`, `keepdims` as for `sum`. */
  norm(axis?: Axis | NormOptions, keepdims?: boolean): RemoteNDArray {
    return this.#call("norm", [axis, keepdims], INFER.reduce);
  }
  argmax(axis?: number | null | ArgOptions, keepdims?: boolean): RemoteNDArray {
    return this.#call("argmax", [axis, keepdims], INFER.argext);
  }
  argmin(axis?: number | null | ArgOptions, keepdims?: boolean): RemoteNDArray {
    return this.#call("argmin", [axis, keepdims], INFER.argext);
  }

  // ---- model ops ----
  clip(aMin: number, aMax: number): RemoteNDArray {
    return this.#call("clip", [aMin, aMax], same);
  }
  leakyRelu(slope?: number): RemoteNDArray {
    return this.#call("leakyRelu", [slope], same);
  }
  softmax(axis?: number | { axis?: number }): RemoteNDArray {
    return this.#call("softmax", [axis], same);
  }
  logSoftmax(axis?: number | { axis?: number }): RemoteNDArray {
    return this.#call("logSoftmax", [axis], same);
  }
  take(indices: RemoteNDArray, axis?: number | TakeOptions): RemoteNDArray {
    return this.#call("take", [indices, axis], INFER.take);
  }
  pick(index: RemoteNDArray, axis?: number | PickOptions): RemoteNDArray {
    return this.#call("pick", [index, axis], INFER.pick);
  }
  oneHot(depth: number, options?: OneHotOptions): RemoteNDArray {
    return this.#call("oneHot", [depth, options], INFER.oneHot);
  }
  /** MXNet's `topk`; `retTyp: "both"` gives `[values, indices]`. */
  topk(options: TopkOptions & { retTyp: "both" }): [RemoteNDArray, RemoteNDArray];
  topk(options?: TopkOptions): RemoteNDArray;
  topk(options?: TopkOptions): RemoteNDArray | [RemoteNDArray, RemoteNDArray] {
    return topkCall(this.#session, "x.topk", this, trim([options]), metaOf(this), options);
  }
  sort(axis?: number | SortOptions): RemoteNDArray {
    return this.#call("sort", [axis], same);
  }
  argsort(axis?: number | SortOptions): RemoteNDArray {
    return this.#call("argsort", [axis], same);
  }
  tile(reps: number | number[]): RemoteNDArray {
    return this.#call("tile", [reps], INFER.tile);
  }
  repeat(repeats: number, axis?: number | null): RemoteNDArray {
    return this.#call("repeat", [repeats, axis], INFER.repeat);
  }
  flip(axis: number | number[]): RemoteNDArray {
    return this.#call("flip", [axis], same);
  }
  sliceAxis(axis: number, begin: number | null, end: number | null): RemoteNDArray {
    return this.#call("sliceAxis", [axis, begin, end], INFER.sliceAxis);
  }

  // ---- shape ----
  reshape(...shape: (number | number[])[]): RemoteNDArray {
    return this.#session.op("x.reshape", this, shape, () => ({
      shape: S.reshapeShape(this.#shape, S.specOf(shape)),
      dtype: this.#dtype,
    }));
  }
  transpose(...axes: (number | number[])[]): RemoteNDArray {
    return this.#session.op("x.transpose", this, axes, () => ({
      shape: S.transposeShape(this.#shape, axes),
      dtype: this.#dtype,
    }));
  }
  get T(): RemoteNDArray {
    return this.transpose();
  }
  expandDims(axis: number): RemoteNDArray {
    return this.#call("expandDims", [axis], shaped((x) => S.expandDimsShape(x, axis)));
  }
  squeeze(axis?: Axis): RemoteNDArray {
    return this.#call("squeeze", [axis], shaped((x) => S.squeezeShape(x, axis)));
  }
  broadcastTo(shape: number[] | number): RemoteNDArray {
    return this.#call("broadcastTo", [shape], shaped(() => S.shapeOf(shape)));
  }
  dot(y: RemoteNDArray, options?: DotOptions): RemoteNDArray {
    return this.#call("dot", [y, options], INFER.dot);
  }
  /** MXNet's `flatten()` (nnmisc group, issue #12). */
  flatten(): RemoteNDArray {
    return this.#call("flatten", [], shaped((x) => flattenShape(x)));
  }

  // ---- indexing ----
  at(i: number): RemoteNDArray {
    return this.#call("at", [i], shaped((x) => S.atShape(x)));
  }
  /** `x[begin:end:step]` on axis 0, or with lists MXNet's multi-axis `slice`. */
  slice(
    begin?: number | null | (number | null)[],
    end?: number | null | (number | null)[],
    step?: number | null | (number | null)[],
  ): RemoteNDArray {
    return this.#call("slice", [begin, end, step], INFER.slice);
  }
  /** MXNet's `x[:] = v`, queued; returns this array. */
  set(v: RemoteNDArray | number): this {
    this.#session.command("x.set", this, [v]);
    return this;
  }

  // ---- conversion (awaited) ----
  asscalar(): Promise<number> {
    return this.#session.read<number>("x.asscalar", this);
  }
  /**
   * A copy of the values, moved from the worker: a `Float32Array`,
   * `Float64Array`, `Int32Array` or `Uint8Array` by dtype. With `out` (any of the four,
   * at least `size` long) the values are written into it (converted to its
   * element type) and `out` is returned.
   */
  data<T extends NDData>(out: T): Promise<T>;
  data(): Promise<NDData>;
  async data(out?: NDData): Promise<NDData> {
    const typed =
      out instanceof Float32Array || out instanceof Float64Array || out instanceof Int32Array || out instanceof Uint8Array;
    if (out !== undefined && !this.#disposed && (!typed || out.length < this.size)) {
      throw new Error(
        `data: out must be a Float32Array, Float64Array, Int32Array or Uint8Array of at least ${this.size} elements (got ${describe(out)})`,
      );
    }
    const values = await this.#session.read<NDData>("x.data", this);
    if (out === undefined) return values;
    out.set(values);
    return out;
  }
  /** Nested arrays of numbers, like `asnumpy().tolist()`. */
  toArray(): Promise<NestedArray[]> {
    return this.#session.read("x.toArray", this, [], (v) => {
      const [shape, flat] = v as [number[], NDData];
      return nest(flat, shape);
    });
  }
  /** A copy converted to `dtype` (float to int32 truncates toward zero;
   *  to uint8 it also wraps modulo 256). */
  astype(dtype: DType): RemoteNDArray {
    return this.#call("astype", [dtype], INFER.astype);
  }
  copy(): RemoteNDArray {
    return this.#call("copy", [], same);
  }
  detach(): RemoteNDArray {
    return this.#call("detach", [], same);
  }

  // ---- autograd ----
  attachGrad(gradReq: GradReq = "write"): Pending {
    // A bad gradReq (or an integer array) fails in the worker, with the main
    // API's message, and leaves the array as it was.
    if ((gradReq === "write" || gradReq === "add" || gradReq === "null") && isFloat(this.#dtype)) {
      this.markVariable();
    }
    return this.#session.command("x.attachGrad", this, [gradReq]);
  }
  /** The gradient (zeros after `attachGrad`), or null without one. */
  get grad(): Promise<RemoteNDArray | null> {
    const cached = this.#grad !== null && !this.#grad.isDisposed ? this.#grad : null;
    const fresh = this.#session.newId();
    return this.#session.read("grad", this, [cached?.id ?? 0, fresh], (v) => {
      if (v === null) return null;
      const { id, shape, dtype } = v as { id: number; shape: number[]; dtype: DType };
      if (cached !== null && id === cached.id) return cached;
      const g = new RemoteNDArray(this.#session, id, shape, dtype);
      // Owned by this array (freed with it), so never in a scope.
      this.#session.adopt(g, false);
      this.#grad = g;
      return g;
    });
  }
  backward(outGrad?: RemoteNDArray | null | BackwardOptions, options?: BackwardOptions): Pending {
    const args: unknown[] = options === undefined ? (outGrad === undefined ? [] : [outGrad]) : [outGrad, options];
    return this.#session.command("x.backward", this, args);
  }

  // ---- lifetime ----
  /** Free the array in the worker (its `.grad` too). Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#grad?.markDisposed();
    this.#grad = null;
    this.#session.command("free", this, [], true);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
    return Promise.resolve();
  }

  // ---- printing ----
  /** MXNet's repr, as `String(x)` gives in the main API (awaited). */
  toString(): Promise<string> {
    return this.#session.read<string>("x.toString", this);
  }
  [inspectSymbol](): string {
    const what = this.#disposed ? "disposed" : `${this.#shape.join("x")} @cpu(0)`;
    return `<RemoteNDArray ${what} ${this.#dtype} (id ${this.id}; await x.toString() for the values)>`;
  }
  get [Symbol.toStringTag](): string {
    return "RemoteNDArray";
  }
}

// The elementwise ops and reductions defined in the static block above.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface RemoteNDArray extends RemoteElementwiseMethods {}

/** `topk` in both forms: one array, or `[values, indices]` for `retTyp: "both"`. */
function topkCall(
  s: Session,
  op: string,
  self: RemoteNDArray | undefined,
  args: unknown[],
  x: Meta,
  options: unknown,
): RemoteNDArray & [RemoteNDArray, RemoteNDArray] {
  const both = options !== null && typeof options === "object" && (options as TopkOptions).retTyp === "both";
  const infer = (): Meta => INFER.topk(x, [options]);
  // (Typed for both overloads; the caller's overload says which it is.)
  type Either = RemoteNDArray & [RemoteNDArray, RemoteNDArray];
  if (!both) return s.op(op, self, args, infer) as Either;
  return s.opMany(op, self, args, 2, () => [infer(), infer()]) as unknown as Either;
}

function nest(flat: NDData, shape: number[]): NestedArray[] {
  if (shape.length === 0) return [flat[0]!];
  let pos = 0;
  const build = (d: number): NestedArray[] => {
    const n = shape[d]!;
    const out = new Array<NestedArray>(n);
    for (let i = 0; i < n; i++) out[i] = d === shape.length - 1 ? flat[pos++]! : build(d + 1);
    return out;
  };
  return build(0);
}

// ---- the `w.nd` and `w.autograd` namespaces ----

export interface RemoteArrayOptions extends ArrayOptions {
  /** Move a typed array's buffer into the worker rather than copy it (the
   *  default is a copy, as the synchronous API's). A moved array is detached
   *  (length 0) here afterwards. */
  transfer?: boolean;
}

type Bin = (a: Operand, b: Operand) => RemoteNDArray;
type Un = (x: RemoteNDArray) => RemoteNDArray;
type Red = (x: RemoteNDArray, axis?: Axis | ReduceOptions, keepdims?: boolean) => RemoteNDArray;
type DTypeArg = DTypeOptions | DType;
type RandomShape = number[] | number | { shape?: number[] | number; dtype?: DType };

/** The elementwise ops and reductions of `w.nd`, from the lists in opnames.ts. */
export type RemoteNDElementwise = Record<BinaryName, Bin> & Record<UnaryName, Un> & Record<PlainReduceName, Red>;

/** `LeakyReLU`'s options with a remote `gamma` (nnmisc group, issue #12). */
export type RemoteLeakyReLUOptions = Omit<LeakyReLUOptions, "gamma"> & { gamma?: RemoteNDArray };

/** `w.nd`: the main `nd` namespace, remote. Ops return proxies at once;
 *  reads return promises. */
export interface RemoteND extends RemoteNDElementwise {
  array(data: unknown, options?: RemoteArrayOptions): RemoteNDArray;
  zeros(shape: number[] | number, options?: DTypeArg): RemoteNDArray;
  ones(shape: number[] | number, options?: DTypeArg): RemoteNDArray;
  full(shape: number[] | number, value: number, options?: DTypeArg): RemoteNDArray;
  arange(start: number, stop?: number | null, step?: number | DTypeOptions, options?: DTypeArg): RemoteNDArray;
  zerosLike(x: RemoteNDArray): RemoteNDArray;
  onesLike(x: RemoteNDArray): RemoteNDArray;
  random: {
    uniform(low?: number, high?: number, shape?: RandomShape, options?: DTypeArg): RemoteNDArray;
    normal(loc?: number, scale?: number, shape?: RandomShape, options?: DTypeArg): RemoteNDArray;
    seed(n: number): Pending;
  };
  negative: Un;
  norm(x: RemoteNDArray, axis?: Axis | NormOptions, keepdims?: boolean): RemoteNDArray;
  argmax(x: RemoteNDArray, axis?: number | null | ArgOptions, keepdims?: boolean): RemoteNDArray;
  argmin(x: RemoteNDArray, axis?: number | null | ArgOptions, keepdims?: boolean): RemoteNDArray;
  where(condition: RemoteNDArray, x: RemoteNDArray, y: RemoteNDArray): RemoteNDArray;
  clip(x: RemoteNDArray, aMin: number, aMax: number): RemoteNDArray;
  leakyRelu(x: RemoteNDArray, slope?: number): RemoteNDArray;
  softmax(x: RemoteNDArray, axis?: number | { axis?: number }): RemoteNDArray;
  logSoftmax(x: RemoteNDArray, axis?: number | { axis?: number }): RemoteNDArray;
  take(a: RemoteNDArray, indices: RemoteNDArray, axis?: number | TakeOptions): RemoteNDArray;
  pick(data: RemoteNDArray, index: RemoteNDArray, axis?: number | PickOptions): RemoteNDArray;
  oneHot(indices: RemoteNDArray, depth: number, options?: OneHotOptions): RemoteNDArray;
  topk: {
    (x: RemoteNDArray, options: TopkOptions & { retTyp: "both" }): [RemoteNDArray, RemoteNDArray];
    (x: RemoteNDArray, options?: TopkOptions): RemoteNDArray;
  };
  sort(x: RemoteNDArray, axis?: number | SortOptions): RemoteNDArray;
  argsort(x: RemoteNDArray, axis?: number | SortOptions): RemoteNDArray;
  tile(x: RemoteNDArray, reps: number | number[]): RemoteNDArray;
  repeat(x: RemoteNDArray, repeats: number, axis?: number | null): RemoteNDArray;
  flip(x: RemoteNDArray, axis: number | number[]): RemoteNDArray;
  slice(
    x: RemoteNDArray,
    begin?: number | null | (number | null)[],
    end?: number | null | (number | null)[],
    step?: number | null | (number | null)[],
  ): RemoteNDArray;
  sliceAxis(x: RemoteNDArray, axis: number, begin: number | null, end: number | null): RemoteNDArray;
  /** MXNet's `cast`: `x.astype(dtype)`. */
  cast(x: RemoteNDArray, dtype: DType): RemoteNDArray;
  astype(x: RemoteNDArray, dtype: DType): RemoteNDArray;
  dot(a: RemoteNDArray, b: RemoteNDArray, options?: DotOptions): RemoteNDArray;
  batchDot(a: RemoteNDArray, b: RemoteNDArray): RemoteNDArray;
  // ---- neural-network operators: Convolution, Deconvolution (issue #12, conv branch) ----
  Convolution(data: RemoteNDArray, weight: RemoteNDArray, bias: RemoteNDArray | null, options: ConvolutionOptions): RemoteNDArray;
  Deconvolution(
    data: RemoteNDArray,
    weight: RemoteNDArray,
    bias: RemoteNDArray | null,
    options: DeconvolutionOptions,
  ): RemoteNDArray;
  // ---- end conv ----
  // ---- Pooling, BatchNorm, LayerNorm (issue #12, pool branch) ----
  Pooling(data: RemoteNDArray, options?: PoolingOptions): RemoteNDArray;
  BatchNorm(
    data: RemoteNDArray,
    gamma: RemoteNDArray,
    beta: RemoteNDArray,
    movingMean: RemoteNDArray,
    movingVar: RemoteNDArray,
    options?: BatchNormOptions,
  ): RemoteNDArray;
  LayerNorm(data: RemoteNDArray, gamma: RemoteNDArray, beta: RemoteNDArray, options?: LayerNormOptions): RemoteNDArray;
  /** The shape `nd.Pooling` gives for data of `shape`: computed here, by the engine's own rule (no message). */
  poolingShape(shape: number[], options?: PoolingOptions): number[];
  // ---- end pool ----
  concat(arrays: RemoteNDArray[], axis?: number): RemoteNDArray;
  stack(arrays: RemoteNDArray[], axis?: number): RemoteNDArray;
  dropout(x: RemoteNDArray, p?: number): RemoteNDArray;
  reshape(x: RemoteNDArray, shape: number[]): RemoteNDArray;
  transpose(x: RemoteNDArray, axes?: number[]): RemoteNDArray;
  expandDims(x: RemoteNDArray, axis: number): RemoteNDArray;
  squeeze(x: RemoteNDArray, axis?: Axis): RemoteNDArray;
  broadcastTo(x: RemoteNDArray, shape: number[] | number): RemoteNDArray;
  // nnmisc group (issue #12)
  FullyConnected(
    data: RemoteNDArray,
    weight: RemoteNDArray,
    bias: RemoteNDArray | null,
    options: FullyConnectedOptions,
  ): RemoteNDArray;
  Embedding(data: RemoteNDArray, weight: RemoteNDArray, options: EmbeddingOptions): RemoteNDArray;
  Activation(data: RemoteNDArray, options: ActivationOptions): RemoteNDArray;
  LeakyReLU(data: RemoteNDArray, options?: RemoteLeakyReLUOptions): RemoteNDArray;
  Flatten(data: RemoteNDArray): RemoteNDArray;
  softmaxCrossEntropy(data: RemoteNDArray, label: RemoteNDArray): RemoteNDArray;
  /** Free every array created in `fn` except what it returns (found in
   *  arrays, plain objects and Maps) and arrays with an attached gradient.
   *  `fn` may be async; arrays that other concurrent code creates while it
   *  runs are counted as its own. */
  scope<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Let `x` escape the enclosing scopes. */
  keep<T extends RemoteNDArray>(x: T): T;
  /** `nd.save` in the worker: the file's bytes, moved back (and, with a path, the file written there). */
  save(
    path: string | null,
    data: RemoteNDArray | RemoteNDArray[] | Record<string, RemoteNDArray>,
    options?: SaveOptions,
  ): Promise<Uint8Array>;
  /** `nd.load` in the worker: the bytes are copied there (moved, detached here, when marked with `transfer()`). */
  load(source: string | ArrayBuffer | ArrayBufferView): Promise<RemoteNDArray[] | Record<string, RemoteNDArray>>;
  /** The worker's `nd.memory()`. */
  memory(): Promise<MemoryInfo>;
  /** Resolves once the worker has run everything queued before it. */
  waitall(): Promise<void>;
  formatScalar(v: number, dtype?: DType): Promise<string>;
  simd(): Promise<boolean>;
  /** The worker's `nd.relaxedSimd()`. */
  relaxedSimd(): Promise<boolean>;
  /** The worker's `nd.setThreads(n)` (its GEMM helper threads). */
  setThreads(n: number): Promise<void>;
  /** The worker's `nd.getThreads()`. */
  getThreads(): Promise<number>;
}

/** `w.autograd`: the main `autograd` namespace, remote. */
export interface RemoteAutograd {
  /** MXNet's `with autograd.record():` — the ops `fn` queues are recorded
   *  in the worker; `fn` may be async and await values inside. */
  record<T>(fn: () => T | Promise<T>, options?: ModeOptions): Promise<T>;
  pause<T>(fn: () => T | Promise<T>, options?: ModeOptions): Promise<T>;
  trainMode<T>(fn: () => T | Promise<T>): Promise<T>;
  predictMode<T>(fn: () => T | Promise<T>): Promise<T>;
  isRecording(): Promise<boolean>;
  isTraining(): Promise<boolean>;
  markVariables(
    variables: RemoteNDArray | RemoteNDArray[],
    gradients: RemoteNDArray | RemoteNDArray[],
    gradReqs?: GradReq | GradReq[],
  ): Pending;
  backward(heads: RemoteNDArray | RemoteNDArray[], options?: RemoteBackwardOptions): Pending;
  grad(
    heads: RemoteNDArray | RemoteNDArray[],
    variables: RemoteNDArray | RemoteNDArray[],
    options?: RemoteGradOptions,
  ): RemoteNDArray[];
}

export interface RemoteBackwardOptions extends Omit<AutogradBackwardOptions, "headGrads"> {
  headGrads?: (RemoteNDArray | null)[] | RemoteNDArray | null;
}
export interface RemoteGradOptions extends Omit<GradOptions, "headGrads"> {
  headGrads?: (RemoteNDArray | null)[] | RemoteNDArray | null;
}

function collect(v: unknown, into: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== "object" || depth > 8 || into.has(v)) return;
  into.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, into, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v as Record<string, unknown>)) collect(x, into, depth + 1);
  } else if (v instanceof Map) for (const x of v.values()) collect(x, into, depth + 1);
}

export function remoteND(s: Session): RemoteND {
  /** `nd.name(...args)`, its result's shape and dtype from `infer`. */
  const op = (name: string, args: unknown[], infer: () => Meta): RemoteNDArray =>
    s.op(`nd.${name}`, undefined, trim(args), infer);
  /** `nd.name(x, ...rest)` for an op that is also the method `x.name(...rest)`. */
  const on =
    (name: string, infer: Infer) =>
    (x: unknown, ...rest: unknown[]): RemoteNDArray =>
      op(name, [x, ...rest], () => infer(metaOf(x), rest));
  const bin = (name: string): Bin => (a, b) =>
    op(name, [a, b], () => ({
      shape: S.broadcast(shapeOrNull(a), shapeOrNull(b)),
      // A number takes the array's dtype; two numbers make a float32 [1].
      dtype: a instanceof RemoteNDArray ? a.dtype : b instanceof RemoteNDArray ? b.dtype : "float32",
    }));
  const un = (name: string): Un => on(name, same);
  const red = (name: string): Red => on(name, INFER.reduce);
  const fill =
    (name: string) =>
    (shape: unknown, ...rest: unknown[]): RemoteNDArray =>
      op(name, [shape, ...rest], () => ({ shape: S.shapeOf(shape), dtype: S.dtypeOption(rest[rest.length - 1]) }));
  const random =
    (name: string) =>
    (a?: number, b?: number, shape?: RandomShape, options?: DTypeArg): RemoteNDArray =>
      op(`random.${name}`, [a, b, shape, options], () => ({
        shape: S.shapeOption(shape),
        dtype: S.randomDtype(shape, options),
      }));
  const joined = (arrays: unknown): Meta[] => (Array.isArray(arrays) ? arrays.map(metaOf) : []);

  return {
    array(data, options) {
      let opts: unknown = options;
      // Copied, as the synchronous nd.array copies; `transfer: true` (or a
      // typed array marked with transfer()) moves the buffer instead.
      let move = false;
      if (options !== null && typeof options === "object" && "transfer" in options) {
        const { transfer: t, ...rest } = options;
        move = t === true;
        opts = rest;
      }
      return s.op("nd.array", undefined, trim([data, opts]), () => ({
        shape:
          data instanceof RemoteNDArray && (options?.shape === undefined || options.shape === null)
            ? data.shape
            : S.arrayShape(data, options?.shape),
        dtype: S.arrayDtype(data, data instanceof RemoteNDArray ? data.dtype : null, options),
      }), move);
    },
    zeros: (shape, options) => fill("zeros")(shape, options),
    ones: (shape, options) => fill("ones")(shape, options),
    full: (shape, value, options) => fill("full")(shape, value, options),
    arange: (start, stop, step, options) =>
      op("arange", [start, stop, step, options], () => ({
        shape: S.arangeShape(start, stop, step),
        dtype: S.arangeDtype(step, options),
      })),
    zerosLike: on("zerosLike", same),
    onesLike: on("onesLike", same),
    random: {
      uniform: random("uniform"),
      normal: random("normal"),
      seed: (n) => s.command("nd.random.seed", undefined, [n]),
    },
    ...opTable(BINARY_OPS, bin),
    ...opTable(UNARY_OPS, un),
    negative: un("negative"),
    ...opTable(PLAIN_REDUCE_OPS, red),
    norm: red("norm"),
    argmax: on("argmax", INFER.argext),
    argmin: on("argmin", INFER.argext),
    where: (cond, x, y) =>
      op("where", [cond, x, y], () => ({
        shape: S.whereShape(shapeOrNull(cond), shapeOrNull(x), shapeOrNull(y)),
        dtype: metaOf(x).dtype,
      })),
    clip: on("clip", same),
    leakyRelu: on("leakyRelu", same),
    softmax: on("softmax", same),
    logSoftmax: on("logSoftmax", same),
    take: on("take", INFER.take),
    pick: on("pick", INFER.pick),
    oneHot: on("oneHot", INFER.oneHot),
    topk: ((x: RemoteNDArray, options?: TopkOptions) =>
      topkCall(s, "nd.topk", undefined, trim([x, options]), metaOf(x), options)) as RemoteND["topk"],
    sort: on("sort", same),
    argsort: on("argsort", same),
    tile: on("tile", INFER.tile),
    repeat: on("repeat", INFER.repeat),
    flip: on("flip", same),
    slice: on("slice", INFER.slice),
    sliceAxis: on("sliceAxis", INFER.sliceAxis),
    cast: on("cast", INFER.astype),
    astype: on("astype", INFER.astype),
    dot: on("dot", INFER.dot),
    batchDot: (a, b) =>
      op("batchDot", [a, b], () => ({ shape: S.batchDotShape(shp(a), shp(b)), dtype: metaOf(a).dtype })),
    // ---- conv branch: shapes from the engine's own rules (engine-shapes.ts) ----
    Convolution: (data, weight, bias, options) =>
      op("Convolution", [data, weight, bias, options], () => ({
        shape: convolutionShape(false, shp(data), shp(weight), options),
        dtype: metaOf(data).dtype,
      })),
    Deconvolution: (data, weight, bias, options) =>
      op("Deconvolution", [data, weight, bias, options], () => ({
        shape: convolutionShape(true, shp(data), shp(weight), options),
        dtype: metaOf(data).dtype,
      })),
    // ---- pool branch: Pooling's shape from the engine's own rule
    // (engine-shapes.ts); BatchNorm and LayerNorm keep the data's shape ----
    Pooling: (data, options) =>
      op("Pooling", trim([data, options]), () => ({ shape: poolingShape(shp(data), options), dtype: metaOf(data).dtype })),
    BatchNorm: (data, gamma, beta, movingMean, movingVar, options) =>
      op("BatchNorm", trim([data, gamma, beta, movingMean, movingVar, options]), () => same(metaOf(data), [])),
    LayerNorm: (data, gamma, beta, options) =>
      op("LayerNorm", trim([data, gamma, beta, options]), () => same(metaOf(data), [])),
    poolingShape: (shape, options) => poolingShape(shape, options),
    concat: (arrays, axis) =>
      op("concat", [arrays, axis], () => {
        const ms = joined(arrays);
        return { shape: S.concatShape(ms.map((m) => m.shape), axis ?? 1), dtype: ms[0]?.dtype ?? "float32" };
      }),
    stack: (arrays, axis) =>
      op("stack", [arrays, axis], () => {
        const ms = joined(arrays);
        return { shape: S.stackShape(ms.map((m) => m.shape), axis ?? 0), dtype: ms[0]?.dtype ?? "float32" };
      }),
    dropout: on("dropout", same),
    reshape: on("reshape", shaped((x, [shape]) => S.reshapeShape(x, Array.isArray(shape) ? shape : [shape]))),
    transpose: on("transpose", shaped((x, [axes]) => S.transposeShape(x, axes === undefined ? [] : [axes]))),
    expandDims: on("expandDims", shaped((x, [axis]) => S.expandDimsShape(x, axis))),
    squeeze: on("squeeze", shaped((x, [axis]) => S.squeezeShape(x, axis))),
    broadcastTo: on("broadcastTo", shaped((_, [shape]) => S.shapeOf(shape))),
    // nnmisc group (issue #12)
    FullyConnected: (data, weight, bias, options) =>
      op("FullyConnected", [data, weight, bias, options], () => ({
        shape: fullyConnectedShape(shp(data), shp(weight), bias instanceof RemoteNDArray ? bias.shapeRef : null, options),
        dtype: metaOf(data).dtype,
      })),
    Embedding: (data, weight, options) =>
      op("Embedding", [data, weight, options], () => ({
        shape: embeddingShape(shp(data), shp(weight), options),
        dtype: metaOf(weight).dtype,
      })),
    Activation: on("Activation", same),
    LeakyReLU: on("LeakyReLU", same),
    Flatten: on("Flatten", shaped((x) => flattenShape(x))),
    softmaxCrossEntropy: (data, label) =>
      op("softmaxCrossEntropy", [data, label], () => ({ shape: [1], dtype: metaOf(data).dtype })),

    async scope<T>(fn: () => T | Promise<T>): Promise<T> {
      if (typeof fn !== "function") throw new Error("scope: expected a function");
      const mine = new Set<RemoteNDArray>();
      s.scopes.push(mine);
      const close = (): void => {
        const i = s.scopes.lastIndexOf(mine);
        if (i >= 0) s.scopes.splice(i, 1);
      };
      const release = (kept: Set<unknown>): void => {
        const parent = s.scopes[s.scopes.length - 1];
        for (const a of mine) {
          if (kept.has(a) || a.isVariable) parent?.add(a);
          else a.dispose();
        }
      };
      let out: T;
      try {
        out = await fn();
      } catch (e) {
        close();
        release(new Set());
        throw e;
      }
      close();
      const kept = new Set<unknown>();
      collect(out, kept);
      release(kept);
      return out;
    },
    keep(x) {
      for (const sc of s.scopes) sc.delete(x);
      return x;
    },
    save: (path, data, options) => s.read<Uint8Array>("nd.save", undefined, trim([path, data, options])),
    load: (source) => {
      // Copied unless marked with transfer(): the caller's file bytes stay theirs.
      const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
      return s.read("nd.load", undefined, [bytes], (v) => s.decodeResult(v) as RemoteNDArray[] | Record<string, RemoteNDArray>);
    },
    memory: () => s.read<MemoryInfo>("nd.memory", undefined),
    waitall: () => s.read<void>("nd.waitall", undefined),
    formatScalar: (v, dtype) => s.read<string>("nd.formatScalar", undefined, trim([v, dtype])),
    simd: () => s.read<boolean>("nd.simd", undefined),
    relaxedSimd: () => s.read<boolean>("nd.relaxedSimd", undefined),
    setThreads: (n) => s.read<void>("nd.setThreads", undefined, [n]),
    getThreads: () => s.read<number>("nd.getThreads", undefined),
  };
}

export function remoteAutograd(s: Session): RemoteAutograd {
  const mode = async <T>(kind: string, fn: () => T | Promise<T>, options?: ModeOptions): Promise<T> => {
    if (typeof fn !== "function") throw new Error(`${kind}: expected a function (got ${describe(fn)})`);
    const t = options?.trainMode;
    if (t !== undefined && typeof t !== "boolean") {
      throw new Error(`${kind}: trainMode must be a boolean (got ${describe(t)})`);
    }
    // `enter` and `exit` both always run, so they stay paired in the worker
    // even when an op between them (or before them) fails.
    s.command("enter", undefined, [kind, options ?? {}], true);
    try {
      return await fn();
    } finally {
      s.command("exit", undefined, [], true);
    }
  };
  const list = (v: RemoteNDArray | RemoteNDArray[]): RemoteNDArray[] => (Array.isArray(v) ? v : [v]);
  return {
    record: (fn, options) => mode("record", fn, options),
    pause: (fn, options) => mode("pause", fn, options),
    trainMode: (fn) => mode("trainMode", fn),
    predictMode: (fn) => mode("predictMode", fn),
    isRecording: () => s.read<boolean>("autograd.isRecording", undefined),
    isTraining: () => s.read<boolean>("autograd.isTraining", undefined),
    markVariables(variables, gradients, gradReqs) {
      // Integer arrays are refused by the worker (no gradients): not variables here either.
      for (const v of list(variables)) if (v instanceof RemoteNDArray && isFloat(v.dtype)) v.markVariable();
      const args = gradReqs === undefined ? [variables, gradients] : [variables, gradients, gradReqs];
      return s.command("autograd.markVariables", undefined, args);
    },
    backward(heads, options) {
      return s.command("autograd.backward", undefined, options === undefined ? [heads] : [heads, options]);
    },
    grad(heads, variables, options) {
      const vs: unknown[] = Array.isArray(variables) ? variables : [variables];
      const args = options === undefined ? [heads, variables] : [heads, variables, options];
      return s.opMany("autograd.grad", undefined, args, vs.length, () =>
        vs.map((v) => ({ shape: shp(v).slice(), dtype: metaOf(v).dtype })),
      );
    },
  };
}
