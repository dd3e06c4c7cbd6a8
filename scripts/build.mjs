// `npm run build`: Rust → pkg/ndgrad.wasm (SIMD, wasm-opt -O3) and
// pkg/ndgrad-threads.wasm (SIMD + WebAssembly threads), each also as a
// relaxed-SIMD variant (pkg/ndgrad-relaxed.wasm, pkg/ndgrad-threads-relaxed.wasm),
// TypeScript → pkg/*.js + *.d.ts. Incremental: cargo and tsc skip unchanged
// work and wasm-opt runs only when a raw module changed.
//
//   node scripts/build.mjs              every module (npm test, npm run bench, CI)
//   node scripts/build.mjs --for=node   only the module this Node would load
//                                       (ts/src/loader.ts): `npm run demo`
//   node scripts/build.mjs --for=web    the single-threaded modules a page that is
//                                       not cross-origin isolated loads: `npm run demo:web`
//   node scripts/build.mjs --only=single,threads-relaxed,…
//
// A partial build leaves the other modules in pkg/ as they were (built
// earlier, stale, or absent); the next full build brings them up to date.
// `NDGRAD_BUILD_RELAXED=0` / `NDGRAD_BUILD_THREADS=0` skip (and remove) the
// relaxed-SIMD / threads modules in any mode, for quick iteration.
//
// The two chains of Rust builds (single-threaded, threads) are independent
// (each its own standard library and target directory) and run at the same
// time, with TypeScript alongside: on a first build most of the time goes to
// compiling the standard library, whose big crates (core, std) compile on
// one core each. Within a chain the relaxed-SIMD module follows the plain
// one and reuses its standard library (one target directory, two packages).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { threadsToolchain, wasmToolchain } from "./toolchain.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const started = Date.now();
const log = (msg) => console.error(`[ndgrad build] ${msg}`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

const WASM_OPT_FEATURES = ["--enable-simd", "--enable-bulk-memory", "--enable-sign-ext",
  "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "--enable-multivalue",
  "--enable-reference-types"];

/** Functions wasm-opt must not inline (name patterns; marked before -O3
 *  runs, while the raw module still has its names). wasm-opt inlines a
 *  function with one caller whatever its size, and these kernels' callers
 *  end up inlined into an op's export of a quarter megabyte, where V8's
 *  register allocator keeps a loop's carries in stack slots: the max
 *  pooling row kernel ran 1.3× slower there (kernels/pool.rs). Names
 *  are mangled Rust paths; `*name*` matches the function's own name. */
const WASM_OPT_NO_INLINE = ["--no-inline=*stream_row*", "--no-inline=*max_unpool_2x2*"];

/** The four modules, and what each needs. */
const VARIANTS = {
  single: { out: "ndgrad.wasm", threads: false, relaxed: false },
  "single-relaxed": { out: "ndgrad-relaxed.wasm", threads: false, relaxed: true },
  threads: { out: "ndgrad-threads.wasm", threads: true, relaxed: false },
  "threads-relaxed": { out: "ndgrad-threads-relaxed.wasm", threads: true, relaxed: true },
};

/** `(module (func (result v128) (f32x4.relaxed_madd …)))`: a copy of
 *  RELAXED_SIMD_PROBE in ts/src/loader.ts (this script runs before tsc),
 *  to tell which module this Node would load. */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x13, 0x01, 0x11, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x85,
  0x02, 0x0b,
]);

function parseArgs(argv) {
  let only = null;
  for (const a of argv) {
    if (a === "--for=node") only = ["node"];
    else if (a === "--for=web") only = ["single", "single-relaxed"];
    else if (a.startsWith("--only=")) {
      only = a.slice("--only=".length).split(",").filter(Boolean);
      const bad = only.filter((v) => !(v in VARIANTS));
      if (bad.length > 0) throw new Error(`build: unknown module ${bad.join(", ")} (known: ${Object.keys(VARIANTS).join(", ")})`);
    } else throw new Error(`build: unknown argument ${a} (use --for=node, --for=web or --only=${Object.keys(VARIANTS).join(",")})`);
  }
  return only;
}

