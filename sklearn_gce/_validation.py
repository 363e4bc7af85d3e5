"""Input checks that name the problem and the fix, on top of scikit-learn's."""

import numpy as np
import pandas as pd
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
