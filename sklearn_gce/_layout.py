"""Cross-fitting's rows: the fold each row is scored in, and the rows each fold's members stop early on.

Member ``f`` of ``GCEClassifierCV(cv=k)`` must see nothing of fold ``f``'s
labels, or its out-of-fold probabilities are not out of fold: it trains on
the other folds, and it stops early (and races) on rows of those folds too,
which it then does not train on. Every row is scored (``fold``) by the
members of its fold, and it is a stopping row (``stop_fold``) of at most one
other fold's members.
"""

import numpy as np

__all__ = ["stopping_folds", "out_of_fold"]


def stopping_folds(fold, targets, fraction, seed):
    """The fold whose members stop early on each row (``-1``: none), never the row's own.

    Each member holds out ``fraction`` of its training rows (the rows outside
    its fold), drawn from every other fold and stratified by class, so that
    it trains on about ``(1 - fraction) (k - 1) / k`` of the rows.

    Parameters
    ----------
    fold : ndarray of int, shape (n_samples,)
        The test fold of each row, ``0..k-1``.
    targets : ndarray of int, shape (n_samples,)
        Encoded labels (the stratification).
    fraction : float
        The share of a member's training rows it stops early on.
    seed : int
        Seeds which rows are held out.

    Returns
    -------
    stop_fold : ndarray of int, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> fold = np.repeat(np.arange(4), 10)
    >>> stop = stopping_folds(fold, np.zeros(40, dtype=int), 0.2, seed=0)
    >>> bool(np.all(stop != fold))
    True
    >>> np.bincount(stop[stop >= 0]).tolist()  # 0.2 of each member's 30 training rows
    [6, 6, 6, 6]
    """
    k = int(fold.max()) + 1
    # a row is held out for one member at most: the k members' shares of their (k-1)/k of the rows
    share = min(1.0, fraction * (k - 1))
    stop = np.full(len(fold), -1)
    for f in range(k):
        # fold f's draw depends on fold f's rows alone: another fold's labels change nothing here
        rng = np.random.RandomState([seed % 2**32, f])
        others = np.array([g for g in range(k) if g != f])
        offset = 0
        for c in np.unique(targets[fold == f]):
            rows = rng.permutation(np.flatnonzero((fold == f) & (targets == c)))
            held = rows[:int(round(share * len(rows)))]
            # round robin over the other folds, starting where the last class stopped: rare classes spread
            stop[held] = others[(offset + np.arange(len(held))) % len(others)]
            offset += len(held)
    return stop


def out_of_fold(proba, fold, n_settings, n_copies, n_folds):
    """Each row's probabilities from the members of its own fold, per setting (mean over copies).

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_members, n_classes)
        Members ordered setting, then copy, then fold (``GCEClassifierCV.members_``).
    fold : ndarray of int, shape (n_samples,)
    n_settings, n_copies, n_folds : int

    Returns
    -------
    ndarray of shape (n_samples, n_settings, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)  # 2 rows, members = folds 0 and 1
    >>> out_of_fold(proba, np.array([1, 0]), n_settings=1, n_copies=1, n_folds=2)[:, 0].tolist()
    [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    """
    per_fold = proba.reshape(len(proba), n_settings, n_copies, n_folds, -1)
    index = np.asarray(fold).reshape(-1, 1, 1, 1, 1)
    return np.take_along_axis(per_fold, index, axis=3)[:, :, :, 0].mean(2)
