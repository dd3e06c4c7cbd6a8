// No bundler: the built package served as plain files to a page that loads
// it with <script type="module"> and an import map, and to a plain module
// Worker that imports it by URL — in headless Debian Chromium.
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectErrors, launchChromium, NOTEBOOK } from "./page-helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".map": "application/json",
};

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">{ "imports": { "ndgrad": "/pkg/index.js" } }</script>
<pre id="main"></pre><pre id="worker"></pre>
<script type="module">
  import { nd, autograd } from "ndgrad";
  const X = nd.array([[1, 2], [3, 4]]);
  X.attachGrad();
  const Y = autograd.record(() => nd.mul(2, X).mul(X));
  Y.backward();
  document.getElementById("main").textContent = [String(X), String(Y), String(X.grad), String(nd.array([[2, 4], [7, 5]]).norm()), String(nd.simd())].join("|");
  const w = new Worker("/worker.js", { type: "module" });
  w.onmessage = (e) => { document.getElementById("worker").textContent = e.data; };
  w.onerror = (e) => { document.getElementById("worker").textContent = "error: " + e.message; };
</script>`;

// A plain module worker: no import map exists inside workers, so it imports the package by URL.
const WORKER = `import { nd, autograd } from "/pkg/index.js";
const x = nd.array([0.9273255, -0.45468742]);
x.attachGrad();
const c = autograd.record(() => { let b = x.mul(2); while (b.norm().asscalar() < 1000) b = b.mul(2); return b.sum().asscalar() >= 0 ? b.at(0) : b.at(1); });
c.backward();
postMessage([String(c), String(x.grad)].join("|"));`;

// \`ndgrad/worker\` with no bundler: the import map names only the package's
// two entries (so comlink, which the page never names, must come with them),
// and the tutorial runs through \`createWorker()\`, whose Worker resolves
// everything by URL. Served under /iso/ with COOP/COEP, the page is
// cross-origin isolated and the worker loads the threads build (whose
// helpers are Workers nested in it).
const WORKER_PAGE = (prefix: string): string => `<!doctype html>
<meta charset="utf-8">
<script type="importmap">{ "imports": { "ndgrad": "${prefix}/pkg/index.js", "ndgrad/worker": "${prefix}/pkg/worker/index.js" } }</script>
<pre id="out"></pre>
<script type="module">
  import { createWorker } from "ndgrad/worker";
  const out = {};
  try {
    const w = await createWorker();
    const { nd, autograd } = w;
    const s = (x) => x.toString();
    const X = nd.array([[1, 2], [3, 4]]);
    out[14] = await s(X);
    X.attachGrad();
    out[16] = await s(await X.grad);
    const Y = await autograd.record(() => nd.mul(2, X).mul(X));
    out[17] = await s(Y);
    const lines = ["Before back-prop", await s(X), await s(await X.grad), await s(Y)];
    await Y.backward();
    lines.push("After back-prop", await s(X), await s(await X.grad), await s(Y));
    out[18] = lines.map((l) => l + "\\n").join("");
    const a = nd.array([0.9273255, -0.45468742]);
    a.attachGrad();
    const c = await autograd.record(async () => {
      let b = a.mul(2);
      while ((await b.norm().asscalar()) < 1000) b = b.mul(2);
      return (await b.sum().asscalar()) >= 0 ? b.at(0) : b.at(1);
    });
    await c.backward();
    out[90] = await s(c);
    const parts = [await s(await a.grad), await s(c.div(a))].map((p) => p.split("\\n").join("\\n "));
    out[91] = "[" + parts.join(", ") + "]";
    const X2 = nd.array([[2, 4], [7, 5]]);
    out[93] = await s(X2.norm());
    out[94] = await s(X2.sum());
    out.simd = await nd.simd();
    out.threads = await nd.getThreads();
    out.isolated = globalThis.crossOriginIsolated === true;
    await w.terminate();
  } catch (e) {
    out.error = String((e && e.stack) || e);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
</script>`;

let server: Server;
let browser: Browser;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const isolated = path.startsWith("/iso/");
    if (isolated) path = path.slice("/iso".length);
    const headers = isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {};
    const send = (body: string | Buffer, type: string): void => {
      res.writeHead(200, { "content-type": type, ...headers });
      res.end(body);
    };
    if (path === "/") return send(PAGE, "text/html");
    if (path === "/worker-page") return send(WORKER_PAGE(isolated ? "/iso" : ""), "text/html");
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
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  base = `http://127.0.0.1:${address.port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

describe("the package without a bundler", () => {
  it("runs from an import map on the main thread and by URL in a module Worker", async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(base);
    await page.waitForFunction(() => document.getElementById("worker")!.textContent !== "", undefined, { timeout: 30_000 });
    const main = (await page.textContent("#main"))!.split("|");
    expect(main).toEqual([
      NOTEBOOK[14]!.result,
      NOTEBOOK[17]!.result,
      "\n[[ 4.  8.]\n [12. 16.]]\n<NDArray 2x2 @cpu(0)>",
      NOTEBOOK[93]!.result,
      "true",
    ]);
    const worker = (await page.textContent("#worker"))!.split("|");
    expect(worker).toEqual([NOTEBOOK[90]!.result, "\n[1024.    0.]\n<NDArray 2 @cpu(0)>"]);
    expect(errors).toEqual([]);
    await page.close();
  });

  for (const isolated of [false, true]) {
    it(`runs the tutorial through createWorker() from an import map naming only ndgrad and ndgrad/worker${isolated ? " (cross-origin isolated: the threads build)" : ""}`, async () => {
      const page = await browser.newPage();
      const errors = collectErrors(page);
      const requested: string[] = [];
      page.on("request", (r) => requested.push(new URL(r.url()).pathname));
      await page.goto(`${base}${isolated ? "iso/" : ""}worker-page`);
      await page.waitForFunction(() => document.getElementById("out")!.textContent !== "", undefined, { timeout: 60_000 });
      const out = JSON.parse((await page.textContent("#out"))!) as Record<string, unknown>;
      expect(out.error).toBeUndefined();
      expect(out).toEqual({
        14: NOTEBOOK[14]!.result,
        16: NOTEBOOK[16]!.result,
        17: NOTEBOOK[17]!.result,
        18: NOTEBOOK[18]!.stdout,
        90: NOTEBOOK[90]!.result,
        91: NOTEBOOK[91]!.result,
        93: NOTEBOOK[93]!.result,
        94: NOTEBOOK[94]!.result,
        simd: true,
        // min(cores, 4) helpers on the threads build; 1 on the single-threaded one.
        threads: isolated ? Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 4) : 1,
        isolated,
      });
      // The worker and its modules came by URL from the package, comlink with them.
      const prefix = isolated ? "/iso" : "";
      expect(requested).toContain(`${prefix}/pkg/worker/worker.js`);
      expect(requested).toContain(`${prefix}/pkg/worker/comlink.js`);
      expect(errors).toEqual([]);
      await page.close();
    });
  }
});

