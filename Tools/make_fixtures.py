"""Regenerate everything in Fixtures/ from scratch.

    python3 Tools/make_fixtures.py [--mnist DIR] [--no-verify]

Models: Tools/work/standard.pth and Tools/work/small.pth (from train.py) if present, otherwise the
committed Fixtures/models/{standard,small}.h5. Training figures come from Tools/work/*.json if
present, otherwise from the committed Fixtures/models/training.json.
"""

import argparse
import csv
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import capsnet  # noqa: E402
import export_h5  # noqa: E402
import import_h5  # noqa: E402
import make_activations  # noqa: E402
import mnist  # noqa: E402
import pngwriter  # noqa: E402

REPO = os.path.dirname(TOOLS)
FIX = os.path.join(REPO, "Fixtures")
WORK = os.path.join(TOOLS, "work")
MODELS = ("standard", "small")
MODEL_COMPRESSION = {"standard": None, "small": "gzip"}
ACTIVATION_COUNT = 16
DIGITS_PER_CLASS = 10

# (encoding, count); the digits (class-interleaved) are dealt out in this order.
# Encoding names: colour model + bit depth, "_adam7" = interlaced, "_inv" = dark on light,
# "_x2"/"_x3" = nearest-neighbour enlargement to 56x56 / 84x84.
PLAN = [
    ("gray8", 38), ("gray16", 6), ("rgb8", 5), ("rgb16", 4), ("rgba8", 4), ("rgba16", 2),
    ("graya8", 4), ("graya16", 2), ("palette8", 2), ("palette8_sparse", 2), ("palette8_trns", 2),
    ("gray8_adam7", 4), ("rgb8_adam7", 3), ("gray16_adam7", 1), ("gray1", 3), ("gray2", 2),
    ("gray4", 3), ("gray1_adam7", 1), ("gray4_adam7", 1), ("gray8_inv", 4), ("rgb8_inv", 1),
    ("gray8_x2", 3), ("gray8_x3", 3),
]

CSV_COLUMNS = (["file", "mnist_index", "label", "encoding", "width", "height", "interlaced", "polarity",
                "preprocess", "standard_prediction"] + [f"standard_length_{j}" for j in range(10)]
               + ["small_prediction"] + [f"small_length_{j}" for j in range(10)])


def rel(path):
    return os.path.relpath(path, REPO)


# ----------------------------------------------------------------------------------------- models

def prepare_models(work=WORK):
    """Write Fixtures/models/*.h5 from Tools/work/*.pth when present. Returns {name: h5 path}."""
    out_dir = os.path.join(FIX, "models")
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    figures_path = os.path.join(out_dir, "training.json")
    figures = {}
    if os.path.exists(figures_path):
        with open(figures_path) as f:
            figures = json.load(f)
    for name in MODELS:
        pth = os.path.join(work, name + ".pth")
        h5 = os.path.join(out_dir, name + ".h5")
        if os.path.exists(pth):
            export_h5.export(pth, h5, compression=MODEL_COMPRESSION[name], force=True, quiet=True)
            problems = import_h5.compare(capsnet.load_h5_state_dict(h5), export_h5.load_checkpoint(pth))
            if problems:
                raise AssertionError(f"{h5}: round trip mismatch {problems}")
            print(f"exported {rel(pth)} -> {rel(h5)} ({os.path.getsize(h5)} bytes), bit-exact round trip")
            js = os.path.join(work, name + ".json")
            if os.path.exists(js):
                with open(js) as f:
                    figures[name] = json.load(f)
        elif os.path.exists(h5):
            print(f"using committed {rel(h5)} ({rel(pth)} not found)")
        else:
            raise SystemExit(f"neither {rel(pth)} nor {rel(h5)} exists: run Tools/train.py first")
        paths[name] = h5
    with open(figures_path, "w") as f:
        json.dump(figures, f, indent=1)
        f.write("\n")
    return paths, figures


# ----------------------------------------------------------------------------------------- digits

