// `npm run bench` in its quick mode: the whole harness runs (every backend in
// its own process, the machine probes, the table and the JSON) and the JSON
// has every row for every backend. Timings are never asserted: they depend
// on the machine and on whatever else it is doing.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

interface Row {
  id: string;
  label: string;
  unit: string;
}
interface Spec {
  rows(quick: boolean): Row[];
  probeRows(quick: boolean): Row[];
  BACKENDS: { id: string }[];
}
interface Entry {
  value: number | null;
  reason?: string;
  ms?: number;
}
interface Report {
  meta: { quick: boolean; node: string };
  rows: Row[];
  probeRows: Row[];
  backends: Record<string, { results: Record<string, Entry>; error?: string }>;
  probe: Record<string, Entry>;
  ratios: Record<string, Record<string, number | null>>;
  fractions: Record<string, { of: string; fraction: number | null }>;
  threads: Record<string, Record<string, Entry>>;
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ndgrad-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run bench -- --quick", () => {
  it("runs every backend and writes every row to the JSON", async () => {
    const spec = (await import(pathToFileURL(join(root, "bench", "spec.mjs")).href)) as Spec;
    const out = join(dir, "results.json");
    const stdout = execFileSync(process.execPath, [join(root, "bench", "run.mjs"), "--quick", "--out", out], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 240_000,
    });
    const report = JSON.parse(readFileSync(out, "utf8")) as Report;
    const rows = spec.rows(true);
    expect(report.meta.quick).toBe(true);
    expect(report.rows.map((r) => r.id)).toEqual(rows.map((r) => r.id));

    // The table names every row and every backend.
    for (const r of rows) expect(stdout).toContain(r.label);
    for (const b of spec.BACKENDS) expect(stdout).toContain(b.id);

    // Every backend has an entry for every row: a number, or null with the
    // reason (e.g. tfjs has no way to read into a caller's array).
    for (const b of spec.BACKENDS) {
      const res = report.backends[b.id]?.results;
      expect(res, b.id).toBeDefined();
      for (const r of rows) {
        const e = res![r.id];
        expect(e, `${b.id} ${r.id}`).toBeDefined();
        if (e!.value === null) expect(typeof e!.reason, `${b.id} ${r.id}`).toBe("string");
        else expect(Number.isFinite(e!.value), `${b.id} ${r.id}`).toBe(true);
      }
    }
    // ndgrad itself runs every row.
    for (const r of rows) {
      const e = report.backends.ndgrad!.results[r.id]!;
      expect(e.value, `ndgrad ${r.id}: ${e.reason ?? ""}`).toBeGreaterThan(0);
    }
    // The machine probes ran, and ratios and fractions were derived.
    for (const p of spec.probeRows(true)) expect(report.probe[p.id]?.value).toBeGreaterThan(0);
    for (const b of spec.BACKENDS.filter((x) => x.id !== "ndgrad")) {
      expect(Object.keys(report.ratios[b.id]!)).toEqual(rows.map((r) => r.id));
    }
    expect(Object.keys(report.fractions).length).toBeGreaterThan(0);
    // The threads build ran the matmul and MLP rows on 1 and 2 threads.
    const threadRows = rows.filter((r) => r.id.startsWith("matmul_") || r.id === "mlp_step");
    for (const n of ["1", "2"]) {
      for (const r of threadRows) expect(report.threads[n]?.[r.id]?.value, `${n} threads ${r.id}`).toBeGreaterThan(0);
    }
    expect(stdout).toContain("| threads build (");
  }, 300_000);
});
