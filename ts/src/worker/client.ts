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
import * as Comlink from "comlink";
import { describe } from "../args.js";
import type { AutogradBackwardOptions, GradOptions, ModeOptions } from "../autograd.js";
import type { MemoryInfo } from "../memory.js";
import type { ArrayOptions } from "../nd.js";
import type { Axis, BackwardOptions, DType, GradReq, NestedArray, ReduceOptions } from "../ndarray.js";
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
import * as S from "./shapes.js";

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

/**
 * Mark a typed array to be moved (transferred, not copied) into the worker
 * when passed to a module function: `w.module.fit(transfer(xs))`. Afterwards
 * it is detached (length 0) here. `w.nd.array(typed)` moves without this.
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

  /** Queue an op that creates arrays; returns their proxies at once. */
  op(op: string, self: RemoteNDArray | undefined, args: unknown[], shape: number[], moveTyped = false): RemoteNDArray {
    const id = this.#nextId++;
    const c: Command = { op, args: this.encode(args, moveTyped), out: id, shape };
    if (self !== undefined) c.self = self.id;
    const a = new RemoteNDArray(this, id, shape);
    this.adopt(a);
    this.#outs.set(id, a);
    this.#push(c);
    return a;
  }

  /** Like `op` for several results (`autograd.grad`). */
  opMany(op: string, args: unknown[], shapes: number[][]): RemoteNDArray[] {
    const ids = shapes.map(() => this.#nextId++);
    const arrays = ids.map((id, i) => new RemoteNDArray(this, id, shapes[i]!));
    for (const a of arrays) {
      this.adopt(a);
      this.#outs.set(a.id, a);
    }
    this.#push({ op, args: this.encode(args, false), out: ids, shape: shapes });
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
    if (args.length > 0) c.args = this.encode(args, false);
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
    if (args.length > 0) c.args = this.encode(args, false);
    if (self !== undefined) c.self = self.id;
    return this.#await(c, decode);
  }

  /** Call a function of the worker's module (arrays in its result become proxies). */
  call(name: string, args: unknown[]): Promise<unknown> {
    const c: Command = { op: "call", reply: true, args: this.encode([name, ...args], false, false) };
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
    for (const [id, shape] of reply.fixes ?? []) {
      const a = batch.outs.get(id);
      if (a !== undefined) {
        a.fixShape(shape);
        this.counters.shapeFixes++;
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
  encode(args: unknown[], moveTyped: boolean, standIns = true): unknown[] {
    return args.map((a) => this.#encode(a, moveTyped, standIns, 0));
  }

  #encode(v: unknown, moveTyped: boolean, standIns: boolean, depth: number): unknown {
    if (v instanceof RemoteNDArray) return { [REF]: v.session === this ? v.id : 0 };
    if (typeof v === "function") return { [FN]: "function" };
    if (typeof v === "symbol") return { [FN]: "symbol" };
    if (v === null || typeof v !== "object" || depth > 16) return v;
    if (ArrayBuffer.isView(v)) {
      if ((moveTyped || toTransfer.has(v)) && !(v instanceof DataView)) {
        const whole = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength;
        if (whole && v.buffer instanceof ArrayBuffer && !this.#transfers.includes(v.buffer)) {
          this.#transfers.push(v.buffer);
        }
      }
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => this.#encode(x, moveTyped, standIns, depth + 1));
    if ((v as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "NDArray") return { [LOCAL]: 1 };
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      if (!standIns) return v;
      const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
      return { [FN]: "object", name: typeof name === "string" ? name : "Object" };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = this.#encode(x, moveTyped, standIns, depth + 1);
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
      const a = new RemoteNDArray(this, o[ARRAY] as number, o.shape as number[]);
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

/**
 * An array that lives in the worker: an id plus its shape. Ops return new
 * proxies at once (the work is queued); values are read with `await`
 * (`toArray()`, `data()`, `asscalar()`, `toString()`, `grad`). Free it with
 * `dispose()` or `using`; a proxy that is garbage collected frees its array
 * in the next batch.
 */
export class RemoteNDArray {
  readonly #session: Session;
  #shape: number[];
  #disposed = false;
  #variable = false;
  #grad: RemoteNDArray | null = null;
  /** The id of the array in its worker. */
  readonly id: number;
  readonly dtype: DType = "float32";

  /** @internal Arrays come from `w.nd` and ops. */
  constructor(session: Session, id: number, shape: number[]) {
    this.#session = session;
    this.id = id;
    this.#shape = shape;
  }

  /** @internal */
  get session(): Session {
    return this.#session;
  }
  /** @internal The shape without a copy. */
  get shapeRef(): number[] {
    return this.#shape;
  }
  /** @internal The worker's shape, where it differs from the inferred one. */
  fixShape(shape: number[]): void {
    this.#shape = shape;
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

  #bin(op: string, y: Operand): RemoteNDArray {
    return this.#session.op(`x.${op}`, this, [y], S.broadcast(this.#shape, shapeOrNull(y)));
  }
  #un(op: string): RemoteNDArray {
    return this.#session.op(`x.${op}`, this, [], this.#shape.slice());
  }
  #red(op: string, axis: Axis | ReduceOptions, keepdims: boolean | undefined): RemoteNDArray {
    const args = keepdims === undefined ? (axis === undefined ? [] : [axis]) : [axis, keepdims];
    return this.#session.op(`x.${op}`, this, args, S.reduceShape(this.#shape, axis, keepdims));
  }

  // ---- elementwise ----
  add(y: Operand): RemoteNDArray {
    return this.#bin("add", y);
  }
  sub(y: Operand): RemoteNDArray {
    return this.#bin("sub", y);
  }
  mul(y: Operand): RemoteNDArray {
    return this.#bin("mul", y);
  }
  div(y: Operand): RemoteNDArray {
    return this.#bin("div", y);
  }
  pow(y: Operand): RemoteNDArray {
    return this.#bin("pow", y);
  }
  maximum(y: Operand): RemoteNDArray {
    return this.#bin("maximum", y);
  }
  minimum(y: Operand): RemoteNDArray {
    return this.#bin("minimum", y);
  }
  equal(y: Operand): RemoteNDArray {
    return this.#bin("equal", y);
  }
  notEqual(y: Operand): RemoteNDArray {
    return this.#bin("notEqual", y);
  }
  greater(y: Operand): RemoteNDArray {
    return this.#bin("greater", y);
  }
  greaterEqual(y: Operand): RemoteNDArray {
    return this.#bin("greaterEqual", y);
  }
  lesser(y: Operand): RemoteNDArray {
    return this.#bin("lesser", y);
  }
  lesserEqual(y: Operand): RemoteNDArray {
    return this.#bin("lesserEqual", y);
  }
  neg(): RemoteNDArray {
    return this.#un("neg");
  }
  exp(): RemoteNDArray {
    return this.#un("exp");
  }
  log(): RemoteNDArray {
    return this.#un("log");
  }
  sqrt(): RemoteNDArray {
    return this.#un("sqrt");
  }
  square(): RemoteNDArray {
    return this.#un("square");
  }
  abs(): RemoteNDArray {
    return this.#un("abs");
  }
  sigmoid(): RemoteNDArray {
    return this.#un("sigmoid");
  }
  tanh(): RemoteNDArray {
    return this.#un("tanh");
  }
  relu(): RemoteNDArray {
    return this.#un("relu");
  }
  sign(): RemoteNDArray {
    return this.#un("sign");
  }

  // ---- reductions ----
  sum(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("sum", axis, keepdims);
  }
  mean(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("mean", axis, keepdims);
  }
  max(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("max", axis, keepdims);
  }
  min(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("min", axis, keepdims);
  }
  prod(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("prod", axis, keepdims);
  }
  norm(axis?: Axis | ReduceOptions, keepdims?: boolean): RemoteNDArray {
    return this.#red("norm", axis, keepdims);
  }

  // ---- shape ----
  reshape(...shape: (number | number[])[]): RemoteNDArray {
    return this.#session.op("x.reshape", this, shape, S.reshapeShape(this.#shape, S.specOf(shape)));
  }
  transpose(...axes: (number | number[])[]): RemoteNDArray {
    return this.#session.op("x.transpose", this, axes, S.transposeShape(this.#shape, axes));
  }
  get T(): RemoteNDArray {
    return this.transpose();
  }
  expandDims(axis: number): RemoteNDArray {
    return this.#session.op("x.expandDims", this, [axis], S.expandDimsShape(this.#shape, axis));
  }
  squeeze(axis?: Axis): RemoteNDArray {
    return this.#session.op("x.squeeze", this, axis === undefined ? [] : [axis], S.squeezeShape(this.#shape, axis));
  }
  broadcastTo(shape: number[] | number): RemoteNDArray {
    return this.#session.op("x.broadcastTo", this, [shape], S.shapeOf(shape));
  }
  dot(y: RemoteNDArray): RemoteNDArray {
    return this.#session.op("x.dot", this, [y], S.dotShape(this.#shape, shapeOrNull(y) ?? []));
  }

  // ---- indexing ----
  at(i: number): RemoteNDArray {
    return this.#session.op("x.at", this, [i], S.atShape(this.#shape));
  }
  slice(begin?: number | null, end?: number | null): RemoteNDArray {
    return this.#session.op("x.slice", this, [begin ?? null, end ?? null], S.sliceShape(this.#shape, begin, end));
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
  /** A copy of the values, moved from the worker (written into `out` when given). */
  async data(out?: NDData): Promise<NDData> {
    const typed = out instanceof Float32Array || out instanceof Float64Array || out instanceof Int32Array;
    if (out !== undefined && !this.#disposed && (!typed || out.length < this.size)) {
      throw new Error(
        `data: out must be a Float32Array, Float64Array or Int32Array of at least ${this.size} elements (got ${describe(out)})`,
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
      const [shape, flat] = v as [number[], Float32Array];
      return nest(flat, shape);
    });
  }
  astype(dtype: DType): RemoteNDArray {
    return this.#session.op("x.astype", this, [dtype], this.#shape.slice());
  }
  copy(): RemoteNDArray {
    return this.#session.op("x.copy", this, [], this.#shape.slice());
  }
  detach(): RemoteNDArray {
    return this.#session.op("x.detach", this, [], this.#shape.slice());
  }

  // ---- autograd ----
  attachGrad(gradReq: GradReq = "write"): Pending {
    // A bad gradReq fails in the worker (with the main API's message) and
    // leaves the array as it was.
    if (gradReq === "write" || gradReq === "add" || gradReq === "null") this.markVariable();
    return this.#session.command("x.attachGrad", this, [gradReq]);
  }
  /** The gradient (zeros after `attachGrad`), or null without one. */
  get grad(): Promise<RemoteNDArray | null> {
    const cached = this.#grad !== null && !this.#grad.isDisposed ? this.#grad : null;
    const fresh = this.#session.newId();
    return this.#session.read("grad", this, [cached?.id ?? 0, fresh], (v) => {
      if (v === null) return null;
      const { id, shape } = v as { id: number; shape: number[] };
      if (cached !== null && id === cached.id) return cached;
      const g = new RemoteNDArray(this.#session, id, shape);
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
    return `<RemoteNDArray ${what} (id ${this.id}; await x.toString() for the values)>`;
  }
  get [Symbol.toStringTag](): string {
    return "RemoteNDArray";
  }
}

function nest(flat: Float32Array, shape: number[]): NestedArray[] {
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
  /** Move a typed array's buffer into the worker (default) rather than copy it.
   *  A moved array is detached (length 0) here afterwards. */
  transfer?: boolean;
}

type Bin = (a: Operand, b: Operand) => RemoteNDArray;
type Un = (x: RemoteNDArray) => RemoteNDArray;
type Red = (x: RemoteNDArray, axis?: Axis | ReduceOptions, keepdims?: boolean) => RemoteNDArray;

/** `w.nd`: the main `nd` namespace, remote. Ops return proxies at once;
 *  reads return promises. */
export interface RemoteND {
  array(data: unknown, options?: RemoteArrayOptions): RemoteNDArray;
  zeros(shape: number[] | number, options?: { dtype?: DType }): RemoteNDArray;
  ones(shape: number[] | number, options?: { dtype?: DType }): RemoteNDArray;
  full(shape: number[] | number, value: number): RemoteNDArray;
  arange(start: number, stop?: number | null, step?: number): RemoteNDArray;
  zerosLike(x: RemoteNDArray): RemoteNDArray;
  onesLike(x: RemoteNDArray): RemoteNDArray;
  random: {
    uniform(low?: number, high?: number, shape?: number[] | number | { shape?: number[] | number }): RemoteNDArray;
    normal(loc?: number, scale?: number, shape?: number[] | number | { shape?: number[] | number }): RemoteNDArray;
    seed(n: number): Pending;
  };
  add: Bin;
  sub: Bin;
  mul: Bin;
  div: Bin;
  pow: Bin;
  maximum: Bin;
  minimum: Bin;
  equal: Bin;
  notEqual: Bin;
  greater: Bin;
  greaterEqual: Bin;
  lesser: Bin;
  lesserEqual: Bin;
  neg: Un;
  negative: Un;
  exp: Un;
  log: Un;
  sqrt: Un;
  square: Un;
  abs: Un;
  sigmoid: Un;
  tanh: Un;
  relu: Un;
  sign: Un;
  sum: Red;
  mean: Red;
  max: Red;
  min: Red;
  prod: Red;
  norm: Red;
  dot(a: RemoteNDArray, b: RemoteNDArray): RemoteNDArray;
  batchDot(a: RemoteNDArray, b: RemoteNDArray): RemoteNDArray;
  concat(arrays: RemoteNDArray[], axis?: number): RemoteNDArray;
  stack(arrays: RemoteNDArray[], axis?: number): RemoteNDArray;
  dropout(x: RemoteNDArray, p?: number): RemoteNDArray;
  reshape(x: RemoteNDArray, shape: number[]): RemoteNDArray;
  transpose(x: RemoteNDArray, axes?: number[]): RemoteNDArray;
  expandDims(x: RemoteNDArray, axis: number): RemoteNDArray;
  squeeze(x: RemoteNDArray, axis?: Axis): RemoteNDArray;
  broadcastTo(x: RemoteNDArray, shape: number[] | number): RemoteNDArray;
  /** Free every array created in `fn` except what it returns (found in
   *  arrays, plain objects and Maps) and arrays with an attached gradient.
   *  `fn` may be async; arrays that other concurrent code creates while it
   *  runs are counted as its own. */
  scope<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Let `x` escape the enclosing scopes. */
  keep<T extends RemoteNDArray>(x: T): T;
  /** The worker's `nd.memory()`. */
  memory(): Promise<MemoryInfo>;
  /** Resolves once the worker has run everything queued before it. */
  waitall(): Promise<void>;
  formatScalar(v: number, dtype?: DType): Promise<string>;
  simd(): Promise<boolean>;
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
  const bin = (op: string): Bin => (a, b) => s.op(`nd.${op}`, undefined, [a, b], S.broadcast(shapeOrNull(a), shapeOrNull(b)));
  const un = (op: string): Un => (x) => s.op(`nd.${op}`, undefined, [x], (shapeOrNull(x) ?? [1]).slice());
  const red = (op: string): Red => (x, axis, keepdims) => {
    const args = keepdims === undefined ? (axis === undefined ? [x] : [x, axis]) : [x, axis, keepdims];
    return s.op(`nd.${op}`, undefined, args, S.reduceShape(shapeOrNull(x) ?? [1], axis, keepdims));
  };
  const shp = (x: unknown): number[] => shapeOrNull(x) ?? [1];
  const trim = (args: unknown[]): unknown[] => {
    // Trailing undefined arguments keep the main API's defaults.
    let n = args.length;
    while (n > 0 && args[n - 1] === undefined) n--;
    return args.slice(0, n);
  };
  const op = (name: string, args: unknown[], shape: number[]): RemoteNDArray => s.op(name, undefined, trim(args), shape);

  return {
    array(data, options) {
      let opts: unknown = options;
      let move = true;
      if (options !== null && typeof options === "object" && "transfer" in options) {
        const { transfer: t, ...rest } = options;
        move = t !== false;
        opts = rest;
      }
      const shape = data instanceof RemoteNDArray ? data.shape : S.arrayShape(data, options?.shape);
      return s.op("nd.array", undefined, trim([data, opts]), shape, move);
    },
    zeros: (shape, options) => op("nd.zeros", [shape, options], S.shapeOf(shape)),
    ones: (shape, options) => op("nd.ones", [shape, options], S.shapeOf(shape)),
    full: (shape, value) => op("nd.full", [shape, value], S.shapeOf(shape)),
    arange: (start, stop, step) => op("nd.arange", [start, stop, step], S.arangeShape(start, stop, step)),
    zerosLike: (x) => op("nd.zerosLike", [x], shp(x).slice()),
    onesLike: (x) => op("nd.onesLike", [x], shp(x).slice()),
    random: {
      uniform: (low, high, shape) => op("nd.random.uniform", [low, high, shape], S.shapeOption(shape)),
      normal: (loc, scale, shape) => op("nd.random.normal", [loc, scale, shape], S.shapeOption(shape)),
      seed: (n) => s.command("nd.random.seed", undefined, [n]),
    },
    ...opTable(BINARY_OPS, bin),
    ...opTable(UNARY_OPS, un),
    negative: un("negative"),
    ...opTable(REDUCE_OPS, red),
    dot: (a, b) => op("nd.dot", [a, b], S.dotShape(shp(a), shp(b))),
    batchDot: (a, b) => op("nd.batchDot", [a, b], S.batchDotShape(shp(a), shp(b))),
    concat: (arrays, axis) =>
      op("nd.concat", [arrays, axis], S.concatShape(Array.isArray(arrays) ? arrays.map(shp) : [], axis ?? 1)),
    stack: (arrays, axis) =>
      op("nd.stack", [arrays, axis], S.stackShape(Array.isArray(arrays) ? arrays.map(shp) : [], axis ?? 0)),
    dropout: (x, p) => op("nd.dropout", [x, p], shp(x).slice()),
    reshape: (x, shape) => op("nd.reshape", [x, shape], S.reshapeShape(shp(x), Array.isArray(shape) ? shape : [shape])),
    transpose: (x, axes) => op("nd.transpose", [x, axes], S.transposeShape(shp(x), axes === undefined ? [] : [axes])),
    expandDims: (x, axis) => op("nd.expandDims", [x, axis], S.expandDimsShape(shp(x), axis)),
    squeeze: (x, axis) => op("nd.squeeze", [x, axis], S.squeezeShape(shp(x), axis)),
    broadcastTo: (x, shape) => op("nd.broadcastTo", [x, shape], S.shapeOf(shape)),

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
    memory: () => s.read<MemoryInfo>("nd.memory", undefined),
    waitall: () => s.read<void>("nd.waitall", undefined),
    formatScalar: (v, dtype) => s.read<string>("nd.formatScalar", undefined, trim([v, dtype])),
    simd: () => s.read<boolean>("nd.simd", undefined),
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
      for (const v of list(variables)) if (v instanceof RemoteNDArray) v.markVariable();
      const args = gradReqs === undefined ? [variables, gradients] : [variables, gradients, gradReqs];
      return s.command("autograd.markVariables", undefined, args);
    },
    backward(heads, options) {
      return s.command("autograd.backward", undefined, options === undefined ? [heads] : [heads, options]);
    },
    grad(heads, variables, options) {
      const vs = Array.isArray(variables) ? variables : [variables];
      const shapes = vs.map((v) => (shapeOrNull(v) ?? [1]).slice());
      return s.opMany("autograd.grad", options === undefined ? [heads, variables] : [heads, variables, options], shapes);
    },
  };
}
