// Lifetimes: the FinalizationRegistry safety net, `nd.scope` (sync and
// async), `nd.keep`, leak tracking, and `nd.memory()`.
import { setOutOfMemoryHint, wasm } from "./ffi.js";

const REGISTERED = Symbol("ndgrad.registered");
/** The synchronous stretch in which an unscoped array was created (see `stretch`). */
const STRETCH = Symbol("ndgrad.stretch");

interface Owned {
  dispose(): void;
  readonly isDisposed: boolean;
  readonly shape: number[];
  readonly size: number;
  readonly dtype: string;
  handleFor(op: string): number;
  [REGISTERED]?: boolean;
  [STRETCH]?: number;
}

/** Frees the engine handle of an array that became unreachable. */
const registry = new FinalizationRegistry<number>((h) => {
  wasm.nd_free(h);
});

/**
 * Put `a` under the FinalizationRegistry (once). Arrays created inside an
 * open scope are not registered until they leave every scope: the scope's
 * set holds them strongly, so the registry could never collect them there,
 * and registering costs about half a microsecond per array.
 */
function register(a: Owned): void {
  if (a[REGISTERED] === true || a.isDisposed) return;
  registry.register(a, a.handleFor("register"), a);
  a[REGISTERED] = true;
}

const variables = new WeakSet<Owned>();

/** A scope: the arrays created in it, and where kept arrays go at its end. */
class Scope {
  readonly arrays = new Set<Owned>();
  constructor(readonly parent: Scope | null) {}
}

// Which scope an array belongs to. In Node, from the first `nd.scope` on,
// AsyncLocalStorage follows each scope's own async continuations exactly
// (created lazily: it costs every promise a little). Without it (browsers) a
// stack of open scopes is used and the innermost wins; see `scope` for what
// that means for concurrent async work.
interface ScopeStorage {
  getStore(): Scope | undefined;
  run<R>(store: Scope, fn: () => R): R;
}
const AsyncStorage: (new () => ScopeStorage) | null = await (async () => {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") return null;
  try {
    const name = "node:async_hooks";
    const mod = (await import(/* @vite-ignore */ name)) as { AsyncLocalStorage: new () => ScopeStorage };
    return mod.AsyncLocalStorage;
  } catch {
    return null;
  }
})();
let asyncStorage: ScopeStorage | null = null;
const stack: Scope[] = [];
const open = new Set<Scope>();

function current(): Scope | null {
  if (open.size === 0) return null; // the common case, without asking AsyncLocalStorage
  const s = asyncStorage?.getStore();
  if (s !== undefined) return s;
  return stack[stack.length - 1] ?? null;
}

function enter<T>(s: Scope, fn: () => T): T {
  if (asyncStorage !== null) return asyncStorage.run(s, fn);
  stack.push(s);
  return fn();
}

function leave(s: Scope): void {
  open.delete(s);
  const i = stack.lastIndexOf(s);
  if (i >= 0) stack.splice(i, 1);
}

// ---- leak tracking (opt-in) ----

interface Tracked {
  ref: WeakRef<Owned>;
  stack: string;
}
// Keyed by serial number, so that the log never keeps an array alive.
let leakLog: Map<number, Tracked> | null = null;
const leakIds = new WeakMap<Owned, number>();
let leakSerial = 0;

/** An array created while leak tracking was on and still not freed. */
export interface Leak {
  shape: number[];
  /** Where it was created. */
  stack: string;
}

// ---- tracking every array ----

// ---- the leak warning ----
//
// WebAssembly memory is not garbage collected: an array nobody disposes is
// freed by the FinalizationRegistry, which runs only between tasks. A
// synchronous loop that drops its arrays (the way MXNet code is written)
// therefore fills memory until an op fails. So: count the arrays created
// outside any `nd.scope` during the current synchronous stretch (until the
// next macrotask, when finalizers may run) and not disposed since, not
// counting variables (arrays with an attached gradient) and arrays given to
// `nd.keep`. Past WARN_ARRAYS arrays or WARN_BYTES bytes, warn once, saying
// how to fix it. The warning fires at most once per load of the module and
// does not re-arm (nd.debug.trackLeaks() is the tool from there; every
// out-of-memory Error repeats the advice with the current counts).

/** Thresholds of the leak warning (a loop of 10 000 dropped arrays, or 1 GiB of them). */
export const WARN_ARRAYS = 10_000;
export const WARN_BYTES = 2 ** 30;

