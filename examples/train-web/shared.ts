// What the page and its worker module (train-worker.ts) exchange: plain,
// structured-clonable data only (functions cannot cross to a worker). Types
// and constants only, so that neither side bundles the other's code.

/** Fashion-MNIST's classes, in label order (zalandoresearch/fashion-mnist). */
export const CLASS_NAMES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

/** The four IDX files, gzipped, as the Fashion-MNIST distribution and Debian name them. */
export const DATA_FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
} as const;

export type DataName = keyof typeof DATA_FILES;

/** `setup`'s input: where the four files are and how many images to keep. */
export interface SetupInput {
  /** Absolute URLs of the four IDX files (gzipped, or decoded by the server). */
  urls: Record<DataName, string>;
  /** A BroadcastChannel name on which the worker reports download progress ({@link Progress}). */
  progressChannel: string;
  /** Use only the first N images (null: all). */
  trainLimit: number | null;
  testLimit: number | null;
  /** How many test images the prediction grid shows (the first ones). */
  gridSize: number;
}

/** Download progress, summed over the four files (total null until every size is known). */
export interface Progress {
  received: number;
  total: number | null;
}

export interface SetupResult {
  build: "threads" | "single";
  threads: number;
  trainCount: number;
  testCount: number;
  /** The grid's test indices, their 28×28 uint8 pixels back to back, their labels. */
  grid: { indices: number[]; pixels: Uint8Array; labels: number[] };
  /** The worker's fetches of ndgrad's modules and .wasm files (Resource
   *  Timing): one engine means one `index.js` and one engine module. */
  resources: string[];
  /** Arrays alive in the module's engine right after setup made a probe array. */
  liveArrays: number;
}

export type OptimizerName = "sgd" | "adam";

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  seed: number;
}

export interface GridEntry {
  index: number;
  label: number;
  pred: number;
}

/** One pass over the (limited) test set. */
export interface Evaluation {
  testAcc: number;
  grid: GridEntry[];
  /** 10×10, rows = true label, columns = prediction. */
  confusion: number[][];
}

/** What one `trainChunk` call did. */
export interface ChunkResult {
  /** Per batch trained in this call: mean loss and accuracy of the batch. */
  loss: number[];
  acc: number[];
  /** Training images processed in this call. */
  images: number;
  /** Milliseconds of this call spent on the test pass (not training). */
  evalMs: number;
  /** Set when an epoch (its training and its test pass) ended in this call. */
  epochEnd: (Evaluation & { epoch: number }) | null;
  /** All epochs done. */
  finished: boolean;
  batchesPerEpoch: number;
}

/** What the page asks its drawing worker (draw-worker.ts) to do; `id` comes back in the {@link DrawReply}. */
export type DrawRequest = { id: number } & (
  | {
      kind: "init";
      /** The page's canvases, their control transferred (`transferControlToOffscreen`). */
      chart: OffscreenCanvas;
      grid: OffscreenCanvas;
      loadedGrid: OffscreenCanvas;
      confusion: OffscreenCanvas;
      dpr: number;
      /** The chart's width in CSS pixels (its height is fixed). */
      chartWidth: number;
    }
  /** The grid's images: 28×28 uint8 pixels back to back, and their labels. */
  | { kind: "tiles"; pixels: Uint8Array; labels: number[] }
  /** A new run: the chart empties. */
  | { kind: "reset"; batchesPerEpoch: number }
  /** New batches (loss, accuracy) and ended epochs (batch count at the end, test accuracy); `draw`: redraw the chart now. */
  | { kind: "points"; loss: number[]; acc: number[]; epochs: { batches: number; testAcc: number }[]; batchesPerEpoch: number; draw: boolean }
  | { kind: "resize"; chartWidth: number }
  /** Predictions on the grid's images (null: none yet), on the page's grid or the loaded file's. */
  | { kind: "grid"; target: "grid" | "loadedGrid"; entries: GridEntry[] | null; columns: number }
  | { kind: "confusion"; matrix: number[][] }
);

export type DrawReply = { kind: "drawn"; id: number } | { kind: "error"; id: number; message: string };
