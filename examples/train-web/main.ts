// The training page: starts a worker that downloads Fashion-MNIST (progress
// reported back for the bar), gunzips it with DecompressionStream and trains
// LeNet with ndgrad's synchronous API (train-worker.ts); this thread draws
// what comes back. The page asks for ~100 ms of training at a time
// (`trainChunk`): progress arrives live, and pause/stop is not asking again.
// This thread does little per update (push numbers; every 400 ms one uPlot
// `setData` while the worker waits, see drawFrames) so that it never blocks
// for long: `trainState.longestTaskMs` is the longest main-thread task seen.
//
// `window.trainState` and the element ids are an automation contract
// (tests/browser and scripts drive the page through them): keep them.
import { createWorker, transfer, type NDWorker } from "ndgrad/worker";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import {
  CLASS_NAMES,
  DATA_FILES,
  type ChunkResult,
  type DataName,
  type Evaluation,
  type GridEntry,
  type OptimizerName,
  type Progress,
  type TrainConfig,
} from "./shared.js";

type TrainModule = typeof import("./train-worker.js");

/** The worker module's file name: the .ts source on the dev server, its built .js in dist/ (vite.config.ts defines it). */
declare const TRAIN_WORKER_MODULE: string;

type Phase = "loading" | "ready" | "training" | "paused" | "done" | "error";

interface TrainState {
  phase: Phase;
  error: string | null;
  build: "threads" | "single";
  threads: number;
  isolated: boolean;
  epoch: number;
  batches: number;
  images: number;
  trainLoss: number[];
  trainAcc: number[];
  testAcc: number[];
  imagesPerSec: number;
  longestTaskMs: number;
  grid: GridEntry[];
  confusion: number[][] | null;
  loadedParams: { grid: GridEntry[]; testAcc: number } | null;
  /** Not in the contract: how the page checked that the worker module shares the runtime's engine. */
  engineCheck: { moduleArrays: number; runtimeArrays: number; same: boolean; resources: string[] } | null;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`train-web: #${id} is missing from index.html`);
  return e as T;
};

// ---- URL parameters ----

const query = new URLSearchParams(location.search);

function intParam(name: string, fallback: number | null, min: number): number | null {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`URL parameter ${name} must be an integer ≥ ${min} (got "${raw}")`);
  return n;
}

function numberParam(name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`URL parameter ${name} must be a positive number (got "${raw}")`);
  return n;
}

function optimizerParam(): OptimizerName {
  const raw = query.get("optimizer") ?? "sgd";
  if (raw !== "sgd" && raw !== "adam") throw new Error(`URL parameter optimizer must be sgd or adam (got "${raw}")`);
  return raw;
}

// ---- state ----

const trainState: TrainState = {
  phase: "loading",
  error: null,
  // Until the worker says which build its engine loaded.
  build: globalThis.crossOriginIsolated === true && query.get("threads") !== "0" ? "threads" : "single",
  threads: 1,
  isolated: globalThis.crossOriginIsolated === true,
  epoch: 0,
  batches: 0,
  images: 0,
  trainLoss: [],
  trainAcc: [],
  testAcc: [],
  imagesPerSec: 0,
  longestTaskMs: 0,
  grid: [],
  confusion: null,
  loadedParams: null,
  engineCheck: null,
};
(window as unknown as { trainState: TrainState }).trainState = trainState;

// Long tasks since the page loaded (its load event): what the user feels
// while data arrive and training runs. Before it, the browser is still
// evaluating this page's scripts, which no update of ours causes.
let loadedAt = Infinity;
const longTasks: { start: number; duration: number }[] = [];
const updateLongest = (): void => {
  for (const t of longTasks) if (t.start >= loadedAt) trainState.longestTaskMs = Math.max(trainState.longestTaskMs, t.duration);
};
const markLoaded = (): void => {
  const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
  loadedAt = nav !== undefined && nav.loadEventEnd > 0 ? nav.loadEventEnd : performance.now();
  updateLongest();
};
if (document.readyState === "complete") markLoaded();
else window.addEventListener("load", () => setTimeout(markLoaded, 0), { once: true });
try {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
    updateLongest();
    // Only the longest matters from here on.
    if (loadedAt !== Infinity) longTasks.length = 0;
  });
  observer.observe({ type: "longtask", buffered: true });
} catch {
  // No Long Tasks API (Firefox, Safari): longestTaskMs stays 0.
}

