// The training page's worker module, loaded by `createWorker({ module })`:
// it runs in the worker next to ndgrad's worker runtime and uses the
// synchronous API on the same engine instance ("ndgrad" here resolves to the
// module URL the runtime itself imported; vite.config.ts says how, in the
// dev server and in the static build). The page calls its exports; only
// plain data crosses (shared.ts).
//
// The recipe is examples/train-fashion-mnist.ts's, i.e. MXNet's Gluon crash
// course (LeNet, Xavier, SGD at 0.1, batches of 256, ToTensor + Normalize
// (0.13, 0.31)). Training is cut into `trainChunk` calls of ~100 ms so the
// page sees progress live, and pausing or stopping is simply not calling again.
import { autograd, gluon, init, nd, type NDArray } from "ndgrad";
import {
  DATA_FILES,
  type ChunkResult,
  type DataName,
  type Evaluation,
  type GridEntry,
  type Progress,
  type SetupInput,
  type SetupResult,
  type TrainConfig,
} from "./shared.js";

const { nn } = gluon;
const { transforms } = gluon.data.vision;
type Dataset = InstanceType<typeof gluon.data.vision.FashionMNIST>;
type Sequential = InstanceType<typeof nn.Sequential>;
type Loader = InstanceType<typeof gluon.data.DataLoader>;
type Trainer = InstanceType<typeof gluon.Trainer>;

/** The crash course's LeNet. */
function lenet(): Sequential {
  const net = new nn.Sequential();
  net.add(
    new nn.Conv2D(6, 5, { activation: "relu" }),
    new nn.MaxPool2D({ poolSize: 2, strides: 2 }),
    new nn.Conv2D(16, 3, { activation: "relu" }),
    new nn.MaxPool2D({ poolSize: 2, strides: 2 }),
    new nn.Flatten(),
    new nn.Dense(120, { activation: "relu" }),
    new nn.Dense(84, { activation: "relu" }),
    new nn.Dense(10),
  );
  return net;
}

const transformer = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)]);
/** Test batches: larger than training ones (no tape to keep), same results. */
const EVAL_BATCH = 500;

/** An IDX file cut to its first `n` items: the count (bytes 4–7, big-endian) rewritten, the rest dropped. */
function firstItems(bytes: Uint8Array, n: number | null, header: number, itemSize: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < header) throw new Error(`Fashion-MNIST: an IDX file of ${bytes.byteLength} bytes is too short`);
  const count = view.getUint32(4);
  if (n === null || n >= count) return bytes;
  const out = bytes.slice(0, header + n * itemSize);
  new DataView(out.buffer).setUint32(4, n);
  return out;
}

/** Which build runs: `nd.setThreads(2)` is refused only by the single-threaded one. */
function buildInfo(): { build: "threads" | "single"; threads: number } {
  const threads = nd.getThreads();
  if (threads > 1) return { build: "threads", threads };
  try {
    nd.setThreads(2);
    nd.setThreads(1);
    return { build: "threads", threads: 1 };
  } catch {
    return { build: "single", threads: 1 };
  }
}

let trainSet: Dataset | null = null;
let testSet: Dataset | null = null;
let gridIndices: number[] = [];
let probe: NDArray | null = null;

let run: {
  config: TrainConfig;
  net: Sequential;
  trainer: Trainer;
  loss: InstanceType<typeof gluon.loss.SoftmaxCrossEntropyLoss>;
  trainData: Loader;
  epoch: number;
  batches: Iterator<NDArray[]> | null;
  /** The test pass under way (after an epoch's training). */
  evaluation: EvalState | null;
  last: Evaluation | null;
} | null = null;

interface EvalState {
  batches: Iterator<NDArray[]>;
  preds: Int32Array;
  seen: number;
}

/**
 * Fetch the four files here, not on the page: Chromium reads a response's
 * body on the thread that fetched it, in tasks of 100–200 ms for a 26 MB
 * file, which the page's main thread must not run. Progress goes to the
 * page on a BroadcastChannel (at most every 50 ms); gunzipping is the
 * platform's DecompressionStream, while the bytes arrive.
 */
