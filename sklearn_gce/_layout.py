"""The members' layout: which setting, copy and fold each member of a stacked network is.

``GCEClassifierCV`` trains ``n_settings x n_copies x n_folds`` members in one
network, ordered setting, then copy, then fold (``members_``).
:class:`MemberLayout` is the one place that order is written: the members of
a setting, the members' settings and folds, a setting's mean probability and
the out-of-fold rows; the estimator, its loss, its early stopping and the
per-row state read it from here. :class:`FoldMask` is what the per-row state
(:class:`~sklearn_gce._rows.SampleState`) gets of cross-fitting: the rows
each member trains and stops early on.

Member ``f`` of ``GCEClassifierCV(cv=k)`` must see nothing of fold ``f``'s
labels, or its out-of-fold probabilities are not out of fold: it trains on
the other folds, and it stops early (and races) on rows of those folds too,
which it then does not train on. Every row is scored (``fold``) by the
members of its fold, and it is a stopping row (``stop_fold``) of at most one
other fold's members.
"""

import numpy as np
import torch
from torch.utils.data import Subset

__all__ = ["FoldMask", "MemberLayout", "StoppingRows", "fold_rows", "stopping_folds", "out_of_fold"]


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


def fold_rows(fold, stop_fold, f):
    """The rows fold ``f``'s members train on, stop early on and are scored on (host indices).

    The rule :class:`FoldMask` applies to the networks' loss weights, for
    members trained one fold at a time (the trees): they train on the rows
    outside fold ``f`` that they do not stop on, stop on the rows whose
    ``stop_fold`` is ``f``, and are scored on fold ``f``.

    Parameters
    ----------
    fold, stop_fold : ndarray of int, shape (n_samples,)
        Each row's test fold and stopping fold (``-1``: none).
    f : int
        The members' fold.

    Returns
    -------
    train, stop, scored : ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> fold, stop_fold = np.array([0, 0, 1, 1, 2, 2]), np.array([-1, 1, -1, 2, -1, 0])
    >>> [rows.tolist() for rows in fold_rows(fold, stop_fold, 0)]
    [[2, 3, 4], [5], [0, 1]]
    """
    train = np.flatnonzero((fold != f) & (stop_fold != f))
    return train, np.flatnonzero(stop_fold == f), np.flatnonzero(fold == f)


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


class MemberLayout:
    """The members of a stacked network: settings x copies x folds, in that order.

    Family-agnostic: a member is a setting (a dict of parameters), a copy
    (another initialisation) and, cross-fitted, a fold; nothing here knows
    what trains it.

    Parameters
    ----------
    settings : sequence of dict
        The settings, in order (``GCEClassifierCV``'s grid).
    n_copies : int, default=1
        Members per setting and fold (``ensemble_size``).
    n_folds : int or None, default=None
        Cross-fitting's folds: one member per fold and copy; ``None``: not
        cross-fitted (one member per copy, no fold).

    Examples
    --------
    >>> layout = MemberLayout([{"q": 0.2}, {"q": 0.8}], n_copies=1, n_folds=3)
    >>> layout.n_members, layout.group_size
    (6, 3)
    >>> layout.members[4]
    {'q': 0.8, 'fold': 1}
    >>> layout.members_of(1).tolist(), layout.member_fold.tolist()
    ([3, 4, 5], [0, 1, 2, 0, 1, 2])
    """

    def __init__(self, settings, n_copies=1, n_folds=None):
        self.settings = [dict(s) for s in settings]
        self.n_copies = int(n_copies)
        self.n_folds = None if n_folds is None else int(n_folds)

    @property
    def n_settings(self):
        return len(self.settings)

    @property
    def cross_fitted(self):
        return self.n_folds is not None

    @property
    def group_size(self):
        """A setting's members: its copies, times the folds when cross-fitted."""
        return self.n_copies * (self.n_folds or 1)

    @property
    def n_members(self):
        return self.n_settings * self.group_size

    @property
    def members(self):
        """Each member's setting, with its ``fold`` when cross-fitted: ``GCEClassifierCV.members_``."""
        folds = range(self.n_folds) if self.cross_fitted else [None]
        return [dict(s) if f is None else dict(s, fold=f)
                for s in self.settings for _ in range(self.n_copies) for f in folds]

    @property
    def setting_of(self):
        """The setting of each member, ``(n_members,)``."""
        return np.repeat(np.arange(self.n_settings), self.group_size)

    @property
    def member_fold(self):
        """The fold of each member, ``(n_members,)``; ``None`` when not cross-fitted."""
        if not self.cross_fitted:
            return None
        return np.tile(np.arange(self.n_folds), self.n_settings * self.n_copies)

    def members_of(self, settings):
        """The members of a setting (an int) or of several (a sequence), in member order."""
        settings = np.asarray(settings)
        members = settings[..., None] * self.group_size + np.arange(self.group_size)
        return members.ravel() if settings.ndim else members

    def per_setting(self, values):
        """``values`` with a member last axis as ``(..., n_settings, group_size)``."""
        values = np.asarray(values)
        return values.reshape(*values.shape[:-1], self.n_settings, self.group_size)

    def by_setting(self, proba):
        """Each setting's probabilities, the mean of its members': ``(n_rows, n_settings, n_classes)``."""
        return proba.reshape(len(proba), self.n_settings, self.group_size, -1).mean(2)

    def out_of_fold(self, proba, fold):
        """Each row's probabilities from the members of its own fold, per setting; see :func:`out_of_fold`."""
        return out_of_fold(proba, fold, self.n_settings, self.n_copies, self.n_folds)

    def fold_mask(self, fold, stop_fold):
        """The rows each member trains and stops on (:class:`FoldMask`), given each row's folds."""
        return FoldMask(fold, self.member_fold, stop_fold)


