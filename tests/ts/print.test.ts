// NDArray printing end to end: values go into the engine, come back out, and
// String(x) is MXNet's repr around NumPy's str() from tests/vectors/print.json.
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { nd } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";
import { arrayCases, arrayData } from "./print-vectors.js";

afterEach(expectNoLeaks);

// MXNet 1.x has no 0-d arrays; every case with a shape does, in each dtype
// (MXNet's repr does not name the dtype; NumPy's str() of the values does
// differ: `[1 2 3]` for int32, 17 significant digits for float64).
const withShape = arrayCases.filter((c) => c.shape.length > 0);
const typed = (dtype: string, values: number[]): Float32Array | Float64Array | Int32Array =>
  dtype === "float64" ? new Float64Array(values) : dtype === "int32" ? new Int32Array(values) : new Float32Array(values);

describe("String(NDArray) is MXNet's repr", () => {
  it("covers many vectors of every dtype", () => {
    for (const [dtype, least] of [["float32", 200], ["float64", 50], ["int32", 20]] as const) {
      expect(withShape.filter((c) => c.dtype === dtype).length, dtype).toBeGreaterThan(least);
    }
  });

  it.each(withShape.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    using x = nd.array(typed(c.dtype, arrayData(c)), { shape: c.shape, dtype: c.dtype as "float32" });
    expect(x.dtype).toBe(c.dtype);
    const expected = `\n${c.str}\n<NDArray ${c.shape.join("x")} @cpu(0)>`;
    expect(String(x)).toBe(expected);
    expect(inspect(x)).toBe(expected);
  });
});
