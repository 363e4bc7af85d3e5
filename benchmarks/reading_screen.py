"""One-off screen (issue 42, clean tables where trees lead): more rounds for the bag's trees, tuning seeds first.

    python benchmarks/reading_screen.py 0,1 benchmarks/results/reading_screen.csv
    python benchmarks/reading_screen.py --summary benchmarks/results/reading_screen.csv benchmarks/results/trees.csv
"""
import os, sys, time, warnings
import numpy as np, pandas as pd
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as B
from trees import TABLES, NOISES

MIN_ROUNDS = 100  # LightGBM's default n_estimators: what LGBMClassifier() boosts without early stopping


def every_row(trees, X, targets, weight, categorical):
    """TreeMembers._fit_on_every_row for any number of readings."""
    import lightgbm
    from sklearn_gce._tree_members import _LGBM_OPTIONS
    chosen = np.array([r for r in trees.rounds_ if r is not None])
    trees.n_estimators_ = tuple(max(1, int(round(r))) for r in chosen.mean(0))
    trees.model_ = lightgbm.LGBMClassifier(**{**_LGBM_OPTIONS, "n_estimators": max(trees.n_estimators_)},
                                           n_jobs=1, random_state=trees.seed)
    trees.model_.fit(X, targets, sample_weight=weight, categorical_feature=categorical or "auto")


def variants(clf, cap, X_te_enc, net_te, y_te):
    import sklearn_gce._tree_members as TM
    from sklearn_gce._layout import stopping_folds
    from sklearn_gce._tree_members import TreeMembers, choose_tree_weight, combine
    X, targets, weight, seed = cap["args"]
    stop_fold = stopping_folds(clf.fold_, targets, clf.validation_fraction, seed)
    net_oof, n_classes = cap["network_oof"], len(clf.classes_)
    categorical = clf.tree_members_.categorical_columns
    out = {}

    def score(name, tree_oof, tree_te):
        w, scores = choose_tree_weight(tree_oof, net_oof, targets, weight)
        out[name] = (float(np.mean(clf.classes_[combine(tree_te, net_te, w).argmax(1)] == y_te)) * 100, w)

    base = TreeMembers(n_classes, categorical, seed)
    oof = base.fit(X, targets, weight, clf.fold_, stop_fold)
    score("base", oof, base.predict_proba(X_te_enc))

    class AtLeast(TM._StopEachMetric):  # boosts on to MIN_ROUNDS; each metric's stop found as before
        def __call__(self, env):
            if env.iteration + 1 < MIN_ROUNDS:
                try:
                    return super().__call__(env)
                except TM.require_lightgbm().callback.EarlyStopException:
                    return None
            return super().__call__(env)

    original = TM._StopEachMetric
    TM._StopEachMetric = AtLeast
    try:
        more = TreeMembers(n_classes, categorical, seed)
        more.fit(X, targets, weight, clf.fold_, stop_fold)
    finally:
        TM._StopEachMetric = original
    assert [r for r in more.rounds_] == [r for r in base.rounds_], (more.rounds_, base.rounds_)
    # a third reading at MIN_ROUNDS (or at the model's last round, where it stopped later)
    more.rounds_ = [None if r is None else r + (min(MIN_ROUNDS, m.booster_.current_iteration()),)
                    for r, m in zip(more.rounds_, more.models_)]
    oof3 = np.zeros_like(oof)
    for f, (m, r) in enumerate(zip(more.models_, more.rounds_)):
        rows = clf.fold_ == f
        oof3[rows] = more._model_proba(m, X[rows], r)
    every_row(more, X, targets, weight, categorical)
    score("third reading at 100", oof3, more.predict_proba(X_te_enc))
    # the every-row model boosted for the folds' rounds scaled by its share of rows (1 / 0.72)
    scaled = TreeMembers(n_classes, categorical, seed)
    scaled.rounds_ = [None if r is None else tuple(x / 0.72 for x in r) for r in base.rounds_]
    every_row(scaled, X, targets, weight, categorical)
    score("every-row rounds / 0.72", oof, scaled.predict_proba(X_te_enc))
    return out


