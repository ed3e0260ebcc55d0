"""Scores capsinfer on a folder written by Tools/fixtures/make_realworld_digits.py.

    python3 Tools/dev/score_realworld.py Tools/work/realworld [--capsinfer .build/release/capsinfer] [-- extra capsinfer options]

Runs capsinfer once on every file of the manifest (CSV output) and prints accuracy per kind beside
how many blank controls were reported as "no digit" (an error row starting with "no digit").
With --classic CSV (from Tools/fixtures/classic_recipe.py --csv) the classic recipe's figure is printed beside.
"""

import argparse
import collections
import csv
import io
import os
import subprocess
import sys


def tally(rows, predicted):
    right, total, blank_ok, blank_total = (collections.Counter() for _ in range(4))
    for row in rows:
        got = predicted.get(row["file"], "")
        if row["label"] == "blank":
            blank_total[row["kind"]] += 1
            blank_ok[row["kind"]] += got == "no digit"
        else:
            total[row["kind"]] += 1
            right[row["kind"]] += got == row["label"]
    return right, total, blank_ok, blank_total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--capsinfer", default=".build/release/capsinfer")
    parser.add_argument("--classic", help="CSV written by Tools/fixtures/classic_recipe.py --csv on the same folder")
    parser.add_argument("--ceiling", help="expected.csv of Tools/fixtures/write_heldout_pngs.py: counts the misses whose original "
                        "28x28 MNIST digit the model also gets wrong")
    parser.add_argument("extra", nargs="*", help="more capsinfer options (after --)")
    args = parser.parse_args()
    with open(os.path.join(args.folder, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    paths = [os.path.join(args.folder, r["file"]) for r in rows]
    result = subprocess.run([args.capsinfer, "--format", "csv", *args.extra, *paths],
                            capture_output=True, text=True)
    predicted = {}
    for record in csv.DictReader(io.StringIO(result.stdout)):
        name = os.path.basename(record["file"])
        error = record.get("error", "")
        predicted[name] = "no digit" if error.startswith("no digit") else (record["prediction"] if not error else "error: " + error)
    classic = None
    if args.classic:
        with open(args.classic) as f:
            classic = tally(rows, {r["file"]: r["prediction"] for r in csv.DictReader(f)})
    right, total, blank_ok, blank_total = tally(rows, predicted)
    header = f"{'kind':<22} {'capsinfer':>15} {'blanks':>7}"
    if classic:
        header += f" {'classic recipe':>16} {'blanks':>7}"
    print(header)
    def line(name, r, t, b, bt, c=None):
        text = f"{name:<22} {r:>5}/{t:<4} {100 * r / max(t, 1):5.1f}% {b:>3}/{bt:<3}"
        if c:
            text += f" {c[0]:>5}/{c[1]:<4} {100 * c[0] / max(c[1], 1):5.1f}% {c[2]:>3}/{c[3]:<3}"
        return text
    for kind in total:
        c = (classic[0][kind], classic[1][kind], classic[2][kind], classic[3][kind]) if classic else None
        print(line(kind, right[kind], total[kind], blank_ok[kind], blank_total[kind], c))
    sums = lambda t: tuple(sum(x.values()) for x in t)
    print(line("overall", *sums((right, total, blank_ok, blank_total)), sums(classic) if classic else None))
    misses = [(r["file"], r["label"], predicted.get(r["file"])) for r in rows
              if predicted.get(r["file"]) != (r["label"] if r["label"] != "blank" else "no digit")]
    if args.ceiling:
        with open(args.ceiling) as f:
            wrong = {r["mnist_index"] for r in csv.DictReader(f) if r["label"] != r["standard_prediction"]}
        digits = [r for r in rows if r["label"] != "blank"]
        hard = [r for r in digits if r["file"].rsplit("_i", 1)[-1].split(".")[0] in wrong]
        print(f"ceiling: {len(hard)} of {len(digits)} files show a digit whose original 28x28 image the model "
              f"misclassifies too ({len(digits) - len(hard)} = {100 * (len(digits) - len(hard)) / len(digits):.1f}% is "
              f"the best any preprocessing can do); misses among them: "
              f"{sum(1 for f, l, p in misses if f in {r['file'] for r in hard})}")
    if misses:
        print(f"{len(misses)} misses:", ", ".join(f"{f} ({l} -> {p})" for f, l, p in misses[:40]))


if __name__ == "__main__":
    main()
