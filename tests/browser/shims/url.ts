// node:url for the shared tests in the browser: module URLs are http: URLs
// here, and "paths" stay URLs (the node:fs stand-in reads them).
export function fileURLToPath(url: string | URL): string {
  return String(url);
}
export function pathToFileURL(path: string): URL {
  return new URL(path, location.href);
}
export default { fileURLToPath, pathToFileURL };
