"""Read the MNIST test set (IDX, gzip) (by default from a shared/datasets/mnist folder beside the repository; --mnist DIR elsewhere).

Indices 0..<8000 are the training split, 8000..<10000 are held out.
"""

import argparse
import gzip
import os
import struct

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MNIST_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "datasets", "mnist"))

TRAIN_RANGE = range(0, 8000)
HELDOUT_RANGE = range(8000, 10000)

IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
LABELS_FILE = "t10k-labels-idx1-ubyte.gz"


def _read_gz(path):
    with gzip.open(path, "rb") as f:
        return f.read()


def read_images(path):
    data = _read_gz(path)
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051:
        raise ValueError(f"{path}: bad IDX image magic {magic}")
    expected = 16 + count * rows * cols
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols).copy()


def read_labels(path):
    data = _read_gz(path)
    magic, count = struct.unpack(">II", data[:8])
    if magic != 2049:
        raise ValueError(f"{path}: bad IDX label magic {magic}")
    if len(data) != 8 + count:
        raise ValueError(f"{path}: {len(data)} bytes, expected {8 + count}")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def load(mnist_dir=None):
    """Return (images uint8 [N,28,28], labels int64 [N]) of the MNIST test set."""
    d = mnist_dir or DEFAULT_MNIST_DIR
    images = read_images(os.path.join(d, IMAGES_FILE))
    labels = read_labels(os.path.join(d, LABELS_FILE))
    if len(images) != len(labels):
        raise ValueError("image and label counts differ")
    return images, labels


def add_mnist_argument(parser):
    parser.add_argument("--mnist", metavar="DIR", default=DEFAULT_MNIST_DIR,
                        help=f"folder with {IMAGES_FILE} and {LABELS_FILE} (default: %(default)s)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Print a summary of the MNIST test set")
    add_mnist_argument(p)
    a = p.parse_args()
    imgs, labs = load(a.mnist)
    print(imgs.shape, imgs.dtype, labs.shape)
    for name, r in (("train", TRAIN_RANGE), ("held-out", HELDOUT_RANGE)):
        print(name, len(r), np.bincount(labs[r.start:r.stop], minlength=10).tolist())