async function download(input: SetupInput): Promise<Record<DataName, Uint8Array>> {
  const channel = new BroadcastChannel(input.progressChannel);
  const received = new Map<DataName, number>();
  const totals = new Map<DataName, number | null>();
  let lastPost = 0;
  const post = (force: boolean): void => {
    const now = performance.now();
    if (!force && now - lastPost < 50) return;
    lastPost = now;
    const names = Object.keys(DATA_FILES) as DataName[];
    const known = names.every((n) => typeof totals.get(n) === "number");
    const progress: Progress = {
      received: names.reduce((s, n) => s + (received.get(n) ?? 0), 0),
      total: known ? names.reduce((s, n) => s + totals.get(n)!, 0) : null,
    };
    channel.postMessage(progress);
  };
  const one = async (name: DataName): Promise<[DataName, Uint8Array]> => {
    const url = input.urls[name];
    const response = await fetch(url);
    if (!response.ok || response.body === null) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
    const length = response.headers.get("content-length");
    // Content-Length counts the bytes on the wire: with Content-Encoding the
    // body arrives decoded, larger than that, so no total then.
    totals.set(name, length !== null && response.headers.get("content-encoding") === null ? Number(length) : null);
    received.set(name, 0);
    const reader = response.body.getReader();
    const count = (chunk: Uint8Array): Uint8Array => {
      received.set(name, received.get(name)! + chunk.byteLength);
      post(false);
      return chunk;
    };
    // Gzip or not (a server may have decoded it already): the first two bytes say.
    const first = await reader.read();
    const gz = first.value !== undefined && first.value[0] === 0x1f && first.value[1] === 0x8b;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first.value !== undefined) controller.enqueue(count(first.value));
        if (first.done) controller.close();
      },
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(count(value));
      },
      cancel: (reason) => reader.cancel(reason),
    });
    // (DOM's typings declare its input BufferSource, which Uint8Array chunks are.)
    const gunzip = new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
    const stream = gz ? body.pipeThrough(gunzip) : body;
    try {
      return [name, new Uint8Array(await new Response(stream).arrayBuffer())];
    } catch (e) {
      throw new Error(`${url}: ${gz ? "not a valid gzip file" : "the download failed"} (${e instanceof Error ? e.message : String(e)})`);
    }
  };
  try {
    const files = Object.fromEntries(await Promise.all((Object.keys(DATA_FILES) as DataName[]).map(one)));
    post(true);
    return files as Record<DataName, Uint8Array>;
  } finally {
    channel.close();
  }
}

/** Download the data, keep the first `trainLimit` / `testLimit` images. */
export async function setup(input: SetupInput): Promise<SetupResult> {
  const { trainImages, trainLabels, testImages, testLabels } = await download(input);
  trainSet = new gluon.data.vision.FashionMNIST({
    train: true,
    images: firstItems(trainImages, input.trainLimit, 16, 28 * 28),
    labels: firstItems(trainLabels, input.trainLimit, 8, 1),
  });
  testSet = new gluon.data.vision.FashionMNIST({
    train: false,
    images: firstItems(testImages, input.testLimit, 16, 28 * 28),
    labels: firstItems(testLabels, input.testLimit, 8, 1),
  });
  const n = Math.min(input.gridSize, testSet.length);
  gridIndices = Array.from({ length: n }, (_, i) => i);
  const pixels = new Uint8Array(n * 28 * 28);
  const labels: number[] = [];
  for (const i of gridIndices) {
    // The dataset's own uint8 HWC image, as the grid draws it.
    const [img, label] = testSet.at(i) as [NDArray, number];
    pixels.set(img.data() as Uint8Array, i * 28 * 28);
    img.dispose();
    labels.push(label);
  }
  // One array held until `configure`: the page counts the arrays alive in
  // the runtime's engine (w.nd.memory()) against this module's count; a
  // second engine instance would disagree.
  probe?.dispose();
  probe = nd.zeros([1]);
  const resources =
    typeof performance.getEntriesByType === "function"
      ? performance
          .getEntriesByType("resource")
          .map((e) => e.name)
          .filter((u) => /\.wasm(\?|$)|\/index\.js(\?|$)/.test(u))
      : [];
  return {
    ...buildInfo(),
    trainCount: trainSet.length,
    testCount: testSet.length,
    grid: { indices: gridIndices, pixels, labels },
    resources,
    liveArrays: nd.memory().arrays,
  };
}

function needData(what: string): [Dataset, Dataset] {
  if (trainSet === null || testSet === null) throw new Error(`${what}: call setup() with the data first`);
  return [trainSet, testSet];
}

function disposeRun(): void {
  if (run === null) return;
  // Finishing the iterators frees the batch they hold.
  run.batches?.return?.();
  run.evaluation?.batches.return?.();
  run.trainer.dispose();
  run.net.dispose();
  run = null;
}

