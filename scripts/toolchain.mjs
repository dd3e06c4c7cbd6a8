// Finds (and, as root on Debian, installs) a Rust toolchain that targets
// wasm32-unknown-unknown. Used by the build and by the native Rust tests.
//
// Order: rustup with the wasm32 target installed; else Debian's rustc-web
// with build-std (see shared TOOLCHAIN.md); else, when running as root on
// Debian, install the rustc-web packages with apt and use them; else stop
// with a message that says exactly what to install.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const DEBIAN_PACKAGES = ["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm", "lld-22"];
const VENDOR = "/usr/lib/rustlib/src/rust/library/vendor";

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
      "-Z", "build-std=std,panic_abort",
      "--config", 'source.crates-io.replace-with="vendored-std"',
      "--config", `source.vendored-std.directory="${VENDOR}"`,
    ],
  };
}

function isRootOnDebian() {
  return typeof process.getuid === "function" && process.getuid() === 0 && existsSync("/etc/debian_version");
}

function aptInstall(packages) {
  console.error(`[ndgrad] installing ${packages.join(" ")} with apt-get (running as root on Debian)`);
  const opts = { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } };
  execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=900", "update", "-q"], opts);
  execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=900", "install", "-y", "-q", ...packages], opts);
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
  return { ...t, kind: "rustup-build-std", env: { ...t.env, RUSTC_BOOTSTRAP: "1" }, extraArgs: ["-Z", "build-std=std,panic_abort"] };
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
