// The training page (examples/train-web).
//
//   npm run demo:train-web    Vite dev server at http://127.0.0.1:5174 (the next
//                             free port if taken), cross-origin isolated (COOP/COEP),
//                             so the worker runs ndgrad's threads build
//   npm run build:train-web   static build → examples/train-web/dist (page, JS, .wasm,
//                             data/): any static server, with or without COOP/COEP
//
// The data are the four Fashion-MNIST .gz files of Debian's
// dataset-fashion-mnist (/usr/share/datasets/fashion-mnist; installed with
// apt-get when missing and running as root on Debian, as `npm run train`
// does), or of the directory in NDGRAD_FASHION_DIR. The dev server serves
// them at data/; the static build copies them to dist/data/.
//
// One engine per worker: the worker module (train-worker.ts) imports
// "ndgrad", and must get the very module instance ndgrad's worker runtime
// (pkg/worker/worker.js) imported, not a copy. In the dev server "ndgrad" is
// aliased to pkg/index.js, which Vite serves at one URL (/@fs/…/pkg/index.js)
// to both. In the static build "ndgrad" is not bundled at all: it is
// external, rewritten to ./ndgrad/index.js, and pkg/ is copied to
// dist/ndgrad/ as is, so the page, the runtime's worker.js (../index.js)
// and the module all name the same file. The page checks it at start-up
// (trainState.engineCheck: arrays alive seen from the module and from the
// runtime agree).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, createReadStream } from "node:fs";
import { join, relative } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = fileURLToPath(new URL("../..", import.meta.url));
const pkg = (p: string): string => join(repo, "pkg", p);

const DATA_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";

/** The directory with the four .gz files (NDGRAD_FASHION_DIR, else Debian's package, installed if we may). */
function dataDir(): string {
  const has = (dir: string): boolean => DATA_FILES.every((f) => existsSync(join(dir, f)));
  const given = process.env.NDGRAD_FASHION_DIR;
  if (given !== undefined && given !== "") {
    if (has(given)) return given;
    throw new Error(`NDGRAD_FASHION_DIR=${given} does not hold the Fashion-MNIST files (${DATA_FILES.join(", ")})`);
  }
  if (has(DEBIAN_DIR)) return DEBIAN_DIR;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const debian = existsSync("/etc/debian_version");
  if (root && debian) {
    console.log(`Fashion-MNIST is not in ${DEBIAN_DIR}: installing Debian's dataset-fashion-mnist with apt-get`);
    execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", "dataset-fashion-mnist"], { stdio: "inherit" });
    if (has(DEBIAN_DIR)) return DEBIAN_DIR;
  }
  throw new Error(
    `Fashion-MNIST was not found in ${DEBIAN_DIR}. ` +
      (debian ? "Install it with: sudo apt-get install dataset-fashion-mnist, " : "") +
      `or set NDGRAD_FASHION_DIR to a directory holding ${DATA_FILES.join(", ")} (from https://github.com/zalandoresearch/fashion-mnist).`,
  );
}

const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

type Next = (err?: unknown) => void;

/**
 * COOP/COEP on every response, so the page is cross-origin isolated and
 * the worker can load the threads build (`threads=0` asks it for the
 * single-threaded one: createWorker({ threads: 0 })). And the data at data/.
 */
function serveMiddleware(dir: string | null) {
  return (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
    const m = /^\/data\/([^/]+)$/.exec(url.pathname);
    if (dir === null || m === null || !DATA_FILES.includes(m[1]!)) return next();
    const file = join(dir, m[1]!);
    // Plain bytes with their length (the page's progress bar), not
    // Content-Encoding: the page decompresses them itself.
    res.writeHead(200, {
      "Content-Type": "application/gzip",
      "Content-Length": String(statSync(file).size),
      "Cache-Control": "no-cache",
    });
    createReadStream(file).pipe(res);
  };
}

function copyTree(from: string, to: string, keep: (name: string) => boolean): void {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    if (statSync(src).isDirectory()) copyTree(src, join(to, name), keep);
    else if (keep(name)) {
      mkdirSync(to, { recursive: true });
      copyFileSync(src, join(to, name));
    }
  }
}

function trainWeb(): Plugin {
  let outDir = join(here, "dist");
  return {
    name: "ndgrad-train-web",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    configureServer(server) {
      server.middlewares.use(serveMiddleware(dataDir()));
    },
    configurePreviewServer(server) {
      // dist/data holds the files already: headers only.
      server.middlewares.use(serveMiddleware(null));
    },
    writeBundle() {
      if (!existsSync(pkg("index.js"))) throw new Error("pkg/index.js is missing: run node scripts/build.mjs first");
      // ndgrad as an installed package ships it: the ES modules and the .wasm files.
      copyTree(join(repo, "pkg"), join(outDir, "ndgrad"), (n) => n.endsWith(".js") || n.endsWith(".wasm"));
      const dir = dataDir();
      mkdirSync(join(outDir, "data"), { recursive: true });
      for (const f of DATA_FILES) copyFileSync(join(dir, f), join(outDir, "data", f));
      console.log(`train-web: copied pkg/ to ${relative(repo, join(outDir, "ndgrad"))}/ and the data from ${dir} to ${relative(repo, join(outDir, "data"))}/`);
    },
  };
}

export default defineConfig(({ command }) => ({
  root: here,
  // By command, not import.meta.env.DEV (which follows NODE_ENV: a build
  // under NODE_ENV=test would ask for the .ts).
  define: { TRAIN_WORKER_MODULE: JSON.stringify(command === "serve" ? "train-worker.ts" : "train-worker.js") },
  // Relative URLs everywhere: dist/ works from any directory of any server.
  base: "./",
  plugins: [trainWeb()],
  resolve:
    command === "serve"
      ? {
          // "ndgrad/worker" first: otherwise the "ndgrad" alias would rewrite it.
          alias: [
            { find: /^ndgrad\/worker$/, replacement: pkg("worker/index.js") },
            { find: /^ndgrad$/, replacement: pkg("index.js") },
          ],
        }
      : {},
  cacheDir: join(repo, "node_modules", ".vite", "examples-train-web"),
  server: {
    host: "127.0.0.1",
    port: 5174,
    fs: { allow: [repo] },
  },
  preview: { host: "127.0.0.1", port: 4174 },
  worker: { format: "es" },
  build: {
    outDir: join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    rolldownOptions: {
      // The worker module is an entry of its own (its exports kept): the
      // page passes its URL to createWorker, nothing imports it.
      input: { index: join(here, "index.html"), "train-worker": join(here, "train-worker.ts") },
      preserveEntrySignatures: "strict",
      external: ["ndgrad", "ndgrad/worker"],
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "[name]-[hash].js",
        // Every chunk sits at dist/'s top level, so one relative path fits all.
        paths: { ndgrad: "./ndgrad/index.js", "ndgrad/worker": "./ndgrad/worker/index.js" },
      },
    },
  },
  clearScreen: false,
}));