def select_digits(labels):
    """First DIGITS_PER_CLASS held-out indices of each class, class-interleaved."""
    ho = np.arange(mnist.HELDOUT_RANGE.start, mnist.HELDOUT_RANGE.stop)
    per_class = [ho[labels[ho] == c][:DIGITS_PER_CLASS] for c in range(10)]
    return [int(per_class[c][k]) for k in range(DIGITS_PER_CLASS) for c in range(10)]


def intended_pixels(v, encoding):
    """The 28x28 light-on-dark uint8 image a correct decoder should produce (after quantisation)."""
    base = encoding.split("_")[0]
    if base == "gray1":
        return np.where(v >= 128, 255, 0).astype(np.uint8)
    if base == "gray2":
        return ((v >> 6) * 85).astype(np.uint8)
    if base == "gray4":
        return ((v >> 4) * 17).astype(np.uint8)
    return v.copy()


def encode_digit(v, encoding, serial):
    """Return (png bytes, width, height, interlaced, polarity, preprocess)."""
    parts = encoding.split("_")
    base = parts[0]
    interlace = "adam7" in parts
    polarity = "dark_on_light" if "inv" in parts else "light_on_dark"
    preprocess = "any"
    stored = 255 - v if polarity == "dark_on_light" else v.copy()
    for p in parts:
        if p in ("x2", "x3"):
            k = int(p[1])
            stored = np.kron(stored, np.ones((k, k), dtype=np.uint8))
            preprocess = "scale"
    h, w = stored.shape
    # Vary the encoder: every third file cycles through the five filter types row by row, every
    # fourth splits IDAT into 100-byte chunks.
    kw = {"filter_mode": "cycle" if serial % 3 == 1 else "adaptive",
          "idat_chunk_size": 100 if serial % 4 == 2 else None, "interlace": interlace}
    s16 = stored.astype(np.uint16) * 257
    full = np.full(stored.shape, 255, dtype=np.uint8)
    if base == "gray8":
        data = pngwriter.encode_png(stored, color_type=0, bit_depth=8, **kw)
    elif base == "gray16":
        data = pngwriter.encode_png(s16, color_type=0, bit_depth=16, **kw)
    elif base == "rgb8":
        data = pngwriter.encode_png(np.stack([stored] * 3, -1), color_type=2, bit_depth=8, **kw)
    elif base == "rgb16":
        data = pngwriter.encode_png(np.stack([s16] * 3, -1), color_type=2, bit_depth=16, **kw)
    elif base == "rgba8":
        data = pngwriter.encode_png(np.stack([stored] * 3 + [full], -1), color_type=6, bit_depth=8, **kw)
    elif base == "rgba16":
        data = pngwriter.encode_png(np.stack([s16] * 3 + [full.astype(np.uint16) * 257], -1),
                                    color_type=6, bit_depth=16, **kw)
    elif base == "graya8":
        data = pngwriter.encode_png(np.stack([stored, full], -1), color_type=4, bit_depth=8, **kw)
    elif base == "graya16":
        data = pngwriter.encode_png(np.stack([s16, full.astype(np.uint16) * 257], -1),
                                    color_type=4, bit_depth=16, **kw)
    elif base == "palette8":
        if "sparse" in parts or "trns" in parts:
            # palette of only the gray levels used, in a shuffled order (index != gray value)
            values = np.unique(stored)
            order = np.random.default_rng(serial).permutation(len(values))
            values = values[order]
            lut = np.zeros(256, dtype=np.int64)
            lut[values] = np.arange(len(values))
            palette = [(int(g), int(g), int(g)) for g in values]
            trns = [255] * len(values) if "trns" in parts else None
            data = pngwriter.encode_png(lut[stored], color_type=3, bit_depth=8, palette=palette, trns=trns, **kw)
        else:
            palette = [(g, g, g) for g in range(256)]
            data = pngwriter.encode_png(stored, color_type=3, bit_depth=8, palette=palette, **kw)
    elif base in ("gray1", "gray2", "gray4"):
        bits = int(base[4:])
        q = {1: np.where(stored >= 128, 1, 0), 2: stored >> 6, 4: stored >> 4}[bits]
        data = pngwriter.encode_png(q, color_type=0, bit_depth=bits, **kw)
    else:
        raise ValueError(encoding)
    return data, w, h, interlace, polarity, preprocess


