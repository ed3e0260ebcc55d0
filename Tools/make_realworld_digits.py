"""Real-world-looking digit files from held-out MNIST digits, for testing capsinfer's preprocessing.

Each file is one held-out digit (indices 8000..<10000, which the Fixtures models never trained on)
rendered the way people's files look: photos of paper with a lighting gradient and sensor noise,
coloured ink on tinted paper, 16-bit photos, page scans with dust, faint pencil, chalk on a dark
slide, drawing-app exports on a transparent canvas, and noisy 28x28 files. Every kind also gets
blank controls (the same background without a digit), which must be reported as "no digit".

The files are written with Pillow (not with CapsKit), seeded, so a run is reproducible:

    python3 Tools/make_realworld_digits.py --out Tools/work/realworld --per-kind 50 --blanks 5
    python3 Tools/make_realworld_digits.py --out Fixtures/realworld --per-kind 5 --blanks 1 --seed 1

`manifest.csv` lists `file,kind,label` (label is the digit, or `blank`). The committed sample in
Fixtures/realworld is the second command (seed 1; the digits are drawn from a different part of
the held-out range than seed 0's).
"""

import argparse
import csv
import math
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402

KINDS = (
    "photo",  # gray paper 200-245, lighting gradient, sensor noise, off-centre, 120-260 px (RGB)
    "photo_blue_on_yellow",  # blue ballpoint on yellowish paper (RGB)
    "photo_gray16",  # 16-bit grayscale photo
    "scan",  # 600-900 px page, digit a third of it, rotated a few degrees, dust specks
    "pencil",  # low contrast: graphite about 120 on paper about 200, grain
    "chalk",  # light chalk on a dark, noisy slide (RGB)
    "drawing_rgba",  # black ink on a transparent canvas, transparent pixels stored as (0,0,0,0)
    "drawing_rgba_white",  # the same with transparent pixels stored as (255,255,255,0)
    "drawing_rgba_blue",  # blue ink on a transparent canvas
    "mnist28_paper",  # 28x28 dark-on-light with paper noise
)


def ink_coverage(digit, side, angle, rng):
    """The digit (28x28, white on black) enlarged to side x side and rotated: coverage in [0, 1]."""
    image = Image.fromarray(digit).resize((side, side), Image.BICUBIC)
    if angle:
        image = image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=0)
    return np.clip(np.asarray(image, dtype=np.float64) / 255.0, 0.0, 1.0)


