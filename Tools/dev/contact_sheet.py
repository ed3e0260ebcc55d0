"""A contact sheet of what capsinfer does to files: each row is one file as it is (alpha shown over a
checkerboard), then the 28x28 input the model saw (enlarged), then the decoder's reconstruction,
then the prediction (or the "no digit" verdict).

    python3 Tools/dev/contact_sheet.py --out docs/images/preprocessing.png FILE... [--capsinfer PATH]
    python3 Tools/dev/contact_sheet.py --out sheet.png --per-kind 1 Fixtures/realworld   # one row per kind

With a folder written by Tools/fixtures/make_realworld_digits.py, rows are taken from its manifest.csv
(`--per-kind N` digits and `--blanks N` blank controls of every kind) and labelled with the kind.
The model input and the reconstruction come from `capsinfer --reconstruct` (the left and right
halves of each `.recon.png`).
"""

import argparse
import csv
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

CELL = 112  # pixels per picture in the sheet
LABEL_WIDTH = 190


def checkerboard(size):
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    board = np.where(((yy // 8) + (xx // 8)) % 2 == 0, 200, 150).astype(np.uint8)
    return Image.fromarray(board).convert("RGBA")


def thumbnail(path):
    image = Image.open(path)
    image.load()
    if image.mode.startswith("I;16") or image.mode == "I":
        image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257).astype(np.uint8))
    image = image.convert("RGBA")
    under = checkerboard(image.size)
    under.alpha_composite(image)
    under = under.convert("RGB")
    under.thumbnail((CELL, CELL), Image.LANCZOS)
    cell = Image.new("RGB", (CELL, CELL), (255, 255, 255))
    cell.paste(under, ((CELL - under.width) // 2, (CELL - under.height) // 2))
    return cell


def rows_from(args):
    rows = []
    for item in args.inputs:
        manifest = os.path.join(item, "manifest.csv")
        if os.path.isdir(item) and os.path.exists(manifest):
            with open(manifest) as f:
                entries = list(csv.DictReader(f))
            seen = {}
            for e in entries:
                key = (e["kind"], e["label"] == "blank")
                limit = args.blanks if key[1] else args.per_kind
                if seen.get(key, 0) < limit:
                    seen[key] = seen.get(key, 0) + 1
                    label = e["kind"] + (" (blank)" if key[1] else f" ({e['label']})")
                    rows.append((os.path.join(item, e["file"]), label))
        else:
            rows.append((item, os.path.basename(item)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="PNG files, or folders with a manifest.csv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--capsinfer", default=".build/release/capsinfer")
    parser.add_argument("--per-kind", type=int, default=1)
    parser.add_argument("--blanks", type=int, default=0)
    args = parser.parse_args()

    rows = rows_from(args)
    with tempfile.TemporaryDirectory() as recon:
        result = subprocess.run(
            [args.capsinfer, "--format", "csv", "--reconstruct", recon, *[p for p, _ in rows]],
            capture_output=True, text=True)
        verdicts = {}
        for record in csv.DictReader(result.stdout.splitlines()):
            verdicts[record["file"]] = record["error"] or f"predicted {record['prediction']}"
        sheet = Image.new("RGB", (LABEL_WIDTH + 3 * CELL + 40, CELL * len(rows) + 30), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for x, title in ((LABEL_WIDTH, "file"), (LABEL_WIDTH + CELL + 10, "model input"),
                         (LABEL_WIDTH + 2 * CELL + 20, "reconstruction")):
            draw.text((x + 4, 8), title, fill=(0, 0, 0))
        for n, (path, label) in enumerate(rows):
            top = 30 + n * CELL
            sheet.paste(thumbnail(path), (LABEL_WIDTH, top))
            stem = os.path.splitext(os.path.basename(path))[0]
            recon_path = os.path.join(recon, stem + ".recon.png")
            if os.path.exists(recon_path):
                pair = Image.open(recon_path).convert("L")
                for k in range(2):
                    half = pair.crop((k * 28, 0, k * 28 + 28, 28)).resize((CELL, CELL), Image.NEAREST)
                    sheet.paste(half.convert("RGB"), (LABEL_WIDTH + (k + 1) * (CELL + 10), top))
            verdict = verdicts.get(path, "?")
            draw.text((6, top + 30), label, fill=(0, 0, 0))
            for k, start in enumerate(range(0, len(verdict), 30)):
                draw.text((6, top + 50 + 14 * k), verdict[start:start + 30], fill=(120, 0, 0))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        sheet.save(args.out)
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
