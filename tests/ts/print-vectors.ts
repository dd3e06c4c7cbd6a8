// The printing vectors of tests/vectors/print.json, decoded; shared by the
// formatter tests and the NDArray printing tests.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { DType } from "../../ts/src/format.ts";
import { decodeValue, type Value } from "./helpers.js";

// Vectors written by tests/vectors/gen_print.py with NumPy 1.24 (see the
// format description at the top of that script).

export type { Value };
type DataGen = { arange: [number, number] } | { lcg: [number, number, number] } | { lcgint: [number, number] };

export interface ArrayCase {
  name: string;
  dtype: DType;
  shape: number[];
  data: Value[] | DataGen;
  str: string;
}

export interface ScalarCase {
  name: string;
  dtype: DType;
  scalar: Value;
  str: string;
}

export type Case = ArrayCase | ScalarCase;

const vectorsPath = fileURLToPath(new URL("../vectors/print.json", import.meta.url));
export const cases = JSON.parse(readFileSync(vectorsPath, "utf8")) as Case[];

export const decode = decodeValue;

function* lcg(seed: number, n: number): Generator<number> {
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    yield x;
  }
}

function expand(gen: DataGen, n: number): Float64Array {
  const out = new Float64Array(n);
  if ("arange" in gen) {
    const [start, step] = gen.arange;
    for (let i = 0; i < n; i++) out[i] = start + i * step;
  } else if ("lcg" in gen) {
    const [seed, scale, offset] = gen.lcg;
    let i = 0;
    for (const x of lcg(seed, n)) out[i++] = (x / 4294967296 - 0.5) * scale + offset;
  } else {
    const [seed, modulus] = gen.lcgint;
    const half = Math.floor(modulus / 2);
    let i = 0;
    for (const x of lcg(seed, n)) out[i++] = (x % modulus) - half;
  }
  return out;
}

export function arrayData(c: ArrayCase): ArrayLike<number> {
  const n = c.shape.reduce((a, b) => a * b, 1);
  if (Array.isArray(c.data)) {
    return c.data.map(decode);
  }
  return expand(c.data, n);
}

export const arrayCases = cases.filter((c): c is ArrayCase => "shape" in c);
export const scalarCases = cases.filter((c): c is ScalarCase => "scalar" in c);

