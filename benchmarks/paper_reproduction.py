"""Reproduce the CIFAR-10 and FASHION-MNIST experiments of the GCE paper.

Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
Networks with Noisy Labels", NeurIPS 2018: a ResNet-34 (CIFAR-10) or ResNet-18
(FASHION-MNIST) trained on noisy labels with cross entropy, the Lq loss and the
truncated Lq loss, all through :class:`sklearn_gce.GCEClassifier`, and scored on
the clean test set.

Set-up (the paper's): SGD with momentum 0.9, learning rate 0.01, weight decay
1e-4, batch 128, 120 epochs with the learning rate divided by 10 at epochs 40
and 80; random crop (padding 4) and horizontal flip; q = 0.7, k = 0.5, the
truncated loss re-weighting its samples every 10 epochs from epoch 40. Other
``--epochs`` scale these epoch counts proportionally.

Not run in CI: a full run wants a GPU (see benchmarks/PAPER.md)::

    python benchmarks/paper_reproduction.py --dataset cifar10 \\
        --data-dir ~/data/cifar-10-python.tar.gz --noise symmetric --rate 0.4 \\
        --loss ce gce truncated --epochs 120 --out results/cifar10_sym40

    python benchmarks/paper_reproduction.py --smoke   # CPU, a minute or two

``--smoke`` writes a tiny synthetic data set in the real file format to a
temporary directory and runs the whole pipeline (loader, noise, every loss,
schedule, pruning, results files) for 2 epochs on the CPU with a narrow network.
"""

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import Callback, LRScheduler
from torch import nn

try:
    import sklearn_gce  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_gce import GCEClassifier, LabelNoiseInjector  # noqa: E402
from sklearn_gce.datasets import load_cifar10, load_fashion_mnist  # noqa: E402
from sklearn_gce.losses import LOSSES  # noqa: E402

# Test accuracy (%) recalled from the paper, ResNet-34 on CIFAR-10 with 40%
# uniform noise; approximate (see /work/shared/reference/gce-facts.md).
PAPER_FIGURES = {
    ("cifar10", "symmetric", 0.4): {"ce": 81.9, "gce": 87.1, "truncated": 87.6},
}

DATASETS = {
    # name: (loader, default ResNet depth, LabelNoiseInjector mapping preset)
    "cifar10": (load_cifar10, 34, "cifar10"),
    "fashion_mnist": (load_fashion_mnist, 18, "fashion_mnist"),
}


