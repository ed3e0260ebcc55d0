"""Check that `capsconv import` of a model saved by torch.save gives the same tensors as from HDF5.

    python3 Tools/dev/check_pth_import.py [--model Fixtures/models/standard.h5] [--capsconv .build/release/capsconv]

In a temporary folder: loads the HDF5 state_dict into the reference CapsNet, saves its state_dict with
torch.save (ZIP with ZIP64 end records, as torch writes them) and rewrites that archive with ZIP64
extra fields and saturated 32-bit sizes (zipcraft.write_zip64, what a > 4 GiB file has). Then runs
`capsconv import` on the HDF5 file and on both archives and compares every dataset of the three
outputs bit for bit (uint32 views). Used for the standard model, whose .pth is not committed.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(TOOLS, "user"), os.path.join(TOOLS, "fixtures")]  # capsnet, zipcraft
import capsnet  # noqa: E402
import zipcraft  # noqa: E402


def datasets(path):
    import h5py

    with h5py.File(path, "r") as f:
        return {k: np.array(f[k]) for k in f.keys()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="Fixtures/models/standard.h5")
    ap.add_argument("--capsconv", default=".build/release/capsconv")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stem = os.path.splitext(os.path.basename(args.model))[0]
        pth = os.path.join(tmp, stem + ".pth")
        zip64 = os.path.join(tmp, stem + "_zip64.pth")
        model = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(args.model))
        torch.save(model.state_dict(), pth)
        zipcraft.write_zip64(zip64, zipcraft.read_entries(pth))
        outputs = {}
        for name, source in (("hdf5", args.model), ("pth", pth), ("zip64", zip64)):
            out = os.path.join(tmp, name + ".caps.h5")
            run = subprocess.run([args.capsconv, "import", source, "-o", out], capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"capsconv import {source} failed: {run.stderr.strip()}")
            outputs[name] = datasets(out)
        reference = outputs["hdf5"]
        for name in ("pth", "zip64"):
            assert outputs[name].keys() == reference.keys(), name
            for key, array in reference.items():
                other = outputs[name][key]
                assert other.shape == array.shape and other.dtype == array.dtype == np.float32, (name, key)
                assert np.array_equal(other.view(np.uint32), array.view(np.uint32)), (name, key)
        count = sum(a.size for a in reference.values())
        print(f"{args.model}: {len(reference)} tensors, {count} values; torch.save archive "
              f"({os.path.getsize(pth)} bytes) and ZIP64 rewrite ({os.path.getsize(zip64)} bytes) import "
              f"bit-identical to the HDF5 import")


if __name__ == "__main__":
    main()
