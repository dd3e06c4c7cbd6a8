// `npm run bench`: ndgrad side by side with TensorFlow.js (wasm SIMD and
// plain JS backends), each in its own Node process, plus probes of what
// WebAssembly itself reaches on this machine. Prints a table and writes JSON.
//
//   node bench/run.mjs [--quick] [--out FILE] [--only ndgrad,tfjs-wasm,...] [--relaxed | --plain]
//
// --relaxed runs every worker with `--experimental-wasm-relaxed-simd` (Node
// 20 validates relaxed SIMD only with it), so ndgrad loads its relaxed-SIMD
// builds; --plain sets NDGRAD_RELAXED=0 (the plain builds even where the
// runtime has relaxed SIMD). Neither: whatever this Node supports.
//
// Every backend runs the same rows (bench/spec.mjs): warm-up repeats, then
// the median of several repeats; each call's result is read back (one
// element) inside the timed region so no lazy work escapes the clock.
import { spawnSync } from "node:child_process";
import { cpus, tmpdir } from "node:os";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BACKENDS, THREADS, isThreadRow, probeRows, rows as specRows, sizes, timing } from "./spec.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
// A full run writes bench/results.json (small, kept with the code); a quick
// run's numbers mean nothing, so by default they go to the temp directory.
const out = resolve(flag("--out") ?? (quick ? join(tmpdir(), "ndgrad-bench-quick.json") : join(here, "results.json")));
const only = flag("--only")?.split(",");
const relaxed = args.includes("--relaxed");
const plain = args.includes("--plain");
const nodeFlags = relaxed ? ["--experimental-wasm-relaxed-simd"] : [];
const relaxedEnv = plain ? { NDGRAD_RELAXED: "0" } : {};

function runWorker(script, extra, env = {}) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--expose-gc", ...nodeFlags, join(here, script), ...extra, ...(quick ? ["--quick"] : [])], {
    cwd: join(here, ".."),
    env: { ...process.env, ...relaxedEnv, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("@@BENCH "));
  if (!line) return { error: `worker ${script} ${extra.join(" ")} exited with ${r.status ?? r.signal} and no result`, seconds: (Date.now() - started) / 1e3 };
  return { ...JSON.parse(line.slice(8)), seconds: (Date.now() - started) / 1e3 };
}

const rows = specRows(quick);
const report = {
  meta: {
    date: new Date().toISOString(),
    quick,
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    timing: timing(quick),
    sizes: sizes(quick),
    forced: "each call's result is read back (one element) inside the timed region",
    relaxedSimd: relaxed ? "--relaxed (--experimental-wasm-relaxed-simd)" : plain ? "--plain (NDGRAD_RELAXED=0)" : "default",
  },
  rows: rows.map(({ id, label, unit, higher }) => ({ id, label, unit, higherIsBetter: higher })),
  probeRows: probeRows(quick).map(({ id, label, unit }) => ({ id, label, unit })),
  backends: {},
  threads: {},
  probe: {},
  ratios: {},
  fractions: {},
};

process.stderr.write(`[bench] ${quick ? "quick" : "full"} run; each backend in its own process\n`);
// The probes run before and after the backends and keep the better value:
// they measure what the machine can do, and the machine is shared.
const probes = [runWorker("probe.mjs", [])];
const probeResults = () => {
  if (probes.length === 1) probes.push(runWorker("probe.mjs", []));
  const out = {};
  for (const r of probeRows(quick)) {
    const vals = probes.map((p) => p.results?.[r.id]?.value).filter((v) => typeof v === "number");
    out[r.id] = vals.length ? { value: Math.max(...vals), runs: vals } : { value: null, reason: probes.map((p) => p.error).join("; ") };
  }
  return out;
};

const backends = BACKENDS.filter((b) => !only || only.includes(b.id));
function runBackend(b, rowList) {
  const res = runWorker(b.script, b.args, b.env);
  const results = {};
  for (const row of rowList) {
    results[row.id] = res.results?.[row.id] ?? { value: null, reason: res.error ?? "missing" };
  }
  return { label: b.label, seconds: res.seconds, ...(res.error ? { error: res.error } : {}), results };
}
for (const b of backends) report.backends[b.id] = runBackend(b, rows);

// The threads build on 1 and 2 threads (rows where threads matter, repeats
// interleaved in one process), next to the single-threaded build's figures.
const threadRows = rows.filter(isThreadRow);
const runThreads = !only || only.includes("ndgrad");
if (runThreads) {
  const res = runWorker(THREADS.script, ["--threads", THREADS.counts.join(",")]);
  report.threads = { seconds: res.seconds, capacity: res.capacity ?? null, ...(res.error ? { error: res.error } : {}) };
  for (const n of THREADS.counts) {
    report.threads[n] = {};
    for (const row of threadRows) report.threads[n][row.id] = res.threads?.[n]?.[row.id] ?? { value: null, reason: res.error ?? "missing" };
  }
}

report.probe = probeResults();

// Ratios: how many times faster ndgrad is than each peer (>1: ndgrad wins).
const nd = report.backends.ndgrad?.results;
const peers = backends.filter((b) => b.id !== "ndgrad");
for (const p of peers) {
  report.ratios[p.id] = {};
  for (const row of rows) {
    const a = nd?.[row.id]?.value;
    const b = report.backends[p.id].results[row.id]?.value;
    report.ratios[p.id][row.id] = a && b ? (row.higher ? a / b : b / a) : null;
  }
}

