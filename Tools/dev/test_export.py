"""Checks `capsconv export` against the independent readers: PyTorch, h5py with the layout reference
code, the ONNX checker and ONNX Runtime. Run from Tools/dev/test.sh after the build, or by hand:

    python3 Tools/dev/test_export.py [--capsconv .build/debug/capsconv]

Skipped (exit 0, with a message) when torch, h5py, onnx or onnxruntime is missing. For each check:
- .pth (reference): torch.load(weights_only=True) gives an OrderedDict that load_state_dict(strict=True)
  accepts into Tools/user/capsnet.py's CapsNet; every tensor bit-identical to the source; every member
  stored, its data 64-byte aligned, version/byteorder as torch writes them.
- gram-ai .pth: the gram-ai fixture through CapsKit and back loads strictly into
  Tools/user/layouts/gramai_capsnet.py, tensors bit-identical to the original checkpoint.
- Keras .h5: the Keras fixture through CapsKit and back, read as Keras's load_weights reads it
  (layer_names, weight_names), equal to the original file's weights, and the Keras-equivalent model
  gives the same lengths.
- ONNX: onnx.checker.check_model(full_check=True); ONNX Runtime (CPU) outputs on the 100 Fixtures
  digits (expected_pixels.h5) written as reference activations and checked by `capsconv verify`:
  lengths within 1e-5 of CapsKit's, identical predictions, the reconstruction within verify's
  tolerance; for the standard and small models and the Keras fixture (softmax over the output
  capsules, epsilon 1e-7); batch 1 and batch 100 from one graph (dynamic batch).
Prints the largest |length difference| per model.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
for sub in ["Tools", "Tools/user", "Tools/layouts", "Tools/user/layouts", "Tools/fixtures"]:
    if os.path.isdir(os.path.join(ROOT, sub)):
        sys.path.insert(0, os.path.join(ROOT, sub))

try:
    import h5py
    import numpy as np
    import onnx
    import onnxruntime
    import torch
except ImportError as error:  # pragma: no cover
    print(f"test_export.py: skipped ({error.name} is not installed; pip install -r Tools/dev/requirements.txt)")
    sys.exit(0)

import capsnet
import gramai_capsnet
import keras_capsnet

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message)


def run(*args):
    result = subprocess.run(list(args), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def fixture(path):
    return os.path.join(ROOT, "Fixtures", path)


def h5_tensors(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def same_bits(a, b):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    b = np.ascontiguousarray(np.asarray(b, dtype=np.float32))
    return a.shape == b.shape and a.view(np.uint32).tobytes() == b.view(np.uint32).tobytes()


def check_zip_layout(path):
    with zipfile.ZipFile(path) as z, open(path, "rb") as raw:
        names = z.namelist()
        prefix = names[0].split("/")[0]
        check(names[0] == f"{prefix}/data.pkl", f"{path}: data.pkl first")
        check(z.read(f"{prefix}/version") == b"3\n", f"{path}: version")
        check(z.read(f"{prefix}/byteorder") == b"little", f"{path}: byteorder")
        for info in z.infolist():
            check(info.compress_type == zipfile.ZIP_STORED, f"{path}: {info.filename} stored")
            raw.seek(info.header_offset + 26)
            name_length, extra_length = np.frombuffer(raw.read(4), dtype="<u2")
            start = info.header_offset + 30 + int(name_length) + int(extra_length)
            check(start % 64 == 0, f"{path}: {info.filename} data at {start}, not 64-byte aligned")
        check(z.testzip() is None, f"{path}: CRC")


def check_reference_pth(source_h5, capsconv, folder):
    pth = os.path.join(folder, os.path.basename(source_h5) + ".pth")
    run(capsconv, "export", source_h5, "-o", pth)
    check_zip_layout(pth)
    state = torch.load(pth, weights_only=True)
    check(type(state).__name__ == "OrderedDict", f"{pth}: {type(state)}")
    source = h5_tensors(source_h5)
    cfg = capsnet.infer_config({k: tuple(v.shape) for k, v in source.items()})
    model = capsnet.CapsNet(cfg)
    model.load_state_dict(state, strict=True)
    for key, value in source.items():
        check(same_bits(state[key].numpy(), value), f"{pth}: {key} differs")
        check(same_bits(model.state_dict()[key].numpy(), value), f"{pth}: {key} differs after load_state_dict")
    print(f"ok   {os.path.basename(source_h5)} -> .pth: torch.load(weights_only=True) + strict load, {len(state)} tensors bit-identical")


def check_gramai(capsconv, folder):
    original = torch.load(fixture("layouts/gram-ai.pth"), weights_only=True)
    model_file = os.path.join(folder, "gram.caps.h5")
    run(capsconv, "import", fixture("layouts/gram-ai.pth"), "-o", model_file)
    out = os.path.join(folder, "gram-ai.pth")
    run(capsconv, "export", model_file, "-o", out, "--layout", "gram-ai")
    check_zip_layout(out)
    state = torch.load(out, weights_only=True)
    model = gramai_capsnet.GramAICapsNet()  # the fixture's sizes are the class defaults
    model.load_state_dict(state, strict=True)
    check(list(state) == list(original), f"{out}: keys {list(state)[:4]}... differ from the original's order")
    for key, value in original.items():
        check(same_bits(state[key].numpy(), value.numpy()), f"{out}: {key} differs from the original")
    # The standard model in gram-ai's layout loads into gram-ai's code with the standard sizes.
    standard = os.path.join(folder, "standard.gram-ai.pth")
    result = run(capsconv, "export", fixture("models/standard.h5"), "-o", standard, "--layout", "gram-ai",
                 "--allow-differences")
    check("warning:" in result.stderr, "standard -> gram-ai: the differences are warned")
    big = gramai_capsnet.GramAICapsNet(conv1_channels=256, types=32, dimension=8, outputs=10, out_dimension=16,
                                       decoder=(512, 1024))
    big.load_state_dict(torch.load(standard, weights_only=True), strict=True)
    print(f"ok   gram-ai: fixture -> CapsKit -> gram-ai .pth bit-identical ({len(state)} tensors), strict loads")


def keras_load_weights(path):
    """What Keras's load_weights reads: layer_names, then each layer's weight_names."""
    weights = {}
    with h5py.File(path, "r") as f:
        names = [n.decode("utf8") if hasattr(n, "decode") else n for n in f.attrs["layer_names"]]
        for layer in names:
            group = f[layer]
            for w in group.attrs["weight_names"]:
                w = w.decode("utf8") if hasattr(w, "decode") else w
                weights[f"{layer}/{w}"] = group[w][()]
    return names, weights


def check_keras(capsconv, folder):
    model_file = os.path.join(folder, "keras.caps.h5")
    run(capsconv, "import", fixture("layouts/keras_weights.h5"), "-o", model_file)
    out = os.path.join(folder, "keras.h5")
    run(capsconv, "export", model_file, "-o", out, "--format", "keras")
    names, weights = keras_load_weights(out)
    original_names, original = keras_load_weights(fixture("layouts/keras_weights.h5"))
    check(names == original_names, f"{out}: layer_names {names}")
    check(list(weights) == list(original), f"{out}: weights {list(weights)}")
    for key, value in original.items():
        check(key in weights and same_bits(weights[key], value), f"{out}: {key} differs from the original")
    # Loaded into the Keras-equivalent model (by the layer/weight names, as Keras does) it computes
    # the original's lengths exactly.
    def load(weights):
        m = keras_capsnet.KerasCapsNet()
        with torch.no_grad():
            m.conv1_kernel.copy_(torch.from_numpy(weights["conv1/conv1/kernel:0"]))
            m.conv1_bias.copy_(torch.from_numpy(weights["conv1/conv1/bias:0"]))
            m.primary_kernel.copy_(torch.from_numpy(weights["primarycap_conv2d/primarycap_conv2d/kernel:0"]))
            m.primary_bias.copy_(torch.from_numpy(weights["primarycap_conv2d/primarycap_conv2d/bias:0"]))
            m.W.copy_(torch.from_numpy(weights["digitcaps/digitcaps/W:0"]))
            for k in range(len(m.dense) // 2):
                m.dense[2 * k].copy_(torch.from_numpy(weights[f"decoder/dense_{k + 1}/kernel:0"]))
                m.dense[2 * k + 1].copy_(torch.from_numpy(weights[f"decoder/dense_{k + 1}/bias:0"]))
        return m
    with h5py.File(fixture("digits/expected_pixels.h5"), "r") as f:
        x = keras_capsnet.preprocess(f["pixels"][()])
    with torch.no_grad():
        a = load(weights)(x)[1]
        b = load(original)(x)[1]
    check(torch.equal(a, b), "keras: lengths differ between the exported and the original weights")
    print(f"ok   keras: fixture -> CapsKit -> Keras HDF5: {len(weights)} weights bit-identical, same lengths")


def stage_figure(report, stage, field):
    """A stage's figure from `capsconv verify --json` (camelCase or snake_case keys)."""
    def find(node):
        if isinstance(node, dict):
            if node.get("stage") == stage:
                for key, value in node.items():
                    if key.replace("_", "").lower() == field.lower():
                        return value
            for value in node.values():
                found = find(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for value in node:
                found = find(value)
                if found is not None:
                    return found
        return None
    return find(report)


def check_onnx(name, model_file, capsconv, folder, figures):
    failures_before = len(FAILURES)
    out = os.path.join(folder, name + ".onnx")
    run(capsconv, "export", model_file, "-o", out)
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    check(max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17, f"{out}: opset")
    check(proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param != "", f"{out}: batch not dynamic")
    props = {p.key: p.value for p in proto.metadata_props}
    check("class_labels" in props and "input_mean" in props and "input_std" in props, f"{out}: metadata_props")
    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    with h5py.File(fixture("digits/expected_pixels.h5"), "r") as f:
        pixels = f["pixels"][()]
    x = pixels.astype(np.float32)[:, None]
    outputs = [o.name for o in session.get_outputs()]
    results = dict(zip(outputs, session.run(outputs, {"pixels": x})))
    lengths = results["lengths"]
    single = np.concatenate([session.run(["lengths"], {"pixels": x[k:k + 1]})[0] for k in range(3)])
    check(np.abs(single - lengths[:3]).max() <= 1e-6, f"{out}: batch 1 differs from batch {len(x)}")
    # ONNX Runtime's outputs as reference activations: capsconv verify runs CapsKit's runtime on the
    # same pixels and compares (lengths within 1e-5 + 1e-5*|l|, identical predictions, reconstruction).
    reference = os.path.join(folder, name + ".ort.h5")
    with h5py.File(reference, "w") as f:
        f.attrs["format"] = "capskit-activations"
        f.attrs["format_version"] = 1
        f.attrs["routing_iterations"] = int(props["routing_iterations"])
        f.attrs["count"] = len(pixels)
        f.attrs["model"] = f"ONNX Runtime {onnxruntime.__version__} on {os.path.basename(out)}"
        f["pixels"] = pixels
        f["lengths"] = lengths
        f["prediction"] = lengths.argmax(-1).astype(np.int64)
        if "reconstruction" in results:
            f["reconstruction"] = results["reconstruction"].reshape(len(pixels), 28, 28)
    verify = subprocess.run([capsconv, "verify", model_file, "--reference", reference, "--json"],
                            capture_output=True, text=True)
    report = json.loads(verify.stdout) if verify.stdout.strip() else {}
    worst = stage_figure(report, "lengths", "maxAbsoluteError")
    check(verify.returncode == 0, f"{out}: capsconv verify against ONNX Runtime failed ({verify.returncode}): "
                                  f"{verify.stderr.strip()[:300]}")
    check(worst is not None and worst <= 1e-5, f"{out}: largest |length difference| {worst} > 1e-5")
    recon = stage_figure(report, "reconstruction", "maxAbsoluteError")
    figures.append((name, worst, props.get("routing_softmax_axis")))
    if len(FAILURES) > failures_before:
        return
    print(f"ok   ONNX {name}: checker passes; ONNX Runtime vs CapsKit on {len(pixels)} digits: max |length diff| "
          f"{worst:.2e}, predictions identical, reconstruction max diff {recon if recon is None else f'{recon:.2e}'}, "
          f"softmax over {props.get('routing_softmax_axis')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capsconv", default=os.path.join(ROOT, ".build/debug/capsconv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        for model in ["standard", "small"]:
            check_reference_pth(fixture(f"models/{model}.h5"), args.capsconv, folder)
        check_gramai(args.capsconv, folder)
        check_keras(args.capsconv, folder)
        figures = []
        keras_model = os.path.join(folder, "keras-onnx.caps.h5")
        run(args.capsconv, "import", fixture("layouts/keras_weights.h5"), "-o", keras_model)
        for name, path in [("standard", fixture("models/standard.h5")), ("small", fixture("models/small.h5")),
                           ("keras", keras_model)]:
            check_onnx(name, path, args.capsconv, folder, figures)
    if FAILURES:
        print(f"test_export.py: {len(FAILURES)} failures")
        sys.exit(1)
    print(f"test_export.py: all checks passed (onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"torch {torch.__version__})")


if __name__ == "__main__":
    main()