let worker: NDWorker<TrainModule> | null = null;
let run: {
  config: TrainConfig;
  batchesPerEpoch: number;
  /** Wall time of trainChunk calls, and the part the worker spent testing. */
  activeMs: number;
  evalMs: number;
  stopRequested: boolean;
} | null = null;
let looping = false;
/** The grid's pixels and labels (from the worker's uint8 dataset). */
let gridData: { indices: number[]; pixels: Uint8Array; labels: number[] } | null = null;
let testCount = 0;
let downloadUrl: string | null = null;

function fail(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  console.error(e);
  trainState.phase = "error";
  trainState.error = message;
  render();
}

window.addEventListener("unhandledrejection", (ev) => fail(ev.reason));

// ---- data ----

/** The four files' URLs, and a progress bar fed by the worker that downloads them. */
function dataRequest(): { urls: Record<DataName, string>; channel: string; done: () => void } {
  const base = new URL(query.get("data") ?? "data/", location.href);
  const urls = Object.fromEntries(
    (Object.keys(DATA_FILES) as DataName[]).map((n) => [n, new URL(DATA_FILES[n], base).href]),
  ) as Record<DataName, string>;
  const name = `train-web-progress-${crypto.randomUUID()}`;
  const channel = new BroadcastChannel(name);
  const bar = $<HTMLProgressElement>("progress");
  channel.onmessage = (ev: MessageEvent<Progress>) => {
    const { received, total } = ev.data;
    if (total !== null && total > 0) bar.value = received / total;
    else bar.removeAttribute("value");
    $("stats").textContent =
      `downloading Fashion-MNIST in the worker: ${(received / 1e6).toFixed(1)} MB` + (total !== null ? ` of ${(total / 1e6).toFixed(1)} MB` : "");
  };
  return {
    urls,
    channel: name,
    done: () => {
      channel.close();
      bar.value = 1;
    },
  };
}

// ---- training ----