# ------------------------------------------------------------------ network
def random_crop_flip(X, padding):
    """Random ``padding``-pixel shifted crops (zero padding) and horizontal flips.

    Works on a batch tensor on its own device, one random crop and flip per
    image, as torchvision's ``RandomCrop(size, padding)`` +
    ``RandomHorizontalFlip()`` do image by image.
    """
    n, c, h, w = X.shape
    padded = F.pad(X, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), device=X.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=X.device)
    rows = dy[:, None] + torch.arange(h, device=X.device)  # (n, h)
    cols = dx[:, None] + torch.arange(w, device=X.device)  # (n, w)
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    out = out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    flip = torch.rand(n, device=X.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PaperResNet(nn.Module):
    """ResNet-18/34 for small images, with on-device augmentation and normalisation.

    CIFAR-style: a 3x3 stride-1 stem and no max-pool, four stages of basic
    blocks (64, 128, 256, 512 channels at ``width=64``; 2-2-2-2 blocks for
    depth 18, 3-4-6-3 for depth 34), global average pooling and a linear layer
    returning logits. Any input size works (32x32 CIFAR, 28x28 FASHION-MNIST).

    The forward pass takes raw pixels as ``GCEClassifier`` hands them over (a
    float32 batch already on the device). In training mode it first applies
    a random crop with ``padding`` pixels of zero padding and a horizontal flip
    to each image, then standardises every channel with ``mean`` and ``std``
    (statistics of the training images, on the scale of the inputs).
    """

    def __init__(
        self,
        depth=34,
        n_classes=10,
        in_channels=3,
        width=64,
        mean=None,
        std=None,
        augment=True,
        padding=4,
    ):
        super().__init__()
        stages = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
        if depth not in stages:
            raise ValueError(f"depth must be 18 or 34, got {depth!r}.")
        self.augment = augment
        self.padding = padding
        mean = torch.zeros(in_channels) if mean is None else torch.as_tensor(mean)
        std = torch.ones(in_channels) if std is None else torch.as_tensor(std)
        self.register_buffer("mean", mean.float().reshape(1, -1, 1, 1))
        self.register_buffer("std", std.float().reshape(1, -1, 1, 1))

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        layers, in_planes = [], width
        for i, n_blocks in enumerate(stages[depth]):
            planes = width * 2**i
            for j in range(n_blocks):
                layers.append(BasicBlock(in_planes, planes, 2 if i > 0 and j == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(in_planes, n_classes)

    def forward(self, X):
        if self.training and self.augment and self.padding >= 0:
            X = random_crop_flip(X, self.padding)
        X = (X - self.mean) / self.std
        out = self.layers(self.stem(X))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def channel_stats(X):
    """Per-channel mean and standard deviation of an (N, C, H, W) array, chunked."""
    mean, std = [], []
    for c in range(X.shape[1]):
        values = X[:, c].astype(np.float64)
        mean.append(float(values.mean()))
        std.append(float(values.std()) or 1.0)
    return tuple(mean), tuple(std)


# ---------------------------------------------------------------- callbacks
class TestAccuracy(Callback):
    """Record the clean test accuracy as ``test_acc`` every ``every`` epochs and at the end."""

    def __init__(self, X, y, every=5):
        self.X = X
        self.y = y
        self.every = every

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every and epoch != net.max_epochs:
            return
        net.history.record("test_acc", float(np.mean(net.predict(self.X) == self.y)))


def paper_schedule(epochs):
    """(lr milestones, prune_start, prune_every): the paper's 40/80, 40, 10 at 120 epochs.

    ``GCEClassifier`` re-weights at the *start* of epoch ``prune_start``
    (counted from 1), after ``prune_start - 1`` epochs of training, as the
    reference reimplementation does; ``prune_start`` is kept at 2 or more so
    that the network has trained at least one epoch (at epoch 1 a random
    network would give every label p_y < k and prune them all).
    """
    first = max(1, round(epochs * 40 / 120))
    second = max(first + 1, round(epochs * 80 / 120))
    return [first, second], max(2, first), max(1, round(epochs * 10 / 120))


# -------------------------------------------------------------- smoke data
def write_smoke_data(dataset, directory, n_train=96, n_test=48, seed=0):
    """Write a tiny learnable data set in the real file format; return its path."""
    import gzip
    import pickle

    rng = np.random.default_rng(seed)
    directory = Path(directory)

    def images(n, shape):
        y = rng.integers(0, 10, n)
        # Class-dependent brightness plus noise: learnable, barely.
        loc = (25 * y + 10).reshape(-1, *[1] * len(shape))
        X = rng.normal(loc, 40, (n, *shape))
        return np.clip(X, 0, 255).astype(np.uint8), y

    if dataset == "cifar10":
        root = directory / "cifar-10-batches-py"
        root.mkdir(parents=True)
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                 b"dog", b"frog", b"horse", b"ship", b"truck"]  # fmt: skip
        parts = {"batches.meta": {b"label_names": names}}
        for name, n in [(f"data_batch_{i}", n_train // 5) for i in range(1, 6)] + [
            ("test_batch", n_test)
        ]:
            X, y = images(n, (3, 32, 32))
            parts[name] = {b"data": X.reshape(n, -1), b"labels": y.tolist()}
        for name, content in parts.items():
            (root / name).write_bytes(pickle.dumps(content, protocol=2))
        return root

    directory.mkdir(parents=True, exist_ok=True)
    for part, n in [("train", n_train), ("t10k", n_test)]:
        X, y = images(n, (28, 28))
        for kind, array, magic in [("images-idx3", X, 2051), ("labels-idx1", y, 2049)]:
            header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *array.shape))
            raw = header + array.astype(np.uint8).tobytes()
            (directory / f"{part}-{kind}-ubyte.gz").write_bytes(gzip.compress(raw))
    return directory


# --------------------------------------------------------------------- run
def make_classifier(args, loss, n_classes, in_channels, mean, std, test_data):
    milestones, prune_start, prune_every = paper_schedule(args.epochs)
    return GCEClassifier(
        module=PaperResNet,
        module__depth=args.depth,
        module__n_classes=n_classes,
        module__in_channels=in_channels,
        module__width=args.width,
        module__mean=mean,
        module__std=std,
        module__augment=not args.no_augment,
        loss=loss,
        q=args.q,
        k=args.k,
        prune_start=prune_start,
        prune_every=prune_every,
        max_epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=args.weight_decay,
        callbacks=[
            LRScheduler(
                torch.optim.lr_scheduler.MultiStepLR, milestones=milestones, gamma=0.1
            ),
            TestAccuracy(*test_data, every=args.eval_every),
        ],
        device=args.device,
        random_state=args.seed,
        verbose=args.verbose,
    )


def history_rows(net):
    keys = ("epoch", "train_loss", "test_acc", "n_pruned", "event_lr", "dur")
    return [{k: row[k] for k in keys if k in row} for row in net.history]


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def results_table(rows, title):
    head = [
        "loss", "test acc % (last epoch)", "best test acc % (optimistic)",
        "paper % (recalled)", "pruned", "noisy among pruned %", "noisy labels pruned %",
        "minutes",
    ]  # fmt: skip
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["loss"], fmt(r["test_acc"], ".2f"), fmt(r["best_test_acc"], ".2f"),
            fmt(r["paper"], ".1f"), str(r["n_pruned"]), fmt(r["pruned_precision"], ".1f"),
            fmt(r["pruned_recall"], ".1f"), fmt(r["minutes"], ".1f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(args):
    loader, default_depth, preset = DATASETS[args.dataset]
    args.depth = args.depth or default_depth
    data = loader(args.data_dir)
    X_train, y_train, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    if args.n_train:
        keep = np.random.default_rng(args.seed).permutation(len(y_train))[: args.n_train]
        X_train, y_train = X_train[np.sort(keep)], y_train[np.sort(keep)]

    injector = LabelNoiseInjector(
        noise=args.noise,
        rate=args.rate,
        mapping=preset if args.noise == "mapping" else None,
        random_state=args.seed,
    )
    _, y_noisy = injector.fit_resample(X_train, y_train)
    noisy = injector.noise_mask_

    mean, std = channel_stats(X_train)
    X_train = X_train.astype(np.float32)  # cast once, shared by every loss
    test_data = (X_test.astype(np.float32), y_test)
    milestones, prune_start, prune_every = paper_schedule(args.epochs)
    device = GCEClassifier(device=args.device).device
    print(
        f"{args.dataset}: {len(y_train)} train / {len(y_test)} test images of shape "
        f"{X_train.shape[1:]}, {len(data.classes)} classes; {args.noise} noise at rate "
        f"{args.rate} (actual {injector.noise_rate_:.3f}); ResNet-{args.depth} "
        f"(width {args.width}) on {device}; {args.epochs} epochs, lr {args.lr} /10 at "
        f"{milestones}, truncation from epoch {prune_start} every {prune_every}.",
        flush=True,
    )
    if device == "cpu" and not args.smoke:
        print("warning: training on the CPU; a full run needs a GPU.", file=sys.stderr)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paper = {} if args.smoke else PAPER_FIGURES.get((args.dataset, args.noise, args.rate), {})
    rows, histories = [], {}
    for loss in args.loss:
        print(f"\n=== loss={loss} ===", flush=True)
        clf = make_classifier(
            args, loss, len(data.classes), X_train.shape[1], mean, std, test_data
        )
        start = time.perf_counter()
        clf.fit(X_train, y_noisy)
        minutes = (time.perf_counter() - start) / 60
        accs = [r["test_acc"] for r in clf.history if "test_acc" in r]
        pruned = clf.pruned_rows_
        rows.append(
            {
                "loss": loss,
                "test_acc": 100 * accs[-1],
                "best_test_acc": 100 * max(accs),
                "paper": paper.get(loss),
                "n_pruned": int(pruned.sum()),
                # Of the pruned labels, how many were noisy; of the noisy, how many pruned.
                "pruned_precision": 100 * noisy[pruned].mean() if pruned.any() else None,
                "pruned_recall": (
                    100 * pruned[noisy].mean() if loss == "truncated" and noisy.any() else None
                ),
                "minutes": minutes,
            }
        )
        histories[loss] = history_rows(clf)
        if args.save_params:
            clf.save_params(f_params=out / f"{loss}.pt")
        print(f"loss={loss}: test accuracy {100 * accs[-1]:.2f}% ({minutes:.1f} min)")
        (out / "results.json").write_text(  # after each loss: a crash keeps the rest
            json.dumps(
                {"args": vars(args), "noise_rate": injector.noise_rate_,
                 "results": rows, "history": histories},
                indent=1, default=str,
            )  # fmt: skip
        )

    title = (
        f"{args.dataset}, {args.noise} noise {args.rate:g}, ResNet-{args.depth}, "
        f"{args.epochs} epochs, seed {args.seed}"
    )
    table = results_table(rows, title)
    print("\n" + table)
    (out / "results.md").write_text(table)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"results written to {out}/results.{{md,csv,json}}")
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(DATASETS), default="cifar10")
    p.add_argument("--data-dir", help="directory or archive of the data set (local files)")
    p.add_argument("--noise", choices=["symmetric", "mapping"], default="symmetric",
                   help="symmetric: the paper's uniform noise; mapping: its class-"
                        "dependent flips for the data set")  # fmt: skip
    p.add_argument("--rate", type=float, default=0.4)
    p.add_argument("--loss", nargs="+", choices=sorted(LOSSES),
                   default=["ce", "gce", "truncated"])  # fmt: skip
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--out", help="directory for results.{md,csv,json}")
    p.add_argument("--depth", type=int, choices=[18, 34],
                   help="ResNet depth (default 34 for cifar10, 18 for fashion_mnist)")  # fmt: skip
    p.add_argument("--width", type=int, default=64, help="channels of the first stage")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--q", type=float, default=0.7)
    p.add_argument("--k", type=float, default=0.5)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--n-train", type=int, help="train on a random subset of this size")
    p.add_argument("--eval-every", type=int, default=5,
                   help="record the test accuracy every this many epochs")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--save-params", action="store_true", help="save each trained network")
    p.add_argument("--smoke", action="store_true",
                   help="tiny synthetic data in the real format, 2 epochs on the CPU")  # fmt: skip
    args = p.parse_args(argv)
    if not args.smoke and (args.data_dir is None or args.out is None):
        p.error("--data-dir and --out are required (or use --smoke)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.smoke:
        return run(args)
    with tempfile.TemporaryDirectory() as tmp:
        args.data_dir = str(write_smoke_data(args.dataset, Path(tmp) / "data"))
        args.out = args.out or str(Path(tmp) / "out")
        # 2 epochs, so that the truncated loss re-weights once (at the start of
        # epoch 2, after one epoch of training).
        args.epochs, args.width, args.batch_size = 2, 8, 32
        args.device, args.eval_every = "cpu", 1
        return run(args)


if __name__ == "__main__":
    main()
