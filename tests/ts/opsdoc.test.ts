// docs/ops.md is generated from the code: the API surface (every NDArray
// method and nd function), the reference vectors (tests/vectors/ops-NN.json),
// the finite-difference checks (tests/ts/gradchecks.ts), the second-order
// table (tests/ts/secondorder.ts) and PyTorch's second-derivative cases
// (tests/vectors/autograd.json). This test regenerates the table and fails
// when
//   * docs/ops.md is stale (regenerate: `npm run docs:ops`),
//   * an op has no reference vectors,
//   * a differentiable op has no gradient vectors, no finite-difference
//     check (in float32 and float64 alike: every check runs in both) or no
//     line in the second-order table.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { nd, NDArray } from "ndgrad";
import { opsVectors, vectors } from "./helpers.js";
import { CHECKS, NOT_DIFFERENTIABLE, NOT_OPS, ZERO_GRADIENT } from "./gradchecks.js";
import { SECOND } from "./secondorder.js";

interface VCase {
  op: string;
  dtype: "float32" | "float64" | "int32" | "uint8";
  grads?: unknown;
}

const DOC = new URL("../../docs/ops.md", import.meta.url);
const DTYPES = ["float32", "float64", "int32", "uint8"] as const;

/** API names that are another name for an op with vectors. */
const ALIASES: Record<string, string> = {
  negative: "neg",
  T: "transpose",
  cast: "astype",
  // nnmisc group (issue #12)
  flatten: "Flatten",
};
/** Ops that cannot have NumPy reference values, and what checks them instead. */
const NO_VECTORS: Record<string, { dtypes: string; why: string }> = {
  dropout: {
    dtypes: "float32, float64",
    why: "random mask: finite differences with a fixed seed, mask statistics in tests/ts/autograd.test.ts",
  },
  detach: { dtypes: "float32, float64, int32", why: "values unchanged, cut from the graph: tests/ts/autograd.test.ts" },
};

function apiNames(): { name: string; method: boolean; fn: boolean }[] {
  const methods = new Set(Object.getOwnPropertyNames(NDArray.prototype));
  const fns = new Set(Object.keys(nd));
  const all = [...new Set([...methods, ...fns])].filter((n) => !NOT_OPS.includes(n)).sort((a, b) => a.localeCompare(b));
  return all.map((name) => ({ name, method: methods.has(name), fn: fns.has(name) }));
}

