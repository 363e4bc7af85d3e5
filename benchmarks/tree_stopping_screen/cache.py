"""One-off (issue 42): cache each cell's networks (OOF and test proba) and the trees' inputs."""
import os, sys, time, warnings
import numpy as np
sys.path.insert(0, "/work/main/benchmarks")
import _benchlib as B
from joblib import Parallel, delayed

TABLES = ["digits", "storms", "chem97", "hpc", "weather", "kershaw", "diamonds", "flights", "gsswages",
          "diseases", "gapminder", "computers"]
NOISES = [("none", 0.0), ("symmetric", 0.4), ("pairflip", 0.2), ("instance", 0.4)]

def cell(dataset, noise, rate, seed):
    out = f"{os.environ.get('CACHE', '/tmp/cache')}/{dataset}_{noise}_{seed}.npz"
    if os.path.exists(out):
        return
    from sklearn_gce import GCEClassifierCV
    from sklearn_gce._layout import stopping_folds
    from sklearn_gce._validation import validate_features
    B.limit_threads(1)
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, realised = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
    clf = GCEClassifierCV(tree_members="lightgbm", random_state=seed, **({"n_iter_no_change": int(os.environ["PATIENCE"])} if "PATIENCE" in os.environ else {}))
    got = {}
    def grab(X, targets, weight, s):
        enc = getattr(clf, "encoder_", None)
        n_codes = len(enc.cardinalities_) if enc is not None else 0
        got.update(X=X, targets=targets, weight=weight, seed=s, fold=clf.fold_,
                   stop_fold=stopping_folds(clf.fold_, targets, clf.validation_fraction, s),
                   network_oof=clf.oof_proba_, by_setting=clf._oof_by_setting_,
                   categorical=np.arange(X.shape[1] - n_codes, X.shape[1]))
        clf.__dict__.pop("_oof_by_setting_")
    clf._fit_tree_members = grab
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter(); clf.fit(X_tr, y_noisy); fit_s = time.perf_counter() - t
        del clf.__dict__["_fit_tree_members"]
        net_test = super(GCEClassifierCV, clf).predict_proba(X_te)
        Xte = validate_features(clf, X_te, reset=False)
    y_te_codes = np.searchsorted(clf.classes_, y_te) if np.all(np.isin(y_te, clf.classes_)) else None
    X = got.pop("X")
    from scipy import sparse
    if sparse.issparse(X):
        X = X.toarray(); Xte = Xte.toarray()
    np.savez_compressed(out, X=X, Xte=np.asarray(Xte), y_te=np.asarray(y_te), classes=clf.classes_,
                        net_test=net_test, fit_s=fit_s, q=clf.best_params_.get("q"), **got)

if __name__ == "__main__":
    cells = [(d, n, r, s) for s in map(int, os.environ.get("SEEDS", "0,1,2").split(",")) for d in TABLES for n, r in NOISES]
    Parallel(n_jobs=int(sys.argv[1]) if len(sys.argv) > 1 else 2, verbose=5)(delayed(cell)(*c) for c in cells)
