// Finds and instantiates ndgrad.wasm in Node, browsers and workers. The
// literal `new URL("./ndgrad.wasm", import.meta.url)` is kept as is so that
// bundlers (Vite, webpack) rewrite it to the emitted asset.
//
// Where SharedArrayBuffer and workers are available (Node; browsers when
// `crossOriginIsolated`), the threads build `ndgrad-threads.wasm` is
// loaded instead and its helper threads started (ts/src/threads.ts); any
// failure there falls back, silently, to the single-threaded build.
// `NDGRAD_THREADS` in the environment (Node) or on `globalThis` sets the
// default thread count; 0 forces the single-threaded build.
//
// Either way, where the runtime validates relaxed SIMD (a tiny probe
// module; Chromium, Node with --experimental-wasm-relaxed-simd) the
// relaxed variant of the chosen build is preferred (`ndgrad-relaxed.wasm`,
// `ndgrad-threads-relaxed.wasm`: the GEMM kernels accumulate with fused
// multiply-adds). Any failure to load it falls back, silently, to the plain
// module; `NDGRAD_RELAXED=0` (environment or `globalThis`) forces the plain one.
import { startThreads, singleThreaded, type ThreadsExports } from "./threads.js";

/** The raw exports of ndgrad.wasm (see crates/ndgrad-wasm). */
export interface Exports extends ThreadsExports {
  memory: WebAssembly.Memory;
  nd_io(): number;
  nd_io_len(): number;
  nd_error_code(): number;
  nd_error_ptr(): number;
  nd_error_len(): number;
  nd_error_kind_name(code: number): number;
  nd_op_name(family: number, code: number): number;
  nd_simd_enabled(): number;
  nd_relaxed_simd(): number;
  nd_kernel_selftest(): number;
  nd_live_arrays(): number;
  nd_live_bytes(): number;
  nd_tape_nodes(): number;
  nd_free(h: number): number;
  nd_shape(h: number): number;
  nd_data_ptr(h: number): number;
  nd_alloc(ndim: number, dtype: number): number;
  nd_dtype(h: number): number;
  nd_astype(h: number, dtype: number): number;
  nd_full(ndim: number, v: number, dtype: number): number;
  nd_arange(start: number, stop: number, step: number, dtype: number): number;
  nd_random_seed(lo: number, hi: number): void;
  nd_random_uniform(ndim: number, low: number, high: number, dtype: number): number;
  nd_random_normal(ndim: number, loc: number, scale: number, dtype: number): number;
  nd_binary(code: number, a: number, b: number): number;
  nd_binary_scalar(code: number, a: number, s: number, reverse: number): number;
  nd_unary(code: number, a: number): number;
  nd_reduce(code: number, a: number, naxes: number, keepdims: number): number;
  nd_reshape(a: number, ndim: number): number;
  nd_transpose(a: number, naxes: number): number;
  nd_broadcast_to(a: number, ndim: number): number;
  nd_slice(a: number, begin: number, end: number): number;
  nd_at(a: number, i: number): number;
  nd_copy(a: number): number;
  nd_dot(a: number, b: number, flags: number): number;
  nd_where(c: number, a: number, b: number): number;
  nd_clip(a: number, lo: number, hi: number): number;
  nd_leaky_relu(a: number, slope: number): number;
  nd_softmax(a: number, axis: number, log: number): number;
  nd_take(a: number, idx: number, axis: number, mode: number): number;
  nd_pick(a: number, idx: number, axis: number, keepdims: number, mode: number): number;
  nd_one_hot(idx: number, depth: number, on: number, off: number, dtype: number): number;
  nd_argext(a: number, axis: number, keepdims: number, max: number): number;
  nd_topk(a: number, axis: number, k: number, ret: number, ascend: number): number;
  nd_sort(a: number, axis: number, ascend: number, indices: number): number;
  nd_tile(a: number, n: number): number;
  nd_repeat(a: number, repeats: number, axis: number): number;
  nd_flip(a: number, n: number): number;
  // Pooling, BatchNorm, LayerNorm (pool branch)
  nd_pooling(a: number, poolType: number, nk: number, ns: number, np: number, flags: number): number;
  nd_pooling_shape(ndim: number, poolType: number, nk: number, ns: number, np: number, flags: number): number;
  nd_batch_norm(
    x: number,
    gamma: number,
    beta: number,
    movingMean: number,
    movingVar: number,
    eps: number,
    momentum: number,
    flags: number,
    axis: number,
  ): number;
  nd_layer_norm(x: number, gamma: number, beta: number, axis: number, eps: number): number;
  nd_slice_multi(a: number, n: number): number;
  nd_slice_axis(a: number, axis: number, begin: number, end: number): number;
  nd_detach(a: number): number;
  nd_concat(n: number, axis: number): number;
  nd_batch_dot(a: number, b: number): number;
  // ---- Convolution, Deconvolution (issue #12, conv branch) ----
  nd_convolution(
    data: number,
    weight: number,
    bias: number,
    rank: number,
    numFilter: number,
    numGroup: number,
    deconv: number,
  ): number;
  nd_convolution_shape(
    dataNdim: number,
    weightNdim: number,
    rank: number,
    numFilter: number,
    numGroup: number,
    deconv: number,
  ): number;
  // ---- end conv ----
  // nnmisc group (issue #12)
  nd_fully_connected(x: number, w: number, b: number, numHidden: number, flags: number): number;
  nd_embedding(data: number, w: number, inputDim: number, outputDim: number): number;
  nd_activation(x: number, act: number): number;
  nd_leaky_relu_act(x: number, act: number, slope: number, gamma: number): number;
  nd_flatten(x: number): number;
  nd_softmax_cross_entropy(data: number, label: number): number;
  nd_nnmisc_shape(op: number, n0: number, n1: number, n2: number, i0: number, i1: number, flags: number): number;
  nd_set(dst: number, src: number): number;
  nd_set_scalar(dst: number, v: number): number;
  nd_optim_step(
    rule: number,
    n: number,
    rescaleGrad: number,
    clipGradient: number,
    a: number,
    b: number,
    epsilon: number,
    clipWeights: number,
  ): number;
  nd_attach_grad(h: number, req: number): number;
  nd_grad(h: number): number;
  nd_fresh_grad(h: number): number;
  nd_set_fresh_grad(h: number, state: number): number;
  nd_backward(n: number, retainGraph: number, trainMode: number): number;
  nd_grad_of(n: number, m: number, retainGraph: number, createGraph: number, trainMode: number): number;
  nd_init(): void;
  nd_custom_record(id: number, nIn: number, nOut: number): number;
  nd_alias(h: number): number;
  nd_mark_variable(h: number, grad: number, req: number): number;
  nd_set_recording(on: number): number;
  nd_set_training(on: number): number;
  nd_is_recording(): number;
  nd_is_training(): number;
}