let only;
try {
  only = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
const buildRelaxed = process.env.NDGRAD_BUILD_RELAXED !== "0";
const buildThreads = process.env.NDGRAD_BUILD_THREADS !== "0";

// Toolchains first (they may install with apt, which prints its own note).
let ttc = null; // the threads build's toolchain: one that can rebuild std with atomics
let tc = null; // the single-threaded build's
let wanted; // names of VARIANTS to build now
if (only?.[0] === "node") {
  // As ts/src/loader.ts decides in Node: the threads build unless
  // NDGRAD_THREADS=0, its relaxed variant where this runtime validates
  // relaxed SIMD (Node 20: only with --experimental-wasm-relaxed-simd)
  // unless NDGRAD_RELAXED=0.
  const threadsOff = process.env.NDGRAD_THREADS === "0" || !buildThreads;
  if (!threadsOff) ttc = threadsToolchain();
  if (ttc === null) tc = wasmToolchain();
  const relaxed = buildRelaxed && process.env.NDGRAD_RELAXED !== "0" && WebAssembly.validate(RELAXED_SIMD_PROBE);
  wanted = [`${ttc === null ? "single" : "threads"}${relaxed ? "-relaxed" : ""}`];
} else {
  wanted = only ?? Object.keys(VARIANTS);
  if (wanted.some((v) => !VARIANTS[v].threads)) tc = wasmToolchain();
  if (buildThreads && wanted.some((v) => VARIANTS[v].threads)) {
    ttc = threadsToolchain();
    if (ttc === null) {
      log("no toolchain that can rebuild std for wasm32 (see scripts/toolchain.mjs): skipping the threads modules");
    }
  }
}
// Skipped by the environment or the toolchain: removed, so that no stale
// module is loaded in their place (the loader falls back to the others).
for (const [name, v] of Object.entries(VARIANTS)) {
  if ((v.relaxed && !buildRelaxed) || (v.threads && (!buildThreads || (ttc === null && (only === null || wanted.includes(name)))))) {
    rmSync(join(pkg, v.out), { force: true });
    wanted = wanted.filter((w) => w !== name);
  }
}
if (only !== null) {
  log(`building ${wanted.map((v) => `pkg/${VARIANTS[v].out}`).join(", ") || "no module"}${only[0] === "node" ? " (the module this Node loads)" : ""}; \`npm run build\` builds every module`);
}

/** Run a command; resolves with its stderr when `captureStderr`, rejects on failure. */
function run(cmd, args, { env = process.env, captureStderr = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "inherit", captureStderr ? "pipe" : "inherit"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve(stderr);
      else {
        if (captureStderr) process.stderr.write(stderr);
        reject(new Error(`${cmd} ${args.slice(0, 2).join(" ")} failed with ${code ?? signal}`));
      }
    });
  });
}

/** Whether cargo has never built the engine in `targetDir` (nor, with
 *  build-std, the standard library): a first build, minutes not seconds. */
function firstBuild(targetDir) {
  const deps = join(targetDir, "wasm32-unknown-unknown", "release", "deps");
  return !existsSync(deps) || !readdirSync(deps).some((f) => f.startsWith("libndgrad_core-"));
}

