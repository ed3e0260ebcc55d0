"""Write PyTorch reference activations of a labml-style CapsNet for held-out MNIST digits.

    python3 Tools/make_activations.py --model Fixtures/models/standard.h5 --out ACT.h5 [--count 16] [--first 8000]
        [--mnist DIR] [--key NAME]

This runs the weights in the project's own PyTorch module (Tools/capsnet.py, labml's reference
architecture, any widths, with or without a decoder), which records every stage. It proves CapsKit
equals labml's architecture, NOT that it equals your model: for that, record from your own module
with Tools/record_activations.py.

--model takes an HDF5 state_dict or a torch.save checkpoint (.pth; the state_dict is found as by
`capsconv import`, `--key` picks it). Digits: MNIST test indices first..<first+count from --mnist DIR
(default: a shared/datasets/mnist folder beside the repository); when that folder does not exist, the
held-out digits shipped in Fixtures/digits are used instead (no download).

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

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402
import checkpoints  # noqa: E402
import mnist  # noqa: E402
import record_activations  # noqa: E402

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


def load_state_dict(path, key=None):
    """An HDF5 state_dict or a torch.save checkpoint, with the file named in every error."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        try:
            return capsnet.load_h5_state_dict(path)
        except (OSError, KeyError) as e:
            raise ValueError(f"{path}: cannot read it as an HDF5 state_dict ({e})") from None
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return capsnet.normalise_keys(checkpoints.load(path, key)[1])
    raise ValueError(f"{path}: neither an HDF5 state_dict nor a torch.save checkpoint (first bytes {head!r})")


def load_digits(mnist_dir, first, count, quiet=False):
    """(indices, labels, pixels): MNIST from mnist_dir when it exists, else the repository's digits."""
    if mnist_dir is None or os.path.isdir(mnist_dir) or mnist_dir != mnist.DEFAULT_MNIST_DIR:
        try:
            images, labels = mnist.load(mnist_dir)
        except FileNotFoundError as e:
            raise ValueError(f"MNIST not found: {e.filename} (--mnist DIR names the folder with "
                             f"{mnist.IMAGES_FILE} and {mnist.LABELS_FILE})") from None
        if first < 0 or count < 1 or first + count > len(images):
            raise ValueError(f"indices {first}..<{first + count} out of range")
        if first < mnist.HELDOUT_RANGE.start and not quiet:
            print("warning: some digits are from the training range 0..<8000", file=sys.stderr)
        idx = np.arange(first, first + count, dtype=np.int64)
        return idx, labels[idx].astype(np.int64), images[idx]
    if not quiet:
        print(f"{mnist_dir} not found: using the held-out digits shipped in Fixtures/digits "
              "(--mnist DIR for MNIST)", file=sys.stderr)
    pixels, labels, idx = record_activations.repo_digits(count)
    return idx, labels, pixels


def write_activations(model_path, out_path, count=16, first=8000, mnist_dir=None, force=True, quiet=False,
                      key=None):
    if os.path.exists(out_path) and not force:
        raise FileExistsError(f"{out_path} exists (use --force to overwrite)")
    try:
        model = capsnet.model_from_state_dict(load_state_dict(model_path, key))
    except ValueError as e:
        text = str(e)
        raise ValueError(text if text.startswith(model_path) else f"{model_path}: {text}") from None
    idx, labels, pixels = load_digits(mnist_dir, first, count, quiet)
    count = len(idx)
    data = {"indices": idx, "labels": labels, "pixels": pixels}
    data.update(compute(model, pixels))
    if not np.array_equal(data["lengths"].argmax(1), data["prediction"]):
        raise AssertionError("argmax of lengths differs from prediction")

    record_activations.write_activation_file(
        out_path, {k: data[k] for k in ORDER if k in data},  # no reconstruction without a decoder
        model.config.iterations, os.path.basename(model_path), compression_opts=9)
    if not quiet:
        acc = float((data["prediction"] == data["labels"]).mean())
        print(f"wrote {out_path}: {count} digits (MNIST indices {data['indices'][:6].tolist()}...), "
              f"{os.path.getsize(out_path)} bytes, predictions {data['prediction'].tolist()}, "
              f"labels {data['labels'].tolist()} ({acc:.3f} correct)")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True,
                    help="HDF5 state_dict (e.g. Fixtures/models/standard.h5) or torch.save checkpoint")
    ap.add_argument("--key", metavar="NAME", help="checkpoint entry holding the state_dict")
    ap.add_argument("--out", required=True, help="activations HDF5 to write")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--first", type=int, default=mnist.HELDOUT_RANGE.start)
    ap.add_argument("--force", action="store_true", help="overwrite an existing output")
    ap.add_argument("--threads", type=int, default=2)
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        write_activations(args.model, args.out, args.count, args.first, args.mnist, force=args.force,
                          key=args.key)
    except (FileExistsError, ValueError, OSError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
