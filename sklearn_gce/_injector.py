"""Synthetic label noise, as an imbalanced-learn sampler.

:class:`LabelNoiseInjector` corrupts the labels of a training set with the noise
models of the GCE paper (uniform and class-dependent flips, and open-set noise:
rows from outside the task given a label of the task), pair flips,
instance-dependent noise (Xia et al., 2020) or any transition matrix; the
matrices and rows come from :mod:`sklearn_gce.noise_models`. As a sampler it fits
in :class:`imblearn.pipeline.Pipeline`, which applies it when fitting only, so
cross-validation trains on noisy labels and scores on the clean held-out ones.
"""

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from imblearn.base import BaseSampler
from scipy import sparse
from sklearn.base import _fit_context
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_consistent_length, validate_data

from ._tabular import TabularEncoder, is_table
from .noise_models import (
    _PRESETS,
    _summary,
    instance_transition_rows,
    mapping_transition_matrix,
    pairflip_transition_matrix,
    symmetric_transition_matrix,
)

__all__ = ["LabelNoiseInjector"]

def _cdfs(T):
    """The cumulative sums of the rows of ``T``, made to reach exactly 1.

    Each CDF is set to 1 from its last class of non-zero probability on: with a
    cumulative sum ending at 1 - 1e-16, a uniform number just below 1 could
    otherwise pick a class of probability 0.
    """
    n_columns = T.shape[1]
    cdf = np.cumsum(T, axis=1)
    last = n_columns - 1 - np.argmax(T[:, ::-1] > 0, axis=1)
    cdf[np.arange(n_columns)[None, :] >= last[:, None]] = 1.0
    return cdf


def _sample_from_rows(codes, T, rng):
    """Draw one noisy class index per sample from row ``T[codes[i]]``.

    Inverse-CDF sampling with one uniform per sample, grouped by true class so
    that the cost is O(n log n) in time and O(n) in memory, whatever K is.
    """
    n_classes = T.shape[0]
    u = rng.uniform(size=codes.shape[0])
    cdf = _cdfs(T)

    noisy = np.empty_like(codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=n_classes))[:-1]
    for k, rows in enumerate(np.split(order, bounds)):
        if rows.size:
            noisy[rows] = np.searchsorted(cdf[k], u[rows], side="right")
    return noisy


def _sample_from_own_rows(P, rng):
    """Draw one noisy class index per sample ``i`` from its own row ``P[i]``.

    The same inverse-CDF sampling as :func:`_sample_from_rows`, one uniform per
    sample: the index is the number of CDF values at or below it.
    """
    u = rng.uniform(size=P.shape[0])
    return np.count_nonzero(_cdfs(P) <= u[:, None], axis=1).astype(np.intp)


def _class_average(P, codes, n_classes):
    """The mean of the rows of ``P`` of each true class: a K x K matrix."""
    counts = np.bincount(codes, minlength=n_classes)
    sums = np.column_stack(
        [np.bincount(codes, weights=P[:, j], minlength=n_classes) for j in range(n_classes)]
    )
    return sums / counts[:, None]


def _n_replaced(rate, n_samples):
    """The number of rows that open-set noise replaces: ``rate * n_samples``, rounded half up."""
    return int(np.floor(rate * n_samples + 0.5))


def _row_shape(X):
    """The shape of one row of ``X`` (``()`` for a 1-D list of documents), or None if ragged."""
    if sparse.issparse(X) or isinstance(X, np.ndarray):
        return X.shape[1:]
    try:
        return np.shape(X)[1:]
    except ValueError:  # ragged nested lists
        return None


