// Shared by the Node-side playwright tests (tutorial page, packed package):
// Debian's Chromium via playwright, and the tutorial's expected outputs.
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright";
import { chromium } from "playwright";
import { CHROMIUM_ARGS, chromiumPath } from "../../scripts/browser.mjs";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Errors the page reports (uncaught exceptions, console.error). */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
  });
  return errors;
}

export const seed = readFileSync(new URL("../fixtures/autograd-tutorial.txt", import.meta.url), "utf8");

function between(start: string, end: string, endOffset = 0): string {
  const i = seed.indexOf(start);
  const j = seed.indexOf(end, i);
  if (i < 0 || j < 0) throw new Error(`seed notebook: cannot find ${JSON.stringify(start)} … ${JSON.stringify(end)}`);
  return seed.slice(i, j + endOffset);
}

/** The notebook's outputs by cell number: what print() wrote (stdout) and
 *  the displayed value (result), each cut from or found in the seed text. */
export const NOTEBOOK: Record<number, { stdout: string; result?: string }> = {
  14: { stdout: "", result: "\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>" },
  16: { stdout: "", result: "\n[[0. 0.]\n [0. 0.]]\n<NDArray 2x2 @cpu(0)>" },
  17: { stdout: "", result: "\n[[ 2.  8.]\n [18. 32.]]\n<NDArray 2x2 @cpu(0)>" },
  // print() output up to the last newline it wrote.
  18: { stdout: between("Before back-prop\n\n[[", "\n\n\nWe can see that before", 1) },
  90: {
    stdout: between("\n[ 0.9273255  -0.45468742]", "Done\n", 5),
    result: "\n[949.5813]\n<NDArray 1 @cpu(0)>",
  },
  91: { stdout: "", result: "[\n [1024.    0.]\n <NDArray 2 @cpu(0)>, \n [ 1024.     -2088.4265]\n <NDArray 2 @cpu(0)>]" },
  93: { stdout: "", result: "\n[9.695359]\n<NDArray 1 @cpu(0)>" },
  94: { stdout: "", result: "\n[18.]\n<NDArray 1 @cpu(0)>" },
};
for (const [n, out] of Object.entries(NOTEBOOK)) {
  for (const s of [out.stdout, out.result ?? ""]) {
    if (!seed.includes(s)) throw new Error(`In [${n}]: expected output is not in the seed notebook:\n${s}`);
  }
}
