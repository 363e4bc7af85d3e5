"""Synthetic label noise, as an imbalanced-learn sampler.

:class:`LabelNoiseInjector` corrupts the labels of a training set with the noise
models of the GCE paper (uniform and class-dependent flips), pair flips,
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
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_consistent_length, validate_data

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


class LabelNoiseInjector(BaseSampler):
    """Corrupt class labels with a chosen noise model (an imbalanced-learn sampler).

    ``fit_resample(X, y)`` returns ``X`` untouched and a noisy copy of ``y``: each
    label of true class ``i`` becomes class ``j`` with probability
    ``transition_matrix_[i, j]`` (for ``noise="instance"``, with a probability of
    its own that depends on the sample's features). The rows stay in place, so
    sample weights and other per-row data stay aligned.

    Inside :class:`imblearn.pipeline.Pipeline` the noise is applied when fitting
    only: cross-validation and grid search then train on noisy labels and score
    on the clean held-out labels. For a plain scikit-learn pipeline, wrap the
    classifier in :class:`~sklearn_gce.NoisyLabelClassifier` instead.

    Parameters
    ----------
    noise : {"symmetric", "pairflip", "mapping", "matrix", "instance"}, \
            default="symmetric"
        The noise model. Classes are ordered as in ``classes_`` (sorted).

        - ``"symmetric"``: with probability ``rate`` a label is replaced by one of
          the *other* classes, chosen uniformly ("uniform noise" in the paper).
        - ``"pairflip"``: with probability ``rate`` class ``classes_[i]`` becomes
          ``classes_[i + 1]``, and the last class becomes the first.
        - ``"mapping"``: with probability ``rate`` a label that is a key of
          ``mapping`` becomes the corresponding value; other labels are kept.
        - ``"matrix"``: labels are redrawn from the rows of
          ``transition_matrix``.
        - ``"instance"``: instance-dependent noise, generated as by Xia et al.
          (2020) and most later papers: each sample flips with a probability of
          its own, drawn from a normal of mean ``rate`` and standard deviation
          0.1 truncated to [0, 1], and flips to classes chosen from a random
          projection of its (standardised) features, so that nearby samples
          flip alike. The only model that reads ``X``, which must then be
          numeric (see :func:`~sklearn_gce.instance_transition_rows`).

    rate : float in [0, 1), default=0.2
        The probability that a label (of a class that can flip) is changed.
        Ignored when ``noise="matrix"``: the matrix holds the rates. For
        ``"instance"`` it is the centre of the per-sample flip probabilities,
        their mean for ``rate >= 0.3`` (a little above it for smaller rates, as
        the normal is truncated at 0; see
        :func:`~sklearn_gce.instance_transition_rows`). For
        ``"symmetric"`` it must stay below ``(K - 1) / K`` with ``K`` classes, for
        ``"pairflip"``, ``"mapping"`` and ``"instance"`` below 0.5: beyond that
        the true class is no longer the most likely label of its samples and the
        noise can no longer be learnt through.

    mapping : dict or {"cifar10", "fashion_mnist", "cifar100"}, default=None
        For ``noise="mapping"`` only. A dict ``{true_label: noisy_label}`` of
        label values (both must occur in ``y``), or the name of a preset of the
        paper for the integer class ids ``0..K-1`` of a data set:

        - ``"cifar10"``: truck -> automobile, bird -> airplane, deer -> horse,
          cat <-> dog (9 -> 1, 2 -> 0, 4 -> 7, 3 <-> 5);
        - ``"fashion_mnist"``: boot -> sneaker, sneaker -> sandal, pullover ->
          shirt, coat <-> dress (9 -> 7, 7 -> 5, 2 -> 6, 4 <-> 3);
        - ``"cifar100"``: each class to the next one of its super-class (in
          class id order), circularly, with the super-classes of the data set.

    transition_matrix : array-like of shape (n_classes, n_classes), default=None
        For ``noise="matrix"`` only. ``T[i, j]`` is the probability that a label
        of class ``classes_[i]`` becomes ``classes_[j]``: non-negative, each row
        summing to 1 (within 1e-6). Any such matrix is accepted, including ones
        where the true class is not the most likely label.

    random_state : int, RandomState instance or None, default=None
        Seeds the draw. With an int, the same ``y`` always gets the same noisy
        labels; different ``y`` (such as different cross-validation folds) get
        different draws.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels of ``y``; for a one-hot ``y``, its column
        indices.

    transition_matrix_ : ndarray of shape (n_classes, n_classes)
        The row-stochastic matrix that was applied, for every noise model:
        ``transition_matrix_[i, j] = P(noisy = classes_[j] | true = classes_[i])``.
        For ``noise="instance"``, where each sample has a row of its own, it is
        the average of those rows over the samples of each true class: the
        class-level transition matrix the noise actually implies on this ``y``.

    flip_probability_ : ndarray of shape (n_samples,)
        The probability that each sample's label was changed:
        ``1 - transition_matrix_[i, i]`` for its true class ``i``, or, for
        ``noise="instance"``, the sample's own drawn flip probability.

    noise_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the samples whose label was changed.

    noise_rate_ : float
        The fraction of labels that were changed (``noise_mask_.mean()``).

    sampling_strategy_ : str
        Always ``"bypass"``: the class counts are not targeted. Kept for the
        imbalanced-learn sampler protocol.

    n_features_in_ : int
        Number of features seen in ``X``. Defined only when ``X`` has a
        recognisable number of columns (``X`` is not converted or checked,
        except by ``noise="instance"``).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``X``. Defined only when ``X`` has feature
        names that are all strings.

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
    Every noise model is turned into a transition matrix, and each label is drawn
    from the row of its true class by inverse-CDF sampling with one uniform
    number per sample, which takes well under a second for a million labels.
    Instance noise draws each label from a row of its own instead (one uniform
    per sample too), which holds ``n_samples x n_classes`` probabilities in
    memory while fitting.
    ``X`` is returned as the very same object. Except with ``noise="instance"``
    only its length is read, so it may hold strings, missing values, text
    documents or anything the next step of the pipeline accepts. Instance noise
    reads its values: ``X`` must then be numeric and finite (a dense array, an
    n-d array such as images, which is flattened, or a sparse matrix), so put
    the injector after the encoders of a pipeline; its columns are standardised
    for the projection, and ``X`` itself is still returned unchanged.

    A ``y`` given as a pandas Series or DataFrame comes back as one, with the same
    index, name and dtype; a list comes back as a list; a one-hot ``y`` (as
    imbalanced-learn accepts) comes back one-hot.

    The ``"pairflip"`` model is the cyclic flip used for "class-dependent" noise
    by some reimplementations of GCE; the paper's class-dependent noise is the
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
    >>> round(noise.noise_rate_, 2)  # the share actually flipped, 3000 draws
    0.29
    >>> noise.transition_matrix_.round(2)
    array([[0.69, 0.19, 0.12],
           [0.16, 0.7 , 0.15],
           [0.11, 0.19, 0.7 ]])
    """

    _sampling_type = "bypass"

    _parameter_constraints: dict = {
        "noise": [
            StrOptions({"symmetric", "pairflip", "mapping", "matrix", "instance"})
        ],
        "rate": [Interval(Real, 0, 1, closed="left")],
        "mapping": [dict, StrOptions(set(_PRESETS)), None],
        "transition_matrix": ["array-like", None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        noise="symmetric",
        rate=0.2,
        mapping=None,
        transition_matrix=None,
        random_state=None,
    ):
        # BaseSampler.__init__ is not called on purpose: its `sampling_strategy`
        # parameter has no meaning here.
        self.noise = noise
        self.rate = rate
        self.mapping = mapping
        self.transition_matrix = transition_matrix
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
        codes, classes, one_hot = self._encode_labels(y_array)
        self._check_unused_parameters()
        rng = check_random_state(self.random_state)
        if self.noise == "instance":
            # One row per sample, drawn from X; then one uniform per sample.
            rows = instance_transition_rows(
                X, codes, classes.size, self.rate, random_state=rng
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
        self.noise_mask_ = noisy_codes != codes
        self.noise_rate_ = float(self.noise_mask_.mean())

        if one_hot:
            noisy = (noisy_codes[:, None] == np.arange(classes.size)).astype(
                y_array.dtype
            )
        else:
            noisy = classes[noisy_codes].reshape(y_array.shape)
        return X, self._like(y, noisy)

    def _encode_labels(self, y):
        """Return (class index per sample, sorted classes, whether y is one-hot)."""
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

