// PyTorch 1.13's native CPU build as a bench peer for the convolution and
// LeNet rows (issue #12): `node bench/torch.mjs THREADS [--quick]` runs
// bench/torch_bench.py with /usr/bin/python3 (Debian's python3-torch) on
// THREADS threads. Without that python or torch, every row is marked absent.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { emit, valueOf } from "./lib.mjs";
import { LENET, rows as specRows, timing } from "./spec.mjs";

const threads = Number(process.argv[2] ?? "1");
const quick = process.argv.includes("--quick");
const name = `torch-${threads}`;
const python = "/usr/bin/python3";
const rows = specRows(quick);
const wanted = rows.filter((r) => r.conv || r.id.startsWith("lenet_"));

function absent(reason) {
  emit({ backend: name, results: Object.fromEntries(rows.map((r) => [r.id, { value: null, reason }])) });
  process.exit(0);
}

if (!existsSync(python)) absent(`no ${python}`);
const probe = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
if (probe.status !== 0) absent(`${python} has no torch (apt-get install python3-torch)`);
const spec = { timing: timing(quick), lenet: LENET, rows: wanted };
const script = fileURLToPath(new URL("./torch_bench.py", import.meta.url));
const r = spawnSync(python, [script, String(threads), JSON.stringify(spec)], { encoding: "utf8", maxBuffer: 16 << 20 });
if (r.status !== 0) absent(`torch_bench.py failed: ${(r.stderr ?? "").trim().split("\n").at(-1)}`);
const ms = JSON.parse(r.stdout);
const results = {};
for (const row of rows) {
  if (ms[row.id] === undefined) results[row.id] = { value: null, reason: "not implemented" };
  else results[row.id] = { value: valueOf(row, ms[row.id]), ms: ms[row.id], note: `PyTorch ${probe.stdout.trim()}, ${threads} thread(s)` };
  process.stderr.write(`[bench ${name}] ${row.id}: ${results[row.id].value === null ? results[row.id].reason : results[row.id].value.toPrecision(4) + " " + row.unit}\n`);
}
emit({ backend: name, results });