async function fetchWasm(url: URL): Promise<Response | Uint8Array<ArrayBuffer>> {
  if (url.protocol === "file:") {
    // Node (and Deno/Bun): read the file; Node 20's fetch cannot read file: URLs.
    const fsName = "node:fs/promises";
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import("node:fs/promises");
    return new Uint8Array(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`ndgrad: could not load ${url.href} (HTTP ${response.status})`);
  }
  return response;
}

/**
 * `(module (func (result v128) (f32x4.relaxed_madd (i8x16.splat (i32.const 0)) ...)))`:
 * valid only where relaxed SIMD is.
 */
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x13, 0x01, 0x11, 0x00, // code section, one body, no locals
  0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, // 3 × i8x16.splat(i32.const 0)
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

/** Whether to try the relaxed-SIMD variant: `NDGRAD_RELAXED` is not 0 and the runtime validates the probe. */
function relaxedWanted(): boolean {
  const g = globalThis as { NDGRAD_RELAXED?: unknown; process?: { env?: Record<string, string | undefined> } };
  const raw = g.NDGRAD_RELAXED ?? g.process?.env?.NDGRAD_RELAXED;
  if (raw !== undefined && String(raw) === "0") return false;
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

async function compileResponse(got: Response | Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  if (got instanceof Uint8Array) return WebAssembly.compile(got);
  if (got.headers.get("content-type")?.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(got);
  }
  // Servers that send another MIME type: compile from bytes instead.
  return WebAssembly.compile(await got.arrayBuffer());
}

async function wasmModule(relaxed: boolean): Promise<WebAssembly.Module> {
  // The literal URLs stay literal for bundlers.
  if (relaxed) return compileResponse(await fetchWasm(new URL("./ndgrad-relaxed.wasm", import.meta.url)));
  return compileResponse(await fetchWasm(new URL("./ndgrad.wasm", import.meta.url)));
}

async function threadsModuleBytes(relaxed: boolean): Promise<Uint8Array<ArrayBuffer>> {
  const got = relaxed
    ? await fetchWasm(new URL("./ndgrad-threads-relaxed.wasm", import.meta.url))
    : await fetchWasm(new URL("./ndgrad-threads.wasm", import.meta.url));
  return got instanceof Uint8Array ? got : new Uint8Array(await got.arrayBuffer());
}

/** The thread count asked for with `NDGRAD_THREADS` (environment or global), if any. */
function threadsSetting(): number | undefined {
  const g = globalThis as { NDGRAD_THREADS?: unknown; process?: { env?: Record<string, string | undefined> } };
  const raw = g.NDGRAD_THREADS ?? g.process?.env?.NDGRAD_THREADS;
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, 64) : undefined;
}

