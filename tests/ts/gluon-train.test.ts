// End to end: the crash course's recipe trained through ndgrad's Gluon on
// the committed Fashion-MNIST subset (tests/fixtures/fashion-mnist: 2,000
// training and 1,000 test images from Debian's dataset-fashion-mnist,
// written by tests/vectors/gen_fashion_subset.py), reaching the test
// accuracy PyTorch 1.13 reaches with the same recipe
// (tests/vectors/gluon-train.json, from tests/vectors/gen_gluon_train.py:
// five seeds), with nd.memory() flat over every batch.
import { readFileSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { autograd, gluon, init, metric, nd, NDArray } from "ndgrad";
import { expectNoLeaks, vectors } from "./helpers.js";

afterEach(expectNoLeaks);
const { nn } = gluon;
const { transforms } = gluon.data.vision;

interface Ref {
  batchSize: number;
  learningRate: number;
  epochs: Record<string, number>;
  mlp: { min: number; max: number; testAccuracy: number[] };
  lenet: { min: number; max: number; testAccuracy: number[] };
}
const ref = vectors<Ref>("gluon-train.json");

const file = (name: string): Uint8Array => readFileSync(new URL(`../fixtures/fashion-mnist/${name}.gz`, import.meta.url)) as Uint8Array;

async function split(train: boolean): Promise<InstanceType<typeof gluon.data.vision.FashionMNIST>> {
  const p = train ? "train" : "t10k";
  return gluon.data.vision.FashionMNIST.load({ images: file(`${p}-images-idx3-ubyte`), labels: file(`${p}-labels-idx1-ubyte`), train });
}

function model(kind: "mlp" | "lenet"): InstanceType<typeof nn.Sequential> {
  const net = new nn.Sequential();
  if (kind === "mlp") net.add(new nn.Flatten(), new nn.Dense(128, { activation: "relu" }), new nn.Dense(10));
  else {
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
  }
  return net;
}

for (const kind of ["mlp", "lenet"] as const) {
  it(`${kind}: the crash course's recipe reaches PyTorch's test accuracy with flat memory`, async () => {
    nd.random.seed(2026);
    const transformer = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)]);
    const train = (await split(true)).transformFirst(transformer);
    const test = (await split(false)).transformFirst(transformer);
    const batchSize = ref.batchSize;
    const trainData = new gluon.data.DataLoader(train, { batchSize, shuffle: true });
    const testData = new gluon.data.DataLoader(test, { batchSize: 256 });
    const net = model(kind);
    net.initialize(new init.Xavier());
    const lossFn = new gluon.loss.SoftmaxCrossEntropyLoss();
    const trainer = new gluon.Trainer(net.collectParams(), "sgd", { learningRate: ref.learningRate });
    const counts: number[] = [];
    let lastLoss = NaN;
    for (let epoch = 0; epoch < ref.epochs[kind]!; epoch++) {
      for (const [data, label] of trainData) {
        nd.scope(() => {
          const loss = autograd.record(() => lossFn(net(data!), label!));
          loss.backward();
          trainer.step(batchSize);
          lastLoss = loss.mean().asscalar();
        });
        counts.push(nd.memory().arrays);
      }
    }
    // After the first batch (deferred init) nothing accumulates.
    expect(new Set(counts.slice(1))).toEqual(new Set([counts[1]]));
    expect(nd.memory().tapeNodes).toBe(0);
    const acc = new metric.Accuracy();
    for (const [data, label] of testData) {
      nd.scope(() => acc.update(label!, net(data!)));
    }
    const [, testAcc] = acc.get();
    console.log(`${kind}: test accuracy ${testAcc.toFixed(3)} (PyTorch, same recipe: ${ref[kind].min.toFixed(3)}–${ref[kind].max.toFixed(3)}); last loss ${lastLoss.toFixed(3)}`);
    expect(lastLoss).toBeLessThan(1.2);
    expect(testAcc).toBeGreaterThanOrEqual(ref[kind].min - 0.03);
    trainer.dispose();
    net.dispose();
  }, 600_000);
}

it("the committed subset reads through FashionMNIST({root}) in Node as from bytes", async () => {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") {
    // Browsers read bytes only: the rest of this test is the same check.
    expect(() => new gluon.data.vision.FashionMNIST({ root: "tests/fixtures/fashion-mnist" })).toThrow(/needs Node/);
    return;
  }
  const { fileURLToPath } = await import("node:url");
  const root = fileURLToPath(new URL("../fixtures/fashion-mnist", import.meta.url));
  const a = new gluon.data.vision.FashionMNIST({ root, train: false });
  const b = await split(false);
  expect(a.length).toBe(1000);
  expect(a.labels).toEqual(b.labels);
  const [img, label] = a.at(3) as [NDArray, number];
  expect(img.shape).toEqual([28, 28, 1]);
  expect(img.dtype).toBe("uint8"); // as MXNet's datasets
  expect(label).toBe(b.labels[3]);
  img.dispose();
});
