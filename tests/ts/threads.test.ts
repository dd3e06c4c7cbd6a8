// The threads build (pkg/ndgrad-threads.wasm): chosen at load in Node,
// helper threads that split matrix products, results bit for bit equal to
// one thread and to the single-threaded build, nd.setThreads / getThreads,
// the silent fallback to the single-threaded build, and processes that end
// on their own with helpers running.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";
// The same module instance as the package's (vitest aliases "ndgrad" to pkg/index.js).
import { threadsInfo } from "../../pkg/threads.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkgDir = join(root, "pkg");
const defaultThreads = Math.min(availableParallelism(), 4);

afterEach(() => {
  nd.setThreads(defaultThreads);
  expectNoLeaks();
});

/** Run an ES module body in a fresh Node (`pkg` is the package's index.js
 *  URL); returns the last stdout line as JSON, the status and the time. */
function inChild(
  body: string,
  { env = {}, pkg = join(pkgDir, "index.js"), timeout = 60_000 }: { env?: Record<string, string>; pkg?: string; timeout?: number } = {},
): { status: number | null; signal: string | null; out: unknown; stderr: string; ms: number } {
  const script = `
    const pkgUrl = ${JSON.stringify(new URL(`file://${pkg}`).href)};
    let out = null;
    ${body}
    console.log(JSON.stringify(out));
  `;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout,
    cwd: root,
    env: { ...process.env, NDGRAD_THREADS: "", ...env },
  });
  let out: unknown;
  try {
    out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
  } catch {
    out = r.stdout;
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr, ms: Date.now() - t0 };
}

/** The raw bits of an array's values. */
function bits(x: NDArray): Uint32Array {
  const v = x.data();
  return new Uint32Array(v.buffer, v.byteOffset, v.length);
}

/** The first index where two bit patterns differ, or -1 (vitest's deep
 *  equality is slow on large arrays). */
function firstDifference(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function rand(shape: number[]): NDArray {
  return nd.random.uniform(-1, 1, shape);
}

// [m, k, n]: odd sizes, edge tiles, several k blocks (k > 256), bands of
// rows that are not multiples of 4, thin and wide, above and below the
// size where products are split.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 9],
  [64, 784, 256],
  [784, 64, 256],
  [64, 256, 784],
  [131, 257, 67],
  [257, 129, 513],
  [5, 1000, 300],
  [1000, 3, 1000],
  [301, 301, 1],
  [512, 512, 512],
];

describe("the threads build in Node", () => {
  it("is the one loaded, with min(cores, 4) threads running", () => {
    const info = threadsInfo();
    expect(info.build).toBe("threads");
    expect(nd.getThreads()).toBe(defaultThreads);
    expect(info.helpersRunning).toBe(defaultThreads - 1);
  });

  it("shares large products with the helpers, small ones not", () => {
    nd.scope(() => {
      const big = rand([300, 300]);
      const small = rand([40, 40]);
      nd.setThreads(2);
      let before = threadsInfo().helperTasks;
      for (let i = 0; i < 5; i++) small.dot(small);
      expect(threadsInfo().helperTasks).toBe(before);
      for (let i = 0; i < 5; i++) big.dot(big);
      expect(threadsInfo().helperTasks).toBeGreaterThan(before);
      // A batch of small products is shared too, a few products per task.
      const many = rand([512, 16, 16]);
      before = threadsInfo().helperTasks;
      for (let i = 0; i < 5; i++) nd.batchDot(many, many);
      expect(threadsInfo().helperTasks).toBeGreaterThan(before);
      nd.setThreads(1);
      before = threadsInfo().helperTasks;
      for (let i = 0; i < 5; i++) big.dot(big);
      expect(threadsInfo().helperTasks).toBe(before);
    });
  });

  it("computes dot bit for bit as one thread does", () => {
    nd.random.seed(7);
    for (const [m, k, n] of SHAPES) {
      nd.scope(() => {
        const a = rand([m, k]);
        const b = rand([k, n]);
        nd.setThreads(1);
        const one = bits(a.dot(b));
        for (const t of [2, 3]) {
          nd.setThreads(t);
          expect(firstDifference(bits(a.dot(b)), one), `${m}x${k}·${k}x${n} on ${t} threads`).toBe(-1);
        }
      });
    }
  });

  it("computes batchDot and the gradients of dot and batchDot bit for bit as one thread does", () => {
    nd.random.seed(8);
    const cases: [number[], number[], (a: NDArray, b: NDArray) => NDArray][] = [
      [[200, 300], [300, 170], (a, b) => a.dot(b)],
      [[64, 784], [784, 256], (a, b) => a.dot(b).relu()],
      [[3, 130, 257], [3, 257, 99], (a, b) => nd.batchDot(a, b)],
      [[2, 64, 300], [2, 300, 64], (a, b) => nd.batchDot(a, b).tanh()],
      // Many small products: spread over the threads a few at a time.
      [[256, 8, 40], [256, 40, 12], (a, b) => nd.batchDot(a, b)],
      [[99, 17, 33], [99, 33, 5], (a, b) => nd.batchDot(a, b).square()],
    ];
    for (const [sa, sb, f] of cases) {
      nd.scope(() => {
        const a = rand(sa);
        const b = rand(sb);
        a.attachGrad();
        b.attachGrad();
        const run = (t: number): Uint32Array[] => {
          nd.setThreads(t);
          const y = autograd.record(() => f(a, b));
          // A non-uniform head gradient, so that every product matters.
          y.backward(y.detach());
          return [bits(y), bits(a.grad!), bits(b.grad!)];
        };
        const one = run(1);
        for (const t of [2, 3]) {
          const got = run(t);
          for (let i = 0; i < 3; i++) expect(firstDifference(got[i]!, one[i]!), `${sa} · ${sb} on ${t} threads, output ${i}`).toBe(-1);
        }
        a.dispose();
        b.dispose();
      });
    }
  });

  // Elementwise kernels split from 2^18 elements on, in chunks of a
  // multiple of 16; float32 reductions in fixed chunks of 2^16 elements.
  const PAR_MIN = 1 << 18;
  const RED_CHUNK = 1 << 16;
  const LENGTHS = [1, 17, RED_CHUNK - 1, RED_CHUNK + 1, 3 * RED_CHUNK + 5, PAR_MIN - 1, PAR_MIN, PAR_MIN + 15, PAR_MIN + 16 * 7 + 3, 1_000_003];

  /** Uniform values in [-2, 2) with NaN, ±inf, -0 and a subnormal placed at chunk edges. */
  function special(n: number, seed: number, withSpecials: boolean): NDArray {
    nd.random.seed(seed);
    const v = nd.random.uniform(-2, 2, [n]).data() as Float32Array;
    if (withSpecials) {
      // NaN last: it stays when two places coincide.
      const at = [0, RED_CHUNK, PAR_MIN / 2 + 16, Math.floor(n / 2), n - 1];
      [Infinity, -Infinity, -0, 1e-40, NaN].forEach((x, k) => {
        if (at[k]! < n) v[at[k]!] = x;
      });
    }
    return nd.array(v, { shape: [n] });
  }

  it("shares large elementwise ops and sums with the helpers, small ones not", () => {
    nd.scope(() => {
      nd.setThreads(2);
      const big = special(PAR_MIN * 2, 1, false);
      const small = special(PAR_MIN / 4, 2, false);
      let before = threadsInfo().helperTasks;
      for (let i = 0; i < 3; i++) [small.add(small), small.exp(), small.mul(2)];
      expect(threadsInfo().helperTasks).toBe(before);
      for (let i = 0; i < 3; i++) [big.add(big), big.exp(), big.mul(2)];
      expect(threadsInfo().helperTasks).toBeGreaterThan(before);
      // A sum reads 4 bytes per element where add moves 12: a longer one,
      // so that a helper that was asleep wakes before the leader is done.
      const long = nd.ones([1 << 23]);
      before = threadsInfo().helperTasks;
      for (let i = 0; i < 5; i++) long.sum();
      expect(threadsInfo().helperTasks).toBeGreaterThan(before);
    });
  });

  it("computes elementwise ops and float32 reductions bit for bit as one thread does", () => {
    const ops: [string, (a: NDArray, b: NDArray) => NDArray][] = [
      ["add", (a, b) => a.add(b)],
      ["mul", (a, b) => a.mul(b)],
      ["div scalar", (a) => a.div(3)],
      ["rsub scalar", (a) => nd.scope(() => a.mul(-1).add(1.5))],
      ["greater", (a, b) => a.greater(b)],
      ["exp", (a) => a.exp()],
      ["tanh", (a) => a.tanh()],
      ["relu", (a) => a.relu()],
      ["sum", (a) => a.sum()],
      ["mean", (a) => a.mean()],
      ["max", (a) => a.max()],
      ["min", (a) => a.min()],
      ["sum over axis 0", (a) => a.sum(0)],
    ];
    for (const n of LENGTHS) {
      for (const withSpecials of [false, true]) {
        nd.scope(() => {
          const a = special(n, n, withSpecials);
          const b = special(n, n + 1, false);
          for (const [name, f] of ops) {
            nd.setThreads(1);
            const one = bits(f(a, b));
            for (const t of [2, 3]) {
              nd.setThreads(t);
              expect(firstDifference(bits(f(a, b)), one), `${name} n=${n} specials=${withSpecials} on ${t} threads`).toBe(-1);
            }
          }
          if (withSpecials && n > 1) {
            nd.setThreads(2);
            // NaN wins: in the sum, in max and min; +inf stays in add.
            expect(a.sum().asscalar()).toBeNaN();
            expect(a.max().asscalar()).toBeNaN();
            const sum = a.add(b).data();
            expect(sum[n - 1]).toBeNaN();
            expect(sum[0]).toBe(Infinity);
            if (n > RED_CHUNK + 1) expect(sum[RED_CHUNK]).toBe(-Infinity);
          }
        });
      }
    }
    // Reductions over rows: many short rows (shared out a group of rows
    // at a time), a few long ones (each sum split in chunks).
    for (const shape of [[40_000, 8], [9_000, 33], [3, 100_003], [2, PAR_MIN + 5], [PAR_MIN + 1, 1]]) {
      nd.scope(() => {
        const n = shape[0]! * shape[1]!;
        const a = special(n, 9, true).reshape(shape);
        for (const op of ["sum", "mean", "max", "min"] as const) {
          for (const axis of [0, 1]) {
            nd.setThreads(1);
            const one = bits(a[op](axis));
            for (const t of [2, 3]) {
              nd.setThreads(t);
              expect(firstDifference(bits(a[op](axis)), one), `${op} over axis ${axis} of ${shape} on ${t} threads`).toBe(-1);
            }
          }
        }
      });
    }
  });

  it("keeps float32 sums within a few float32 ulps of the exact sum over long arrays", () => {
    nd.scope(() => {
      nd.setThreads(2);
      for (const n of [PAR_MIN + 3, 1 << 22]) {
        const a = special(n, 5, false);
        const v = a.data() as Float32Array;
        let exact = 0;
        let mag = 0;
        for (const x of v) {
          exact += x;
          mag += Math.abs(x);
        }
        expect(Math.abs(a.sum().asscalar() - exact)).toBeLessThanOrEqual(4 * mag * 2 ** -23 + Math.abs(exact) * 2 ** -23);
      }
      // 0.1 four million times: a float32 running sum would be far off.
      expect(nd.ones([1 << 22]).mul(0.1).sum().asscalar()).toBeCloseTo(419430.4, 0);
    });
  });

  it("gives the single-threaded build's results bit for bit", () => {
    const body = `
      const { nd, autograd } = await import(pkgUrl);
      const { threadsInfo } = await import(new URL("./threads.js", pkgUrl).href);
      const { createHash } = await import("node:crypto");
      nd.random.seed(11);
      const h = createHash("sha256");
      const add = (x) => { const v = x.data(); h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)); };
      for (const [m, k, n] of ${JSON.stringify(SHAPES)}) {
        nd.scope(() => {
          const a = nd.random.uniform(-1, 1, [m, k]), b = nd.random.uniform(-1, 1, [k, n]);
          a.attachGrad(); b.attachGrad();
          const y = autograd.record(() => a.dot(b).square());
          y.backward();
          add(y); add(a.grad); add(b.grad);
          add(nd.batchDot(a.reshape([1, m, k]), b.reshape([1, k, n])));
        });
      }
      out = { build: threadsInfo().build, threads: nd.getThreads(), hash: h.digest("hex") };
    `;
    const single = inChild(body, { env: { NDGRAD_THREADS: "0" } });
    const threaded = inChild(body, { env: { NDGRAD_THREADS: "2" } });
    expect(single.status, single.stderr).toBe(0);
    expect(threaded.status, threaded.stderr).toBe(0);
    const s = single.out as { build: string; threads: number; hash: string };
    const t = threaded.out as { build: string; threads: number; hash: string };
    expect([s.build, s.threads, t.build, t.threads]).toEqual(["single", 1, "threads", 2]);
    expect(t.hash).toBe(s.hash);
  });

  it("keeps every other op working across threads (a small training loop)", () => {
    nd.random.seed(3);
    const losses = (t: number): number[] =>
      nd.scope(() => {
        nd.setThreads(t);
        nd.random.seed(5);
        const X = rand([64, 300]);
        const Y = rand([64, 10]);
        const W1 = nd.random.normal(0, 0.05, [300, 128]);
        const W2 = nd.random.normal(0, 0.05, [128, 10]);
        W1.attachGrad();
        W2.attachGrad();
        const out: number[] = [];
        for (let i = 0; i < 5; i++) {
          nd.scope(() => {
            const loss = autograd.record(() => X.dot(W1).relu().dot(W2).sub(Y).square().mean());
            loss.backward();
            for (const w of [W1, W2]) w.set(w.sub(w.grad!.mul(0.1)));
            out.push(loss.asscalar());
          });
        }
        W1.dispose();
        W2.dispose();
        return out;
      });
    const one = losses(1);
    expect(one[4]).toBeLessThan(one[0]!);
    expect(losses(2)).toEqual(one);
  });
});

describe("nd.setThreads / nd.getThreads", () => {
  it("sets and reads the thread count", () => {
    nd.setThreads(1);
    expect(nd.getThreads()).toBe(1);
    nd.setThreads(2);
    expect(nd.getThreads()).toBe(2);
  });

  it("rejects anything but an integer from 1 to 64, and keeps the old value", () => {
    nd.setThreads(2);
    for (const bad of [0, -1, 1.5, NaN, Infinity, 65, "2", undefined, null]) {
      expect(() => nd.setThreads(bad as number), String(bad)).toThrow(/setThreads: expected an integer from 1 to 64/);
    }
    expect(nd.getThreads()).toBe(2);
  });
});

describe("falling back to the single-threaded build", () => {
  const probe = `
    const { nd } = await import(pkgUrl);
    const { threadsInfo } = await import(new URL("./threads.js", pkgUrl).href);
    let error = null;
    try { nd.setThreads(2); } catch (e) { error = e instanceof Error ? e.message : String(e); }
    nd.setThreads(1); // always allowed
    const a = nd.random.uniform(-1, 1, [300, 300]);
    const ok = a.dot(a).shape.join("x") === "300x300";
    out = { ...threadsInfo(), threads: nd.getThreads(), error, ok };
  `;

  it("when SharedArrayBuffer is hidden", () => {
    const r = inChild(`delete globalThis.SharedArrayBuffer;\n${probe}`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toMatchObject({ build: "single", threads: 1, helpersRunning: 0, ok: true });
    const { error } = r.out as { error: string };
    expect(error).toMatch(/^setThreads\(2\): ndgrad is running its single-threaded WebAssembly build: SharedArrayBuffer is not available here$/);
  });

  it("when NDGRAD_THREADS=0 asks for it", () => {
    const r = inChild(probe, { env: { NDGRAD_THREADS: "0" } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toMatchObject({ build: "single", threads: 1, ok: true });
    expect((r.out as { error: string }).error).toMatch(/NDGRAD_THREADS=0/);
  });

  describe("when the threads module is missing or broken", () => {
    const dirs: string[] = [];
    afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
    /** A copy of pkg/ whose threads module is `replace`d (null: deleted). */
    function pkgCopy(replace: Uint8Array | null): string {
      const dir = mkdtempSync(join(tmpdir(), "ndgrad-threads-"));
      dirs.push(dir);
      // The package's modules, subdirectories too (pkg/gluon/…, pkg/worker/…).
      cpSync(pkgDir, dir, {
        recursive: true,
        filter: (src) => statSync(src).isDirectory() || src.endsWith(".js") || src.endsWith(".wasm"),
      });
      if (replace === null) rmSync(join(dir, "ndgrad-threads.wasm"));
      else writeFileSync(join(dir, "ndgrad-threads.wasm"), replace);
      return join(dir, "index.js");
    }

    it("missing", () => {
      const r = inChild(probe, { pkg: pkgCopy(null) });
      expect(r.status, r.stderr).toBe(0);
      expect(r.out).toMatchObject({ build: "single", threads: 1, ok: true });
      expect((r.out as { reason: string }).reason).toMatch(/^the threads build could not start \(.*ENOENT/);
    });

    it("not WebAssembly", () => {
      const r = inChild(probe, { pkg: pkgCopy(new TextEncoder().encode("not wasm at all")) });
      expect(r.status, r.stderr).toBe(0);
      expect(r.out).toMatchObject({ build: "single", threads: 1, ok: true });
      expect((r.out as { error: string }).error).toMatch(/single-threaded WebAssembly build: the threads build could not start/);
    });

    it("the single-threaded module in its place (no shared memory)", () => {
      const r = inChild(probe, { pkg: pkgCopy(readFileSync(join(pkgDir, "ndgrad.wasm"))) });
      expect(r.status, r.stderr).toBe(0);
      expect(r.out).toMatchObject({ build: "single", threads: 1, ok: true });
    });
  });
});

describe("processes with helper threads", () => {
  it("end on their own once their work is done", () => {
    const r = inChild(
      `
      const { nd } = await import(pkgUrl);
      const { threadsInfo } = await import(new URL("./threads.js", pkgUrl).href);
      nd.setThreads(3);
      // Helpers start asynchronously: on a loaded machine a worker thread
      // can take longer than a fixed wait (200 ms was seen to be too short).
      for (let i = 0; i < 160 && threadsInfo().helpersRunning < 2; i++) await new Promise((r) => setTimeout(r, 50));
      const a = nd.random.uniform(-1, 1, [400, 400]);
      for (let i = 0; i < 5; i++) a.dot(a).dispose();
      out = threadsInfo();
    `,
      { timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toMatchObject({ build: "threads", threads: 3, helpersRunning: 2 });
    expect(r.ms).toBeLessThan(10_000);
  });

  it("end on process.exit() in the middle of a run", () => {
    const r = inChild(
      `
      const { nd } = await import(pkgUrl);
      const a = nd.random.uniform(-1, 1, [300, 300]);
      a.dot(a).dispose();
      console.log(JSON.stringify("exiting"));
      process.exit(0);
    `,
      { timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toBe("exiting");
  });

  it("end when a helper is still starting", () => {
    const r = inChild(
      `
      const { nd } = await import(pkgUrl);
      nd.setThreads(4);
      out = nd.getThreads();
    `,
      { timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toBe(4);
  });
});
