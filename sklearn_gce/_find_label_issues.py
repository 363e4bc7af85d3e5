"""``find_label_issues``: which training labels are likely wrong, in one call."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import _num_samples, column_or_1d

from ._classifier_cv import GCEClassifierCV

__all__ = ["find_label_issues", "PRESETS"]

# GCEClassifierCV's configuration of each preset, defined once for the CLI, the docs and the benchmarks.
# "fast": one setting cross-fitted (five members in one pass). On four cases held out from every choice
# (issue 41) it did as well as the "thorough" pair, or better, in 3 of 4, at 0.20-0.43x five separate
# fits' time. "thorough": two q around 0.8, two initialisations each per fold, patience 10 (issue 24,
# benchmarks/label_issues.py's "q0.7|0.9 mean, 2 inits, patience 10"): slightly better F1 on the tuning
# tables, at a median 0.56x the five fits' time. Both were measured with networks alone: the trees that
# GCEClassifierCV() trains beside them since issue 42 join the presets once benchmarks/label_issues.py says so.
PRESETS = {
    "fast": {"cv": 5, "qs": (0.8,), "losses": ("gce",), "tree_members": None},
    "thorough": {"cv": 5, "qs": (0.7, 0.9), "losses": ("gce",), "ensemble": 2, "ensemble_size": 2,
                 "n_iter_no_change": 10, "tree_members": None},
}

# cleanlab.filter.find_label_issues's rules, checked here so that a typo fails before the fit
FILTER_BY = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
             "predicted_neq_given", "low_normalized_margin", "low_self_confidence")

COLUMNS = ["given_label", "suggested_label", "label_quality", "is_label_issue"]


def find_label_issues(X, y, *, preset="fast", filter_by="prune_by_noise_rate", cv=5, random_state=None,
                      verbose=0, return_estimator=False, **params):
    """Find the training rows whose labels are likely wrong, worst first.

    Fits a :class:`~sklearn_gce.GCEClassifierCV` cross-fitted on ``X`` and
    ``y`` (each row's probabilities come from members that never trained on
    it), then flags rows with cleanlab's confident learning
    (:func:`cleanlab.filter.find_label_issues`) on those out-of-fold
    probabilities. ``X`` may be anything the estimator takes, a pandas
    DataFrame as it comes included.

    Parameters
    ----------
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, ...)
        The training rows. A DataFrame's columns are encoded by the
        estimator (numbers, categories and missing values).
    y : array-like of shape (n_samples,)
        The given, possibly wrong, labels: at least two classes, each with
        at least ``cv`` rows.
    preset : {"fast", "thorough"}, default="fast"
        The estimator's configuration (``PRESETS`` in this module):

        - ``"fast"``: ``GCEClassifierCV(cv=5, qs=(0.8,), losses=("gce",),
          tree_members=None)``, one setting cross-fitted as five members
          trained in one pass, about a third of the time of five separate
          fits.
        - ``"thorough"``: ``GCEClassifierCV(cv=5, qs=(0.7, 0.9),
          losses=("gce",), ensemble=2, ensemble_size=2,
          n_iter_no_change=10, tree_members=None)``, two ``q`` with two
          initialisations each per fold, averaged: slightly better flags on
          the benchmark's tuning tables, at about 0.56x five fits' time.

        Both run networks only, as they were measured.

        On four cases held out from every choice, ``"fast"`` did as well or
        better in three (see the user guide's label-errors page).
    filter_by : str, default="prune_by_noise_rate"
        The rule that flags rows, one of cleanlab's:
        ``'prune_by_noise_rate'``, ``'prune_by_class'``, ``'both'``,
        ``'confident_learning'``, ``'predicted_neq_given'``,
        ``'low_normalized_margin'``, ``'low_self_confidence'``.
    cv : int or cross-validation splitter, default=5
        The folds of the cross-fitting: an int for stratified, shuffled
        folds, or a splitter such as ``StratifiedKFold``.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and the networks; an int makes the report
        reproducible on the same machine.
    verbose : int, default=0
        The estimator's ``verbose``.
    return_estimator : bool, default=False
        Also return the fitted estimator (its ``oof_proba_``, and a model
        that predicts new rows).
    **params
        Parameters of :class:`~sklearn_gce.GCEClassifierCV` that override the
        preset's, e.g. ``max_epochs``, ``device``, or ``label_quality``
        (the score of the ``label_quality`` column).

    Returns
    -------
    report : pandas.DataFrame
        One row per training row, the lowest label quality first (ties in
        the order of ``X``). Its index is ``X``'s index for a DataFrame, else
        the row position (named ``row``). Columns: ``given_label``,
        ``suggested_label`` (the out-of-fold prediction), ``label_quality``
        (in ``[0, 1]``, low where the label is likely wrong; cleanlab's
        self-confidence by default) and ``is_label_issue`` (flagged by
        ``filter_by``).
    estimator : GCEClassifierCV
        The fitted estimator, with ``return_estimator=True`` only.

    Raises
    ------
    ValueError
        For an unknown ``preset`` or ``filter_by``, ``cv=None``, a ``y``
        whose length differs from ``X``'s, with missing labels, one class
        only, or a class with fewer rows than ``cv`` folds.

    See Also
    --------
    GCEClassifierCV : The estimator fitted here; its ``label_report_`` holds
        the same scores for its own configuration.
    cleanlab.filter.find_label_issues : The flagging rules of ``filter_by``.

    Examples
    --------
    Iris with the labels of 12 rows moved to the next class:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import find_label_issues
    >>> X, y = load_iris(return_X_y=True)
    >>> flipped = np.arange(0, 150, 13)
    >>> y[flipped] = (y[flipped] + 1) % 3
    >>> report = find_label_issues(X, y, max_epochs=30, random_state=0)
    >>> report.columns.tolist()
    ['given_label', 'suggested_label', 'label_quality', 'is_label_issue']
    >>> report.index.name, bool(report["label_quality"].is_monotonic_increasing)
    ('row', True)

    Most flipped rows are among the flagged ones, which come first:

    >>> flagged = report.index[report["is_label_issue"]]
    >>> bool(np.isin(flipped, flagged).mean() >= 0.75)
    True
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(map(repr, PRESETS))}; got {preset!r}.")
    if filter_by not in FILTER_BY:
        raise ValueError(f"filter_by must be one of cleanlab's rules {', '.join(map(repr, FILTER_BY))}; "
                         f"got {filter_by!r}.")
    if cv is None:
        raise ValueError("find_label_issues needs out-of-fold probabilities: cv must be an int >= 2 or a "
                         "cross-validation splitter, not None.")
    labels = _checked_labels(X, y, cv)

    estimator = GCEClassifierCV(**{**PRESETS[preset], "cv": cv, "random_state": random_state,
                                   "verbose": verbose, **params})
    estimator.fit(X, y)
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    encoder = LabelEncoder()
    encoder.classes_ = estimator.classes_
    targets = encoder.transform(labels)
    proba = estimator.oof_proba_
    report = pd.DataFrame({
        "given_label": labels,
        "suggested_label": estimator.classes_[proba.argmax(1)],
        "label_quality": estimator.label_quality_,
        "is_label_issue": cleanlab_find_label_issues(targets, proba, filter_by=filter_by, n_jobs=1),
    }, index=X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(labels), name="row"))
    report = report.sort_values("label_quality", kind="stable")
    return (report, estimator) if return_estimator else report


def _checked_labels(X, y, cv):
    """``y`` as a 1-d array, refused with a message that names the fix when it cannot give the report."""
    labels = column_or_1d(y)
    n_rows = _num_samples(X)
    if len(labels) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(labels)} labels; give one label per row.")
    missing = pd.isna(labels)
    if missing.any():
        raise ValueError(f"y has {int(missing.sum())} missing label(s), first at row "
                         f"{int(np.flatnonzero(missing)[0])}; drop or label those rows.")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"y has a single class ({_label(classes[0])}); finding label issues needs at "
                         "least two.")
    if isinstance(cv, Integral) and counts.min() < cv:  # stratified folds need a row of each class in each
        rare = counts.argmin()
        raise ValueError(f"class {_label(classes[rare])} has {counts[rare]} row(s), fewer than the {cv} "
                         "cross-validation folds (cv); lower cv, or drop or relabel that class's rows.")
    return labels


def _label(value):
    """A class label for messages: ``'cat'`` or ``3``, not ``np.int64(3)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)
