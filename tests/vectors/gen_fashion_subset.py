#!/usr/bin/python3
"""Write tests/fixtures/fashion-mnist/: a small committed subset of
Fashion-MNIST for the end-to-end training test (tests/ts/gluon-train.test.ts),
taken from Debian's `dataset-fashion-mnist` package
(/usr/share/datasets/fashion-mnist), in the same gzipped IDX format and
file names, so `gluon.data.vision.FashionMNIST({root})` reads it unchanged:

* train: the first TRAIN images of the training split (each file < 1 MiB);
* t10k:  the first TEST images of the test split.

    /usr/bin/python3 tests/vectors/gen_fashion_subset.py [SOURCE_DIR]

Deterministic: gzip is written with mtime 0 and no file name.
"""
import gzip
import io
import struct
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
OUT = Path(__file__).resolve().parents[1] / "fixtures" / "fashion-mnist"
TRAIN, TEST = 2000, 1000


def read(name):
    data = gzip.decompress((SRC / f"{name}.gz").read_bytes())
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def write(name, dims, body):
    header = struct.pack(">I", 0x0800 | len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(header + body)
    (OUT / f"{name}.gz").write_bytes(buf.getvalue())
    print(f"{name}.gz: {dims} {len(buf.getvalue())} bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", TRAIN), ("t10k", TEST)):
        (count, h, w), images = read(f"{split}-images-idx3-ubyte")
        (lcount,), labels = read(f"{split}-labels-idx1-ubyte")
        assert count == lcount and n <= count
        write(f"{split}-images-idx3-ubyte", (n, h, w), images[: n * h * w])
        write(f"{split}-labels-idx1-ubyte", (n,), labels[:n])


if __name__ == "__main__":
    main()