/** Why the threads build cannot run here, or null if it may. */
function threadsUnavailable(setting: number | undefined): string | null {
  if (setting === 0) return "NDGRAD_THREADS=0 selected the single-threaded build";
  if (typeof SharedArrayBuffer !== "function") return "SharedArrayBuffer is not available here";
  const g = globalThis as { crossOriginIsolated?: boolean; process?: { versions?: { node?: string } }; Worker?: unknown };
  if (g.crossOriginIsolated === false) {
    return "the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp)";
  }
  if (g.process?.versions?.node === undefined && typeof g.Worker !== "function") return "there is no Worker here";
  return null;
}

/** `initial` and `maximum` pages of the module's imported memory (env.memory). */
function memoryLimits(bytes: Uint8Array): { initial: number; maximum: number } {
  let p = 8; // magic + version
  const leb = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  const name = (): string => {
    const n = leb();
    p += n;
    return new TextDecoder().decode(bytes.subarray(p - n, p));
  };
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let count = leb(); count > 0; count--) {
        const field = `${name()}.${name()}`;
        const kind = bytes[p++]!;
        if (kind === 0x02) {
          const flags = leb();
          const initial = leb();
          const maximum = flags & 1 ? leb() : 65536;
          if (field === "env.memory") return { initial, maximum };
        } else if (kind === 0x00) leb(); // function: type index
        else throw new Error(`unexpected import kind ${kind} (${field})`);
      }
    }
    p = end;
  }
  throw new Error("the threads module imports no memory");
}

/** Instantiate the threads build and start its helpers (throws on any failure). */
async function instantiateThreads(
  imports: WebAssembly.Imports,
  threads: number | undefined,
  relaxed: boolean,
): Promise<Exports> {
  const bytes = await threadsModuleBytes(relaxed);
  const { initial, maximum } = memoryLimits(bytes);
  const memory = new WebAssembly.Memory({ initial, maximum, shared: true });
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, { ...imports, env: { memory } });
  const exports = { ...(instance.exports as unknown as Exports), memory };
  if (exports.nd_threads_supported() !== 1) throw new Error("not a threads build");
  if (relaxed && exports.nd_relaxed_simd() !== 1) throw new Error("not a relaxed-SIMD build");
  exports.nd_init();
  await startThreads(exports, module, memory, threads);
  return exports;
}

/** What the engine calls in JavaScript: the backward of `autograd.Function`s. */
export interface Host {
  customBackward(id: number, output: number, dy: number): number;
  customRelease(id: number, output: number): void;
}

/** Filled in by the module that implements `autograd.Function`. */
export const host: Host = {
  customBackward: () => -1,
  customRelease: () => {},
};

export async function instantiate(): Promise<Exports> {
  const imports = {
    ndgrad: {
      custom_backward: (id: number, output: number, dy: number): number => host.customBackward(id, output, dy),
      custom_release: (id: number, output: number): void => host.customRelease(id, output),
    },
  };
  const setting = threadsSetting();
  const why = threadsUnavailable(setting);
  const relaxed = relaxedWanted();
  if (why === null) {
    if (relaxed) {
      try {
        return await instantiateThreads(imports, setting, true);
      } catch {
        // No (working) relaxed threads module: the plain one below.
      }
    }
    try {
      return await instantiateThreads(imports, setting, false);
    } catch (e) {
      singleThreaded(`the threads build could not start (${e instanceof Error ? e.message : String(e)})`);
    }
  } else {
    singleThreaded(why);
  }
  if (relaxed) {
    try {
      return await instantiateSingle(imports, true);
    } catch {
      // No (working) relaxed module: the plain one.
    }
  }
  return instantiateSingle(imports, false);
}

/**
 * A private instance of the plain single-threaded module, for its shape-only
 * exports (the worker's client asks it for result shapes, so that the
 * engine's rules are the only copy of them). It never holds arrays and never
 * runs a kernel; custom-op imports are inert.
 */
export async function instantiateShapeEngine(): Promise<Exports> {
  const imports = { ndgrad: { custom_backward: (): number => -1, custom_release: (): void => {} } };
  const instance = await WebAssembly.instantiate(await wasmModule(false), imports);
  const exports = instance.exports as unknown as Exports;
  exports.nd_init();
  return exports;
}

async function instantiateSingle(imports: WebAssembly.Imports, relaxed: boolean): Promise<Exports> {
  const module = await wasmModule(relaxed);
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as unknown as Exports;
  if (relaxed && exports.nd_relaxed_simd() !== 1) throw new Error("not a relaxed-SIMD build");
  exports.nd_init();
  return exports;
}
