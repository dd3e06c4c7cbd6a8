// MXNet's learning-rate schedules (python/mxnet/lr_scheduler.py, 1.9.1),
// stateful as MXNet's are: `call(numUpdate)` is asked once per step.
import { describe } from "../args.js";

export interface SchedulerOptions {
  baseLr?: number;
  warmupSteps?: number;
  warmupBeginLr?: number;
  warmupMode?: "linear" | "constant";
}

/**
 * An option that must be a finite number (MXNet's floats), or its default
 * when absent; the Error names the scheduler and the option.
 */
function numOpt(op: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${op}: ${name} must be a finite number (got ${describe(v)})`);
  return v;
}

/** The options object itself, and no option the scheduler does not know (MXNet's TypeError for an unknown keyword). */
function checkOptions(op: string, options: unknown, known: readonly string[] | null): Record<string, unknown> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new Error(`${op}: options must be an object (got ${describe(options)})`);
  }
  if (known !== null) {
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) throw new Error(`${op}: unknown option "${k}" (expected one of ${known.join(", ")})`);
    }
  }
  return options as Record<string, unknown>;
}

const BASE_OPTIONS = ["baseLr", "warmupSteps", "warmupBeginLr", "warmupMode"] as const;

export abstract class LRScheduler {
  baseLr: number;
  readonly warmupSteps: number;
  readonly warmupBeginLr: number;
  readonly warmupFinalLr: number;
  readonly warmupMode: "linear" | "constant";
  /**
   * `extra`: the built-in subclass's own option names, for the
   * unknown-option check (null, as from a user's subclass: no check, the
   * object may carry the subclass's options too).
   */
  constructor(options: SchedulerOptions = {}, extra: readonly string[] | null = null) {
    const op = this.constructor.name;
    // The checks of LRScheduler.__init__ (python/mxnet/lr_scheduler.py,
    // 1.9.1), plus the types Python's arithmetic would have caught later.
    const o = checkOptions(op, options, extra === null ? null : [...BASE_OPTIONS, ...extra]);
    this.baseLr = numOpt(op, "baseLr", o.baseLr, 0.01);
    const ws = o.warmupSteps ?? 0;
    if (typeof ws !== "number" || !Number.isInteger(ws) || ws < 0) {
      throw new Error(`${op}: warmupSteps must be a non-negative integer (got ${describe(ws)})`);
    }
    this.warmupSteps = ws;
    this.warmupFinalLr = this.baseLr;
    this.warmupBeginLr = numOpt(op, "warmupBeginLr", o.warmupBeginLr, 0);
    const mode = o.warmupMode ?? "linear";
    if (mode !== "linear" && mode !== "constant") {
      throw new Error(`${op}: warmupMode must be "linear" or "constant" (got ${describe(mode)})`);
    }
    this.warmupMode = mode;
    if (this.warmupBeginLr > this.warmupFinalLr) {
      throw new Error(`${op}: baseLr (${this.baseLr}) has to be higher than warmupBeginLr (${this.warmupBeginLr})`);
    }
  }
  /** `numUpdate` checked: a count of updates. */
  protected updates(numUpdate: unknown): number {
    if (typeof numUpdate !== "number" || !Number.isInteger(numUpdate) || numUpdate < 0) {
      throw new Error(`${this.constructor.name}.call: numUpdate must be a non-negative integer (got ${describe(numUpdate)})`);
    }
    return numUpdate;
  }
  protected warmupLr(numUpdate: number): number {
    if (this.warmupMode === "linear") {
      return this.warmupBeginLr + ((this.warmupFinalLr - this.warmupBeginLr) * numUpdate) / this.warmupSteps;
    }
    return this.warmupBeginLr;
  }
  /** The learning rate after `numUpdate` updates. */
  abstract call(numUpdate: number): number;
}

/** lr × factor every `step` updates, not below `stopFactorLr`. */
export class FactorScheduler extends LRScheduler {
  readonly step: number;
  readonly factor: number;
  readonly stopFactorLr: number;
  count = 0;
  constructor(step: number, options: SchedulerOptions & { factor?: number; stopFactorLr?: number } = {}) {
    super(options, new.target === FactorScheduler ? ["factor", "stopFactorLr"] : null);
    // FactorScheduler.__init__'s checks: step >= 1, factor <= 1.
    if (typeof step !== "number" || !Number.isFinite(step) || step < 1) {
      throw new Error(`FactorScheduler: step must be a number of at least 1 (got ${describe(step)})`);
    }
    this.step = step;
    this.factor = numOpt("FactorScheduler", "factor", options.factor, 1);
    if (this.factor > 1) throw new Error(`FactorScheduler: factor must be no more than 1 (got ${this.factor})`);
    this.stopFactorLr = numOpt("FactorScheduler", "stopFactorLr", options.stopFactorLr, 1e-8);
  }
  call(numUpdate: number): number {
    this.updates(numUpdate);
    if (numUpdate < this.warmupSteps) return this.warmupLr(numUpdate);
    while (numUpdate > this.count + this.step) {
      this.count += this.step;
      this.baseLr *= this.factor;
      if (this.baseLr < this.stopFactorLr) this.baseLr = this.stopFactorLr;
    }
    return this.baseLr;
  }
}

/** lr × factor after each update count in `steps` (increasing). */
export class MultiFactorScheduler extends LRScheduler {
  readonly steps: number[];
  readonly factor: number;
  curStepInd = 0;
  count = 0;
  constructor(steps: number[], options: SchedulerOptions & { factor?: number } = {}) {
    super(options, new.target === MultiFactorScheduler ? ["factor"] : null);
    // MultiFactorScheduler.__init__'s checks: a non-empty list, increasing,
    // every step >= 1, factor <= 1.
    if (!Array.isArray(steps) || steps.length < 1) throw new Error(`MultiFactorScheduler: steps must be a non-empty list (got ${describe(steps)})`);
    steps.forEach((s: unknown, i) => {
      if (typeof s !== "number" || !Number.isFinite(s)) {
        throw new Error(`MultiFactorScheduler: steps[${i}] must be a number (got ${describe(s)})`);
      }
      if (i > 0 && s <= steps[i - 1]!) {
        throw new Error(`MultiFactorScheduler: schedule steps must be an increasing integer list (got ${describe(steps)})`);
      }
      if (s < 1) throw new Error(`MultiFactorScheduler: schedule steps must be at least 1 (got ${describe(steps)})`);
    });
    this.steps = steps.slice();
    this.factor = numOpt("MultiFactorScheduler", "factor", options.factor, 1);
    if (this.factor > 1) throw new Error(`MultiFactorScheduler: factor must be no more than 1 (got ${this.factor})`);
  }
  call(numUpdate: number): number {
    this.updates(numUpdate);
    if (numUpdate < this.warmupSteps) return this.warmupLr(numUpdate);
    while (this.curStepInd <= this.steps.length - 1) {
      if (numUpdate > this.steps[this.curStepInd]!) {
        this.count = this.steps[this.curStepInd]!;
        this.curStepInd += 1;
        this.baseLr *= this.factor;
      } else {
        return this.baseLr;
      }
    }
    return this.baseLr;
  }
}

/** Half a cosine from baseLr down to finalLr over maxUpdate updates. */
export class CosineScheduler extends LRScheduler {
  readonly maxUpdate: number;
  readonly finalLr: number;
  readonly baseLrOrig: number;
  readonly maxSteps: number;
  constructor(maxUpdate: number, options: SchedulerOptions & { finalLr?: number } = {}) {
    super(options, new.target === CosineScheduler ? ["finalLr"] : null);
    // CosineScheduler.__init__'s checks: an integer maxUpdate >= 1.
    if (!Number.isInteger(maxUpdate) || maxUpdate < 1) {
      throw new Error(`CosineScheduler: maxUpdate must be a positive integer (got ${describe(maxUpdate)})`);
    }
    // MXNet divides by maxUpdate - warmupSteps at update maxUpdate (a
    // ZeroDivisionError there when they are equal): refused up front.
    if (this.warmupSteps === maxUpdate) {
      throw new Error(`CosineScheduler: warmupSteps (${this.warmupSteps}) must differ from maxUpdate (${maxUpdate}): no updates are left to decay over`);
    }
    this.maxUpdate = maxUpdate;
    this.finalLr = numOpt("CosineScheduler", "finalLr", options.finalLr, 0);
    this.baseLrOrig = this.baseLr;
    this.maxSteps = maxUpdate - this.warmupSteps;
  }
  call(numUpdate: number): number {
    this.updates(numUpdate);
    if (numUpdate < this.warmupSteps) return this.warmupLr(numUpdate);
    if (numUpdate <= this.maxUpdate) {
      this.baseLr =
        this.finalLr + ((this.baseLrOrig - this.finalLr) * (1 + Math.cos((Math.PI * (numUpdate - this.warmupSteps)) / this.maxSteps))) / 2;
    }
    return this.baseLr;
  }
}

export const lrScheduler = { LRScheduler, FactorScheduler, MultiFactorScheduler, CosineScheduler };
