"""Write PyTorch reference activations of a CapsNet (HDF5 state_dict) for held-out MNIST digits.

    python3 Tools/make_activations.py --model Fixtures/models/standard.h5 --out ACT.h5 [--count 16] [--first 8000]

Output (every dataset gzip-compressed), N = count, R = routing iterations:
  root attributes: format="capskit-activations", format_version=1, routing_iterations=3, count=N,
                   model=<model file name>
  indices int64 [N], labels int64 [N], pixels uint8 [N,28,28],
  input float32 [N,1,28,28] (normalised), conv1 [N,C1,20,20] (after ReLU), conv2 [N,C2,6,6],
  primary [N,I,D] (after squash), u_hat [N,I,J,M], coupling [R,N,I,J] (c used in iteration r),
  digit_caps [N,J,M], lengths [N,J], prediction int64 [N], reconstruction float32 [N,28,28]
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402
import mnist  # noqa: E402

FORMAT = "capskit-activations"
FORMAT_VERSION = 1
ORDER = ["indices", "labels", "pixels", "input", "conv1", "conv2", "primary", "u_hat", "coupling",
         "digit_caps", "lengths", "prediction", "reconstruction"]


def compute(model, pixels):
    st = model.stages(capsnet.preprocess(pixels))
    out = {}
    for k, v in st.items():
        a = v.numpy()
        out[k] = a.astype(np.int64) if k == "prediction" else a.astype(np.float32)
    return out


def write_activations(model_path, out_path, count=16, first=8000, mnist_dir=None, force=True, quiet=False):
    import h5py

    if os.path.exists(out_path) and not force:
        raise FileExistsError(f"{out_path} exists (use --force to overwrite)")
    model = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(model_path))
    images, labels = mnist.load(mnist_dir)
    if first < 0 or count < 1 or first + count > len(images):
        raise ValueError(f"indices {first}..<{first + count} out of range")
    if first < mnist.HELDOUT_RANGE.start and not quiet:
        print("warning: some digits are from the training range 0..<8000", file=sys.stderr)
    idx = np.arange(first, first + count, dtype=np.int64)
    data = {"indices": idx, "labels": labels[idx].astype(np.int64), "pixels": images[idx]}
    data.update(compute(model, images[idx]))
    if not np.array_equal(data["lengths"].argmax(1), data["prediction"]):
        raise AssertionError("argmax of lengths differs from prediction")

    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(out_path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            f.attrs["routing_iterations"] = np.int64(model.config.iterations)
            f.attrs["count"] = np.int64(count)
            f.attrs["model"] = os.path.basename(model_path)
            for k in ORDER:
                f.create_dataset(k, data=data[k], compression="gzip", compression_opts=9)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if not quiet:
        acc = float((data["prediction"] == data["labels"]).mean())
        print(f"wrote {out_path}: {count} digits {first}..{first + count - 1}, "
              f"{os.path.getsize(out_path)} bytes, predictions {data['prediction'].tolist()}, "
              f"labels {data['labels'].tolist()} ({acc:.3f} correct)")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HDF5 state_dict (e.g. Fixtures/models/standard.h5)")
    ap.add_argument("--out", required=True, help="activations HDF5 to write")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--first", type=int, default=mnist.HELDOUT_RANGE.start)
    ap.add_argument("--force", action="store_true", help="overwrite an existing output")
    ap.add_argument("--threads", type=int, default=2)
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        write_activations(args.model, args.out, args.count, args.first, args.mnist, force=args.force)
    except (FileExistsError, ValueError, OSError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