class FoldMask:
    """Cross-fitting's rows per member: which it trains on, which it stops early on.

    Member ``m`` of fold ``member_fold[m]`` trains on the rows outside its
    fold that it does not stop on, and is validated on its stopping rows
    only. What :class:`~sklearn_gce._rows.SampleState` multiplies each
    member's loss weights by; made by :meth:`MemberLayout.fold_mask`.

    Parameters
    ----------
    row_fold : ndarray of int, shape (n_samples,)
        The test fold of each row.
    member_fold : ndarray of int, shape (n_members,)
        The fold of each member.
    stop_fold : ndarray of int, shape (n_samples,)
        The fold whose members stop early on each row (``-1``: none).
    device : torch.device or None, default=None
        Where the masks are computed (the training device).
    """

    def __init__(self, row_fold, member_fold, stop_fold, device=None):
        self._host = tuple(np.asarray(a) for a in (row_fold, member_fold, stop_fold))
        self.row_fold, self.member_fold, self.stop_fold = (
            torch.as_tensor(a, dtype=torch.long, device=device) for a in self._host)
        self.validate_members(None)

    def to(self, device):
        """A fresh mask on ``device``, every member validated."""
        return FoldMask(*self._host, device=device)

    def _on_device(self, rows):
        device = self.stop_fold.device
        return rows if rows.device == device else rows.to(device, non_blocking=True)

    def training(self, rows):
        """``(batch, n_members)`` bool: the rows each member trains on."""
        rows = self._on_device(rows)
        stop_fold = self.stop_fold[rows].unsqueeze(1)
        return (self.row_fold[rows].unsqueeze(1) != self.member_fold) & (stop_fold != self.member_fold)

    def validation(self, rows):
        """``(batch, n_members)`` bool: the rows each member still validated stops on."""
        return self.stop_fold[self._on_device(rows)].unsqueeze(1) == self._validated_fold

    def validate_members(self, members):
        """Validate only ``members`` (indices; ``None``: all) from now on.

        The others get no validation rows, and ``GCEClassifierCV`` computes
        them in no validation batch (where the network has
        ``set_evaluated_members``): members that early stopping has stopped
        need no more scores.
        """
        fold = self._host[1]
        if members is not None:
            fold = np.where(np.isin(np.arange(len(fold)), members), fold, -2)  # -2: no row's (-1: none)
        self._validated_host = fold
        self._validated_fold = torch.as_tensor(fold, dtype=torch.long, device=self.stop_fold.device)

    def members_validated_on(self, rows):
        """The members validated on ``rows``: those of the stopping folds from the rows' lowest to their highest.

        Exactly the rows' stopping folds when the rows come fold after fold
        (as :meth:`stopping_rows` orders them); a superset otherwise. Only
        members still validated (:meth:`validate_members`); possibly none.
        One host copy per call (two numbers), whatever the device.
        """
        folds = self.stop_fold[self._on_device(rows)]
        low, high = torch.stack([folds.min(), folds.max()]).tolist()
        member_fold = self._validated_host
        return np.flatnonzero((member_fold >= low) & (member_fold <= high))

    def stopping_rows(self):
        """The rows some member stops on, stopping fold after stopping fold (host indices)."""
        stop_fold = self._host[2]
        held = np.flatnonzero(stop_fold >= 0)
        return held[np.argsort(stop_fold[held], kind="stable")]

    def any_stopping(self):
        """Whether any row is a stopping row."""
        return bool((self._host[2] >= 0).any())


class StoppingRows:
    """Cross-fitting's validation split (a skorch ``train_split``): the stopping rows, each member scoring its own.

    Every row trains the members it is not held out from (the split's
    training set is every row; the :class:`FoldMask` masks each member's);
    the validation rows go stopping fold after stopping fold, so that a
    batch holds the rows of one fold's members (two where it straddles) and
    computes those members alone.
    """

    def __call__(self, dataset, y=None, **fit_params):
        return dataset, Subset(dataset, dataset.state.member_rows.stopping_rows())
