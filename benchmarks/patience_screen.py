"""One-off screen (issue 42, fit time): the networks' patience with tree members, on the tuning seeds 0-1.

    python benchmarks/patience_screen.py 14,16 benchmarks/results/patience_screen.csv      # 192 fits, 36 min
    python benchmarks/patience_screen.py --summary benchmarks/results/patience_screen.csv benchmarks/results/trees.csv

Each fit is ``GCEClassifierCV(tree_members='lightgbm', random_state=seed, n_iter_no_change=p)`` on
``trees.py``'s tables, split and noise; the summary scores it with ``trees.md``'s criteria against
``trees.csv``'s peers and its patience-20 bag.
"""
import os, sys, time, warnings
import numpy as np, pandas as pd
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as B
from trees import TABLES, NOISES

def task(dataset, noise, rate, seed, p):
    from sklearn_gce import GCEClassifierCV
    B.limit_threads(1)
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, _ = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
    clf = GCEClassifierCV(tree_members="lightgbm", random_state=seed, n_iter_no_change=p)
    spent = {}
    fit_trees = clf._fit_tree_members
    def timed(*a):
        s = time.perf_counter(); fit_trees(*a); spent["trees"] = time.perf_counter() - s
    clf._fit_tree_members = timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = time.perf_counter(); clf.fit(X_tr, y_noisy); total = time.perf_counter() - s
        del clf.__dict__["_fit_tree_members"]
        from sklearn_gce import GCEClassifierCV as G
        net = super(G, clf).predict_proba(X_te)
    return dict(dataset=dataset, noise=noise, rate=rate, seed=seed, patience=p,
                bag=float(np.mean(clf.predict(X_te) == y_te)) * 100,
                networks=float(np.mean(clf.classes_[net.argmax(1)] == y_te)) * 100,
                fit_seconds=total, tree_seconds=spent["trees"], tree_weight=clf.best_params_["tree_weight"],
                epochs=int(np.max(clf.cv_results_["n_epochs"])))

def summary(screen_csv, trees_csv):
    s = pd.read_csv(screen_csv)
    t = pd.read_csv(trees_csv)
    t = t[t.seed.isin([0, 1])]
    key = ["dataset", "noise", "rate"]
    PEERS = ["LogReg", "HistGB", "HistGB ES", "LightGBM", "CL(HistGB ES)", "CL(LightGBM)", "RealMLP"]
    TREES = ["HistGB", "HistGB ES", "LightGBM"]
    piv = t.pivot_table(index=key, columns="method", values="accuracy", aggfunc="mean") * 100
    base_time = t[t.method == "GCEClassifierCV()"].fit_seconds.sum()
    cands = {20: piv["GCEClassifierCV()"], **{p: g.groupby(key).bag.mean() for p, g in s.groupby("patience")}}
    nets = {20: piv["networks only"], **{p: g.groupby(key).networks.mean() for p, g in s.groupby("patience")}}
    rows = []
    for p, acc in cands.items():
        acc = acc.reindex(piv.index)
        clean = acc.index.get_level_values("noise") == "none"
        gc = (acc - piv[TREES].max(axis=1))[clean]
        gn = (acc - piv[PEERS].max(axis=1))[~clean]
        rows.append({"patience": p, "clean: within 0.5 of best tree": f"{(gc >= -0.5).sum()}/{len(gc)}",
                     "clean: worst": f"{gc.min():+.2f} ({gc.idxmin()[0]})",
                     "noisy: at/above best peer": f"{(gn >= -1e-9).sum()}/{len(gn)}",
                     "noisy: >1.0 behind": int((gn < -1).sum()), "noisy: worst": f"{gn.min():+.2f} ({gn.idxmin()[0]})",
                     "mean accuracy": acc.mean(), "networks alone: mean accuracy": nets[p].reindex(piv.index).mean(),
                     "epochs (mean of the longest member)": s[s.patience == p].epochs.mean() if p in set(s.patience) else float("nan")})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    sums = s.groupby("patience")[["fit_seconds", "tree_seconds"]].sum()
    print()
    print("fit seconds summed (p=14 and 16 in one run, p=20 in the next): " + ", ".join(
        f"p={p}: {r.fit_seconds / 60:.1f} min (trees {r.tree_seconds / r.fit_seconds:.1%})" for p, r in sums.iterrows()))
    if 20 in set(s.patience):  # each fit against the networks of patience 20 alone: 0.3's default
        fits = s.pivot_table(index=["dataset", "noise", "rate", "seed"], columns="patience",
                             values=["fit_seconds", "tree_seconds"])
        networks = fits["fit_seconds"][20] - fits["tree_seconds"][20]
        print("with trees / 0.3's networks (patience 20) alone, median over the fits: " + ", ".join(
            f"p={p}: {(fits['fit_seconds'][p] / networks).median():.3f}" for p in sorted(set(s.patience))))

if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2], sys.argv[3])
        sys.exit()
    from joblib import Parallel, delayed
    ps = [int(p) for p in sys.argv[1].split(",")]
    out = sys.argv[2]
    jobs = [(d, n, r, s, p) for s in (0, 1) for d in TABLES for n, rates in NOISES for r in rates for p in ps]
    rows, start = [], time.perf_counter()
    for i in range(0, len(jobs), 8):
        rows += Parallel(n_jobs=2)(delayed(task)(*j) for j in jobs[i:i + 8])
        pd.DataFrame(rows).to_csv(out, index=False)
        print(f"{len(rows)}/{len(jobs)} {(time.perf_counter() - start) / 60:.1f} min", flush=True)
