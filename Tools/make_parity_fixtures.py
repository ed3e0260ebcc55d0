"""Write Fixtures/parity/: small models and activations recorded from the users' own modules.

    python3 Tools/make_parity_fixtures.py [--epochs 3] [--mnist DIR] [--out Fixtures/parity]

1. Trains `Tools/examples/types_major_capsnet.py:TypesMajorCapsNet`, a user's model written apart
   from Tools/capsnet.py that reads its primary capsules types-major (conv2 channel t*D + d), in a
   tiny non-standard configuration (conv1 8, 6 types x 4D, 10 x 4D outputs, no decoder), on MNIST
   test indices 0..<8000 (CPU, seed 0, Adam 1e-3, batch 64, labml's margin loss).
2. `large_conv2`: the same trained weights moved into the reference (labml, dims-major) order
   and loaded into Tools/capsnet.py's CapsNet, with conv1 scaled by 2 and conv2 by 5, so that
   conv2's values reach the hundreds (the classes are checked to stay those of the trained model).
3. Records activations from each model's own PyTorch module (Tools/record_activations.py) on
   the first 32 digits shipped in Fixtures/digits, and writes the checkpoints in the forms users
   have: a plain state_dict, a tutorial checkpoint {'epoch', 'model_state_dict',
   'optimizer_state_dict', 'loss'}, two CapsNets in one file (needs --key), a pickled nn.Module.

Everything written is checked by reading it back with torch / h5py. Rerunnable; deterministic up
to PyTorch's CPU kernels.
"""

import argparse
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.join(TOOLS, "examples"))
import capsnet  # noqa: E402
import checkpoints  # noqa: E402
import mnist  # noqa: E402
import pngwriter  # noqa: E402
import record_activations as ra  # noqa: E402
from types_major_capsnet import TypesMajorCapsNet  # noqa: E402

# T != D, so that a formula with the two swapped cannot pass.
TINY = dict(conv1_channels=8, primary_types=6, primary_dim=4, out_caps=10, out_dim=4, iterations=3,
            decoder=())
SCALE_CONV1, SCALE_CONV2 = 2.0, 5.0
COUNT = 32
PNG_COUNT = 6
SIDE = 28
STAGES = {"conv2": "conv2", "primary": "primary"}


def heldout_accuracy(model, x_all, y_all):
    model.eval()
    with torch.no_grad():
        held = torch.arange(mnist.HELDOUT_RANGE.start, mnist.HELDOUT_RANGE.stop)
        _, _, pred = model(x_all[held])
        return float((pred == y_all[held]).float().mean())


