"""One-off screen (issue 42, fit time): with the trees beside them, does the bag still need two q?

    python benchmarks/qs_screen.py q0.8,q0.5,default 0 benchmarks/results/qs_screen.csv   # seed 0, all three
    python benchmarks/qs_screen.py q0.8,q0.5 1 benchmarks/results/qs_screen.csv           # seed 1, appended
    python benchmarks/qs_screen.py --summary benchmarks/results/qs_screen.csv benchmarks/results/trees.csv

Each fit is ``GCEClassifierCV(tree_members='lightgbm', random_state=seed, qs=...)`` on ``trees.py``'s
tables, split and noise. ``default``: qs=(0.2, 0.8), five cross-fitted members each, (64, 64) wide;
``q0.8``/``q0.5``: one q, five members (96, 96) wide (the bag's width for a single setting), about
0.8 times the networks' cost. The configurations of a cell run one after the other in the same
worker, so their times compare; ``default`` ran on seed 0 only, as the time reference (its accuracy
equals ``trees.csv``'s bag). The summary scores each with ``trees.md``'s criteria against
``trees.csv``'s peers, on the tuning seeds 0-1.
"""
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as B  # noqa: E402
from trees import NOISES, PEERS, TABLES  # noqa: E402

CONFIGS = {"default": (0.2, 0.8), "q0.8": (0.8,), "q0.5": (0.5,)}
TREES = ["HistGB", "HistGB ES", "LightGBM"]


def task(dataset, noise, rate, seed, configs):
    from sklearn_gce import GCEClassifierCV

    B.limit_threads(1)
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, _ = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
    rows = []
    for name in configs:
        clf = GCEClassifierCV(tree_members="lightgbm", random_state=seed, qs=CONFIGS[name])
        spent = {}
        fit_trees = clf._fit_tree_members

        def timed(*a):
            s = time.perf_counter()
            fit_trees(*a)
            spent["trees"] = time.perf_counter() - s

        clf._fit_tree_members = timed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = time.perf_counter()
            clf.fit(X_tr, y_noisy)
            total = time.perf_counter() - s
            del clf.__dict__["_fit_tree_members"]
            net = super(GCEClassifierCV, clf).predict_proba(X_te)
        rows.append(dict(dataset=dataset, noise=noise, rate=rate, seed=seed, config=name,
                         bag=float(np.mean(clf.predict(X_te) == y_te)) * 100,
                         networks=float(np.mean(clf.classes_[net.argmax(1)] == y_te)) * 100,
                         fit_seconds=total, tree_seconds=spent["trees"],
                         tree_weight=clf.best_params_["tree_weight"], q=clf.best_params_.get("q")))
    return rows


def summary(screen_csv, trees_csv):
    s = pd.read_csv(screen_csv)
    t = pd.read_csv(trees_csv)
    t = t[t.seed.isin([0, 1])]
    key = ["dataset", "noise", "rate"]
    piv = t.pivot_table(index=key, columns="method", values="accuracy", aggfunc="mean") * 100
    cands = {"default (trees.csv)": piv["GCEClassifierCV()"]}
    cands.update({c: g.groupby(key).bag.mean() for c, g in s[s.config != "default"].groupby("config")})
    rows = []
    for name, acc in cands.items():
        acc = acc.reindex(piv.index)
        clean = acc.index.get_level_values("noise") == "none"
        gc = (acc - piv[TREES].max(axis=1))[clean]
        gn = (acc - piv[PEERS].max(axis=1))[~clean]
        rows.append({"bag": name, "clean: within 0.5 of best tree": f"{(gc >= -0.5).sum()}/{len(gc)}",
                     "clean: worst": f"{gc.min():+.2f} ({gc.idxmin()[0]})",
                     "noisy: at/above best peer": f"{(gn >= -1e-9).sum()}/{len(gn)}",
                     "noisy: >1.0 behind": int((gn < -1).sum()),
                     "noisy: worst": f"{gn.min():+.2f} ({gn.idxmin()[0]}, {gn.idxmin()[1]})",
                     "mean accuracy": acc.mean()})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    d = s[s.config == "default"].set_index(key + ["seed"])
    check = s[s.config == "default"].merge(
        t[t.method == "GCEClassifierCV()"][key + ["seed", "accuracy"]], on=key + ["seed"])
    print(f"\n`default` equals trees.csv's bag on {int(np.isclose(check.bag, check.accuracy * 100).sum())} "
          f"of {len(check)} fits.")
    networks = d.fit_seconds - d.tree_seconds  # 0.3's networks, bit-identical to the default's
    print("\nFit time over 0.3's networks alone (the default's networks, same worker, same cell), median over "
          "the seed-0 fits: " + ", ".join(
              f"{c}: {(g.set_index(key + ['seed']).fit_seconds / networks).median():.3f}"
              for c, g in s[s.seed == 0].groupby("config")))
    print("\nper setting (mean over the tuning seeds 0-1):\n")
    wide = s[s.config != "default"].pivot_table(index=key, columns="config", values="bag")
    wide["best peer"] = piv[PEERS].max(axis=1)
    wide["best tree"] = piv[TREES].max(axis=1)
    wide["default (trees.csv)"] = piv["GCEClassifierCV()"]
    print(wide.round(2).to_markdown())


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2], sys.argv[3])
        sys.exit()
    from joblib import Parallel, delayed

    configs, seed, out = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3]
    jobs = [(d, n, r, seed, configs) for d in TABLES for n, rates in NOISES for r in rates]
    rows = pd.read_csv(out).to_dict("records") if os.path.exists(out) else []
    start = time.perf_counter()
    for i in range(0, len(jobs), 4):
        for part in Parallel(n_jobs=2)(delayed(task)(*j) for j in jobs[i:i + 4]):
            rows += part
        pd.DataFrame(rows).to_csv(out, index=False)
        print(f"{i + 4}/{len(jobs)} cells {(time.perf_counter() - start) / 60:.1f} min", flush=True)
