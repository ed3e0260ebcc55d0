"""Export a PyTorch CapsNet checkpoint (.pth state_dict) to HDF5, one dataset per key at the root.

    python3 Tools/export_h5.py model.pth model.h5 [--compression gzip] [--force]

Accepts a plain state_dict or one wrapped as {"state_dict": ...} or {"model": ...}; strips a
`module.` (DataParallel) prefix and renames the older `reconstruct.*` decoder keys to `decoder.*`.
Tensors are written as float32, except float16/float64 tensors, which keep their dtype.
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402

KEPT_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def load_checkpoint(path):
    """Load a .pth file safely and return a flat {key: tensor} state_dict with normalised keys."""
    obj = torch.load(path, weights_only=True, map_location="cpu")
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in obj and isinstance(obj[wrapper], dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path}: not a state_dict (got {type(obj).__name__})")
    for k, v in obj.items():
        if not isinstance(k, str) or not torch.is_tensor(v):
            raise ValueError(f"{path}: entry {k!r} is not a named tensor")
    return capsnet.normalise_keys(obj)


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
    import h5py

    if os.path.exists(out_path) and not force:
        raise FileExistsError(f"{out_path} exists (use --force to overwrite)")
    arrays = {}
    for k, v in sd.items():
        try:
            arrays[k] = to_numpy(v)
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(out_path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for k, a in arrays.items():
                if compression == "gzip":
                    f.create_dataset(k, data=a, compression="gzip")
                else:
                    f.create_dataset(k, data=a)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return arrays


def export(in_path, out_path, compression=None, force=False, check=True, quiet=False):
    sd = load_checkpoint(in_path)
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
    ap.add_argument("--no-check", action="store_true",
                    help="do not check that the tensors form a CapsNet (write any float state_dict)")
    args = ap.parse_args()
    try:
        export(args.input, args.output, compression=args.compression, force=args.force, check=not args.no_check)
    except (FileExistsError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
