// MXNet's Gluon crash course, steps "Train the neural network" and
// "Predict", through ndgrad: LeNet on Fashion-MNIST with Xavier
// initialisation, SGD at 0.1, batches of 256, 10 epochs, MXNet's epoch line,
// `net.saveParameters("net.params")`; then a fresh LeNet loads net.params
// and names its predictions for the first ten test images.
//
//   npm run train                        # 10 epochs
//   npm run train -- --epochs 1 --data DIR
//
// The data are Debian's `dataset-fashion-mnist` package
// (/usr/share/datasets/fashion-mnist), installed with apt-get when this runs
// as root on Debian and the files are missing.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { autograd, gluon, init, nd, NDArray } from "ndgrad";

const { nn } = gluon;
const { datasets, transforms } = { datasets: gluon.data.vision, transforms: gluon.data.vision.transforms };
const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";
const FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

function args(): { epochs: number; data: string | null } {
  const a = process.argv.slice(2);
  let epochs = 10;
  let data: string | null = null;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "--epochs" && a[i + 1] !== undefined) epochs = Number(a[++i]);
    else if (a[i] === "--data" && a[i + 1] !== undefined) data = a[++i]!;
    else if (a[i] === "--help" || a[i] === "-h") {
      console.log("usage: npm run train -- [--epochs N] [--data DIR]   (DIR holds the four Fashion-MNIST .gz files)");
      process.exit(0);
    } else {
      console.error(`unknown argument ${a[i]} (usage: npm run train -- [--epochs N] [--data DIR])`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(epochs) || epochs < 1) {
    console.error(`--epochs must be a positive integer (got ${epochs})`);
    process.exit(2);
  }
  return { epochs, data };
}

/** The directory with the four files: --data, or Debian's package (installed when we may). */
function dataDir(given: string | null): string {
  const has = (dir: string): boolean => FILES.every((f) => existsSync(join(dir, f)) || existsSync(join(dir, f.slice(0, -3))));
  if (given !== null) {
    if (has(given)) return given;
    console.error(`${given} does not hold the Fashion-MNIST files (${FILES.join(", ")}, gzipped or not)`);
    process.exit(1);
  }
  if (has(DEBIAN_DIR)) return DEBIAN_DIR;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const debian = existsSync("/etc/debian_version");
  if (root && debian) {
    console.log(`Fashion-MNIST is not in ${DEBIAN_DIR}: installing Debian's dataset-fashion-mnist with apt-get`);
    execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", "dataset-fashion-mnist"], { stdio: "inherit" });
    if (has(DEBIAN_DIR)) return DEBIAN_DIR;
  }
  console.error(
    `Fashion-MNIST was not found in ${DEBIAN_DIR}.\n` +
      (debian ? "Install it with: sudo apt-get install dataset-fashion-mnist\n" : "") +
      `or pass --data DIR, a directory holding ${FILES.join(", ")} (from https://github.com/zalandoresearch/fashion-mnist).`,
  );
  process.exit(1);
}

/** A progress bar on a terminal; plain lines (every ~10 %) otherwise. */
class Progress {
  readonly tty = process.stdout.isTTY === true;
  #lastPlain = -1;
  readonly #start = performance.now();
  constructor(
    readonly epoch: number,
    readonly total: number,
  ) {}
  update(done: number, images: number, loss: number, acc: number): void {
    const secs = (performance.now() - this.#start) / 1000;
    const rate = images / Math.max(secs, 1e-9);
    const eta = done > 0 ? (secs / done) * (this.total - done) : 0;
    const stats = `loss ${loss.toFixed(3)} acc ${acc.toFixed(3)} ${rate.toFixed(0)} img/s ETA ${eta.toFixed(0)}s`;
    if (this.tty) {
      const width = 30;
      const fill = Math.round((width * done) / this.total);
      process.stdout.write(`\rEpoch ${this.epoch} [${"=".repeat(fill)}${" ".repeat(width - fill)}] ${done}/${this.total} ${stats}\x1b[K`);
    } else {
      const tenth = Math.floor((10 * done) / this.total);
      if (tenth !== this.#lastPlain && done < this.total) {
        this.#lastPlain = tenth;
        console.log(`  epoch ${this.epoch}: ${done}/${this.total} batches, ${stats}`);
      }
    }
  }
  end(): void {
    if (this.tty) process.stdout.write("\r\x1b[K");
  }
}

/** The crash course's LeNet. */
function lenet(): InstanceType<typeof nn.Sequential> {
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

/** The crash course's acc(): the fraction of argmax predictions equal to the labels. */
function acc(output: NDArray, label: NDArray): number {
  return nd.scope(() => output.argmax(1).equal(label.astype("float32")).mean().asscalar());
}

const { epochs, data } = args();
const root = dataDir(data);

// ---- "Train the neural network" ----
const mnistTrain = new datasets.FashionMNIST({ root, train: true });
const transformer = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)]);
const batchSize = 256;
const trainData = new gluon.data.DataLoader(mnistTrain.transformFirst(transformer), { batchSize, shuffle: true });
const mnistValid = new datasets.FashionMNIST({ root, train: false });
const validData = new gluon.data.DataLoader(mnistValid.transformFirst(transformer), { batchSize });

const net = lenet();
net.initialize(new init.Xavier());
const softmaxCrossEntropy = new gluon.loss.SoftmaxCrossEntropyLoss();
const trainer = new gluon.Trainer(net.collectParams(), "sgd", { learningRate: 0.1 });

for (let epoch = 0; epoch < epochs; epoch++) {
  let trainLoss = 0;
  let trainAcc = 0;
  let validAcc = 0;
  const tic = performance.now();
  const bar = new Progress(epoch, trainData.length);
  let done = 0;
  let images = 0;
  for (const [data, label] of trainData) {
    nd.scope(() => {
      const [output, loss] = autograd.record(() => {
        const output = net(data!);
        return [output, softmaxCrossEntropy(output, label!)] as const;
      });
      loss.backward();
      trainer.step(batchSize);
      trainLoss += loss.mean().asscalar();
      trainAcc += acc(output, label!);
    });
    done += 1;
    images += data!.shape[0]!;
    bar.update(done, images, trainLoss / done, trainAcc / done);
  }
  bar.end();
  for (const [data, label] of validData) {
    nd.scope(() => {
      validAcc += acc(net(data!), label!);
    });
  }
  console.log(
    `Epoch ${epoch}: loss ${(trainLoss / trainData.length).toFixed(3)}, train acc ${(trainAcc / trainData.length).toFixed(3)}, ` +
      `test acc ${(validAcc / validData.length).toFixed(3)}, in ${((performance.now() - tic) / 1000).toFixed(1)} sec`,
  );
}
net.saveParameters("net.params");
trainer.dispose();
net.dispose();

// ---- "Predict" ----
const predictNet = lenet();
predictNet.loadParameters("net.params");
const textLabels = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];
for (let i = 0; i < 10; i++) {
  nd.scope(() => {
    const [x, y] = mnistValid.at(i) as [NDArray, number];
    const input = transformer(x).expandDims(0);
    const pred = predictNet(input).argmax(1).astype("int32").asscalar();
    console.log(`truth: ${textLabels[y]!.padEnd(10)} predicted: ${textLabels[pred]}`);
  });
}
predictNet.dispose();
