"""Write all 2000 held-out MNIST digits (8000..9999) as 28x28 gray8 PNGs plus PyTorch's predictions.

    python3 Tools/write_heldout_pngs.py OUTDIR [--model Fixtures/models/standard.h5]

OUTDIR/d<index>_gray8.png and OUTDIR/expected.csv with columns
file,mnist_index,label,standard_prediction,standard_length_0..9 (lengths: repr of the float32 value).
For end-to-end throughput and accuracy checks; not committed.
"""

import argparse
import csv
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import capsnet  # noqa: E402
import mnist  # noqa: E402
import pngwriter  # noqa: E402

DEFAULT_MODEL = os.path.join(os.path.dirname(TOOLS), "Fixtures", "models", "standard.h5")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="HDF5 state_dict (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2)
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    images, labels = mnist.load(args.mnist)
    idx = np.arange(mnist.HELDOUT_RANGE.start, mnist.HELDOUT_RANGE.stop)
    model = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(args.model))
    lengths, preds = [], []
    with torch.no_grad():
        for s in range(0, len(idx), 200):
            v, _, pred = model(capsnet.preprocess(images[idx[s:s + 200]]))
            lengths.append(torch.sqrt((v * v).sum(-1)).numpy().astype(np.float32))
            preds.append(pred.numpy())
    lengths = np.concatenate(lengths)
    preds = np.concatenate(preds)
    assert np.array_equal(lengths.argmax(1), preds)

    os.makedirs(args.outdir, exist_ok=True)
    cols = ["file", "mnist_index", "label", "standard_prediction"] + [f"standard_length_{j}" for j in range(10)]
    with open(os.path.join(args.outdir, "expected.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r, i in enumerate(idx):
            name = f"d{i}_gray8.png"
            pngwriter.write_png(os.path.join(args.outdir, name), images[i], color_type=0, bit_depth=8)
            w.writerow([name, int(i), int(labels[i]), int(preds[r])] + [repr(float(x)) for x in lengths[r]])
    correct = int((preds == labels[idx]).sum())
    print(f"wrote {len(idx)} PNGs and expected.csv to {args.outdir}; PyTorch accuracy with "
          f"{os.path.basename(args.model)}: {correct}/{len(idx)} = {correct / len(idx) * 100:.2f}%")


if __name__ == "__main__":
    main()
