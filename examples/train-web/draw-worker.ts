// The page's drawing thread: the chart (Chart.js), the prediction grids and
// the confusion matrix are canvases whose control the page transferred here
// (`transferControlToOffscreen`). Their drawing, rasterizing and committing
// happen on this worker, so that the page's own thread only sets text while
// the network trains: on a 2-core machine, a canvas drawn on the page's
// thread made tasks of 50-100 ms there (10-25 ms of work, the rest waiting
// for a core and for the compositor's commit). uPlot, picked for the chart
// first, needs the DOM; Chart.js renders to an OffscreenCanvas in a worker.
//
// Messages: see DrawRequest in shared.ts. Every request is answered with
// `{ kind: "drawn", id }` once what it asked for is drawn (the page's training
// loop waits for it between two chunks), or `{ kind: "error", id, message }`.
import { Chart, Legend, LinearScale, LineController, LineElement, PointElement, type ChartDataset } from "chart.js";
import { CLASS_NAMES, type DrawReply, type DrawRequest, type GridEntry } from "./shared.js";

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend);

const reply = (m: DrawReply): void => (self as unknown as { postMessage(m: DrawReply): void }).postMessage(m);

interface Canvases {
  chart: OffscreenCanvas;
  grid: OffscreenCanvas;
  loadedGrid: OffscreenCanvas;
  confusion: OffscreenCanvas;
}

let canvases: Canvases | null = null;
let dpr = 1;
let chart: Chart<"line", { x: number; y: number }[]> | null = null;

// ---- the chart ----

/** Every batch's loss and accuracy, the batch counts at which epochs ended and their test accuracy. */
const series = { loss: [] as number[], acc: [] as number[], epochEnds: [] as number[], testAcc: [] as number[], batchesPerEpoch: 1 };
/** A chart ~1000 px wide shows no more: longer runs are averaged over buckets of batches. */
const MAX_POINTS = 600;
const CHART_HEIGHT = 300;

function chartPoints(): { loss: { x: number; y: number }[]; acc: { x: number; y: number }[]; test: { x: number; y: number }[] } {
  const n = series.loss.length;
  const per = series.batchesPerEpoch;
  const stride = Math.max(1, Math.ceil(n / MAX_POINTS));
  const loss: { x: number; y: number }[] = [];
  const acc: { x: number; y: number }[] = [];
  for (let start = 0; start < n; start += stride) {
    const end = Math.min(n, start + stride);
    let l = 0;
    let a = 0;
    for (let i = start; i < end; i++) {
      l += series.loss[i]!;
      a += series.acc[i]!;
    }
    loss.push({ x: end / per, y: l / (end - start) });
    acc.push({ x: end / per, y: a / (end - start) });
  }
  const test = series.testAcc.map((y, e) => ({ x: series.epochEnds[e]! / per, y }));
  return { loss, acc, test };
}

function makeChart(canvas: OffscreenCanvas): Chart<"line", { x: number; y: number }[]> {
  const line = (label: string, color: string, axis: string, width: number): ChartDataset<"line", { x: number; y: number }[]> => ({
    label,
    data: [],
    yAxisID: axis,
    borderColor: color,
    backgroundColor: color,
    borderWidth: width,
    pointRadius: 0,
    tension: 0,
  });
  // Chart.js draws on an OffscreenCanvas in a worker (its BasicPlatform, see
  // "Web Workers" in its docs), but its ChartItem type names DOM canvases only.
  return new Chart<"line", { x: number; y: number }[]>(canvas as unknown as HTMLCanvasElement, {
    type: "line",
    data: {
      datasets: [
        line("train loss", "#d9661f", "loss", 1.5),
        line("train accuracy", "#30609e", "acc", 1.5),
        { ...line("test accuracy", "#2a8a3a", "acc", 2), pointRadius: 4, pointBackgroundColor: "#2a8a3a" },
      ],
    },
    options: {
      // A worker has no DOM to watch: the page sends sizes, nothing moves.
      responsive: false,
      animation: false,
      devicePixelRatio: dpr,
      parsing: false,
      normalized: true,
      spanGaps: true,
      events: [],
      scales: {
        x: { type: "linear", min: 0, title: { display: true, text: "epoch" } },
        loss: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "loss" } },
        acc: { type: "linear", position: "right", min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: "accuracy" } },
      },
      plugins: { legend: { position: "top", labels: { boxHeight: 2 } } },
    },
  });
}

function setChartWidth(cssWidth: number): void {
  if (canvases === null) return;
  const w = Math.max(320, Math.round(cssWidth));
  // Chart.js sizes the canvas (width × dpr) itself when told the CSS size.
  if (chart === null) {
    canvases.chart.width = Math.round(w * dpr);
    canvases.chart.height = Math.round(CHART_HEIGHT * dpr);
    chart = makeChart(canvases.chart);
  }
  chart.resize(w, CHART_HEIGHT);
}

