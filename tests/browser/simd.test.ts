// Browser only: the engine really runs WebAssembly SIMD in Chromium.
import { describe, expect, it } from "vitest";
import { autograd, nd } from "ndgrad";
import { wasm } from "../../pkg/ffi.js";
import { RELAXED_SIMD_PROBE } from "../../pkg/loader.js";

/** (module (func (result v128) (v128.const i32x4 0 0 0 0))): valid only where SIMD is. */
const SIMD_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b, // code: v128.const
]);

describe("WebAssembly SIMD in the browser", () => {
  it("runs in a real browser, not Node", () => {
    expect(typeof window).toBe("object");
    expect(typeof document).toBe("object");
    expect(navigator.userAgent).toMatch(/Chrome\/\d+/);
    expect((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node).toBeUndefined();
  });

  it("the browser validates SIMD code, and ndgrad's module was built with it", async () => {
    expect(WebAssembly.validate(SIMD_MODULE)).toBe(true);
    // The same module with v128 replaced by i32 (an MVP type) is still valid: the check is about SIMD.
    const mvp = SIMD_MODULE.slice();
    mvp[14] = 0x7f;
    expect(WebAssembly.validate(mvp)).toBe(false); // the body still returns a v128
    const response = await fetch(new URL("../../pkg/ndgrad.wasm", import.meta.url));
    expect(response.ok).toBe(true);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(WebAssembly.validate(bytes)).toBe(true);
    const module = await WebAssembly.compile(bytes);
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain("nd_simd_enabled");
    // 0xfd is the SIMD opcode prefix: the code section uses it.
    expect(bytes.includes(0xfd)).toBe(true);
  });

  it("nd.simd() is true and the vector kernels agree with the scalar ones", () => {
    expect(nd.simd()).toBe(true);
    expect(wasm.nd_kernel_selftest()).toBe(0);
  });

  it("Chromium validates relaxed SIMD, so the relaxed build is loaded (GEMM with fused multiply-adds)", () => {
    expect(WebAssembly.validate(RELAXED_SIMD_PROBE)).toBe(true);
    expect(nd.relaxedSimd()).toBe(true);
    expect(wasm.nd_relaxed_simd()).toBe(1);
    // Within float32 rounding of the exact product.
    nd.scope(() => {
      const a = nd.arange(0, 64 * 48).reshape([64, 48]).div(1000);
      const b = nd.arange(0, 48 * 40).reshape([48, 40]).div(-777);
      const c = nd.dot(a, b).data();
      const av = a.data();
      const bv = b.data();
      for (const [i, j] of [[0, 0], [13, 29], [63, 39]] as const) {
        let exact = 0;
        for (let p = 0; p < 48; p++) exact += av[i * 48 + p]! * bv[p * 40 + j]!;
        expect(Math.abs(c[i * 40 + j]! - exact)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(exact)));
      }
    });
  });

  it("computes a large SIMD reduction and its gradient exactly", () => {
    nd.scope(() => {
      const n = 1 << 16;
      const x = nd.arange(0, n).div(n); // exact in float32: k / 2^16
      x.attachGrad();
      const y = autograd.record(() => x.mul(2).sum());
      y.backward();
      expect(y.asscalar()).toBe(n - 1); // 2 * (n-1)/2
      const g = x.grad!.data();
      expect(g.length).toBe(n);
      expect(g.every((v) => v === 2)).toBe(true);
      x.dispose();
    });
    expect(nd.memory().arrays).toBe(0);
  });
});
