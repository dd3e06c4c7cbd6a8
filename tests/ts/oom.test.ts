// Memory exhaustion (issue #11, part 0): when WebAssembly memory runs out,
// every call throws an Error and nothing traps; afterwards the engine works
// and earlier arrays hold their values. And before it happens, a loop that
// drops its arrays gets one console.warn saying how to free them.
//
// Each case runs in a fresh Node: filling 4 GiB must not disturb the rest of
// the suite, and the warning fires once per load of the module.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkgUrl = new URL(`file://${join(root, "pkg", "index.js")}`).href;

interface CallResult {
  name: string;
  ok: number;
  oom: number;
  errors: string[];
  oomMessage?: string;
}
interface ExhaustionRun {
  threads: number;
  fillMs: number;
  sweepMs: number;
  smallChunks: number;
  firstOom: string;
  wasmBytes: number;
  results: CallResult[];
  trap: { name: string; level: number; message: string; stack: string } | null;
  recovered: { intact: boolean; failures: string[]; gradOk: boolean; liveAfter: number; tapeAfter: number } | null;
  warnings: string[];
}

function exhaust(threads: number): ExhaustionRun {
  const r = spawnSync(process.execPath, [join(root, "tests", "ts", "oom-child.mjs"), pkgUrl], {
    encoding: "utf8",
    env: { ...process.env, NDGRAD_THREADS: String(threads) },
    timeout: 540_000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`oom-child.mjs exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as ExhaustionRun;
}

/** The fixes every message names. */
function expectAdvice(message: string): void {
  for (const fix of ["dispose()", "using", "nd.scope", "nd.debug.trackLeaks()"]) expect(message).toContain(fix);
}

function checkExhaustion(run: ExhaustionRun, threads: number): void {
  expect(run.trap, JSON.stringify(run.trap)).toBeNull();
  expect(run.threads).toBe(threads);
  // Memory was filled to its 4 GiB limit, with 256 KiB chunks at the end.
  expect(run.wasmBytes).toBe(2 ** 32);
  expect(run.smallChunks).toBeGreaterThan(96);
  expect(run.firstOom).toMatch(/out of memory/);
  for (const r of run.results) {
    // Only out-of-memory Errors, and each call succeeded once enough was free.
    expect(r.errors, r.name).toEqual([]);
    expect(r.ok, r.name).toBeGreaterThan(0);
    if (r.oomMessage !== undefined) {
      expect(r.oomMessage, r.name).toMatch(/out of memory/);
      expect(r.oomMessage, r.name).toMatch(/\d+ arrays holding [\d.]+ GiB are alive/);
      expectAdvice(r.oomMessage);
    }
  }
  // Every call that allocates with the data failed at some level: the sweep
  // reached its out-of-memory paths, not only its successes.
  const failed = new Set(run.results.filter((r) => r.oom > 0).map((r) => r.name));
  for (const name of ["array", "zeros", "random.normal", "astype", "add", "mul broadcast", "exp", "where", "mean axis 0",
    "softmax", "argmax", "transpose", "concat", "tile", "take", "oneHot", "topk", "sort", "argsort", "dot",
    "dot transposeB", "set float64", "record", "attachGrad", "backward", "backward dot", "grad", "grad createGraph",
    "Function forward", "Function backward", "Convolution", "Deconvolution", "Pooling max", "Pooling avg", "BatchNorm",
    "BatchNorm train", "LayerNorm", "FullyConnected", "Embedding", "Activation", "LeakyReLU elu", "softmaxCrossEntropy"]) {
    expect(failed.has(name), `${name} never ran out of memory`).toBe(true);
  }
  // Afterwards: the earlier arrays hold their values, every call works,
  // the recorded graphs still differentiate, and nothing leaked.
  expect(run.recovered).toEqual({ intact: true, failures: [], gradOk: true, liveAfter: 0, tapeAfter: 0 });
  // Filling 4 GiB without a scope is the leak the warning is for: once.
  expect(run.warnings).toHaveLength(1);
  expect(run.warnings[0]).toMatch(/^ndgrad: \d+ arrays \([\d.]+ GiB\) were created outside any nd\.scope/);
  expectAdvice(run.warnings[0]!);
}

describe("memory exhaustion never traps", () => {
  it("single-threaded build: every export family throws an Error, then works again", () => {
    checkExhaustion(exhaust(0), 1);
  }, 600_000);

  it("threads build (split kernels): the same", () => {
    expect(existsSync(join(root, "pkg", "ndgrad-threads.wasm")), "the threads build is missing: run npm run build").toBe(true);
    checkExhaustion(exhaust(2), 2);
  }, 600_000);
});

/** Run an ES module body in a fresh Node with the package as `nd`; returns
 *  `out` (as JSON) and every console.warn. */
function warnChild(body: string): { out: unknown; warnings: string[] } {
  const script = `
    const warnings = [];
    console.warn = (...a) => warnings.push(a.map(String).join(" "));
    const { nd, autograd } = await import(${JSON.stringify(pkgUrl)});
    const { stretchCounts } = await import(${JSON.stringify(new URL("memory.js", pkgUrl).href)});
    let out = null;
    ${body}
    console.log(JSON.stringify({ out, warnings }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, NDGRAD_THREADS: "0" },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as { out: unknown; warnings: string[] };
}

describe("the leak warning", () => {
  it("fires once when a synchronous loop drops 10 000 arrays, naming the count, the bytes and the fixes", () => {
    const { out, warnings } = warnChild(`
      const seen = [];
      for (let i = 0; i < 25000; i++) {
        nd.zeros([2, 2]);                       // dropped, as MXNet code does
        if (i === 9998 || i === 9999) seen.push(warnings.length);
      }
      const during = stretchCounts();
      // The next macrotask ends the stretch (finalizers may run from there);
      // the warning does not re-arm.
      await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 25000; i++) nd.zeros([2, 2]);
      out = { seen, during, after: stretchCounts() };
    `);
    expect(out).toEqual({
      seen: [0, 1],
      during: { arrays: 25000, bytes: 25000 * 16, warned: true },
      after: { arrays: 25000, bytes: 25000 * 16, warned: true },
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^ndgrad: 10000 arrays \(160000 bytes\) were created outside any nd\.scope/);
    expectAdvice(warnings[0]!);
  });

  it("fires at 1 GiB of dropped arrays, however few", () => {
    const { out, warnings } = warnChild(`
      const counts = [];
      for (let i = 0; i < 5; i++) {
        nd.zeros([64, 1024, 1024]);             // 256 MiB each
        counts.push(warnings.length);
      }
      out = counts;
    `);
    expect(out).toEqual([0, 0, 0, 1, 1]);
    expect(warnings[0]).toMatch(/^ndgrad: 4 arrays \(1\.00 GiB\)/);
  });

  it("does not count arrays freed, owned by a scope, kept, or with an attached gradient", () => {
    const { out, warnings } = warnChild(`
      for (let i = 0; i < 30000; i++) nd.zeros([2]).dispose();
      for (let i = 0; i < 30000; i++) nd.ones([2])[Symbol.dispose]();
      nd.scope(() => { for (let i = 0; i < 30000; i++) nd.zeros([2]).add(1); });
      for (let i = 0; i < 30000; i++) nd.scope(() => nd.zeros([2]).mul(2)).dispose();
      const kept = [];
      for (let i = 0; i < 12000; i++) kept.push(nd.keep(nd.zeros([2])));
      const vars = [];
      for (let i = 0; i < 12000; i++) { const v = nd.zeros([2]); v.attachGrad(); vars.push(v); }
      out = { counts: stretchCounts(), live: nd.memory().arrays };
    `);
    expect(out).toEqual({ counts: { arrays: 0, bytes: 0, warned: false }, live: 24000 });
    expect(warnings).toEqual([]);
  });

  it("does not fire in the tutorial", () => {
    const r = spawnSync(process.execPath, [join(root, "node_modules", "tsx", "dist", "cli.mjs"), join(root, "examples", "autograd-tutorial.ts")], {
      encoding: "utf8",
      cwd: root,
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ndgrad: \d+ arrays/);
    expect(r.stdout).not.toMatch(/ndgrad: \d+ arrays/);
  });
});
