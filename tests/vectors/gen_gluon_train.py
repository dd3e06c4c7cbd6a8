#!/usr/bin/python3
"""Write tests/vectors/gluon-train.json: what PyTorch 1.13 reaches with the
recipe that tests/ts/gluon-train.test.ts runs through ndgrad's Gluon, on the
committed Fashion-MNIST subset (tests/fixtures/fashion-mnist, written by
tests/vectors/gen_fashion_subset.py):

* data: the 2,000 training and 1,000 test images, ToTensor (x/255, CHW) then
  Normalize(0.13, 0.31) as MXNet's crash course; shuffled batches of 64,
  the last one kept;
* model "mlp": Flatten, Dense(128, relu), Dense(10); model "lenet": the
  crash course's LeNet (Conv 6@5x5 relu, maxpool 2, Conv 16@3x3 relu,
  maxpool 2, Dense 120 relu, Dense 84 relu, Dense 10);
* Xavier-uniform weights (MXNet's Xavier(): magnitude 3, factor avg, which
  is torch's xavier_uniform_), zero biases, softmax cross-entropy, plain SGD
  with learning rate 0.1 (the loss summed over the batch, then divided by the
  batch size: MXNet's rescale_grad = 1/batch_size);
* EPOCHS epochs, then the test accuracy. Several seeds give the spread that
  ndgrad's run is compared with.

    /usr/bin/python3 tests/vectors/gen_gluon_train.py
"""
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "fashion-mnist"
OUT = Path(__file__).with_name("gluon-train.json")
EPOCHS = {"mlp": 2, "lenet": 4}
BATCH, LR, SEEDS = 64, 0.1, [0, 1, 2, 3, 4]


def idx(name):
    b = gzip.decompress((ROOT / f"{name}.gz").read_bytes())
    ndim = b[3]
    dims = struct.unpack(f">{ndim}I", b[4:4 + 4 * ndim])
    return np.frombuffer(b[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def data(split):
    x = idx(f"{split}-images-idx3-ubyte").astype(np.float32)[:, None, :, :] / 255.0
    y = idx(f"{split}-labels-idx1-ubyte").astype(np.int64)
    return torch.tensor((x - 0.13) / 0.31), torch.tensor(y)


def model(kind):
    nn = torch.nn
    if kind == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def run(kind, seed):
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    xtr, ytr = data("train")
    xte, yte = data("t10k")
    net = model(kind)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in range(EPOCHS[kind]):
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), BATCH):
            b = perm[i:i + BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xtr[b]), ytr[b], reduction="sum") / BATCH
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net(xte).argmax(1) == yte).float().mean())


def main():
    doc = {"batchSize": BATCH, "learningRate": LR, "epochs": EPOCHS, "torch": torch.__version__}
    for kind in ("mlp", "lenet"):
        accs = [run(kind, s) for s in SEEDS]
        doc[kind] = {"testAccuracy": accs, "min": min(accs), "max": max(accs)}
        print(kind, ["%.3f" % a for a in accs])
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
