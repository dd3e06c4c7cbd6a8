// The training page: starts a worker that downloads Fashion-MNIST (progress
// reported back for the bar), gunzips it with DecompressionStream and trains
// LeNet with ndgrad's synchronous API (train-worker.ts), and a second worker
// that owns the canvases and draws them (draw-worker.ts: the chart with
// Chart.js, the prediction grids, the confusion matrix). The page asks for
// ~100 ms of training at a time (`trainChunk`): progress arrives live, and
// pause/stop is not asking again. This thread only keeps the numbers, sets
// a few text nodes and forwards new points to the drawing worker (every
// 400 ms, while the training worker waits, see drawFrames), so that it never
// blocks for long: `trainState.longestTrainingTaskMs` is the longest
// main-thread task while training (`longestTaskMs`: since the page loaded).
// While training, the download link gets its file on click, a Blob URL the
// worker makes (a Blob made here at every epoch's end cost this thread
// 10-20 ms each time).
//
// `window.trainState` and the element ids are an automation contract
// (tests/browser and scripts drive the page through them): keep them.
import { createWorker, transfer, type NDWorker } from "ndgrad/worker";
import "./style.css";
import {
  CLASS_NAMES,
  DATA_FILES,
  type ChunkResult,
  type DataName,
  type DrawReply,
  type DrawRequest,
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
  /** The longest main-thread task (Long Tasks API, ms) that started while the phase was "training". */
  longestTrainingTaskMs: number;
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

/** What a run starts from (the page's first state, and every Start). */
type RunFields = "epoch" | "batches" | "images" | "trainLoss" | "trainAcc" | "testAcc" | "imagesPerSec" | "grid" | "confusion";
const runStart = (): Pick<TrainState, RunFields> => ({
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

const trainState: TrainState = {
  phase: "loading",
  error: null,
  // Until the worker says which build its engine loaded.
  build: globalThis.crossOriginIsolated === true && query.get("threads") !== "0" ? "threads" : "single",
  threads: 1,
  isolated: globalThis.crossOriginIsolated === true,
  ...runStart(),
  longestTaskMs: 0,
  longestTrainingTaskMs: 0,
  loadedParams: null,
  engineCheck: null,
};
(window as unknown as { trainState: TrainState }).trainState = trainState;

// Long tasks since the page loaded (its load event): what the user feels
// while data arrive and training runs. Before it, the browser is still
// evaluating this page's scripts, which no update of ours causes.
let loadedAt = Infinity;
const longTasks: { start: number; duration: number }[] = [];
/** When the phase was "training": [from, to] (to null while it is). */
const trainingSpans: [number, number | null][] = [];
const whileTraining = (t: number): boolean => trainingSpans.some(([from, to]) => t >= from && (to === null || t <= to));
const updateLongest = (): void => {
  for (const t of longTasks) {
    if (t.start >= loadedAt) trainState.longestTaskMs = Math.max(trainState.longestTaskMs, t.duration);
    if (whileTraining(t.start)) trainState.longestTrainingTaskMs = Math.max(trainState.longestTrainingTaskMs, t.duration);
  }
};

/** Every change of phase goes here: it keeps the spans of training for the long-task count. */
function setPhase(phase: Phase): void {
  const now = performance.now();
  const open = trainingSpans.at(-1);
  if (phase === "training" && (open === undefined || open[1] !== null)) trainingSpans.push([now, null]);
  if (phase !== "training" && open !== undefined && open[1] === null) open[1] = now;
  trainState.phase = phase;
}
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
let testCount = 0;
/** The download link's Blob URL, and whether it holds the net as it is now. */
let downloadUrl: string | null = null;
let downloadFresh = false;

function fail(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  console.error(e);
  setPhase("error");
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
  setPhase("training");
  Object.assign(trainState, runStart());
  chartEpochs = [];
  sentBatches = 0;
  sentEpochs = 0;
  void send({ kind: "reset", batchesPerEpoch: 1 }).catch(fail);
  run = { config, batchesPerEpoch: 1, activeMs: 0, evalMs: 0, stopRequested: false };
  const { batchesPerEpoch } = await worker.module.configure(config);
  run.batchesPerEpoch = batchesPerEpoch;
  render();
  void loop();
}

function pause(): void {
  if (trainState.phase === "training") {
    setPhase("paused");
    render();
    // The download button offers the net as it is now.
    void refreshDownload().catch(fail);
  } else if (trainState.phase === "paused") resume();
}

function resume(): void {
  if (trainState.phase !== "paused") return;
  setPhase("training");
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
    downloadStale();
  }
}

async function finish(completed: boolean): Promise<void> {
  if (worker === null) return;
  if (!completed) {
    // Stopped mid-run: the final predictions are those of the net as it is.
    setPhase("training");
    const ev: Evaluation = await worker.module.evaluate();
    trainState.grid = ev.grid;
    trainState.confusion = ev.confusion;
  }
  await refreshDownload();
  setPhase("done");
  render();
}

/** The net changed (an epoch ended): the link offers it, its bytes are made on click. */
function downloadStale(): void {
  downloadFresh = false;
  const a = $<HTMLAnchorElement>("download");
  a.classList.remove("disabled");
  a.removeAttribute("aria-disabled");
}

/** The link's file: the net as it is now, saved in MXNet's format by the worker. */
async function refreshDownload(): Promise<void> {
  if (worker === null) return;
  // A Blob URL the worker made (and revokes when it makes the next).
  downloadUrl = await worker.module.saveParamsUrl();
  // Training goes on: the next epoch's end makes these bytes old.
  downloadFresh = true;
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
  await send({ kind: "grid", target: "loadedGrid", entries: ev.grid, columns: 8 });
  render();
}

// ---- drawing ----

type DrawBody = DrawRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/**
 * The drawing worker (draw-worker.ts): it owns the canvases (chart, grids,
 * confusion matrix) and draws them; this thread only sends numbers and sets
 * text. Each request resolves when the worker has drawn it.
 */
const drawer = new Worker(new URL("./draw-worker.ts", import.meta.url), { type: "module", name: "train-web draw" });
const drawing = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let drawId = 0;
drawer.addEventListener("message", (ev: MessageEvent<DrawReply>) => {
  const waiting = drawing.get(ev.data.id);
  drawing.delete(ev.data.id);
  if (ev.data.kind === "error") {
    const e = new Error(`the drawing worker: ${ev.data.message}`);
    if (waiting !== undefined) waiting.reject(e);
    else fail(e);
  } else waiting?.resolve();
});
drawer.addEventListener("error", (ev) => fail(new Error(`the drawing worker failed: ${ev.message || "it could not start"}`)));

function send(req: DrawBody, transferList: Transferable[] = []): Promise<void> {
  const id = ++drawId;
  return new Promise((resolve, reject) => {
    drawing.set(id, { resolve, reject });
    drawer.postMessage({ ...req, id }, transferList);
  });
}

/** Batch counts at which each epoch ended (where its test accuracy is drawn). */
let chartEpochs: number[] = [];
/** How many batches and epochs the drawing worker has. */
let sentBatches = 0;
let sentEpochs = 0;

/** The chart's width in CSS pixels: its canvas's (CSS makes it as wide as its box). */
const chartWidth = (): number => Math.max(320, $("chart-canvas").clientWidth || 800);

/** The batches and epochs the drawing worker has not seen; `redraw`: the chart too. */
function sendPoints(redraw: boolean): Promise<void> {
  const s = trainState;
  const epochs: { batches: number; testAcc: number }[] = [];
  for (; sentEpochs < chartEpochs.length && sentEpochs < s.testAcc.length; sentEpochs++) {
    epochs.push({ batches: chartEpochs[sentEpochs]!, testAcc: s.testAcc[sentEpochs]! });
  }
  const loss = s.trainLoss.slice(sentBatches);
  const acc = s.trainAcc.slice(sentBatches);
  sentBatches = s.trainLoss.length;
  return send({ kind: "points", loss, acc, epochs, batchesPerEpoch: run?.batchesPerEpoch ?? 1, draw: redraw });
}

/** The confusion matrix's placeholder text, or its canvas (drawn by the worker). */
function showConfusion(m: number[][] | null): Promise<void> {
  const canvas = $<HTMLCanvasElement>("confusion-canvas");
  $("confusion-empty").hidden = m !== null;
  canvas.hidden = m === null;
  if (m === null) return Promise.resolve();
  const described = m.map((row, i) => `${CLASS_NAMES[i]}: ${row[i]} of ${row.reduce((sum, v) => sum + v, 0)} right`);
  canvas.setAttribute("aria-label", `Confusion matrix, rows true classes. ${described.join("; ")}.`);
  return send({ kind: "confusion", matrix: m });
}

function formatEta(sec: number): string {
  if (!Number.isFinite(sec)) return "–";
  if (sec < 60) return `${Math.round(sec)} s`;
  return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
}

let drawScheduled = false;
let lastDraw = 0;
let drawnGrid: GridEntry[] | null = null;
let drawnConfusion: number[][] | null = null;
/** At most this often: a live chart needs no more. */
const DRAW_EVERY_MS = 400;

/** Redraw soon (many updates between two redraws: one redraw), outside the training loop's own redraws. */
function render(): void {
  drawStatus();
  if (drawScheduled) return;
  drawScheduled = true;
  const wait = Math.max(0, lastDraw + DRAW_EVERY_MS - performance.now());
  setTimeout(() => {
    drawScheduled = false;
    drawFrames().catch(fail);
  }, wait);
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
  $("heartbeat").textContent =
    `longest main-thread task while training: ${Math.round(s.longestTrainingTaskMs)} ms (since the page loaded: ${Math.round(s.longestTaskMs)} ms)`;

  const active = s.phase === "training" || s.phase === "paused";
  $<HTMLButtonElement>("start").disabled = !(s.phase === "ready" || s.phase === "done" || s.phase === "paused");
  $<HTMLButtonElement>("start").textContent = s.phase === "paused" ? "Resume" : s.phase === "done" ? "Start again" : "Start";
  $<HTMLButtonElement>("pause").disabled = !active;
  $<HTMLButtonElement>("pause").textContent = s.phase === "paused" ? "Resume" : "Pause";
  $<HTMLButtonElement>("stop").disabled = !active;
  $<HTMLInputElement>("load").disabled = worker === null || s.phase === "loading" || s.phase === "error";
  for (const id of ["epochs", "batch", "lr", "optimizer"]) $<HTMLInputElement>(id).disabled = active;
}

/**
 * Draw now: the status here, the chart (and the grid and the confusion
 * matrix, if they changed) in the drawing worker. The training loop awaits
 * this between two chunks, so that the worker's threads are idle while the
 * drawing worker and the compositor draw: on a machine with few cores a
 * frame otherwise waits for a core.
 */
async function drawFrames(): Promise<void> {
  lastDraw = performance.now();
  drawStatus();
  if (!canvasesReady) return;
  const s = trainState;
  const jobs = [sendPoints(true)];
  if (s.grid !== drawnGrid) {
    const grid = s.grid;
    drawnGrid = grid;
    const wrong = grid.filter((g) => g.pred !== g.label).length;
    $("grid-caption").textContent = grid.length > 0 ? `(after epoch ${s.epoch}: ${wrong} of ${grid.length} wrong)` : "(after each epoch)";
    jobs.push(send({ kind: "grid", target: "grid", entries: grid.length > 0 ? grid : null, columns: 4 }));
  }
  if (s.confusion !== drawnConfusion) {
    drawnConfusion = s.confusion;
    jobs.push(showConfusion(s.confusion));
  }
  await Promise.all(jobs);
}

let canvasesReady = false;

/** Hands the page's canvases to the drawing worker. */
async function initCanvases(): Promise<void> {
  const ids = ["chart-canvas", "grid", "loaded-grid", "confusion-canvas"] as const;
  const [chart, grid, loadedGrid, confusion] = ids.map((id) => {
    const c = $<HTMLCanvasElement>(id);
    if (typeof c.transferControlToOffscreen !== "function") {
      throw new Error("this browser cannot draw canvases in a worker (OffscreenCanvas): use Chrome/Edge 69+, Firefox 105+ or Safari 16.4+");
    }
    return c.transferControlToOffscreen();
  }) as [OffscreenCanvas, OffscreenCanvas, OffscreenCanvas, OffscreenCanvas];
  await send({ kind: "init", chart, grid, loadedGrid, confusion, dpr: window.devicePixelRatio || 1, chartWidth: chartWidth() }, [
    chart,
    grid,
    loadedGrid,
    confusion,
  ]);
  canvasesReady = true;
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
    if (canvasesReady) void send({ kind: "resize", chartWidth: chartWidth() }).catch(fail);
  });
  await initCanvases();
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
  testCount = info.testCount;
  $("stats").textContent = `${info.trainCount.toLocaleString("en")} training and ${info.testCount.toLocaleString("en")} test images loaded`;
  await send({ kind: "tiles", pixels: info.grid.pixels, labels: info.grid.labels });
  setPhase("ready");
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
/** Set for the one click this page makes on the link itself, once its bytes are made. */
let ownClick = false;
$("download").addEventListener("click", (ev) => {
  if (ownClick) {
    ownClick = false;
    return;
  }
  // Not training and the bytes are the net's as it is: the link's own download.
  if (downloadUrl !== null && downloadFresh && trainState.phase !== "training") return;
  ev.preventDefault();
  if (worker === null || $("download").classList.contains("disabled")) return;
  // The net as it is now (training changes it every batch), then the link's own download of it.
  refreshDownload()
    .then(() => {
      ownClick = true;
      $("download").click();
    })
    .catch(fail);
});

main().catch(fail);