const stretch = { id: 1, arrays: 0, bytes: 0, scheduled: false, warned: false };

const BYTES_PER: Record<string, number> = { float32: 4, float64: 8, int32: 4 };
function bytesOf(a: Owned): number {
  return a.size * (BYTES_PER[a.dtype] ?? 4);
}

/** The stretch ends at the next macrotask: finalizers can run from there. */
function endStretch(): void {
  stretch.id++;
  stretch.arrays = 0;
  stretch.bytes = 0;
  stretch.scheduled = false;
}

function scheduleEnd(): void {
  stretch.scheduled = true;
  const t = setTimeout(endStretch, 0) as unknown as { unref?: () => void };
  t.unref?.(); // never keeps Node alive
}

function countUnscoped(a: Owned): void {
  if (!stretch.scheduled) scheduleEnd();
  a[STRETCH] = stretch.id;
  stretch.arrays++;
  stretch.bytes += bytesOf(a);
  if (!stretch.warned && (stretch.arrays >= WARN_ARRAYS || stretch.bytes >= WARN_BYTES)) {
    stretch.warned = true;
    console.warn(
      `ndgrad: ${stretch.arrays} arrays (${formatBytes(stretch.bytes)}) were created outside any nd.scope in one ` +
        "synchronous stretch of code and not freed. WebAssembly memory is not garbage collected while " +
        "synchronous code runs (the FinalizationRegistry can free arrays only between tasks), so a loop that " +
        `drops its arrays runs out of memory. ${FIXES} (This warning is shown once.)`,
    );
  }
}

/** Not a leak after all: disposed, a variable, or kept on purpose. */
function uncount(a: Owned): void {
  if (a[STRETCH] === undefined) return;
  if (a[STRETCH] === stretch.id) {
    stretch.arrays--;
    stretch.bytes -= bytesOf(a);
  }
  a[STRETCH] = undefined;
}

const FIXES =
  "Free arrays you no longer need: x.dispose(), `using x = ...`, or run each step inside nd.scope(() => ...), " +
  "which frees what the step created except what it returns; nd.debug.trackLeaks() then nd.debug.leaks() " +
  "shows where the arrays still alive were created.";

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

// Every out-of-memory Error says what is alive and how to free it.
setOutOfMemoryHint(() => {
  const live = wasm.nd_live_arrays();
  const bytes = wasm.nd_live_bytes();
  const recent =
    stretch.arrays > 0
      ? `, ${stretch.arrays} of them (${formatBytes(Math.max(0, stretch.bytes))}) created outside any nd.scope in this synchronous stretch and not freed`
      : "";
  return ` [${live} arrays holding ${formatBytes(bytes)} are alive${recent}. ${FIXES}]`;
});

/** @internal The leak warning's counters, for tests. */
export function stretchCounts(): { arrays: number; bytes: number; warned: boolean } {
  return { arrays: stretch.arrays, bytes: stretch.bytes, warned: stretch.warned };
}

/** @internal Called for every new array. */
export function track(a: Owned): void {
  const s = current();
  if (s !== null) s.arrays.add(a);
  else {
    countUnscoped(a);
    // Registered in batches, after the current task (or every NURSERY_MAX
    // arrays): an array created and disposed meanwhile never pays for it.
    nursery.push(a);
    if (nursery.length >= NURSERY_MAX) flushNursery();
    else if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushNursery);
    }
  }
  if (leakLog !== null) {
    const where = (new Error().stack ?? "").split("\n").slice(2).join("\n");
    const id = ++leakSerial;
    leakIds.set(a, id);
    leakLog.set(id, { ref: new WeakRef(a), stack: where });
  }
}

/**
 * Arrays created outside any scope, not yet under the registry. The list
 * holds them strongly until the flush, so an array dropped meanwhile is
 * collected a little later, never lost.
 */
let nursery: Owned[] = [];
let flushQueued = false;
const NURSERY_MAX = 4096;

function flushNursery(): void {
  flushQueued = false;
  const list = nursery;
  nursery = [];
  for (const a of list) register(a);
}

/** @internal Called when an array is disposed. */
export function untrack(a: Owned): void {
  if (a[REGISTERED] === true) registry.unregister(a);
  uncount(a);
  const id = leakIds.get(a);
  if (id !== undefined) leakLog?.delete(id);
}

/** @internal Arrays with an attached gradient survive scopes. */
export function markVariable(a: Owned): void {
  variables.add(a);
  uncount(a);
}

