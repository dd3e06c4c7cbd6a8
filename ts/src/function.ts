// MXNet's `autograd.Function`: a custom operation with a hand-written
// gradient. `forward` runs with recording paused; when recording, the engine
// records one node per output, and during backward it calls back here to run
// `backward` (which may itself use any op, and is recorded with createGraph).
import { describe } from "./args.js";
import { checkStatus, setHostError, wasm, writeInts } from "./ffi.js";
import { host } from "./loader.js";
import { collectInto, keep } from "./memory.js";
import { NDArray, fill, type DType } from "./ndarray.js";

interface Pending {
  fn: Function;
  inShapes: number[][];
  outShapes: number[][];
  outDtypes: DType[];
  live: number;
  /** Engine-owned aliases of what forward saved, freed with the record. */
  saved: NDArray[];
  /** Whether forward saved one of its own outputs (kept detached: see apply). */
  savesOutputs: boolean;
}

const functions = new Map<number, Pending>();
let nextId = 1;

function asList(op: string, v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

host.customBackward = (id, output, dyHandle) => {
  const p = functions.get(id);
  const dys: NDArray[] = [];
  const created = new Set<NDArray>();
  try {
    if (p === undefined) {
      wasm.nd_free(dyHandle); // ours to free, whatever happens
      throw new Error(`Function: backward of an unknown function (${id})`);
    }
    // A saved output is a constant here (see apply): recorded for a higher
    // order, its derivative would be missing and the result wrong, silently.
    // MXNet has no gradient for a custom function's backward either.
    if (p.savesOutputs && wasm.nd_is_recording() !== 0) {
      wasm.nd_free(dyHandle);
      throw new Error(
        `${p.fn.constructor.name}.backward: cannot be recorded for higher-order gradients (createGraph) because forward saved one of its outputs; ` +
          `save the inputs instead and recompute from them in backward`,
      );
    }
    for (const [k, shape] of p.outShapes.entries()) {
      const dtype = p.outDtypes[k]!;
      dys.push(k === output ? new NDArray(dyHandle, shape, dtype) : fill(shape, 0, dtype));
    }
    // Everything the user's backward creates is freed once its gradients
    // are handed to the engine (under their own handles).
    const grads = asList("backward", collectInto(created, () => p.fn.backward(...dys)));
    const name = p.fn.constructor.name;
    if (grads.length !== p.inShapes.length) {
      throw new Error(`${name}.backward: returned ${grads.length} gradients for ${p.inShapes.length} inputs`);
    }
    const handles = grads.map((g, i) => {
      if (g === null || g === undefined) return 0;
      if (!(g instanceof NDArray)) {
        throw new Error(`${name}.backward: gradient ${i} must be an NDArray or null (got ${describe(g)})`);
      }
      const want = p.inShapes[i]!;
      const got = g.shape;
      if (got.length !== want.length || got.some((d, j) => d !== want[j])) {
        throw new Error(`${name}.backward: gradient ${i} has shape [${got.join(",")}] but input ${i} has shape [${want.join(",")}]`);
      }
      // A fresh handle the engine takes over, so the user's arrays stay theirs.
      const h = wasm.nd_alias(g.handleFor("backward"));
      if (h === 0) checkStatus(-1);
      return h;
    });
    writeInts("Function.backward", handles);
    return handles.length;
  } catch (e) {
    setHostError(e);
    return -1;
  } finally {
    for (const a of created) a.dispose();
    for (const a of dys) a.dispose();
  }
};

host.customRelease = (id) => {
  const p = functions.get(id);
  if (p !== undefined && --p.live <= 0) {
    functions.delete(id);
    for (const a of p.saved) a.dispose();
  }
};

/**
 * A custom differentiable operation, like MXNet's `autograd.Function`:
 *
 * ```ts
 * class Sigmoid extends autograd.Function {
 *   forward(x: NDArray) { const y = nd.sigmoid(x); this.saveForBackward(y); return y; }
 *   backward(dy: NDArray) { const [y] = this.savedTensors; return dy.mul(y).mul(nd.sub(1, y)); }
 * }
 * const y = autograd.record(() => new Sigmoid().apply(x));
 * ```
 * `forward` runs with recording paused and must return new arrays;
 * `backward` gets one gradient per output and returns one per input (null
 * for none). Arrays passed to `saveForBackward` stay owned by the caller.
 * `backward` is recorded for higher-order gradients (`createGraph`) when
 * forward saved only inputs (as `Cube` in the tests); a function that saved
 * one of its outputs (as this sigmoid) refuses that with an Error.
 */
/** What each Function instance saved (a WeakMap, not a private field: the
 *  instance the constructor returns is a callable, not `this`). */
const savedOf = new WeakMap<object, NDArray[]>();

// Calling an instance, `f(x)`, is `f.apply(x)`, as MXNet's `f(x)`.
export interface Function {
  (...inputs: NDArray[]): NDArray | NDArray[];
}

export class Function {
  constructor() {
    const callable = (...inputs: NDArray[]): NDArray | NDArray[] => (callable as unknown as Function).apply(...inputs);
    Object.setPrototypeOf(callable, new.target.prototype);
    Object.defineProperty(callable, "name", { value: new.target.name });
    return callable as unknown as Function;
  }

  forward(...inputs: NDArray[]): NDArray | NDArray[] {
    void inputs;
    throw new Error(`${this.constructor.name}.forward is not implemented`);
  }

  backward(...outputGrads: NDArray[]): NDArray | null | (NDArray | null)[] {
    void outputGrads;
    throw new Error(`${this.constructor.name}.backward is not implemented`);
  }

  saveForBackward(...arrays: NDArray[]): void {
    savedOf.set(this, arrays);
  }

  get savedTensors(): NDArray[] {
    return savedOf.get(this) ?? [];
  }

  /** Run the function on `inputs` (MXNet's `f(*inputs)`). */
  apply(...inputs: NDArray[]): NDArray | NDArray[] {
    const name = this.constructor.name;
    for (const [i, x] of inputs.entries()) {
      if (!(x instanceof NDArray)) throw new Error(`${name}: input ${i} must be an NDArray (got ${describe(x)})`);
      x.handleFor(name);
    }
    const prevRec = wasm.nd_set_recording(0);
    let out: NDArray | NDArray[];
    try {
      out = this.forward(...inputs);
    } finally {
      wasm.nd_set_recording(prevRec);
    }
    const outs = asList(name, out);
    if (outs.length === 0 || !outs.every((o) => o instanceof NDArray)) {
      throw new Error(`${name}.forward must return an NDArray or a non-empty array of NDArrays (got ${describe(out)})`);
    }
    const arrays = outs as NDArray[];
    if (prevRec !== 0) {
      const id = nextId++;
      writeInts(name, [...inputs.map((x) => x.handleFor(name)), ...arrays.map((o) => o.handleFor(name))]);
      const r = wasm.nd_custom_record(id, inputs.length, arrays.length);
      checkStatus(r);
      if (r === 1) {
        // The engine-owned aliases keep what backward needs alive even if
        // the caller disposes (or scopes away) the arrays it saved.
        // A saved output is kept detached: with its graph place it would keep
        // its own node (and so itself) alive.
        const savedOutputs = this.savedTensors.some((a) => arrays.includes(a));
        const saved = this.savedTensors.map((a) => keep(new NDArray(checkedAlias(a, name, arrays.includes(a)), a.shape, a.dtype)));
        savedOf.set(this, saved);
        functions.set(id, {
          fn: this,
          inShapes: inputs.map((x) => x.shape),
          outShapes: arrays.map((o) => o.shape),
          outDtypes: arrays.map((o) => o.dtype),
          live: arrays.length,
          saved,
          savesOutputs: savedOutputs,
        });
      }
    }
    return out;
  }
}

function checkedAlias(a: NDArray, op: string, detach: boolean): number {
  if (!(a instanceof NDArray)) throw new Error(`${op}.saveForBackward: expected NDArrays (got ${describe(a)})`);
  const src = a.handleFor(`${op}.saveForBackward`);
  const h = detach ? wasm.nd_detach(src) : wasm.nd_alias(src);
  if (h === 0) checkStatus(-1);
  return h;
}

/** @internal Live custom-function records (for leak tests). */
export function liveFunctions(): number {
  return functions.size;
}
