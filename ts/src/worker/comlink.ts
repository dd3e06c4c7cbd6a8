// comlink, as every module of pkg/ imports it: by relative URL. tsc compiles
// this re-export to pkg/worker/comlink.js; scripts/build.mjs then replaces
// that file with comlink itself bundled in (esbuild), so that nothing in
// pkg/ imports a bare specifier: a page without a bundler maps only
// "ndgrad" and "ndgrad/worker", and a Worker (which sees no import map)
// resolves everything by URL. One module, so one comlink per thread: the
// calling side (index.js, client.js) and the worker (worker.js) each load it
// once. Bundlers treat it as any other module of the package.
// The declarations (pkg/worker/comlink.d.ts) still re-export comlink's own
// types, which is why comlink stays a dependency of the package.
export * from "comlink";
