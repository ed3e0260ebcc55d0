"""Record the activations of YOUR OWN PyTorch CapsNet for `capsconv verify`.

`capsconv verify` compares CapsKit with a file of activations. For it to prove anything, those must
come from the model you trained, run by PyTorch, not from a re-implementation: this script runs your
nn.Module on digits and writes what it computes.

    python3 Tools/user/record_activations.py --module path/to/mynet.py:CapsNet [--args '{"conv1_channels": 64}'
        | --arg conv1_channels=64 ...] --weights model.pth [--key NAME] --out activations.h5
        [--stage conv2=conv2 --stage conv1=conv1:relu --stage primary=primary ...]
        [--png my_digits/*.png | --mnist DIR [--first 8000] | (default) the digits in Fixtures/digits]
        [--count N] [--normalize 0.1307,0.3081] [--iterations 3] [--output INDEX_OR_KEY] [--force]

From Python, with a model object you already have:

    import record_activations as ra
    pixels, labels, indices = ra.repo_digits()
    ra.record_activations(model, "activations.h5", pixels=pixels, labels=labels, indices=indices,
                          stages={"conv2": "conv2", "conv1": "conv1:relu"})

What is written (see docs/FORMAT.md, "Reference activations"):
- always: `pixels` (what verify feeds CapsKit), `input` (the normalised tensor given to your model),
  `lengths` and `prediction` (argmax of the lengths), and `digit_caps` when your model returns
  the output capsules. The final output is found in what forward returns: the first float tensor
  [N, J, M] (output capsules; lengths are their norms), otherwise the first [N, J] (lengths);
  `--output 0` or `--output caps` picks a tuple index or dict key;
- each `--stage NAME=MODULE` adds the output of that submodule (a forward hook; `MODULE:relu`
  applies a ReLU to it, for a conv1 whose ReLU is a function call in forward). NAME is one of
  conv1 (after ReLU), conv2 (no activation), primary (squashed primary capsules [N, I, D] in the
  reference capsule order), u_hat, digit_caps, reconstruction. Stages you do not map are absent;
  verify compares what is present and says what was not.

Record conv2 as your model computes it, in its own channel order: a model file imported with
`capsconv import --primary-order types-major` remembers that order, and verify compares conv2 in it.

Digits: by default the 100 held-out MNIST digits shipped in Fixtures/digits (expected_pixels.h5,
labels from expected.csv), no download. `--png FILE...` records your own PNG files, decoded as
capsinfer decodes them (luminance (299R+587G+114B+500)/1000, 16-bit gray v/257, alpha over black,
dark-on-light inverted when the border mean is above 127.5); they must be 28x28 (resize them first,
as capsinfer's --preprocess would, and pass the resized files to both tools).
"""

import argparse
import csv
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import checkpoints  # noqa: E402
import h5atomic  # noqa: E402

FORMAT = "capskit-activations"
FORMAT_VERSION = 1
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SIDE = 28
STAGES = ("conv1", "conv2", "primary", "u_hat", "digit_caps", "reconstruction")
ITERATION_ATTRIBUTES = ("iterations", "routing_iterations", "num_iterations", "n_iterations", "num_routing")
REPO_DIGITS = os.path.join(REPO_ROOT, "Fixtures", "digits")


# MARK: digits

