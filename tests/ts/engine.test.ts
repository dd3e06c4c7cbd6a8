// The WebAssembly module itself: SIMD is really on, the vector kernels agree
// with the scalar oracle inside the .wasm, and the tables the TypeScript side
// reads from Rust at load time are complete.
import { afterEach, describe, expect, it } from "vitest";
import { nd, NDGradError } from "ndgrad";
import { BINARY, ERROR_KINDS, REDUCE, UNARY, wasm } from "../../pkg/ffi.js";
import { BINARY_OPS, INTERNAL_REDUCE_OPS, REDUCE_OPS, UNARY_OPS } from "../../pkg/opnames.js";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

describe("the .wasm module", () => {
  it("is built with simd128 and validates as SIMD code", async () => {
    expect(nd.simd()).toBe(true);
    const { readFile } = await import("node:fs/promises");
    const bytes = await readFile(new URL("../../pkg/ndgrad.wasm", import.meta.url));
    // Opcode prefix 0xfd is the SIMD proposal: present in the code section.
    expect(bytes.includes(0xfd)).toBe(true);
    expect(WebAssembly.validate(bytes)).toBe(true);
  });

  it("runs its vector kernels bit-identically to the scalar ones", () => {
    expect(wasm.nd_kernel_selftest()).toBe(0);
  });

  it("exposes every op and error kind the TypeScript side uses", () => {
    // The TypeScript lists that build nd and the worker's nd are the Rust enums.
    expect(Object.keys(BINARY)).toEqual([...BINARY_OPS]);
    expect(Object.keys(UNARY)).toEqual([...UNARY_OPS]);
    expect(Object.keys(REDUCE)).toEqual([...REDUCE_OPS, ...INTERNAL_REDUCE_OPS]);
    for (const name of [...BINARY_OPS, ...UNARY_OPS, ...REDUCE_OPS]) {
      expect(typeof (nd as unknown as Record<string, unknown>)[name], `nd.${name}`).toBe("function");
    }
    expect([...ERROR_KINDS.values()]).toEqual([
      "InvalidArgument", "ShapeMismatch", "InvalidHandle", "OutOfMemory", "Autograd", "Internal",
    ]);
  });

  it("reports engine errors as NDGradError with the Rust error kind", () => {
    using a = nd.ones([2, 3]);
    using b = nd.ones([4]);
    let err: unknown;
    try {
      a.add(b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NDGradError);
    expect((err as NDGradError).kind).toBe("ShapeMismatch");
    expect((err as Error).message).toBe("add: operands could not be broadcast together with shapes [2,3] [4]");
  });

  it("survives memory growth between calls (views are re-created)", () => {
    using small = nd.array([1, 2, 3]);
    const before = nd.memory().wasmBytes;
    nd.scope(() => {
      const big = nd.zeros([1 << 24]); // 64 MiB: forces memory.grow
      expect(nd.memory().wasmBytes).toBeGreaterThan(before);
      expect(big.sum().asscalar()).toBe(0);
    });
    expect(small.toArray()).toEqual([1, 2, 3]);
    expect(String(small)).toBe("\n[1. 2. 3.]\n<NDArray 3 @cpu(0)>");
  });

  it("seeded random numbers are reproducible", () => {
    nd.random.seed(123);
    using a = nd.random.uniform(-1, 1, [1000]);
    using n = nd.random.normal(0, 1, [1000]);
    nd.random.seed(123);
    using b = nd.random.uniform(-1, 1, [1000]);
    expect(b.toArray()).toEqual(a.toArray());
    const u = a.data();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(1);
    const v = n.data();
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    expect(Math.abs(mean)).toBeLessThan(0.15);
  });
});