def place(coverage, height, width, rng, margin=0.04):
    """Coverage pasted into a height x width canvas at a random position fully inside it."""
    canvas = np.zeros((height, width))
    ys, xs = np.nonzero(coverage > 0.002)  # the ink's box: MNIST's margins and the rotation's corners go
    coverage = coverage[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = coverage.shape
    if h > height or w > width:
        raise ValueError(f"digit {w}x{h} does not fit a {width}x{height} canvas")
    m = int(margin * min(height, width))
    y = int(rng.integers(min(m, height - h), max(height - h - m, min(m, height - h)) + 1))
    x = int(rng.integers(min(m, width - w), max(width - w - m, min(m, width - w)) + 1))
    canvas[y:y + h, x:x + w] = coverage
    return canvas


def gradient(height, width, rng, amplitude):
    """A lighting field around 1.0: a tilted plane plus a mild vignette."""
    yy, xx = np.mgrid[0:height, 0:width]
    u = xx / max(width - 1, 1) - 0.5
    v = yy / max(height - 1, 1) - 0.5
    gx, gy = rng.uniform(-amplitude, amplitude, size=2)
    vignette = rng.uniform(0.0, amplitude) * (u * u + v * v)
    return 1.0 + gx * u + gy * v - vignette


def blur(array, sigma):
    """Separable Gaussian blur (edges replicated)."""
    if sigma <= 0:
        return array
    r = max(1, int(math.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = array.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        out = sum(t * np.take(padded, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))
    return out


def grain(shape, rng, low, radius=0.8):
    """Multiplicative texture in [low, 1] (pencil graphite, chalk)."""
    g = blur(rng.uniform(0.0, 1.0, size=shape), radius)
    g = (g - g.min()) / max(g.max() - g.min(), 1e-9)
    return low + (1.0 - low) * g


def to_u8(array):
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def photo_size(rng):
    return int(rng.integers(120, 261)), int(rng.integers(120, 261))


def render(kind, digit, rng, blank=False):
    """One file's pixels and PIL mode for `kind`."""
    angle = 0.0
    if kind in ("photo", "photo_blue_on_yellow", "photo_gray16", "pencil", "chalk"):
        height, width = photo_size(rng)
        side = int(min(height, width) * rng.uniform(0.55, 0.9))
        angle = rng.uniform(-8, 8)
    elif kind == "scan":
        height = int(rng.integers(700, 901))
        width = int(rng.integers(600, min(height, 800) + 1))
        side = int(height / 3 * 28 / 20)
        angle = rng.uniform(-5, 5)
    elif kind.startswith("drawing"):
        height = width = int(rng.integers(200, 513))
        side = int(width * rng.uniform(0.7, 1.0))
    else:
        height = width = side = 28
    if kind == "mnist28_paper":
        a = digit.astype(np.float64) / 255.0
    else:
        a = place(ink_coverage(digit, side, angle, rng), height, width, rng)
    if blank:
        a = np.zeros_like(a)

    if kind == "photo":
        light = gradient(height, width, rng, 0.35) * rng.uniform(200, 245) / 255.0
        ink = rng.uniform(0.08, 0.3)
        reflect = blur(1.0 - a * (1.0 - ink), rng.uniform(0.3, 1.0))
        base = 255.0 * light * reflect
        tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.88, 0.98)])
        rgb = base[..., None] * tint + rng.normal(0, rng.uniform(3, 8), size=(height, width, 3))
        return to_u8(rgb), "RGB"
    if kind == "photo_blue_on_yellow":
        light = gradient(height, width, rng, 0.3)
        paper = np.array([rng.uniform(235, 250), rng.uniform(222, 238), rng.uniform(150, 190)])
        ink = np.array([rng.uniform(30, 90), rng.uniform(50, 110), rng.uniform(150, 210)])
        cover = blur(a, rng.uniform(0.3, 0.9))[..., None]
        rgb = light[..., None] * (paper * (1 - cover) + ink * cover)
        rgb += rng.normal(0, rng.uniform(3, 6), size=rgb.shape)
        return to_u8(rgb), "RGB"
    if kind == "photo_gray16":
        light = gradient(height, width, rng, 0.35) * rng.uniform(200, 245) / 255.0
        ink = rng.uniform(0.08, 0.3)
        reflect = blur(1.0 - a * (1.0 - ink), rng.uniform(0.3, 1.0))
        value = 65535.0 * light * reflect + rng.normal(0, rng.uniform(3, 8) * 257, size=(height, width))
        return np.clip(np.rint(value), 0, 65535).astype(np.uint16), "I;16"
    if kind == "scan":
        paper = rng.uniform(232, 252)
        ink = rng.uniform(10, 50)
        cover = blur(a, rng.uniform(0.5, 1.2))
        value = paper - cover * (paper - ink) + gradient(height, width, rng, 0.04) * 0
        for _ in range(int(rng.integers(5, 30))):  # dust and toner specks
            cy, cx = rng.integers(0, height), rng.integers(0, width)
            r = rng.uniform(0.8, 3.0)
            y0, y1 = max(cy - 4, 0), min(cy + 5, height)
            x0, x1 = max(cx - 4, 0), min(cx + 5, width)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            speck = np.clip(r + 0.5 - np.hypot(yy - cy, xx - cx), 0, 1)
            value[y0:y1, x0:x1] -= speck * (value[y0:y1, x0:x1] - rng.uniform(20, 120))
        value += rng.normal(0, rng.uniform(1.5, 3.0), size=value.shape)
        return to_u8(value), "L"
    if kind == "pencil":
        light = gradient(height, width, rng, 0.1)
        paper = rng.uniform(190, 210)
        ink = rng.uniform(110, 130)
        cover = blur(a * grain(a.shape, rng, 0.6), rng.uniform(0.3, 0.8))
        value = light * (paper - cover * (paper - ink)) + rng.normal(0, rng.uniform(3, 6), size=a.shape)
        return to_u8(value), "L"
    if kind == "chalk":
        light = gradient(height, width, rng, 0.25)
        board = np.array([rng.uniform(20, 45), rng.uniform(35, 65), rng.uniform(25, 50)])
        chalk = np.array([rng.uniform(190, 235)] * 3) - np.array([0, 0, rng.uniform(0, 15)])
        cover = blur(a * grain(a.shape, rng, 0.45, radius=0.6), rng.uniform(0.4, 1.0))[..., None]
        rgb = light[..., None] * (board * (1 - cover) + chalk * cover)
        rgb += rng.normal(0, rng.uniform(6, 12), size=rgb.shape)
        return to_u8(rgb), "RGB"
    if kind.startswith("drawing"):
        alpha = to_u8(255.0 * a)
        rgba = np.zeros((height, width, 4), dtype=np.uint8)
        if kind == "drawing_rgba_blue":
            rgba[..., :3] = np.array([int(rng.integers(0, 40)), int(rng.integers(60, 130)), 255], np.uint8)
            transparent = (255, 255, 255) if rng.integers(0, 2) else (0, 0, 0)
        else:
            rgba[..., :3] = int(rng.integers(0, 30))
            transparent = (255, 255, 255) if kind == "drawing_rgba_white" else (0, 0, 0)
        rgba[..., 3] = alpha
        rgba[alpha == 0, :3] = transparent
        return rgba, "RGBA"
    # mnist28_paper
    paper = rng.uniform(215, 245)
    ink = rng.uniform(0, 40)
    value = paper - a * (paper - ink) + rng.normal(0, rng.uniform(4, 8), size=a.shape)
    return to_u8(value), "L"


