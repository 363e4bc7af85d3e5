"""Sparse input: fit time and peak memory of GCEClassifier on a TF-IDF matrix, kept sparse or made dense up front.

What it measures
----------------
A TF-IDF matrix of generated text (``--rows`` training documents, default
20,000, over a vocabulary of ``--columns`` words, default 50,000, every one
of which occurs; about 55 distinct words per document, a density near
0.1%), labelled by ``--classes`` topics (default 5): each document draws a
tenth of its words from its topic's 300 words and the rest from a Zipf
distribution and uniformly over the whole vocabulary. Two variants, each in
a fresh subprocess:

- ``sparse``: ``GCEClassifier().fit(X)`` with the CSR matrix as
  ``TfidfVectorizer`` gives it; each batch's rows are made dense on the
  device, the whole matrix never is.
- ``dense up front``: ``X.toarray()`` (float32), then the same fit.

Both fits use the default network for this width (an MLP with no
per-column embedding and no additive model: sparse input, and more than
10,000 columns, both choose it), ``--epochs`` epochs (default 3) with the
default early-stopping hold-out, ``noise_correction=None`` (one training
run), seed 0. They differ in the input scaling: the dense fit standardises
each column, the sparse one divides it by its largest magnitude without
centring. Each variant also predicts ``--test-rows`` (default 2,000) held-out
documents, in the form it was fitted on.

Reported per variant: seconds to densify (dense only), seconds of the fit,
seconds of the prediction, the input's size in memory (CSR: data, indices
and row pointers; dense: the array), and the peak memory: the process's
maximum resident set size (``resource.getrusage``) minus its resident set
size just before the variant started (after the data were made and torch's
kernels loaded), i.e. what densifying, fitting and predicting added at their
peak. Test accuracy is printed as a check that both fits learnt.

Outputs ``<out>/sparse.md`` and ``<out>/sparse.csv``. On CPU the fits use
``--threads`` torch threads (default 1).

Command
-------
    python benchmarks/sparse.py                          # 20,000 x 50,000, 3 epochs
    python benchmarks/sparse.py --rows 4000 --epochs 1   # a quick check
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

VARIANTS = ("sparse", "dense up front")


def make_corpus(n_rows, n_columns, n_classes, seed=0):
    """Word counts of generated documents (CSR) and their topics, as ``CountVectorizer`` would give them.

    Every word of the vocabulary occurs at least once, so the TF-IDF matrix
    has ``n_columns`` columns.
    """
    from scipy import sparse

    rng = np.random.default_rng(seed)
    length = 60
    y = rng.integers(0, n_classes, n_rows)
    topic_words = rng.choice(n_columns, size=(n_classes, 300), replace=False)
    n_topic, n_zipf = length // 10, length // 2
    zipf = np.minimum(rng.zipf(1.2, size=(n_rows, n_zipf)) - 1, n_columns - 1)
    uniform = rng.integers(0, n_columns, size=(n_rows, length - n_topic - n_zipf))
    topic = topic_words[y[:, None], rng.integers(0, 300, size=(n_rows, n_topic))]
    words = np.concatenate([topic, zipf, uniform], axis=1)
    rows = np.repeat(np.arange(n_rows), words.shape[1])
    counts = sparse.csr_matrix((np.ones(words.size), (rows, words.ravel())), shape=(n_rows, n_columns))
    counts.sum_duplicates()
    missing = np.flatnonzero(np.asarray(counts.sum(0)).ravel() == 0)
    if len(missing):  # words never drawn: one occurrence each, in random documents
        extra = sparse.csr_matrix((np.ones(len(missing)), (rng.integers(0, n_rows, len(missing)), missing)),
                                  shape=counts.shape)
        counts = (counts + extra).tocsr()
    return counts, y


def make_data(n_train, n_test, n_columns, n_classes):
    """TF-IDF (float32 CSR) of the training and test documents, and their topics."""
    from sklearn.feature_extraction.text import TfidfTransformer

    counts, y = make_corpus(n_train + n_test, n_columns, n_classes)
    tfidf = TfidfTransformer().fit(counts[:n_train])
    X = tfidf.transform(counts).astype(np.float32)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _rss_now_bytes():
    """The resident set size of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _nbytes(X):
    if hasattr(X, "indptr"):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def _child(variant, n_train, n_test, n_columns, n_classes, epochs, threads):
    """Runs in a fresh process: one variant, prints a JSON line."""
    import torch

    from sklearn_gce import GCEClassifier

    torch.set_num_threads(threads)
    X, y, X_test, y_test = make_data(n_train, n_test, n_columns, n_classes)
    params = dict(max_epochs=epochs, noise_correction=None, random_state=0)
    # torch's CPU kernels and the package loaded before the baseline is read
    GCEClassifier(**{**params, "max_epochs": 1}).fit(X[:256, :2000].toarray(), y[:256])
    rss_before = _rss_now_bytes()
    t0 = time.perf_counter()
    if variant == "dense up front":
        X, X_test = X.toarray(), X_test.toarray()
    densify = time.perf_counter() - t0
    t1 = time.perf_counter()
    clf = GCEClassifier(**params).fit(X, y)
    fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    accuracy = float((clf.predict(X_test) == y_test).mean())
    predict = time.perf_counter() - t2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    net = clf.module_
    out = dict(variant=variant, rows=n_train, columns=n_columns, epochs=len(clf.history),
               threads=threads, densify_s=densify, fit_s=fit, predict_s=predict,
               input_mib=_nbytes(X) / 2**20, rss_before_mib=rss_before / 2**20,
               peak_increase_mib=(peak - rss_before) / 2**20, test_accuracy=accuracy,
               network=f"MLP, embedding {net.embedding is not None}, additive {net.additive is not None}")
    print("RESULT " + json.dumps(out), flush=True)


