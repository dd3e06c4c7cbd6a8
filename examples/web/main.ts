// The interactive tutorial page: every computation runs in a Web Worker
// (`ndgrad/worker`); this thread only draws. `document.body.dataset.state`
// goes "loading" → "running" → "done" (or "error"), for people and tests.
import { createWorker, type NDWorker, type RemoteNDArray } from "ndgrad/worker";
import { plotSvg } from "./plot.js";
import { cells, f, runTutorial } from "./tutorial.js";

const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => document.querySelector<T>(sel)!;

function setStatus(text: string, error = false): void {
  $("#status").textContent = text;
  $("#status").classList.toggle("error", error);
}

// The main thread's heartbeat: frames keep coming while the worker computes.
let frames = 0;
let longest = 0;
let last = performance.now();
function beat(now: number): void {
  frames++;
  longest = Math.max(longest, now - last);
  last = now;
  if (frames % 10 === 0) {
    $("#heartbeat").textContent = `main thread: ${frames} frames, longest frame ${Math.round(longest)} ms`;
  }
  requestAnimationFrame(beat);
}
requestAnimationFrame(beat);

function el(tag: string, cls: string, text = ""): HTMLElement {
  const e = document.createElement(tag);
  e.className = cls;
  e.textContent = text;
  return e;
}

interface CellView {
  /** Shows a cell's output: print()'s text, then the displayed value (Out[n]). */
  show(stdout: string, result: string | undefined): void;
}

/** The cells' code now (ndgrad's worker API beside the notebook's Python), outputs as they arrive. */
function renderCells(): CellView[] {
  const host = $("#cells");
  return cells.map((cell, i) => {
    const div = el("div", "cell");
    div.id = `cell-${i}`;
    div.dataset.n = String(cell.n);
    const n = cell.n === 0 ? " " : String(cell.n);
    const code = el("div", "code");
    code.append(el("pre", "ts", cell.code), el("pre", "python", cell.python));
    div.append(el("div", "prompt", `In [${n}]:`), code);
    const stdout = el("pre", "stdout");
    const result = el("pre", "result");
    host.append(div);
    return {
      show(out, value) {
        stdout.textContent = out;
        if (out !== "") div.append(el("div", "prompt"), stdout);
        if (value !== undefined) {
          result.textContent = value;
          div.append(el("div", "prompt out", `Out[${n}]:`), result);
        }
      },
    };
  });
}

async function drawPlot(w: NDWorker): Promise<void> {
  const [xs, ys, gs] = await w.nd.scope(async () => {
    const x = w.nd.arange(0, 61).mul(0.1).sub(3); // -3 … 3
    x.attachGrad();
    const y = await w.autograd.record(() => w.nd.mul(2, x).mul(x));
    await y.backward();
    const out = await Promise.all([x.data(), y.data(), (await x.grad)!.data()]);
    x.dispose();
    return out;
  });
  const four = Float64Array.from(xs, (x) => 4 * x);
  let worst = 0;
  for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(gs[i]! - four[i]!));
  $("#plot").innerHTML = plotSvg(
    [
      { label: "f(x) = 2x²", xs, ys, color: "#30609e" },
      { label: "4x", xs, ys: four, color: "#999", style: "dashed" },
      { label: "x.grad (autograd)", xs, ys: gs, color: "#d9661f", style: "dots" },
    ],
    "f(x) = 2x² with its autograd gradient and 4x",
  );
  const check = $("#plot-check");
  check.textContent = `${xs.length} points: max |x.grad − 4x| = ${worst}`;
  check.className = worst === 0 ? "ok" : "bad";
  check.dataset.worst = String(worst);
}

async function controlFlow(w: NDWorker): Promise<void> {
  const result = await w.nd.scope(async () => {
    const a = w.nd.random.uniform(-1, 1, [2]);
    await a.attachGrad();
    let log = "";
    const print = async (...values: (RemoteNDArray | number | string)[]): Promise<void> => {
      const parts = await Promise.all(
        values.map((v) => (typeof v === "number" ? w.nd.formatScalar(v) : typeof v === "string" ? v : v.toString())),
      );
      log += `${parts.join(" ")}\n`;
    };
    const c = await w.autograd.record(() => f({ print }, a));
    await c.backward();
    const grad = (await a.grad)!;
    const ratio = c.div(a);
    const [aText, cText, gText, rText, av, cv, gv, rv] = await Promise.all([
      a.toString(), c.toString(), grad.toString(), ratio.toString(),
      a.toArray(), c.toArray(), grad.toArray(), ratio.toArray(),
    ]);
    a.dispose();
    return { aText, cText, gText, rText, log, a: av as number[], c: cv as number[], grad: gv as number[], ratio: rv as number[] };
  });
  $("#cf-a").textContent = result.aText;
  $("#cf-c").textContent = result.cText;
  $("#cf-grad").textContent = result.gText;
  $("#cf-ratio").textContent = result.rText;
  $("#cf-log").textContent = result.log;
  const pick = result.grad[0] !== 0 ? 0 : 1;
  const ok = result.grad[pick] === result.ratio[pick] && result.grad[1 - pick] === 0;
  const check = $("#cf-check");
  check.textContent = ok
    ? `c = b[${pick}]: a.grad[${pick}] = c/a[${pick}] = ${result.grad[pick]}, a.grad[${1 - pick}] = 0`
    : `a.grad does not match c/a: ${JSON.stringify(result)}`;
  check.className = ok ? "ok" : "bad";
  const section = $("#control-flow");
  section.dataset.samples = String(Number(section.dataset.samples ?? "0") + 1);
  section.dataset.result = JSON.stringify({ a: result.a, c: result.c, grad: result.grad, ratio: result.ratio, pick, ok });
}

async function main(): Promise<void> {
  const outputs = renderCells();
  const t0 = performance.now();
  const w = await createWorker({ name: "ndgrad tutorial" });
  document.body.dataset.state = "running";
  setStatus(`engine loaded in a worker (${Math.round(performance.now() - t0)} ms, SIMD: ${await w.nd.simd()}); running…`);

  await runTutorial(w, (i, out) => outputs[i]!.show(out.stdout, out.result));
  await drawPlot(w);

  w.nd.random.seed(1);
  await controlFlow(w);
  const button = $<HTMLButtonElement>("#resample");
  button.disabled = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    controlFlow(w)
      .catch((e: unknown) => setStatus(`error: ${e instanceof Error ? e.message : String(e)}`, true))
      .finally(() => {
        button.disabled = false;
      });
  });

  const m = await w.nd.memory();
  setStatus(`done · SIMD: ${await w.nd.simd()} · worker memory: ${m.arrays} arrays, ${m.tapeNodes} tape nodes`);
  $("#timing").textContent = `${Math.round(performance.now() - t0)} ms`;
  document.body.dataset.state = "done";
}

main().catch((e: unknown) => {
  console.error(e);
  setStatus(`error: ${e instanceof Error ? e.message : String(e)}`, true);
  document.body.dataset.state = "error";
});
