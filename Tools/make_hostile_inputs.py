"""Hostile inputs of issue 12's memory, budget and number classes, for Tools/hostile_memory.sh.

    python3 Tools/make_hostile_inputs.py [--out Tools/work/hostile]
    python3 Tools/make_hostile_inputs.py --fuzz-seeds DIR    (only small pickle bombs, for FuzzPth)

Every file is small on disk (a few KB to 16 MB); what makes it hostile is what it declares. Needs
h5py and numpy; the stride-0 .pth needs torch. Writes (OUT/):

  input_size_2p40.h5, input_size_int64min.h5   tiny model whose input_size metadata overflows
  reference_100k.h5                            reference activations claiming 100,000 images
  kernel1_input8192.h5                         1x1 kernels, input_size 8192 (14.5 GB plan)
  gramai_extra.h5                              gram-ai checkpoint + a never-written 2^28 extra
  keras_extra.h5                               Keras weights + a never-written 2^28 dense layer
  gramai_stride0.pth                           gram-ai .pth + one float viewed as 2^28 (stride 0)
  bomb_tuple1.pth, bomb_empty_list.pth, bomb_codecs.pth, bomb_ordereddict.pth, bomb_setitem.pth
                                               pickle bombs (4 MB TUPLE1, 16 MB EMPTY_LIST, ...)
  std_1e-300.h5, mean_1e300.h5                 tiny model, normalisation not finite in Float
  weights_1e30.h5                              tiny model, every weight 1e30
  classes_5000.h5                              plain state_dict with 5,000 output capsules
  sparse_tail.h5                               tiny model followed by an 8 GiB sparse tail
"""

import argparse
import os
import shutil
import struct
import zipfile

try:
    import h5py
    import numpy as np
except ImportError:  # --fuzz-seeds needs neither
    h5py = np = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "Fixtures", "pth", "tiny.h5")
KERAS = os.path.join(ROOT, "Fixtures", "layouts", "keras_weights.h5")


def tiny_model(path, attrs=None, value=None):
    with h5py.File(TINY, "r") as src, h5py.File(path, "w") as f:
        for key in src:
            data = src[key][()]
            f[key] = np.full_like(data, value) if value is not None else data
        if attrs:
            f.attrs["capskit_format_version"] = np.int64(1)
            for name, v in attrs.items():
                f.attrs[name] = v


def gram_ai(path, extra=True):
    with h5py.File(path, "w") as f:
        f["conv1.weight"] = np.full((2, 1, 3, 3), 0.1, np.float32)
        f["conv1.bias"] = np.zeros(2, np.float32)
        for d in range(2):
            f[f"primary_capsules.capsules.{d}.weight"] = np.full((2, 2, 3, 3), 0.1, np.float32)
            f[f"primary_capsules.capsules.{d}.bias"] = np.zeros(2, np.float32)
        f["digit_capsules.route_weights"] = np.full((3, 288, 2, 2), 0.1, np.float32)
        if extra:
            f.create_dataset("extra.weight", shape=(16384, 16384), dtype="f4")  # never written