function drawChart(): void {
  if (chart === null) return;
  const { loss, acc, test } = chartPoints();
  const epochs = series.loss.length / series.batchesPerEpoch;
  chart.data.datasets[0]!.data = loss;
  chart.data.datasets[1]!.data = acc;
  chart.data.datasets[2]!.data = test;
  const x = chart.options.scales!["x"]!;
  x.max = Math.max(1, Math.ceil(epochs - 1e-9));
  chart.update("none");
}

// ---- the grids and the confusion matrix ----

const CELL = 84; // 28 px × 3
const CELL_W = CELL + 12;
const CELL_H = CELL + 34;

/** The grid's images, one 28×28 tile each in a row, converted once per data set. */
let tiles: { canvas: OffscreenCanvas; labels: number[] } | null = null;

function setTiles(pixels: Uint8Array, labels: number[]): void {
  const n = labels.length;
  if (pixels.length !== n * 784) throw new Error(`draw worker: ${pixels.length} pixels for ${n} images of 28×28`);
  const width = 28 * Math.max(1, n);
  const canvas = new OffscreenCanvas(width, 28);
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(width, 28);
  const d = img.data;
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        // Dark garments on white, as the crash course's plot shows them.
        const v = 255 - pixels[k * 784 + r * 28 + c]!;
        const o = (r * width + k * 28 + c) * 4;
        d[o] = v;
        d[o + 1] = v;
        d[o + 2] = v;
        d[o + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  tiles = { canvas, labels };
}

function drawGrid(canvas: OffscreenCanvas, entries: GridEntry[] | null, columns: number): void {
  if (tiles === null) return;
  const n = tiles.labels.length;
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.ceil(n / cols);
  if (canvas.width !== cols * CELL_W || canvas.height !== rows * CELL_H) {
    canvas.width = cols * CELL_W;
    canvas.height = rows * CELL_H;
  }
  const ctx = canvas.getContext("2d");
  if (ctx === null) return;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (let k = 0; k < n; k++) {
    const x = (k % cols) * CELL_W + 6;
    const y = Math.floor(k / cols) * CELL_H + 4;
    ctx.drawImage(tiles.canvas, k * 28, 0, 28, 28, x, y, CELL, CELL);
    const label = tiles.labels[k]!;
    const entry = entries?.[k];
    const wrong = entry !== undefined && entry.pred !== label;
    ctx.strokeStyle = entry === undefined ? "#ccc" : wrong ? "#c62828" : "#2a8a3a";
    ctx.lineWidth = wrong ? 3 : 1.5;
    ctx.strokeRect(x - 1, y - 1, CELL + 2, CELL + 2);
    ctx.fillStyle = "#333";
    ctx.fillText(CLASS_NAMES[label] ?? String(label), x + CELL / 2, y + CELL + 13);
    if (entry !== undefined) {
      ctx.fillStyle = wrong ? "#c62828" : "#2a8a3a";
      ctx.fillText(`${wrong ? "✗ " : "✓ "}${CLASS_NAMES[entry.pred] ?? entry.pred}`, x + CELL / 2, y + CELL + 27);
    }
  }
}

function drawConfusion(canvas: OffscreenCanvas, m: number[][]): void {
  const label = 86;
  const head = 78;
  const cell = 34;
  canvas.width = label + 10 * cell + 2;
  canvas.height = head + 10 * cell + 2;
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
  });
}

// ---- requests ----

function handle(req: DrawRequest): void {
  if (req.kind === "init") {
    canvases = { chart: req.chart, grid: req.grid, loadedGrid: req.loadedGrid, confusion: req.confusion };
    dpr = req.dpr > 0 && Number.isFinite(req.dpr) ? req.dpr : 1;
    setChartWidth(req.chartWidth);
    drawChart();
    return;
  }
  if (canvases === null) throw new Error(`draw worker: "${req.kind}" before "init"`);
  switch (req.kind) {
    case "tiles":
      setTiles(req.pixels, req.labels);
      return;
    case "reset":
      series.loss = [];
      series.acc = [];
      series.epochEnds = [];
      series.testAcc = [];
      series.batchesPerEpoch = req.batchesPerEpoch;
      drawChart();
      return;
    case "points":
      series.loss.push(...req.loss);
      series.acc.push(...req.acc);
      for (const e of req.epochs) {
        series.epochEnds.push(e.batches);
        series.testAcc.push(e.testAcc);
      }
      series.batchesPerEpoch = req.batchesPerEpoch;
      if (req.draw) drawChart();
      return;
    case "resize":
      setChartWidth(req.chartWidth);
      drawChart();
      return;
    case "grid":
      drawGrid(req.target === "grid" ? canvases.grid : canvases.loadedGrid, req.entries, req.columns);
      return;
    case "confusion":
      drawConfusion(canvases.confusion, req.matrix);
      return;
  }
}

self.addEventListener("message", (ev: MessageEvent<DrawRequest>) => {
  const req = ev.data;
  try {
    handle(req);
    // The canvases commit their frame when this task ends; the answer
    // follows it (a task queued now runs after the commit).
    setTimeout(() => reply({ kind: "drawn", id: req.id }), 0);
  } catch (e) {
    reply({ kind: "error", id: req.id, message: e instanceof Error ? e.message : String(e) });
  }
});
