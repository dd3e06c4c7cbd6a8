/** Flags for headless Chromium on a machine with a closed network. */
export const CHROMIUM_ARGS: string[];
/** The path of a Chromium binary, installing Debian's when possible (root on Debian); throws with what to install otherwise. */
export function chromiumPath(): string;
/** Playwright's `chromium.launch` options for that binary. */
export function launchOptions(): { executablePath: string; args: string[] };
