// The relaxed-SIMD builds (pkg/ndgrad-relaxed.wasm, pkg/ndgrad-threads-relaxed.wasm):
// GEMM accumulates with `f32x4.relaxed_madd`. Node 20 validates relaxed SIMD
// only with --experimental-wasm-relaxed-simd, so each case runs in a fresh
// Node: with the flag the relaxed variant of the chosen build is loaded,
// without it (or with NDGRAD_RELAXED=0, or with the file missing) the plain
// one. Fused multiply-adds round once instead of twice: the results are
// compared with the plain build's within a tolerance, not bit for bit.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nd } from "ndgrad";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkgDir = join(root, "pkg");
const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

interface Result {
  relaxed: boolean;
  threads: number;
  /** Vector kernels that disagree with the scalar oracle (the GEMM within tolerance in the relaxed build). */
  selftest: number;
  outs: Record<string, number[]>;
}

/** Seeded products and ops in a fresh Node; returns what it computed. */
function run(
  { flag = false, env = {}, pkg = join(pkgDir, "index.js") }: { flag?: boolean; env?: Record<string, string>; pkg?: string } = {},
): Result {
  const script = `
    const { nd, autograd } = await import(${JSON.stringify(new URL(`file://${pkg}`).href)});
    nd.random.seed(7);
    const outs = {};
    const keep = (name, x) => { outs[name] = Array.from(x.data()); };
    nd.scope(() => {
      // Blocked (packed, 4x8 micro-kernel) and small (axpy) products, a batch, transposed operands.
      const a = nd.random.uniform(-1, 1, [96, 200]);
      const b = nd.random.uniform(-1, 1, [200, 72]);
      keep("gemm", nd.dot(a, b));
      keep("small", nd.dot(nd.random.uniform(-1, 1, [3, 17]), nd.random.uniform(-1, 1, [17, 5])));
      keep("vecdot", nd.dot(nd.random.uniform(-1, 1, [301]), nd.random.uniform(-1, 1, [301])));
      keep("batch", nd.batchDot(nd.random.uniform(-1, 1, [3, 40, 64]), nd.random.uniform(-1, 1, [3, 64, 36])));
      keep("transposed", nd.dot(a, nd.random.uniform(-1, 1, [80, 200]), { transposeB: true }));
      // A small MLP step: forward, softmax cross-entropy, gradients.
      const x = nd.random.uniform(-1, 1, [32, 64]);
      const w1 = nd.random.normal(0, 0.1, [64, 48]);
      const w2 = nd.random.normal(0, 0.1, [48, 10]);
      w1.attachGrad();
      w2.attachGrad();
      const label = nd.array(Array.from({ length: 32 }, (_, i) => i % 10));
      const loss = autograd.record(() =>
        nd.pick(nd.logSoftmax(nd.dot(nd.relu(nd.dot(x, w1)), w2)), label).neg().mean());
      loss.backward();
      keep("loss", loss);
      keep("gw1", w1.grad);
      keep("gw2", w2.grad);
      keep("sum", a.mul(2).add(1).sum());
    });
    const { wasm } = await import(${JSON.stringify(new URL(`file://${pkg.replace(/index\.js$/, "ffi.js")}`).href)});
    console.log(JSON.stringify({ relaxed: nd.relaxedSimd(), threads: nd.getThreads(), selftest: wasm.nd_kernel_selftest(), outs }));
  `;
  const r = spawnSync(process.execPath, [...(flag ? [RELAXED_FLAG] : []), "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
    cwd: root,
    env: { ...process.env, NDGRAD_THREADS: "", NDGRAD_RELAXED: "", ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Result;
}

/** Largest |a-b| / (1 + |b|) over every output, and how many values differ at all. */
function compare(a: Result, b: Result): { maxRel: number; differ: number; total: number } {
  let maxRel = 0;
  let differ = 0;
  let total = 0;
  expect(Object.keys(a.outs)).toEqual(Object.keys(b.outs));
  for (const [name, xs] of Object.entries(a.outs)) {
    const ys = b.outs[name]!;
    expect(xs.length, name).toBe(ys.length);
    xs.forEach((x, i) => {
      const y = ys[i]!;
      total++;
      if (x !== y) differ++;
      maxRel = Math.max(maxRel, Math.abs(x - y) / (1 + Math.abs(y)));
    });
  }
  return { maxRel, differ, total };
}

describe("relaxed SIMD", () => {
  it("this process (Node without the flag) runs the plain build", () => {
    expect(nd.simd()).toBe(true);
    expect(nd.relaxedSimd()).toBe(false);
  });

  let plainThreads: Result;
  let plainSingle: Result;
  beforeAll(() => {
    plainThreads = run();
    plainSingle = run({ env: { NDGRAD_THREADS: "0" } });
  });

  it("without the flag the plain builds are loaded", () => {
    expect(plainThreads.relaxed).toBe(false);
    expect(plainSingle.relaxed).toBe(false);
    expect(plainSingle.threads).toBe(1);
    expect([plainThreads.selftest, plainSingle.selftest]).toEqual([0, 0]);
    expect(compare(plainThreads, plainSingle).differ).toBe(0);
  });

  it("with --experimental-wasm-relaxed-simd the relaxed single-threaded build agrees with the plain one within tolerance", () => {
    const relaxed = run({ flag: true, env: { NDGRAD_THREADS: "0" } });
    expect(relaxed.relaxed).toBe(true);
    expect(relaxed.threads).toBe(1);
    expect(relaxed.selftest).toBe(0);
    const c = compare(relaxed, plainSingle);
    expect(c.maxRel).toBeLessThan(1e-5);
    console.log(`relaxed vs plain: ${c.differ} of ${c.total} values differ, max relative difference ${c.maxRel.toExponential(2)}`);
  });

  it("with the flag the threads build's relaxed variant is loaded, bit for bit equal to the relaxed single-threaded one", () => {
    const threads = run({ flag: true });
    const single = run({ flag: true, env: { NDGRAD_THREADS: "0" } });
    expect(threads.relaxed).toBe(true);
    expect(threads.selftest).toBe(0);
    expect(threads.threads).toBe(plainThreads.threads);
    expect(compare(threads, single).differ).toBe(0);
    expect(compare(threads, plainThreads).maxRel).toBeLessThan(1e-5);
  });

  it("NDGRAD_RELAXED=0 forces the plain builds even with the flag", () => {
    const single = run({ flag: true, env: { NDGRAD_RELAXED: "0", NDGRAD_THREADS: "0" } });
    expect(single.relaxed).toBe(false);
    expect(compare(single, plainSingle).differ).toBe(0);
    const threads = run({ flag: true, env: { NDGRAD_RELAXED: "0" } });
    expect(threads.relaxed).toBe(false);
    expect(compare(threads, plainThreads).differ).toBe(0);
  });

  describe("falls back silently to the plain module", () => {
    const dirs: string[] = [];
    afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    it("when the relaxed modules are missing", () => {
      const dir = mkdtempSync(join(tmpdir(), "ndgrad-relaxed-"));
      dirs.push(dir);
      // The package's modules, subdirectories too (pkg/gluon/…), without the relaxed builds.
      cpSync(pkgDir, dir, {
        recursive: true,
        filter: (src) => statSync(src).isDirectory() || ((src.endsWith(".js") || src.endsWith(".wasm")) && !basename(src).includes("relaxed")),
      });
      const pkg = join(dir, "index.js");
      const single = run({ flag: true, pkg, env: { NDGRAD_THREADS: "0" } });
      expect(single.relaxed).toBe(false);
      expect(compare(single, plainSingle).differ).toBe(0);
      const threads = run({ flag: true, pkg });
      expect(threads.relaxed).toBe(false);
      expect(threads.threads).toBe(plainThreads.threads);
      expect(compare(threads, plainThreads).differ).toBe(0);
    });
  });
});
