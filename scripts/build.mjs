// `npm run build`: Rust → pkg/ndgrad.wasm (SIMD, wasm-opt -O3) and
// pkg/ndgrad-threads.wasm (SIMD + WebAssembly threads), each also as a
// relaxed-SIMD variant (pkg/ndgrad-relaxed.wasm, pkg/ndgrad-threads-relaxed.wasm),
// TypeScript →
// pkg/*.js + *.d.ts. Incremental: cargo and tsc skip unchanged work and
// wasm-opt runs only when a raw module changed.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { threadsToolchain, wasmToolchain } from "./toolchain.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const started = Date.now();
const log = (msg) => console.error(`[ndgrad build] ${msg}`);

const WASM_OPT_FEATURES = ["--enable-simd", "--enable-bulk-memory", "--enable-sign-ext",
  "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "--enable-multivalue",
  "--enable-reference-types"];

/** Rust → wasm32 (cargo, then wasm-opt -O3 when the raw module changed) → pkg/<out>. */
function buildModule(tc, { targetDir, rustflags, out, wasmOptFlags = [], quietStderr = null }) {
  const args = [
    "build", "--release", "--quiet",
    "-p", "ndgrad-wasm",
    "--target", "wasm32-unknown-unknown",
    "--target-dir", targetDir,
    ...tc.extraArgs,
  ];
  const env = { ...tc.env, RUSTFLAGS: rustflags };
  if (quietStderr === null) {
    execFileSync(tc.cargo, args, { cwd: root, stdio: "inherit", env });
  } else {
    const r = spawnSync(tc.cargo, args, { cwd: root, env, encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
    const err = quietStderr(r.stderr ?? "");
    if (err) process.stderr.write(err);
    if (r.status !== 0) throw new Error(`cargo build (${out}) failed with ${r.status ?? r.signal}`);
  }
  const raw = join(targetDir, "wasm32-unknown-unknown", "release", "ndgrad_wasm.wasm");
  mkdirSync(pkg, { recursive: true });
  const dest = join(pkg, out);
  const stamp = join(targetDir, "wasm-opt.stamp");
  const hash = createHash("sha256").update(readFileSync(raw)).digest("hex");
  if (!existsSync(dest) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== hash) {
    const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
    if (existsSync(wasmOpt)) {
      execFileSync(wasmOpt, [raw, "-O3", ...WASM_OPT_FEATURES, ...wasmOptFlags, "--strip-debug", "--strip-producers", "-o", dest], {
        stdio: "inherit",
      });
    } else {
      log("wasm-opt not found (run npm install): shipping the unoptimised module");
      copyFileSync(raw, dest);
    }
    writeFileSync(stamp, hash);
  }
}

// `NDGRAD_BUILD_RELAXED=0` skips the relaxed-SIMD variants (steps 1b, 2b).
const buildRelaxed = process.env.NDGRAD_BUILD_RELAXED !== "0";
let relaxedSeconds = 0;

/** Build the relaxed-SIMD variant of a module: the same flags plus
 *  `+relaxed-simd`, so the GEMM kernels' `F32x4::mul_add` is one fused
 *  `f32x4.relaxed_madd`. ts/src/loader.ts loads it where the runtime
 *  validates relaxed SIMD, else the plain module. */
function buildRelaxedVariant(t, opts) {
  const out = join(pkg, opts.out);
  if (!buildRelaxed) {
    rmSync(out, { force: true });
    return;
  }
  const t0 = Date.now();
  buildModule(t, {
    ...opts,
    // Not `-C target-feature=+relaxed-simd` for the whole crate: LLVM would
    // turn the vector kernels' pmin/pmax into relaxed_min/max too (see
    // F32x4::mul_add); the GEMM functions enable it themselves.
    rustflags: `${opts.rustflags} --cfg ndgrad_relaxed`,
    wasmOptFlags: [...(opts.wasmOptFlags ?? []), "--enable-relaxed-simd"],
  });
  relaxedSeconds += (Date.now() - t0) / 1000;
}

// 1. Rust → pkg/ndgrad.wasm: wasm32 with simd128, one thread.
const tc = wasmToolchain();
buildModule(tc, {
  targetDir: join(root, "target", `wasm-${tc.kind}`),
  rustflags: "-C target-feature=+simd128",
  out: "ndgrad.wasm",
});
// 1b. pkg/ndgrad-relaxed.wasm: the same with relaxed SIMD.
buildRelaxedVariant(tc, {
  targetDir: join(root, "target", `wasm-relaxed-${tc.kind}`),
  rustflags: "-C target-feature=+simd128",
  out: "ndgrad-relaxed.wasm",
});

// 2. Rust → pkg/ndgrad-threads.wasm: the same crate with WebAssembly threads
// (shared memory + atomics), for ts/src/threads.ts. The standard library
// must be rebuilt with atomics (build-std). The memory is imported (every
// helper thread's instance gets the same one) and shared, up to 4 GiB like
// the single-threaded build; the stack pointer and TLS size exports let
// JavaScript give each helper instance its own stack and thread-locals
// (see crates/ndgrad-wasm, "threads").
// Without a toolchain that can rebuild std, the threads module is skipped
// and the package runs single-threaded everywhere.
const threadsStarted = Date.now();
// `NDGRAD_BUILD_THREADS=0` skips the threads builds (for quick iteration).
const ttc = process.env.NDGRAD_BUILD_THREADS === "0" ? null : threadsToolchain();
const threadsOut = join(pkg, "ndgrad-threads.wasm");
if (ttc === null) {
  rmSync(threadsOut, { force: true });
  rmSync(join(pkg, "ndgrad-threads-relaxed.wasm"), { force: true });
  log("no toolchain that can rebuild std for wasm32 (see scripts/toolchain.mjs): skipping ndgrad-threads.wasm");
} else {
  const linkArgs = [
    "--shared-memory", "--import-memory", "--max-memory=4294967296",
    "--export=__tls_size", "--export=__tls_align", "--export=__stack_pointer",
  ];
  const threadsOpts = {
    targetDir: join(root, "target", `wasm-threads-${ttc.kind}`),
    rustflags: [
      "-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128",
      ...linkArgs.map((a) => `-C link-arg=${a}`),
    ].join(" "),
    out: "ndgrad-threads.wasm",
    wasmOptFlags: ["--enable-threads"],
    // rustc warns on every crate that `atomics` is an unstable target
    // feature: known, and the reason this build needs build-std.
    quietStderr: (text) =>
      text
        .replace(/warning: unstable feature specified for `-Ctarget-feature`: `atomics`\n(?:[ \t]*[|=].*\n)*\n?/g, "")
        .replace(/warning: `[^`]+` \(lib\) generated 1 warning(?: \(1 duplicate\))?\n/g, ""),
  };
  buildModule(ttc, threadsOpts);
  // 2b. pkg/ndgrad-threads-relaxed.wasm: the threads build with relaxed SIMD.
  buildRelaxedVariant(ttc, {
    ...threadsOpts,
    targetDir: join(root, "target", `wasm-threads-relaxed-${ttc.kind}`),
    out: "ndgrad-threads-relaxed.wasm",
  });
}
const threadsSeconds = (Date.now() - threadsStarted) / 1000;

// 3. TypeScript → ESM + declarations.
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "ts", "tsconfig.json")], {
  cwd: root,
  stdio: "inherit",
});

log(
  `done in ${((Date.now() - started) / 1000).toFixed(1)} s (toolchain: ${tc.kind}; ` +
    (ttc === null ? "no threads build" : `threads builds: ${threadsSeconds.toFixed(1)} s with ${ttc.kind}`) +
    (buildRelaxed ? `; relaxed-SIMD variants: ${relaxedSeconds.toFixed(1)} s)` : "; relaxed-SIMD variants skipped)"),
);
