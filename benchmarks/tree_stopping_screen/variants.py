"""One-off (issue 42): tree-member variants and weight rules on the cached networks."""
import os, sys, glob, warnings
import numpy as np, pandas as pd
sys.path.insert(0, "/work/main")
from sklearn_gce._layout import fold_rows
from joblib import Parallel, delayed

VARIANTS = {
    "V0": dict(lr=0.1, n=2000, patience=50, metric=None),
    "V1": dict(lr=0.05, n=4000, patience=100, metric=None),
    "V2": dict(lr=0.1, n=2000, patience=50, metric="error"),
    "V3": dict(lr=0.1, n=2000, patience=200, metric=None),
}

def lgbm(v, seed, n=None):
    import lightgbm
    return lightgbm.LGBMClassifier(learning_rate=v["lr"], n_estimators=n or v["n"], n_jobs=1, verbose=-1,
                                   random_state=seed)

def proba(model, X, K):
    p = np.zeros((X.shape[0], K)); p[:, model.classes_.astype(int)] = model.predict_proba(X); return p

def fit_trees(d, v):
    import lightgbm
    X, t, w, fold, stop_fold, seed = d["X"], d["targets"], d["weight"], d["fold"], d["stop_fold"], int(d["seed"])
    K = len(d["classes"]); oof = np.zeros((len(t), K)); rounds = []; tests = []
    for f in range(fold.max() + 1):
        train, stop, scored = fold_rows(fold, stop_fold, f)
        stop = stop[np.isin(t[stop], np.unique(t[train]))]
        m = lgbm(v, seed)
        opts = {}
        if v["metric"] == "error":
            m.set_params(metric="multi_error" if K > 2 else "binary_error")
            opts["callbacks"] = [lightgbm.early_stopping(v["patience"], first_metric_only=False, verbose=False)]
        else:
            opts["callbacks"] = [lightgbm.early_stopping(v["patience"], verbose=False)]
        m.fit(X[train], t[train], sample_weight=w[train], eval_set=[(X[stop], t[stop])],
              eval_sample_weight=[w[stop]], **opts)
        rounds.append(m.best_iteration_ or m.n_estimators)
        oof[scored] = proba(m, X[scored], K); tests.append(proba(m, d["Xte"], K))
    final = lgbm(v, seed, n=max(1, int(round(np.mean(rounds))))).fit(X, t, sample_weight=w)
    return oof, proba(final, d["Xte"], K), np.mean(tests, axis=0), np.mean(rounds)

def choose(tree, net, t, w, grid, rule):
    scores = []
    for a in grid:
        p = a * tree + (1 - a) * net
        if rule == "acc":
            scores.append(((p.argmax(1) == t) * w).sum() / w.sum())
        else:
            scores.append(-(-np.log(np.clip(p[np.arange(len(t)), t], 1e-12, None)) * w).sum() / w.sum())
    return grid[int(np.argmax(scores))]

GRIDS = {"g5": np.linspace(0, 1, 5), "g11": np.linspace(0, 1, 11)}

def cell(path, names):
    d = dict(np.load(path, allow_pickle=True))
    name = os.path.basename(path)[:-4]; dataset, noise, seed = name.rsplit("_", 2)
    y_te = np.searchsorted(d["classes"], d["y_te"])
    rows = []
    for vn in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            oof, test, fmean, rounds = fit_trees(d, VARIANTS[vn])
        np.savez_compressed(f"/tmp/cache/trees_{vn}_{name}.npz", oof=oof, test=test, fmean=fmean)
        for gn, grid in GRIDS.items():
            for rule in ("acc", "nll"):
                a = choose(oof, d["network_oof"], d["targets"], d["weight"], grid, rule)
                p = a * test + (1 - a) * d["net_test"]
                rows.append(dict(dataset=dataset, noise=noise, seed=int(seed), variant=vn, grid=gn, rule=rule,
                                 weight=a, rounds=rounds, accuracy=float(np.mean(p.argmax(1) == y_te)),
                                 trees=float(np.mean(test.argmax(1) == y_te)),
                                 networks=float(np.mean(d["net_test"].argmax(1) == y_te))))
    return rows

if __name__ == "__main__":
    names = sys.argv[2].split(","); seeds = sys.argv[3].split(",")
    paths = sorted(p for p in glob.glob("/tmp/cache/*.npz") if not os.path.basename(p).startswith("trees_")
                   and p[:-4].rsplit("_", 1)[1] in seeds)
    out = Parallel(n_jobs=int(sys.argv[1]), verbose=2)(delayed(cell)(p, names) for p in paths)
    df = pd.DataFrame([r for rows in out for r in rows])
    df.to_csv(sys.argv[4], index=False); print(len(df))
