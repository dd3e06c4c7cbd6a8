// `npm run demo:web`: the interactive tutorial on a Vite dev server at
// http://127.0.0.1:5173 (the next free port if taken). "ndgrad" is this
// repository's build (pkg/), as an installed package would be.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const pkg = (p: string): string => fileURLToPath(new URL(`../../pkg/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  resolve: {
    // "ndgrad/worker" first: otherwise the "ndgrad" alias would rewrite it.
    alias: [
      { find: /^ndgrad\/worker$/, replacement: pkg("worker/index.js") },
      { find: /^ndgrad$/, replacement: pkg("index.js") },
    ],
  },
  // Its own cache (not the test runner's). Nothing to pre-bundle: pkg/
  // imports its one dependency, comlink, bundled in by relative URL.
  cacheDir: fileURLToPath(new URL("../../node_modules/.vite/examples-web", import.meta.url)),
  server: {
    host: "127.0.0.1",
    port: 5173,
    fs: { allow: [fileURLToPath(new URL("../..", import.meta.url))] },
  },
  preview: { host: "127.0.0.1" },
  // ndgrad's worker bundle uses top-level await (the engine loads at import).
  worker: { format: "es" },
  build: { outDir: fileURLToPath(new URL("../../target/web-demo", import.meta.url)), emptyOutDir: true },
  clearScreen: false,
});
