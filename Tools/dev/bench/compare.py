"""CapsKit's runtime against ONNX Runtime and PyTorch eager on the same held-out digits.

    pip install torch==2.15.0 --index-url https://download.pytorch.org/whl/cpu && pip install -r Tools/dev/requirements.txt
    python3 Tools/dev/bench/compare.py [--threads 2] [--seconds 5] [--repeat 1] [--skip-build]
        [--precisions fp32 int8]

Run from the repository root. For each model in Fixtures/models (weights from the HDF5, the
PyTorch CapsNet of Tools/user/capsnet.py) it builds the inference path without the decoder: raw pixels
0..255 -> the model's normalisation -> conv1 + ReLU -> conv2 -> primary capsules -> squash ->
prediction vectors -> 3 routing iterations -> capsule lengths. That is what `capsconv bench` times
(the runtime normalises the pixels inside run() too). The module is exported to ONNX (TorchScript
exporter, opset 17, dynamic batch) and run with ONNX Runtime's CPU execution provider with
intra_op_num_threads = T; PyTorch eager runs the same module with torch.set_num_threads(T); then
`capsconv bench --json --threads T` runs the release build twice: with its default primary
convolution (Winograd for the reference's 9x9 / 2 kernel) and forced direct (im2col + GEMM).

Every engine gets the same protocol: the reference activations' 16 held-out digits tiled over the
batch, warm-up (at least 3 runs and min(2 s, S/10)), then back-to-back runs for S seconds with
each run timed; median and p90 (nearest rank) per batch, images/s = images / elapsed. The CPU
time that other processes took meanwhile (from /proc/stat, less this process and its children)
is reported on stderr: the table is only worth quoting when that is near zero. With --repeat N
every case measures the three engines N times, interleaved, and keeps each engine's run with the
lowest median.

int8 (with --precisions ... int8, the default): CapsKit's `capsconv bench --precision int8` (conv1
and conv2 in integers, weights per output channel, activations per image) beside ONNX Runtime's own
int8: the same ONNX model quantized with onnxruntime.quantization.quantize_static (QDQ format,
QUInt8 activations, QInt8 weights per output channel, reduce_range=True, i.e. 7-bit weights as
CapsKit uses on AVX2 to avoid vpmaddubsw's saturation; only the Conv nodes, as CapsKit; MinMax
calibration on the 16 reference digits). Static, not dynamic: dynamic quantization turns Conv into
ConvInteger, which ONNX Runtime runs far slower than the static QLinearConv path, and would not be
a fair peer. The int8 rows' last ratio column is against the same engine's fp32 row.

Before timing, ONNX Runtime's lengths are compared with PyTorch's on the 16 digits (max abs
diff) and PyTorch's with the reference activations, so the engines are known to compute the same
function; `capsconv bench` itself refuses (exit 2) if its predicted classes differ from the
reference. Progress and the load average go to stderr; stdout gets one markdown table.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

TOOLS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, os.path.join(TOOLS, "user"))  # capsnet

# (model, batch): batch 1 is latency, 64 and 256 throughput.
CASES = [("standard", 1), ("standard", 64), ("standard", 256), ("small", 64)]


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_digits(path):
    """The held-out digits of a reference-activations file: uint8 [16, 28, 28], lengths, predictions."""
    import h5py

    with h5py.File(path, "r") as f:
        return np.asarray(f["pixels"][()]), np.asarray(f["lengths"][()]), np.asarray(f["prediction"][()])


def tile(digits, batch):
    """`batch` images (float32 0..255, [batch, 1, 28, 28]) cycling through `digits`."""
    index = np.arange(batch) % len(digits)
    return np.ascontiguousarray(digits[index].astype(np.float32)[:, None, :, :])


def lengths_module(net):
    """The inference path of `net` (a capsnet.CapsNet) from raw pixels to capsule lengths."""
    import torch

    import capsnet

    class CapsuleLengths(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, pixels):
            x = (pixels / 255.0 - capsnet.MNIST_MEAN) / capsnet.MNIST_STD
            x1 = torch.relu(self.net.conv1(x))
            x2 = self.net.conv2(x1)
            u = capsnet.squash(self.net.primary(x2))
            v = self.net.digit_capsules(u)
            return torch.sqrt((v * v).sum(-1))

    return CapsuleLengths().eval()


def export_onnx(module, path):
    import torch

    example = torch.zeros(2, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # dynamo=False: the torch.export-based exporter needs onnxscript, which is not pinned.
        torch.onnx.export(
            module, (example,), path, dynamo=False, input_names=["pixels"], output_names=["lengths"],
            dynamic_axes={"pixels": {0: "batch"}, "lengths": {0: "batch"}}, opset_version=17)


def quantize_onnx(fp32_path, int8_path, digits):
    """ONNX Runtime's static int8 version of fp32_path (see the module docstring)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Digits(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"pixels": tile(digits, len(digits))}])

        def get_next(self):
            return next(self.batches, None)

    import logging

    logging.getLogger().setLevel(logging.ERROR)  # its advice to run shape inference first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(fp32_path, int8_path, Digits(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True, op_types_to_quantize=["Conv"])


