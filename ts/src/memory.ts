// Lifetimes: the FinalizationRegistry safety net, `nd.scope`, `nd.keep`,
// and `nd.memory()`.
import { wasm } from "./ffi.js";

interface Owned {
  dispose(): void;
  readonly isDisposed: boolean;
}

/** Frees the engine handle of an array that became unreachable. */
const registry = new FinalizationRegistry<number>((h) => {
  wasm.nd_free(h);
});

const scopes: Set<Owned>[] = [];
const variables = new WeakSet<Owned>();

/** @internal Called for every new array. */
export function track(a: Owned, handle: number): void {
  registry.register(a, handle, a);
  if (scopes.length > 0) scopes[scopes.length - 1]!.add(a);
}

/** @internal Called when an array is disposed. */
export function untrack(a: Owned): void {
  registry.unregister(a);
}

/** @internal Arrays with an attached gradient survive scopes. */
export function markVariable(a: Owned): void {
  variables.add(a);
}

/** Let `x` escape the enclosing `nd.scope` (and every outer one). */
export function keep<T extends Owned>(x: T): T {
  for (const s of scopes) s.delete(x);
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

/**
 * Run `fn` and free every array created inside it, except the arrays in its
 * result (found in arrays, plain objects and Maps) and arrays with an
 * attached gradient; those move to the enclosing scope. Scopes nest. `fn`
 * must be synchronous: an async function's later work would run outside the
 * scope, so a returned Promise is refused with an Error.
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== "function") throw new Error("scope: expected a function");
  const mine = new Set<Owned>();
  scopes.push(mine);
  let out: T;
  try {
    out = fn();
  } catch (e) {
    scopes.pop();
    release(mine, new Set());
    throw e;
  }
  scopes.pop();
  const kept = new Set<unknown>();
  collect(out, kept);
  if (kept.has(out) && typeof (out as { then?: unknown })?.then === "function") {
    // Keep everything: the async work may still use it.
    for (const a of mine) scopes[scopes.length - 1]?.add(a);
    throw new Error("scope: fn returned a Promise; nd.scope only supports synchronous functions");
  }
  release(mine, kept);
  return out;
}

/** @internal Run `fn`, adding every array it creates to `into` (also when
 *  it throws); the caller decides what to free. */
export function collectInto<T>(into: Set<Owned>, fn: () => T): T {
  scopes.push(into);
  try {
    return fn();
  } finally {
    scopes.pop();
  }
}

function release(arrays: Set<Owned>, kept: Set<unknown>): void {
  const parent = scopes[scopes.length - 1];
  for (const a of arrays) {
    if (kept.has(a) || variables.has(a)) parent?.add(a);
    else a.dispose();
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
