// MXNet's `autograd` module: recording scopes, modes and backward.
import { describe } from "./args.js";
import { wasm } from "./ffi.js";
import { NDArray, runBackward, type BackwardOptions } from "./ndarray.js";

export interface ModeOptions {
  trainMode?: boolean;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/** Run `fn` with recording and training set, restoring both afterwards
 *  (also on exceptions; for an async `fn`, once its promise settles). */
function withMode<T>(op: string, recording: boolean, training: boolean, fn: () => T): T {
  if (typeof fn !== "function") throw new Error(`${op}: expected a function (got ${describe(fn)})`);
  const prevRec = wasm.nd_set_recording(recording ? 1 : 0);
  const prevTrain = wasm.nd_set_training(training ? 1 : 0);
  const restore = (): void => {
    wasm.nd_set_recording(prevRec);
    wasm.nd_set_training(prevTrain);
  };
  let out: T;
  try {
    out = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (isThenable(out)) {
    return Promise.resolve(out).finally(restore) as T;
  }
  restore();
  return out;
}

function train(op: string, options: ModeOptions | undefined, dflt: boolean): boolean {
  const t = options?.trainMode;
  if (t === undefined) return dflt;
  if (typeof t !== "boolean") throw new Error(`${op}: trainMode must be a boolean (got ${describe(t)})`);
  return t;
}

export interface AutogradBackwardOptions extends BackwardOptions {
  headGrads?: (NDArray | null)[] | NDArray | null;
}

export const autograd = {
  /** MXNet's `with autograd.record():` — ops inside are recorded. */
  record<T>(fn: () => T, options?: ModeOptions): T {
    return withMode("record", true, train("record", options, true), fn);
  },
  /** MXNet's `with autograd.pause():` — ops inside are not recorded. */
  pause<T>(fn: () => T, options?: ModeOptions): T {
    return withMode("pause", false, train("pause", options, false), fn);
  },
  /** Training mode inside `fn`, recording unchanged. */
  trainMode<T>(fn: () => T): T {
    return withMode("trainMode", wasm.nd_is_recording() !== 0, true, fn);
  },
  /** Prediction mode inside `fn`, recording unchanged. */
  predictMode<T>(fn: () => T): T {
    return withMode("predictMode", wasm.nd_is_recording() !== 0, false, fn);
  },
  isRecording(): boolean {
    return wasm.nd_is_recording() !== 0;
  },
  isTraining(): boolean {
    return wasm.nd_is_training() !== 0;
  },
  /** Backward from several heads at once. */
  backward(heads: NDArray | NDArray[], options: AutogradBackwardOptions = {}): void {
    const hs = Array.isArray(heads) ? heads : [heads];
    if (hs.length === 0 || !hs.every((h) => h instanceof NDArray)) {
      throw new Error(`backward: heads must be an NDArray or a non-empty array of NDArrays (got ${describe(heads)})`);
    }
    const hg = options.headGrads;
    const gs = hg === undefined || hg === null ? hs.map(() => null) : Array.isArray(hg) ? hg : [hg];
    if (gs.length !== hs.length) {
      throw new Error(`backward: ${hs.length} heads but ${gs.length} head gradients`);
    }
    for (const g of gs) {
      if (g !== null && !(g instanceof NDArray)) throw new Error(`backward: head gradients must be NDArrays or null (got ${describe(g)})`);
    }
    runBackward(hs, gs, options);
  },
};