def repo_digits(count=None):
    """The held-out digits shipped in Fixtures/digits: (pixels uint8 [N,28,28], labels, MNIST indices)."""
    import h5py

    with h5py.File(os.path.join(REPO_DIGITS, "expected_pixels.h5"), "r") as f:
        pixels = np.array(f["pixels"][()], dtype=np.uint8)
    with open(os.path.join(REPO_DIGITS, "expected.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(pixels):
        raise ValueError(f"{REPO_DIGITS}: {len(rows)} rows in expected.csv for {len(pixels)} images")
    labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    indices = np.array([int(r["mnist_index"]) for r in rows], dtype=np.int64)
    n = len(pixels) if count is None else count
    if not 1 <= n <= len(pixels):
        raise ValueError(f"--count {n}: the repository ships {len(pixels)} digits")
    return pixels[:n], labels[:n], indices[:n]


def mnist_digits(mnist_dir, first, count):
    """MNIST test digits first..<first+count from mnist_dir (IDX files)."""
    import mnist

    images, labels = mnist.load(mnist_dir)
    if first < 0 or count < 1 or first + count > len(images):
        raise ValueError(f"indices {first}..<{first + count} out of range 0..<{len(images)}")
    idx = np.arange(first, first + count, dtype=np.int64)
    return images[idx], labels[idx], idx


def decode_png(path):
    """A PNG as capsinfer reads a 28x28 image: float32 [28,28] on the 0...255 scale."""
    from PIL import Image

    with open(path, "rb") as f:
        head = f.read(26)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    bit_depth, colour_type = head[24], head[25]
    if bit_depth == 16 and colour_type != 0:
        # PIL keeps only the high byte of 16-bit colour and alpha samples; capsinfer uses all 16 bits.
        raise ValueError(f"{path}: 16-bit colour or alpha is not decoded exactly here; save it as 8-bit "
                         "or 16-bit gray")
    with Image.open(path) as im:
        if im.format != "PNG":
            raise ValueError(f"{path}: not a PNG file ({im.format})")
        mode = im.mode
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            mode = im.mode
        if mode in ("I;16", "I;16B", "I"):
            level = np.asarray(im, dtype=np.float64) / 257.0
            alpha = None
        elif mode in ("1", "L"):
            level = np.asarray(im.convert("L"), dtype=np.float64)
            alpha = None
        elif mode in ("LA", "RGB", "RGBA"):
            a = np.asarray(im, dtype=np.uint32)
            if im.info.get("transparency") is not None and mode != "RGBA":
                raise ValueError(f"{path}: a tRNS colour key is not supported here; use capsinfer's pixels")
            if mode == "LA":
                level, alpha = a[..., 0].astype(np.float64), a[..., 1]
            else:
                level = ((299 * a[..., 0] + 587 * a[..., 1] + 114 * a[..., 2] + 500) // 1000).astype(np.float64)
                alpha = a[..., 3] if mode == "RGBA" else None
        else:
            raise ValueError(f"{path}: PNG mode {mode} is not supported here (PIL cannot give exact samples)")
    if level.shape != (SIDE, SIDE):
        raise ValueError(f"{path}: {level.shape[1]}x{level.shape[0]} pixels; record_activations takes 28x28 "
                         "images (resize them first and give the resized files to capsinfer too)")
    if alpha is not None:
        a = alpha.astype(np.float64)
        level = np.where(alpha == 255, level, level * a / 255.0)  # over black
    border = np.concatenate([level[0], level[-1], level[1:-1, 0], level[1:-1, -1]])
    if border.mean() > 127.5:  # dark ink on a light background
        level = 255.0 - level
    return level.astype(np.float32)


def png_digits(paths):
    """Your own PNG files: (pixels [N,28,28] uint8 when every value is an integer, else float32, None, None)."""
    if not paths:
        raise ValueError("no PNG files given")
    pixels = np.stack([decode_png(p) for p in paths])
    if np.array_equal(pixels, np.round(pixels)):
        pixels = pixels.astype(np.uint8)
    return pixels, None, None


# MARK: the user's module

def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_module_class(spec):
    """`path/to/file.py:ClassName` -> the class (the file's folder is put on sys.path for its imports)."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--module {spec!r}: expected path/to/file.py:ClassName")
    if not os.path.isfile(path):
        raise ValueError(f"--module {spec!r}: no file {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = os.path.splitext(os.path.basename(path))[0]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module  # so pickled references and dataclasses resolve
    loader_spec.loader.exec_module(module)
    cls = module
    for part in name.split("."):
        if not hasattr(cls, part):
            raise ValueError(f"--module {spec!r}: {path} defines no {name!r}")
        cls = getattr(cls, part)
    return cls


def build_model(spec, args_json=None, kv_args=(), weights=None, key=None, quiet=False):
    """Instantiate the user's class with the given arguments and load its weights (strict)."""
    cls = load_module_class(spec)
    positional, kwargs = [], {}
    if args_json:
        value = json.loads(args_json)
        if isinstance(value, dict):
            kwargs.update(value)
        elif isinstance(value, list):
            positional = value
        else:
            raise ValueError("--args takes a JSON object (keyword arguments) or list (positional ones)")
    for item in kv_args:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--arg {item!r}: expected NAME=VALUE")
        kwargs[name] = parse_value(text)
    model = cls(*positional, **kwargs)
    if weights:
        model_keys = set(model.state_dict())
        if _is_hdf5(weights):
            import capsnet

            sd = capsnet.load_h5_state_dict(weights)
            where = None
        else:
            where, sd = checkpoints.load(weights, key)
        if not any(k.startswith("module.") for k in model_keys):
            sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
        missing, unexpected = model_keys - set(sd), set(sd) - model_keys
        if missing or unexpected:
            raise ValueError(f"{weights}: does not fit {spec}: missing {sorted(missing)}, "
                             f"unexpected {sorted(unexpected)}")
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as e:  # shape mismatches: the constructor arguments do not fit
            raise ValueError(f"{weights}: does not fit {spec} with these arguments: "
                             f"{' '.join(str(e).split())[:400]}") from None
        if not quiet:
            print(f"loaded {weights}" + (f" (state_dict from {where!r})" if where else ""))
    return model


def _is_hdf5(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def routing_iterations(model):
    """An int attribute named like a routing iteration count on any submodule, or None."""
    for module in model.modules():
        for name in ITERATION_ATTRIBUTES:
            value = getattr(module, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


# MARK: recording

def _first_tensor(value):
    if torch.is_tensor(value):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            t = _first_tensor(item)
            if t is not None:
                return t
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _flatten(value):
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _flatten(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _flatten(item)]
    return []


def final_output(result, n, selector=None):
    """(digit capsules or None, lengths, description) from what forward returned.

    The output capsules are the first float tensor [N, J, M] that is not an image ([N, 28, 28]);
    failing that, the lengths are the [N, J] tensor with the fewest columns (a flattened
    reconstruction [N, 784] has more). `selector` (a tuple index or dict key) overrides the search.
    """
    if selector is not None:
        if isinstance(result, dict):
            result = result[selector if selector in result else str(selector)]
        else:
            result = result[int(selector)]
    tensors = [t for t in _flatten(result) if t.is_floating_point() and t.shape[:1] == (n,)]
    for t in tensors:
        if t.dim() == 3 and tuple(t.shape[1:]) != (SIDE, SIDE):
            return t, t.norm(dim=-1), f"output capsules {list(t.shape)}"
    flat = [t for t in tensors if t.dim() == 2]
    if flat:
        t = min(flat, key=lambda t: t.shape[1])
        return None, t, f"capsule lengths {list(t.shape)}"
    shapes = [list(t.shape) for t in _flatten(result)]
    raise ValueError(f"forward returned no output capsules [N, J, M] or lengths [N, J] for N = {n} "
                     f"(tensors {shapes}); pick one with --output")


def _resolve_stage(model, target):
    """A stage target ("a.b", "a.b:relu", an nn.Module, or (module, fn)) -> (module, transform, name)."""
    transform = None
    if isinstance(target, tuple):
        target, transform = target
    if isinstance(target, str):
        path, _, suffix = target.partition(":")
        if suffix not in ("", "relu"):
            raise ValueError(f"stage {target!r}: the only transform is ':relu'")
        if suffix == "relu":
            transform = F.relu
        try:
            module = model.get_submodule(path)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            raise ValueError(f"stage {target!r}: the model has no submodule {path!r} "
                             f"(it has {names[:20]})") from None
        return module, transform, target
    return target, transform, type(target).__name__


def write_activation_file(out_path, data, iterations, model_description, extra_attributes=None,
                          compression_opts=6):
    """The activations file `capsconv verify` reads (docs/FORMAT.md §3), datasets in `data` order."""

    def fill(f):
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["routing_iterations"] = np.int64(iterations)
        f.attrs["count"] = np.int64(len(data["pixels"]))
        f.attrs["model"] = model_description
        for k, v in (extra_attributes or {}).items():
            f.attrs[k] = v
        for k, a in data.items():
            f.create_dataset(k, data=a, compression="gzip", compression_opts=compression_opts)

    h5atomic.write_h5_atomically(out_path, fill)


@torch.no_grad()
def record_activations(model, out_path, *, pixels, labels=None, indices=None, stages=None,
                       normalize=(MNIST_MEAN, MNIST_STD), iterations=None, output=None,
                       force=False, description="",
                       quiet=False):
    """Run `model` on `pixels` ([N,28,28] on the 0...255 scale) and write the activations file.

    stages maps a stage name (conv1, conv2, primary, u_hat, digit_caps, reconstruction) to a
    submodule path ("primary.conv", "conv1:relu"), an nn.Module of the model, or (module, fn):
    its forward output (transformed by fn) is recorded. Returns the dict of arrays written.
    """
    if os.path.exists(out_path) and not force:
        raise FileExistsError(f"{out_path} exists (use --force to overwrite)")
    stages = dict(stages or {})
    for name in stages:
        if name not in STAGES:
            raise ValueError(f"stage {name!r}: verify knows {', '.join(STAGES)}")
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"pixels have shape {list(pixels.shape)}, expected [N, 28, 28]")
    n = len(pixels)
    mean, std = normalize
    x = ((torch.as_tensor(pixels.astype(np.float32)) / 255.0 - mean) / std).reshape(n, 1, SIDE, SIDE)

    model.eval()
    recorded, handles = {}, []
    try:
        for name, target in stages.items():
            module, transform, label = _resolve_stage(model, target)

            def hook(_module, _inputs, out, name=name, transform=transform, label=label):
                t = _first_tensor(out)
                if t is None:
                    raise ValueError(f"stage {name} ({label}) returned no tensor")
                recorded[name] = (transform(t) if transform else t).detach().clone()

            handles.append(module.register_forward_hook(hook))
        result = model(x)
    finally:
        for h in handles:
            h.remove()
    missing = [s for s in stages if s not in recorded]
    if missing:
        raise ValueError(f"stages {missing}: their modules were not called by forward")
    caps, lengths, found = final_output(result, n, output)
    if not quiet:
        print(f"final output: {found}" + ("" if output is None else f" (--output {output})"))
    data = {"pixels": pixels, "input": x.numpy().astype(np.float32)}
    if labels is not None:
        data["labels"] = np.asarray(labels, dtype=np.int64)
    if indices is not None:
        data["indices"] = np.asarray(indices, dtype=np.int64)
    for name, t in recorded.items():
        if t.shape[:1] != (n,):
            raise ValueError(f"stage {name}: shape {list(t.shape)} does not start with the {n} images")
        data[name] = t.float().numpy()
    if caps is not None and "digit_caps" not in data:
        data["digit_caps"] = caps.float().numpy()
    data["lengths"] = lengths.float().numpy()
    data["prediction"] = lengths.argmax(dim=-1).numpy().astype(np.int64)
    if iterations is None:
        iterations = routing_iterations(model)
        if iterations is None:
            iterations = 3
            if not quiet:
                print("routing iterations: not found on the model, recorded as 3 (pass --iterations)")

    write_activation_file(out_path, data, iterations, description or type(model).__name__,
                          {"recorded_from": "the user's own module (Tools/user/record_activations.py)",
                           "input_mean": float(mean), "input_std": float(std)})
    if not quiet:
        stage_list = [s for s in ("input",) + STAGES + ("lengths",) if s in data]
        line = f"wrote {out_path}: {n} digits, stages {', '.join(stage_list)}, predictions {data['prediction'][:20].tolist()}"
        if labels is not None:
            line += f" ({float((data['prediction'] == data['labels']).mean()):.3f} correct)"
        print(line)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", required=True, metavar="FILE.py:CLASS", help="your model class")
    ap.add_argument("--args", metavar="JSON", help="constructor arguments: a JSON object or list")
    ap.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                    help="one constructor keyword argument (VALUE parsed as JSON when it can be)")
    ap.add_argument("--weights", metavar="FILE", help="checkpoint to load (.pth or HDF5 state_dict)")
    ap.add_argument("--key", metavar="NAME", help="checkpoint entry holding the state_dict")
    ap.add_argument("--out", required=True, help="activations file to write")
    ap.add_argument("--stage", action="append", default=[], metavar="NAME=MODULE[:relu]",
                    help="record a submodule's output as stage NAME (conv1, conv2, primary, u_hat, ...)")
    ap.add_argument("--output", metavar="INDEX_OR_KEY", help="which of forward's outputs is the final one")
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--png", nargs="+", metavar="FILE", help="your own 28x28 PNG digits")
    source.add_argument("--mnist", metavar="DIR", help="MNIST folder (t10k-*-ubyte.gz) instead of Fixtures/digits")
    ap.add_argument("--first", type=int, default=8000, help="first MNIST index with --mnist (default 8000)")
    ap.add_argument("--count", type=int, help="number of digits (default: all 100 shipped; 16 with --mnist)")
    ap.add_argument("--normalize", default=f"{MNIST_MEAN},{MNIST_STD}", metavar="MEAN,STD",
                    help="input normalisation (x/255 - MEAN)/STD your model expects (default %(default)s)")
    ap.add_argument("--iterations", type=int, help="routing iterations (default: read from the model, else 3)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        mean, std = (float(v) for v in args.normalize.split(","))
        model = build_model(args.module, args.args, args.arg, args.weights, args.key)
        if args.png:
            pixels, labels, indices = png_digits(args.png)
        elif args.mnist:
            pixels, labels, indices = mnist_digits(args.mnist, args.first, args.count or 16)
        else:
            pixels, labels, indices = repo_digits(args.count)
        stages = {}
        for item in args.stage:
            name, sep, target = item.partition("=")
            if not sep:
                raise ValueError(f"--stage {item!r}: expected NAME=MODULE")
            stages[name] = target
        record_activations(model, args.out, pixels=pixels, labels=labels, indices=indices, stages=stages,
                           normalize=(mean, std), iterations=args.iterations, output=args.output,
                           force=args.force,
                           description=f"{os.path.basename(args.module)} "
                                       f"{os.path.basename(args.weights or '(no weights)')}")
    except (FileExistsError, ValueError, OSError, KeyError, IndexError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
