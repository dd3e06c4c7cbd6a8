// The training page's worker module (examples/train-web/train-worker.ts),
// here in Node on the engine the tests use: it downloads the committed
// Fashion-MNIST subset (tests/fixtures/fashion-mnist) over HTTP, gunzips it
// with DecompressionStream, trains in chunks as the page drives it, and
// saves / reloads MXNet's net.params. References are independent of the
// module: Node's zlib for the pixels, the labels for the confusion matrix.
// The page itself (Chromium, the contract's trainState and element ids) is
// tested by tests/browser. Also: the page's code typechecks, strict.
import { spawnSync } from "node:child_process";
import { resolveObjectURL } from "node:buffer";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as mod from "../../examples/train-web/train-worker.js";
import { DATA_FILES, type ChunkResult, type DataName, type Progress } from "../../examples/train-web/shared.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = join(root, "tests", "fixtures", "fashion-mnist");
const names = Object.keys(DATA_FILES) as DataName[];

let server: Server;
let base: string;
/** Requests seen, to check the module fetched each file once. */
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.push(path);
    const [, dir, file] = /^\/(gz|raw)\/([^/]+)$/.exec(path) ?? [];
    if (file === undefined || !Object.values<string>(DATA_FILES).includes(file)) {
      res.writeHead(404);
      return res.end();
    }
    const gz = readFileSync(join(fixtures, file));
    // /raw/: as a server that decoded the file (or stores it plain) sends it.
    const body = dir === "raw" ? gunzipSync(gz) : gz;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const a = server.address();
  if (a === null || typeof a === "string") throw new Error("no port");
  base = `http://127.0.0.1:${a.port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function urls(dir: string): Record<DataName, string> {
  return Object.fromEntries(names.map((n) => [n, `${base}/${dir}/${DATA_FILES[n]}`])) as Record<DataName, string>;
}

/** The first `n` images (28×28 bytes each) and labels of a fixture split, through zlib. */
function reference(split: "test" | "train", n: number): { pixels: Uint8Array; labels: number[] } {
  const [img, lbl] = split === "test" ? [DATA_FILES.testImages, DATA_FILES.testLabels] : [DATA_FILES.trainImages, DATA_FILES.trainLabels];
  const images = gunzipSync(readFileSync(join(fixtures, img)));
  const labels = gunzipSync(readFileSync(join(fixtures, lbl)));
  return { pixels: new Uint8Array(images.subarray(16, 16 + n * 784)), labels: [...labels.subarray(8, 8 + n)] };
}

function trainAll(budgetMs = 20): ChunkResult[] {
  const out: ChunkResult[] = [];
  for (let i = 0; i < 10_000; i++) {
    const c = mod.trainChunk(budgetMs);
    out.push(c);
    if (c.finished) return out;
  }
  throw new Error("trainChunk never finished");
}

describe("examples/train-web: the worker module", () => {
  it("downloads, gunzips and cuts the data; progress adds up to the files' sizes", async () => {
    const channel = `train-web-test-${Math.random()}`;
    const listener = new BroadcastChannel(channel);
    const seen: Progress[] = [];
    listener.onmessage = (ev: MessageEvent<Progress>) => seen.push(ev.data);
    const info = await mod.setup({ urls: urls("gz"), progressChannel: channel, trainLimit: 1200, testLimit: 500, gridSize: 16 });
    await new Promise((r) => setTimeout(r, 50));
    listener.close();
    expect(info.trainCount).toBe(1200);
    expect(info.testCount).toBe(500);
    const ref = reference("test", 16);
    expect(info.grid.indices).toEqual([...Array(16).keys()]);
    expect(info.grid.labels).toEqual(ref.labels);
    expect(Buffer.from(info.grid.pixels).equals(Buffer.from(ref.pixels))).toBe(true);
    const sizes = names.reduce((s, n) => s + readFileSync(join(fixtures, DATA_FILES[n])).length, 0);
    expect(seen.at(-1)).toEqual({ received: sizes, total: sizes });
    for (const n of names) expect(requests.filter((r) => r === `/gz/${DATA_FILES[n]}`)).toHaveLength(1);
    expect(["threads", "single"]).toContain(info.build);
    expect(info.liveArrays).toBeGreaterThanOrEqual(1);
  });

  it("reads files a server sent decoded (not gzip) the same way", async () => {
    const info = await mod.setup({ urls: urls("raw"), progressChannel: "train-web-unused", trainLimit: null, testLimit: null, gridSize: 12 });
    expect(info.trainCount).toBe(2000);
    expect(info.testCount).toBe(1000);
    const ref = reference("test", 12);
    expect(info.grid.labels).toEqual(ref.labels);
    expect(Buffer.from(info.grid.pixels).equals(Buffer.from(ref.pixels))).toBe(true);
  });

  it("a missing file is an Error naming it; the data loaded before stay", async () => {
    const bad = { ...urls("gz"), testLabels: `${base}/gz/nothing.gz` };
    await expect(mod.setup({ urls: bad, progressChannel: "x", trainLimit: 10, testLimit: 10, gridSize: 4 })).rejects.toThrow(
      /nothing\.gz: HTTP 404/,
    );
  });

  it("trains in chunks: the loss goes down, epochs end with a test pass, the confusion matrix matches", async () => {
    await mod.setup({ urls: urls("gz"), progressChannel: "x", trainLimit: 2000, testLimit: 1000, gridSize: 16 });
    const { batchesPerEpoch } = mod.configure({ epochs: 3, batchSize: 100, learningRate: 0.1, optimizer: "sgd", seed: 42 });
    expect(batchesPerEpoch).toBe(20);
    const chunks = trainAll();
    const loss = chunks.flatMap((c) => c.loss);
    const acc = chunks.flatMap((c) => c.acc);
    expect(loss).toHaveLength(60);
    expect(acc).toHaveLength(60);
    expect(chunks.reduce((s, c) => s + c.images, 0)).toBe(6000);
    const ends = chunks.flatMap((c) => (c.epochEnd === null ? [] : [c.epochEnd]));
    expect(ends.map((e) => e.epoch)).toEqual([0, 1, 2]);
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    // ln 10 = 2.30 at the start (10 classes, Xavier); well below after three epochs.
    expect(mean(loss.slice(0, 3))).toBeGreaterThan(2);
    expect(mean(loss.slice(-5))).toBeLessThan(1.2);
    expect(mean(acc.slice(-5))).toBeGreaterThan(0.5);
    const last = ends.at(-1)!;
    // 2,000 images, three epochs: far above chance (0.1), as the Node test of the recipe finds.
    expect(last.testAcc).toBeGreaterThan(0.55);
    const { labels } = reference("test", 1000);
    expect(last.confusion.map((row) => row.reduce((s, v) => s + v, 0))).toEqual(
      Array.from({ length: 10 }, (_, k) => labels.filter((y) => y === k).length),
    );
    const diagonal = last.confusion.reduce((s, row, i) => s + row[i]!, 0);
    expect(diagonal / 1000).toBeCloseTo(last.testAcc, 12);
    expect(last.grid.map((g) => g.label)).toEqual(labels.slice(0, 16));
    expect(last.grid.every((g) => g.pred >= 0 && g.pred < 10)).toBe(true);

    // The same seed, the same run (the page's `seed`).
    mod.configure({ epochs: 1, batchSize: 100, learningRate: 0.1, optimizer: "sgd", seed: 42 });
    const again = trainAll(5).flatMap((c) => c.loss);
    expect(again).toEqual(loss.slice(0, 20));
  });

  it("net.params: saved in MXNet's format, a fresh LeNet loading it predicts the same", () => {
    mod.configure({ epochs: 1, batchSize: 128, learningRate: 0.05, optimizer: "adam", seed: 7 });
    const chunks = trainAll();
    const end = chunks.at(-1)!.epochEnd!;
    const bytes = mod.saveParams();
    // MXNet's NDArray-list magic (0x112) as the first little-endian u64.
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(0x112);
    const loaded = mod.loadParams(bytes);
    expect(loaded.grid).toEqual(end.grid);
    expect(loaded.testAcc).toBe(end.testAcc);
    expect(mod.evaluate().testAcc).toBe(end.testAcc);
  });

  it("saveParamsUrl: a Blob URL of the same bytes; the one before is revoked", async () => {
    const first = mod.saveParamsUrl();
    expect(first).toMatch(/^blob:/);
    const blob = resolveObjectURL(first);
    expect(blob).toBeDefined();
    expect(Buffer.from(await blob!.arrayBuffer()).equals(Buffer.from(mod.saveParams()))).toBe(true);
    const second = mod.saveParamsUrl();
    expect(second).not.toBe(first);
    expect(resolveObjectURL(first)).toBeUndefined();
    expect(resolveObjectURL(second)).toBeDefined();
  });

  it("bad settings and bad files are Errors naming what is wrong; the run before stays usable", () => {
    const before = mod.saveParams();
    expect(() => mod.configure({ epochs: 0, batchSize: 10, learningRate: 0.1, optimizer: "sgd", seed: 1 })).toThrow(/configure: epochs/);
    expect(() => mod.configure({ epochs: 1, batchSize: 10, learningRate: -1, optimizer: "sgd", seed: 1 })).toThrow(/learning rate/);
    expect(() => mod.configure({ epochs: 1, batchSize: 10, learningRate: 0.1, optimizer: "rmsprop" as "sgd", seed: 1 })).toThrow(/optimizer/);
    expect(() => mod.loadParams(new Uint8Array([1, 2, 3]))).toThrow(/load/i);
    expect(Buffer.from(mod.saveParams()).equals(Buffer.from(before))).toBe(true);
  });
});

describe("examples/train-web: the page's TypeScript", () => {
  it("typechecks (strict)", () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", join(root, "examples", "train-web", "tsconfig.json")], { encoding: "utf8", timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 150_000);
});
