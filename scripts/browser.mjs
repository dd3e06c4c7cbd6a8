// Finds Debian's Chromium for the browser tests, installing it with apt when
// it is missing and this runs as root on Debian; else stops with a message
// that says what to install. Test tools never download a browser of their
// own: vitest's playwright provider and tests/pack use this executable.
//
//   node scripts/browser.mjs            ensure chromium, print its path
//   import { chromiumPath, launchOptions } from "./browser.mjs"
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CANDIDATES = [process.env.NDGRAD_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);

/** Flags for headless Chromium on a machine with a closed network (see TOOLCHAIN.md). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function found() {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

function isRootOnDebian() {
  return typeof process.getuid === "function" && process.getuid() === 0 && existsSync("/etc/debian_version");
}

const HELP = `ndgrad's browser tests need Chromium at /usr/bin/chromium (or set NDGRAD_CHROMIUM to a Chromium binary).
  Debian/Ubuntu (as root):  apt-get update && apt-get install -y chromium
  (the tests never download a browser themselves; run them as root on Debian and they install it)`;

/** The path of a Chromium binary, installing Debian's when possible. */
export function chromiumPath() {
  let p = found();
  if (p !== null) return p;
  if (isRootOnDebian()) {
    console.error("[ndgrad] installing chromium with apt-get (running as root on Debian)");
    const opts = { stdio: ["ignore", process.stderr, process.stderr], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } };
    execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=900", "update", "-q"], opts);
    execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=900", "install", "-y", "-q", "--no-install-recommends", "chromium"], opts);
    p = found();
    if (p !== null) return p;
  }
  throw new Error(HELP);
}

/** Playwright's `chromium.launch` options for that binary. */
export function launchOptions() {
  return { executablePath: chromiumPath(), args: CHROMIUM_ARGS };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const p = chromiumPath();
    const v = spawnSync(p, ["--version"], { encoding: "utf8" });
    console.log(`${p} (${(v.stdout ?? "").trim() || "version unknown"})`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
