"""Document 1's 32x32x3 network on real colour images: CIFAR-10.

    python examples/cifar10_doc1.py                       # 10 epochs, all 50,000 images
    python examples/cifar10_doc1.py --epochs 2 --train-size 10000 --out runs/cifar

The book's chapter 11 trains this network offline on tinted MNIST digits; this
script gives it what it was designed for. It

1. loads CIFAR-10 with :func:`companion.data.load_cifar10`: the official
   ``cifar-10-python.tar.gz`` (about 170 MB) is downloaded once into the data
   folder, its MD5 checked against the published one, and every batch file
   read is checked against its published MD5 too (``--no-verify`` skips the
   latter, for CIFAR-format files of your own);
2. trains :func:`companion.nn.cnn_32x32x3` (conv 3->32, pool, conv 32->64,
   pool, dense 4096->128 with dropout, dense 128->10) with Adam, random crops
   and horizontal flips, showing a progress bar;
3. prints the test accuracy and the accuracy of every class, and saves
   ``conv1_filters.png`` (the 32 learned 3x3 colour filters of the first
   layer), ``results.json`` and the trained model's checkpoint in ``--out``.

Everything is seeded (``--seed``): the same command on the same machine gives
the same numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from companion.data import (
    CIFAR10_CLASSES,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    load_cifar10,
)
from companion.nn import cnn_32x32x3, save_checkpoint
from companion.optim import Adam
from companion.train import evaluate, fit, per_class_accuracy, predict


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="folder holding (or to receive) cifar-10-batches-py; default "
                        "$COMPANION_DATA/cifar10, else the per-user cache")
    p.add_argument("--out", default="cifar10-run", help="folder for the results")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--train-size", type=int, default=None,
                   help="train on the first N training images (default: all 50,000)")
    p.add_argument("--test-size", type=int, default=None,
                   help="evaluate on the first N test images (default: all 10,000)")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--no-augment", action="store_true",
                   help="no random crops (padding 4) and horizontal flips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-download", action="store_true",
                   help="fail instead of downloading when the files are missing")
    p.add_argument("--no-verify", action="store_true",
                   help="do not check the batch files against the published MD5s")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("train_size", "test_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not args.lr > 0:
        p.error("--lr must be > 0")
    return args


def save_filters(w: np.ndarray, path: Path) -> None:
    """The first layer's filters ``(F, 3, K, K)`` as a grid of small colour images, each
    scaled to [0, 1] on its own (so that its pattern shows, not its norm)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    F = w.shape[0]
    cols = 8
    rows = -(-F // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9))
    for k, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if k < F:
            f = w[k].transpose(1, 2, 0)
            f = (f - f.min()) / max(float(f.max() - f.min()), 1e-12)
            ax.imshow(f, interpolation="nearest")
    fig.suptitle("conv1: the learned 3x3 colour filters")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(data_dir=args.data_dir, standardize=True, download=not args.no_download,
                  verify=not args.no_verify, progress=not args.no_progress)
    train = load_cifar10("train", **common)
    test = load_cifar10("test", **common)
    x_train, y_train = train.images[:args.train_size], train.labels[:args.train_size]
    x_test, y_test = test.images[:args.test_size], test.labels[:args.test_size]
    print(f"CIFAR-10: training on {len(y_train):,} images, testing on {len(y_test):,}")

    model = cnn_32x32x3(rng=args.seed, dropout=args.dropout)
    augment = None if args.no_augment else Compose(RandomCrop(4), RandomHorizontalFlip())
    history = fit(model, (x_train, y_train), optimizer=Adam(lr=args.lr),
                  epochs=args.epochs, batch_size=args.batch_size, val_data=(x_test, y_test),
                  augment=augment, rng=args.seed + 1,
                  progress=not args.no_progress)

    test_loss, test_acc = evaluate(model, x_test, y_test)
    predicted = predict(model, x_test).argmax(axis=1)
    per_class = per_class_accuracy(y_test, predicted, len(CIFAR10_CLASSES))
    print(f"test accuracy {100 * test_acc:.1f}% (loss {test_loss:.3f}) after "
          f"{args.epochs} epoch(s)")
    print("per class:")
    for name, acc in zip(CIFAR10_CLASSES, per_class):
        shown = "  -  " if np.isnan(acc) else f"{100 * acc:5.1f}%"
        print(f"  {name:<10} {shown}")

    save_filters(model.params["conv1.w"], out / "conv1_filters.png")
    save_checkpoint(out / "model.npz", model, epoch=args.epochs)
    results = {"command": "python examples/cifar10_doc1.py " + " ".join(argv or sys.argv[1:]),
               "train_size": int(len(y_train)), "test_size": int(len(y_test)),
               "epochs": args.epochs, "seed": args.seed,
               "test_accuracy": float(test_acc), "test_loss": float(test_loss),
               "per_class_accuracy": {n: (None if np.isnan(a) else float(a))
                                      for n, a in zip(CIFAR10_CLASSES, per_class)},
               "val_acc_by_epoch": [float(a) for a in history.val_acc]}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"saved {out / 'conv1_filters.png'}, {out / 'results.json'}, {out / 'model.npz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