def _checked_outside(X, outside, n_needed):
    """``outside`` in a form whose rows can replace rows of ``X``, checked against it."""
    if outside is None:
        raise ValueError(
            "noise='open_set' needs outside: the rows from outside the task (with the "
            "columns of X) that replace a fraction `rate` of the training rows, for "
            "instance the rows of classes held out of the task."
        )
    if is_table(X):
        if not is_table(outside):
            raise ValueError(
                "X is a pandas DataFrame, so outside must be a DataFrame with the same "
                f"columns; got {type(outside).__name__}."
            )
        if not outside.columns.equals(X.columns):
            x_columns, o_columns = list(X.columns), list(outside.columns)
            missing = [c for c in x_columns if c not in set(o_columns)]
            extra = [c for c in o_columns if c not in set(x_columns)]
            if missing or extra or not (X.columns.is_unique and outside.columns.is_unique):
                raise ValueError(
                    "outside must have the columns of X, as its rows replace rows of X; "
                    f"columns of X missing from outside: {missing}; columns of outside "
                    f"not in X: {extra}."
                )
            outside = outside[x_columns]  # the same columns in another order
    elif is_table(outside) or isinstance(outside, pd.Series):
        outside = outside.to_numpy()
    elif sparse.issparse(X) and not sparse.issparse(outside):
        outside = np.asarray(outside)
    elif not (sparse.issparse(outside) or isinstance(X, (list, tuple))):
        outside = np.asarray(outside)

    x_row, o_row = _row_shape(X), _row_shape(outside)
    if not is_table(X) and None not in (x_row, o_row) and x_row != o_row:
        if len(x_row) == len(o_row) == 1:
            what = f"{o_row[0]} features (columns) but X has {x_row[0]}"
        else:
            what = f"rows of shape {o_row} but the rows of X have shape {x_row}"
        raise ValueError(f"outside has {what}: its rows replace rows of X.")
    n_outside = outside.shape[0] if hasattr(outside, "shape") else len(outside)
    if n_outside < n_needed:
        raise ValueError(
            f"outside has {n_outside} rows, but noise='open_set' replaces {n_needed} "
            "training rows (rate x n_samples, rounded) with distinct outside rows, drawn "
            "without replacement. Give more outside rows or a lower rate."
        )
    return outside


def _take_rows(A, rows):
    """Rows ``rows`` of ``A`` (a DataFrame, sparse matrix, array or list)."""
    if is_table(A):
        return A.iloc[rows]
    if isinstance(A, (list, tuple)):
        return [A[i] for i in rows]
    return A[rows]


def _with_categories_of(X, picked):
    """``X`` and ``picked`` with the categories of X's categorical columns, plus any new ones.

    So that a categorical column stays categorical when outside rows bring
    categories that X does not have (they are appended to X's categories).
    """
    X, picked = X.copy(deep=False), picked.copy(deep=False)
    for i, dtype in enumerate(X.dtypes):
        if not isinstance(dtype, pd.CategoricalDtype):
            continue
        values = picked.iloc[:, i]
        new = pd.Index(pd.unique(values.dropna().astype(object)))
        extra = new[~new.isin(dtype.categories)]
        categories = dtype.categories.append(extra) if len(extra) else dtype.categories
        common = pd.CategoricalDtype(categories, ordered=dtype.ordered)
        X.isetitem(i, X.iloc[:, i].astype(common))
        picked.isetitem(i, values.astype(object).astype(common))
    return X, picked


def _replace_rows(X, picked, rows):
    """A copy of ``X`` whose rows ``rows`` are those of ``picked``, in X's container.

    X's other rows and, for a DataFrame, its index and dtypes are kept (dtypes
    are widened only where the outside rows need it, as ``pd.concat`` does).
    """
    n_samples = X.shape[0] if hasattr(X, "shape") else len(X)
    take = np.arange(n_samples)
    take[rows] = n_samples + np.arange(rows.size)
    if is_table(X):
        X_common, picked = _with_categories_of(X, picked)
        with warnings.catch_warnings():
            # Columns of outside rows that are all missing: the dtype of X's
            # column is the one to keep, which is what pandas does today.
            warnings.filterwarnings("ignore", "The behavior of", FutureWarning)
            stacked = pd.concat([X_common, picked], axis=0, ignore_index=True)
        out = stacked.iloc[take]
        out.index = X.index
        return out
    if sparse.issparse(X):
        stacked = sparse.vstack([X, sparse.csr_matrix(picked)], format="csr")
        return stacked[take].asformat(X.format)
    if isinstance(X, (list, tuple)):
        out = list(X)
        for row, value in zip(rows.tolist(), picked):
            out[row] = value
        return type(X)(out)
    return np.concatenate([np.asarray(X), picked])[take]


