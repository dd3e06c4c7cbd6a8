import { describe, it, expect } from "vitest";
import { formatArray, formatScalar } from "../../ts/src/format.ts";
import { arrayCases, arrayData, cases, decode, scalarCases } from "./print-vectors.js";

describe("print.json vectors", () => {
  it("has the expected number of cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(300);
    expect(arrayCases.length + scalarCases.length).toBe(cases.length);
  });

  it.each(arrayCases.map((c) => [c.name, c] as const))("array %s", (_name, c) => {
    expect(formatArray(arrayData(c), c.shape, c.dtype)).toBe(c.str);
  });

  it.each(scalarCases.map((c) => [c.name, c] as const))("scalar %s", (_name, c) => {
    expect(formatScalar(decode(c.scalar), c.dtype)).toBe(c.str);
  });
});

describe("formatArray", () => {
  it("prints the MXNet tutorial arrays", () => {
    expect(formatArray([1, 2, 3, 4], [2, 2], "float32")).toBe("[[1. 2.]\n [3. 4.]]");
    expect(formatArray([2, 8, 18, 32], [2, 2], "float32")).toBe("[[ 2.  8.]\n [18. 32.]]");
    expect(formatArray([1024, 0], [2], "float32")).toBe("[1024.    0.]");
    expect(formatArray([1024, -2088.4265], [2], "float32")).toBe("[ 1024.     -2088.4265]");
    expect(formatArray([0.9273255, -0.45468742], [2], "float32")).toBe("[ 0.9273255  -0.45468742]");
    expect(formatArray(new Float32Array([9.695359]), [1], "float32")).toBe("[9.695359]");
  });

  it("prints ints, scalars and empty arrays", () => {
    expect(formatArray([1, 2, 3], [3], "int32")).toBe("[1 2 3]");
    expect(formatArray([-1, 20, 300], [3], "int32")).toBe("[ -1  20 300]");
    expect(formatArray([2.5], [], "float32")).toBe("2.5");
    expect(formatArray([], [0], "float64")).toBe("[]");
    expect(formatArray([], [2, 0], "float32")).toBe("[]");
  });

  it("prints nan, inf and negative zero", () => {
    expect(formatArray([NaN, Infinity, -Infinity], [3], "float64")).toBe("[ nan  inf -inf]");
    expect(formatArray([-0, 1], [2], "float32")).toBe("[-0.  1.]");
    expect(formatArray([1e10, 1], [2], "float64")).toBe("[1.e+10 1.e+00]");
  });

  it("rejects a shape that does not match the data", () => {
    expect(() => formatArray([1, 2, 3], [2, 2], "float32")).toThrow(RangeError);
  });

  it("prints a 1000x1000 array (summarised) quickly", () => {
    const data = new Float32Array(1000 * 1000);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 100;
    const t0 = performance.now();
    const s = formatArray(data, [1000, 1000], "float32");
    const ms = performance.now() - t0;
    expect(s.startsWith("[[")).toBe(true);
    expect(s).toContain("...");
    expect(ms).toBeLessThan(1000);
  });
});

describe("formatScalar", () => {
  it("prints like str(np.float32(v))", () => {
    expect(formatScalar(1.8905523, "float32")).toBe("1.8905523");
    expect(formatScalar(2, "float32")).toBe("2.0");
    expect(formatScalar(1e-5, "float32")).toBe("1e-05");
    expect(formatScalar(NaN, "float32")).toBe("nan");
    expect(formatScalar(Infinity, "float32")).toBe("inf");
    expect(formatScalar(-Infinity, "float32")).toBe("-inf");
    expect(formatScalar(-0, "float32")).toBe("-0.0");
    expect(formatScalar(1e20, "float32")).toBe("1e+20");
  });

  it("prints like str(np.float64(v)) and str(np.int32(v))", () => {
    expect(formatScalar(1.0000000200408773e20, "float64")).toBe("1.0000000200408773e+20");
    expect(formatScalar(0.1, "float64")).toBe("0.1");
    expect(formatScalar(1e16, "float64")).toBe("1e+16");
    expect(formatScalar(-7, "int32")).toBe("-7");
  });
});