def stored_zip(path, stem, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(f"{stem}/{name}", data)


def pickle_bomb(path, body):
    stored_zip(path, "bomb", {"data.pkl": bytes([0x80, 2]) + body + b".", "byteorder": b"little"})


def u32(value):
    return struct.pack("<I", value)


def fuzz_seeds(out):
    """Each bomb at a size libFuzzer's -max_len takes, as a ZIP and as a bare pickle (the legacy
    stream's first pickle): the mutations explore the unpickler's budgets from there."""
    os.makedirs(out, exist_ok=True)
    key = 40_000
    bodies = {
        "tuple1": b")" + b"\x85" * 150_000,
        "empty_list": b"]" * 150_000,
        "codecs": b"X" + u32(key) + b"a" * key + b"q\x000" + b"c_codecs\nencode\nh\x00\x8c\x06latin1\x86R0" * 4000 + b"N",
        "ordereddict": b"]q\x00(" + b"".join(b"J" + u32(k) + b"N\x86" for k in range(10_000)) + b"e"
        + b"ccollections\nOrderedDict\nh\x00\x85R0" * 2000,
        "setitem": b"}X" + u32(key) + b"a" * key + b"q\x000" + b"h\x00Ns" * 30_000,
    }
    for name, body in bodies.items():
        pickle_bomb(os.path.join(out, f"seed_bomb_{name}.pth"), body)
        with open(os.path.join(out, f"seed_bomb_{name}.pkl"), "wb") as f:
            f.write(bytes([0x80, 2]) + body + b".")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "Tools", "work", "hostile"))
    ap.add_argument("--fuzz-seeds", metavar="DIR", help="write only small pickle bombs (under 200 KB) to DIR")
    args = ap.parse_args()
    if args.fuzz_seeds:
        fuzz_seeds(args.fuzz_seeds)
        return
    out = args.out
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)

    tiny_model(p("input_size_2p40.h5"), {"input_size": np.int64(1 << 40)})
    tiny_model(p("input_size_int64min.h5"), {"input_size": np.int64(-(1 << 63))})
    tiny_model(p("std_1e-300.h5"), {"input_std": 1e-300})
    tiny_model(p("mean_1e300.h5"), {"input_mean": 1e300})
    tiny_model(p("weights_1e30.h5"), value=1e30)

    with h5py.File(p("reference_100k.h5"), "w") as f:
        f.attrs["format"] = "capskit-activations"
        f.attrs["routing_iterations"] = np.int64(3)
        f.create_dataset("pixels", shape=(100_000, 1, 28, 28), dtype="u1", chunks=(1000, 1, 28, 28),
                         compression="gzip")
        f.create_dataset("prediction", shape=(100_000,), dtype="i8", chunks=(10_000,), compression="gzip")
        f["pixels"][...] = 0  # 78 MB of zeros, stored in about 100 KB
        f["prediction"][...] = 0

    with h5py.File(p("kernel1_input8192.h5"), "w") as f:
        f["conv1.weight"] = np.full((8, 1, 1, 1), 0.5, np.float32)
        f["conv1.bias"] = np.zeros(8, np.float32)
        f["conv2.weight"] = np.full((8, 8, 1, 1), 0.5, np.float32)
        f["conv2.bias"] = np.zeros(8, np.float32)
        f["digit_capsules.weight"] = np.full((1, 2, 8, 4), 0.5, np.float32)
        f.attrs["capskit_format_version"] = np.int64(1)
        f.attrs["input_size"] = np.int64(8192)
        f.attrs["primary_stride"] = np.int64(8192)

    gram_ai(p("gramai_extra.h5"))

    shutil.copyfile(KERAS, p("keras_extra.h5"))
    with h5py.File(p("keras_extra.h5"), "a") as f:
        group = f.create_group("dense_extra")
        group.create_dataset("dense_extra/kernel:0", shape=(16384, 16384), dtype="f4")  # never written
        group.create_dataset("dense_extra/bias:0", shape=(16384,), dtype="f4")
        group.attrs["weight_names"] = [b"dense_extra/kernel:0", b"dense_extra/bias:0"]
        f.attrs["layer_names"] = list(f.attrs["layer_names"]) + [b"dense_extra"]

    try:
        import torch

        state = {
            "conv1.weight": torch.full((2, 1, 3, 3), 0.1), "conv1.bias": torch.zeros(2),
            "digit_capsules.route_weights": torch.full((3, 288, 2, 2), 0.1),
            "extra.weight": torch.zeros(1).expand(16384, 16384),
        }
        for d in range(2):
            state[f"primary_capsules.capsules.{d}.weight"] = torch.full((2, 2, 3, 3), 0.1)
            state[f"primary_capsules.capsules.{d}.bias"] = torch.zeros(2)
        torch.save(state, p("gramai_stride0.pth"))
    except ImportError:
        print("torch not installed: gramai_stride0.pth skipped")

    pickle_bomb(p("bomb_tuple1.pth"), b")" + b"\x85" * (4 << 20))
    pickle_bomb(p("bomb_empty_list.pth"), b"]" * (16 << 20))
    big = 8 << 20
    body = b"X" + u32(big) + b"a" * big + b"q\x000"
    body += (b"c_codecs\nencode\nh\x00\x8c\x06latin1\x86R0") * 400
    pickle_bomb(p("bomb_codecs.pth"), body + b"N")
    body = b"]q\x00(" + b"".join(b"J" + u32(k) + b"N\x86" for k in range(200_000)) + b"e"
    body += (b"ccollections\nOrderedDict\nh\x00\x85R0") * 2000
    pickle_bomb(p("bomb_ordereddict.pth"), body)
    body = b"}X" + u32(big) + b"a" * big + b"q\x000" + b"h\x00Ns" * 400_000
    pickle_bomb(p("bomb_setitem.pth"), body)

    with h5py.File(p("classes_5000.h5"), "w") as f:
        f["conv1.weight"] = np.full((2, 1, 3, 3), 0.5, np.float32)
        f["conv1.bias"] = np.zeros(2, np.float32)
        f["conv2.weight"] = np.full((4, 2, 3, 3), 0.5, np.float32)
        f["conv2.bias"] = np.zeros(4, np.float32)
        f["digit_capsules.weight"] = np.full((288, 5000, 2, 2), 0.01, np.float32)

    tiny_model(p("sparse_tail.h5"))
    with open(p("sparse_tail.h5"), "r+b") as f:
        f.truncate(8 << 30)

    for name in sorted(os.listdir(out)):
        print(f"{name:28s} {os.path.getsize(p(name)):>12,d} bytes (apparent)")


if __name__ == "__main__":
    main()
