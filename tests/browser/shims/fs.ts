// node:fs for the shared tests in the browser: readFileSync of files the
// Vite server serves (tests/fixtures, tests/vectors), by URL or by the path
// node:url's fileURLToPath stand-in returned (which is the URL itself).
function fetchSync(path: string | URL, binary: boolean): string | Uint8Array {
  const url = new URL(String(path), location.href);
  const xhr = new XMLHttpRequest();
  xhr.open("GET", url.href, false);
  if (binary) xhr.overrideMimeType("text/plain; charset=x-user-defined");
  xhr.send();
  if (xhr.status !== 200) {
    const e = new Error(`ENOENT: no such file (browser shim), open '${url.href}' (HTTP ${xhr.status})`);
    (e as Error & { code: string }).code = "ENOENT";
    throw e;
  }
  if (!binary) return xhr.responseText;
  const s = xhr.responseText;
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export function readFileSync(path: string | URL, options?: string | { encoding?: string }): string | Uint8Array {
  const encoding = typeof options === "string" ? options : options?.encoding;
  return fetchSync(path, encoding === undefined);
}

export function existsSync(path: string | URL): boolean {
  try {
    fetchSync(path, false);
    return true;
  } catch {
    return false;
  }
}

function unsupported(name: string): never {
  throw new Error(`node:fs ${name} is not available in the browser tests`);
}
export const writeFileSync = (): never => unsupported("writeFileSync");
export const mkdtempSync = (): never => unsupported("mkdtempSync");
export const rmSync = (): never => unsupported("rmSync");

export default { readFileSync, existsSync, writeFileSync, mkdtempSync, rmSync };
