"""GFLOP/s of the primary convolution (conv2) alone in PyTorch eager and ONNX Runtime.

    python3 Tools/dev/bench/conv2.py [--batch 64] [--threads 1 2] [--seconds 3]

conv2 of the standard model: N x 256 x 20 x 20 -> N x 256 x 6 x 6, 9x9 kernel, stride 2, bias;
2 * 36 * 256 * (256 * 81) = 382.2 MFLOP per image, 96% of the model's FLOPs. PyTorch runs
F.conv2d (oneDNN), ONNX Runtime a one-node Conv graph (CPU EP, intra_op_num_threads = T), on the
same ReLU'd random input; the timing protocol is compare.py's. GFLOP/s per CPU-second divides
by the CPU time the process used (all threads; spinning pool threads count), which a busy machine
disturbs less than wall time. CapsKit's side of the comparison
is the GEMM benchmark (Tools/dev/Benchmarks, target GEMM) and the conv2 row of stages.py. Prints one
markdown table.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import measure  # noqa: E402

CHANNELS, SIZE, KERNEL, STRIDE = 256, 20, 9, 2
GRID = (SIZE - KERNEL) // STRIDE + 1
FLOPS_PER_IMAGE = 2 * GRID * GRID * CHANNELS * CHANNELS * KERNEL * KERNEL


def conv_model(path, weight, bias):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[KERNEL, KERNEL],
                            strides=[STRIDE, STRIDE])
    graph = helper.make_graph(
        [node], "conv2",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", CHANNELS, SIZE, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", CHANNELS, GRID, GRID])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    import torch.nn.functional as F

    generator = np.random.default_rng(0)
    x = np.maximum(generator.standard_normal((args.batch, CHANNELS, SIZE, SIZE), dtype=np.float32), 0)
    weight = (generator.standard_normal((CHANNELS, CHANNELS, KERNEL, KERNEL), dtype=np.float32) * 0.01)
    bias = generator.standard_normal(CHANNELS, dtype=np.float32)
    flops = FLOPS_PER_IMAGE * args.batch

    print("| engine | threads | batch | median ms | GFLOP/s (wall, median) | GFLOP/s per CPU-second |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "conv2.onnx")
        conv_model(path, weight, bias)
        for threads in args.threads:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            feed = {"x": x}
            onnx = measure(lambda: session.run(None, feed), args.seconds)

            torch.set_num_threads(threads)
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)
            with torch.inference_mode():
                eager = measure(lambda: F.conv2d(tx, tw, tb, stride=STRIDE), args.seconds)
            for engine, result in [(f"ONNX Runtime {ort.__version__}", onnx),
                                   (f"PyTorch {torch.__version__.split('+')[0]} F.conv2d", eager)]:
                print(f"| {engine} | {threads} | {args.batch} | {result['median'] * 1e3:.2f} | "
                      f"{flops / result['median'] / 1e9:.1f} | {flops * result['runs'] / result['cpu'] / 1e9:.1f} |")


if __name__ == "__main__":
    main()
