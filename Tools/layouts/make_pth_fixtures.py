"""Write the `.pth` fixtures of Fixtures/pth/ (see Fixtures/pth/README.md) and check them with torch.

    python3 Tools/layouts/make_pth_fixtures.py [--out Fixtures/pth] [--only-small]

Everything is made by torch.save itself, except the archives that must be malformed, which are
rewritten from torch's output with Tools/layouts/zipcraft.py. The hostile pickles are written by
torch.save from objects whose __reduce__ names os.system / builtins.eval: loading them with plain
pickle would run the command; torch.load(weights_only=True) and CapsKit refuse them.
"""

import argparse
import collections
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import capsnet  # noqa: E402
import zipcraft  # noqa: E402

# What the hostile payloads would do if anything executed them; the tests check it never appears.
SENTINEL = "/tmp/capskit-hostile-pickle-ran"


class SystemCall:
    def __reduce__(self):
        return (os.system, (f"touch {SENTINEL}",))


class EvalCall:
    def __reduce__(self):
        return (eval, (f"open({SENTINEL!r}, 'w').close()",))


def tiny_state_dict(seed=0):
    """A reference-layout CapsNet without decoder: conv1 8@9x9, 2 primary types x 8D, 4 outputs x 4D."""
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    sd["conv1.weight"] = torch.randn(8, 1, 9, 9, generator=g) * 0.1
    sd["conv1.bias"] = torch.randn(8, generator=g) * 0.1
    sd["conv2.weight"] = torch.randn(16, 8, 9, 9, generator=g) * 0.05
    sd["conv2.bias"] = torch.randn(16, generator=g) * 0.1
    sd["digit_capsules.weight"] = torch.randn(72, 4, 8, 4, generator=g)
    return sd


def write_h5(sd, path):
    import h5py

    with h5py.File(path, "w") as f:
        for k, v in sd.items():
            f.create_dataset(k, data=v.numpy())


def dtype_tensors():
    """Values exactly representable in float16, bfloat16, float32 and float64: i/8 - 2."""
    base = torch.arange(32, dtype=torch.float64).reshape(4, 8) / 8 - 2
    out = collections.OrderedDict()
    out["float32"] = base.to(torch.float32)
    out["float64"] = base.clone()
    out["float16"] = base.to(torch.float16)
    out["bfloat16"] = base.to(torch.bfloat16)
    # Non-contiguous views: the whole storage is saved, with offset and strides.
    grid = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    out["transposed"] = grid.t()  # [6, 4], strides (1, 6): value [i, j] = j * 6 + i
    out["offset_view"] = torch.arange(100, dtype=torch.float32)[10:34].view(4, 6)  # value 10 + 6i + j
    out["every_other"] = torch.arange(40, dtype=torch.float32).reshape(5, 8)[::2, 1::3]  # [3, 3]
    out["expanded"] = torch.tensor([1.0, 2.0, 3.0]).expand(2, 3)  # stride (0, 1)
    out["half_special"] = torch.tensor(
        [2.0 ** -24, -(2.0 ** -14), 65504.0, -0.0, float("inf"), 0.1], dtype=torch.float16)
    out["bfloat16_special"] = torch.tensor([1e-40, -3.0e38, 0.1, -0.0], dtype=torch.bfloat16)
    out["int64"] = torch.arange(3, dtype=torch.int64)
    return out


