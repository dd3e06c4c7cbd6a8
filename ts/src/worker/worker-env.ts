// Imported first by worker.ts, so it runs before the engine loads (the
// engine picks its build while ../index.js is evaluated): carries
// `createWorker({ threads })` into this thread as `NDGRAD_THREADS`, which
// ts/src/loader.ts reads. Node passes it in the worker's environment; a
// browser Worker has no channel that early but its name (its script URL is
// a literal that bundlers rewrite), so the client ends the name with
// `${THREADS_TAG}<n>]`.
import { THREADS_TAG } from "./protocol.js";

const g = globalThis as { name?: unknown; NDGRAD_THREADS?: unknown };
if (typeof g.name === "string" && g.name.endsWith("]")) {
  const at = g.name.lastIndexOf(THREADS_TAG);
  const n = at < 0 ? "" : g.name.slice(at + THREADS_TAG.length, -1);
  if (/^\d+$/.test(n)) g.NDGRAD_THREADS = n;
}
