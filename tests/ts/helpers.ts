import { existsSync, readFileSync } from "node:fs";
import { expect } from "vitest";
import { nd } from "ndgrad";

/** Every test frees what it creates: the engine's live counts are back to zero. */
export function expectNoLeaks(): void {
  const m = nd.memory();
  expect({ arrays: m.arrays, tapeNodes: m.tapeNodes }).toEqual({ arrays: 0, tapeNodes: 0 });
  expect(m.bytes).toBe(0);
}

/** A committed reference-vector file from tests/vectors. */
export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8")) as T;
}

/** The operator reference cases: for each set named in
 *  tests/vectors/sets.json ("ops", then one per generator script), the
 *  shards `<set>-NN.json` (each a JSON list; the generators keep each file
 *  under 1 MiB), read in order until the next one is missing (no directory
 *  listing: the browser tests fetch files from the Vite server). */
export function opsVectors<T>(): T[] {
  const out: T[] = [];
  for (const set of vectors<string[]>("sets.json")) {
    const before = out.length;
    for (let i = 0; ; i++) {
      const url = new URL(`../vectors/${set}-${String(i).padStart(2, "0")}.json`, import.meta.url);
      if (!existsSync(url)) break;
      out.push(...(JSON.parse(readFileSync(url, "utf8") as string) as T[]));
    }
    if (out.length === before) throw new Error(`no tests/vectors/${set}-NN.json (run its tests/vectors/gen_*.py)`);
  }
  return out;
}

/** The seed notebook's text (a committed copy of shared/seed/autograd-tutorial.txt). */
export function seedText(): string {
  return readFileSync(new URL("../fixtures/autograd-tutorial.txt", import.meta.url), "utf8");
}

/** A number as the vector files write it: NaN, ±inf and -0 as strings. */
export type Value = number | "nan" | "inf" | "-inf" | "-0";

export function decodeValue(v: Value): number {
  switch (v) {
    case "nan":
      return NaN;
    case "inf":
      return Infinity;
    case "-inf":
      return -Infinity;
    case "-0":
      return -0;
    default:
      return v;
  }
}

/** mulberry32: a small seeded PRNG (same sequence everywhere). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
