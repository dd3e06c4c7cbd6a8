// Finds (and, as root on Debian, installs) a Rust toolchain that targets
// wasm32-unknown-unknown. Used by the build and by the native Rust tests.
//
// Order: rustup with the wasm32 target installed; else Debian's rustc-web
// with build-std (see shared TOOLCHAIN.md); else, when running as root on
// Debian, install the rustc-web packages with apt and use them; else stop
// with a message that says exactly what to install.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEBIAN_PACKAGES = ["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm", "lld-22"];
const VENDOR = "/usr/lib/rustlib/src/rust/library/vendor";
/** Rebuild std for wasm32 without its `backtrace` feature (on by default;
 *  symbolization, which wasm32-unknown-unknown has no use for: the module
 *  comes out the same size): object, gimli, addr2line and miniz_oxide are
 *  not compiled, a sixth less CPU time for the standard library. */
const BUILD_STD = ["-Z", "build-std=std,panic_abort", "-Z", "build-std-features=panic-unwind"];

function quiet(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env });
  return r.status === 0 ? r.stdout : null;
}

function rustupWithWasm() {
  const out = quiet("rustup", ["target", "list", "--installed"]);
  if (out && out.split("\n").includes("wasm32-unknown-unknown") && quiet("cargo", ["--version"])) {
    return { kind: "rustup", cargo: "cargo", env: { ...process.env }, extraArgs: [] };
  }
  return null;
}

function debianRustcWeb() {
  if (!existsSync("/usr/bin/cargo") || !existsSync(VENDOR) || !existsSync("/usr/bin/rust-lld")) return null;
  const env = {
    ...process.env,
    PATH: `/usr/bin:${process.env.PATH ?? ""}`,
    RUSTC: "/usr/bin/rustc",
    RUSTC_BOOTSTRAP: "1",
  };
  return {
    kind: "debian-rustc-web",
    cargo: "/usr/bin/cargo",
    env,
    extraArgs: [
      ...BUILD_STD,
      "--config", 'source.crates-io.replace-with="vendored-std"',
      "--config", `source.vendored-std.directory="${VENDOR}"`,
    ],
  };
}

function isRootOnDebian() {
  return typeof process.getuid === "function" && process.getuid() === 0 && existsSync("/etc/debian_version");
}

/**
 * Install `packages` with apt-get, saying in one line what and roughly how
 * long, with apt's own output in a log file (shown if it fails).
 * `--no-install-recommends`: llvm-22 recommends llvm-22-dev and
 * libclang-cpp22 (65 MB to download, the biggest unpack of all), which
 * nothing here uses (rustc links libLLVM from libllvm22, rust-lld is lld-22).
 */
function aptInstall(packages) {
  const logFile = join(tmpdir(), "ndgrad-apt-install.log");
  const fd = openSync(logFile, "w");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const lock = ["-o", "DPkg::Lock::Timeout=900"];
  const install = ["install", "-y", "-q", "--no-install-recommends", ...packages];
  const apt = (args, stdio) => {
    const r = spawnSync("apt-get", [...lock, ...args], { env, stdio, encoding: "utf8" });
    if (r.status !== 0) {
      closeSync(fd);
      const tail = readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n");
      throw new Error(`apt-get ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`}); the end of ${logFile}:\n${tail}`);
    }
    return r.stdout;
  };
  const started = Date.now();
  console.error(`[ndgrad] running as root on Debian without a wasm32 Rust toolchain: apt-get update, then install ${packages.join(" ")} (log: ${logFile})`);
  apt(["update", "-q"], ["ignore", fd, fd]);
  // What will be downloaded: `--print-uris` lists each .deb with its size.
  const uris = apt([...install.slice(0, 1), "--print-uris", "-qq", ...install.slice(1)], ["ignore", "pipe", fd]);
  const mb = uris.split("\n").reduce((sum, line) => sum + (Number(/^'\S+' \S+ (\d+) /.exec(line)?.[1]) || 0), 0) / 1e6;
  // Unpacking is most of the time once downloaded: about 30 s here for the set.
  console.error(`[ndgrad] installing the Rust toolchain: ${mb.toFixed(0)} MB to download, then about 30 s to unpack (2 cores)...`);
  apt(install, ["ignore", fd, fd]);
  closeSync(fd);
  console.error(`[ndgrad] toolchain installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const HELP = `ndgrad needs a Rust toolchain that can build wasm32-unknown-unknown. Install one of:
  - rustup:  rustup target add wasm32-unknown-unknown
  - Debian/Ubuntu (as root):  apt-get install -y ${DEBIAN_PACKAGES.join(" ")}
    (ndgrad then builds the standard library itself with -Z build-std)`;

/** The wasm32 toolchain, installing Debian's when possible. */
export function wasmToolchain() {
  const found = rustupWithWasm() ?? debianRustcWeb();
  if (found) return found;
  if (isRootOnDebian()) {
    aptInstall(DEBIAN_PACKAGES);
    const t = debianRustcWeb();
    if (t) return t;
  }
  throw new Error(HELP);
}

/** rustup with the wasm32 target and the `rust-src` component: can rebuild
 *  std (build-std; crates.io must be reachable for std's dependencies). */
function rustupBuildStd() {
  const t = rustupWithWasm();
  const comps = t && quiet("rustup", ["component", "list", "--installed"]);
  if (!comps || !comps.split("\n").some((c) => c.startsWith("rust-src"))) return null;
  return { ...t, kind: "rustup-build-std", env: { ...t.env, RUSTC_BOOTSTRAP: "1" }, extraArgs: BUILD_STD };
}

/**
 * A toolchain for the threads build (pkg/ndgrad-threads.wasm), which must
 * rebuild std with atomics: Debian's rustc-web (installed with apt when
 * running as root on Debian), else rustup with `rust-src`; null if neither
 * is possible (the build then skips the threads module).
 */
export function threadsToolchain() {
  const found = debianRustcWeb() ?? rustupBuildStd();
  if (found) return found;
  if (isRootOnDebian()) {
    aptInstall(DEBIAN_PACKAGES);
    return debianRustcWeb();
  }
  return null;
}

/** Any cargo that can build and test natively. */
export function nativeCargo() {
  if (quiet("cargo", ["--version"])) return { cargo: "cargo", env: { ...process.env } };
  const t = debianRustcWeb() ?? wasmToolchain();
  return { cargo: t.cargo, env: { ...t.env } };
}
