"""Per-stage CPU time of CapsKit's run(), sampled with perf while `capsconv bench` runs.

    python3 Tools/dev/bench/stages.py CAPSCONV MODEL [--batch-size 64] [--threads 2] [--seconds 5]
        [--precision fp32|int8] [--convolution auto|direct|winograd]

Runs `perf record -e cpu-clock -F FREQ -g` on `capsconv bench` (the runtime is not modified), then
assigns every sample to the stage whose function is nearest the leaf of its call stack: the C
kernels by name (caps_route, caps_predictions, ...), the GEMMs and im2cols by the
InferenceSession method that called them (gemmConv1, gemmConv2, ...), so packing A and the
micro-kernels both count as GEMM. Samples outside run() (loading, packing weights, start-up) are
dropped. A sample is 1/FREQ s of CPU on one thread; dividing by the number of run() calls (timed
and warm-up) gives CPU milliseconds per batch, summed over threads. Waiting threads are off the
CPU and not sampled, so the column adds up to CPU time, not wall time. Prints one markdown table.
Needs `perf` (Debian: linux-perf).
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

# (stage, pattern) checked against each frame from the leaf upwards; the first match wins.
STAGES = [
    ("normalise pixels", r"caps_normalize_pixels"),
    ("int8: quantize pixels / conv1 output", r"caps_quantize_u8|caps_max_or_zero"),
    ("conv1 im2col", r"caps_im2col_nchw|im2colConv1"),
    ("conv1 GEMM (+bias, ReLU)", r"gemmConv1"),
    ("conv2 Winograd input transform", r"caps_winograd_transform_input"),
    ("conv2 Winograd output transform (+bias)", r"caps_winograd_transform_output"),
    ("conv2 im2col", r"caps_im2col_nhwc|im2colConv2"),
    ("conv2 GEMM (+bias; Winograd: the 36 GEMMs)", r"gemmConv2|winogradConv2"),
    ("primary capsules + squash", r"caps_primary_capsules"),
    ("prediction vectors u_hat", r"caps_predictions|predictions_om"),
    ("routing (3 iterations)", r"caps_route|route_one"),
    ("lengths + argmax", r"caps_lengths|caps_argmax"),
    ("decoder", r"InferenceSession\w*decode"),
]
# Frames that show a sample is inside run() although no stage matched (pool hand-off, glue).
INSIDE_RUN = r"InferenceSession|WorkerPool"


def classify(stack):
    for frame in stack:
        for stage, pattern in STAGES:
            if re.search(pattern, frame):
                return stage
    if any(re.search(INSIDE_RUN, frame) for frame in stack):
        return "worker pool + glue"
    return None


def samples(perf_data):
    """Call stacks (leaf first) of the recorded samples."""
    script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym"], check=True,
                            capture_output=True, text=True).stdout
    stack = []
    for line in script.splitlines():
        line = line.strip()
        if not line:
            if stack:
                yield stack
            stack = []
            continue
        parts = line.split(None, 1)
        stack.append(parts[1] if len(parts) > 1 else parts[0])
    if stack:
        yield stack


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capsconv", help="a release build of capsconv")
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--frequency", type=int, default=1999, help="samples per CPU-second")
    parser.add_argument("--reference", help="passed on to capsconv bench")
    parser.add_argument("--precision", default="fp32", help="passed on to capsconv bench (fp32 or int8)")
    parser.add_argument("--convolution", default="auto", help="passed on to capsconv bench (auto, direct, winograd)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "perf.data")
        command = [args.capsconv, "bench", args.model, "--batch-size", str(args.batch_size),
                   "--threads", str(args.threads), "--seconds", str(args.seconds), "--precision", args.precision,
                   "--convolution", args.convolution]
        if args.reference:
            command += ["--reference", args.reference]
        bench = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency), "-g",
                                "-o", data, "--"] + command, capture_output=True, text=True)
        if bench.returncode != 0:
            sys.exit(f"capsconv bench under perf failed ({bench.returncode}): {bench.stderr.strip()}")
        print(bench.stdout.strip(), file=sys.stderr)
        runs = re.search(r"runs\s+(\d+) in .* after (\d+) warm-up runs", bench.stdout)
        median = re.search(r"median ([\d.]+) ms", bench.stdout)
        calls = int(runs.group(1)) + int(runs.group(2))
        counts = collections.Counter(classify(stack) for stack in samples(data))

    counts.pop(None, None)
    total = sum(counts.values())
    per_batch = 1e3 / args.frequency / calls
    order = [stage for stage, _ in STAGES] + ["worker pool + glue"]
    print(f"| stage | CPU ms per batch of {args.batch_size} | share |")
    print("| --- | ---: | ---: |")
    for stage in order:
        if counts[stage]:
            print(f"| {stage} | {counts[stage] * per_batch:.2f} | {100 * counts[stage] / total:.1f}% |")
    print(f"| **all of run()** ({args.threads} threads, wall median {float(median.group(1)):.2f} ms) "
          f"| **{total * per_batch:.2f}** | 100% |")


if __name__ == "__main__":
    main()
