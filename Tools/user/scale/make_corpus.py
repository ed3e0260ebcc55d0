"""Generate a corpus of PNG digit files from the held-out MNIST digits, for scale runs and figures.

    python3 Tools/user/scale/make_corpus.py Tools/work/corpus20k [--copies 10] [--mnist DIR]

Writes OUTDIR/<copy>/d<index>_c<copy>.png (28x28 gray8) for every held-out digit 8000..9999 and
every copy 0..copies-1 (default 10: 20,000 files in 10 folders of 2,000), each copy shifted by a
different offset of at most 2 pixels (copy 0 unshifted), so that no two files are the same bytes;
then OUTDIR/manifest.txt, one absolute path per line in folder then name order, and
OUTDIR/labels.csv (file,label). Deterministic: the same command (and Pillow version) gives the same bytes. Existing
files are overwritten. Never committed (Tools/work/ is git-ignored).
"""

import argparse
import os
import sys

import numpy as np

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
# mnist.py is in Tools/user (Tools/ before the regrouping); nothing outside Tools/user is imported.
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
import mnist  # noqa: E402

# (dx, dy) per copy; pixels shifted out are dropped, zeros shifted in (MNIST's background).
OFFSETS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (2, 0), (0, 2), (-2, 0),
           (1, -1), (-1, 1), (2, 1), (1, 2), (-2, -1), (-1, -2)]


def shifted(image, dx, dy):
    out = np.zeros_like(image)
    h, w = image.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = image[ys, xs]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--copies", type=int, default=10, help=f"1...{len(OFFSETS)} (default 10)")
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    if not 1 <= args.copies <= len(OFFSETS):
        ap.error(f"--copies takes 1...{len(OFFSETS)}")
    images, labels = mnist.load(args.mnist)
    outdir = os.path.abspath(args.outdir)
    paths = []
    with open(os.path.join(outdir if os.path.isdir(outdir) else _mkdir(outdir), "labels.csv"), "w") as lab:
        lab.write("file,label\n")
        for copy in range(args.copies):
            folder = os.path.join(outdir, str(copy))
            os.makedirs(folder, exist_ok=True)
            dx, dy = OFFSETS[copy]
            for index in mnist.HELDOUT_RANGE:
                path = os.path.join(folder, f"d{index}_c{copy}.png")
                Image.fromarray(shifted(images[index], dx, dy), mode="L").save(path, format="PNG")
                paths.append(path)
                lab.write(f"{path},{int(labels[index])}\n")
    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("".join(p + "\n" for p in paths))
    print(f"wrote {len(paths)} PNGs, manifest.txt and labels.csv to {outdir}")


def _mkdir(path):
    os.makedirs(path, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
