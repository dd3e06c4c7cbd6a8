// The seed tutorial, cell by cell: every deterministic output is compared
// byte for byte with what the notebook printed.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, type NDArray } from "ndgrad";
import { expectNoLeaks, seedText } from "./helpers.js";

const seed = seedText();

/** Assert `s` is literally in the notebook, then return it. */
function fromSeed(s: string): string {
  expect(seed.includes(s), `not in the seed notebook:\n${s}`).toBe(true);
  return s;
}

afterEach(expectNoLeaks);

describe("the MXNet autograd tutorial", () => {
  it("cells 14-18: f(x) = 2x² and its gradient 4x", () => {
    using X = nd.array([[1, 2], [3, 4]]);
    expect(String(X)).toBe(fromSeed("\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>"));
    X.attachGrad();
    expect(String(X.grad)).toBe(fromSeed("\n[[0. 0.]\n [0. 0.]]\n<NDArray 2x2 @cpu(0)>"));
    using Y = autograd.record(() => nd.scope(() => nd.mul(2, X).mul(X)));
    expect(String(Y)).toBe(fromSeed("\n[[ 2.  8.]\n [18. 32.]]\n<NDArray 2x2 @cpu(0)>"));
    expect(nd.memory().tapeNodes).toBe(2);
    Y.backward();
    expect(nd.memory().tapeNodes).toBe(0);
    expect(String(X)).toBe("\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>");
    expect(String(X.grad)).toBe(fromSeed("\n[[ 4.  8.]\n [12. 16.]]\n<NDArray 2x2 @cpu(0)>"));
    expect(String(Y)).toBe("\n[[ 2.  8.]\n [18. 32.]]\n<NDArray 2x2 @cpu(0)>");
  });

  it("the method form X.mul(2).mul(X) gives the same gradient", () => {
    using X = nd.array([[1, 2], [3, 4]]);
    X.attachGrad();
    nd.scope(() => autograd.record(() => X.mul(2).mul(X)).backward());
    expect(X.grad!.toArray()).toEqual([[4, 8], [12, 16]]);
  });

  it("cells 90-91: control flow with the notebook's sample", () => {
    const printed: string[] = [];
    const f = (a: NDArray): NDArray => {
      let b = a.mul(2);
      while (b.norm().asscalar() < 1000) {
        b = b.mul(2);
        printed.push(String(b), nd.formatScalar(b.sum().asscalar()), nd.formatScalar(b.norm().asscalar()));
      }
      return b.sum().asscalar() >= 0 ? b.at(0) : b.at(1);
    };
    nd.scope(() => {
      const a = nd.array([0.9273255, -0.45468742]);
      expect(String(a)).toBe(fromSeed("\n[ 0.9273255  -0.45468742]\n<NDArray 2 @cpu(0)>"));
      a.attachGrad();
      const c = autograd.record(() => f(a));
      c.backward();
      expect(String(c)).toBe(fromSeed("\n[949.5813]\n<NDArray 1 @cpu(0)>"));
      // Every printed b, b.sum() and b.norm() of the loop, in order.
      const block = printed.join("\n");
      expect(block.length).toBeGreaterThan(0);
      expect(seed.replaceAll("\n\n[", "\n[").includes(block.replaceAll("\n\n[", "\n["))).toBe(true);
      expect(printed).toHaveLength(27);
      expect(printed[1]).toBe("1.8905523");
      expect(printed[2]).toBe("4.1311946");
      expect(String(a.grad)).toBe("\n[1024.    0.]\n<NDArray 2 @cpu(0)>");
      expect(String(c.div(a))).toBe("\n[ 1024.     -2088.4265]\n<NDArray 2 @cpu(0)>");
      expect(seed).toContain(" [1024.    0.]\n <NDArray 2 @cpu(0)>, \n [ 1024.     -2088.4265]\n <NDArray 2 @cpu(0)>]");
      a.dispose(); // variables outlive scopes
    });
  });

  it("the gradient picks b[1] when the sum is negative", () => {
    nd.scope(() => {
      const a = nd.array([-0.5, 0.25]);
      a.attachGrad();
      const c = autograd.record(() => {
        let b = a.mul(2);
        while (b.norm().asscalar() < 1000) b = b.mul(2);
        return b.sum().asscalar() >= 0 ? b.at(0) : b.at(1);
      });
      c.backward();
      expect(a.grad!.toArray()).toEqual([0, 2048]);
      a.dispose();
    });
  });

  it("cells 93-94: norm and sum", () => {
    using X = nd.array([[2, 4], [7, 5]]);
    using n = X.norm();
    using s = X.sum();
    expect(String(n)).toBe(fromSeed("\n[9.695359]\n<NDArray 1 @cpu(0)>"));
    expect(String(s)).toBe(fromSeed("\n[18.]\n<NDArray 1 @cpu(0)>"));
  });

  it("console.log prints the repr", async () => {
    const { inspect } = await import("node:util");
    using X = nd.array([[1, 2], [3, 4]]);
    expect(inspect(X)).toBe(String(X));
  });
});

describe("npm run demo", () => {
  it("prints every output block of the notebook", () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const out = execFileSync(process.execPath, ["--import", "tsx", "examples/autograd-tutorial.ts"], {
      cwd: root,
      encoding: "utf8",
    });
    const lines = (s: string): string => s.split("\n").filter((l) => l.trim() !== "").join("\n");
    const demo = lines(out);
    // Output blocks of the deterministic cells, cut from the notebook itself.
    const blocks = [
      seed.slice(seed.indexOf("In [14]:"), seed.indexOf("Before calling") > 0 ? seed.indexOf("Before we calculate") : 0),
      seed.slice(seed.indexOf("Before back-prop\n\n[["), seed.indexOf("We can see that before")),
      seed.slice(seed.indexOf("[ 0.9273255  -0.45468742]"), seed.indexOf("We know that")),
      seed.slice(seed.indexOf("[\n [1024."), seed.indexOf("### A quick side note")),
      seed.slice(seed.indexOf("\n[9.695359]"), seed.indexOf("Now let us manually")),
      seed.slice(seed.indexOf("\n[18.]")),
    ];
    for (const raw of blocks.slice(1)) {
      expect(raw.length).toBeGreaterThan(10);
      expect(demo).toContain(lines(raw));
    }
    for (const s of [
      "[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>",
      "[[0. 0.]\n [0. 0.]]\n<NDArray 2x2 @cpu(0)>",
      "[[ 2.  8.]\n [18. 32.]]\n<NDArray 2x2 @cpu(0)>",
    ]) {
      expect(demo).toContain(s);
    }
  });
});
