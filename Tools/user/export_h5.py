"""Export a PyTorch CapsNet checkpoint (.pth state_dict) to HDF5, one dataset per key at the root.

    python3 Tools/user/export_h5.py model.pth model.h5 [--key NAME] [--compression gzip] [--force]

Accepts a plain state_dict or one wrapped in a checkpoint dict, found by the same rules as
`capsconv import` (Tools/user/checkpoints.py: `model_state_dict`, `state_dict`, `model`, `net`, `module`
or any single dict of tensors; `--key NAME` picks one); a pickled nn.Module is refused (save
`model.state_dict()` instead). Strips a `module.` (DataParallel) prefix and renames the older
`reconstruct.*` decoder keys to `decoder.*`. Any configuration CapsKit reads is accepted (widths,
kernels, capsule sizes and the decoder, or none, come from the shapes). Tensors are written as
float32, except float16/float64 tensors, which keep their dtype.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402
import checkpoints  # noqa: E402
import h5atomic  # noqa: E402

KEPT_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def load_checkpoint(path, key=None, quiet=True):
    """Load a .pth file safely and return a flat {key: tensor} state_dict with normalised keys."""
    wrapper, sd = checkpoints.load(path, key)
    if wrapper and not quiet:
        print(f"state_dict taken from {wrapper!r}")
    return capsnet.normalise_keys(sd)


def to_numpy(t):
    if not t.is_floating_point():
        raise ValueError(f"tensor of dtype {t.dtype} is not a floating-point weight")
    t = t.detach().cpu().contiguous()
    dtype = KEPT_DTYPES.get(t.dtype)
    if dtype is None:  # bfloat16 and other float types: float32
        return t.to(torch.float32).numpy()
    return t.numpy().astype(dtype, copy=False)


def write_h5(sd, out_path, compression=None, force=False):
    """Write {key: tensor} to out_path atomically (temp file in the same folder, then rename)."""
    if os.path.exists(out_path) and not force:
        raise FileExistsError(f"{out_path} exists (use --force to overwrite)")
    arrays = {}
    for k, v in sd.items():
        try:
            arrays[k] = to_numpy(v)
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
    def fill(f):
        for k, a in arrays.items():
            if compression == "gzip":
                f.create_dataset(k, data=a, compression="gzip")
            else:
                f.create_dataset(k, data=a)

    h5atomic.write_h5_atomically(out_path, fill)
    return arrays


def export(in_path, out_path, compression=None, force=False, check=True, quiet=False, key=None):
    sd = load_checkpoint(in_path, key=key, quiet=quiet)
    if check:
        cfg = capsnet.infer_config({k: tuple(v.shape) for k, v in sd.items()})
        if not quiet:
            print(f"configuration: {cfg.as_dict()}")
    arrays = write_h5(sd, out_path, compression=compression, force=force)
    if not quiet:
        n = sum(a.size for a in arrays.values())
        print(f"wrote {out_path}: {len(arrays)} tensors, {n} parameters, "
              f"{os.path.getsize(out_path)} bytes" + (" (gzip)" if compression else ""))
    return arrays


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="PyTorch checkpoint (.pth)")
    ap.add_argument("output", help="HDF5 file to write")
    ap.add_argument("--compression", choices=["gzip"], default=None,
                    help="chunked + gzip datasets (default: contiguous, uncompressed)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    ap.add_argument("--key", metavar="NAME", help="the checkpoint entry holding the state_dict (a/b when nested)")
    ap.add_argument("--no-check", action="store_true",
                    help="do not check that the tensors form a CapsNet (write any float state_dict)")
    args = ap.parse_args()
    try:
        export(args.input, args.output, compression=args.compression, force=args.force, check=not args.no_check,
               key=args.key)
    except (FileExistsError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
