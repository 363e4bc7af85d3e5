"""Never behind the trees (issue 42): GCEClassifierCV with tree members against the careful peers.

What it measures
----------------
Clean-test accuracy after training on (possibly noisy) labels, on the nine
tables of ``accuracy.py`` and three more where gradient-boosted trees lead
the network with clean labels (``results/accuracy_screen.md``, screened on
the tuning seeds: dslabs' us_contagious_diseases, dslabs' gapminder and
Ecdat's Computers, the next three by the trees' lead), with the benchmark's
split, preprocessing and noise (``_benchlib``), under four noises: clean,
symmetric 0.4, pair-flip 0.2 and instance-dependent 0.4. Seeds 0-1 are the
tuning seeds (every choice of the tree members was made on them); seeds 2
and 3 are held out (seed 3 was added after the last choice). Methods:

* ``GCEClassifierCV()``: ``GCEClassifierCV(random_state=seed)`` with its
  trees (``tree_members='lightgbm'``, what the default ``'auto'`` does on
  these tables); from the same fit, ``networks only``: its networks alone,
  bit-identical to ``GCEClassifierCV(tree_members=None)``'s (0.3's
  default; the trees come after), its fit time the fit's minus the trees';
  ``bag's trees``: the trees alone; ``trees' fold
  mean``: the bag predicting with the mean of the folds' trees instead of
  the trees trained on every row (``tree_members_.model_``).
* the careful peers: LightGBM stopped early on a stratified 10% of the
  noisy rows (``_benchlib.LightGBMES``), the same with the Lq loss
  (``LightGBM Lq``: ``sklearn_gce.trees.GCELGBMClassifier``, q=0.7, its
  Hessian floor; the robust loss for trees alone), cleanlab's
  ``CleanLearning`` around that LightGBM (``CL(LightGBM)``) and around
  ``HistGradientBoostingClassifier(early_stopping=True)`` (``CL(HistGB
  ES)``), HistGB with and without early stopping, LogisticRegression,
  and the strongest tabular network that runs here, ``RealMLP``: pytabkit's
  ``RealMLP_TD_Classifier`` at its tuned defaults (its own epoch chosen on
  a fifth of the training rows), one thread. TabM, the other candidate,
  takes about ten times as long on this CPU
  (``results/tabular_networks_probe.md``). ``CL(HistGB ES)``, the two
  HistGB and LogReg are read from ``--peers-from`` (``accuracy.py``'s csv,
  the same split and noise: the report checks that this run's LightGBM
  scores what that file's does on every cell read) where it has the cell,
  and fitted here otherwise.

The report (``trees.md``): the clean gap to the best tree per table; the
noisy settings where ``GCEClassifierCV(trees)`` is at or above the best
careful peer, on the tuning and the held-out seeds apart; the Lq trees
against LightGBM per noise; fit time as ratios (to ``GCEClassifierCV()``
and to LightGBM, fits of one run, one thread each); which weight and stage
the trees were given. ``trees.csv``: one row per fit.

Commands
--------
    python benchmarks/trees.py --n-jobs 2                 # the full run (about 2 h)
    python benchmarks/trees.py --n-jobs 2 --resume        # continue an interrupted run
    python benchmarks/trees.py --quick                    # two tables, clean and symmetric, seed 0
    python benchmarks/trees.py --n-jobs 2 --resume --seeds 3 --methods RealMLP   # a peer or a seed added
    python benchmarks/trees.py --report-only

Every fit uses one thread; ``--n-jobs`` runs fits in parallel processes.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402
from _grid import plan  # noqa: E402

TABLES = ["digits", "storms", "chem97", "hpc", "weather", "kershaw", "diamonds", "flights", "gsswages",
          "diseases", "gapminder", "computers"]
NOISES = [("none", [0.0]), ("symmetric", [0.4]), ("pairflip", [0.2]), ("instance", [0.4])]
TUNING_SEEDS = (0, 1)  # every other seed is held out: it played no part in any choice
BAG, NETWORKS, BAG_TREES = "GCEClassifierCV()", "networks only", "bag's trees"
BAG_FOLD_MEAN = "trees' fold mean"  # the bag predicting with the mean of the folds' trees, not model_
FITTED_HERE = ["bag", "LightGBM", "LightGBM Lq", "CL(LightGBM)", "RealMLP"]
READ_OR_FITTED = ["HistGB", "HistGB ES", "CL(HistGB ES)", "LogReg"]
PEERS = ["LogReg", "HistGB", "HistGB ES", "LightGBM", "CL(HistGB ES)", "CL(LightGBM)", "RealMLP"]
TREES = ["HistGB", "HistGB ES", "LightGBM"]


def _make(method, seed):
    if method == "LightGBM Lq":
        return B.LightGBMES(random_state=seed, q=0.7)
    if method == "CL(LightGBM)":
        return B.clean_learning(B.LightGBMES(random_state=seed), seed)
    if method == "RealMLP":  # the strongest tabular network that runs here, at its library's tuned defaults
        from pytabkit import RealMLP_TD_Classifier

        return RealMLP_TD_Classifier(random_state=seed, n_threads=1, device="cpu", verbosity=0)
    return B.make_methods(seed, [method])[method]()


def _task(dataset, noise, rate, seed, method):
    from sklearn_gce import GCEClassifierCV

    B.limit_threads(1)
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, realised = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
    cell = dict(dataset=dataset, noise=noise, rate=rate, seed=seed, realised_rate=realised)
    if method != "bag":
        acc, fit_s = B.fit_score(lambda: _make(method, seed), X_tr, y_noisy, X_te, y_te)
        return [dict(cell, method=method, accuracy=acc, fit_seconds=fit_s)]
    clf = GCEClassifierCV(tree_members="lightgbm", random_state=seed)  # the default's trees, never skipped
    spent = {}
    fit_trees = clf._fit_tree_members

    def timed(*args):  # the trees' share of the fit: the default bag's time is the rest
        start = time.perf_counter()
        fit_trees(*args)
        spent["trees"] = time.perf_counter() - start

    clf._fit_tree_members = timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf.fit(X_tr, y_noisy)
        total = time.perf_counter() - start
        del clf.__dict__["_fit_tree_members"]
        network_proba = super(GCEClassifierCV, clf).predict_proba(X_te)
        networks = clf.classes_[network_proba.argmax(1)]
        trees = clf.classes_[clf.tree_members_.predict_proba(X_te).argmax(1)]
        combined = clf.predict(X_te)
        w = clf.best_params_["tree_weight"]
        fold_mean = clf.classes_[(w * clf.tree_members_.fold_mean_proba(X_te) + (1 - w) * network_proba).argmax(1)]
    chosen = dict(tree_weight=clf.best_params_["tree_weight"], q=clf.best_params_.get("q"),
                  n_flagged=int(clf.label_issues_.sum()))
    return [dict(cell, method=BAG, accuracy=float(np.mean(combined == y_te)), fit_seconds=total, **chosen),
            dict(cell, method=BAG_FOLD_MEAN, accuracy=float(np.mean(fold_mean == y_te)), fit_seconds=np.nan),
            dict(cell, method=NETWORKS, accuracy=float(np.mean(networks == y_te)),
                 fit_seconds=total - spent["trees"]),
            dict(cell, method=BAG_TREES, accuracy=float(np.mean(trees == y_te)), fit_seconds=spent["trees"])]


# --------------------------------------------------------------------- report
def _pivot(df, seeds=None):
    sub = df if seeds is None else df[df.seed.isin(seeds)]
    return sub.groupby(["dataset", "noise", "rate", "method"]).accuracy.mean().unstack("method") * 100


def report(df, peers_file, out, command, wall):
    piv = _pivot(df)
    held_out = tuple(sorted(set(df.seed) - set(TUNING_SEEDS)))
    held_label = "held-out seed" + ("s" if len(held_out) > 1 else "")
    seed_groups = (("tuning seeds", TUNING_SEEDS), (held_label, held_out))
    lines = ["# Never behind the trees: GCEClassifierCV with tree members (issue 42)", "",
             f"Generated by `{command}` (see `benchmarks/trees.py`'s docstring for the set-up); "
             f"{wall / 60:.1f} min of fits. Clean-test accuracy (%), mean over the seeds shown. "
             f"Seeds {list(TUNING_SEEDS)} tune" + (f"; {held_label} {list(held_out)}." if held_out else "."), ""]
    if "read_from" in df:
        read = df[df.read_from.fillna("") != ""]
        if len(read):
            lines += [f"Peers read from `{os.path.relpath(peers_file, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}` on {read.groupby(['dataset', 'noise', 'rate', 'seed']).ngroups} "
                      f"fits' cells ({', '.join(sorted(set(read.method)))}); this run's LightGBM scored what "
                      f"that file's did on {int(df.attrs.get('lightgbm_agrees', 0))} of "
                      f"{int(df.attrs.get('lightgbm_checked', 0))} of those cells.", ""]

    # clean: the gap to the best tree per table
    clean = piv.xs("none", level="noise").droplevel("rate")
    trees = [m for m in TREES if m in clean]
    rows = []
    for d in clean.index:
        best_tree = clean.loc[d, trees].astype(float).idxmax()
        rows.append({"table": d, BAG: clean.loc[d, BAG], NETWORKS: clean.loc[d, NETWORKS],
                     "best tree": f"{clean.loc[d, best_tree]:.2f} ({best_tree})",
                     "gap": clean.loc[d, BAG] - clean.loc[d, best_tree],
                     "gap of the networks only": clean.loc[d, NETWORKS] - clean.loc[d, best_tree]})
    clean_rows = pd.DataFrame(rows)
    within = int((clean_rows["gap"] >= -0.5).sum())
    by_seeds = []
    for label, seeds in seed_groups:
        p = _pivot(df, seeds)
        if "none" not in p.index.get_level_values("noise") or BAG not in p:
            continue
        c = p.xs("none", level="noise").droplevel("rate")
        gap = c[[m for m in (BAG, BAG_FOLD_MEAN, NETWORKS) if m in c]].sub(c[trees].max(axis=1), axis=0)
        worst = gap[BAG].nsmallest(2)
        by_seeds.append(f"on the {label}: {int((gap[BAG] >= -0.5).sum())} of {len(gap)}, worst "
                        + ", ".join(f"{d} {g:+.2f}" for d, g in worst.items())
                        + "; " + "; ".join(f"{m}: {int((gap[m] >= -0.5).sum())}" for m in gap if m != BAG))
    lines += ["## Clean labels: the gap to the best tree (all seeds)", "",
              f"Within 0.5 points of the best tree: {within} of {len(clean_rows)} tables "
              f"(the networks only: {int((clean_rows['gap of the networks only'] >= -0.5).sum())}).", "",
              *[f"- {line}" for line in by_seeds], "",
              clean_rows.to_markdown(index=False, floatfmt=".2f"), ""]

    # noisy: against the best careful peer, tuning and held-out seeds apart
    lines += ["## Noisy labels: against the best careful peer", "",
              f"Peers: {', '.join(PEERS)}. A setting is a table and a noise; `gap` is "
              f"`{BAG}` minus the best peer's mean.", ""]
    summary = []
    for label, seeds in (*seed_groups, ("all seeds", None)):
        p = _pivot(df, seeds)
        noisy = p[p.index.get_level_values("noise") != "none"]
        peers = [m for m in PEERS if m in noisy]
        if noisy.empty or BAG not in noisy:
            continue
        for method in [m for m in (BAG, BAG_FOLD_MEAN, NETWORKS) if m in noisy]:
            gap = (noisy[method] - noisy[peers].max(axis=1)).dropna()
            worst = gap.idxmin()
            summary.append({"seeds": label, "method": method, "settings": len(gap),
                            "at or above best peer": f"{int((gap >= -1e-9).sum())} ({(gap >= -1e-9).mean():.0%})",
                            "more than 1.0 behind": int((gap < -1.0).sum()), "mean gap": gap.mean(),
                            "worst": f"{gap[worst]:+.2f} ({worst[0]}, {worst[1]} {worst[2]})"})
    lines += [pd.DataFrame(summary).to_markdown(index=False, floatfmt="+.2f"), ""]
    cols = [BAG, BAG_FOLD_MEAN, NETWORKS, BAG_TREES, *[m for m in PEERS if m in piv], "LightGBM Lq"]
    table = piv[[c for c in cols if c in piv]].copy()
    table.insert(1, "gap to best peer", table[BAG] - table[[m for m in PEERS if m in table]].max(axis=1))
    lines += ["## Every setting (all seeds)", "", table.round(2).reset_index().to_markdown(index=False), ""]

    # do the robust loss's trees help? LightGBM Lq against LightGBM, per noise
    if "LightGBM Lq" in piv:
        diff = (piv["LightGBM Lq"] - piv["LightGBM"]).dropna()
        by_noise = diff.groupby(level=["noise", "rate"]).agg(["mean", "min", "max", lambda g: int((g > 0).sum()),
                                                              "size"])
        by_noise.columns = ["mean", "min", "max", "tables ahead", "tables"]
        lines += ["## The Lq loss for trees: LightGBM Lq (q=0.7) minus LightGBM (cross entropy), points", "",
                  by_noise.reset_index().to_markdown(index=False, floatfmt="+.2f"), ""]

    # fit time: ratios of fits in this run
    t = df.groupby(["dataset", "noise", "rate", "seed", "method"]).fit_seconds.first().unstack("method")
    ratios = pd.DataFrame({f"{BAG} / {NETWORKS}": t[BAG] / t[NETWORKS], f"{BAG} / LightGBM": t[BAG] / t["LightGBM"],
                           f"{NETWORKS} / LightGBM": t[NETWORKS] / t["LightGBM"]})
    per_table = ratios.groupby(level="dataset").median()
    fits = t.dropna(subset=[BAG, NETWORKS])
    lines += ["## Fit time, as ratios (median per table; one thread per fit)", "",
              f"Over every fit: `{BAG}` takes {ratios.iloc[:, 0].median():.2f}x `{NETWORKS}`'s time "
              f"(range {ratios.iloc[:, 0].min():.2f}-{ratios.iloc[:, 0].max():.2f}; "
              f"{fits[BAG].sum() / fits[NETWORKS].sum():.2f}x summed over the fits) and "
              f"{ratios.iloc[:, 1].median():.1f}x LightGBM's.", "",
              per_table.reset_index().to_markdown(index=False, floatfmt=".2f"), ""]

    # what the trees were given
    bag = df[df.method == BAG]
    if len(bag):
        given = bag.groupby("noise").agg(
            fits=("tree_weight", "size"), mean_weight=("tree_weight", "mean"),
            weight_0=("tree_weight", lambda w: int((w == 0).sum())), weight_1=("tree_weight", lambda w: int((w == 1).sum())))
        lines += ["## What the trees were given (chosen out of fold on the given labels)", "",
                  "`weight_0`: fits where the networks alone were kept; `weight_1`: the trees alone.", "",
                  given.reset_index().to_markdown(index=False, floatfmt=".2f"), ""]
    with open(os.path.join(out, "trees.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[:60]))


def _read_peers(peers_file, jobs):
    """The fits of ``READ_OR_FITTED`` methods found in ``peers_file``, and the jobs left to run."""
    if not peers_file or not os.path.exists(peers_file):
        return [], jobs
    old = pd.read_csv(peers_file)
    old = old[old.method.isin(READ_OR_FITTED)]
    have = {(r.dataset, r.noise, float(r.rate), int(r.seed), r.method): r for r in old.itertuples()}
    rows, left = [], []
    for j in jobs:
        key = (j[0], j[1], float(j[2]), j[3], j[4])
        if j[4] in READ_OR_FITTED and key in have:
            r = have[key]
            rows.append(dict(dataset=r.dataset, noise=r.noise, rate=r.rate, seed=r.seed, method=r.method,
                             accuracy=r.accuracy, fit_seconds=r.fit_seconds, realised_rate=r.realised_rate,
                             read_from=os.path.basename(peers_file)))
        else:
            left.append(j)
    return rows, left


def _check_read_cells(df, peers_file):
    """On how many read cells this run's LightGBM equals the file's: the same split, noise and preprocessing."""
    if not peers_file or not os.path.exists(peers_file) or "read_from" not in df:
        return
    old = pd.read_csv(peers_file)
    old = old[old.method == "LightGBM"].set_index(["dataset", "noise", "rate", "seed"]).accuracy
    read = df[df.read_from.fillna("") != ""][["dataset", "noise", "rate", "seed"]].drop_duplicates()
    mine = df[df.method == "LightGBM"].set_index(["dataset", "noise", "rate", "seed"]).accuracy
    keys = [tuple(k) for k in read.itertuples(index=False) if tuple(k) in mine.index and tuple(k) in old.index]
    df.attrs["lightgbm_checked"] = len(keys)
    df.attrs["lightgbm_agrees"] = sum(abs(mine[k] - old[k]) < 1e-12 for k in keys)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="digits and diamonds, clean and symmetric 0.4, seed 0")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--tables", nargs="*", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=None, help="default: 0 1 2 3")
    ap.add_argument("--methods", nargs="*", default=None,
                    help=f"a subset of {FITTED_HERE + READ_OR_FITTED} ('bag' is the bag and its columns)")
    ap.add_argument("--noises", nargs="*", default=None,
                    help="noise cells instead of the four, as TYPE:RATE (e.g. none:0 symmetric:0.4)")
    ap.add_argument("--peers-from", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                         "accuracy.csv"),
                    help="accuracy.py's csv: HistGB, HistGB ES, CL(HistGB ES), LogReg read where it has the cell")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    csv_path, wall_path = os.path.join(args.out, "trees.csv"), os.path.join(args.out, ".trees_wall.json")
    command = "python benchmarks/trees.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.report_only:
        df = pd.read_csv(csv_path)
        _check_read_cells(df, args.peers_from)
        wall = json.load(open(wall_path))["seconds"] if os.path.exists(wall_path) else float("nan")
        return report(df, args.peers_from, args.out, json.load(open(wall_path)).get("command", command)
                      if os.path.exists(wall_path) else command, wall)
    tables, noises, seeds = TABLES, NOISES, [0, 1, 2, 3]
    if args.quick:
        tables, noises, seeds = ["digits", "diamonds"], NOISES[:2], [0]
    tables, seeds = args.tables or tables, args.seeds if args.seeds is not None else seeds
    if args.noises:
        noises = [(n, [float(r) for r in rates.split(",")]) for n, rates in (cell.split(":") for cell in args.noises)]
    methods = FITTED_HERE + READ_OR_FITTED
    unknown = sorted(set(args.methods or ()) - set(methods))
    if unknown:
        ap.error(f"unknown --methods {unknown}; choose from {methods}")
    jobs, skipped = plan(tables, noises, seeds, args.methods or methods)
    rows, jobs = _read_peers(args.peers_from, jobs)
    wall_before = 0.0
    if args.resume and os.path.exists(csv_path):
        old = pd.read_csv(csv_path)
        as_job = {BAG: "bag", NETWORKS: "bag", BAG_TREES: "bag", BAG_FOLD_MEAN: "bag"}
        done = {(r.dataset, r.noise, float(r.rate), int(r.seed), as_job.get(r.method, r.method))
                for r in old.itertuples()}
        rows = [r for r in old.to_dict("records")]
        jobs = [j for j in jobs if (j[0], j[1], float(j[2]), j[3], j[4]) not in done]
        wall_before = json.load(open(wall_path))["seconds"] if os.path.exists(wall_path) else 0.0
    # the bag first, seeds in order: the tuning seeds finish first; the quick peers fill the tail
    jobs.sort(key=lambda j: (j[3] not in TUNING_SEEDS, j[4] != "bag", j[4] != "CL(HistGB ES)", j[3]))
    print(f"{len(jobs)} fits to run; {len(rows)} rows read or kept; {len(skipped)} cells skipped", flush=True)

    from joblib import Parallel, delayed

    start, chunk = time.perf_counter(), max(8, 4 * args.n_jobs)
    for i in range(0, len(jobs), chunk):
        for result in Parallel(n_jobs=args.n_jobs)(delayed(_task)(*j) for j in jobs[i:i + chunk]):
            rows += result
        wall = wall_before + time.perf_counter() - start
        print(f"  {min(i + chunk, len(jobs))}/{len(jobs)} fits, {wall / 60:.1f} min", flush=True)
        pd.DataFrame(rows).to_csv(csv_path, index=False)  # saved as it goes: --resume continues
        with open(wall_path, "w") as f:
            json.dump({"seconds": wall, "command": command}, f)
    df = pd.DataFrame(rows)
    _check_read_cells(df, args.peers_from)
    report(df, args.peers_from, args.out, command, wall_before + time.perf_counter() - start)


if __name__ == "__main__":
    main()