def _available_bytes():
    """The memory the kernel says new processes can have (``MemAvailable``)."""
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def run_variant(variant, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--_child",
           json.dumps([variant, args.rows, args.test_rows, args.columns, args.classes, args.epochs, args.threads])]
    res = subprocess.run(cmd, capture_output=True, text=True)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        print(res.stdout[-2000:], res.stderr[-4000:])
        raise RuntimeError(f"the {variant!r} variant failed")
    return json.loads(line[0][7:])


def summary(table):
    """The report's closing sentence, from the table of both variants."""
    sparse_row, dense_row = (table.set_index("variant").loc[v] for v in VARIANTS)
    return (f"Kept sparse, fitting and predicting added {sparse_row.peak_increase_mib:,.0f} MiB at their "
            f"peak; made dense up front, densifying, fitting and predicting added "
            f"{dense_row.peak_increase_mib:,.0f} MiB ({dense_row.peak_increase_mib / sparse_row.peak_increase_mib:.1f} "
            f"times as much). Fit time: {sparse_row.fit_s:.1f} s sparse, {dense_row.fit_s:.1f} s dense "
            f"(plus {dense_row.densify_s:.1f} s to densify).")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--test-rows", type=int, default=2_000)
    ap.add_argument("--columns", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        _child(*json.loads(args._child))
        return
    import pandas as pd

    X, _, _, _ = make_data(args.rows, args.test_rows, args.columns, args.classes)
    density = X.nnz / (X.shape[0] * X.shape[1])
    print(f"TF-IDF of generated text: {X.shape[0]:,} x {X.shape[1]:,}, density {density:.4%} "
          f"({X.nnz / X.shape[0]:.0f} nonzeros per row), {args.classes} classes; "
          f"{args.epochs} epochs, {args.threads} torch thread(s)", flush=True)
    t0 = time.perf_counter()
    # The dense fit holds X and, while it sets the input scaling, two
    # temporaries of up to its size: refuse to start what the machine cannot hold.
    dense_need = 3 * (args.rows + args.test_rows) * args.columns * 4
    if dense_need > 0.8 * _available_bytes():
        raise SystemExit(f"the dense variant needs about {dense_need / 2**30:.1f} GiB and "
                         f"{_available_bytes() / 2**30:.1f} GiB are available; use fewer --rows or --columns")
    rows = []
    for variant in VARIANTS:
        rows.append(run_variant(variant, args))
        rows[-1]["density"] = density
        r = rows[-1]
        print(f"  {variant:15s} densify {r['densify_s']:6.1f}s  fit {r['fit_s']:7.1f}s  predict "
              f"{r['predict_s']:5.1f}s  X {r['input_mib']:7.0f} MiB  peak increase "
              f"{r['peak_increase_mib']:7.0f} MiB  test accuracy {r['test_accuracy']:.3f}", flush=True)
    wall = time.perf_counter() - t0
    table = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    table.to_csv(os.path.join(args.out, "sparse.csv"), index=False)
    command = "python benchmarks/sparse.py" + "".join(
        f" --{name.replace('_', '-')} {value}" for name, value in vars(args).items()
        if name not in ("out", "_child") and value != ap.get_default(name))
    shown = table[["variant", "densify_s", "fit_s", "predict_s", "input_mib", "peak_increase_mib",
                   "test_accuracy", "network"]]
    lines = [
        "# Sparse input: kept sparse or made dense up front", "",
        f"Generated by `{command}` (see its docstring).", "",
        f"Data: TF-IDF of generated text, {args.rows:,} training rows x {args.columns:,} columns, "
        f"density {density:.4%}, {args.classes} classes; {args.test_rows:,} test rows. "
        f"`GCEClassifier(max_epochs={args.epochs}, noise_correction=None, random_state=0)`, "
        f"{args.threads} torch thread(s) on {os.cpu_count()} shared cores. Run took {wall / 60:.1f} min.", "",
        "`peak_increase_mib`: the process's peak resident set size minus its resident set size "
        "before the variant (what densifying, fitting and predicting added at their peak); "
        "`input_mib`: the training matrix in memory (CSR arrays, or the dense array).", "",
        shown.round(3).to_markdown(index=False), "",
        summary(table), "",
    ]
    with open(os.path.join(args.out, "sparse.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n" + shown.round(3).to_markdown(index=False))
    print(f"\nwall time {wall / 60:.1f} min; results in {args.out}")


if __name__ == "__main__":
    main()