/** Let `x` escape every open `nd.scope`: it stays alive until disposed. */
export function keep<T extends Owned>(x: T): T {
  for (const s of open) s.arrays.delete(x);
  uncount(x);
  register(x);
  return x;
}

function collect(v: unknown, into: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== "object" || depth > 8 || into.has(v)) return;
  into.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, into, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v as Record<string, unknown>)) collect(x, into, depth + 1);
  } else if (v instanceof Map) for (const x of v.values()) collect(x, into, depth + 1);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/** Free a finished scope's arrays except `result`'s and variables (which move to the parent). */
function finish(s: Scope, result: unknown, failed: boolean): void {
  leave(s);
  const kept = new Set<unknown>();
  if (!failed) collect(result, kept);
  const parent = s.parent !== null && open.has(s.parent) ? s.parent : null;
  for (const a of s.arrays) {
    if (kept.has(a) || variables.has(a)) {
      if (parent !== null) parent.arrays.add(a);
      else register(a);
    } else a.dispose();
  }
}

/**
 * Run `fn` and free every array created inside it, except the arrays in its
 * result (found in arrays, plain objects and Maps, to depth 8) and arrays
 * with an attached gradient; those move to the enclosing scope. Scopes nest,
 * and an exception frees everything the scope created before rethrowing.
 *
 * `fn` may be async: the scope then ends when its promise settles, and
 * `scope` returns a promise of the result. Which arrays an async scope owns:
 * - in Node (AsyncLocalStorage), exactly the arrays created by `fn`'s own
 *   code and its awaited continuations; concurrent work outside the scope is
 *   never touched, and concurrent async scopes stay separate;
 * - elsewhere (browsers), every array created while the scope is the
 *   innermost open scope, including arrays that unrelated concurrent code
 *   creates meanwhile: such code should `nd.keep` what it must keep, or not
 *   overlap with an async scope.
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== "function") throw new Error("scope: expected a function");
  if (asyncStorage === null && AsyncStorage !== null) asyncStorage = new AsyncStorage();
  const s = new Scope(current());
  open.add(s);
  let out: T;
  try {
    out = enter(s, fn);
  } catch (e) {
    finish(s, undefined, true);
    throw e;
  }
  if (isThenable(out)) {
    return Promise.resolve(out).then(
      (v) => {
        finish(s, v, false);
        return v;
      },
      (e: unknown) => {
        finish(s, undefined, true);
        throw e;
      },
    ) as T;
  }
  finish(s, out, false);
  return out;
}

/** @internal Run `fn`, adding every array it creates to `into` (also when
 *  it throws); the caller decides what to free. */
export function collectInto<T, A extends Owned>(into: Set<A>, fn: () => T): T {
  const s = new Scope(current());
  open.add(s);
  try {
    return enter(s, fn);
  } finally {
    leave(s);
    for (const a of s.arrays) {
      into.add(a as A);
      register(a); // the caller keeps some of them beyond any scope
    }
  }
}

export interface MemoryInfo {
  /** Live arrays (handles not yet disposed or collected). */
  arrays: number;
  /** Bytes of tensor memory in use, including what a recorded graph keeps alive. */
  bytes: number;
  /** Recorded graph nodes not yet freed. */
  tapeNodes: number;
  /** Size of the WebAssembly memory. */
  wasmBytes: number;
}

export function memory(): MemoryInfo {
  return {
    arrays: wasm.nd_live_arrays(),
    bytes: wasm.nd_live_bytes(),
    tapeNodes: wasm.nd_tape_nodes(),
    wasmBytes: wasm.memory.buffer.byteLength,
  };
}

/** Opt-in leak detection: which arrays were created and never freed, and where. */
export const debug = {
  /** Start recording the creation stack of every new array (forgets earlier records). */
  trackLeaks(): void {
    leakLog = new Map();
  },
  /** Stop recording. */
  stopTrackingLeaks(): void {
    leakLog = null;
  },
  /** Arrays created since `trackLeaks()` that are still alive, with where each was created. */
  leaks(): Leak[] {
    if (leakLog === null) return [];
    const out: Leak[] = [];
    for (const [id, t] of leakLog) {
      const a = t.ref.deref();
      if (a === undefined || a.isDisposed) leakLog.delete(id);
      else out.push({ shape: a.shape, stack: t.stack });
    }
    return out;
  },
};
