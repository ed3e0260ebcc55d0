#!/usr/bin/env python3
"""CPU time per image of `capsconv bench`, robust to other load on a shared machine.

    python3 Tools/dev/bench/cpu_per_image.py [--capsconv NAME=PATH ...] [--model M] [--batch 1 64]
        [--threads 2] [--rounds 2] [--precision fp32 int8]

For each binary (interleaved, `--rounds` times) and batch size it runs `capsconv bench` twice, a
short and a long run, and divides the difference in the process's CPU time (user + sys, from
wait4) by the difference in images run (timed + warm-up runs, from bench's text output). Loading,
packing and the fixed part of the warm-up cancel out, so what remains is the CPU time one image
costs while the process has the cores; on an idle machine, threads / that is the images/s it would
reach. Wall-clock images/s and the load average are printed beside it.
"""
import argparse
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def bench(binary, model, reference, batch, threads, seconds, precision="fp32"):
    command = [binary, "bench", model, "--batch-size", str(batch), "--threads", str(threads),
               "--seconds", str(seconds)]
    if precision != "fp32":
        command += ["--precision", precision]
    if reference:
        command += ["--reference", reference]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed (status {status})")
    runs = re.search(r"runs\s+(\d+) in [\d.]+ s after (\d+) warm-up", out)
    throughput = float(re.search(r"throughput\s+([\d.]+)", out).group(1))
    return (int(runs.group(1)) + int(runs.group(2))) * batch, usage.ru_utime + usage.ru_stime, throughput


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capsconv", nargs="+", default=["capsconv=" + os.path.join(ROOT, ".build/release/capsconv")],
                        help="NAME=PATH of each binary to compare (default: the release build)")
    parser.add_argument("--model", default=os.path.join(ROOT, "Fixtures/models/standard.h5"))
    parser.add_argument("--reference", default=None, help="activations for --reference (optional)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", nargs="+", default=["fp32"], help="fp32 and/or int8 (each binary runs each)")
    args = parser.parse_args()
    binaries = [(f"{name} {precision}" if len(args.precision) > 1 else name, binary, precision)
                for name, binary in (entry.split("=", 1) for entry in args.capsconv) for precision in args.precision]
    print("| binary | batch | round | load | wall images/s | CPU ms per image | images per CPU-second |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for round_ in range(args.rounds):
        for batch in args.batch:
            short, long_ = (1.5, 6) if batch < 16 else (2, 10)
            for name, binary, precision in binaries:
                load = open("/proc/loadavg").read().split()[0]
                images1, cpu1, _ = bench(binary, args.model, args.reference, batch, args.threads, short, precision)
                images2, cpu2, throughput = bench(binary, args.model, args.reference, batch, args.threads, long_,
                                                  precision)
                per_image = (cpu2 - cpu1) / (images2 - images1)
                print(f"| {name} | {batch} | {round_ + 1} | {load} | {throughput:.1f} | {per_image * 1e3:.2f} "
                      f"| {1 / per_image:.1f} |", flush=True)


if __name__ == "__main__":
    main()