function table(): { text: string; problems: string[] } {
  const cases = opsVectors<VCase>();
  const problems: string[] = [];
  const fdChecks = new Map<string, number>();
  for (const c of CHECKS) for (const op of c.ops) fdChecks.set(op, (fdChecks.get(op) ?? 0) + 1);
  // PyTorch's second-derivative cases (Hessian-vector products) that go through each op.
  const torchSecond = new Map<string, number>();
  for (const c of vectors<{ second: { ops: { op: string }[] }[] }>("autograd.json").second) {
    for (const op of new Set(c.ops.map((i) => i.op))) torchSecond.set(op, (torchSecond.get(op) ?? 0) + 1);
  }
  // and those of the operator sets that have them (a list of cases each naming its op, or {cases: [...]};
  // the branches named the file `<set>-hvp.json`, `hvp-<set>.json` or `<set>-second.json`)
  for (const set of vectors<string[]>("sets.json")) {
    for (const file of [`${set}-hvp.json`, `hvp-${set}.json`, `${set}-second.json`]) {
      if (!existsSync(new URL(`../vectors/${file}`, import.meta.url))) continue;
      const v = vectors<{ op: string }[] | { cases: { op: string }[] }>(file);
      for (const c of Array.isArray(v) ? v : v.cases) torchSecond.set(c.op, (torchSecond.get(c.op) ?? 0) + 1);
    }
  }
  const names = new Set(apiNames().map((a) => a.name));
  for (const l of SECOND) if (!names.has(l.op)) problems.push(`tests/ts/secondorder.ts: ${l.op} is not an op of the API`);
  const rows: string[] = [];
  let nOps = 0;
  let nDiff = 0;
  for (const { name, method, fn } of apiNames()) {
    const op = ALIASES[name] ?? name;
    const mine = cases.filter((c) => c.op === op);
    const count = (d: string, grads: boolean): number => mine.filter((c) => c.dtype === d && (!grads || c.grads !== undefined)).length;
    const differentiable = !NOT_DIFFERENTIABLE.includes(name) && !NOT_DIFFERENTIABLE.includes(op);
    const dtypes = DTYPES.filter((d) => count(d, false) > 0);
    const fd = fdChecks.get(name) ?? 0;
    nOps++;
    if (differentiable) nDiff++;
    if (mine.length === 0 && !(name in NO_VECTORS)) problems.push(`${name}: no reference vectors`);
    if (differentiable) {
      if (mine.length > 0 && (count("float32", true) === 0 || count("float64", true) === 0)) {
        problems.push(`${name}: differentiable but without float32 and float64 gradient vectors`);
      }
      if (fd === 0) problems.push(`${name}: differentiable but without a finite-difference check`);
      if (!SECOND.some((l) => l.op === name)) problems.push(`${name}: differentiable but without a second-order check (tests/ts/secondorder.ts)`);
    }
    const lines = SECOND.filter((l) => l.op === name);
    const kinds = [...new Set(lines.map((l) => l.kind))].join(" and ");
    const second = differentiable ? `${kinds || "none"}, ${lines.length}, ${torchSecond.get(op) ?? 0}` : "—";
    const forms = [fn ? `\`nd.${name}\`` : "", method ? `\`x.${name}\`` : ""].filter((s) => s !== "").join(", ");
    const vec = mine.length === 0 ? `— (${NO_VECTORS[name]?.why ?? "none"})` : DTYPES.map((d) => count(d, false)).join(" / ");
    const gv = differentiable && mine.length > 0 ? `${count("float32", true)} / ${count("float64", true)}` : "—";
    const alias = op !== name ? ` (= ${op})` : "";
    rows.push(
      `| ${name}${alias} | ${forms} | ${dtypes.join(", ") || (NO_VECTORS[name]?.dtypes ?? "none")} | ${differentiable ? "yes" : ZERO_GRADIENT.includes(name) ? "zero" : "no"} | ${vec} | ${gv} | ${differentiable ? fd : "—"} | ${second} |`,
    );
  }
  const text = [
    "# Operators",
    "",
    "<!-- Generated by tests/ts/opsdoc.test.ts from the API, the vector sets of tests/vectors/sets.json,",
    "     tests/ts/gradchecks.ts, tests/ts/secondorder.ts and tests/vectors/autograd.json.",
    "     Regenerate with `npm run docs:ops`; `npm test` fails when this file is stale. -->",
    "",
    `${nOps} operators (${nDiff} differentiable). For each: how to call it, the dtypes its reference vectors`,
    "run in, whether it has a gradient, the number of NumPy/PyTorch reference cases (float32 / float64 /",
    "int32 / uint8; read by both the Rust tests and the TypeScript tests), how many of them carry gradient vectors",
    "(float32 / float64), and the finite-difference checks of its gradient (each runs in float32 and in",
    "float64). Integer arrays never have gradients; ops without int32 (uint8) vectors refuse such arrays with an",
    "Error or are not meaningful for them; uint8 wraps modulo 256 as NumPy's uint8. Semantics: MXNet 1.x (see",
    "docs/ops-spec.md for the choices made). \"zero\" in the differentiable column: recorded under",
    "`autograd.record` with an all-zero gradient, as MXNet's `MakeZeroGradNodes` (the comparisons; checked",
    "in every form by tests/ts/audit-ops.test.ts); \"no\": never recorded.",
    "",
    "Second order (the last column): every differentiable op stays differentiable again through",
    "`autograd.grad(..., {createGraph: true})`. \"value\": a true second derivative; \"zero\": the gradient",
    "reads x only through a mask, an index or not at all, and the second derivative is exactly zero (not an",
    "error). Then the number of lines of the second-order table (tests/ts/secondorder.ts: the Hessian-vector",
    "product against differences of the first-order gradient, float32 and float64) and of PyTorch's",
    "second-derivative cases through the op (tests/vectors/autograd.json, replayed by tests/ts/autograd-torch.test.ts,",
    "and the operator sets' own second-order files).",
    "",
    "| op | forms | dtypes | differentiable | reference cases f32 / f64 / i32 / u8 | gradient vectors f32 / f64 | finite-difference checks | second order: kind, table lines, PyTorch cases |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  return { text, problems };
}

describe("docs/ops.md", () => {
  it("every op has reference vectors, and every differentiable op gradient vectors, a finite-difference check and a second-order check", () => {
    expect(table().problems).toEqual([]);
  });

  it("is generated from the current code (npm run docs:ops)", () => {
    const { text } = table();
    if (process.env.NDGRAD_WRITE_DOCS === "1") writeFileSync(DOC, text);
    expect(readFileSync(DOC, "utf8")).toBe(text);
  });
});