// ndgrad's fraction of what the machine's WebAssembly reaches.
const pv = (id) => report.probe[id]?.value ?? null;
if (nd) {
  const frac = (value, peak) => (value && peak ? value / peak : null);
  for (const row of rows) {
    const v = nd[row.id]?.value;
    if (row.unit === "GFLOP/s" && row.id.startsWith("matmul")) report.fractions[row.id] = { of: "simd_peak", fraction: frac(v, pv("simd_peak")) };
    if (row.op && row.n === sizes(quick).elems.at(-1)) report.fractions[row.id] = { of: "stream_add", fraction: frac(v, pv("stream_add")) };
    if (row.id.startsWith("sum_")) report.fractions[row.id] = { of: "stream_read", fraction: frac(v, pv("stream_read")) };
    // Pooling / BatchNorm rows (pool branch): against the streaming probe.
    if (row.streamOf) report.fractions[row.id] = { of: row.streamOf, fraction: frac(v, pv(row.streamOf)) };
    if (row.id === "mlp_step") {
      // Matmul floor: the step's matmul FLOPs at the machine's SIMD peak.
      report.fractions[row.id] = { of: "simd_peak", fraction: frac(v && (v * row.flops) / 1e9, pv("simd_peak")) };
    }
    // conv branch (issue #12): the 3×3 convolution against the multiply-add peak
    if (row.conv) report.fractions[row.id] = { of: "simd_peak", fraction: frac(v, pv("simd_peak")) };
  }
}

writeFileSync(out, JSON.stringify(report, null, 2) + "\n");

// ---- the table ----
const fmt = (v) => (v === null || v === undefined ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));
const cell = (row, e) => {
  if (!e || e.value === null) return "n/a";
  return e.nsPerElement !== undefined ? `${fmt(e.value)} (${fmt(e.nsPerElement)} ns)` : fmt(e.value);
};
const header = ["measurement", "unit", ...backends.map((b) => b.label), ...peers.map((p) => `ndgrad vs ${p.label}`)];
const lines = rows.map((row) => [
  row.label,
  row.perElement ? `${row.unit} (ns/el)` : row.unit,
  ...backends.map((b) => cell(row, report.backends[b.id].results[row.id])),
  ...peers.map((p) => {
    const r = report.ratios[p.id][row.id];
    return r ? `${fmt(r)}×` : "—";
  }),
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const pad = (s, w, left) => (left ? s.padEnd(w) : s.padStart(w));
const print = (l) => console.log(`| ${l.map((c, i) => pad(c, widths[i], i < 2)).join(" | ")} |`);
print(header);
console.log(`|${widths.map((w, i) => (i < 2 ? ":" + "-".repeat(w + 1) : "-".repeat(w + 1) + ":")).join("|")}|`);
lines.forEach(print);
console.log("");
console.log("ndgrad vs X: how many times faster ndgrad is (above 1: ndgrad wins; for µs rows, time ratio).");
console.log("");
console.log("| machine probe (this run) | value |");
console.log("|:--|--:|");
for (const r of probeRows(quick)) console.log(`| ${r.label} | ${fmt(pv(r.id))} ${r.unit} |`);
console.log("");
console.log("| ndgrad's fraction of the machine | ndgrad | of | fraction |");
console.log("|:--|--:|:--|--:|");
for (const [id, f] of Object.entries(report.fractions)) {
  const row = rows.find((r) => r.id === id);
  const v = nd[id]?.value;
  const shown = id === "mlp_step" ? `${fmt(v && (v * row.flops) / 1e9)} GFLOP/s of matmul` : `${fmt(v)} ${row.unit}`;
  console.log(`| ${row.label} | ${shown} | ${f.of} | ${f.fraction === null ? "—" : (100 * f.fraction).toFixed(0) + " %"} |`);
}
if (runThreads) {
  const v = (n, row) => (n === 0 ? report.backends.ndgrad?.results[row.id] : report.threads[n]?.[row.id])?.value ?? null;
  const ratio = (a, b) => (a && b ? `${fmt(a / b)}×` : "—");
  const [t1, t2] = THREADS.counts;
  console.log("");
  // The threads build's two columns come from one process with interleaved
  // repeats; the single build's (the "ndgrad" run above) from another time.
  console.log(`| threads build (${report.meta.cores} cores) | unit | ${t1} thread | ${t2} threads | ${t2} vs ${t1} | single build (separate run) |`);
  console.log("|:--|:--|--:|--:|--:|--:|");
  for (const row of threadRows) {
    const [s1, a, b] = [v(0, row), v(t1, row), v(t2, row)];
    console.log(`| ${row.label} | ${row.unit} | ${fmt(a)} | ${fmt(b)} | ${row.higher ? ratio(b, a) : ratio(a, b)} | ${fmt(s1)} |`);
  }
  const cap = report.threads.capacity;
  if (cap) {
    console.log("");
    console.log(
      `Cores the machine gave two threads (an integer loop alone vs on two threads at once), before and after: ` +
        `${cap.map((c) => fmt(c)).join(" and ")} (2: two free cores).`,
    );
  }
}
// conv branch (issue #12): why a peer has no value in the convolution and
// LeNet rows (tfjs-wasm's missing training kernel, a skipped or absent peer).
const notes = [];
for (const row of rows.filter((r) => r.conv || r.id.startsWith("lenet_"))) {
  for (const b of backends) {
    const e = report.backends[b.id].results[row.id];
    if (e && e.value === null && e.reason !== "not implemented") notes.push(`- ${b.label}, ${row.label}: ${e.reason}`);
  }
}
if (notes.length) {
  console.log("");
  console.log("Absent values in the convolution and LeNet rows:");
  notes.forEach((n) => console.log(n));
}
console.log("");
console.log(`JSON: ${out}`);
