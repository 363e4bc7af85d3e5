"""A pinned set of fits whose predictions must not change when the code is reorganised.

``tests/data/pinned_predictions.npz`` holds what each fit predicted when the
file was written (``python tests/pinned_fits.py`` writes it again, on purpose
only: a change of these numbers is a change of behaviour). Every fit runs on
one torch thread, so the numbers do not depend on the machine's core count;
they do depend on its processor (another instruction set rounds matrix
products differently, and training amplifies it): the file also holds
:func:`numerics_fingerprint` of the machine that wrote it, and the test
demands bit-identical numbers only where the fingerprint matches.
"""

import hashlib
import os
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import make_blobs, make_classification

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pinned_predictions.npz")
FINGERPRINT = "machine/numerics_fingerprint"  # the key of the recording machine's fingerprint


def _numeric():
    X, y = make_classification(n_samples=700, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    return X[:500].astype(np.float32), y[:500], X[500:].astype(np.float32)


def _pairflip():
    X, y = make_blobs(n_samples=900, centers=4, n_features=4, cluster_std=1.0, random_state=0)
    rng = np.random.RandomState(0)
    flip = rng.rand(600) < 0.4
    y_train = np.where(flip, (y[:600] + 1) % 4, y[:600])
    return X[:600].astype(np.float32), y_train, X[600:].astype(np.float32)


def _table():
    X, y = make_classification(n_samples=600, n_features=5, n_informative=4, n_redundant=0,
                               n_classes=3, random_state=1)
    rng = np.random.RandomState(1)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df.loc[rng.rand(600) < 0.1, "x0"] = np.nan
    df["colour"] = pd.Categorical(rng.choice(["red", "green", "blue", None], 600))
    df["city"] = rng.choice([f"c{i}" for i in range(30)], 600).astype(object)
    labels = np.array(["low", "mid", "high"], dtype=object)[y]
    return df.iloc[:450], labels[:450], df.iloc[450:]


def fits():
    """``{name: (estimator, X_train, y_train, X_test)}``: the fits whose predictions are pinned."""
    from sklearn_gce import GCEClassifier, GCEClassifierCV

    # the defaults when the numbers were recorded (0.3.0 raised lr and n_bins, and runs Adam fused):
    # the pins check that the code computes what it computed, whatever the defaults are now
    common = dict(max_epochs=15, batch_size=64, lr=1e-3, module__n_bins=16, optimizer__fused=False,
                  random_state=0)
    numeric, pairflip, table = _numeric(), _pairflip(), _table()
    return {
        "default": (GCEClassifier(**common), *numeric),
        "truncated": (GCEClassifier(loss="truncated", prune_start=3, prune_every=3, **common), *numeric),
        "forward": (GCEClassifier(noise_correction="forward", **common), *pairflip),
        "auto_corrects": (GCEClassifier(**common), *pairflip),
        "race": (GCEClassifierCV(qs=(0.5, 1.0), losses=("gce", "truncated", "ce"), prune_start=3,
                                 prune_every=3, **common, cv=None), *numeric),
        "ensemble": (GCEClassifierCV(qs=(0.5, 1.0), losses=("gce",), ensemble=True, **common, cv=None), *numeric),
        "table": (GCEClassifier(**common), *table),
        # cross-fitting, GCEClassifierCV's default since 0.3: its networks
        "cross_fitted": (GCEClassifierCV(qs=(0.5, 0.9), cv=3, tree_members=None, **common), *pairflip),
        # and, since 0.4, trees beside them (tree_members='auto' on a table)
        "cross_fitted_trees": (GCEClassifierCV(qs=(0.5, 0.9), cv=3, **common), *table),
    }


@contextmanager
def _one_thread():
    """torch on one thread inside, as many as before after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def numerics_fingerprint():
    """A digest of a few Adam steps of a small torch MLP on one thread: equal on machines that compute alike.

    Independent of this package's code, so that a change of the package
    cannot pass for a change of machine.
    """
    with _one_thread():
        gen = torch.Generator().manual_seed(0)
        X, y = torch.randn(256, 8, generator=gen), torch.randint(0, 3, (256,), generator=gen)
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=False)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X), y).backward()
            opt.step()
        out = torch.softmax(net(X), -1).detach().numpy()
    return hashlib.sha256(out.tobytes()).hexdigest()


def predictions(estimator, X_train, y_train, X_test):
    """What is pinned of one fit: probabilities on the test rows, the flagged training rows, and out of fold."""
    with _one_thread():
        estimator.fit(X_train, y_train)
        out = {"proba": estimator.predict_proba(X_test),
               "label_issues": np.asarray(estimator.pruned_rows_ if hasattr(estimator, "pruned_rows_")
                                          else estimator.label_issues_)}
        if hasattr(estimator, "cv_results_"):
            out["holdout_score"] = np.asarray(estimator.cv_results_["holdout_score"])
        if hasattr(estimator, "oof_proba_"):
            out["oof_proba"] = estimator.oof_proba_
        if hasattr(estimator, "tree_oof_proba_"):  # pinned apart: a weight of 0 leaves the others unchanged
            out["tree_oof_proba"] = estimator.tree_oof_proba_
        return out


if __name__ == "__main__":
    arrays = {}
    for name, (estimator, *data) in fits().items():
        for key, value in predictions(estimator, *data).items():
            arrays[f"{name}/{key}"] = value
    arrays[FINGERPRINT] = np.array(numerics_fingerprint())
    np.savez_compressed(PATH, **arrays)
    print(f"wrote {PATH}: {sorted(arrays)}")
