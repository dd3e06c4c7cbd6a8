// The package as users get it: `npm pack`, then the tarball installed into
// fresh projects in a temporary directory (from the tarball and the npm
// cache; the registry only for what the cache lacks):
//   - a Node ESM project: `import { nd, autograd } from "ndgrad"` prints the
//     tutorial's strings, `ndgrad/worker` works, the .d.ts files type-check;
//   - a Vite app: `vite build`, the built page served on 127.0.0.1 computes
//     in headless Chromium (main thread and Web Worker); and Vite's dev server.
// Set NDGRAD_KEEP_PACK=1 to keep the temporary directory.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, posix } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectErrors, launchChromium, NOTEBOOK } from "../browser/page-helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const appFiles = fileURLToPath(new URL("./app/", import.meta.url));
const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  devDependencies: Record<string, string>;
};
const viteVersion = (JSON.parse(readFileSync(join(root, "node_modules", "vite", "package.json"), "utf8")) as { version: string })
  .version;

let dir: string;
let tarball: string;
let browser: Browser | undefined;

/** The environment for child npm/node: without the variables of an outer `npm test`. */
function childEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig", "npm_config_prefer_offline", "npm_config_offline"]);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase())) env[k] = v;
  }
  return { ...env, NO_COLOR: "1", npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: childEnv(), encoding: "utf8", timeout, maxBuffer: 64 << 20 });
  if (r.error !== undefined) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** A new project in the temp directory with the tarball (and `deps`) installed. */
function project(name: string, deps: string[] = []): string {
  const p = join(dir, name);
  cpSync(appFiles, p, { recursive: true }); // tests/pack/app: the scripts and the page
  writeFileSync(join(p, "package.json"), JSON.stringify({ name, private: true, type: "module" }, null, 2));
  ok(run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, ...deps], p), `npm install in ${name}`);
  return p;
}

/** What Python's print() of each notebook output writes (the tutorial's first cells, then 93-94). */
const FIRST_CELLS =
  [NOTEBOOK[14]!.result, NOTEBOOK[16]!.result, NOTEBOOK[17]!.result].map((s) => `${s}\n`).join("") +
  NOTEBOOK[18]!.stdout +
  [NOTEBOOK[93]!.result, NOTEBOOK[94]!.result].map((s) => `${s}\n`).join("") +
  "simd true\n";

beforeAll(() => {
  if (!existsSync(join(root, "pkg", "ndgrad.wasm"))) throw new Error("pkg/ndgrad.wasm is missing: run `npm run build` first");
  dir = mkdtempSync(join(tmpdir(), "ndgrad-pack-"));
  const out = ok(run(npm, ["pack", "--json", "--pack-destination", dir, "--loglevel=error"], root), "npm pack");
  const [info] = JSON.parse(out) as { filename: string }[];
  tarball = join(dir, info!.filename);
});

afterAll(async () => {
  await browser?.close();
  if (dir !== undefined && process.env.NDGRAD_KEEP_PACK === undefined) rmSync(dir, { recursive: true, force: true });
});

describe("npm pack", () => {
  it("ships pkg/ (ESM, .d.ts, worker/, the .wasm, source maps) and the maps' TypeScript sources, nothing else", () => {
    const out = ok(run(npm, ["pack", "--dry-run", "--json", "--loglevel=error"], root), "npm pack --dry-run");
    const [info] = JSON.parse(out) as { files: { path: string; size: number }[]; unpackedSize: number; version: string }[];
    const files = info!.files.map((f) => f.path).sort();
    for (const f of [
      "package.json", "pkg/index.js", "pkg/index.d.ts", "pkg/loader.js", "pkg/ndgrad.wasm",
      "pkg/worker/index.js", "pkg/worker/index.d.ts", "pkg/worker/worker.js", "pkg/worker/client.js",
    ]) {
      expect(files).toContain(f);
    }
    const allowed = /^(package\.json|README\.md|LICENSE(\.\w+)?|pkg\/[\w/-]+\.(js|d\.ts|js\.map|wasm)|ts\/src\/[\w/-]+(\.d)?\.ts)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    // Budget: four .wasm builds of ~950 KB each since the neural-network
    // operators, uint8, the optimizers and max pooling's stream kernels
    // (~90 KB of them, one per window geometry: 3-6x faster pooling)
    // (single-threaded, threads, and their relaxed-SIMD variants; a page
    // loads one of them), plus the JS, .d.ts, maps and sources (~1 MB with
    // gluon and the file formats).
    expect(info!.unpackedSize).toBeLessThan(5_500_000);
    expect(info!.version).toBe(rootPackage.version);

    const shipped = new Set(files);
    for (const f of files) {
      if (f.endsWith(".js.map")) {
        // Source maps point at shipped sources.
        const map = JSON.parse(readFileSync(join(root, f), "utf8")) as { sources: string[] };
        for (const src of map.sources) expect(shipped.has(posix.normalize(posix.join(posix.dirname(f), src))), `${f} → ${src}`).toBe(true);
      } else if (f.startsWith("pkg/") && (f.endsWith(".js") || f.endsWith(".d.ts"))) {
        // Every relative import of a shipped module is shipped. The modules
        // import nothing else but Node built-ins (a page without a bundler,
        // and any Worker, could not resolve a bare specifier: comlink is
        // bundled into pkg/worker/comlink.js); declarations may name comlink's types.
        const code = readFileSync(join(root, f), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
        for (const m of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["']([^"']+)["']/g)) {
          const spec = m[1]!;
          if (spec.startsWith(".")) {
            const target = posix.normalize(posix.join(posix.dirname(f), spec));
            expect([target, target.replace(/\.js$/, ".d.ts")].some((c) => shipped.has(c)), `${f} imports ${spec}`).toBe(true);
          } else {
            expect(spec, `${f} imports ${spec}`).toMatch(f.endsWith(".d.ts") ? /^(comlink|node:[\w/]+)$/ : /^node:[\w/]+$/);
          }
        }
      }
    }
  });
});