function readConfig(): TrainConfig {
  const int = (id: string, what: string): number => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer (got "${$<HTMLInputElement>(id).value}")`);
    return v;
  };
  const lr = Number($<HTMLInputElement>("lr").value);
  if (!Number.isFinite(lr) || lr <= 0) throw new Error(`learning rate must be a positive number (got "${$<HTMLInputElement>("lr").value}")`);
  return {
    epochs: int("epochs", "epochs"),
    batchSize: int("batch", "batch size"),
    learningRate: lr,
    optimizer: $<HTMLSelectElement>("optimizer").value as OptimizerName,
    seed: intParam("seed", 42, 0)!,
  };
}

async function start(): Promise<void> {
  if (worker === null) return;
  if (trainState.phase === "paused") return resume();
  if (trainState.phase !== "ready" && trainState.phase !== "done") return;
  let config: TrainConfig;
  try {
    config = readConfig();
  } catch (e) {
    // A setting to correct, not a failed run: say so and stay where we are.
    trainState.error = e instanceof Error ? e.message : String(e);
    render();
    return;
  }
  trainState.error = null;
  trainState.phase = "training";
  Object.assign(trainState, {
    epoch: 0,
    batches: 0,
    images: 0,
    trainLoss: [],
    trainAcc: [],
    testAcc: [],
    imagesPerSec: 0,
    grid: [],
    confusion: null,
  });
  chartEpochs = [];
  run = { config, batchesPerEpoch: 1, activeMs: 0, evalMs: 0, stopRequested: false };
  const { batchesPerEpoch } = await worker.module.configure(config);
  run.batchesPerEpoch = batchesPerEpoch;
  render();
  void loop();
}

function pause(): void {
  if (trainState.phase === "training") {
    trainState.phase = "paused";
    render();
    // The download button offers the net as it is now.
    void refreshDownload().catch(fail);
  } else if (trainState.phase === "paused") resume();
}

function resume(): void {
  if (trainState.phase !== "paused") return;
  trainState.phase = "training";
  render();
  void loop();
}

function stop(): void {
  if (run === null || (trainState.phase !== "training" && trainState.phase !== "paused")) return;
  run.stopRequested = true;
  // While a chunk runs, the loop finishes; paused, nothing runs: finish here.
  if (!looping) void finish(false).catch(fail);
}

const CHUNK_MS = 100;

async function loop(): Promise<void> {
  if (looping || worker === null || run === null) return;
  looping = true;
  const r = run;
  try {
    while (trainState.phase === "training" && !r.stopRequested) {
      const t0 = performance.now();
      const chunk = await worker.module.trainChunk(CHUNK_MS);
      r.activeMs += performance.now() - t0;
      r.evalMs += chunk.evalMs;
      apply(r, chunk);
      // The next chunk waits for the redraw (drawFrames says why); that time
      // counts as training time, as the user waits for it too.
      if (chunk.epochEnd !== null || performance.now() - lastDraw >= DRAW_EVERY_MS) {
        const d0 = performance.now();
        await drawFrames();
        r.activeMs += performance.now() - d0;
      }
      if (chunk.finished) {
        looping = false;
        await finish(true);
        return;
      }
    }
    if (r.stopRequested) {
      looping = false;
      await finish(false);
    }
  } catch (e) {
    fail(e);
  } finally {
    looping = false;
  }
}

function apply(r: NonNullable<typeof run>, chunk: ChunkResult): void {
  r.batchesPerEpoch = chunk.batchesPerEpoch;
  trainState.trainLoss.push(...chunk.loss);
  trainState.trainAcc.push(...chunk.acc);
  trainState.batches += chunk.loss.length;
  trainState.images += chunk.images;
  const trainMs = r.activeMs - r.evalMs;
  trainState.imagesPerSec = trainMs > 0 ? (trainState.images / trainMs) * 1000 : 0;
  if (chunk.epochEnd !== null) {
    trainState.testAcc.push(chunk.epochEnd.testAcc);
    trainState.epoch = chunk.epochEnd.epoch + 1;
    trainState.grid = chunk.epochEnd.grid;
    chartEpochs.push(trainState.batches);
    if (chunk.finished) trainState.confusion = chunk.epochEnd.confusion;
    void refreshDownload().catch(fail);
  }
}

async function finish(completed: boolean): Promise<void> {
  if (worker === null) return;
  if (!completed) {
    // Stopped mid-run: the final predictions are those of the net as it is.
    trainState.phase = "training";
    const ev: Evaluation = await worker.module.evaluate();
    trainState.grid = ev.grid;
    trainState.confusion = ev.confusion;
  }
  await refreshDownload();
  trainState.phase = "done";
  render();
}

async function refreshDownload(): Promise<void> {
  if (worker === null) return;
  const bytes = await worker.module.saveParams();
  if (downloadUrl !== null) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
  const a = $<HTMLAnchorElement>("download");
  a.href = downloadUrl;
  a.classList.remove("disabled");
  a.removeAttribute("aria-disabled");
}

async function loadParamsFile(file: File): Promise<void> {
  if (worker === null) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  const ev = await worker.module.loadParams(transfer(bytes));
  trainState.loadedParams = { grid: ev.grid, testAcc: ev.testAcc };
  $("loaded-box").hidden = false;
  $("loaded-summary").textContent =
    `${file.name}: a fresh LeNet with these parameters predicts ${(ev.testAcc * 100).toFixed(1)} % of the ${testCount.toLocaleString("en")} test images right.`;
  drawGrid($<HTMLCanvasElement>("loaded-grid"), ev.grid, 8);
  render();
}

// ---- drawing ----

let chart: uPlot | null = null;
/** Batch counts at which each epoch ended (where its test accuracy is drawn). */
let chartEpochs: number[] = [];
/** A chart ~1000 px wide shows no more: fewer points, a cheaper redraw. */
const MAX_POINTS = 600;

function chartData(): uPlot.AlignedData {
  const n = trainState.trainLoss.length;
  const per = run?.batchesPerEpoch ?? 1;
  // Long runs: averages over buckets of `stride` batches keep setData cheap.
  const stride = Math.max(1, Math.ceil(n / MAX_POINTS));
  const xs: number[] = [];
  const loss: number[] = [];
  const acc: number[] = [];
  const test: (number | null)[] = [];
  let e = 0;
  for (let start = 0; start < n; start += stride) {
    const end = Math.min(n, start + stride);
    let l = 0;
    let a = 0;
    for (let i = start; i < end; i++) {
      l += trainState.trainLoss[i]!;
      a += trainState.trainAcc[i]!;
    }
    xs.push(end / per);
    loss.push(l / (end - start));
    acc.push(a / (end - start));
    let t: number | null = null;
    while (e < chartEpochs.length && chartEpochs[e]! <= end) t = trainState.testAcc[e++] ?? null;
    test.push(t);
  }
  return [xs, loss, acc, test];
}

function makeChart(): uPlot {
  const host = $("chart");
  // Inside the box's padding (uPlot's width is the canvas's).
  const width = Math.max(320, (host.clientWidth || 800) - 12);
  return new uPlot(
    {
      width,
      height: 300,
      scales: { x: { time: false }, acc: { range: [0, 1] } },
      axes: [
        { label: "epoch" },
        { label: "loss", scale: "loss" },
        { label: "accuracy", scale: "acc", side: 1, grid: { show: false } },
      ],
      series: [
        { label: "epoch", value: (_u, v) => (v === null ? "–" : v.toFixed(2)) },
        { label: "train loss", scale: "loss", stroke: "#d9661f", width: 1.5, value: (_u, v) => (v === null ? "–" : v.toFixed(3)) },
        { label: "train accuracy", scale: "acc", stroke: "#30609e", width: 1.5, value: (_u, v) => (v === null ? "–" : v.toFixed(3)) },
        {
          label: "test accuracy",
          scale: "acc",
          stroke: "#2a8a3a",
          width: 2,
          spanGaps: true,
          points: { show: true, size: 8, fill: "#2a8a3a" },
          value: (_u, v) => (v === null ? "–" : v.toFixed(3)),
        },
      ],
    },
    [[], [], [], []],
    host,
  );
}

const CELL = 84; // 28 px × 3
const CELL_W = CELL + 12;
const CELL_H = CELL + 34;

/** The grid's images, one 28×28 tile each in a row, converted once per data set
 *  (only the labels change from epoch to epoch): a redraw is then a few
 *  scaled copies, not 12,544 pixel writes and a canvas per image. */
let tileCache: { of: object; canvas: OffscreenCanvas } | null = null;
function gridTiles(g: { pixels: Uint8Array; indices: ArrayLike<number> }): OffscreenCanvas {
  if (tileCache !== null && tileCache.of === g) return tileCache.canvas;
  const n = g.indices.length;
  const canvas = new OffscreenCanvas(28 * Math.max(1, n), 28);
  const tctx = canvas.getContext("2d")!;
  const img = tctx.createImageData(28 * Math.max(1, n), 28);
  const d = img.data;
  const width = 28 * Math.max(1, n);
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        // Dark garments on white, as the crash course's plot shows them.
        const v = 255 - g.pixels[k * 784 + r * 28 + c]!;
        const o = (r * width + k * 28 + c) * 4;
        d[o] = v;
        d[o + 1] = v;
        d[o + 2] = v;
        d[o + 3] = 255;
      }
    }
  }
  tctx.putImageData(img, 0, 0);
  tileCache = { of: g, canvas };
  return canvas;
}

function drawGrid(canvas: HTMLCanvasElement, entries: GridEntry[] | null, columns: number): void {
  if (gridData === null) return;
  const n = gridData.indices.length;
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  if (canvas.width !== cols * CELL_W || canvas.height !== rows * CELL_H) {
    canvas.width = cols * CELL_W;
    canvas.height = rows * CELL_H;
  }
  const ctx = canvas.getContext("2d");
  if (ctx === null) return;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tiles = gridTiles(gridData);
  ctx.imageSmoothingEnabled = false;
  for (let k = 0; k < n; k++) {
    const x = (k % cols) * CELL_W + 6;
    const y = Math.floor(k / cols) * CELL_H + 4;
    ctx.drawImage(tiles, k * 28, 0, 28, 28, x, y, CELL, CELL);
    const label = gridData.labels[k]!;
    const entry = entries?.[k];
    const wrong = entry !== undefined && entry.pred !== label;
    ctx.strokeStyle = entry === undefined ? "#ccc" : wrong ? "#c62828" : "#2a8a3a";
    ctx.lineWidth = wrong ? 3 : 1.5;
    ctx.strokeRect(x - 1, y - 1, CELL + 2, CELL + 2);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillStyle = "#333";
    ctx.fillText(CLASS_NAMES[label]!, x + CELL / 2, y + CELL + 13);
    if (entry !== undefined) {
      ctx.fillStyle = wrong ? "#c62828" : "#2a8a3a";
      ctx.fillText(`${wrong ? "✗ " : "✓ "}${CLASS_NAMES[entry.pred] ?? entry.pred}`, x + CELL / 2, y + CELL + 27);
    }
  }
}

/** The confusion matrix on a canvas (a table of vertical headers cost this thread ~100 ms of layout). */
function drawConfusion(m: number[][] | null): void {
  const host = $("confusion");
  if (m === null) {
    host.innerHTML = '<p class="muted">appears when training ends</p>';
    return;
  }
  const label = 86;
  const head = 78;
  const cell = 34;
  let canvas = host.querySelector("canvas");
  if (canvas === null) {
    canvas = document.createElement("canvas");
    canvas.width = label + 10 * cell + 2;
    canvas.height = head + 10 * cell + 2;
    canvas.setAttribute("role", "img");
    host.replaceChildren(canvas);
  }
  const ctx = canvas.getContext("2d");
  if (ctx === null) return;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#333";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  CLASS_NAMES.forEach((name, i) => {
    ctx.fillText(name, label - 6, head + i * cell + cell / 2);
    ctx.save();
    ctx.translate(label + i * cell + cell / 2, head - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    ctx.fillText(name, 0, 0);
    ctx.restore();
  });
  ctx.textAlign = "center";
  const described: string[] = [];
  m.forEach((row, i) => {
    const total = row.reduce((sum, v) => sum + v, 0) || 1;
    row.forEach((v, j) => {
      const f = v / total;
      const x = label + j * cell;
      const y = head + i * cell;
      ctx.fillStyle = i === j ? `rgba(42, 138, 58, ${f})` : `rgba(198, 40, 40, ${Math.min(1, f * 3)})`;
      ctx.fillRect(x, y, cell, cell);
      ctx.strokeStyle = "#e0e0e0";
      ctx.strokeRect(x + 0.5, y + 0.5, cell, cell);
      ctx.fillStyle = f > 0.5 ? "#fff" : "#333";
      ctx.fillText(String(v), x + cell / 2, y + cell / 2);
    });
    described.push(`${CLASS_NAMES[i]}: ${row[i]} of ${row.reduce((sum, v) => sum + v, 0)} right`);
  });
  canvas.setAttribute("aria-label", `Confusion matrix, rows true classes. ${described.join("; ")}.`);
}

function formatEta(sec: number): string {
  if (!Number.isFinite(sec)) return "–";
  if (sec < 60) return `${Math.round(sec)} s`;
  return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
}

let frameRequested = false;
let lastDraw = 0;
let drawnGrid: GridEntry[] | null = null;
let drawnConfusion: number[][] | null = null;
/** At most this often: a live chart needs no more, and the main thread stays free. */
const DRAW_EVERY_MS = 400;

/** Redraw soon (many updates between two redraws: one redraw), outside the training loop's own redraws. */
function render(): void {
  drawStatus();
  if (frameRequested) return;
  frameRequested = true;
  const wait = Math.max(0, lastDraw + DRAW_EVERY_MS - performance.now());
  setTimeout(() => {
    frameRequested = false;
    void drawFrames();
  }, wait);
}

function draw(): void {
  drawStatus();
  if (chart !== null && run !== null) chart.setData(chartData());
}

/** The status line, the numbers and the buttons: a few text nodes, cheap enough to follow every change at once. */
function drawStatus(): void {
  const s = trainState;
  const build = `${s.build} build, ${s.threads} thread${s.threads === 1 ? "" : "s"}${s.isolated ? "" : " (page not cross-origin isolated)"}`;
  let status: string = s.phase;
  if (s.phase === "error") status = `error: ${s.error}`;
  else if (s.error !== null) status = `${s.phase} · ${s.error}`;
  else if (run !== null && s.phase !== "loading" && s.phase !== "ready") {
    const total = run.config.epochs * run.batchesPerEpoch;
    const eta = s.batches > 0 ? (run.activeMs / s.batches) * (total - s.batches) / 1000 : Infinity;
    status += ` · ${build} · ${Math.round(s.imagesPerSec).toLocaleString("en")} images/s`;
    if (s.phase !== "done") status += ` · ETA ${formatEta(eta)}`;
    const last = s.trainLoss.length - 1;
    $("stats").textContent =
      `epoch ${Math.min(s.epoch + (s.phase === "done" ? 0 : 1), run.config.epochs)} of ${run.config.epochs}, ` +
      `batch ${s.batches} of ${total}` +
      (last >= 0 ? `, loss ${s.trainLoss[last]!.toFixed(3)}, batch accuracy ${s.trainAcc[last]!.toFixed(3)}` : "") +
      (s.testAcc.length > 0 ? `, test accuracy ${s.testAcc.map((a) => a.toFixed(3)).join(" → ")}` : "");
    $<HTMLProgressElement>("progress").value = total > 0 ? s.batches / total : 0;
  } else if (s.phase === "ready") {
    status += ` · ${build} · ${testCount.toLocaleString("en")} test images`;
  }
  $("status").textContent = status;
  $("status").classList.toggle("error", s.error !== null);
  // No frame loop of its own: this thread draws only when something changed.
  $("heartbeat").textContent = `longest main-thread task since the page loaded: ${Math.round(s.longestTaskMs)} ms`;

  const active = s.phase === "training" || s.phase === "paused";
  $<HTMLButtonElement>("start").disabled = !(s.phase === "ready" || s.phase === "done" || s.phase === "paused");
  $<HTMLButtonElement>("start").textContent = s.phase === "paused" ? "Resume" : s.phase === "done" ? "Start again" : "Start";
  $<HTMLButtonElement>("pause").disabled = !active;
  $<HTMLButtonElement>("pause").textContent = s.phase === "paused" ? "Resume" : "Pause";
  $<HTMLButtonElement>("stop").disabled = !active;
  $<HTMLInputElement>("load").disabled = worker === null || s.phase === "loading" || s.phase === "error";
  for (const id of ["epochs", "batch", "lr", "optimizer"]) $<HTMLInputElement>(id).disabled = active;
}

/** The grid and the confusion matrix, if they changed: each a frame of its own (see drawFrames). */
function pictureJobs(): (() => void)[] {
  const s = trainState;
  const jobs: (() => void)[] = [];
  if (s.grid !== drawnGrid) {
    const grid = s.grid;
    const epoch = s.epoch;
    drawnGrid = grid;
    jobs.push(() => {
      drawGrid($<HTMLCanvasElement>("grid"), grid.length > 0 ? grid : null, 4);
      const wrong = grid.filter((g) => g.pred !== g.label).length;
      $("grid-caption").textContent = grid.length > 0 ? `(after epoch ${epoch}: ${wrong} of ${grid.length} wrong)` : "(after each epoch)";
    });
  }
  if (s.confusion !== drawnConfusion) {
    const m = s.confusion;
    drawnConfusion = m;
    jobs.push(() => drawConfusion(m));
  }
  return jobs;
}

const nextFrame = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => resolve()));
/** Resolves after the current frame's rendering (a task queued from a frame callback runs after it). */
const afterFrame = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Draw now, one piece per frame (status and chart; then the grid; then the
 * confusion matrix), each frame's rendering finished before the next piece.
 * The training loop awaits this between two chunks, so that the worker's
 * threads are idle while this thread and the compositor draw: on a machine
 * with few cores a frame otherwise waits for CPU (Chromium's trace: a 10 ms
 * draw took 50–170 ms of wall time, mostly "Commit" waiting for the
 * compositor thread).
 */
async function drawFrames(): Promise<void> {
  await nextFrame();
  lastDraw = performance.now();
  draw();
  const jobs = pictureJobs();
  await afterFrame();
  for (const job of jobs) {
    await nextFrame();
    job();
    await afterFrame();
  }
}

// ---- start-up ----

async function main(): Promise<void> {
  const epochs = intParam("epochs", 10, 1)!;
  const batch = intParam("batch", 256, 1)!;
  const lr = numberParam("lr", 0.1);
  const optimizer = optimizerParam();
  const trainLimit = intParam("trainLimit", null, 1);
  const testLimit = intParam("testLimit", null, 1);
  intParam("seed", 42, 0);
  $<HTMLInputElement>("epochs").value = String(epochs);
  $<HTMLInputElement>("batch").value = String(batch);
  $<HTMLInputElement>("lr").value = String(lr);
  $<HTMLSelectElement>("optimizer").value = optimizer;
  window.addEventListener("resize", () => {
    const host = $("chart");
    chart?.setSize({ width: Math.max(320, host.clientWidth - 12), height: 300 });
  });
  render();

  // The worker module: the .ts source on the dev server, its built .js in
  // the static build (vite.config.ts builds it as an entry of its own).
  const moduleUrl = new URL(TRAIN_WORKER_MODULE, document.baseURI);
  performance.mark("train-web:start");
  $("stats").textContent = "starting the worker…";
  // threads=0: the single-threaded build, even on a cross-origin isolated page.
  const threads = query.get("threads") === "0" ? { threads: 0 } : {};
  const w = await createWorker<TrainModule>({ module: moduleUrl, name: "ndgrad train", ...threads });
  worker = w;
  performance.mark("train-web:worker");
  const data = dataRequest();
  let info;
  try {
    info = await w.module.setup({ urls: data.urls, progressChannel: data.channel, trainLimit, testLimit, gridSize: 16 });
  } finally {
    data.done();
  }
  performance.mark("train-web:data");
  const runtime = await w.nd.memory();
  trainState.engineCheck = {
    moduleArrays: info.liveArrays,
    runtimeArrays: runtime.arrays,
    same: info.liveArrays === runtime.arrays && info.liveArrays > 0,
    resources: info.resources,
  };
  if (!trainState.engineCheck.same) {
    throw new Error(
      `the worker module runs on a second ndgrad engine (${info.liveArrays} arrays there, ${runtime.arrays} in the worker runtime's)`,
    );
  }
  trainState.build = info.build;
  trainState.threads = info.threads;
  gridData = info.grid;
  testCount = info.testCount;
  $("stats").textContent = `${info.trainCount.toLocaleString("en")} training and ${info.testCount.toLocaleString("en")} test images loaded`;
  // The chart once the data are in: its first layout is a frame's work of
  // its own, not added to the start-up's.
  await nextFrame();
  chart = makeChart();
  trainState.phase = "ready";
  performance.mark("train-web:ready");
  drawnGrid = null;
  render();
  if (query.get("autostart") === "1") await start();
}

$("start").addEventListener("click", () => void start().catch(fail));
$("pause").addEventListener("click", pause);
$("stop").addEventListener("click", stop);
$<HTMLInputElement>("load").addEventListener("change", (ev) => {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file !== undefined) {
    loadParamsFile(file).catch((e: unknown) => {
      // A bad file is the user's mistake, not the run's: say so, keep training state.
      $("loaded-box").hidden = false;
      $("loaded-summary").textContent = `${file.name} could not be used: ${e instanceof Error ? e.message : String(e)}`;
    });
  }
  input.value = "";
});
$("download").addEventListener("click", (ev) => {
  if (downloadUrl === null) ev.preventDefault();
});

main().catch(fail);
