"""Fit speed of GCEClassifier: overhead ratios and scaling with the number of rows.

What it measures
----------------
1. Ratios of fit wall time, measured side by side in one run (same data, same
   MLP, Adam, epochs, lr and batch size; each repeat runs every variant once,
   in a shuffled order; ratios are medians over repeats of the per-repeat
   ratio, which cancels slow drifts in machine load):

   - ``GCEClassifier(loss='gce')`` / ``GCEClassifier(loss='ce')``: the cost of
     the loss (target: <= 1.05);
   - ``GCEClassifier(loss='gce')`` / plain ``skorch.NeuralNetClassifier`` with
     ``torch.nn.CrossEntropyLoss`` (skorch's default Dataset/DataLoader path);
   - ``GCEClassifier(loss='gce')`` / a minimal hand-written torch loop (same
     ``sklearn_gce.MLP`` module and GCE loss, tensors pre-loaded on the
     device, ``torch.randperm`` shuffling, no per-batch ``.item()``)
     (target: <= 1.2);
   - ``GCEClassifier(loss='truncated')`` / ``GCEClassifier(loss='gce')``: the
     overhead of the pruning schedule, at the package's default schedule and
     ``max_epochs`` (target: <= 1.10).

   Data: ``make_classification``-like Gaussian data, 10,000 rows x 50
   features, 10 classes, float32. ``--epochs`` defaults to the package
   default ``max_epochs`` so the truncation schedule has its real density.

2. Scaling: fit time and peak memory of ``GCEClassifier(loss='gce')`` (and the
   hand-written loop) at 10k, 100k and 1M rows x 20 features (``--scale-epochs``
   epochs, default 1), each in a fresh subprocess; peak memory is the
   process's max RSS (``resource.getrusage``), reported as the increase during
   the fit as a multiple of X's size (float32 bytes). On CUDA the peak of
   ``torch.cuda.max_memory_allocated`` is reported too.

``device='auto'``: runs on CUDA when present. On CPU every variant uses
``--threads`` torch threads (default 1; the machine is shared).

Outputs ``<out>/speed.md``, ``<out>/speed.csv`` (every timed fit) and prints
the ratios.

Command
-------
    python benchmarks/speed.py                 # default: 5 repeats, package max_epochs
    python benchmarks/speed.py --quick         # 3 repeats, 10 epochs, scaling to 100k
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from sklearn_gce import MLP, GCEClassifier  # noqa: E402


def resolve_device(device):
    """``'auto'``: CUDA where it is available, else the CPU (what GCEClassifier's ``device='auto'`` does)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def make_data(n, d, k, seed=0):
    """Gaussian features and labels from a random linear teacher (cheap in memory)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    W = rng.standard_normal((d, k), dtype=np.float32)
    logits = X @ W
    logits += rng.gumbel(size=logits.shape).astype(np.float32)
    y = logits.argmax(1).astype(np.int64)
    del logits
    return X, y


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------- variants
def fit_gce(X, y, loss, epochs, device, seed):
    # A fixed number of epochs: no validation split or early stopping, whatever
    # the package defaults become, so every variant does the same work.
    # The MLP alone (no additive member): the network the hand-written loop
    # and plain skorch train, so the ratios measure the training loop.
    clf = GCEClassifier(loss=loss, max_epochs=epochs, device=device, random_state=seed,
                        train_split=None, callbacks=None, early_stopping=False,
                        module__additive_member=False)
    clf.fit(X, y)
    return clf


def fit_skorch(X, y, epochs, device, seed):
    from skorch import NeuralNetClassifier

    d = GCEClassifier()
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_classes=int(y.max()) + 1,
        criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=d.lr,
        max_epochs=epochs, batch_size=d.batch_size, train_split=None,
        iterator_train__shuffle=True, device=device, verbose=0,
    )
    net.initialize()
    net.module_.set_input_scaling(X)
    net.partial_fit(X, y)
    return net


def fit_loop(X, y, epochs, device, seed, q=0.7):
    """The minimal loop: same module, Adam, GCE loss, pre-loaded tensors, randperm."""
    d = GCEClassifier()
    torch.manual_seed(seed)
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, device=device)
    model = MLP(X.shape[1], int(y.max()) + 1).to(device)
    model.set_input_scaling(Xt)
    opt = torch.optim.Adam(model.parameters(), lr=d.lr)
    n, bs = len(Xt), d.batch_size
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, device=device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            if len(idx) < 2:  # batch norm cannot train on one sample
                continue
            logp = torch.log_softmax(model(Xt[idx]), -1)
            logp_y = logp.gather(1, yt[idx, None]).squeeze(1)
            loss = (-torch.expm1(q * logp_y) / q).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    _sync(device)
    return model


VARIANTS = {
    "GCE (gce)": lambda X, y, e, dev, s: fit_gce(X, y, "gce", e, dev, s),
    "GCE (ce)": lambda X, y, e, dev, s: fit_gce(X, y, "ce", e, dev, s),
    "GCE (truncated)": lambda X, y, e, dev, s: fit_gce(X, y, "truncated", e, dev, s),
    "skorch CE": fit_skorch,
    "torch loop": fit_loop,
}

RATIOS = [
    ("GCE (gce)", "GCE (ce)", "loss cost: gce / ce", 1.05),
    ("GCE (gce)", "torch loop", "GCEClassifier / hand-written loop", 1.20),
    ("GCE (gce)", "skorch CE", "GCEClassifier / plain skorch", None),
    ("skorch CE", "torch loop", "plain skorch / hand-written loop", None),
    ("GCE (truncated)", "GCE (gce)", "pruning overhead: truncated / gce", 1.10),
]


def time_ratios(n, d, k, epochs, repeats, device, seed=0):
    X, y = make_data(n, d, k, seed)
    # warm-up (allocator, kernels, imports) so the first timed fit is not penalised
    for f in VARIANTS.values():
        f(X[:2000], y[:2000], 1, device, seed)
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(repeats):
        names = list(VARIANTS)
        rng.shuffle(names)
        for name in names:
            _sync(device)
            t0 = time.perf_counter()
            VARIANTS[name](X, y, epochs, device, seed + r)
            _sync(device)
            rows.append(dict(repeat=r, variant=name, seconds=time.perf_counter() - t0))
            print(f"  repeat {r} {name:16s} {rows[-1]['seconds']:7.2f}s", flush=True)
    return rows


# -------------------------------------------------------------------- scaling
def _rss_now_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return float("nan")


def _child(n, d, k, epochs, device, variant, threads):
    """Runs in a fresh process: one fit, prints a JSON line."""
    torch.set_num_threads(threads)
    X, y = make_data(n, d, k)
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # make sure torch's CPU kernels are loaded before the baseline is read
    fit_loop(X[:256], y[:256], 1, device, 0) if variant == "torch loop" else \
        fit_gce(X[:256], y[:256], "gce", 1, device, 0)
    rss_before = _rss_now_bytes()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    if variant == "torch loop":
        fit_loop(X, y, epochs, device, 0)
    else:
        clf = fit_gce(X, y, "gce", epochs, device, 0)
        clf.predict_proba(X[: min(n, 100_000)])
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = dict(rows=n, variant=variant, epochs=epochs, seconds=seconds, x_bytes=X.nbytes,
               rss_before=rss_before, peak_before=peak_before, peak_rss=peak,
               fit_extra_over_x=(peak - rss_before) / X.nbytes,
               peak_over_x=peak / X.nbytes)
    if torch.device(device).type == "cuda":
        out["cuda_peak"] = torch.cuda.max_memory_allocated()
        out["cuda_peak_over_x"] = out["cuda_peak"] / X.nbytes
    print("RESULT " + json.dumps(out), flush=True)


def scaling(sizes, d, k, epochs, device, threads):
    rows = []
    for n in sizes:
        for variant in ("GCE (gce)", "torch loop"):
            cmd = [sys.executable, os.path.abspath(__file__), "--_child",
                   json.dumps([n, d, k, epochs, device, variant, threads])]
            res = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                print(res.stdout[-2000:], res.stderr[-4000:])
                raise RuntimeError(f"scaling child failed for n={n}")
            rows.append(json.loads(line[0][7:]))
            r = rows[-1]
            print(f"  {n:>9,} rows {variant:12s} {r['seconds']:7.1f}s  peak RSS "
                  f"{r['peak_rss'] / 2**20:7.0f} MiB  fit extra {r['fit_extra_over_x']:.2f} x X",
                  flush=True)
    return rows


# ---------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs of the ratio fits (default: the package's max_epochs)")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--scale-epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    if args._child:
        _child(*json.loads(args._child))
        return
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    import pandas as pd

    default_epochs = GCEClassifier().max_epochs
    epochs = args.epochs or (10 if args.quick else default_epochs)
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    dev_note = (torch.cuda.get_device_name() if device == "cuda"
                else f"CPU, {args.threads} torch thread(s), {os.cpu_count()} cores (shared)")
    print(f"device: {device} ({dev_note}); ratio fits: {args.rows} rows x 50 features, "
          f"10 classes, {epochs} epochs, {repeats} repeats", flush=True)

    t0 = time.perf_counter()
    rows = time_ratios(args.rows, 50, 10, epochs, repeats, device)
    df = pd.DataFrame(rows)
    df["part"] = "ratios"
    wide = df.pivot(index="repeat", columns="variant", values="seconds")
    med = wide.median()
    ratio_rows = []
    for a, b, label, target in RATIOS:
        per_rep = wide[a] / wide[b]
        ratio_rows.append(dict(ratio=label, median=per_rep.median(), min=per_rep.min(),
                               max=per_rep.max(), target=target,
                               met=("" if target is None else
                                    ("yes" if per_rep.median() <= target else "NO"))))
    ratios = pd.DataFrame(ratio_rows)

    scale = pd.DataFrame()
    if not args.no_scaling:
        print(f"scaling ({args.scale_epochs} epoch(s), 20 features, 10 classes):", flush=True)
        scale = pd.DataFrame(scaling(sizes, 20, 10, args.scale_epochs, device, args.threads))
        scale["part"] = "scaling"
    wall = time.perf_counter() - t0
    pd.concat([df, scale], ignore_index=True).to_csv(os.path.join(args.out, "speed.csv"), index=False)

    lines = ["# Fit speed", "",
             "Generated by `python benchmarks/speed.py` (see its docstring).", "",
             f"Device: {device} ({dev_note}). Run took {wall / 60:.1f} min.", "",
             f"## Ratios ({args.rows} rows x 50 features, 10 classes, {epochs} epochs, "
             f"batch {GCEClassifier().batch_size}, median over {repeats} repeats)", "",
             ratios.round(3).to_markdown(index=False), "",
             "Median fit seconds per variant:", "",
             med.round(2).rename("seconds").to_frame().to_markdown(), ""]
    if len(scale):
        s = scale.copy()
        s["peak RSS MiB"] = s.peak_rss / 2**20
        s["X MiB"] = s.x_bytes / 2**20
        s["RSS before fit MiB"] = s.rss_before / 2**20
        s["s/epoch"] = s.seconds / s.epochs
        s["us/row/epoch"] = 1e6 * s.seconds / s.epochs / s.rows
        cols = ["rows", "variant", "epochs", "seconds", "s/epoch", "us/row/epoch", "X MiB",
                "RSS before fit MiB", "peak RSS MiB", "fit_extra_over_x"]
        if "cuda_peak_over_x" in s:
            cols.append("cuda_peak_over_x")
        lines += [f"## Scaling ({args.scale_epochs} epoch(s), 20 features, 10 classes; "
                  "GCE timing includes predict_proba on up to 100k rows)", "",
                  "`fit_extra_over_x` = (peak RSS after the fit - RSS just before it) / "
                  "X.nbytes: the memory the fit adds, as a multiple of the float32 input.", "",
                  s[cols].round(2).to_markdown(index=False), ""]
    with open(os.path.join(args.out, "speed.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n" + ratios.round(3).to_markdown(index=False))
    if len(scale):
        print("\n" + s[cols].round(2).to_markdown(index=False))
    print(f"\nwall time {wall / 60:.1f} min; results in {args.out}")


if __name__ == "__main__":
    main()