def ort_session(path, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def cpu_snapshot():
    """(busy CPU seconds of the whole machine, CPU seconds of this process and its children)."""
    import resource

    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    ours = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))
    return busy, ours, time.monotonic()


def measure(run, seconds):
    """Warm up, then call run() back to back for `seconds`.

    Returns the number of timed runs, their elapsed wall time, the median and p90 latency, and the
    CPU time the process spent meanwhile (all threads), in seconds.
    """
    warmup_seconds = min(2.0, seconds / 10)
    start = time.perf_counter()
    runs = 0
    while runs < 3 or time.perf_counter() - start < warmup_seconds:
        run()
        runs += 1
    latencies = []
    cpu_start = time.process_time()
    loop_start = last = time.perf_counter()
    while True:
        run()
        now = time.perf_counter()
        latencies.append(now - last)
        last = now
        if now - loop_start >= seconds:
            break
    cpu = time.process_time() - cpu_start
    latencies.sort()
    n = len(latencies)
    median = latencies[n // 2] if n % 2 else (latencies[n // 2 - 1] + latencies[n // 2]) / 2
    p90 = latencies[max(0, -(-9 * n // 10) - 1)]
    return {"runs": n, "elapsed": last - loop_start, "median": median, "p90": p90, "cpu": cpu}


def build_capsconv(scratch_path):
    command = ["swift", "build", "-c", "release", "--product", "capsconv"]
    if scratch_path:
        command += ["--scratch-path", scratch_path]
    log("$ " + " ".join(command))
    subprocess.run(command, cwd=ROOT, check=True, stdout=sys.stderr)
    bin_path = subprocess.run(command[:4] + command[6:] + ["--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_path, "capsconv")


def capsconv_bench(binary, model_path, reference, batch, threads, seconds, precision="fp32", convolution="auto"):
    command = [binary, "bench", model_path, "--reference", reference, "--batch-size", str(batch),
               "--threads", str(threads), "--seconds", str(seconds), "--precision", precision,
               "--convolution", convolution, "--json"]
    log("$ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"capsconv bench failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per case (default 5)")
    parser.add_argument("--fixtures", default=os.path.join(ROOT, "Fixtures"),
                        help="folder with models/ and activations/ (default Fixtures/)")
    parser.add_argument("--work", default=os.path.join(TOOLS, "work", "bench"),
                        help="where the ONNX files go (default Tools/work/bench, git-ignored)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every engine this many times, interleaved, and keep the run with the "
                             "lowest median (a busy machine only ever slows a run down; default 1)")
    parser.add_argument("--cases", nargs="+", metavar="MODEL:BATCH",
                        help="only these cases, e.g. standard:64 (default: " +
                             " ".join(f"{m}:{b}" for m, b in CASES) + ")")
    parser.add_argument("--capsconv", help="use this capsconv binary instead of building one")
    parser.add_argument("--scratch-path", help="swift build --scratch-path (default: .build)")
    parser.add_argument("--skip-build", action="store_true", help="use the existing release build")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"],
                        help="fp32 rows (ONNX Runtime, PyTorch eager, CapsKit) and/or int8 rows (ONNX "
                             "Runtime static int8, CapsKit int8); default both")
    args = parser.parse_args()
    int8 = "int8" in args.precisions

    import onnxruntime as ort
    import torch

    import capsnet

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    os.makedirs(args.work, exist_ok=True)
    load_before = os.getloadavg()
    log(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    start = cpu_snapshot()
    log(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {ort.__version__}")

    if args.capsconv:
        binary = args.capsconv
    elif args.skip_build:
        command = ["swift", "build", "-c", "release", "--show-bin-path"]
        if args.scratch_path:
            command += ["--scratch-path", args.scratch_path]
        binary = os.path.join(
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip(),
            "capsconv")
    else:
        binary = build_capsconv(args.scratch_path)

    cases = CASES
    if args.cases:
        cases = [(case.split(":")[0], int(case.split(":")[1])) for case in args.cases]
    rows = []
    for name in dict.fromkeys(model for model, _ in cases):
        model_path = os.path.join(args.fixtures, "models", f"{name}.h5")
        reference = os.path.join(args.fixtures, "activations", f"{name}.h5")
        digits, reference_lengths, reference_predictions = load_digits(reference)
        module = lengths_module(capsnet.model_from_state_dict(capsnet.load_h5_state_dict(model_path)))
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        export_onnx(module, onnx_path)
        session = ort_session(onnx_path, args.threads)
        session8 = None
        if int8:
            int8_path = os.path.join(args.work, f"{name}.int8.onnx")
            quantize_onnx(onnx_path, int8_path, digits)
            session8 = ort_session(int8_path, args.threads)

        # Same function? On the 16 held-out digits, before any timing.
        x = tile(digits, len(digits))
        with torch.inference_mode():
            torch_lengths = module(torch.from_numpy(x)).numpy()
        ort_lengths = session.run(None, {"pixels": x})[0]
        ort_diff = float(np.abs(ort_lengths - torch_lengths).max())
        torch_diff = float(np.abs(torch_lengths - reference_lengths).max())
        same_classes = bool((ort_lengths.argmax(1) == torch_lengths.argmax(1)).all()
                            and (torch_lengths.argmax(1) == reference_predictions).all())
        log(f"{name}: max |ORT - PyTorch| = {ort_diff:.2e}, max |PyTorch - reference| = {torch_diff:.2e}, "
            f"classes identical: {same_classes}")
        if not same_classes:
            sys.exit(f"{name}: predicted classes differ between engines; not timing a wrong result")
        if session8 is not None:
            ort8_lengths = session8.run(None, {"pixels": x})[0]
            ort8_diff = float(np.abs(ort8_lengths - torch_lengths).max())
            ort8_same = int((ort8_lengths.argmax(1) == torch_lengths.argmax(1)).sum())
            log(f"{name}: ONNX Runtime int8: max |int8 - PyTorch fp32| = {ort8_diff:.2e}, "
                f"{ort8_same}/{len(x)} classes identical")

        for model, batch in cases:
            if model != name:
                continue
            x = tile(digits, batch)
            feed = {"pixels": x}
            tensor = torch.from_numpy(x)
            onnx = eager = ours = direct = onnx8 = ours8 = None
            for repetition in range(args.repeat):  # engines interleaved; the lowest median is kept
                log(f"{name} batch {batch}: onnxruntime, pytorch, capsconv, capsconv direct"
                    + (", onnxruntime int8, capsconv int8" if int8 else "") + f" ({repetition + 1}/{args.repeat})")
                result = measure(lambda: session.run(None, feed), args.seconds)
                onnx = result if onnx is None or result["median"] < onnx["median"] else onnx
                with torch.inference_mode():
                    result = measure(lambda: module(tensor), args.seconds)
                eager = result if eager is None or result["median"] < eager["median"] else eager
                result = capsconv_bench(binary, model_path, reference, batch, args.threads, args.seconds)
                ours = result if ours is None or result["latency_ms_median"] < ours["latency_ms_median"] else ours
                result = capsconv_bench(binary, model_path, reference, batch, args.threads, args.seconds,
                                        convolution="direct")
                direct = (result if direct is None or result["latency_ms_median"] < direct["latency_ms_median"]
                          else direct)
                if int8:
                    result = measure(lambda: session8.run(None, feed), args.seconds)
                    onnx8 = result if onnx8 is None or result["median"] < onnx8["median"] else onnx8
                    result = capsconv_bench(binary, model_path, reference, batch, args.threads, args.seconds, "int8")
                    ours8 = (result if ours8 is None or result["latency_ms_median"] < ours8["latency_ms_median"]
                             else ours8)
            base = batch * onnx["runs"] / onnx["elapsed"]
            ours_fp32 = ours["images_per_second"]
            int8_rows = []
            if int8:
                ort8_ips = batch * onnx8["runs"] / onnx8["elapsed"]
                int8_rows = [
                    ("ONNX Runtime " + ort.__version__ + " int8 (static QDQ)", ort8_ips, onnx8["median"], onnx8["p90"],
                     f"{ort8_same}/{len(digits)} classes = PyTorch; {ort8_ips / base:.2f}x its fp32"),
                    ("CapsKit int8 (" + ours8["kernel"] + ")", ours8["images_per_second"],
                     ours8["latency_ms_median"] / 1e3, ours8["latency_ms_p90"] / 1e3,
                     f"classes = reference; {ours8['images_per_second'] / ours_fp32:.2f}x its fp32"),
                ]
            for engine, images_per_second, median, p90, check in [
                ("ONNX Runtime " + ort.__version__, base, onnx["median"], onnx["p90"],
                 f"max abs diff vs PyTorch {ort_diff:.1e}"),
                ("PyTorch " + torch.__version__.split("+")[0] + " eager", batch * eager["runs"] / eager["elapsed"],
                 eager["median"], eager["p90"], f"max abs diff vs reference {torch_diff:.1e}"),
                ("CapsKit (" + ours["kernel"] + ", " + ours["convolution"] + ")", ours["images_per_second"],
                 ours["latency_ms_median"] / 1e3, ours["latency_ms_p90"] / 1e3, "classes = reference"),
                ("CapsKit (" + direct["kernel"] + ", " + direct["convolution"] + ")", direct["images_per_second"],
                 direct["latency_ms_median"] / 1e3, direct["latency_ms_p90"] / 1e3, "classes = reference"),
            ] + int8_rows:
                rows.append((name, batch, engine, images_per_second, median * 1e3, p90 * 1e3,
                             images_per_second / base, check))

    end = cpu_snapshot()
    # The load average counts this script's own threads; what other processes used does not.
    others = max(0.0, (end[0] - start[0]) - (end[1] - start[1])) / (end[2] - start[2])
    log(f"load average after: {os.getloadavg()[0]:.2f}; other processes used {others:.2f} of "
        f"{os.cpu_count()} CPUs on average while this ran")
    if load_before[0] > 0.5 or others > 0.1:
        log("warning: the machine was not quiet; rerun when it is")

    print("| model | batch | engine | images/s | median latency (ms) | p90 latency (ms) | vs ONNX Runtime | check |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for model, batch, engine, ips, median, p90, ratio, check in rows:
        print(f"| {model} | {batch} | {engine} | {ips:,.1f} | {median:.2f} | {p90:.2f} | {ratio:.2f}x | {check} |")


if __name__ == "__main__":
    main()