def _nearest_classes(X, codes, n_classes, picked):
    """The class whose centroid is nearest each row of ``picked``, in X's standardised space.

    Centroids are the class means of X's rows (with their true labels); every
    feature is divided by its standard deviation over X (a constant one counts
    for nothing); a DataFrame is first encoded by a :class:`TabularEncoder`
    fitted on X. Ties go to the first class of ``classes_``.
    """
    if is_table(X):
        encoder = TabularEncoder()
        A, B = encoder.fit_transform(X), encoder.transform(picked)
    else:
        try:
            A, B = (
                check_array(a, accept_sparse="csr", dtype=np.float64, allow_nd=True,
                            input_name=name)
                for a, name in ((X, "X"), (picked, "outside"))
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "outside_label='nearest' compares each outside row with the class "
                "centroids of X, so X and outside must be numeric arrays (dense or "
                "sparse) without missing values, or DataFrames (which are encoded "
                f"with a TabularEncoder fitted on X). {exc}"
            ) from exc
        A, B = (a.reshape(a.shape[0], -1) if a.ndim > 2 else a for a in (A, B))
    A = A.astype(np.float64) if not sparse.issparse(A) else A
    if sparse.issparse(A):
        mean, var = mean_variance_axis(A, axis=0)
    else:
        var = A.var(axis=0)
    scale = np.sqrt(np.asarray(var, dtype=np.float64))
    inv_scale = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    membership = sparse.csr_matrix(
        (np.ones(codes.size), (codes, np.arange(codes.size))), shape=(n_classes, codes.size)
    )
    counts = np.bincount(codes, minlength=n_classes)
    sums = membership @ A
    sums = sums.toarray() if sparse.issparse(sums) else np.asarray(sums)
    centroids = sums / counts[:, None] * inv_scale
    B = sparse.csr_matrix(B).multiply(inv_scale).tocsr() if sparse.issparse(B) else B * inv_scale
    # Squared distances, ||b||^2 - 2 b.c + ||c||^2 (the first term does not
    # change the argmin and is left out).
    distances = (centroids**2).sum(axis=1)[None, :] - 2 * np.asarray(B @ centroids.T)
    return distances.argmin(axis=1).astype(np.intp)


