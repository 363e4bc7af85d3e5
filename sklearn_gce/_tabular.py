"""``TabularEncoder``: a pandas table as the float32 matrix that the default network reads."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["ColumnTypeError", "TabularEncoder", "is_table"]

# The category that missing values of a categorical column become.
MISSING = "<missing>"


class ColumnTypeError(ValueError):
    """A column of X at ``transform`` is not of the type it had at fit."""


def is_table(X):
    """Whether ``X`` is a pandas DataFrame (the input that :class:`TabularEncoder` encodes)."""
    return isinstance(X, pd.DataFrame)


def _kind(dtype):
    """``'numeric'``, ``'categorical'`` or ``None`` (a dtype the encoder cannot take)."""
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    return None


def _as_strings(column):
    """A categorical column as an object array of strings, NaN where missing.

    Comparing categories by their text makes the encoding indifferent to how
    pandas typed a column (str, bool, mixed objects, a ``category`` of numbers).
    """
    values = column.astype(str).to_numpy(dtype=object)
    values[column.isna().to_numpy()] = np.nan
    return values


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Encode a pandas DataFrame as it comes into the float32 matrix of :class:`~sklearn_gce.MLP`.

    :class:`~sklearn_gce.GCEClassifier` fits one on every DataFrame it is
    given (its ``encoder_``, pickled with it): numeric, boolean, ``category``
    and object/string columns, with missing values in any of them. It is a
    :class:`~sklearn.compose.ColumnTransformer` of scikit-learn's own encoders,
    whose output comes in four blocks, in this order:

    1. the numeric columns (numeric dtypes other than bool), missing values
       filled with the column's training mean
       (:class:`~sklearn.impute.SimpleImputer`): standardised, as the
       network does, a filled value is 0, neutral;
    2. a missing-value indicator for each numeric column that had missing
       values at fit;
    3. one-hot columns of the categorical columns (every other dtype) with at
       most ``max_onehot_categories`` categories
       (:class:`~sklearn.preprocessing.OneHotEncoder`);
    4. one column of integer codes ``0..n-1`` for each categorical column with
       more categories (:class:`~sklearn.preprocessing.OrdinalEncoder`), which
       the network embeds (a learned vector per category, see
       :class:`~sklearn_gce.CategoricalEmbedding`).

    The network puts its piecewise-linear embedding on block 1 only. Missing
    values of a categorical column are a category of their own. A category
    not seen at fit, or a missing value in a column that had none at fit, is
    *unknown*: its one-hot columns are all 0 and its code is ``-1``, which
    the network embeds as a zero vector, so it adds nothing to the prediction
    (no error, no warning). Categories are compared as text, so a column read
    back from a CSV file matches the one seen at fit.

    Parameters
    ----------
    max_onehot_categories : int, default=16
        Categorical columns with at most this many categories at fit (missing
        values count as one) are one-hot encoded, the others embedded. In
        ``benchmarks/tabular.py`` (four real tables, 0% and 40% label noise,
        5 seeds; ``benchmarks/results/tabular.md``), thresholds of 4, 16 and
        64 gave the same mean accuracy, 63.6%, while one-hot encoding every
        column (no embedding) gave 62.3%, losing 3 to 4 points under noise on
        the tables with columns of 59 to 238 categories. 16 lies inside that
        plateau and keeps the exact one-hot encoding for small vocabularies.

    Attributes
    ----------
    numeric_features_, onehot_features_, embedded_features_ : ndarray of object
        The input columns in blocks 1, 3 and 4 (names, or positions when the
        columns are not named by strings).
    cardinalities_ : tuple of int
        Number of categories of each embedded column (block 4, in order).
    n_missing_indicators_ : int
        Width of block 2.
    dtypes_ : pandas.Series
        The dtype of every input column at fit, checked at ``transform``.
    column_transformer_ : sklearn.compose.ColumnTransformer
        The fitted encoders.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the input columns, when they are all strings.

    See Also
    --------
    sklearn_gce.GCEClassifier : Fits this encoder on DataFrames by itself.
    sklearn.ensemble.HistGradientBoostingClassifier : Takes such tables too.

    Notes
    -----
    At ``transform``, the columns must be those seen at fit, in the same
    order (as for every scikit-learn estimator; select them with
    ``X[encoder.feature_names_in_]``). A column numeric at fit must still be
    numeric, and a categorical one must not have become numeric; a column
    whose values are all missing is accepted either way.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn_gce import TabularEncoder
    >>> X = pd.DataFrame({"age": [31.0, np.nan, 45.0, 23.0],
    ...                   "city": ["Oslo", "Rome", None, "Oslo"]})
    >>> encoder = TabularEncoder().fit(X)
    >>> encoder.get_feature_names_out().tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['numeric__age', 'numeric__missingindicator_age', 'onehot__city_<missing>',
     'onehot__city_Oslo', 'onehot__city_Rome']
    >>> encoder.transform(pd.DataFrame({"age": [np.nan], "city": ["Paris"]}))
    array([[33.,  1.,  0.,  0.,  0.]], dtype=float32)
    """

    _parameter_constraints = {
        "max_onehot_categories": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, max_onehot_categories=16):
        self.max_onehot_categories = max_onehot_categories

    def fit(self, X, y=None):
        """Learn the column types, fill values and categories of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : TabularEncoder
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit to ``X`` and encode it.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        X_encoded : ndarray of float32, shape (n_samples, n_outputs)
        """
        X = self._table(X, reset=True)
        self.dtypes_ = X.dtypes
        kinds = [_kind(dtype) for dtype in X.dtypes]
        unsupported = [i for i, kind in enumerate(kinds) if kind is None]
        if unsupported:
            i = unsupported[0]
            raise ValueError(
                f"Column {X.columns[i]!r} has dtype {X.dtypes.iloc[i]}, which "
                f"{type(self).__name__} cannot encode: convert it to numbers (a date, "
                "e.g., with .dt.year or .astype('int64')) or to strings or a 'category' first."
            )
        prepared = self._prepared(X, kinds)
        numeric = [i for i, kind in enumerate(kinds) if kind == "numeric"]
        categorical = [i for i, kind in enumerate(kinds) if kind == "categorical"]
        n_categories = {i: len(pd.unique(prepared.iloc[:, i])) for i in categorical}
        onehot = [i for i in categorical if n_categories[i] <= self.max_onehot_categories]
        embedded = [i for i in categorical if n_categories[i] > self.max_onehot_categories]
        self.column_transformer_ = _column_transformer(numeric, onehot, embedded)
        encoded = self.column_transformer_.fit_transform(prepared)

        columns = np.asarray(X.columns, dtype=object)
        self.numeric_features_ = columns[numeric]
        self.onehot_features_ = columns[onehot]
        self.embedded_features_ = columns[embedded]
        named = self.column_transformer_.named_transformers_
        self.cardinalities_ = tuple(
            len(c) for c in named["embedded"][-1].categories_
        ) if embedded else ()
        indicator = named["numeric"].indicator_ if numeric else None
        self.n_missing_indicators_ = 0 if indicator is None else len(indicator.features_)
        return encoded.astype(np.float32, copy=False)

    def transform(self, X):
        """Encode ``X``, a table with the columns seen at fit.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        X_encoded : ndarray of float32, shape (n_samples, n_outputs)
            The four blocks described above.
        """
        check_is_fitted(self)
        X = self._table(X, reset=False)
        kinds = [_kind(dtype) for dtype in self.dtypes_]
        self._check_kinds(X, kinds)
        encoded = self.column_transformer_.transform(self._prepared(X, kinds))
        return encoded.astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, block by block (see the class description).

        Parameters
        ----------
        input_features : None
            Not used: the names are those seen at fit.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        return self.column_transformer_.get_feature_names_out()

    # ------------------------------------------------------------------ helpers
    def _table(self, X, reset):
        """``X`` as a DataFrame, after scikit-learn's checks of its feature names and count."""
        if is_table(X):
            validate_data(self, X, reset=reset, skip_check_array=True)
            n_samples, n_columns = X.shape
            if n_samples == 0 or n_columns == 0:
                raise ValueError(
                    f"Found a DataFrame of shape {X.shape} while at least 1 row and "
                    f"1 column are required by {type(self).__name__}."
                )
            return X
        X = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(X).infer_objects() if reset else as_table(X, self.dtypes_)

    @staticmethod
    def _prepared(X, kinds):
        """Numeric columns as float64 (NaN where missing), the others as strings."""
        arrays = {
            i: X.iloc[:, i].to_numpy(dtype=np.float64, na_value=np.nan)
            if kind == "numeric" else _as_strings(X.iloc[:, i])
            for i, kind in enumerate(kinds)
        }
        prepared = pd.DataFrame(arrays, index=X.index)
        prepared.columns = X.columns
        return prepared

    def _check_kinds(self, X, kinds):
        """Refuse a column whose type changed since fit, naming it and the fix."""
        for i, kind in enumerate(kinds):
            column = X.iloc[:, i]
            now = _kind(column.dtype)
            if now == kind or (kind == "numeric" and pd.api.types.is_bool_dtype(column.dtype)):
                continue
            if column.isna().all():  # an empty column has no type of its own (pandas makes it float)
                continue
            name, before = X.columns[i], self.dtypes_.iloc[i]
            if kind == "numeric":
                coerced = pd.to_numeric(column, errors="coerce") if now is not None else column
                bad = column[coerced.isna() & column.notna()]
                example = (f", with non-numeric values such as {bad.iloc[0]!r} "
                           f"(index {bad.index[0]!r})") if len(bad) else ""
                raise ColumnTypeError(
                    f"The column {name!r} was numeric at fit ({before}), but is {column.dtype} "
                    f"in X{example}. Convert it to numbers first, e.g. with "
                    f"pd.to_numeric(X[{name!r}], errors='coerce'), which makes such values missing."
                )
            raise ColumnTypeError(
                f"The column {name!r} was categorical at fit ({before}), but is {column.dtype} "
                f"in X. Pass it with the type it had at fit, or as X[{name!r}].astype('category') "
                "to encode its values as categories."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _column_transformer(numeric, onehot, embedded):
    """The four blocks (see :class:`TabularEncoder`) from the positions of their columns."""

    def categories(encoder):
        # missing values become a category of their own, also for a column empty at fit
        imputer = SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True)
        return make_pipeline(imputer, encoder)

    blocks = [
        # blocks 1 and 2: the imputer's output, then its indicator columns
        ("numeric", SimpleImputer(strategy="mean", add_indicator=True, keep_empty_features=True),
         numeric),
        ("onehot", categories(OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                            dtype=np.float32)), onehot),
        ("embedded", categories(OrdinalEncoder(handle_unknown="use_encoded_value",
                                               unknown_value=-1, dtype=np.float32)), embedded),
    ]
    return ColumnTransformer([block for block in blocks if block[2]], sparse_threshold=0)


def as_table(X, dtypes):
    """A 2-D array as a DataFrame of the columns seen at fit (``dtypes``: their names and dtypes).

    An array has no column types of its own: the columns numeric at fit are
    read as numbers where they can be (the encoder names those that cannot).
    """
    X = pd.DataFrame(X, columns=dtypes.index).infer_objects()
    for i, dtype in enumerate(dtypes):
        if _kind(dtype) == "numeric" and _kind(X.dtypes.iloc[i]) != "numeric":
            try:
                X.isetitem(i, pd.to_numeric(X.iloc[:, i]))
            except (ValueError, TypeError):
                pass
    return X
