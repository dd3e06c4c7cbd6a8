// The interactive tutorial page (examples/web, `npm run demo:web`) on a Vite
// dev server, driven in headless Debian Chromium with playwright: every
// cell's output is the notebook's, the gradient plot and the control-flow
// button work, nothing errors; a screenshot goes to tests/browser/.
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright";
import { createServer, type ViteDevServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectErrors, launchChromium, NOTEBOOK } from "./page-helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const SCREENSHOT = fileURLToPath(new URL("./tutorial-page.png", import.meta.url));

let server: ViteDevServer;
let browser: Browser;
let url: string;

beforeAll(async () => {
  if (!existsSync(`${root}pkg/ndgrad.wasm`)) throw new Error("pkg/ndgrad.wasm is missing: run `npm run build` first");
  server = await createServer({
    configFile: `${root}examples/web/vite.config.ts`,
    server: { port: 0, strictPort: false, hmr: false, watch: null },
    logLevel: "warn",
  });
  await server.listen();
  const address = server.httpServer!.address();
  if (address === null || typeof address === "string") throw new Error("vite: no port");
  url = `http://127.0.0.1:${address.port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("examples/web: the tutorial page", () => {
  it("shows every cell's output as the notebook printed it, the plot and the control flow; saves a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const errors = collectErrors(page);
    await page.goto(url);
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, {
      timeout: 90_000,
    });
    expect(await page.textContent("#status")).toMatch(/^done · SIMD: true · worker memory: \d+ arrays, 0 tape nodes$/);
    expect(await page.textContent("#timing")).toMatch(/^\d+ ms$/);
    expect(await page.getAttribute("body", "data-state")).toBe("done");

    // The cells: code shown, and the notebook's outputs exactly.
    const cells = await page.$$eval(".cell", (divs) =>
      divs.map((d) => ({
        n: Number((d as HTMLElement).dataset.n),
        code: d.querySelector(".ts")!.textContent!,
        stdout: d.querySelector(".stdout")?.textContent ?? "",
        result: d.querySelector(".result")?.textContent ?? null,
      })),
    );
    expect(cells.map((c) => c.n)).toEqual([0, 14, 0, 16, 17, 18, 0, 90, 91, 0, 93, 94]);
    for (const c of cells) {
      expect(c.code.length).toBeGreaterThan(0);
      const want = NOTEBOOK[c.n] ?? { stdout: "" };
      expect({ n: c.n, stdout: c.stdout, result: c.result }).toEqual({ n: c.n, stdout: want.stdout, result: want.result ?? null });
    }

    // f(x) = 2x²: the autograd gradient is exactly 4x at every point, drawn as SVG.
    expect(await page.getAttribute("#plot-check", "data-worst")).toBe("0");
    expect(await page.textContent("#plot-check")).toBe("61 points: max |x.grad − 4x| = 0");
    expect(await page.locator("#plot svg polyline").count()).toBe(2);
    expect(await page.locator("#plot svg circle").count()).toBeGreaterThan(20);

    // Control flow: each click draws a new a; a.grad is c/a at the picked element, 0 at the other.
    type Result = { a: number[]; c: number[]; grad: number[]; ratio: number[]; pick: number; ok: boolean };
    const read = async (): Promise<Result> => JSON.parse((await page.getAttribute("#control-flow", "data-result"))!);
    const seen = [await read()];
    for (let k = 2; k <= 4; k++) {
      await page.click("#resample");
      await page.waitForFunction((n) => document.querySelector<HTMLElement>("#control-flow")!.dataset.samples === String(n), k, {
        timeout: 30_000,
      });
      await page.waitForFunction(() => !document.querySelector<HTMLButtonElement>("#resample")!.disabled);
      seen.push(await read());
    }
    for (const r of seen) {
      expect(r.ok).toBe(true);
      expect(r.a.every((v) => v >= -1 && v <= 1)).toBe(true);
      expect(r.grad[r.pick]).toBe(r.ratio[r.pick]);
      expect(r.grad[1 - r.pick]).toBe(0);
      expect(Math.abs(r.c[0]!)).toBeGreaterThan(0);
    }
    expect(new Set(seen.map((r) => JSON.stringify(r.a))).size).toBe(seen.length);
    expect(await page.textContent("#cf-check")).toMatch(/^c = b\[[01]\]: a\.grad\[[01]\] = c\/a\[[01]\] = \d+, a\.grad\[[01]\] = 0$/);
    expect(await page.textContent("#cf-log")).toMatch(/\nDone\n$/);

    // The main thread kept drawing frames while the worker computed.
    const frames = Number((await page.textContent("#heartbeat"))!.match(/(\d+) frames/)![1]);
    expect(frames).toBeGreaterThan(0);

    // Without the run's timings, so the picture only changes when the page does.
    await page.screenshot({ path: SCREENSHOT, fullPage: true, style: "#timing, #heartbeat { visibility: hidden; }" });
    expect(statSync(SCREENSHOT).size).toBeLessThan(1_000_000);
    expect(errors).toEqual([]);
    await page.close();
  });
});
