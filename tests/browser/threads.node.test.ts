// The threads build in headless Chromium: a cross-origin isolated page
// (served with COOP: same-origin and COEP: require-corp) loads
// ndgrad-threads.wasm and starts helper Workers; the same page served
// without those headers gets the single-threaded build. Matrix products
// are bit for bit the same on 1 and 2 threads and in both builds, on the
// page's main thread (which spin-waits for its helpers) and in a module
// Worker that runs the engine (whose helpers are nested Workers).
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectErrors, launchChromium } from "./page-helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".map": "application/json",
};

// Runs in the page and in a module Worker: products of seeded matrices
// (odd sizes, several k blocks, batchDot, a backward) on 1 and 2 threads.
const PROBE = `
import { nd, autograd } from "/pkg/index.js";
import { threadsInfo } from "/pkg/threads.js";
export async function probe() {
  const info = threadsInfo();
  let setError = null;
  try { nd.setThreads(2); } catch (e) { setError = e.message; }
  const run = () => nd.scope(() => {
    nd.random.seed(21);
    const out = [];
    for (const [m, k, n] of [[64, 784, 256], [131, 257, 67], [257, 129, 513], [5, 1000, 300], [300, 300, 300]]) {
      const a = nd.random.uniform(-1, 1, [m, k]), b = nd.random.uniform(-1, 1, [k, n]);
      a.attachGrad(); b.attachGrad();
      const y = autograd.record(() => a.dot(b).square());
      y.backward();
      out.push(y.data(), a.grad.data(), b.grad.data());
      out.push(nd.batchDot(a.reshape([1, m, k]), b.reshape([1, k, n])).data());
      a.dispose(); b.dispose();
    }
    const bytes = new Uint8Array(out.reduce((s, x) => s + x.byteLength, 0));
    let p = 0;
    for (const x of out) { bytes.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), p); p += x.byteLength; }
    return bytes;
  });
  const one = (nd.setThreads(1), run());
  let two = one;
  if (info.build === "threads") { nd.setThreads(2); two = run(); }
  const hex = async (b) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", b))].map((x) => x.toString(16).padStart(2, "0")).join("");
  return {
    isolated: globalThis.crossOriginIsolated === true,
    build: info.build,
    threads: info.threads,
    helperTasks: threadsInfo().helperTasks,
    setError,
    same: (await hex(one)) === (await hex(two)),
    hash: await hex(one),
    live: nd.memory().arrays,
  };
}
`;

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  import { probe } from "/probe.js";
  const w = new Worker("/worker.js", { type: "module" });
  const inWorker = new Promise((resolve) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => resolve({ error: e.message });
  });
  window.result = { main: await probe(), worker: await inWorker };
</script>`;

const WORKER = `import { probe } from "/probe.js";
postMessage(await probe());`;

const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

function serve(isolated: boolean): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const send = (body: string | Buffer, type: string): void => {
      res.writeHead(200, { "content-type": type, ...(isolated ? ISOLATION : {}) });
      res.end(body);
    };
    if (path === "/") return send(PAGE, "text/html");
    if (path === "/probe.js") return send(PROBE, "text/javascript");
    if (path === "/worker.js") return send(WORKER, "text/javascript");
    if (path === "/favicon.ico") {
      res.writeHead(204);
      return res.end();
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(join(root, "pkg"))) {
      res.writeHead(404);
      return res.end();
    }
    readFile(file).then(
      (body) => send(body, TYPES[extname(file)] ?? "application/octet-stream"),
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("no port"));
      else resolve({ server, base: `http://127.0.0.1:${address.port}/` });
    });
  });
}

interface Probe {
  isolated: boolean;
  build: string;
  threads: number;
  helperTasks: number;
  setError: string | null;
  same: boolean;
  hash: string;
  live: number;
}

let browser: Browser;
const servers: Server[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function load(isolated: boolean): Promise<{ main: Probe; worker: Probe; errors: string[] }> {
  const { server, base } = await serve(isolated);
  servers.push(server);
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(base);
  await page.waitForFunction(() => (window as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
  const result = (await page.evaluate(() => (window as unknown as { result: unknown }).result)) as { main: Probe; worker: Probe };
  await page.close();
  return { ...result, errors };
}

describe("the threads build in Chromium", () => {
  let isolated: Awaited<ReturnType<typeof load>>;
  let plain: Awaited<ReturnType<typeof load>>;

  beforeAll(async () => {
    isolated = await load(true);
    plain = await load(false);
  }, 120_000);

  it("runs on a cross-origin isolated page, on the main thread and in a Worker", () => {
    expect(isolated.errors).toEqual([]);
    for (const r of [isolated.main, isolated.worker]) {
      expect(r).toMatchObject({ isolated: true, build: "threads", setError: null, same: true, live: 0 });
      expect(r.helperTasks).toBeGreaterThan(0);
    }
  });

  it("falls back to the single-threaded build without cross-origin isolation", () => {
    expect(plain.errors).toEqual([]);
    for (const r of [plain.main, plain.worker]) {
      expect(r).toMatchObject({ isolated: false, build: "single", threads: 1, helperTasks: 0, live: 0 });
      expect(r.setError).toMatch(/^setThreads\(2\): ndgrad is running its single-threaded WebAssembly build: /);
    }
  });

  it("gives the same bits in both builds", () => {
    const hashes = new Set([isolated.main.hash, isolated.worker.hash, plain.main.hash, plain.worker.hash]);
    expect(hashes.size).toBe(1);
  });
});
