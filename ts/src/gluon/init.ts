// MXNet's initializers (python/mxnet/initializer.py, 1.9.1). Random ones
// draw from the engine's seeded generator (`nd.random.seed`), so a seeded
// run initialises identically in Node and browsers.
import { describe } from "../args.js";
import { random } from "../nd.js";
import type { NDArray } from "../ndarray.js";

/** What an initializer is told about the array it fills (MXNet's InitDesc). */
export interface InitDesc {
  name: string;
}

/**
 * The base class. Gluon calls an initializer on every parameter with no
 * initializer of its own; as in MXNet, that runs `initWeight` whatever the
 * parameter's name (layers give biases, BatchNorm's gamma/beta and running
 * statistics their own `Zero`/`One` initializers).
 */
export abstract class Initializer {
  /** Fill `arr` in place. */
  abstract initWeight(desc: InitDesc, arr: NDArray): void;

  /** MXNet's `__call__`. */
  call(desc: InitDesc, arr: NDArray): void {
    this.initWeight(desc, arr);
  }

  /** How MXNet's `dumps` names it, e.g. `["uniform", {"scale": 0.07}]`. */
  abstract dumps(): string;
}

function fillFrom(arr: NDArray, sample: NDArray): void {
  try {
    arr.set(sample);
  } finally {
    sample.dispose();
  }
}

function finite(op: string, what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${op}: ${what} must be a finite number (got ${describe(v)})`);
  }
  return v;
}

/** Uniform in [-scale, scale) (MXNet's default initializer, scale 0.07). */
export class Uniform extends Initializer {
  readonly scale: number;
  constructor(scale = 0.07) {
    super();
    this.scale = finite("init.Uniform", "scale", scale);
  }
  initWeight(_desc: InitDesc, arr: NDArray): void {
    fillFrom(arr, random.uniform(-this.scale, this.scale, arr.shape, arr.dtype));
  }
  dumps(): string {
    return JSON.stringify(["uniform", { scale: this.scale }]);
  }
}

/** Normal with mean 0 and standard deviation `sigma`. */
export class Normal extends Initializer {
  readonly sigma: number;
  constructor(sigma = 0.01) {
    super();
    this.sigma = finite("init.Normal", "sigma", sigma);
  }
  initWeight(_desc: InitDesc, arr: NDArray): void {
    fillFrom(arr, random.normal(0, this.sigma, arr.shape, arr.dtype));
  }
  dumps(): string {
    return JSON.stringify(["normal", { sigma: this.sigma }]);
  }
}

/** Every element `value`. */
export class Constant extends Initializer {
  readonly value: number;
  constructor(value: number) {
    super();
    this.value = finite("init.Constant", "value", value);
  }
  initWeight(_desc: InitDesc, arr: NDArray): void {
    arr.set(this.value);
  }
  dumps(): string {
    return JSON.stringify(["constant", { value: this.value }]);
  }
}

export class Zero extends Constant {
  constructor() {
    super(0);
  }
  override dumps(): string {
    return JSON.stringify(["zero", {}]);
  }
}

export class One extends Constant {
  constructor() {
    super(1);
  }
  override dumps(): string {
    return JSON.stringify(["one", {}]);
  }
}

export interface XavierOptions {
  rndType?: "uniform" | "gaussian";
  factorType?: "avg" | "in" | "out";
  magnitude?: number;
}

/**
 * MXNet's Xavier: fan_in = shape[1]·prod(shape[2:]), fan_out =
 * shape[0]·prod(shape[2:]); scale = sqrt(magnitude / factor), then
 * uniform in [-scale, scale) or normal with standard deviation scale.
 */
export class Xavier extends Initializer {
  readonly rndType: "uniform" | "gaussian";
  readonly factorType: "avg" | "in" | "out";
  readonly magnitude: number;
  constructor(options: XavierOptions = {}) {
    super();
    const { rndType = "uniform", factorType = "avg", magnitude = 3 } = options;
    if (rndType !== "uniform" && rndType !== "gaussian") {
      throw new Error(`init.Xavier: rndType must be "uniform" or "gaussian" (got ${describe(rndType)})`);
    }
    if (factorType !== "avg" && factorType !== "in" && factorType !== "out") {
      throw new Error(`init.Xavier: factorType must be "avg", "in" or "out" (got ${describe(factorType)})`);
    }
    this.rndType = rndType;
    this.factorType = factorType;
    this.magnitude = finite("init.Xavier", "magnitude", magnitude);
  }
  initWeight(desc: InitDesc, arr: NDArray): void {
    const shape = arr.shape;
    if (shape.length < 2) {
      throw new Error(
        `init.Xavier: cannot initialize ${desc.name} of shape [${shape.join(",")}]: Xavier needs at least 2 dimensions (MXNet refuses vectors too)`,
      );
    }
    let hwScale = 1;
    for (let i = 2; i < shape.length; i++) hwScale *= shape[i]!;
    const fanIn = shape[1]! * hwScale;
    const fanOut = shape[0]! * hwScale;
    const factor = this.factorType === "avg" ? (fanIn + fanOut) / 2 : this.factorType === "in" ? fanIn : fanOut;
    const scale = Math.sqrt(this.magnitude / factor);
    fillFrom(
      arr,
      this.rndType === "uniform" ? random.uniform(-scale, scale, shape, arr.dtype) : random.normal(0, scale, shape, arr.dtype),
    );
  }
  dumps(): string {
    return JSON.stringify(["xavier", { rnd_type: this.rndType, factor_type: this.factorType, magnitude: this.magnitude }]);
  }
}

/** MXNet's MSRAPrelu (He et al.): Xavier gaussian with magnitude 2/(1+slope²). */
export class MSRAPrelu extends Xavier {
  readonly slope: number;
  constructor(options: { factorType?: "avg" | "in" | "out"; slope?: number } = {}) {
    const slope = finite("init.MSRAPrelu", "slope", options.slope ?? 0.25);
    super({ rndType: "gaussian", factorType: options.factorType ?? "avg", magnitude: 2 / (1 + slope * slope) });
    this.slope = slope;
  }
  override dumps(): string {
    return JSON.stringify(["msraprelu", { factor_type: this.factorType, slope: this.slope }]);
  }
}

/** An initializer given by MXNet's registered name (`"zeros"`, `"xavier"` …) or as an object. */
export function create(v: Initializer | string, op = "initialize"): Initializer {
  if (v instanceof Initializer) return v;
  if (typeof v === "string") {
    switch (v.toLowerCase()) {
      case "zeros":
      case "zero":
        return new Zero();
      case "ones":
      case "one":
        return new One();
      case "uniform":
        return new Uniform();
      case "normal":
        return new Normal();
      case "xavier":
        return new Xavier();
      case "msraprelu":
        return new MSRAPrelu();
    }
  }
  throw new Error(
    `${op}: unknown initializer ${describe(v)} (expected an init.Initializer or one of "zeros", "ones", "uniform", "normal", "xavier", "msraprelu")`,
  );
}

/** MXNet's `mx.init`. */
export const init = { Initializer, Uniform, Normal, Zero, One, Constant, Xavier, MSRAPrelu, create };