def write_small(models, out):
    """Fixtures/pth/small.pth from Fixtures/models/small.h5: rerun whenever that model changes."""
    source = os.path.join(models, "small.h5")
    target = os.path.join(out, "small.pth")
    small = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(source))
    torch.save(small.state_dict(), target)
    back = torch.load(target, weights_only=True)
    for k, v in capsnet.load_h5_state_dict(source).items():
        assert torch.equal(back[k].view(torch.int32), v.view(torch.int32)), k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="Fixtures/pth")
    ap.add_argument("--models", default="Fixtures/models")
    ap.add_argument("--only-small", action="store_true",
                    help="rewrite only small.pth (after Fixtures/models/small.h5 changed)")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)

    def p(name):
        return os.path.join(out, name)

    # 1. The small Fixtures model as torch.save writes a state_dict (with its _metadata).
    write_small(args.models, out)
    if args.only_small:
        return

    # 2. The tiny model: plain in HDF5, wrapped and DataParallel-prefixed in .pth, and as ZIP64.
    tiny = tiny_state_dict()
    write_h5(tiny, p("tiny.h5"))
    wrapped = {"epoch": 3, "state_dict": collections.OrderedDict(("module." + k, v) for k, v in tiny.items())}
    torch.save(wrapped, p("tiny.pth"))
    zipcraft.write_zip64(p("tiny_zip64.pth"), zipcraft.read_entries(p("tiny.pth")))
    for name in ("tiny.pth", "tiny_zip64.pth"):
        loaded = torch.load(p(name), weights_only=True)["state_dict"]
        for k, v in tiny.items():
            assert torch.equal(loaded["module." + k], v), (name, k)

    # Whole models in half precision (float16 has an HDF5 twin; bfloat16 has no HDF5 type).
    half = collections.OrderedDict((k, v.to(torch.float16)) for k, v in tiny.items())
    torch.save(half, p("tiny_float16.pth"))
    write_h5(half, p("tiny_float16.h5"))
    torch.save(collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in tiny.items()), p("tiny_bfloat16.pth"))

    # 3. Element types and strided views.
    torch.save(dtype_tensors(), p("dtypes.pth"))
    loaded = torch.load(p("dtypes.pth"), weights_only=True)
    assert not loaded["transposed"].is_contiguous() and loaded["offset_view"].storage_offset() == 10

    # 4. Hostile pickles, written by torch.save itself; weights_only loading refuses them too.
    torch.save(SystemCall(), p("hostile_system.pth"))
    torch.save(EvalCall(), p("hostile_eval.pth"), pickle_protocol=4)
    nested = collections.OrderedDict(tiny)
    nested["conv2.bias"] = SystemCall()
    torch.save(nested, p("hostile_nested.pth"))
    torch.save(SystemCall(), p("hostile_legacy.pth"), _use_new_zipfile_serialization=False)
    for name in ("hostile_system.pth", "hostile_eval.pth", "hostile_nested.pth", "hostile_legacy.pth"):
        try:
            torch.load(p(name), weights_only=True)
            raise AssertionError(f"{name} loaded")
        except Exception as e:  # noqa: BLE001  (torch raises UnpicklingError)
            assert "weights_only" in str(e) or "Unsupported" in str(e), e
    assert not os.path.exists(SENTINEL)

    # 5. Malformed archives, rewritten from tiny.pth.
    entries = zipcraft.read_entries(p("tiny.pth"))
    zipcraft.write_stored(p("traversal.pth"), entries + [("../escaped.txt", b"outside")])
    import zipfile

    zipcraft.write_stored(p("deflated.pth"), entries, compress=zipfile.ZIP_DEFLATED)
    zipcraft.write_stored(p("lying_size.pth"), entries)
    zipcraft.patch_central_size(p("lying_size.pth"), "tiny/data/4", 0x7FFF0000)

    # The pickle promises 649 elements for storage 0 (conv1.weight, 648 floats): its entry is too short.
    pkl = dict(entries)["tiny/data.pkl"]
    assert pkl.count(b"q\nM\x88\x02t") == 1
    zipcraft.write_stored(p("size_mismatch.pth"), [
        (n, pkl.replace(b"q\nM\x88\x02t", b"q\nM\x89\x02t") if n == "tiny/data.pkl" else d) for n, d in entries])

    # 6. The pre-1.6 format (read by CapsKit too).
    torch.save(tiny, p("legacy.pth"), _use_new_zipfile_serialization=False)
    assert all(torch.equal(torch.load(p("legacy.pth"), weights_only=True)[k], v) for k, v in tiny.items())

    for name in sorted(os.listdir(out)):
        print(f"{name:24} {os.path.getsize(p(name)):>10} bytes")


if __name__ == "__main__":
    main()