def decode_with_pil(data, encoding):
    """Decode with PIL and map back to the intended 28x28 light-on-dark pixels."""
    import warnings

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    base = encoding.split("_")[0]
    if base == "gray1":
        a = np.array(im.convert("L"))
    elif base == "gray16":
        a = (np.array(im).astype(np.uint32) >> 8).astype(np.uint8)
    elif base in ("rgba8", "rgba16", "graya8", "graya16"):
        rgba = np.array(im.convert("RGBA"))
        if not (rgba[..., 3] == 255).all():
            raise AssertionError("alpha not 255")
        if not ((rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()):
            raise AssertionError("R, G, B differ")
        a = rgba[..., 0]
    elif base in ("rgb8", "rgb16", "palette8"):
        rgb = np.array(im.convert("RGB"))
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise AssertionError("R, G, B differ")
        a = rgb[..., 0]
    else:  # gray2/gray4 (PIL scales to 0..255 like we do), gray8
        a = np.array(im)
    if a.dtype != np.uint8:
        raise AssertionError(f"PIL mode {im.mode} gave {a.dtype}")
    k = a.shape[0] // 28
    if k > 1:
        small = a[::k, ::k]
        if not np.array_equal(np.kron(small, np.ones((k, k), dtype=np.uint8)), a):
            raise AssertionError("enlargement is not block-constant")
        a = small
    if "inv" in encoding.split("_"):
        a = 255 - a
    return a


def make_digits(images, labels, models, verify):
    out = os.path.join(FIX, "digits")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    chosen = select_digits(labels)
    encodings = [e for e, n in PLAN for _ in range(n)]
    assert len(encodings) == len(chosen), (len(encodings), len(chosen))
    rows, pixels = [], []
    for serial, (idx, enc) in enumerate(zip(chosen, encodings)):
        v = images[idx]
        data, w, h, interlaced, polarity, preprocess = encode_digit(v, enc, serial)
        name = f"d{idx}_{enc}.png"
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        want = intended_pixels(v, enc)
        if verify:
            got = decode_with_pil(data, enc)
            if not np.array_equal(got, want):
                raise AssertionError(f"{name}: PIL decodes to different pixels")
        pixels.append(want)
        rows.append({"file": name, "mnist_index": idx, "label": int(labels[idx]), "encoding": enc,
                     "width": w, "height": h, "interlaced": "true" if interlaced else "false",
                     "polarity": polarity, "preprocess": preprocess})
    pixels = np.stack(pixels)
    for name, path in models.items():
        model = capsnet.model_from_state_dict(capsnet.load_h5_state_dict(path))
        st = model.stages(capsnet.preprocess(pixels))
        lengths = st["lengths"].numpy().astype(np.float32)
        pred = st["prediction"].numpy()
        assert np.array_equal(lengths.argmax(1), pred)
        for r, row in enumerate(rows):
            row[f"{name}_prediction"] = int(pred[r])
            for j in range(10):
                row[f"{name}_length_{j}"] = repr(float(lengths[r, j]))
        acc = float((pred == np.array([r["label"] for r in rows])).mean())
        print(f"digits: {name} model {acc * 100:.1f}% correct on the {len(rows)} intended images")
    with open(os.path.join(out, "expected.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator="\n")
        wr.writeheader()
        for row in rows:
            wr.writerow(row)
    import h5py

    with h5py.File(os.path.join(out, "expected_pixels.h5"), "w") as f:
        f.create_dataset("pixels", data=pixels, compression="gzip", compression_opts=9)
    counts = {}
    for e in encodings:
        counts[e] = counts.get(e, 0) + 1
    print(f"digits: {len(rows)} PNGs in {rel(out)}, classes {np.bincount([r['label'] for r in rows]).tolist()}"
          + (", all decoded by PIL to the intended pixels" if verify else ""))
    return rows


# -------------------------------------------------------------------------------------------- bad

def compact_small(small_path):
    """small.h5's tensors, with all but conv1.weight and the biases zeroed (so gzip makes them tiny)."""
    sd = capsnet.load_h5_state_dict(small_path)
    keep = {"conv1.weight"} | {k for k in sd if k.endswith(".bias")}
    return {k: (v.clone() if k in keep else torch.zeros_like(v)) for k, v in sd.items()}


def write_h5_raw(path, arrays):
    """gzip, one chunk per dataset (zero-filled tensors then compress to almost nothing)."""
    import h5py

    with h5py.File(path, "w") as f:
        for k, a in arrays.items():
            f.create_dataset(k, data=a, chunks=a.shape, compression="gzip", compression_opts=9)


def png_bytes_with(data, ctype, new_body=None, crc_xor=0):
    out = bytearray(data[:8])
    for _, _, t, body, crc in pngwriter.iter_chunks(data):
        if t == ctype:
            b = body if new_body is None else new_body
            c = (zlib.crc32(t + b) & 0xFFFFFFFF) ^ crc_xor
            out += pngwriter.chunk(t, b, crc=c)
        else:
            out += pngwriter.chunk(t, body, crc=crc)
    return bytes(out)


def make_bad(small_path, images):
    out = os.path.join(FIX, "bad")
    # Fuzzing regression inputs (fuzz_*) are committed by hand, not generated: keep them.
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if not name.startswith("fuzz_"):
            os.unlink(os.path.join(out, name))
    notes = {}

    def put(name, data, note):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        notes[name] = note

    put("not_hdf5.h5", b"This is a plain text file, not an HDF5 file.\n", "plain text with a .h5 name")
    put("empty.h5", b"", "0 bytes")

    base = {k: export_h5.to_numpy(v) for k, v in compact_small(small_path).items()}
    write_h5_raw(os.path.join(out, "_base.h5"), base)
    with open(os.path.join(out, "_base.h5"), "rb") as f:
        whole = f.read()
    os.unlink(os.path.join(out, "_base.h5"))
    put("truncated.h5", whole[:len(whole) // 2],
        f"first {len(whole) // 2} of {len(whole)} bytes of the (zeroed) small model file")

    def variant(name, note, **changes):
        arrays = dict(base)
        for k, v in changes.items():
            key = k.replace("__", ".")
            if v is None:
                del arrays[key]
            else:
                arrays[key] = v
        write_h5_raw(os.path.join(out, name), arrays)
        notes[name] = note

    variant("missing_key.h5", "no `digit_capsules.weight`", digit_capsules__weight=None)
    variant("wrong_shape.h5", "`conv2.bias` has shape [127] (expected [128])",
            conv2__bias=base["conv2.bias"][:127].copy())
    variant("int_dtype.h5", "`conv1.bias` stored as int32 (rounded values)",
            conv1__bias=np.round(base["conv1.bias"] * 1000).astype(np.int32))
    w = base["conv1.weight"].copy()
    flat = w.reshape(-1)
    bad_positions = {0: np.nan, 100: np.nan, 5183: np.nan, 2600: np.inf}
    for p, val in bad_positions.items():
        flat[p] = val
    variant("nan_weights.h5", "`conv1.weight` has NaN at flat indices 0, 100, 5183 and +Inf at 2600 "
            "(row-major over [64,1,9,9])", conv1__weight=w)
    variant("inconsistent_layers.h5", "`conv2.weight` is [128,32,9,9] while conv1 has 64 output channels",
            conv2__weight=np.zeros((128, 32, 9, 9), dtype=np.float32))

    # PNGs, based on a held-out gray8 digit
    good = pngwriter.encode_png(images[8000], color_type=0, bit_depth=8)
    put("truncated.png", good[:len(good) * 3 // 5], f"first {len(good) * 3 // 5} of {len(good)} bytes "
        "of a valid 28x28 gray8 PNG (cut inside IDAT)")
    put("bad_crc.png", png_bytes_with(good, b"IDAT", crc_xor=0xDEADBEEF),
        "valid 28x28 gray8 PNG whose IDAT CRC is wrong (xor 0xDEADBEEF)")
    row = zlib.compress(b"\x00" * 29)
    put("zero_size.png", pngwriter.PNG_SIGNATURE + pngwriter.ihdr(0, 28, 8, 0) + pngwriter.chunk(b"IDAT", row)
        + pngwriter.chunk(b"IEND", b""), "IHDR width 0, height 28, gray8; CRCs correct")
    huge_idat = zlib.compress(b"\x00" * 100001, 9)
    put("huge_dimensions.png", pngwriter.PNG_SIGNATURE + pngwriter.ihdr(100000, 100000, 8, 0)
        + pngwriter.chunk(b"IDAT", huge_idat) + pngwriter.chunk(b"IEND", b""),
        f"IHDR 100000x100000 gray8 with a {len(huge_idat)}-byte IDAT (one zero row); CRCs correct")
    put("not_png.png", b"This is a plain text file, not a PNG image.\n", "plain text with a .png name")
    for name in sorted(notes):
        print(f"bad: {name}: {os.path.getsize(os.path.join(out, name))} bytes")
    return notes


def verify_bad(small_path):
    """Each bad HDF5 model must be rejected by the Python loader (and the PNGs by PIL)."""
    from PIL import Image

    out = os.path.join(FIX, "bad")
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        try:
            if name.endswith(".h5"):
                sd = capsnet.load_h5_state_dict(path)
                m = capsnet.model_from_state_dict(sd)
                if name == "nan_weights.h5":
                    w = m.conv1.weight.detach()
                    assert int(torch.isnan(w).sum()) == 3 and int(torch.isinf(w).sum()) == 1
                    continue  # structurally valid: the NaN check is the loader's job
                if name == "int_dtype.h5" and not sd["conv1.bias"].is_floating_point():
                    continue  # the Python loader converts; a strict loader must reject it
                raise AssertionError(f"{name} was accepted")
            elif name == "bad_crc.png":
                # PIL does not check IDAT CRCs; check that exactly that CRC is wrong
                with open(path, "rb") as f:
                    data = f.read()
                wrong = [t for _, _, t, body, crc in pngwriter.iter_chunks(data)
                         if zlib.crc32(t + body) & 0xFFFFFFFF != crc]
                assert wrong == [b"IDAT"], wrong
                print(f"verify: bad/{name}: only the IDAT CRC is wrong (PIL does not check it)")
            else:
                im = Image.open(path)
                im.load()
                raise AssertionError(f"{name} was accepted by PIL")
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001
            print(f"verify: bad/{name} rejected: {type(e).__name__}: {str(e).splitlines()[0][:90]}")


# ----------------------------------------------------------------------------------------- README

def fmt_figures(fig):
    if not fig:
        return "(no training record)"
    h = fig.get("history", [])
    per_epoch = ", ".join(f"{e['train_seconds']:.0f}" for e in h)
    acc = fig["heldout_accuracy"]
    errs = h[-1]["heldout_errors"] if h else "?"
    curve = ", ".join(f"{e['heldout_accuracy'] * 100:.2f}" for e in h)
    return (f"{fig['epochs']} epochs, {fig['train_seconds_total']:.0f} s of training in total "
            f"(per epoch: {per_epoch} s), batch {fig['batch_size']}, Adam lr {fig['lr']}, "
            f"seed {fig['seed']}, " + (f"random shifts up to {fig['shift']} px" if fig['shift'] else "no augmentation")
            + "; final held-out accuracy "
            f"**{acc * 100:.2f}%** ({errs} errors of 2000, indices 8000..<10000; after each epoch: {curve} %)"
            + (f". {fig['note'].rstrip('.')}" if fig.get("note") else ""))


def write_readme(models, figures, digit_rows, bad_notes):
    sizes = {}
    for root, _, files in os.walk(FIX):
        for f in files:
            p = os.path.join(root, f)
            sizes[os.path.relpath(p, FIX)] = os.path.getsize(p)
    counts = {}
    for r in digit_rows:
        counts[r["encoding"]] = counts.get(r["encoding"], 0) + 1
    std_acc = np.mean([r["standard_prediction"] == r["label"] for r in digit_rows]) * 100
    small_acc = np.mean([r["small_prediction"] == r["label"] for r in digit_rows]) * 100
    L = []
    a = L.append
    a("# Fixtures")
    a("")
    a("Generated by `Tools/make_fixtures.py` (do not edit by hand). Regenerate everything with")
    a("")
    a("    python3 Tools/make_fixtures.py")
    a("")
    a("from the repository root. It uses `Tools/work/standard.pth` and `Tools/work/small.pth` (from")
    a("`Tools/train.py`) when present, otherwise the committed `models/*.h5`; MNIST comes from")
    a("a `shared/datasets/mnist` folder beside the repository (`--mnist DIR` to override). All digits are from the held-out range")
    a("8000..<10000 of the MNIST test set; the models never saw them. Reference numbers are PyTorch "
      f"{torch.__version__.split('+')[0]} on CPU.")
    a("")
    a("## models/")
    a("")
    a("| file | bytes | what |")
    a("| --- | --- | --- |")
    a(f"| `standard.h5` | {sizes.get('models/standard.h5', 0):,} | standard CapsNet (conv1 256, 32 primary "
      "types x 8D, 10 x 16 digit capsules, decoder), 11 float32 datasets at the root named by the "
      "state_dict key, contiguous, no compression |")
    a(f"| `small.h5` | {sizes.get('models/small.h5', 0):,} | small CapsNet (conv1 64, 16 primary types x 8D, "
      "576 input capsules, 10 x 16, decoder), same layout but chunked + gzip |")
    a(f"| `training.json` | {sizes.get('models/training.json', 0):,} | training record of both models "
      "(settings, per-epoch time, loss, held-out accuracy) |")
    a("")
    a("Both use the reference preprocessing `(pixel/255 - 0.1307)/0.3081` and 3 routing iterations.")
    a("")
    a("Made by")
    a("")
    a("    python3 Tools/train.py --config standard --epochs "
      f"{figures.get('standard', {}).get('epochs', '?')} --seed 0"
      + (f" --shift {figures['standard']['shift']}" if figures.get('standard', {}).get('shift') else "")
      + " --out Tools/work/standard.pth")
    a("    python3 Tools/train.py --config small --epochs "
      f"{figures.get('small', {}).get('epochs', '?')} --seed 0"
      + (f" --shift {figures['small']['shift']}" if figures.get('small', {}).get('shift') else "")
      + " --out Tools/work/small.pth")
    a("    python3 Tools/export_h5.py Tools/work/standard.pth Fixtures/models/standard.h5")
    a("    python3 Tools/export_h5.py Tools/work/small.pth Fixtures/models/small.h5 --compression gzip")
    a("")
    a("(the last two are what `make_fixtures.py` does, through the same function). Both were trained "
      "on MNIST test indices 0..<8000 only, CPU, 2 threads, labml's margin loss + 0.0005 x MSE "
      "reconstruction loss:")
    a("")
    for name in MODELS:
        a(f"- **{name}**: {fmt_figures(figures.get(name))}.")
    a("")
    a("Times are wall-clock on a 2-core machine shared with concurrent Swift builds and benchmarks, so "
      "they vary a lot between epochs (the standard model's first epoch, 79 s, ran nearly alone).")
    a("")
    a("Exporting and re-importing (`Tools/import_h5.py model.h5 out.pth --compare model.pth`) gives "
      "every tensor back bit for bit.")
    a("")
    a("## activations/")
    a("")
    a(f"`standard.h5` ({sizes.get('activations/standard.h5', 0):,} bytes) and `small.h5` "
      f"({sizes.get('activations/small.h5', 0):,} bytes): PyTorch's intermediate results for held-out "
      f"digits 8000..{8000 + ACTIVATION_COUNT - 1} through the matching model. Made by")
    a("")
    for name in MODELS:
        a(f"    python3 Tools/make_activations.py --model Fixtures/models/{name}.h5 "
          f"--out Fixtures/activations/{name}.h5 --count {ACTIVATION_COUNT} --first 8000")
    a("")
    a("Root attributes: `format` = \"capskit-activations\" (variable-length UTF-8 string), "
      "`format_version` = 1, `routing_iterations` = 3, `count` = N (int64 scalars), `model` = model file "
      "name (string). Datasets, all gzip-compressed (N digits, R = 3 iterations, I input capsules, J = 10, "
      "D = 8, M = 16):")
    a("")
    a("| dataset | type | shape | content |")
    a("| --- | --- | --- | --- |")
    for row in [("indices", "int64", "[N]", "MNIST test indices"),
                ("labels", "int64", "[N]", "true labels"),
                ("pixels", "uint8", "[N,28,28]", "raw MNIST pixels"),
                ("input", "float32", "[N,1,28,28]", "`(p/255 - 0.1307)/0.3081`"),
                ("conv1", "float32", "[N,C1,20,20]", "after ReLU"),
                ("conv2", "float32", "[N,C2,6,6]", "no activation"),
                ("primary", "float32", "[N,I,D]", "after squash; i = t*36 + h*6 + w, channel = d*types + t"),
                ("u_hat", "float32", "[N,I,J,M]", "prediction vectors"),
                ("coupling", "float32", "[R,N,I,J]", "coupling c used in routing iteration r "
                 "(softmax over I; r = 0 is uniform 1/I)"),
                ("digit_caps", "float32", "[N,J,M]", "v after the last iteration"),
                ("lengths", "float32", "[N,J]", "|v_j|"),
                ("prediction", "int64", "[N]", "argmax of lengths"),
                ("reconstruction", "float32", "[N,28,28]", "decoder output, masked by the prediction")]:
        a("| `%s` | %s | %s | %s |" % row)
    a("")
    a("## digits/")
    a("")
    a(f"{len(digit_rows)} held-out digits as PNG files, the first {DIGITS_PER_CLASS} held-out examples of "
      "each class (so every class appears 10 times), named `d<index>_<encoding>.png`, with")
    a("")
    a("- `expected.csv`: one row per file: `file, mnist_index, label, encoding, width, height, interlaced "
      "(true/false), polarity (light_on_dark | dark_on_light), preprocess (any | scale), "
      "standard_prediction, standard_length_0..9, small_prediction, small_length_0..9`. Predictions "
      "and capsule lengths (Python repr of the float32 value, exact) are PyTorch's on the *intended* "
      "28x28 light-on-dark image of the row (inversion undone, after the 1/2/4-bit quantisation).")
    a("- `expected_pixels.h5`: dataset `pixels`, uint8 [rows,28,28], the intended images in CSV row order, "
      "so a PNG decoder can be checked exactly.")
    a("")
    a("Encodings (count):")
    a("")
    desc = {
        "gray8": "8-bit gray, colour type 0",
        "gray16": "16-bit gray, sample = v*257",
        "rgb8": "8-bit RGB, R = G = B",
        "rgb16": "16-bit RGB, R = G = B = v*257",
        "rgba8": "8-bit RGBA, R = G = B, alpha 255",
        "rgba16": "16-bit RGBA, alpha 65535",
        "graya8": "8-bit gray + alpha, alpha 255",
        "graya16": "16-bit gray + alpha, alpha 65535",
        "palette8": "8-bit palette, 256-entry gray palette (index = gray value)",
        "palette8_sparse": "8-bit palette of only the gray levels used, shuffled (index != gray value)",
        "palette8_trns": "as palette8_sparse plus a tRNS chunk with all alphas 255",
        "gray8_adam7": "8-bit gray, Adam7-interlaced",
        "rgb8_adam7": "8-bit RGB, Adam7-interlaced",
        "gray16_adam7": "16-bit gray, Adam7-interlaced",
        "gray1": "1-bit gray; intended pixel 255 if v >= 128 else 0",
        "gray2": "2-bit gray; intended pixel (v >> 6) * 85",
        "gray4": "4-bit gray; intended pixel (v >> 4) * 17",
        "gray1_adam7": "1-bit gray, Adam7-interlaced",
        "gray4_adam7": "4-bit gray, Adam7-interlaced",
        "gray8_inv": "8-bit gray, dark digit on light background (stored 255 - v)",
        "rgb8_inv": "8-bit RGB, dark on light",
        "gray8_x2": "8-bit gray 56x56, nearest-neighbour 2x enlargement (preprocess `scale`)",
        "gray8_x3": "8-bit gray 84x84, nearest-neighbour 3x enlargement (preprocess `scale`)",
    }
    for enc, n in PLAN:
        a(f"- `{enc}` ({n}): {desc[enc]}")
    a("")
    a("Every third file uses the five PNG row filters in rotation (row r: filter r mod 5, across "
      "interlace passes) instead of the adaptive choice, and every fourth file splits its image data "
      "into 100-byte IDAT chunks. All files were written by `Tools/pngwriter.py` and decode with PIL "
      "to the intended pixels (checked by `make_fixtures.py`). On the intended images the standard "
      f"model is {std_acc:.0f}% correct and the small model {small_acc:.0f}%.")
    a("")
    a("## bad/")
    a("")
    a("Malformed inputs that must be rejected with an error (never a crash). The HDF5 ones are based on "
      "`models/small.h5` (same keys, shapes, dtypes, root layout, chunked + gzip), but to keep them tiny "
      "every tensor except `conv1.weight` and the biases is zero-filled; each then carries exactly one "
      "defect:")
    a("")
    a("| file | bytes | defect |")
    a("| --- | --- | --- |")
    for name in sorted(bad_notes):
        a(f"| `{name}` | {sizes.get('bad/' + name, 0):,} | {bad_notes[name]} |")
    a("")
    a("`nan_weights.h5` and `int_dtype.h5` are structurally loadable; a loader must reject them by "
      "checking values and dtypes.")
    a("")
    others = sorted(d for d in os.listdir(FIX) if os.path.isdir(os.path.join(FIX, d))
                    and d not in ("models", "activations", "digits", "bad"))
    if others:
        a("## Other folders")
        a("")
        a("Not made by `make_fixtures.py` (it leaves them alone); each documents itself:")
        a("")
        for d in others:
            readme = os.path.join(d, "README.md")
            a(f"- `{d}/`" + (f": see `{readme}`" if os.path.exists(os.path.join(FIX, readme)) else ""))
        a("")
    with open(os.path.join(FIX, "README.md"), "w") as f:
        f.write("\n".join(L))


# ------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mnist.add_mnist_argument(ap)
    ap.add_argument("--work", default=WORK, help="folder with the trained .pth/.json (default: %(default)s)")
    ap.add_argument("--no-verify", action="store_true", help="skip the PIL and loader checks")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images, labels = mnist.load(args.mnist)

    models, figures = prepare_models(args.work)
    act_dir = os.path.join(FIX, "activations")
    os.makedirs(act_dir, exist_ok=True)
    for name, path in models.items():
        d = make_activations.write_activations(path, os.path.join(act_dir, name + ".h5"), ACTIVATION_COUNT,
                                               mnist.HELDOUT_RANGE.start, args.mnist, force=True, quiet=True)
        print(f"activations/{name}.h5: predictions {d['prediction'].tolist()} labels {d['labels'].tolist()}")
    rows = make_digits(images, labels, models, verify=not args.no_verify)
    notes = make_bad(models["small"], images)
    if not args.no_verify:
        verify_bad(models["small"])
    write_readme(models, figures, rows, notes)
    print("wrote Fixtures/README.md")


if __name__ == "__main__":
    main()
