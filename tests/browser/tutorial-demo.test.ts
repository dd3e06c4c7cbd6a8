// Browser only: the whole tutorial example (examples/autograd-tutorial.ts,
// `npm run demo`) runs in Chromium and prints exactly what it prints in Node
// (every cell, including the seeded nd.random sample of cell 90), and every
// deterministic output block of the notebook.
import { describe, expect, it } from "vitest";
import { commands } from "vitest/browser";

declare module "vitest/browser" {
  interface BrowserCommands {
    /** `node --import tsx examples/autograd-tutorial.ts`, run by the test server. */
    nodeTutorialOutput(): Promise<string>;
  }
}

async function browserOutput(): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  };
  try {
    await import("../../examples/autograd-tutorial.ts");
  } finally {
    console.log = log;
  }
  return lines.map((l) => `${l}\n`).join("");
}

describe("examples/autograd-tutorial.ts in the browser", () => {
  it("prints byte for byte what it prints in Node, and the notebook's outputs", async () => {
    const [browser, node] = await Promise.all([browserOutput(), commands.nodeTutorialOutput()]);
    expect(node.length).toBeGreaterThan(1000);
    expect(browser).toBe(node);

    const seed = await (await fetch(new URL("../fixtures/autograd-tutorial.txt", import.meta.url))).text();
    const squash = (s: string): string => s.split("\n").filter((l) => l.trim() !== "").join("\n");
    const out = squash(browser);
    for (const [from, to] of [
      ["Before back-prop\n\n[[", "We can see that before"],
      ["[ 0.9273255  -0.45468742]", "We know that"],
      ["[\n [1024.", "### A quick side note"],
      ["\n[9.695359]", "Now let us manually"],
    ] as const) {
      const block = seed.slice(seed.indexOf(from), seed.indexOf(to));
      expect(block.length).toBeGreaterThan(10);
      expect(out).toContain(squash(block));
    }
    expect(out).toContain(squash("\n[18.]\n<NDArray 1 @cpu(0)>"));
  });
});
