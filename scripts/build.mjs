// `npm run build`: Rust → pkg/ndgrad.wasm (SIMD, wasm-opt -O3), TypeScript
// → pkg/*.js + *.d.ts. Incremental: cargo and tsc skip unchanged work and
// wasm-opt runs only when the raw module changed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmToolchain } from "./toolchain.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const started = Date.now();
const log = (msg) => console.error(`[ndgrad build] ${msg}`);

// 1. Rust → wasm32 with simd128.
const tc = wasmToolchain();
const targetDir = join(root, "target", `wasm-${tc.kind}`);
execFileSync(
  tc.cargo,
  [
    "build", "--release", "--quiet",
    "-p", "ndgrad-wasm",
    "--target", "wasm32-unknown-unknown",
    "--target-dir", targetDir,
    ...tc.extraArgs,
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...tc.env, RUSTFLAGS: "-C target-feature=+simd128" },
  },
);
const raw = join(targetDir, "wasm32-unknown-unknown", "release", "ndgrad_wasm.wasm");

// 2. wasm-opt (binaryen from npm), only when the raw module changed.
mkdirSync(pkg, { recursive: true });
const out = join(pkg, "ndgrad.wasm");
const stamp = join(targetDir, "wasm-opt.stamp");
const hash = createHash("sha256").update(readFileSync(raw)).digest("hex");
if (!existsSync(out) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== hash) {
  const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
  if (existsSync(wasmOpt)) {
    execFileSync(wasmOpt, [raw, "-O3", "--enable-simd", "--enable-bulk-memory", "--enable-sign-ext",
      "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "--enable-multivalue",
      "--enable-reference-types", "--strip-debug", "--strip-producers", "-o", out], { stdio: "inherit" });
  } else {
    log("wasm-opt not found (run npm install): shipping the unoptimised module");
    copyFileSync(raw, out);
  }
  writeFileSync(stamp, hash);
}

// 3. TypeScript → ESM + declarations.
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "ts", "tsconfig.json")], {
  cwd: root,
  stdio: "inherit",
});

log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s (toolchain: ${tc.kind})`);