def save(path, pixels, mode):
    if mode == "I;16":
        Image.fromarray(pixels).save(path, format="PNG")
    else:
        Image.fromarray(pixels).save(path, format="PNG")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created; existing files of the same names are replaced)")
    parser.add_argument("--per-kind", type=int, default=50, help="digit files per kind (default 50)")
    parser.add_argument("--blanks", type=int, default=5, help="blank controls per kind (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of: " + ", ".join(KINDS))
    parser.add_argument("--mnist", default=mnist.DEFAULT_MNIST_DIR, help="folder with the MNIST test set")
    args = parser.parse_args()

    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kinds: {', '.join(unknown)}")
    images, labels = mnist.load(args.mnist)
    rng = np.random.default_rng(args.seed)
    held_out = np.array(mnist.HELDOUT_RANGE)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for kind in kinds:
        chosen = rng.choice(held_out, size=args.per_kind, replace=False)
        for n, index in enumerate(chosen):
            pixels, mode = render(kind, images[index], rng)
            name = f"{kind}_{n:03d}_i{index}.png"
            save(os.path.join(args.out, name), pixels, mode)
            rows.append((name, kind, str(int(labels[index]))))
        for n in range(args.blanks):
            pixels, mode = render(kind, images[held_out[0]], rng, blank=True)
            name = f"{kind}_blank_{n:02d}.png"
            save(os.path.join(args.out, name), pixels, mode)
            rows.append((name, kind, "blank"))
    with open(os.path.join(args.out, "manifest.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("file", "kind", "label"))
        writer.writerows(rows)
    print(f"{len(rows)} files in {args.out} ({len(kinds)} kinds)")


if __name__ == "__main__":
    main()
