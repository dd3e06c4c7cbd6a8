// Gluon's vision datasets and transforms (python/mxnet/gluon/data/vision/
// datasets.py and transforms.py, 1.9.1): MNIST and Fashion-MNIST from
// their IDX files, gzipped or not (Node's zlib, or DecompressionStream in
// browsers); `ToTensor` (HWC uint8 → CHW float32 in [0, 1]), `Normalize`,
// `Compose`.
import { describe } from "../../args.js";
import { array } from "../../nd.js";
import { NDArray } from "../../ndarray.js";
import { scope } from "../../memory.js";
import { Dataset, type BatchTransform, type FieldDtypes, type Sample } from "./dataset.js";

type Bytes = ArrayBuffer | Uint8Array;

interface NodeModules {
  readFileSync(path: string): Uint8Array;
  existsSync(path: string): boolean;
  gunzipSync(b: Uint8Array): Uint8Array;
  join(...parts: string[]): string;
}
// Node's fs, zlib and path, when there is a Node (names hidden from bundlers).
const node: NodeModules | null = await (async () => {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") return null;
  try {
    const [fs, zlib, path] = await Promise.all(
      ["node:fs", "node:zlib", "node:path"].map((n) => import(/* @vite-ignore */ n)),
    );
    return {
      readFileSync: (p: string) => new Uint8Array((fs as typeof import("node:fs")).readFileSync(p)),
      existsSync: (p: string) => (fs as typeof import("node:fs")).existsSync(p),
      gunzipSync: (b: Uint8Array) => new Uint8Array((zlib as typeof import("node:zlib")).gunzipSync(b)),
      join: (...parts: string[]) => (path as typeof import("node:path")).join(...parts),
    };
  } catch {
    return null;
  }
})();

function u8(b: Bytes): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Gunzip synchronously (Node), or say how to do it elsewhere. */
function gunzipSync(what: string, b: Uint8Array): Uint8Array {
  if (!isGzip(b)) return b;
  if (node === null) {
    throw new Error(`${what}: the bytes are gzipped; outside Node use the async loader (await FashionMNIST.load / MNIST.load), which uses DecompressionStream`);
  }
  try {
    return node.gunzipSync(b);
  } catch (e) {
    throw new Error(`${what}: the gzip data is corrupt (${(e as Error).message})`);
  }
}

