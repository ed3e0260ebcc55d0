"""The classic Pillow/numpy digit recipe, classified by the PyTorch reference model: the comparison
figure for capsinfer's preprocessing on real-world files.

The recipe is the one tutorials use to feed a photo of a digit to an MNIST model: composite alpha
over white, convert to gray, invert when the border is light (so that ink is white), Otsu
threshold (pixels at or below the threshold become 0), crop to the remaining ink, resize the longer
side to 20 px (Lanczos), paste into 28x28 and shift so that the centre of mass is at the centre. A
file whose image is blank after thresholding counts as "no digit". The model is Tools/capsnet.py
with the given weights (default: the built-in model, Fixtures/models/standard.h5), in float32 on
the CPU.

    python3 Tools/classic_recipe.py Tools/work/realworld            # reads manifest.csv there
    python3 Tools/classic_recipe.py DIR --csv out.csv               # also one row per file

Prints accuracy per kind (digits) and how many blank controls were reported as "no digit".
"""

import argparse
import collections
import csv
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gray_of(path):
    image = Image.open(path)
    image.load()
    if image.mode in ("I;16", "I;16B", "I"):
        return np.asarray(image, dtype=np.float64) / 257.0
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        image = white
    return np.asarray(image.convert("L"), dtype=np.float64)


def otsu(values):
    hist, _ = np.histogram(values, bins=256, range=(0, 256))
    total = values.size
    cumulative = np.cumsum(hist)
    weighted = np.cumsum(hist * np.arange(256))
    best, threshold = -1.0, 0
    for t in range(255):
        w0, w1 = cumulative[t], total - cumulative[t]
        if w0 == 0 or w1 == 0:
            continue
        m0 = weighted[t] / w0
        m1 = (weighted[-1] - weighted[t]) / w1
        between = w0 * w1 * (m0 - m1) ** 2
        if between > best:
            best, threshold = between, t
    return threshold


def classic_input(path):
    """The 28x28 model input (0..255, white on black), or None when nothing survives the threshold."""
    a = gray_of(path)
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    if border.mean() > 127.5:
        a = 255.0 - a
    a = np.where(a > otsu(a), a, 0.0)
    ys, xs = np.nonzero(a)
    if len(ys) == 0:
        return None
    crop = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = np.clip(small, 0, 255)
    frame = np.zeros((28, 28))
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    frame[top:top + size[1], left:left + size[0]] = small
    mass = frame.sum()
    if mass <= 0:
        return None
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = (frame * yy).sum() / mass, (frame * xx).sum() / mass
    dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
    return np.roll(np.roll(frame, dy, axis=0), dx, axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a folder written by Tools/make_realworld_digits.py (with manifest.csv)")
    parser.add_argument("--model", default=os.path.join(REPO_ROOT, "Fixtures", "models", "standard.h5"))
    parser.add_argument("--csv", help="write file,kind,label,prediction here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(args.model))
    with open(os.path.join(args.folder, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    inputs, predictions = [], {}
    for row in rows:
        x = classic_input(os.path.join(args.folder, row["file"]))
        if x is None:
            predictions[row["file"]] = "no digit"
        else:
            inputs.append((row["file"], np.clip(np.rint(x), 0, 255).astype(np.uint8)))
    with torch.no_grad():
        for start in range(0, len(inputs), 64):
            chunk = inputs[start:start + 64]
            _, _, predicted = model(capsnet.preprocess(np.stack([p for _, p in chunk])))
            for (name, _), p in zip(chunk, predicted.tolist()):
                predictions[name] = str(p)

    right, total = collections.Counter(), collections.Counter()
    blank_ok, blank_total = collections.Counter(), collections.Counter()
    for row in rows:
        got = predictions[row["file"]]
        if row["label"] == "blank":
            blank_total[row["kind"]] += 1
            blank_ok[row["kind"]] += got == "no digit"
        else:
            total[row["kind"]] += 1
            right[row["kind"]] += got == row["label"]
    print(f"{'kind':<22} {'classic recipe':>16}  blanks reported as no digit")
    for kind in total:
        print(f"{kind:<22} {right[kind]:>5}/{total[kind]:<4} {100 * right[kind] / total[kind]:5.1f}%"
              f"  {blank_ok[kind]}/{blank_total[kind]}")
    r, t = sum(right.values()), sum(total.values())
    print(f"{'overall':<22} {r:>5}/{t:<4} {100 * r / t:5.1f}%  {sum(blank_ok.values())}/{sum(blank_total.values())}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("file", "kind", "label", "prediction"))
            for row in rows:
                w.writerow((row["file"], row["kind"], row["label"], predictions[row["file"]]))


if __name__ == "__main__":
    main()