def task(dataset, noise, rate, seed):
    from sklearn_gce import GCEClassifierCV
    from sklearn_gce._validation import validate_features
    B.limit_threads(1)
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, _ = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
    clf = GCEClassifierCV(tree_members="lightgbm", random_state=seed)
    cap = {}
    fit_trees = clf._fit_tree_members

    def capture(*args):
        cap["args"], cap["network_oof"] = args, clf.oof_proba_.copy()
        fit_trees(*args)

    clf._fit_tree_members = capture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_tr, y_noisy)
        del clf.__dict__["_fit_tree_members"]
        bag = float(np.mean(clf.predict(X_te) == y_te)) * 100
        net_te = super(GCEClassifierCV, clf).predict_proba(X_te)
        out = variants(clf, cap, validate_features(clf, X_te, reset=False), net_te, y_te)
    assert abs(out["base"][0] - bag) < 1e-9, (out["base"], bag)
    return [dict(dataset=dataset, noise=noise, rate=rate, seed=seed, variant=k, accuracy=a, tree_weight=w)
            for k, (a, w) in out.items()]


def summary(screen_csv, trees_csv, seeds=None):
    """The variants against trees.md's targets, with trees.csv's peers on the same seeds."""
    s = pd.read_csv(screen_csv)
    if seeds is not None:
        s = s[s.seed.isin(seeds)]
    t = pd.read_csv(trees_csv)
    t = t[t.seed.isin(sorted(set(s.seed)))]
    key = ["dataset", "noise", "rate"]
    PEERS = ["LogReg", "HistGB", "HistGB ES", "LightGBM", "CL(HistGB ES)", "CL(LightGBM)", "RealMLP"]
    TREES = ["HistGB", "HistGB ES", "LightGBM"]
    piv = t.pivot_table(index=key, columns="method", values="accuracy", aggfunc="mean") * 100
    rows = []
    complete = s.groupby(key + ["variant"]).seed.nunique().min() == s.seed.nunique()
    for v, g in s.groupby("variant", sort=False):
        acc = g.groupby(key).accuracy.mean().reindex(piv.index)
        clean = acc.index.get_level_values("noise") == "none"
        gc = (acc - piv[TREES].max(axis=1))[clean]
        gn = (acc - piv[PEERS].max(axis=1))[~clean]
        rows.append({"variant": v, "clean: within 0.5 of best tree": f"{(gc >= -0.5).sum()}/{gc.notna().sum()}",
                     "clean: worst": f"{gc.min():+.2f} ({gc.idxmin()[0]})", "storms clean": f"{gc.xs('storms', level='dataset').iloc[0]:+.2f}",
                     "noisy: at/above best peer": f"{(gn >= -1e-9).sum()}/{gn.notna().sum()}",
                     "noisy: >1.0 behind": int((gn < -1).sum()), "noisy: worst": f"{gn.min():+.2f} ({gn.idxmin()[0]})",
                     "clean mean": acc[clean].mean(), "noisy mean": acc[~clean].mean()})
    print(f"seeds {sorted(set(s.seed))}" + ("" if complete else " (incomplete)"))
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    if sys.argv[1] == "--summary":  # --summary SCREEN_CSV TREES_CSV
        summary(sys.argv[2], sys.argv[3])
        sys.exit()
    from joblib import Parallel, delayed
    seeds, out = [int(s) for s in sys.argv[1].split(",")], sys.argv[2]
    jobs = [(d, n, r, s) for s in seeds for d in TABLES for n, rates in NOISES for r in rates]
    rows, start = [], time.perf_counter()
    for i in range(0, len(jobs), 8):
        for res in Parallel(n_jobs=2)(delayed(task)(*j) for j in jobs[i:i + 8]):
            rows += res
        pd.DataFrame(rows).to_csv(out, index=False)
        print(f"{min(i + 8, len(jobs))}/{len(jobs)} {(time.perf_counter() - start) / 60:.1f} min", flush=True)
