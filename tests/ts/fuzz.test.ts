// A seeded fuzzer of the raw WebAssembly exports: random calls with random
// (mostly invalid) handles, counts, shapes, axes, codes and numbers, and
// random contents in the I/O area. The instance must never trap, live
// counts must match what the calls reported, and an array made through the
// public API beforehand must keep its values.
import { describe, expect, it } from "vitest";
import { autograd, nd } from "ndgrad";
import { io, wasm } from "../../pkg/ffi.js";
import { prng } from "./helpers.js";


/** Exports that return a new handle (0 on failure). */
const MAKES_HANDLE = new Set([
  "nd_alloc", "nd_full", "nd_arange", "nd_random_uniform", "nd_random_normal", "nd_binary", "nd_binary_scalar",
  "nd_unary", "nd_reduce", "nd_reshape", "nd_transpose", "nd_broadcast_to", "nd_slice", "nd_at", "nd_copy",
  "nd_dot", "nd_concat", "nd_batch_dot", "nd_detach", "nd_grad", "nd_alias", "nd_astype",
  "nd_where", "nd_clip", "nd_leaky_relu", "nd_softmax", "nd_take", "nd_pick", "nd_one_hot", "nd_argext", "nd_topk",
  "nd_sort", "nd_tile", "nd_repeat", "nd_flip", "nd_slice_multi", "nd_slice_axis",
  // ---- conv branch (issue #12) ----
  "nd_convolution",
  // Pooling, BatchNorm, LayerNorm (pool branch)
  "nd_pooling", "nd_batch_norm", "nd_layer_norm",
  // nnmisc group (issue #12)
  "nd_fully_connected", "nd_embedding", "nd_activation", "nd_leaky_relu_act", "nd_flatten", "nd_softmax_cross_entropy",
]);
/** Exports whose arguments are (code or handle or count) — everything but these few is fuzzed. */
const SKIP = new Set(["memory", "nd_init"]);

const ITERATIONS = 15_000;

describe("fuzzing the raw exports", () => {
  it(`${ITERATIONS} random calls never trap and keep the counts exact`, () => {
    const rand = prng(20261126);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const names = Object.keys(wasm).filter(
      (n) => typeof (wasm as unknown as Record<string, unknown>)[n] === "function" && !SKIP.has(n),
    );
    expect(names.length).toBeGreaterThan(40);

    const canary = nd.array([[1.5, -2], [3, 4]]);
    const canaryHandle = canary.handleFor("fuzz");
    const base = nd.memory().arrays;
    const live: number[] = [];
    let expected = base;
    let stale: number[] = [];

    const small = (): number => pick([0, 1, 2, 3, 4, 7, -1, -2]);
    const intArg = (): number => {
      const r = rand();
      if (r < 0.35 && live.length > 0) return pick(live);
      if (r < 0.45 && stale.length > 0) return pick(stale);
      if (r < 0.75) return small();
      if (r < 0.85) return pick([0x7fffffff, -0x80000000, 0xffffffff, 1 << 20, 255, 256, 4096, 4097]);
      return Math.floor(rand() * 2 ** 32) | 0;
    };
    const numArg = (): number =>
      rand() < 0.7 ? intArg() : pick([NaN, Infinity, -Infinity, 0.5, -0.5, 1e30, -1e-30, 2 ** 53]);
    const fillIo = (): void => {
      const v = io();
      const n = Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) {
        // Dims stay small or are absurd (refused before any allocation).
        v[i] = rand() < 0.6 ? (live.length > 0 && rand() < 0.5 ? pick(live) : pick([0, 1, 2, 3, 4])) : intArg();
      }
    };

    for (let it = 0; it < ITERATIONS; it++) {
      const name = pick(names);
      const f = (wasm as unknown as Record<string, (...a: number[]) => number>)[name]!;
      fillIo();
      // The canary is the public API's array: the fuzzer may not name it
      // (a raw nd_free of its handle would be a legitimate free).
      const args = Array.from({ length: f.length }, numArg).map((a) => (a === canaryHandle ? 0 : a));
      const v = io();
      for (let i = 0; i < 16; i++) if (v[i] === canaryHandle) v[i] = 0;
      let r: number;
      try {
        r = f(...args);
      } catch (e) {
        throw new Error(`${name}(${args.join(", ")}) threw ${String(e)} at iteration ${it}`);
      }
      if (MAKES_HANDLE.has(name) && r !== 0) {
        expected += 1;
        live.push(r);
      } else if (name === "nd_free" && r === 1) {
        expected -= 1;
        const i = live.indexOf(args[0]!);
        if (i >= 0) live.splice(i, 1);
        stale.push(args[0]!);
      } else if (name === "nd_grad_of" && r === 0) {
        const m = args[1]!;
        const v = io();
        for (let i = 0; i < m; i++) live.push(v[i]!);
        expected += m;
      }
      if (stale.length > 64) stale = stale.slice(-32);
      // Keep memory bounded: free a random live array now and then.
      if (live.length > 200) {
        const h = live.splice(Math.floor(rand() * live.length), 1)[0]!;
        if (wasm.nd_free(h) === 1) expected -= 1;
      }
      if (it % 1000 === 0) expect(wasm.nd_live_arrays(), `live arrays after ${name} at ${it}`).toBe(expected);
    }
    expect(wasm.nd_live_arrays()).toBe(expected);

    // The engine still works, and earlier arrays are intact.
    wasm.nd_set_recording(0);
    wasm.nd_set_training(0);
    expect(canary.toArray()).toEqual([[1.5, -2], [3, 4]]);
    const x = nd.array([1, 2, 3]);
    x.attachGrad();
    nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
    expect(x.grad!.toArray()).toEqual([2, 4, 6]);
    x.dispose();
    for (const h of live) wasm.nd_free(h);
    canary.dispose();
    expect(nd.memory().arrays).toBe(0);
  });

  it("shape-only exports refuse counts whose sum overflows 32 bits (a trap this fuzzer found in nd_nnmisc_shape)", () => {
    const before = nd.memory().arrays;
    const big = 0x7fffffff;
    // Three ranks near i32::MAX used to wrap a usize sum on wasm32 to a small
    // count, and the split of the shape list ran past it.
    expect(wasm.nd_nnmisc_shape(1, 3, big, big, 0, 0, 0)).not.toBe(0);
    expect(wasm.nd_nnmisc_shape(0, 2, big, big, 4, 0, 2)).not.toBe(0);
    // Pooling's shape and parameter counts, the same way.
    io().set([2, 3, 8, 8]);
    expect(wasm.nd_pooling_shape(4, 0, big, big, 3, 0)).toBe(-1);
    // An optimizer step over more parameters than the I/O area describes.
    expect(wasm.nd_optim_step(0, big, 1, -1, 0, 0, 0, -1)).toBe(-1);
    // The engine still works.
    nd.scope(() => expect(Array.from(nd.array([1, 2, 3]).mul(2).data())).toEqual([2, 4, 6]));
    expect(nd.memory().arrays).toBe(before);
  });
});
