// node:fs/promises for the shared tests in the browser: readFile by fetch.
export async function readFile(path: string | URL, options?: string | { encoding?: string }): Promise<string | Uint8Array> {
  const response = await fetch(new URL(String(path), location.href));
  if (!response.ok) throw new Error(`ENOENT: no such file (browser shim), open '${String(path)}' (HTTP ${response.status})`);
  const encoding = typeof options === "string" ? options : options?.encoding;
  return encoding === undefined ? new Uint8Array(await response.arrayBuffer()) : response.text();
}

export default { readFile };