def train(epochs, mnist_dir, seed=0, cache=None):
    """Train (or load the checkpoint `cache` from an earlier run); returns (model, opt, loss, accuracy)."""
    torch.manual_seed(seed)
    images, labels = mnist.load(mnist_dir)
    train_idx = np.arange(mnist.TRAIN_RANGE.start, mnist.TRAIN_RANGE.stop)
    x_all = capsnet.preprocess(images)
    y_all = torch.as_tensor(labels)
    model = TypesMajorCapsNet(**TINY)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if cache and os.path.exists(cache):
        saved = torch.load(cache, weights_only=True)
        model.load_state_dict(saved["model_state_dict"], strict=True)
        opt.load_state_dict(saved["optimizer_state_dict"])
        acc = heldout_accuracy(model, x_all, y_all)
        print(f"loaded {cache} (epoch {saved['epoch']}): held-out accuracy {acc * 100:.2f}%")
        return model, opt, float(saved["loss"]), acc
    gen = torch.Generator().manual_seed(seed)
    loss = torch.tensor(0.0)
    for epoch in range(epochs):
        model.train()
        order = torch.as_tensor(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            v, _, _ = model(x_all[batch])
            loss = capsnet.margin_loss(v, y_all[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = heldout_accuracy(model, x_all, y_all)
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy {acc * 100:.2f}%", flush=True)
    if cache:
        torch.save({"epoch": epochs, "model_state_dict": model.state_dict(),
                    "optimizer_state_dict": opt.state_dict(), "loss": loss.item()}, cache)
    return model, opt, loss.item(), acc


def to_reference_order(sd, types, dim):
    """A types-major state_dict (conv2 channel t*D + d) in the reference order (channel d*T + t)."""
    out = dict(sd)
    src = [t * dim + d for d in range(dim) for t in range(types)]  # reference channel d*T+t <- t*D+d
    out["conv2.weight"] = sd["conv2.weight"][src].clone()
    out["conv2.bias"] = sd["conv2.bias"][src].clone()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "Fixtures", "parity"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--retrain", action="store_true",
                    help="train again even if Tools/work/parity_train.pth holds an earlier run's model")
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    def out(name):
        return os.path.join(args.out, name)

    cache = os.path.join(TOOLS, "work", "parity_train.pth")
    if args.retrain and os.path.exists(cache):
        os.unlink(cache)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    model, opt, loss, acc = train(args.epochs, args.mnist, cache=cache)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pixels, labels, indices = ra.repo_digits(COUNT)

    # Types-major: plain, tutorial, pickled module.
    torch.save(sd, out("types_major.pth"))
    torch.save({"epoch": args.epochs, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "loss": loss}, out("types_major_tutorial.pth"))
    torch.save(TypesMajorCapsNet(conv1_channels=2, primary_types=2, primary_dim=2, out_dim=2, decoder=()),
               out("pickled_module.pth"))
    data_tm = ra.record_activations(model, out("types_major.activations.h5"), pixels=pixels, labels=labels,
                                    indices=indices, stages=STAGES, force=True,
                                    description="types_major_capsnet.py:TypesMajorCapsNet types_major.pth")

    # The same model in the reference order, with conv2 in the hundreds.
    cfg = capsnet.CapsConfig(conv1_channels=TINY["conv1_channels"], primary_types=TINY["primary_types"],
                             primary_dim=TINY["primary_dim"], out_caps=TINY["out_caps"], out_dim=TINY["out_dim"],
                             decoder=())
    large = capsnet.CapsNet(cfg)
    ref_sd = to_reference_order(sd, cfg.primary_types, cfg.primary_dim)
    ref_sd["conv1.weight"] = ref_sd["conv1.weight"] * SCALE_CONV1
    ref_sd["conv1.bias"] = ref_sd["conv1.bias"] * SCALE_CONV1
    ref_sd["conv2.weight"] = ref_sd["conv2.weight"] * SCALE_CONV2
    ref_sd["conv2.bias"] = ref_sd["conv2.bias"] * (SCALE_CONV1 * SCALE_CONV2)
    large.load_state_dict(ref_sd, strict=True)
    large.eval()
    torch.save(large.state_dict(), out("large_conv2.pth"))
    data_large = ra.record_activations(large, out("large_conv2.activations.h5"), pixels=pixels, labels=labels,
                                       indices=indices, force=True,
                                       # Tools/capsnet.py computes the primary capsules in forward,
                                       # not in a submodule: a hook on conv2 with a transform.
                                       stages={"conv1": "conv1:relu", "conv2": "conv2",
                                               "primary": ("conv2", lambda x2: capsnet.squash(large.primary(x2)))},
                                       description="capsnet.py:CapsNet large_conv2.pth")

    # The user's own PNG files: 16-bit gray, so that the decoded values v16/257 are not integers
    # (the activations then carry float32 pixels), recorded from the types-major module.
    png_dir = out("png16")
    os.makedirs(png_dir, exist_ok=True)
    png_paths = []
    for k in range(PNG_COUNT):
        v16 = pixels[k].astype(np.int64) * 257 + (np.arange(SIDE * SIDE).reshape(SIDE, SIDE) * 37 + k) % 200
        name = os.path.join(png_dir, f"d{indices[k]}_gray16.png")
        pngwriter.write_png(name, np.minimum(v16, 65535).astype(np.uint16), color_type=0, bit_depth=16)
        png_paths.append(name)
    png_pixels, _, _ = ra.png_digits(png_paths)
    assert png_pixels.dtype == np.float32 and not np.array_equal(png_pixels, np.round(png_pixels))
    ra.record_activations(model, out("png16.activations.h5"), pixels=png_pixels, labels=labels[:PNG_COUNT],
                          indices=indices[:PNG_COUNT],
                          stages={"primary": "primary"}, force=True,
                          description="types_major_capsnet.py:TypesMajorCapsNet on png16/*.png")

    # Two CapsNets in one checkpoint: neither name is preferred, so --key is needed. They share every
    # tensor (saved once) but conv2.bias, which the teacher has plus 1.
    teacher = dict(sd)
    teacher["conv2.bias"] = sd["conv2.bias"] + 1.0
    torch.save({"student": sd, "teacher": teacher}, out("two_models.pth"))

    # Checks, by reading back.
    assert checkpoints.load(out("types_major_tutorial.pth"))[0] == "model_state_dict"
    for k, v in checkpoints.load(out("types_major_tutorial.pth"))[1].items():
        assert torch.equal(v, sd[k]), k
    try:
        checkpoints.load(out("two_models.pth"))
        raise AssertionError("two_models.pth should be ambiguous")
    except ValueError as e:
        assert "--key" in str(e), e
    try:
        checkpoints.load(out("pickled_module.pth"))
        raise AssertionError("pickled_module.pth should be refused")
    except ValueError as e:
        assert checkpoints.MODULE_HINT in str(e), e
    # The reference-order model computes the same classes as the types-major one (before scaling).
    same = capsnet.CapsNet(cfg)
    same.load_state_dict(to_reference_order(sd, cfg.primary_types, cfg.primary_dim), strict=True)
    same.eval()
    with torch.no_grad():
        v_ref = same(capsnet.preprocess(pixels))[0]
    diff = float((v_ref - torch.from_numpy(data_tm["digit_caps"])).abs().max())
    assert diff < 1e-5, f"reference-order copy differs from the types-major module by {diff}"
    conv2_max = float(np.abs(data_large["conv2"]).max())
    agree = int((data_large["prediction"] == data_tm["prediction"]).sum())
    print(f"trained: held-out accuracy {acc * 100:.2f}% (2000 digits), loss {loss:.4f}")
    print(f"types-major vs reference-order copy: max |v| difference {diff:.2e}")
    print(f"large_conv2: max |conv2| {conv2_max:.1f} (types-major model: "
          f"{float(np.abs(data_tm['conv2']).max()):.1f}); classes equal to the trained model on "
          f"{agree}/{COUNT} digits; {int((data_large['prediction'] == labels).sum())}/{COUNT} correct")
    for name in sorted(os.listdir(args.out)):
        print(f"  {name}: {os.path.getsize(out(name)):,} bytes")


if __name__ == "__main__":
    main()
