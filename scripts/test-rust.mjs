// Native Rust checks for `npm test`: cargo test for the whole workspace, then
// rustfmt and clippy (warnings are errors) when the toolchain has them.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nativeCargo } from "./toolchain.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { cargo, env } = nativeCargo();

function run(args, { optional = false } = {}) {
  const r = spawnSync(cargo, args, { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) {
    if (optional && r.status !== 1 && r.status !== 101) return false;
    process.exit(r.status ?? 1);
  }
  return true;
}

const has = (sub) => spawnSync(cargo, [sub, "--version"], { env, stdio: "ignore" }).status === 0;

// Debug build: overflow checks catch size arithmetic that release would wrap.
run(["test", "--workspace", "--quiet"]);
if (has("fmt")) run(["fmt", "--all", "--check"]);
else console.error("[ndgrad] cargo fmt is not installed: skipping the format check");
if (has("clippy")) run(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]);
else console.error("[ndgrad] cargo clippy is not installed: skipping lints");
