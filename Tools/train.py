"""Train the reference CapsNet on MNIST test indices 0..<8000 (CPU, 2 threads, fixed seed).

Loss = labml's margin loss (m+ 0.9, m- 0.1, lambda 0.5) + 0.0005 * MSE(reconstruction, normalised input),
Adam lr 1e-3. Evaluates on the held-out indices 8000..<10000 after every epoch.

    python3 Tools/train.py --config standard --epochs 10 --out Tools/work/standard.pth
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet  # noqa: E402
import mnist  # noqa: E402


def shift_batch(pixels, max_shift, rng):
    """Random integer translations of up to max_shift px per image, zero (background) fill."""
    if max_shift <= 0:
        return pixels
    n, h, w = pixels.shape
    p = max_shift
    padded = np.zeros((n, h + 2 * p, w + 2 * p), dtype=pixels.dtype)
    padded[:, p:p + h, p:p + w] = pixels
    dy = rng.integers(0, 2 * p + 1, size=n)
    dx = rng.integers(0, 2 * p + 1, size=n)
    out = np.empty_like(pixels)
    for k in range(n):
        out[k] = padded[k, dy[k]:dy[k] + h, dx[k]:dx[k] + w]
    return out


def _write_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def save_atomic(write, path):
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


@torch.no_grad()
def evaluate(model, pixels, labels, batch=250):
    model.eval()
    correct = 0
    for s in range(0, len(pixels), batch):
        _, _, pred = model(capsnet.preprocess(pixels[s:s + batch]))
        correct += int((pred.numpy() == labels[s:s + batch]).sum())
    return correct / len(pixels)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(capsnet.CONFIGS), default="standard")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", required=True, help="output .pth (state_dict)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--shift", type=int, default=0, help="random shift augmentation, max px (paper: 2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batches", type=int, default=0, help="stop each epoch after this many batches (timing)")
    mnist.add_mnist_argument(ap)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    images, labels = mnist.load(args.mnist)
    tr = mnist.TRAIN_RANGE
    ho = mnist.HELDOUT_RANGE
    train_x, train_y = images[tr.start:tr.stop], labels[tr.start:tr.stop]
    held_x, held_y = images[ho.start:ho.stop], labels[ho.start:ho.stop]

    cfg = capsnet.CONFIGS[args.config]
    model = capsnet.CapsNet(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"config {args.config}: {cfg.as_dict()}, params "
          f"{sum(p.numel() for p in model.parameters())}, train {len(train_x)} held-out {len(held_x)}, "
          f"batch {args.batch_size}, lr {args.lr}, shift {args.shift}, seed {args.seed}, "
          f"threads {torch.get_num_threads()}", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    history = []
    total_time = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        order = rng.permutation(len(train_x))
        loss_sum, seen, correct = 0.0, 0, 0
        for b, s in enumerate(range(0, len(order), args.batch_size)):
            if args.max_batches and b >= args.max_batches:
                break
            idx = order[s:s + args.batch_size]
            px = shift_batch(train_x[idx], args.shift, rng)
            x = capsnet.preprocess(px)
            y = torch.from_numpy(train_y[idx])
            v, recon, pred = model(x)
            loss = capsnet.margin_loss(v, y) + 0.0005 * torch.mean((recon.reshape(x.shape) - x) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            correct += int((pred == y).sum())
        train_time = time.time() - t0
        total_time += train_time
        acc = evaluate(model, held_x, held_y)
        eval_time = time.time() - t0 - train_time
        rec = {"epoch": epoch, "train_seconds": round(train_time, 1), "eval_seconds": round(eval_time, 1),
               "loss": loss_sum / seen, "train_accuracy": correct / seen, "heldout_accuracy": acc,
               "heldout_errors": int(round((1 - acc) * len(held_x)))}
        history.append(rec)
        print(f"epoch {epoch}: train {train_time:.1f}s, eval {eval_time:.1f}s, loss {rec['loss']:.5f}, "
              f"train acc {rec['train_accuracy']:.4f}, held-out acc {acc:.4f} "
              f"({rec['heldout_errors']} errors / {len(held_x)})", flush=True)
        # checkpoint and record after every epoch, each written atomically (temp file + rename)
        save_atomic(lambda p: torch.save(model.state_dict(), p), args.out)
        summary = {"config": args.config, "config_values": cfg.as_dict(), "epochs": epoch,
                   "epochs_requested": args.epochs, "seed": args.seed, "batch_size": args.batch_size,
                   "lr": args.lr, "shift": args.shift, "threads": args.threads,
                   "train_seconds_total": round(total_time, 1), "heldout_accuracy": acc,
                   "history": history, "torch": torch.__version__}
        save_atomic(lambda p: _write_json(summary, p), os.path.splitext(args.out)[0] + ".json")

    print(f"saved {args.out}; total training time {total_time:.1f}s; "
          f"final held-out accuracy {history[-1]['heldout_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