describe("the tarball in a fresh Node project", () => {
  let app: string;
  beforeAll(() => {
    app = project("node-app");
  });

  it('import { nd, autograd } from "ndgrad" prints the tutorial\'s strings', () => {
    const r = run(process.execPath, ["node-main.mjs"], app, 60_000);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(FIRST_CELLS);
  });

  it('"ndgrad/worker" runs the same cells in a worker thread, and the process ends by itself', () => {
    const r = run(process.execPath, ["node-worker.mjs"], app, 60_000);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(FIRST_CELLS);
  });

  it("its .d.ts files type-check a strict consumer (NodeNext, skipLibCheck off)", () => {
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true,
          skipLibCheck: false, types: [], lib: ["ES2022", "ESNext.Disposable", "DOM"],
        },
        files: ["types-check.ts"],
      }),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = run(process.execPath, [tsc, "-p", "tsconfig.json"], app, 90_000);
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  });
});

/** A tiny static server for a built app (the .wasm as application/wasm). */
function serve(dist: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
    ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml",
  };
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(dist, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(dist) || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const a = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${a.port}/` });
    });
  });
}

/** Loads the app's page and returns what it computed. */
async function pageResults(url: string): Promise<{ state: string; main: string; worker: string; errors: string[] }> {
  browser ??= await launchChromium();
  const page = await browser.newPage();
  const errors = collectErrors(page);
  try {
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 60_000 });
    return {
      state: (await page.getAttribute("body", "data-state"))!,
      main: (await page.textContent("#main"))!,
      worker: (await page.textContent("#worker"))!,
      errors,
    };
  } finally {
    await page.close();
  }
}

const PAGE_TEXT = [14, 16, 17].map((n) => NOTEBOOK[n]!.result).join("") + "\n[[ 4.  8.]\n [12. 16.]]\n<NDArray 2x2 @cpu(0)>" + "simd true";

describe("the tarball in a fresh Vite app", () => {
  let app: string;
  beforeAll(() => {
    app = project("vite-app", [`vite@${viteVersion}`]);
  });

  it("vite build succeeds, and the built page computes in headless Chromium (main thread and Worker)", async () => {
    const vite = join(app, "node_modules", "vite", "bin", "vite.js");
    const r = run(process.execPath, [vite, "build", "--logLevel", "warn"], app, 120_000);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // No warnings. Rolldown's [PLUGIN_TIMINGS] note is about the machine's
    // speed (it appears when plugins take most of a build on a loaded
    // machine), not about the package: left out.
    const output = `${r.stdout}${r.stderr}`
      .replace(/\u001b\[[0-9;]*m/g, "")
      .replace(/\[PLUGIN_TIMINGS\][\s\S]*?bundlertimings for more details\.?/g, "");
    expect(output.trim()).toBe("");
    const dist = join(app, "dist");
    const { server, url } = await serve(dist);
    try {
      const got = await pageResults(url);
      expect(got).toEqual({ state: "done", main: PAGE_TEXT, worker: PAGE_TEXT, errors: [] });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("and on Vite's dev server", async () => {
    const vite = (await import(pathToFileURL(join(app, "node_modules", "vite", "dist", "node", "index.js")).href)) as typeof import("vite");
    const server = await vite.createServer({
      root: app,
      configFile: join(app, "vite.config.js"),
      logLevel: "warn",
      server: { host: "127.0.0.1", port: 0, hmr: false, watch: null },
    });
    await server.listen();
    try {
      const a = server.httpServer!.address() as { port: number };
      const got = await pageResults(`http://127.0.0.1:${a.port}/`);
      expect(got).toEqual({ state: "done", main: PAGE_TEXT, worker: PAGE_TEXT, errors: [] });
    } finally {
      await server.close();
    }
  });
});
