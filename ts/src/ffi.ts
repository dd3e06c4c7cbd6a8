// The typed boundary: the instance, the I/O area, error codes → Error, and
// the op codes, all read from the Rust side at load time (no hand-kept
// tables that could drift).
import { describe } from "./args.js";
import type { DType } from "./format.js";
import { instantiate, type Exports } from "./loader.js";

export const wasm: Exports = await instantiate();

let ioView = new Int32Array(wasm.memory.buffer, wasm.nd_io() >>> 0, wasm.nd_io_len());

/** The I/O area, re-viewed whenever memory growth detached the old view
 *  (a detached view has length 0; reading `memory.buffer` on every call
 *  costs more than the rest of a small op's bookkeeping). */
export function io(): Int32Array {
  if (ioView.length === 0) {
    ioView = new Int32Array(wasm.memory.buffer, wasm.nd_io() >>> 0, wasm.nd_io_len());
  }
  return ioView;
}

let memBuffer: ArrayBufferLike = wasm.memory.buffer;
/** The memory's buffer, refreshed only when it no longer reaches `end`
 *  (growth detaches a plain buffer, whose length becomes 0; a shared one
 *  keeps its old length). */
function memoryUpTo(end: number): ArrayBufferLike {
  if (memBuffer.byteLength < end) memBuffer = wasm.memory.buffer;
  return memBuffer;
}

const decoder = new TextDecoder();

/** The message the last failing export left. */
function errorMessage(): string {
  // Pointers are unsigned: above 2 GiB they arrive as negative i32s.
  const ptr = wasm.nd_error_ptr() >>> 0;
  const len = wasm.nd_error_len();
  // A copy: browsers refuse to decode views of shared memory (threads build).
  return decoder.decode(new Uint8Array(wasm.memory.buffer, ptr, len).slice());
}

function readNames(get: (code: number) => number): string[] {
  const names: string[] = [];
  for (let code = 0; code < 256 && get(code) !== 0; code++) names.push(errorMessage());
  return names;
}

/** Error kinds by code, from `ErrorKind::name` in Rust. */
export const ERROR_KINDS: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (let code = 1; code < 64; code++) {
    if (wasm.nd_error_kind_name(code) !== 0) m.set(code, errorMessage());
  }
  return m;
})();

function codes(family: number): Readonly<Record<string, number>> {
  const names = readNames((c) => wasm.nd_op_name(family, c));
  return Object.freeze(Object.fromEntries(names.map((n, i) => [n, i])));
}
/** Op codes by name, from the Rust enums `BinOp`, `UnOp`, `RedOp`. */
export const BINARY = codes(0);
export const UNARY = codes(1);
export const REDUCE = codes(2);

/** An error raised by the engine; `kind` is the Rust `ErrorKind` name. */
export class NDGradError extends Error {
  readonly kind: string;
  constructor(message: string, kind: string) {
    super(message);
    this.name = "NDGradError";
    this.kind = kind;
  }
}

/** What an out-of-memory Error adds to the engine's message (set by memory.ts). */
let outOfMemoryHint: () => string = () => "";

/** @internal */
export function setOutOfMemoryHint(hint: () => string): void {
  outOfMemoryHint = hint;
}

/** Throw the engine's last error. */
export function raise(): never {
  const code = wasm.nd_error_code();
  const kind = ERROR_KINDS.get(code) ?? "Internal";
  let message = errorMessage();
  if (kind === "OutOfMemory") message += outOfMemoryHint();
  throw new NDGradError(message, kind);
}

/** Check a handle-returning call. */
export function checkHandle(h: number): number {
  if (h === 0) raise();
  return h;
}

/** Check a status-returning call. */
export function checkStatus(s: number): void {
  if (s < 0) raise();
}

/** Write small integers (shape, axes, handles) for `op` into the I/O area. */
export function writeInts(op: string, values: readonly number[], offset = 0): void {
  const v = io();
  if (offset + values.length > v.length) {
    throw new Error(`${op}: too many arrays, dimensions or axes in one call (${values.length}; at most ${v.length})`);
  }
  for (let i = 0; i < values.length; i++) v[offset + i] = values[i]!;
}

/** The result shape an op published in the I/O area. */
export function resultShape(): number[] {
  const v = io();
  const n = v[0]!;
  const shape = new Array<number>(n);
  for (let i = 0; i < n; i++) shape[i] = v[i + 1]!;
  return shape;
}

/** The dtype after the shape in the I/O area (see `resultShape`). */
export function resultDtype(): DType {
  const v = io();
  return DTYPES[v[v[0]! + 1]!] ?? "float32";
}

/** The element types, in the engine's code order. */
export const DTYPES: readonly DType[] = ["float32", "float64", "int32", "uint8"];

/** Typed arrays of the four dtypes. */
export type NDData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Whether `v` is one of the typed arrays an array's values come back as. */
export function isNDData(v: unknown): v is NDData {
  return v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array || v instanceof Uint8Array;
}

/** The engine code of `dtype`, or an Error naming `op`. */
export function dtypeCode(op: string, dtype: unknown): number {
  const i = DTYPES.indexOf(dtype as DType);
  if (typeof dtype !== "string" || i < 0) {
    throw new Error(`${op}: dtype must be "float32", "float64", "int32" or "uint8" (got ${describe(dtype)})`);
  }
  return i;
}

/** The dtype a typed array holds natively (others are float32). */
export function dtypeOfTyped(v: ArrayBufferView): DType {
  if (v instanceof Float64Array) return "float64";
  if (v instanceof Int32Array) return "int32";
  // Bytes (images, file contents) stay bytes, as NumPy's uint8.
  if (v instanceof Uint8Array || v instanceof Uint8ClampedArray) return "uint8";
  return "float32";
}

/** A view of an array's values in its dtype; use it at once (memory may grow). */
export function dataView(h: number, size: number, dtype: DType): NDData {
  const ptr = wasm.nd_data_ptr(h) >>> 0;
  if (ptr === 0) raise();
  if (dtype === "float64") return new Float64Array(memoryUpTo(ptr + 8 * size), ptr, size);
  if (dtype === "int32") return new Int32Array(memoryUpTo(ptr + 4 * size), ptr, size);
  if (dtype === "uint8") return new Uint8Array(memoryUpTo(ptr + size), ptr, size);
  return new Float32Array(memoryUpTo(ptr + 4 * size), ptr, size);
}

/** A float32 view of a float32 array's values; use it at once. */
export function f32View(h: number, size: number): Float32Array {
  return dataView(h, size, "float32") as Float32Array;
}

/** An exception thrown by JavaScript the engine called back (a custom
 *  Function's backward); the engine reports a failure and we rethrow this. */
let hostError: { error: unknown } | null = null;

export function setHostError(error: unknown): void {
  hostError = { error };
}

function takeHostError(): { error: unknown } | null {
  const h = hostError;
  hostError = null;
  return h;
}

/** Run an engine call that may call back into JavaScript, rethrowing the
 *  callback's own exception rather than the engine's summary of it. */
export function withHostErrors<T>(f: () => T): T {
  hostError = null;
  try {
    return f();
  } catch (e) {
    const h = takeHostError();
    throw h === null ? e : h.error;
  }
}

/** Set the engine's recording and training flags; returns the previous ones. */
export function setRecordingAndTraining(recording: boolean, training: boolean): { recording: boolean; training: boolean } {
  return {
    recording: wasm.nd_set_recording(recording ? 1 : 0) !== 0,
    training: wasm.nd_set_training(training ? 1 : 0) !== 0,
  };
}
