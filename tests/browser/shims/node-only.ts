// node:child_process, node:os, node:path and node:worker_threads for the
// shared tests in the browser: importable, but there is no process to spawn
// (the tests that spawn one are left out by the browser config's name
// filter). freemem() reports 0, so memory-hungry tests skip themselves.
function unsupported(name: string): never {
  throw new Error(`${name} is not available in the browser tests`);
}
export const spawnSync = (): never => unsupported("child_process.spawnSync");
export const execFileSync = (): never => unsupported("child_process.execFileSync");
export const freemem = (): number => 0;
export const tmpdir = (): string => unsupported("os.tmpdir");
export const join = (...parts: string[]): string => parts.join("/");
export default { spawnSync, execFileSync, freemem, tmpdir, join };
