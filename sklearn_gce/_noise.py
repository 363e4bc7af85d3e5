"""Synthetic label noise, as an imbalanced-learn sampler.

:class:`LabelNoiseInjector` corrupts the labels of a training set with the noise
models of the GCE paper (uniform and class-dependent flips) or any transition
matrix. As a sampler it fits in :class:`imblearn.pipeline.Pipeline`, which applies
it when fitting only, so cross-validation trains on noisy labels and scores on the
clean held-out ones.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from imblearn.base import BaseSampler
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_consistent_length, validate_data

__all__ = ["LabelNoiseInjector"]

# Class-dependent flips of Zhang & Sabuncu (2018), Section 4, as {true: noisy}.
# CIFAR-10 ids: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog,
# 7 horse, 8 ship, 9 truck.
_CIFAR10_FLIPS = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
# Fashion-MNIST ids: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat,
# 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot.
_FASHION_MNIST_FLIPS = {9: 7, 7: 5, 2: 6, 4: 3, 3: 4}

# The fine label ids of each CIFAR-100 super-class (coarse label 0..19), from the
# `fine_labels` / `coarse_labels` fields of the official python version of the
# dataset (https://www.cs.toronto.edu/~kriz/cifar.html; both name lists are in
# alphabetical order in its `meta` file). Super-classes are NOT blocks of five
# consecutive ids, although some public reimplementations assume so.
_CIFAR100_SUPERCLASSES = (
    (4, 30, 55, 72, 95),  # 0 aquatic mammals: beaver dolphin otter seal whale
    (1, 32, 67, 73, 91),  # 1 fish: aquarium fish, flatfish, ray, shark, trout
    (54, 62, 70, 82, 92),  # 2 flowers: orchid poppy rose sunflower tulip
    (9, 10, 16, 28, 61),  # 3 food containers: bottle bowl can cup plate
    (0, 51, 53, 57, 83),  # 4 fruit and vegetables: apple mushroom orange pear pepper
    (22, 39, 40, 86, 87),  # 5 household electrical devices: clock keyboard lamp ...
    (5, 20, 25, 84, 94),  # 6 household furniture: bed chair couch table wardrobe
    (6, 7, 14, 18, 24),  # 7 insects: bee beetle butterfly caterpillar cockroach
    (3, 42, 43, 88, 97),  # 8 large carnivores: bear leopard lion tiger wolf
    (12, 17, 37, 68, 76),  # 9 large man-made outdoor things: bridge castle house ...
    (23, 33, 49, 60, 71),  # 10 large natural outdoor scenes: cloud forest mountain ...
    (15, 19, 21, 31, 38),  # 11 large omnivores and herbivores: camel cattle ...
    (34, 63, 64, 66, 75),  # 12 medium mammals: fox porcupine possum raccoon skunk
    (26, 45, 77, 79, 99),  # 13 non-insect invertebrates: crab lobster snail ...
    (2, 11, 35, 46, 98),  # 14 people: baby boy girl man woman
    (27, 29, 44, 78, 93),  # 15 reptiles: crocodile dinosaur lizard snake turtle
    (36, 50, 65, 74, 80),  # 16 small mammals: hamster mouse rabbit shrew squirrel
    (47, 52, 56, 59, 96),  # 17 trees: maple oak palm pine willow
    (8, 13, 48, 58, 90),  # 18 vehicles 1: bicycle bus motorcycle pickup truck train
    (41, 69, 81, 85, 89),  # 19 vehicles 2: lawn mower rocket streetcar tank tractor
)
# Each fine class flips to the next one of its super-class (in id order), circularly.
_CIFAR100_FLIPS = {
    fine: group[(i + 1) % len(group)]
    for group in _CIFAR100_SUPERCLASSES
    for i, fine in enumerate(group)
}

# preset name -> (flips, number of classes of the data set)
_PRESETS = {
    "cifar10": (_CIFAR10_FLIPS, 10),
    "fashion_mnist": (_FASHION_MNIST_FLIPS, 10),
    "cifar100": (_CIFAR100_FLIPS, 100),
}


def _is_integer_labels_below(classes, n):
    """Whether every class is an integer (of any dtype) in ``0..n-1``."""
    for c in classes.tolist():
        if isinstance(c, bool) or not isinstance(c, (Integral, Real)):
            return False
        if c != int(c) or not 0 <= c < n:
            return False
    return True


def _sample_from_rows(codes, T, rng):
    """Draw one noisy class index per sample from row ``T[codes[i]]``.

    Inverse-CDF sampling with one uniform per sample, grouped by true class so
    that the cost is O(n log n) in time and O(n) in memory, whatever K is.
    """
    n_classes = T.shape[0]
    u = rng.uniform(size=codes.shape[0])
    cdf = np.cumsum(T, axis=1)
    # Make each CDF reach exactly 1 at its last class of non-zero probability:
    # with a cumulative sum ending at 1 - 1e-16, a u just below 1 could otherwise
    # pick a class of probability 0.
    last = n_classes - 1 - np.argmax(T[:, ::-1] > 0, axis=1)
    cdf[np.arange(n_classes)[None, :] >= last[:, None]] = 1.0

    noisy = np.empty_like(codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=n_classes))[:-1]
    for k, rows in enumerate(np.split(order, bounds)):
        if rows.size:
            noisy[rows] = np.searchsorted(cdf[k], u[rows], side="right")
    return noisy


class LabelNoiseInjector(BaseSampler):
    """Corrupt class labels with a chosen noise model (an imbalanced-learn sampler).

    ``fit_resample(X, y)`` returns ``X`` untouched and a noisy copy of ``y``: each
    label of true class ``i`` becomes class ``j`` with probability
    ``transition_matrix_[i, j]``. The rows stay in place, so sample weights and
    other per-row data stay aligned.

    Inside :class:`imblearn.pipeline.Pipeline` the noise is applied when fitting
    only: cross-validation and grid search then train on noisy labels and score
    on the clean held-out labels. For a plain scikit-learn pipeline, wrap the
    classifier in :class:`~sklearn_gce.NoisyLabelClassifier` instead.

    Parameters
    ----------
    noise : {"symmetric", "pairflip", "mapping", "matrix"}, default="symmetric"
        The noise model. Classes are ordered as in ``classes_`` (sorted).

        - ``"symmetric"``: with probability ``rate`` a label is replaced by one of
          the *other* classes, chosen uniformly ("uniform noise" in the paper).
        - ``"pairflip"``: with probability ``rate`` class ``classes_[i]`` becomes
          ``classes_[i + 1]``, and the last class becomes the first.
        - ``"mapping"``: with probability ``rate`` a label that is a key of
          ``mapping`` becomes the corresponding value; other labels are kept.
        - ``"matrix"``: labels are redrawn from the rows of
          ``transition_matrix``.

    rate : float in [0, 1), default=0.2
        The probability that a label (of a class that can flip) is changed.
        Ignored when ``noise="matrix"``: the matrix holds the rates. For
        ``"symmetric"`` it must stay below ``(K - 1) / K`` with ``K`` classes, for
        ``"pairflip"`` and ``"mapping"`` below 0.5: beyond that the true class is
        no longer the most likely label of its samples and the noise can no
        longer be learnt through.

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

    noise_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the samples whose label was changed.

    noise_rate_ : float
        The fraction of labels that were changed (``noise_mask_.mean()``).

    sampling_strategy_ : str
        Always ``"bypass"``: the class counts are not targeted. Kept for the
        imbalanced-learn sampler protocol.

    n_features_in_ : int
        Number of features seen in ``X``. Defined only when ``X`` has a
        recognisable number of columns (``X`` is never converted or checked).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``X``. Defined only when ``X`` has feature
        names that are all strings.

    See Also
    --------
    NoisyLabelClassifier : Trains a classifier on labels noised by this sampler,
        for plain scikit-learn tools.
    imblearn.pipeline.Pipeline : Applies samplers when fitting only.

    Notes
    -----
    Every noise model is turned into a transition matrix, and each label is drawn
    from the row of its true class by inverse-CDF sampling with one uniform
    number per sample, which takes well under a second for a million labels.
    ``X`` is returned as the very same object: only its length is read, so it
    may hold strings, missing values, text documents or anything the next step
    of the pipeline accepts.

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
    """

    _sampling_type = "bypass"

    _parameter_constraints: dict = {
        "noise": [StrOptions({"symmetric", "pairflip", "mapping", "matrix"})],
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
            The samples; only their number is used.

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
            The samples; only their number is used, and the same object is
            returned.

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
        self.classes_ = classes
        self.transition_matrix_ = self._build_transition_matrix(classes)
        self.sampling_strategy_ = "bypass"

        rng = check_random_state(self.random_state)
        noisy_codes = _sample_from_rows(codes, self.transition_matrix_, rng)
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

    def _build_transition_matrix(self, classes):
        """The K x K matrix of the chosen noise model over the sorted classes."""
        noise, rate, n_classes = self.noise, self.rate, classes.size
        # A parameter that the chosen model ignores is most likely a mistake
        # (e.g. a mapping given but noise left at "symmetric"): say so.
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

        if noise == "symmetric":
            off = rate / (n_classes - 1)
            if 1 - rate <= off:
                raise ValueError(
                    f"rate={rate} is too high for symmetric noise over {n_classes} "
                    f"classes: a label would stay correct with probability 1 - rate"
                    f" = {1 - rate:.4g} but become each other class with probability"
                    f" rate / (K - 1) = {off:.4g}, so the true class would no longer "
                    "be the most likely label and the noise could not be learnt "
                    f"through. Use rate < (K - 1) / K = {(n_classes - 1) / n_classes:.4g}."
                )
            T = np.full((n_classes, n_classes), off)
            np.fill_diagonal(T, 1 - rate)
            return T

        if noise in ("pairflip", "mapping") and rate >= 0.5:
            raise ValueError(
                f"rate={rate} is too high for {noise} noise: a flipping class would "
                "turn into its target (probability rate) at least as often as it "
                "stays itself (probability 1 - rate), so the true class would no "
                "longer be the most likely label. Use rate < 0.5."
            )

        if noise == "pairflip":
            T = (1 - rate) * np.eye(n_classes)
            T[np.arange(n_classes), (np.arange(n_classes) + 1) % n_classes] += rate
            return T

        if noise == "mapping":
            return self._mapping_matrix(classes)

        return self._checked_matrix(classes)

    def _mapping_matrix(self, classes):
        mapping, rate = self.mapping, self.rate
        if mapping is None:
            raise ValueError(
                "noise='mapping' needs mapping: a dict {true_label: noisy_label} or "
                f"one of the presets {sorted(_PRESETS)}."
            )
        if isinstance(mapping, str):
            flips, n_preset = _PRESETS[mapping]
            if not _is_integer_labels_below(classes, n_preset):
                raise ValueError(
                    f"mapping={mapping!r} is a preset for the integer class ids "
                    f"0..{n_preset - 1} of that data set, but y has the classes "
                    f"{_summary(classes)}. Encode y with those ids, or pass the "
                    "flips as a dict {true_label: noisy_label}."
                )
        else:
            flips = mapping

        index = {c: i for i, c in enumerate(classes.tolist())}
        unknown = [label for label in [*flips, *flips.values()] if label not in index]
        if unknown:
            raise ValueError(
                "mapping names labels that are not in y: "
                f"{', '.join(sorted(set(map(repr, unknown))))}."
                f" The classes in y are {_summary(classes)}; mapping keys and values "
                "must be label values."
            )
        T = np.eye(classes.size)
        for source, target in flips.items():
            i, j = index[source], index[target]
            T[i] = 0.0
            T[i, i] += 1 - rate
            T[i, j] += rate
        return T

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
        # X is passed through untouched: strings and missing values are fine.
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


def _summary(classes, limit=10):
    """A short printable list of class labels for error messages."""
    shown = classes.tolist()[:limit]
    more = f" ... ({classes.size} in all)" if classes.size > limit else ""
    return f"{shown}{more}"
