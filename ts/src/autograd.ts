// MXNet's `autograd` module: recording scopes, modes and backward.
import { describe } from "./args.js";
import { checkStatus, io, wasm, withHostErrors, writeInts } from "./ffi.js";
import { checkGrad } from "./checkgrad.js";
import { Function } from "./function.js";
import { NDArray, runBackward, type BackwardOptions, type GradReq } from "./ndarray.js";

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

export interface GradOptions extends AutogradBackwardOptions {
  /** Record the backward pass, so the gradients can be differentiated again. */
  createGraph?: boolean;
}

function headsAndGrads(op: string, heads: unknown, options: AutogradBackwardOptions): [NDArray[], (NDArray | null)[]] {
  const hs = Array.isArray(heads) ? heads : [heads];
  if (hs.length === 0 || !hs.every((h) => h instanceof NDArray)) {
    throw new Error(`${op}: heads must be an NDArray or a non-empty array of NDArrays (got ${describe(heads)})`);
  }
  const hg = options.headGrads;
  const gs = hg === undefined || hg === null ? hs.map(() => null) : Array.isArray(hg) ? hg : [hg];
  if (gs.length !== hs.length) {
    throw new Error(`${op}: ${hs.length} heads but ${gs.length} head gradients`);
  }
  for (const g of gs) {
    if (g !== null && !(g instanceof NDArray)) {
      throw new Error(`${op}: head gradients must be NDArrays or null (got ${describe(g)})`);
    }
  }
  return [hs as NDArray[], gs as (NDArray | null)[]];
}

function flag(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new Error(`${op}: ${name} must be a boolean (got ${describe(v)})`);
  return v;
}

export const autograd = {
  Function,
  checkGrad,
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
  /**
   * MXNet's `mark_variables`: make each array a variable whose gradient is
   * written into the matching array of `gradients` (`gradReqs`: one for all,
   * or one each; default "write").
   */
  markVariables(
    variables: NDArray | NDArray[],
    gradients: NDArray | NDArray[],
    gradReqs: GradReq | GradReq[] = "write",
  ): void {
    const vs = Array.isArray(variables) ? variables : [variables];
    const gs = Array.isArray(gradients) ? gradients : [gradients];
    const rs = Array.isArray(gradReqs) ? gradReqs : vs.map(() => gradReqs);
    if (gs.length !== vs.length || rs.length !== vs.length) {
      throw new Error(
        `markVariables: ${vs.length} variables, ${gs.length} gradients and ${rs.length} gradReqs must have the same length`,
      );
    }
    vs.forEach((v, i) => {
      const g = gs[i];
      if (!(v instanceof NDArray) || !(g instanceof NDArray)) {
        throw new Error(`markVariables: variables and gradients must be NDArrays (got ${describe(v)} and ${describe(g)})`);
      }
      v.markVariable(g, rs[i]!);
    });
  },
  /** Backward from several heads at once. */
  backward(heads: NDArray | NDArray[], options: AutogradBackwardOptions = {}): void {
    const [hs, gs] = headsAndGrads("backward", heads, options);
    runBackward(hs, gs, options);
  },
  /**
   * The gradients of `heads` w.r.t. `variables` as new arrays (the
   * variables' `.grad` is left untouched). `retainGraph` defaults to
   * `createGraph`, as in MXNet; with `createGraph` the results can be
   * differentiated again (higher-order gradients), through every op: where
   * a gradient reads a variable only through a mask, an index or not at all
   * (relu, max, take, add, reshape, ...) its derivative is zeros.
   */
  grad(heads: NDArray | NDArray[], variables: NDArray | NDArray[], options: GradOptions = {}): NDArray[] {
    const [hs, gs] = headsAndGrads("grad", heads, options);
    const vs = Array.isArray(variables) ? variables : [variables];
    if (vs.length === 0 || !vs.every((v) => v instanceof NDArray)) {
      throw new Error(`grad: variables must be an NDArray or a non-empty array of NDArrays (got ${describe(variables)})`);
    }
    const create = flag("grad", "createGraph", options.createGraph, false);
    const retain = flag("grad", "retainGraph", options.retainGraph, create);
    const train = flag("grad", "trainMode", options.trainMode, true);
    writeInts("grad", [
      ...hs.map((h) => h.handleFor("grad")),
      ...gs.map((g) => (g === null ? 0 : g.handleFor("grad"))),
      ...vs.map((v) => v.handleFor("grad")),
    ]);
    withHostErrors(() => checkStatus(wasm.nd_grad_of(hs.length, vs.length, retain ? 1 : 0, create ? 1 : 0, train ? 1 : 0)));
    const ids = io();
    return vs.map((v, i) => new NDArray(ids[i]!, v.shape, v.dtype));
  },
};
