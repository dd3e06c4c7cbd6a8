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

let server: Server;
let browser: Browser;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const send = (body: string | Buffer, type: string): void => {
      res.writeHead(200, { "content-type": type });
      res.end(body);
    };
    if (path === "/") return send(PAGE, "text/html");
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
});