/** Rust → wasm32 (cargo, then wasm-opt -O3 when the raw module changed) → pkg/<out>. */
async function buildModule(t, { crate, targetDir, rustflags, out, wasmOptFlags = [], quietStderr = null, what }) {
  const t0 = Date.now();
  if (firstBuild(targetDir)) {
    const buildStd = t.extraArgs.includes("-Z");
    // Measured with /usr/bin/time on the project's 2-vCPU machine: the
    // standard library about 85 s of CPU time, the engine (LTO) 15–60 s as
    // it grows. Wall time depends on what else runs.
    log(
      `compiling ${buildStd ? `Rust's standard library${what.threads ? " with atomics" : ""} and ` : ""}the engine for wasm32 → pkg/${out}: ` +
        `first build only, about ${buildStd ? "2" : "1"} min of CPU time (${buildStd ? "1½–2½ min" : "under a minute"} on an idle 2-core machine; later builds take seconds)`,
    );
  }
  const args = [
    "build", "--release", "--quiet",
    "-p", crate,
    "--target", "wasm32-unknown-unknown",
    "--target-dir", targetDir,
    ...t.extraArgs,
  ];
  const env = { ...t.env, RUSTFLAGS: rustflags };
  const stderr = await run(t.cargo, args, { env, captureStderr: quietStderr !== null });
  if (quietStderr !== null) {
    const err = quietStderr(stderr);
    if (err) process.stderr.write(err);
  }
  const raw = join(targetDir, "wasm32-unknown-unknown", "release", `${crate.replaceAll("-", "_")}.wasm`);
  mkdirSync(pkg, { recursive: true });
  const dest = join(pkg, out);
  const stamp = join(targetDir, `wasm-opt-${out}.stamp`);
  const hash = createHash("sha256").update(readFileSync(raw)).digest("hex");
  if (!existsSync(dest) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== hash) {
    const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
    if (existsSync(wasmOpt)) {
      await run(wasmOpt, [raw, ...WASM_OPT_NO_INLINE, "-O3", ...WASM_OPT_FEATURES, ...wasmOptFlags, "--strip-debug", "--strip-producers", "-o", dest]);
    } else {
      log("wasm-opt not found (run npm install): shipping the unoptimised module");
      copyFileSync(raw, dest);
    }
    writeFileSync(stamp, hash);
  }
  return (Date.now() - t0) / 1000;
}

