"""Input checks that name the problem and the fix, on top of scikit-learn's."""

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from ._tabular import as_table, is_table


def check_labels(y):
    """Classification targets without missing values; returns ``y`` as an array."""
    labels = np.asarray(y, dtype=object)
    missing = np.flatnonzero(pd.isna(labels.reshape(len(labels), -1)).any(1)) if labels.size else []
    if len(missing):
        raise ValueError(
            f"y contains {len(missing)} missing label(s) (NaN or None), first at "
            f"row(s) {missing[:5].tolist()}; drop or label those rows before fitting."
        )
    check_classification_targets(y)


def validate_features(estimator, X, y="no_validation", reset=True, encoder=None):
    """``X`` as float32 and ``y`` as labels: arrays through scikit-learn's ``validate_data``,
    DataFrames through the estimator's :class:`~sklearn_gce.TabularEncoder`.

    A sparse matrix stays sparse, as a float32 CSR matrix (the training and
    prediction batches make only their own rows dense).

    On ``reset``, a DataFrame sets ``estimator.encoder_`` to a fitted clone of
    ``encoder`` and an array sets it to None; later calls encode with
    ``encoder_`` when there is one. Returns ``X`` alone when ``y`` is
    ``'no_validation'`` (predict), else ``X, y``.
    """
    if reset:
        estimator.encoder_ = clone(encoder) if is_table(X) else None
    table_encoder = getattr(estimator, "encoder_", None)  # absent from older pickles
    no_y = isinstance(y, str) and y == "no_validation"
    if y is not None and not no_y and hasattr(y, "__len__"):
        check_labels(y)
    if table_encoder is None:
        options = {"accept_sparse": "csr", "dtype": np.float32, "allow_nd": True, "reset": reset}
        if no_y:
            return validate_data(estimator, X, **options)
        X, y = validate_data(estimator, X, y, **options)
        check_classification_targets(y)
        return X, y
    X = _checked_table(estimator, X, reset)
    X = table_encoder.fit_transform(X) if reset else table_encoder.transform(X)
    if no_y:
        return X
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    check_classification_targets(y)
    return X, y


def _checked_table(estimator, X, reset):
    """A DataFrame after scikit-learn's checks of its column names and count.

    Columns must come as at fit, in the same order, as for every
    scikit-learn estimator (the message says how to select them). An array
    given after a DataFrame fit is read as columns in the fit order.
    """
    try:
        validate_data(estimator, X, reset=reset, skip_check_array=True)
    except ValueError as exc:
        if "must be in the same order" not in str(exc):
            raise
        raise ValueError(f"{exc}Select them in that order with X[clf.feature_names_in_].") from None
    if is_table(X):
        return X
    X = np.asarray(X, dtype=object) if not hasattr(X, "shape") else X
    if np.ndim(X) != 2:
        raise ValueError(f"Expected a 2-D table or array, got an array of shape {np.shape(X)}.")
    return as_table(X, estimator.encoder_.dtypes_)


def check_sample_weight(sample_weight, n_samples):
    """Per-sample weights as float32: finite, non-negative, not all zero.

    ``None`` gives unit weights. A bad value is reported with its row, so
    that it can be found in the caller's table.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float32)
    weight = np.asarray(sample_weight)
    if weight.ndim == 0:
        weight = np.full(n_samples, weight)
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), got {weight.shape}."
        )
    if not np.issubdtype(weight.dtype, np.number) or np.issubdtype(weight.dtype, np.complexfloating):
        raise ValueError(f"sample_weight must be real numbers, got dtype {weight.dtype}.")
    weight = weight.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"sample_weight must be finite and non-negative, but row {first} is "
            f"{float(weight[first])} ({bad.size} bad row(s) in all)."
        )
    if not weight.any():
        raise ValueError("sample_weight is zero for every row: nothing would be learned.")
    return weight.astype(np.float32)


def dataset_labels(dataset):
    """The labels of a torch dataset: its ``y`` or ``targets``, else the second item of each sample."""
    for name in ("y", "targets"):
        labels = getattr(dataset, name, None)
        if labels is not None:
            return np.asarray(labels)
    labels = [dataset[i][1] for i in range(len(dataset))]
    return np.asarray([v.item() if isinstance(v, torch.Tensor) else v for v in labels])
