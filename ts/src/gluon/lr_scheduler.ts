// MXNet's learning-rate schedules (python/mxnet/lr_scheduler.py, 1.9.1),
// stateful as MXNet's are: `call(numUpdate)` is asked once per step.
import { describe } from "../args.js";

export interface SchedulerOptions {
  baseLr?: number;
  warmupSteps?: number;
  warmupBeginLr?: number;
  warmupMode?: "linear" | "constant";
}

export abstract class LRScheduler {
  baseLr: number;
  readonly warmupSteps: number;
  readonly warmupBeginLr: number;
  readonly warmupFinalLr: number;
  readonly warmupMode: "linear" | "constant";
  constructor(options: SchedulerOptions = {}) {
    this.baseLr = options.baseLr ?? 0.01;
    this.warmupSteps = options.warmupSteps ?? 0;
    this.warmupFinalLr = this.baseLr;
    this.warmupBeginLr = options.warmupBeginLr ?? 0;
    this.warmupMode = options.warmupMode ?? "linear";
    const op = this.constructor.name;
    if (!Number.isInteger(this.warmupSteps) || this.warmupSteps < 0) throw new Error(`${op}: warmupSteps must be a non-negative integer`);
    if (this.warmupBeginLr > this.warmupFinalLr) throw new Error(`${op}: baseLr has to be higher than warmupBeginLr`);
    if (this.warmupMode !== "linear" && this.warmupMode !== "constant") {
      throw new Error(`${op}: warmupMode must be "linear" or "constant" (got ${describe(this.warmupMode)})`);
    }
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
    super(options);
    if (typeof step !== "number" || step < 1) throw new Error(`FactorScheduler: step must be at least 1 (got ${describe(step)})`);
    this.step = step;
    this.factor = options.factor ?? 1;
    if (this.factor > 1) throw new Error(`FactorScheduler: factor must be no more than 1 (got ${this.factor})`);
    this.stopFactorLr = options.stopFactorLr ?? 1e-8;
  }
  call(numUpdate: number): number {
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
    super(options);
    if (!Array.isArray(steps) || steps.length < 1) throw new Error(`MultiFactorScheduler: steps must be a non-empty list (got ${describe(steps)})`);
    steps.forEach((s, i) => {
      if (i > 0 && s <= steps[i - 1]!) throw new Error("MultiFactorScheduler: schedule steps must be an increasing integer list");
      if (s < 1) throw new Error("MultiFactorScheduler: schedule steps must be at least 1");
    });
    this.steps = steps.slice();
    this.factor = options.factor ?? 1;
    if (this.factor > 1) throw new Error(`MultiFactorScheduler: factor must be no more than 1 (got ${this.factor})`);
  }
  call(numUpdate: number): number {
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
    super(options);
    if (!Number.isInteger(maxUpdate) || maxUpdate < 1) {
      throw new Error(`CosineScheduler: maxUpdate must be a positive integer (got ${describe(maxUpdate)})`);
    }
    this.maxUpdate = maxUpdate;
    this.finalLr = options.finalLr ?? 0;
    this.baseLrOrig = this.baseLr;
    this.maxSteps = maxUpdate - this.warmupSteps;
  }
  call(numUpdate: number): number {
    if (numUpdate < this.warmupSteps) return this.warmupLr(numUpdate);
    if (numUpdate <= this.maxUpdate) {
      this.baseLr =
        this.finalLr + ((this.baseLrOrig - this.finalLr) * (1 + Math.cos((Math.PI * (numUpdate - this.warmupSteps)) / this.maxSteps))) / 2;
    }
    return this.baseLr;
  }
}

export const lrScheduler = { LRScheduler, FactorScheduler, MultiFactorScheduler, CosineScheduler };