/** A fresh LeNet, trainer and data loader for a new run (seeded: same seed, same run). */
export function configure(config: TrainConfig): { batchesPerEpoch: number } {
  const [train] = needData("configure");
  const { epochs, batchSize, learningRate, optimizer, seed } = config;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`configure: epochs must be a positive integer (got ${epochs})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`configure: batch size must be a positive integer (got ${batchSize})`);
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw new Error(`configure: learning rate must be a positive number (got ${learningRate})`);
  if (optimizer !== "sgd" && optimizer !== "adam") throw new Error(`configure: optimizer must be "sgd" or "adam" (got ${String(optimizer)})`);
  if (!Number.isInteger(seed)) throw new Error(`configure: seed must be an integer (got ${seed})`);
  disposeRun();
  probe?.dispose();
  probe = null;
  nd.random.seed(seed);
  const net = lenet();
  net.initialize(new init.Xavier());
  const trainData = new gluon.data.DataLoader(train.transformFirst(transformer), { batchSize, shuffle: true });
  const trainer = new gluon.Trainer(net.collectParams(), optimizer, { learningRate });
  run = {
    config,
    net,
    trainer,
    loss: new gluon.loss.SoftmaxCrossEntropyLoss(),
    trainData,
    epoch: 0,
    batches: trainData[Symbol.iterator](),
    evaluation: null,
    last: null,
  };
  return { batchesPerEpoch: trainData.length };
}

function startEvaluation(): EvalState {
  const [, test] = needData("evaluate");
  const loader = new gluon.data.DataLoader(test.transformFirst(transformer), { batchSize: EVAL_BATCH });
  return { batches: loader[Symbol.iterator](), preds: new Int32Array(test.length), seen: 0 };
}

/** One test batch through `net`; false when the pass is over. */
function evaluateStep(net: Sequential, ev: EvalState): boolean {
  const r = ev.batches.next();
  if (r.done === true) return false;
  const [data] = r.value;
  const p = nd.scope(() => net(data!).argmax(1).astype("int32").data() as Int32Array);
  ev.preds.set(p, ev.seen);
  ev.seen += p.length;
  return true;
}

function summarize(ev: EvalState): Evaluation {
  const [, test] = needData("evaluate");
  const labels = test.labels;
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let correct = 0;
  for (let i = 0; i < ev.seen; i++) {
    const y = labels[i]!;
    const p = ev.preds[i]!;
    confusion[y]![p]!++;
    if (y === p) correct++;
  }
  const grid: GridEntry[] = gridIndices.map((index) => ({ index, label: labels[index]!, pred: ev.preds[index]! }));
  return { testAcc: ev.seen === 0 ? 0 : correct / ev.seen, grid, confusion };
}

/** The crash course's acc(): the fraction of argmax predictions equal to the labels. */
function acc(output: NDArray, label: NDArray): number {
  return nd.scope(() => output.argmax(1).equal(label.astype("float32")).mean().asscalar());
}

/**
 * Train (and test after each epoch) for about `budgetMs`, then return what
 * was done. At least one step runs per call; a call returns right after an
 * epoch's test pass so that the page shows each epoch's result at once.
 */
export function trainChunk(budgetMs = 100): ChunkResult {
  if (run === null) throw new Error("trainChunk: call configure() first");
  const r = run;
  const t0 = performance.now();
  const out: ChunkResult = {
    loss: [],
    acc: [],
    images: 0,
    evalMs: 0,
    epochEnd: null,
    finished: false,
    batchesPerEpoch: r.trainData.length,
  };
  const { batchSize } = r.config;
  do {
    if (r.epoch >= r.config.epochs) {
      out.finished = true;
      break;
    }
    if (r.evaluation === null && r.batches !== null) {
      const next = r.batches.next();
      if (next.done === true) {
        r.batches = null;
        r.evaluation = startEvaluation();
        continue;
      }
      const [data, label] = next.value;
      nd.scope(() => {
        const [output, loss] = autograd.record(() => {
          const output = r.net(data!);
          return [output, r.loss(output, label!)] as const;
        });
        loss.backward();
        // As the crash course: the gradient rescaled by the nominal batch size.
        r.trainer.step(batchSize);
        out.loss.push(loss.mean().asscalar());
        out.acc.push(acc(output, label!));
      });
      out.images += data!.shape[0]!;
    } else if (r.evaluation !== null) {
      const te = performance.now();
      if (!evaluateStep(r.net, r.evaluation)) {
        const ev = summarize(r.evaluation);
        r.evaluation = null;
        r.last = ev;
        out.epochEnd = { ...ev, epoch: r.epoch };
        r.epoch++;
        if (r.epoch < r.config.epochs) r.batches = r.trainData[Symbol.iterator]();
        else out.finished = true;
        out.evalMs += performance.now() - te;
        break;
      }
      out.evalMs += performance.now() - te;
    }
  } while (performance.now() - t0 < budgetMs);
  return out;
}

/** A whole test pass of the current net now (after Stop: the confusion matrix of the net as it is). */
export function evaluate(): Evaluation {
  if (run === null) throw new Error("evaluate: call configure() first");
  const ev = startEvaluation();
  while (evaluateStep(run.net, ev));
  return summarize(ev);
}

/** The current parameters in MXNet's `save_parameters` format (the bytes of net.params). */
export function saveParams(): Uint8Array {
  if (run === null) throw new Error("saveParams: no network yet (start training first)");
  return run.net.saveParameters();
}

let paramsUrl: string | null = null;

/**
 * `saveParams` as a Blob URL made here, for the page's download link: the
 * page's thread then only sets an `href` (a Blob of the bytes made there
 * cost it 10-20 ms). The URL before is revoked: one file at a time.
 */
export function saveParamsUrl(): string {
  const bytes = saveParams();
  if (paramsUrl !== null) URL.revokeObjectURL(paramsUrl);
  paramsUrl = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
  return paramsUrl;
}

/** A fresh LeNet with the given `.params` bytes: its predictions on the grid and the test set. */
export function loadParams(bytes: Uint8Array): Evaluation {
  needData("loadParams");
  const net = lenet();
  try {
    net.loadParameters(bytes);
    const ev = startEvaluation();
    while (evaluateStep(net, ev));
    return summarize(ev);
  } finally {
    net.dispose();
  }
}

/** Arrays alive in this module's engine (for the page's one-engine check). */
export function liveArrays(): number {
  return nd.memory().arrays;
}