class LabelNoiseInjector(BaseSampler):
    """Corrupt class labels with a chosen noise model (an imbalanced-learn sampler).

    ``fit_resample(X, y)`` returns ``X`` untouched and a noisy copy of ``y``:
    each label of true class ``i`` becomes class ``j`` with probability
    ``transition_matrix_[i, j]`` (for ``noise="instance"``, with a
    probability of its own that depends on the sample's features). Rows stay
    in place, and ``y`` comes back in its own container (array, list, pandas
    Series with its index). ``noise="open_set"`` replaces a fraction of the
    rows of ``X`` by rows from outside the task instead, each with a label of
    the task.

    Inside :class:`imblearn.pipeline.Pipeline` the noise is applied when
    fitting only: cross-validation and grid search then train on noisy labels
    and score on the clean held-out ones. In a plain scikit-learn pipeline,
    wrap the classifier in :class:`~sklearn_gce.NoisyLabelClassifier`. See
    :ref:`evaluation`.

    Parameters
    ----------
    noise : {"symmetric", "pairflip", "mapping", "matrix", "instance", \
            "open_set"}, default="symmetric"
        The noise model; classes are taken in sorted order (``classes_``).

        - ``"symmetric"``: with probability ``rate`` a label becomes one of
          the *other* classes, chosen uniformly (the paper's uniform noise).
        - ``"pairflip"``: with probability ``rate`` class ``classes_[i]``
          becomes ``classes_[i + 1]``, the last class the first.
        - ``"mapping"``: with probability ``rate`` a label that is a key of
          ``mapping`` becomes its value (the paper's class-dependent noise).
        - ``"matrix"``: labels are redrawn from the rows of
          ``transition_matrix``.
        - ``"instance"``: instance-dependent noise (Xia et al., 2020): each
          sample flips with a probability of its own, drawn around ``rate``,
          towards classes chosen from a random projection of its
          features, so that nearby samples flip alike. It reads ``X``
          (numeric, sparse, or a DataFrame encoded by a
          :class:`~sklearn_gce.TabularEncoder`).
        - ``"open_set"``: ``round(rate * n_samples)`` rows, chosen at random,
          are replaced by distinct rows of ``outside`` and labelled as
          ``outside_label`` says.
    rate : float in [0, 1), default=0.2
        The probability that a label is changed (for ``"instance"``, the
        centre of the per-sample probabilities; for ``"open_set"``, the
        fraction of rows replaced). Ignored with ``"matrix"``. It must stay
        below ``(K - 1) / K`` for ``"symmetric"`` with ``K`` classes, and
        below 0.5 for ``"pairflip"``, ``"mapping"`` and ``"instance"``, so
        that the true class stays the most likely label.
    mapping : dict or {"cifar10", "fashion_mnist", "cifar100"}, default=None
        For ``noise="mapping"``: a dict ``{true_label: noisy_label}`` of
        labels present in ``y``, or a preset of the paper for the class ids
        ``0..K-1`` of its data sets (CIFAR-10: truck -> automobile, bird ->
        airplane, deer -> horse, cat <-> dog; FASHION-MNIST: boot ->
        sneaker, sneaker -> sandal, pullover -> shirt, coat <-> dress;
        CIFAR-100: each class to the next of its super-class).
    transition_matrix : array-like of shape (n_classes, n_classes), default=None
        For ``noise="matrix"``: ``T[i, j]`` is the probability that a label
        of class ``classes_[i]`` becomes ``classes_[j]``; rows sum to 1.
    outside : array-like, sparse matrix or DataFrame, default=None
        For ``noise="open_set"``: the rows from outside the task, in the form
        of ``X``, at least ``round(rate * n_samples)`` of them (drawn without
        replacement). The usual recipe holds some classes out of the task and
        uses their rows.
    outside_label : {"kept", "uniform", "nearest"}, default="kept"
        For ``noise="open_set"``: the label each outside row gets. ``"kept"``:
        that of the row it replaces (the paper's protocol; class counts are
        kept). ``"uniform"``: a class drawn uniformly. ``"nearest"``: the
        class whose centroid in ``X`` (features scaled by their standard
        deviation) is nearest, the harder case where stray rows look like
        their label.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw. With an int, the same ``y`` always gets the same
        noisy labels, and different ``y`` (different folds) different ones.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels of ``y`` (for a one-hot ``y``, its column
        indices).
    transition_matrix_ : ndarray of shape (n_classes, n_classes)
        The matrix that was applied, ``P(noisy = classes_[j] | true =
        classes_[i])``; for ``"instance"``, the average of the samples' rows
        per true class; for ``"open_set"``, the identity.
    flip_probability_ : ndarray of shape (n_samples,)
        The probability that each sample's label was changed (for
        ``"open_set"``, that its row was replaced).
    noise_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the samples whose label was changed (for ``"open_set"``,
        the rows replaced).
    noise_rate_ : float
        The share of labels changed, or of rows replaced.
    outside_indices_ : ndarray of shape (n_replaced,)
        For ``"open_set"``: the positions in ``outside`` of the rows copied
        in, in the order of the replaced rows.
    sampling_strategy_ : str
        Always ``"bypass"`` (imbalanced-learn's sampler protocol).
    n_features_in_ : int
        Number of features seen in ``X``, where it has a recognisable number
        of columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``X``, where they are all strings.

    See Also
    --------
    NoisyLabelClassifier : Trains a classifier on labels noised by this sampler,
        for plain scikit-learn tools.
    symmetric_transition_matrix, pairflip_transition_matrix, \
    mapping_transition_matrix : The matrices of the class-dependent models.
    instance_transition_rows : The per-sample rows of ``noise="instance"``.
    imblearn.pipeline.Pipeline : Applies samplers when fitting only.

    Notes
    -----
    Except with ``"instance"`` and ``"open_set"``, only the length of ``X``
    is read, so it may hold strings, missing values, documents or anything
    the next step accepts; it is returned as the very same object. Open-set
    noise returns a copy of ``X`` of the same kind and length (a DataFrame
    keeps its index and dtypes), the outside rows in place of the replaced
    ones. The ``"pairflip"`` model is the cyclic flip that some
    reimplementations of GCE call class-dependent noise; the paper's is the
    ``mapping`` presets.

    References
    ----------
    .. [1] Z. Zhang and M. R. Sabuncu, "Generalized Cross Entropy Loss for
       Training Deep Neural Networks with Noisy Labels", NeurIPS 2018,
       arXiv:1805.07836.
    .. [2] B. Han et al., "Co-teaching: Robust Training of Deep Neural Networks
       with Extremely Noisy Labels", NeurIPS 2018 (pair flipping).
    .. [3] X. Xia et al., "Part-dependent Label Noise: Towards Instance-dependent
       Label Noise", NeurIPS 2020, arXiv:2006.07836 (instance-dependent noise).
    .. [4] Y. Wang et al., "Iterative Learning with Open-set Noisy Labels",
       CVPR 2018, arXiv:1804.00092 (open-set noise).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce import LabelNoiseInjector
    >>> y = np.repeat([0, 1, 2, 3], 2500)
    >>> X = np.zeros((y.size, 1))
    >>> noise = LabelNoiseInjector(noise="pairflip", rate=0.3, random_state=0)
    >>> X_res, y_noisy = noise.fit_resample(X, y)
    >>> X_res is X
    True
    >>> noise.transition_matrix_
    array([[0.7, 0.3, 0. , 0. ],
           [0. , 0.7, 0.3, 0. ],
           [0. , 0. , 0.7, 0.3],
           [0.3, 0. , 0. , 0.7]])
    >>> round(noise.noise_rate_, 2)
    0.3
    >>> bool(np.all(y_noisy[noise.noise_mask_] == (y[noise.noise_mask_] + 1) % 4))
    True

    Inside an imbalanced-learn pipeline, cross-validation trains on noisy labels
    and scores on clean ones:

    >>> from imblearn.pipeline import make_pipeline
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> X, y = make_classification(
    ...     n_samples=1000, n_classes=3, n_informative=5, random_state=0
    ... )
    >>> for rate in [0.0, 0.4]:
    ...     model = make_pipeline(
    ...         LabelNoiseInjector(noise="symmetric", rate=rate, random_state=0),
    ...         LogisticRegression(),
    ...     )
    ...     print(rate, round(cross_val_score(model, X, y, cv=3).mean(), 2))
    0.0 0.74
    0.4 0.64

    The paper's class-dependent noise for CIFAR-10 (class ids 0..9):

    >>> y10 = np.repeat(np.arange(10), 1000)
    >>> noise = LabelNoiseInjector(
    ...     noise="mapping", mapping="cifar10", rate=0.4, random_state=0
    ... )
    >>> _, y10_noisy = noise.fit_resample(np.zeros((y10.size, 1)), y10)
    >>> noise.transition_matrix_[9, [9, 1]]  # truck -> automobile
    array([0.6, 0.4])
    >>> flipped = noise.noise_mask_
    >>> sorted(set(zip(y10[flipped].tolist(), y10_noisy[flipped].tolist())))
    [(2, 0), (3, 5), (4, 7), (5, 3), (9, 1)]

    Instance-dependent noise: each sample has its own flip probability, and
    ``transition_matrix_`` is their average per true class:

    >>> X, y = make_classification(
    ...     n_samples=3000, n_classes=3, n_informative=5, random_state=0
    ... )
    >>> noise = LabelNoiseInjector(noise="instance", rate=0.3, random_state=0)
    >>> _, y_noisy = noise.fit_resample(X, y)
    >>> flip = noise.flip_probability_
    >>> round(float(flip.mean()), 2), round(float(flip.std()), 2)
    (0.3, 0.1)
    >>> noise.transition_matrix_.round(2)
    array([[0.69, 0.19, 0.12],
           [0.16, 0.7 , 0.15],
           [0.11, 0.19, 0.7 ]])

    Open-set noise, with the usual recipe: hold some classes out of the task
    (here digits 7, 8 and 9) and use their rows as the outside rows. A fifth
    of the rows of the task are replaced, in place:

    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> task = y < 7
    >>> X_task, y_task, X_outside = X[task], y[task], X[~task]
    >>> noise = LabelNoiseInjector(
    ...     noise="open_set", rate=0.2, outside=X_outside, random_state=0
    ... )
    >>> X_noisy, y_noisy = noise.fit_resample(X_task, y_task)
    >>> X_noisy.shape == X_task.shape, int(noise.noise_mask_.sum())
    (True, 253)
    >>> replaced = noise.noise_mask_
    >>> bool(np.array_equal(X_noisy[replaced], X_outside[noise.outside_indices_]))
    True

    With ``outside_label="nearest"`` an outside row takes the class whose
    centroid it is nearest; a 9 is most often taken for a 3:

    >>> noise = LabelNoiseInjector(
    ...     noise="open_set", rate=0.2, outside=X_outside,
    ...     outside_label="nearest", random_state=0,
    ... )
    >>> _, y_noisy = noise.fit_resample(X_task, y_task)
    >>> nines = y[~task][noise.outside_indices_] == 9
    >>> np.bincount(y_noisy[noise.noise_mask_][nines], minlength=7)
    array([ 8,  4,  1, 59,  3, 11,  0])
    """

    _sampling_type = "bypass"

    _parameter_constraints: dict = {
        "noise": [
            StrOptions(
                {"symmetric", "pairflip", "mapping", "matrix", "instance", "open_set"}
            )
        ],
        "rate": [Interval(Real, 0, 1, closed="left")],
        "mapping": [dict, StrOptions(set(_PRESETS)), None],
        "transition_matrix": ["array-like", None],
        "outside": ["array-like", "sparse matrix", None],
        "outside_label": [StrOptions({"kept", "uniform", "nearest"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        noise="symmetric",
        rate=0.2,
        mapping=None,
        transition_matrix=None,
        outside=None,
        outside_label="kept",
        random_state=None,
    ):
        # BaseSampler.__init__ is not called on purpose: its `sampling_strategy`
        # parameter has no meaning here.
        self.noise = noise
        self.rate = rate
        self.mapping = mapping
        self.transition_matrix = transition_matrix
        self.outside = outside
        self.outside_label = outside_label
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Draw the noisy labels and store what was done, without returning them.

        You will usually call :meth:`fit_resample` instead.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
            The samples; only their number is used, except by
            ``noise="instance"``, which needs numeric values.

        y : array-like of shape (n_samples,)
            The clean labels.

        Returns
        -------
        self : object
            The fitted injector.
        """
        self._fit_noise(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_resample(self, X, y):
        """Return ``X`` unchanged and a noisy copy of ``y``.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
            The samples, returned as the same object; only their number is
            used, except by ``noise="instance"``, which needs numeric values.

        y : array-like of shape (n_samples,)
            The clean labels: any hashable label values (strings, non-contiguous
            integers...), without missing values. A one-hot 2-D ``y`` is also
            accepted.

        Returns
        -------
        X : object
            The ``X`` that was given, the same object.

        y_noisy : array-like of shape (n_samples,)
            The noisy labels, in the same container as ``y`` (ndarray, list,
            pandas Series or DataFrame, keeping index, name and dtype).
        """
        return self._fit_noise(X, y)

    def _fit_resample(self, X, y):
        # Required by BaseSampler; the public methods bypass its input
        # conversion, which would turn a DataFrame X into an array.
        return self._fit_noise(X, y)

    def _fit_noise(self, X, y):
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None."
            )
        check_consistent_length(X, y)
        # Record n_features_in_ / feature_names_in_ when X has them, without
        # converting or checking X: the next step of the pipeline will.
        validate_data(self, X=X, reset=True, skip_check_array=True)

        y_array = np.asarray(y)
        codes, classes, one_hot = self._label_codes(y_array)
        self._check_unused_parameters()
        rng = check_random_state(self.random_state)
        if self.noise == "open_set":
            X, noisy_codes, replaced = self._open_set(X, codes, classes.size, rng)
            transition_matrix = np.eye(classes.size)
            flip_probability = np.full(codes.size, replaced.mean())
        elif self.noise == "instance":
            # A DataFrame is encoded as GCEClassifier encodes it; X itself is
            # returned unchanged.
            X_values = TabularEncoder().fit_transform(X) if is_table(X) else X
            # One row per sample, drawn from X; then one uniform per sample.
            rows = instance_transition_rows(
                X_values, codes, classes.size, self.rate, random_state=rng
            )
            noisy_codes = _sample_from_own_rows(rows, rng)
            flip_probability = 1 - rows[np.arange(codes.size), codes]
            transition_matrix = _class_average(rows, codes, classes.size)
        else:
            transition_matrix = self._build_transition_matrix(classes)
            noisy_codes = _sample_from_rows(codes, transition_matrix, rng)
            flip_probability = 1 - transition_matrix[codes, codes]

        self.classes_ = classes
        self.transition_matrix_ = transition_matrix
        self.flip_probability_ = flip_probability
        self.sampling_strategy_ = "bypass"
        if self.noise == "open_set":
            self.noise_mask_ = replaced
        else:
            self.noise_mask_ = noisy_codes != codes
        self.noise_rate_ = float(self.noise_mask_.mean())

        if one_hot:
            noisy = (noisy_codes[:, None] == np.arange(classes.size)).astype(
                y_array.dtype
            )
        else:
            noisy = classes[noisy_codes].reshape(y_array.shape)
        return X, self._like(y, noisy)

    def _open_set(self, X, codes, n_classes, rng):
        """Replace ``round(rate * n)`` rows of X by outside rows; label them.

        Returns the new X, the label index of every row and the mask of the
        replaced rows; sets ``outside_indices_``.
        """
        n_samples = codes.size
        n_needed = _n_replaced(self.rate, n_samples)
        outside = _checked_outside(X, self.outside, n_needed)
        n_outside = outside.shape[0] if hasattr(outside, "shape") else len(outside)
        # The random numbers in a fixed order: replaced rows, outside rows, labels.
        rows = np.sort(rng.choice(n_samples, size=n_needed, replace=False))
        drawn = rng.choice(n_outside, size=n_needed, replace=False)
        self.outside_indices_ = drawn
        replaced = np.zeros(n_samples, dtype=bool)
        replaced[rows] = True
        noisy_codes = codes.copy()
        if n_needed == 0:
            return X, noisy_codes, replaced
        picked = _take_rows(outside, drawn)
        if self.outside_label == "uniform":
            noisy_codes[rows] = rng.randint(n_classes, size=n_needed)
        elif self.outside_label == "nearest":
            noisy_codes[rows] = _nearest_classes(X, codes, n_classes, picked)
        # "kept": the rows keep the labels of the rows they replace.
        return _replace_rows(X, picked, rows), noisy_codes, replaced

    def _label_codes(self, y):
        """Return (class index per sample, sorted classes, whether y is one-hot).

        Not the estimators' ``_encode_labels`` (:class:`~sklearn_gce._labels.ClassEncoder`):
        a sampler takes a one-hot ``y`` (imbalanced-learn's convention), has
        no warm start, and keeps the classes ``pd.factorize`` gives.
        """
        name = type(self).__name__
        if y.ndim == 0 or y.ndim > 2:
            raise ValueError(
                f"y must be 1-D (one label per sample), got an array of shape {y.shape}."
            )
        missing = pd.isna(y)
        if np.any(missing):
            rows = np.flatnonzero(missing.reshape(len(y), -1).any(axis=1))
            raise ValueError(
                f"y contains missing labels (NaN or None) at {rows.size} rows, "
                f"the first at row {rows[0]}; every sample needs a true label for "
                "noise to be added to it. Drop or impute those rows first."
            )
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise ValueError(
                "Input y contains infinity: labels must be finite class values."
            )
        if y.ndim == 2 and y.shape[1] > 1:
            # imbalanced-learn's convention: a one-hot y stands for its argmax.
            check_classification_targets(y)
            if type_of_target(y) != "multilabel-indicator" or np.any(y.sum(axis=1) != 1):
                raise ValueError(
                    "Multilabel and multioutput targets are not supported: "
                    f"{name} needs one label per sample (a 1-D y, or a one-hot y "
                    "with exactly one 1 per row)."
                )
            classes = np.arange(y.shape[1])
            codes = y.argmax(axis=1)
        else:
            # Hash-based, so much faster than np.unique on string labels; the
            # label checks then only need to look at the few distinct values.
            codes, classes = pd.factorize(y.ravel(), sort=True)
            if classes.dtype == object:
                kinds = {type(c).__name__ for c in classes.tolist()}
                if "str" in kinds and len(kinds) > 1:
                    raise ValueError(
                        f"y mixes label types {sorted(kinds)}; use one type for "
                        "all labels (for instance convert them all to str)."
                    )
            with warnings.catch_warnings():
                # The distinct labels are all unique, which type_of_target would
                # misread as "more classes than half the samples".
                warnings.filterwarnings(
                    "ignore", "The number of unique classes", UserWarning
                )
                check_classification_targets(classes)

        if classes.size < 2:
            raise ValueError(
                f"{name} needs at least 2 classes in y to flip labels between; "
                f"got {classes.size} class: {classes.tolist()}."
            )
        return codes.astype(np.intp), classes, y.ndim == 2 and y.shape[1] > 1

    def _check_unused_parameters(self):
        # A parameter that the chosen model ignores is most likely a mistake
        # (e.g. a mapping given but noise left at "symmetric"): say so.
        noise = self.noise
        if self.mapping is not None and noise != "mapping":
            raise ValueError(
                f"mapping is only used with noise='mapping', but noise={noise!r}. "
                "Set noise='mapping' or leave mapping=None."
            )
        if self.transition_matrix is not None and noise != "matrix":
            raise ValueError(
                "transition_matrix is only used with noise='matrix', but "
                f"noise={noise!r}. Set noise='matrix' or leave transition_matrix=None."
            )
        if self.outside is not None and noise != "open_set":
            raise ValueError(
                f"outside is only used with noise='open_set', but noise={noise!r}. "
                "Set noise='open_set' or leave outside=None."
            )
        if self.outside_label != "kept" and noise != "open_set":
            raise ValueError(
                f"outside_label is only used with noise='open_set', but noise={noise!r}. "
                "Set noise='open_set' or leave outside_label='kept'."
            )

    def _build_transition_matrix(self, classes):
        """The K x K matrix of a class-dependent noise model over the sorted classes."""
        if self.noise == "symmetric":
            return symmetric_transition_matrix(classes.size, self.rate)
        if self.noise == "pairflip":
            return pairflip_transition_matrix(classes.size, self.rate)
        if self.noise == "mapping":
            if self.mapping is None:
                raise ValueError(
                    "noise='mapping' needs mapping: a dict {true_label: noisy_label} "
                    f"or one of the presets {sorted(_PRESETS)}."
                )
            return mapping_transition_matrix(classes, self.mapping, self.rate)
        return self._checked_matrix(classes)

    def _checked_matrix(self, classes):
        n_classes = classes.size
        if self.transition_matrix is None:
            raise ValueError(
                "noise='matrix' needs transition_matrix, a row-stochastic array of "
                "shape (n_classes, n_classes)."
            )
        try:
            T = np.asarray(self.transition_matrix, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"transition_matrix must be a 2-D array of probabilities: {exc}"
            ) from exc
        if T.ndim != 2 or T.shape[0] != T.shape[1]:
            raise ValueError(
                f"transition_matrix must be square (n_classes x n_classes); got shape "
                f"{T.shape}."
            )
        if T.shape[0] != n_classes:
            raise ValueError(
                f"transition_matrix is {T.shape[0]} x {T.shape[1]} but y has "
                f"{n_classes} classes {_summary(classes)}; row and column i stand "
                "for classes_[i], the sorted classes of y."
            )
        if not np.all(np.isfinite(T)) or np.any(T < 0):
            raise ValueError(
                "transition_matrix must hold probabilities: finite and non-negative."
            )
        sums = T.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1) > 1e-6)
        if bad.size:
            raise ValueError(
                "transition_matrix must be row-stochastic (row i is the distribution "
                "of the noisy label of class classes_[i], so it sums to 1); rows "
                f"{bad.tolist()} sum to {np.round(sums[bad], 6).tolist()}."
            )
        # Exact renormalisation, so that the sampled CDFs end at 1.
        return T / sums[:, None]

    @staticmethod
    def _like(y, values):
        """Put the noisy values in the same kind of container as the original y."""
        if isinstance(y, pd.Series):
            return pd.Series(values, index=y.index, name=y.name, dtype=y.dtype)
        if isinstance(y, pd.DataFrame):
            out = pd.DataFrame(values.reshape(len(y), -1), index=y.index, columns=y.columns)
            return out.astype(y.dtypes.to_dict())
        if isinstance(y, list):
            return values.tolist()
        if isinstance(y, tuple):
            return tuple(values.tolist())
        return values

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is passed through untouched: strings and missing values are fine,
        # except for instance noise, which computes the flips from X's values.
        reads_x = self.noise == "instance"
        tags.input_tags.string = not reads_x
        tags.input_tags.allow_nan = not reads_x
        return tags

