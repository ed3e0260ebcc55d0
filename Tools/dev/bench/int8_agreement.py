"""int8 against fp32 on the 2,000 held-out MNIST digits, end to end through capsinfer.

    python3 Tools/fixtures/write_heldout_pngs.py Tools/work/heldout        # once: PNGs + expected.csv
    python3 Tools/dev/bench/int8_agreement.py Tools/work/heldout [--capsinfer PATH] [--model M]

Runs `capsinfer --format csv --no-invert` over every PNG twice (--precision fp32, then int8) and
reports: the share of digits whose int8 prediction equals the fp32 one (acceptance of issue 15:
>= 99.5%), both accuracies against the MNIST labels (int8 within 0.2 points of fp32), how often
fp32 equals PyTorch's prediction (expected.csv), and the largest |int8 - fp32| capsule length.
Exit 1 when an acceptance bound is missed.
"""

import argparse
import csv
import glob
import os
import subprocess
import sys


def classify(capsinfer, model, files, precision):
    command = [capsinfer, "--format", "csv", "--no-invert", "--precision", precision]
    if model:
        command += ["--model", model]
    out = subprocess.run(command + files, check=True, capture_output=True, text=True).stdout
    rows = {}
    for row in csv.DictReader(out.splitlines()):
        lengths = [float(v) for k, v in row.items() if k.startswith("length_")]
        rows[os.path.basename(row["file"])] = (int(row["prediction"]), lengths)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="written by Tools/fixtures/write_heldout_pngs.py")
    ap.add_argument("--capsinfer", default=".build/release/capsinfer")
    ap.add_argument("--model", help="default: capsinfer's built-in model (the standard one)")
    args = ap.parse_args()
    expected = {}
    with open(os.path.join(args.folder, "expected.csv")) as f:
        for row in csv.DictReader(f):
            expected[row["file"]] = (int(row["label"]), int(row["standard_prediction"]))
    files = sorted(glob.glob(os.path.join(args.folder, "*.png")))
    fp32 = classify(args.capsinfer, args.model, files, "fp32")
    int8 = classify(args.capsinfer, args.model, files, "int8")
    names = [os.path.basename(f) for f in files]
    n = len(names)
    agree = sum(fp32[k][0] == int8[k][0] for k in names)
    acc32 = sum(fp32[k][0] == expected[k][0] for k in names) / n
    acc8 = sum(int8[k][0] == expected[k][0] for k in names) / n
    torch_agree = sum(fp32[k][0] == expected[k][1] for k in names)
    worst = max(abs(a - b) for k in names for a, b in zip(fp32[k][1], int8[k][1]))
    print(f"digits                         {n}")
    print(f"int8 == fp32 prediction        {agree}/{n} ({100 * agree / n:.2f}%, bound >= 99.5%)")
    print(f"accuracy fp32                  {100 * acc32:.2f}%")
    print(f"accuracy int8                  {100 * acc8:.2f}% ({100 * (acc8 - acc32):+.2f} points, bound 0.2)")
    print(f"fp32 == PyTorch prediction     {torch_agree}/{n}")
    print(f"max |int8 - fp32| length       {worst:.4f}")
    print("disagreeing files:", [k for k in names if fp32[k][0] != int8[k][0]][:20])
    ok = agree >= 0.995 * n and abs(acc8 - acc32) <= 0.002 + 1e-12
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
