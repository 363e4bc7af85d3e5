"""Input checks that name the problem and the fix, on top of scikit-learn's."""

import numpy as np
import pandas as pd
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data


def check_numeric_frame(X):
    """Refuse a DataFrame with non-numeric columns, pointing to the usual fix."""
    if not isinstance(X, pd.DataFrame):
        return
    bad = [
        str(name)
        for name, dtype in X.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if bad:
        raise ValueError(
            f"X has non-numeric columns {bad}; the network needs numbers. Encode them "
            "first, e.g. make_pipeline(ColumnTransformer([('cat', OneHotEncoder("
            "handle_unknown='ignore', sparse_output=False), categorical_columns)], remainder='passthrough'), "
            "GCEClassifier())."
        )


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


def validate_features(estimator, X, y="no_validation", reset=True):
    """scikit-learn's ``validate_data`` with float32 output and clearer messages.

    Returns ``X`` alone when ``y`` is ``'no_validation'`` (predict), else ``X, y``.
    """
    check_numeric_frame(X)
    if isinstance(y, str) and y == "no_validation":
        return validate_data(estimator, X, dtype=np.float32, allow_nd=True, reset=reset)
    if y is not None and hasattr(y, "__len__"):
        check_labels(y)
    X, y = validate_data(estimator, X, y, dtype=np.float32, allow_nd=True, reset=reset)
    check_classification_targets(y)
    return X, y


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
