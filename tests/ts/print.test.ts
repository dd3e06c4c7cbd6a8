// NDArray printing end to end: values go into the engine, come back out, and
// String(x) is MXNet's repr around NumPy's str() from tests/vectors/print.json.
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { nd } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";
import { arrayCases, arrayData } from "./print-vectors.js";

afterEach(expectNoLeaks);

// MXNet 1.x has no 0-d arrays; every float32 case with a shape does.
const f32 = arrayCases.filter((c) => c.dtype === "float32" && c.shape.length > 0);

describe("String(NDArray) is MXNet's repr", () => {
  it("covers many float32 vectors", () => {
    expect(f32.length).toBeGreaterThan(200);
  });

  it.each(f32.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    using x = nd.array(new Float32Array(arrayData(c)), { shape: c.shape });
    const expected = `\n${c.str}\n<NDArray ${c.shape.join("x")} @cpu(0)>`;
    expect(String(x)).toBe(expected);
    expect(inspect(x)).toBe(expected);
  });
});
