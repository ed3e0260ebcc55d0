"""Train small models in other implementations' layouts and write Fixtures/layouts/ (see its README).

    python3 Tools/layouts/make_layout_fixtures.py [--out Fixtures/layouts] [--epochs 1] [--count 8] [--threads 2]

For each convertible layout (gram-ai, Keras): a small model in that implementation's own formulation
(gramai_capsnet.py, keras_capsnet.py), trained with a fixed seed on MNIST test indices 0..<8000 (the
project's training split), saved in that implementation's file format, plus reference activations
for held-out digits 8000.. computed by that same code and converted to the reference stage layouts of
docs/FORMAT.md section 3, for `capsconv verify`. Also tiny checkpoints with the keys of the layouts
CapsKit refuses (jindongwang, adambielski): random weights, only their names and shapes matter.
"""

import argparse
import collections
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import capsnet  # noqa: E402  (margin loss)
import gramai_capsnet  # noqa: E402
import keras_capsnet  # noqa: E402
import mnist  # noqa: E402


def train(model, preprocess, images, labels, epochs, seed):
    """labml-style margin loss plus 0.0005 x reconstruction MSE, Adam 1e-3, batch 64."""
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = preprocess(images[mnist.TRAIN_RANGE.start:mnist.TRAIN_RANGE.stop])
    y_all = torch.as_tensor(labels[mnist.TRAIN_RANGE.start:mnist.TRAIN_RANGE.stop])
    for epoch in range(epochs):
        order = torch.randperm(len(x_all))
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            x, y = x_all[idx], y_all[idx]
            v, _ = model(x)
            recon = model.decode(v, y).reshape(len(idx), -1)
            loss = capsnet.margin_loss(v, y) + 0.0005 * ((recon - x.reshape(len(idx), -1)) ** 2).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


@torch.no_grad()
def accuracy(model, preprocess, images, labels):
    r = mnist.HELDOUT_RANGE
    _, lengths = model(preprocess(images[r.start:r.stop]))
    return float((lengths.argmax(-1).numpy() == labels[r.start:r.stop]).mean())


def write_activations(path, model_name, stages, images, labels, first, count):
    import h5py

    idx = np.arange(first, first + count, dtype=np.int64)
    data = {"indices": idx, "labels": labels[idx].astype(np.int64), "pixels": images[idx]}
    for k, v in stages.items():
        data[k] = v.numpy().astype(np.int64 if k == "prediction" else np.float32)
    assert np.array_equal(data["lengths"].argmax(1), data["prediction"])
    order = ["indices", "labels", "pixels", "input", "conv1", "conv2", "primary", "u_hat", "coupling",
             "digit_caps", "lengths", "prediction", "reconstruction"]
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "capskit-activations"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["routing_iterations"] = np.int64(3)
        f.attrs["count"] = np.int64(count)
        f.attrs["model"] = model_name
        for k in order:
            f.create_dataset(k, data=data[k], compression="gzip", compression_opts=9)
    return data


def refused_checkpoints(out):
    """Key-only stand-ins: the keys and ranks of each implementation, with small random tensors (CapsKit
    refuses these layouts from their keys, before reading any value)."""
    g = torch.Generator().manual_seed(1)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    # jindongwang/Pytorch-CapsuleNet: ConvLayer, 8 primary convs stacked then view(N, I, 8), W [1, I, J, M, D].
    jd = collections.OrderedDict()
    jd["conv_layer.conv.weight"], jd["conv_layer.conv.bias"] = r(4, 1, 9, 9), r(4)
    for d in range(8):
        jd[f"primary_capsules.capsules.{d}.weight"], jd[f"primary_capsules.capsules.{d}.bias"] = r(1, 4, 9, 9), r(1)
    jd["digit_capsules.W"] = r(1, 36, 10, 4, 8)
    for k, (o, i) in zip((0, 2, 4), ((8, 40), (8, 8), (784, 8))):
        jd[f"decoder.reconstraction_layers.{k}.weight"], jd[f"decoder.reconstraction_layers.{k}.bias"] = r(o, i), r(o)
    torch.save(jd, os.path.join(out, "jindongwang.pth"))
    # adambielski/CapsNet-pytorch: channel t*8 + d, weights [I, D, J*M], learned routing prior b [I, J].
    ab = collections.OrderedDict()
    ab["conv1.weight"], ab["conv1.bias"] = r(4, 1, 9, 9), r(4)
    ab["primaryCaps.conv.weight"], ab["primaryCaps.conv.bias"] = r(8, 4, 9, 9), r(8)
    ab["digitCaps.weights"] = r(36, 8, 40)
    ab["digitCaps.routing_module.b"] = torch.zeros(36, 10)
    torch.save(ab, os.path.join(out, "adambielski.pth"))


def broken_keras(out):
    """A tiny Keras weights file whose digitcaps layer lists no weights (W:0 dropped from weight_names)."""
    import h5py

    torch.manual_seed(2)
    model = keras_capsnet.KerasCapsNet(conv1_channels=2, types=1, dimension=2, outputs=2, out_dimension=2,
                                       decoder=(2,))
    weights = model.keras_weights()
    weights["digitcaps"] = []
    with h5py.File(os.path.join(out, "keras_broken.h5"), "w") as f:
        keras_capsnet.write_weights(f, weights)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="Fixtures/layouts")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--first", type=int, default=mnist.HELDOUT_RANGE.start)
    ap.add_argument("--threads", type=int, default=2)
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    images, labels = mnist.load(args.mnist)
    pixels = images[args.first:args.first + args.count]

    def out(name):
        return os.path.join(args.out, name)

    # gram-ai: torch.save(model.state_dict()).
    torch.manual_seed(0)
    gram = gramai_capsnet.GramAICapsNet()
    start = time.time()
    train(gram, gramai_capsnet.preprocess, images, labels, args.epochs, seed=0)
    gram.eval()
    torch.save(gram.state_dict(), out("gram-ai.pth"))
    data = write_activations(out("gram-ai.activations.h5"), "gram-ai.pth",
                             gram.stages(gramai_capsnet.preprocess(pixels)), images, labels, args.first, args.count)
    print(f"gram-ai: {time.time() - start:.0f} s, held-out accuracy "
          f"{accuracy(gram, gramai_capsnet.preprocess, images, labels):.3f}, "
          f"predictions {data['prediction'].tolist()} labels {data['labels'].tolist()}")

    # Keras: save_weights and model.save structures, written with h5py.
    torch.manual_seed(0)
    keras = keras_capsnet.KerasCapsNet()
    start = time.time()
    train(keras, keras_capsnet.preprocess, images, labels, args.epochs, seed=0)
    keras.eval()
    keras_capsnet.save_weights(out("keras_weights.h5"), keras)
    keras_capsnet.save_model(out("keras_model.h5"), keras)
    data = write_activations(out("keras.activations.h5"), "keras_weights.h5",
                             keras.stages(keras_capsnet.preprocess(pixels)), images, labels, args.first, args.count)
    print(f"keras: {time.time() - start:.0f} s, held-out accuracy "
          f"{accuracy(keras, keras_capsnet.preprocess, images, labels):.3f}, "
          f"predictions {data['prediction'].tolist()} labels {data['labels'].tolist()}")

    refused_checkpoints(args.out)
    broken_keras(args.out)
    for name in sorted(os.listdir(args.out)):
        print(f"{name:28} {os.path.getsize(out(name)):>10} bytes")


if __name__ == "__main__":
    main()