/** How to build each module. */
function variantOptions(name) {
  const v = VARIANTS[name];
  const t = v.threads ? ttc : tc;
  // A relaxed variant shares its plain sibling's target directory, hence
  // its standard library (the same target features: relaxed SIMD is
  // enabled per function, see below); it differs by package.
  const dir = `wasm-${v.threads ? "threads-" : ""}${t.kind}`;
  let opts = {
    crate: "ndgrad-wasm",
    targetDir: join(root, "target", dir),
    rustflags: "-C target-feature=+simd128",
    out: v.out,
    what: v,
  };
  if (v.threads) {
    // The same crate with WebAssembly threads (shared memory + atomics), for
    // ts/src/threads.ts. The standard library must be rebuilt with atomics
    // (build-std). The memory is imported (every helper thread's instance
    // gets the same one) and shared, up to 4 GiB like the single-threaded
    // build; the stack pointer and TLS size exports let JavaScript give each
    // helper instance its own stack and thread-locals (see crates/ndgrad-wasm,
    // "threads").
    const linkArgs = [
      "--shared-memory", "--import-memory", "--max-memory=4294967296",
      "--export=__tls_size", "--export=__tls_align", "--export=__stack_pointer",
    ];
    opts = {
      ...opts,
      rustflags: [
        "-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128",
        ...linkArgs.map((a) => `-C link-arg=${a}`),
      ].join(" "),
      wasmOptFlags: ["--enable-threads"],
      // rustc warns on every crate that `atomics` is an unstable target
      // feature: known, and the reason this build needs build-std.
      quietStderr: (text) =>
        text
          .replace(/warning: unstable feature specified for `-Ctarget-feature`: `atomics`\n(?:[ \t]*[|=].*\n)*\n?/g, "")
          .replace(/warning: `[^`]+` \(lib\) generated 1 warning(?: \(1 duplicate\))?\n/g, ""),
    };
  }
  if (v.relaxed) {
    // The same crate with ndgrad-core's `relaxed` feature (crates/ndgrad-wasm-relaxed):
    // the GEMM kernels' `F32x4::mul_add` is one fused `f32x4.relaxed_madd`.
    // ts/src/loader.ts loads it where the runtime validates relaxed SIMD,
    // else the plain module. Not `-C target-feature=+relaxed-simd` for the
    // whole crate: LLVM would turn the vector kernels' pmin/pmax into
    // relaxed_min/max too (see F32x4::mul_add); the GEMM functions enable it
    // themselves. Nor `--cfg` in RUSTFLAGS, which would rebuild std.
    opts = {
      ...opts,
      crate: "ndgrad-wasm-relaxed",
      wasmOptFlags: [...(opts.wasmOptFlags ?? []), "--enable-relaxed-simd"],
    };
  }
  return opts;
}

/**
 * pkg/worker/comlink.js and pkg/worker/node-adapter.js: tsc's output
 * re-exports the bare specifiers "comlink" and "comlink/…/node-adapter.mjs",
 * which neither a page without a bundler (unless its import map names them)
 * nor any Worker (no import map at all) can resolve. Replace each with the
 * module bundled in, so that pkg/ imports nothing but relative URLs (and
 * `node:` built-ins, dynamically). The rest of pkg/ imports these two
 * modules, so each thread still loads one comlink. esbuild comes with tsx
 * (a dev dependency, as is tsc). Always run: tsc may have re-emitted them.
 */
async function bundleComlink() {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch (e) {
    throw new Error(`esbuild is needed to bundle comlink into pkg/worker (run npm install): ${e.message}`);
  }
  const dir = join(root, "ts", "src", "worker");
  await esbuild.build({
    entryPoints: [join(dir, "comlink.ts"), join(dir, "node-adapter.ts")],
    outdir: join(pkg, "worker"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    // comlink's package.json has "module" (ESM) and "main" (UMD), no "exports".
    mainFields: ["module", "main"],
    target: "es2022",
    legalComments: "inline",
    logLevel: "warning",
    // Its "// node_modules/comlink/…" path comments, not where a symlinked
    // node_modules points.
    absWorkingDir: root,
    preserveSymlinks: true,
    write: true,
  });
  // tsc's maps describe the re-exports, not the bundled files (which carry
  // comlink's own code and licence comment): drop them.
  for (const f of ["comlink.js.map", "node-adapter.js.map"]) rmSync(join(pkg, "worker", f), { force: true });
}

/** TypeScript → ESM + declarations, then comlink bundled in. */
async function buildTypeScript() {
  await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "ts", "tsconfig.json")]);
  await bundleComlink();
}

/** Build the wanted modules of one chain in order (a relaxed variant after its plain one). */
async function chain(names) {
  const times = [];
  for (const name of names) times.push(`${VARIANTS[name].out} ${(await buildModule(name.startsWith("threads") ? ttc : tc, variantOptions(name))).toFixed(1)} s`);
  return times;
}

const results = await Promise.allSettled([
  chain(["single", "single-relaxed"].filter((n) => wanted.includes(n))),
  chain(["threads", "threads-relaxed"].filter((n) => wanted.includes(n))),
  buildTypeScript(),
]);
const failed = results.find((r) => r.status === "rejected");
if (failed) {
  console.error(failed.reason instanceof Error ? failed.reason.message : failed.reason);
  process.exit(1);
}
const times = [...results[0].value, ...results[1].value];
log(
  `done in ${seconds(started)} (toolchain: ${[tc?.kind, ttc?.kind].filter(Boolean).filter((k, i, a) => a.indexOf(k) === i).join(", ")}; ` +
    `${times.length > 0 ? times.join(", ") : "no module built"}` +
    `${only === null && ttc === null ? "; no threads build" : ""}${buildRelaxed ? "" : "; relaxed-SIMD variants skipped"})`,
);