/** Gunzip anywhere (DecompressionStream where there is no Node). */
async function gunzip(what: string, b: Uint8Array): Promise<Uint8Array> {
  if (!isGzip(b)) return b;
  if (node !== null) return gunzipSync(what, b);
  if (typeof DecompressionStream === "undefined") throw new Error(`${what}: gzipped data needs DecompressionStream, which this runtime lacks`);
  try {
    const stream = new Blob([b as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${what}: the gzip data is corrupt (${(e as Error).message})`);
  }
}

/** An IDX file (http://yann.lecun.com/exdb/mnist/): unsigned bytes only, as MNIST's. */
export interface Idx {
  shape: number[];
  data: Uint8Array;
}

/** Parse IDX bytes (already gunzipped): magic 0 0 8 ndim, big-endian dims, bytes. */
export function parseIdx(what: string, b: Uint8Array, expectNdim: number): Idx {
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0) throw new Error(`${what}: not an IDX file (bad magic number)`);
  if (b[2] !== 0x08) throw new Error(`${what}: IDX element type 0x${b[2]!.toString(16)} is not unsigned bytes (0x08)`);
  const ndim = b[3]!;
  if (ndim !== expectNdim) throw new Error(`${what}: expected an IDX file of ${expectNdim} dimensions, got ${ndim}`);
  if (b.length < 4 + 4 * ndim) throw new Error(`${what}: truncated IDX header`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const n = shape.reduce((x, y) => x * y, 1);
  const start = 4 + 4 * ndim;
  if (b.length - start !== n) {
    throw new Error(`${what}: IDX shape [${shape.join(",")}] needs ${n} bytes of data, the file has ${b.length - start}`);
  }
  return { shape, data: b.subarray(start) };
}

/** The one place images become arrays: uint8 HWC images, as MXNet's datasets give. */
export const IMAGE_DTYPE = "uint8" as const;
function imageArray(bytes: Uint8Array, shape: number[]): NDArray {
  return array(bytes, { shape, dtype: IMAGE_DTYPE });
}

export interface MNISTOptions {
  /** Directory with the four IDX files (Node). */
  root?: string;
  train?: boolean;
  /** MXNet's `transform(data, label)`. */
  transform?: ((data: NDArray, label: number) => Sample) | null;
  /** The files' bytes instead of `root` (gzipped or not): images and labels of the chosen split. */
  images?: Bytes;
  labels?: Bytes;
}

const FILES = {
  train: ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
  test: ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
} as const;

/** MXNet's `gluon.data.vision.MNIST`: samples `[image uint8 (28, 28, 1), label int32]`. */
export class MNIST extends Dataset {
  static readonly defaultRoot: string = "/usr/share/datasets/mnist";
  static readonly datasetName: string = "MNIST";
  readonly train: boolean;
  readonly #images: Uint8Array;
  readonly #labels: Int32Array;
  readonly #hw: [number, number];
  readonly #transform: ((data: NDArray, label: number) => Sample) | null;

  constructor(options: MNISTOptions = {}) {
    super();
    const cls = this.constructor as typeof MNIST;
    const what = cls.datasetName;
    this.train = options.train ?? true;
    this.#transform = options.transform ?? null;
    let imgBytes: Uint8Array;
    let lblBytes: Uint8Array;
    if (options.images !== undefined || options.labels !== undefined) {
      if (options.images === undefined || options.labels === undefined) throw new Error(`${what}: give both images and labels bytes`);
      imgBytes = gunzipSync(`${what} images`, u8(options.images));
      lblBytes = gunzipSync(`${what} labels`, u8(options.labels));
    } else {
      const [img, lbl] = readSplit(what, options.root ?? cls.defaultRoot, this.train);
      imgBytes = gunzipSync(`${what} images`, img);
      lblBytes = gunzipSync(`${what} labels`, lbl);
    }
    const img = parseIdx(`${what} images`, imgBytes, 3);
    const lbl = parseIdx(`${what} labels`, lblBytes, 1);
    if (img.shape[0] !== lbl.shape[0]) {
      throw new Error(`${what}: ${img.shape[0]} images but ${lbl.shape[0]} labels`);
    }
    this.#images = img.data;
    this.#labels = Int32Array.from(lbl.data);
    this.#hw = [img.shape[1]!, img.shape[2]!];
  }

  /** Load anywhere, gzipped bytes included (DecompressionStream in browsers). */
  static async load<T extends typeof MNIST>(this: T, options: MNISTOptions = {}): Promise<InstanceType<T>> {
    if (options.images !== undefined && options.labels !== undefined) {
      const images = await gunzip(`${this.datasetName} images`, u8(options.images));
      const labels = await gunzip(`${this.datasetName} labels`, u8(options.labels));
      return new this({ ...options, images, labels }) as InstanceType<T>;
    }
    return new this(options) as InstanceType<T>;
  }

  get length(): number {
    return this.#labels.length;
  }

  /** The labels, as loaded. */
  get labels(): Int32Array {
    return this.#labels.slice();
  }

  at(i: number): Sample {
    const j = this.index(i);
    const [h, w] = this.#hw;
    const img = imageArray(this.#images.subarray(j * h * w, (j + 1) * h * w), [h, w, 1]);
    const label = this.#labels[j]!;
    if (this.#transform !== null) {
      const out = this.#transform(img, label);
      return out;
    }
    return [img, label];
  }

  /** Labels are int32 (MXNet's `astype(np.int32)` in `_get_data`). */
  override fieldDtypes(): FieldDtypes {
    return [null, "int32"];
  }

  override batch(indices: readonly number[]): NDArray[] | null {
    if (this.#transform !== null) return null;
    const [h, w] = this.#hw;
    const px = h * w;
    const imgs = new Uint8Array(indices.length * px);
    const labels = new Int32Array(indices.length);
    indices.forEach((i, k) => {
      const j = this.index(i);
      imgs.set(this.#images.subarray(j * px, (j + 1) * px), k * px);
      labels[k] = this.#labels[j]!;
    });
    const x = imageArray(imgs, [indices.length, h, w, 1]);
    try {
      return [x, array(labels, { dtype: "int32" })];
    } catch (e) {
      x.dispose();
      throw e;
    }
  }
}

/** MXNet's `gluon.data.vision.FashionMNIST` (default root: Debian's `dataset-fashion-mnist`). */
export class FashionMNIST extends MNIST {
  static override readonly defaultRoot: string = "/usr/share/datasets/fashion-mnist";
  static override readonly datasetName: string = "FashionMNIST";
}

function readSplit(what: string, root: string, train: boolean): [Uint8Array, Uint8Array] {
  if (node === null) {
    throw new Error(`${what}: reading from a directory needs Node; in browsers pass {images, labels} bytes to ${what}.load`);
  }
  const names = train ? FILES.train : FILES.test;
  return names.map((name) => {
    for (const file of [`${name}.gz`, name]) {
      const p = node.join(root, file);
      if (node.existsSync(p)) return node.readFileSync(p);
    }
    throw new Error(
      `${what}: ${name}(.gz) not found in ${root} (the ${train ? "training" : "test"} split needs ${names.map((n) => n + ".gz").join(" and ")}; ` +
        (root === "/usr/share/datasets/fashion-mnist" ? "on Debian: apt-get install dataset-fashion-mnist, or pass root" : "pass the directory that has them as root") +
        ")",
    );
  }) as [Uint8Array, Uint8Array];
}

// ---- transforms ----

function callable(fn: (x: NDArray) => NDArray, batch: (x: NDArray) => NDArray): BatchTransform {
  const f = fn as BatchTransform;
  f.batch = batch;
  return f;
}

/**
 * MXNet's `ToTensor`: an (H, W, C) image or an (N, H, W, C) batch of 0–255
 * values → (C, H, W) / (N, C, H, W) float32 in [0, 1]. The rank says which,
 * as in MXNet's `ToTensorShape` (src/operator/image/image_random-inl.h,
 * 1.9.1: "(height, width, channels), or (N, height, width, channels)").
 * An (H, W) image (one channel, no channel axis) is accepted as well.
 */
export function ToTensor(): BatchTransform {
  const convert = (x: NDArray, perm: number[] | null): NDArray =>
    scope(() => {
      const f = x.astype("float32").div(255);
      return perm === null ? f.expandDims(f.ndim === 2 ? 0 : 1) : f.transpose(perm);
    });
  // A direct call: the rank tells an image from a batch.
  const direct = (x: NDArray): NDArray => {
    if (x.ndim === 3) return convert(x, [2, 0, 1]);
    if (x.ndim === 4) return convert(x, [0, 3, 1, 2]);
    if (x.ndim === 2) return convert(x, null);
    throw new Error(`ToTensor: expected an image of shape (H, W, C) or a batch of shape (N, H, W, C) (got [${x.shape.join(",")}])`);
  };
  // The DataLoader's path: `x` stacks per-sample images, so its rank is
  // one more than theirs ((N, H, W) stacks (H, W) images).
  const batch = (x: NDArray): NDArray => {
    if (x.ndim === 4) return convert(x, [0, 3, 1, 2]);
    if (x.ndim === 3) return convert(x, null);
    throw new Error(`ToTensor: expected images of shape (H, W, C) per sample (got a batch of shape [${x.shape.join(",")}])`);
  };
  return callable(direct, batch);
}

/**
 * MXNet's `Normalize(mean, std)` per channel of a (C, H, W) tensor or an
 * (N, C, H, W) batch: the channel axis is 0 for rank 3 and 1 for rank 4,
 * as in MXNet's `NormalizeOpShape` (src/operator/image/image_random-inl.h,
 * 1.9.1); other ranks are refused there and here. MXNet also insists on 1
 * or 3 channels; any channel count matching `mean`/`std` is accepted here.
 */
export function Normalize(mean: number | number[] = 0, std: number | number[] = 1): BatchTransform {
  const ms = Array.isArray(mean) ? mean : [mean];
  const ss = Array.isArray(std) ? std : [std];
  for (const v of [...ms, ...ss]) if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`Normalize: mean and std must be numbers (got ${describe(v)})`);
  if (ss.some((s) => s === 0)) throw new Error("Normalize: std must not be 0");
  const apply = (x: NDArray, chAxis: number): NDArray => {
    const c = x.shape[chAxis]!;
    if ((ms.length !== 1 && ms.length !== c) || (ss.length !== 1 && ss.length !== c)) {
      throw new Error(`Normalize: ${ms.length} means and ${ss.length} stds for ${c} channels (input shape [${x.shape.join(",")}])`);
    }
    if (ms.length === 1 && ss.length === 1) return scope(() => x.sub(ms[0]!).div(ss[0]!));
    return scope(() => {
      const shape = x.shape.map((d, i) => (i === chAxis ? c : 1));
      const m = array(ms.length === 1 ? new Array(c).fill(ms[0]) : ms, { shape, dtype: x.dtype === "float64" ? "float64" : "float32" });
      const s = array(ss.length === 1 ? new Array(c).fill(ss[0]) : ss, { shape, dtype: x.dtype === "float64" ? "float64" : "float32" });
      return x.sub(m).div(s);
    });
  };
  const direct = (x: NDArray): NDArray => {
    if (x.ndim === 3) return apply(x, 0);
    if (x.ndim === 4) return apply(x, 1);
    throw new Error(`Normalize: expected a tensor of shape (C, H, W) or a batch of shape (N, C, H, W) (got [${x.shape.join(",")}])`);
  };
  // The DataLoader's path: a stack of (C, H, W) samples.
  const batch = (x: NDArray): NDArray => {
    if (x.ndim === 4) return apply(x, 1);
    throw new Error(`Normalize: expected tensors of shape (C, H, W) per sample (got a batch of shape [${x.shape.join(",")}])`);
  };
  return callable(direct, batch);
}

/** MXNet's `Compose([...])`: transforms in order (batched when all of them can be). */
export function Compose(transforms: ((x: NDArray) => NDArray)[]): (x: NDArray) => NDArray {
  if (!Array.isArray(transforms) || !transforms.every((t) => typeof t === "function")) {
    throw new Error(`Compose: expected a list of transforms (got ${describe(transforms)})`);
  }
  const chain = (x: NDArray, pick: (t: (x: NDArray) => NDArray) => (x: NDArray) => NDArray): NDArray => {
    let cur = x;
    for (const t of transforms) {
      const next = pick(t)(cur);
      if (cur !== x && cur !== next) cur.dispose();
      cur = next;
    }
    return cur === x ? x.copy() : cur;
  };
  const f = (x: NDArray): NDArray => chain(x, (t) => t);
  if (transforms.every((t) => typeof (t as Partial<BatchTransform>).batch === "function")) {
    return callable(f, (x) => chain(x, (t) => (t as BatchTransform).batch));
  }
  return f;
}

export const transforms = { Compose, ToTensor, Normalize };

/** MXNet's `gluon.data.vision`. */
export const vision = { MNIST, FashionMNIST, transforms };
