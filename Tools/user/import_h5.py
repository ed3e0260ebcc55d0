"""Read an HDF5 CapsNet state_dict back into a PyTorch .pth (round-trip check of export_h5.py).

    python3 Tools/user/import_h5.py model.h5 model.pth [--compare original.pth] [--force]

Datasets may sit at the root or inside one group; attributes are ignored. The configuration is
inferred from the shapes and checked with CapsNet(config).load_state_dict(sd, strict=True).
The saved state_dict keeps each dataset's dtype. With --compare, every tensor is compared
bit-exactly with the (exported) original checkpoint.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402


def import_h5(path):
    sd = capsnet.load_h5_state_dict(path)
    model = capsnet.model_from_state_dict(sd)  # strict load, raises on any mismatch
    return sd, model.config


def compare(sd, reference):
    """Bit-exact comparison (after the exporter's dtype rule). Returns a list of problems."""
    import export_h5

    problems = []
    if set(sd) != set(reference):
        problems.append(f"keys differ: only in h5 {sorted(set(sd) - set(reference))}, "
                        f"only in pth {sorted(set(reference) - set(sd))}")
    for k in sorted(set(sd) & set(reference)):
        want = torch.from_numpy(export_h5.to_numpy(reference[k]))
        got = sd[k]
        if got.dtype != want.dtype or got.shape != want.shape:
            problems.append(f"{k}: {got.dtype}{list(got.shape)} vs {want.dtype}{list(want.shape)}")
        elif got.numpy().tobytes() != want.numpy().tobytes():
            problems.append(f"{k}: values differ")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="HDF5 state_dict")
    ap.add_argument("output", help=".pth to write")
    ap.add_argument("--compare", metavar="PTH", help="original checkpoint to compare bit-exactly")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if os.path.exists(args.output) and not args.force:
        sys.exit(f"error: {args.output} exists (use --force to overwrite)")
    try:
        sd, cfg = import_h5(args.input)
    except (ValueError, RuntimeError, OSError, KeyError) as e:
        sys.exit(f"error: {args.input}: {e}")
    print(f"{args.input}: {len(sd)} tensors, configuration {cfg.as_dict()}; strict load OK")
    torch.save(sd, args.output)
    print(f"wrote {args.output}")
    if args.compare:
        import export_h5

        problems = compare(sd, export_h5.load_checkpoint(args.compare))
        if problems:
            for p in problems:
                print("MISMATCH", p)
            sys.exit(1)
        print(f"bit-exact match with {args.compare}")


if __name__ == "__main__":
    main()
