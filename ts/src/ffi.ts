// The typed boundary: the instance, the I/O area, error codes → Error, and
// the op codes, all read from the Rust side at load time (no hand-kept
// tables that could drift).
import { instantiate, type Exports } from "./loader.js";

export const wasm: Exports = await instantiate();

let ioView = new Int32Array(wasm.memory.buffer, wasm.nd_io() >>> 0, wasm.nd_io_len());

/** The I/O area, re-viewed whenever memory growth detached the old view. */
export function io(): Int32Array {
  if (ioView.buffer !== wasm.memory.buffer) {
    ioView = new Int32Array(wasm.memory.buffer, wasm.nd_io() >>> 0, wasm.nd_io_len());
  }
  return ioView;
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

/** Throw the engine's last error. */
export function raise(): never {
  const code = wasm.nd_error_code();
  throw new NDGradError(errorMessage(), ERROR_KINDS.get(code) ?? "Internal");
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

/** A float32 view of an array's values; use it at once (memory may grow). */
export function f32View(h: number, size: number): Float32Array {
  const ptr = wasm.nd_data_ptr(h) >>> 0;
  if (ptr === 0) raise();
  return new Float32Array(wasm.memory.buffer, ptr, size);
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
