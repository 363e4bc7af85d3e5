"""The noise models of :class:`~sklearn_gce.LabelNoiseInjector`, as plain functions.

Each function builds the transition probabilities of one noise model, the very
ones the injector applies: a benchmark or a loss correction that needs the true
noise model calls them instead of writing the matrices again.

- :func:`~sklearn_gce.symmetric_transition_matrix`,
  :func:`~sklearn_gce.pairflip_transition_matrix` and
  :func:`~sklearn_gce.mapping_transition_matrix` return a ``(K, K)``
  row-stochastic matrix ``T``, ``T[i, j]`` being the probability that a label of
  class ``i`` becomes class ``j`` (classes taken in sorted order).
- :func:`~sklearn_gce.instance_transition_rows` returns one such row per
  *sample*: the instance-dependent noise of Xia et al. (2020), where the
  probability of a flip and where it goes depend on the sample's features.

All four are exported by :mod:`sklearn_gce`.
"""

from numbers import Integral, Real

import numpy as np
from scipy import sparse, stats
from sklearn.utils import check_array, check_random_state
from sklearn.utils.sparsefuncs import mean_variance_axis

__all__ = [
    "symmetric_transition_matrix",
    "pairflip_transition_matrix",
    "mapping_transition_matrix",
    "instance_transition_rows",
]

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

# Standard deviation of the per-sample flip rates in the reference code of
# Xia et al. (2020) (`norm_std`), followed by the papers that reuse it.
_INSTANCE_STD = 0.1


def _check_n_classes(n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, Integral) or n_classes < 2:
        raise ValueError(
            f"n_classes must be an integer >= 2 (labels flip between classes); "
            f"got {n_classes!r}."
        )
    return int(n_classes)


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
        raise ValueError(f"rate must be a float in [0, 1); got {rate!r}.")
    return float(rate)


def _check_rate_below_half(rate, noise):
    """The limit of the noise models that send a flipping label to one class."""
    if rate >= 0.5:
        raise ValueError(
            f"rate={rate} is too high for {noise} noise: a flipping class would "
            "turn into its target (probability rate) at least as often as it "
            "stays itself (probability 1 - rate), so the true class would no "
            "longer be the most likely label. Use rate < 0.5."
        )


def symmetric_transition_matrix(n_classes, rate):
    """Transition matrix of symmetric (uniform) noise.

    With probability ``rate`` a label is replaced by one of the *other*
    ``n_classes - 1`` classes, chosen uniformly: the "uniform noise" of Zhang &
    Sabuncu (2018). This is ``LabelNoiseInjector(noise="symmetric")``.

    Parameters
    ----------
    n_classes : int
        The number of classes ``K``, at least 2.

    rate : float in [0, (K - 1) / K)
        The probability that a label is changed. At ``(K - 1) / K`` and above a
        wrong class would be at least as likely as the true one, and the noise
        could no longer be learnt through: a ``ValueError`` says so.

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes)
        ``1 - rate`` on the diagonal, ``rate / (K - 1)`` elsewhere.

    See Also
    --------
    LabelNoiseInjector : Draws noisy labels from this matrix.

    Examples
    --------
    >>> from sklearn_gce import symmetric_transition_matrix
    >>> symmetric_transition_matrix(3, 0.3)
    array([[0.7 , 0.15, 0.15],
           [0.15, 0.7 , 0.15],
           [0.15, 0.15, 0.7 ]])
    """
    n_classes, rate = _check_n_classes(n_classes), _check_rate(rate)
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


def pairflip_transition_matrix(n_classes, rate):
    """Transition matrix of pair-flip noise.

    With probability ``rate`` class ``i`` becomes class ``i + 1``, and the last
    class becomes the first: the pair flipping of Han et al. (2018). This is
    ``LabelNoiseInjector(noise="pairflip")``.

    Parameters
    ----------
    n_classes : int
        The number of classes ``K``, at least 2.

    rate : float in [0, 0.5)
        The probability that a label is changed. At 0.5 and above a class would
        turn into its target at least as often as it stays itself: a
        ``ValueError`` says so.

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes)
        ``1 - rate`` on the diagonal, ``rate`` at ``T[i, (i + 1) % K]``.

    See Also
    --------
    LabelNoiseInjector : Draws noisy labels from this matrix.

    Examples
    --------
    >>> from sklearn_gce import pairflip_transition_matrix
    >>> pairflip_transition_matrix(3, 0.2)
    array([[0.8, 0.2, 0. ],
           [0. , 0.8, 0.2],
           [0.2, 0. , 0.8]])
    """
    n_classes, rate = _check_n_classes(n_classes), _check_rate(rate)
    _check_rate_below_half(rate, "pairflip")
    T = (1 - rate) * np.eye(n_classes)
    T[np.arange(n_classes), (np.arange(n_classes) + 1) % n_classes] += rate
    return T


def mapping_transition_matrix(classes, mapping, rate):
    """Transition matrix of class-dependent flips given as ``{true: noisy}``.

    With probability ``rate`` a label that is a key of ``mapping`` becomes the
    corresponding value; other labels are kept. This is
    ``LabelNoiseInjector(noise="mapping")``, the class-dependent noise of Zhang
    & Sabuncu (2018) with the presets.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The class labels, in the order of the rows and columns of the result
        (the injector uses the sorted labels of ``y``, its ``classes_``).

    mapping : dict or {"cifar10", "fashion_mnist", "cifar100"}
        A dict ``{true_label: noisy_label}`` of labels from ``classes``, or the
        name of a preset for the integer class ids ``0..K-1`` of a data set:
        ``"cifar10"`` (9 -> 1, 2 -> 0, 4 -> 7, 3 <-> 5), ``"fashion_mnist"``
        (9 -> 7, 7 -> 5, 2 -> 6, 4 <-> 3) and ``"cifar100"`` (each class to the
        next one of its super-class, circularly).

    rate : float in [0, 0.5)
        The probability that a label of a mapped class is changed. At 0.5 and
        above it would turn into its target at least as often as it stays
        itself: a ``ValueError`` says so.

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes)
        The identity, except on the rows of the mapped classes: ``1 - rate`` on
        the diagonal and ``rate`` at their target.

    See Also
    --------
    LabelNoiseInjector : Draws noisy labels from this matrix.

    Examples
    --------
    >>> from sklearn_gce import mapping_transition_matrix
    >>> mapping_transition_matrix(["bird", "cat", "dog"], {"cat": "dog"}, 0.4)
    array([[1. , 0. , 0. ],
           [0. , 0.6, 0.4],
           [0. , 0. , 1. ]])

    The paper's CIFAR-10 flips, truck -> automobile among them:

    >>> T = mapping_transition_matrix(range(10), "cifar10", 0.4)
    >>> T[9, [9, 1]]
    array([0.6, 0.4])
    """
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(
            f"classes must be 1-D (one label per class); got shape {classes.shape}."
        )
    rate = _check_rate(rate)
    _check_rate_below_half(rate, "mapping")
    if isinstance(mapping, str):
        if mapping not in _PRESETS:
            raise ValueError(
                f"mapping={mapping!r} is not a preset; the presets are "
                f"{sorted(_PRESETS)}, or pass a dict {{true_label: noisy_label}}."
            )
        flips, n_preset = _PRESETS[mapping]
        if not _is_integer_labels_below(classes, n_preset):
            raise ValueError(
                f"mapping={mapping!r} is a preset for the integer class ids "
                f"0..{n_preset - 1} of that data set, but y has the classes "
                f"{_summary(classes)}. Encode y with those ids, or pass the "
                "flips as a dict {true_label: noisy_label}."
            )
    elif isinstance(mapping, dict):
        flips = mapping
    else:
        raise ValueError(
            "mapping must be a dict {true_label: noisy_label} or one of the "
            f"presets {sorted(_PRESETS)}; got {type(mapping).__name__}."
        )

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


def instance_transition_rows(X, y, n_classes, rate, *, std=_INSTANCE_STD, random_state=None):
    """Per-sample transition rows of instance-dependent noise (Xia et al., 2020).

    The generation procedure of "part-dependent" label noise [1]_, which most
    later papers use as "instance-dependent noise" (IDN). Each sample ``i`` of
    true class ``y[i]`` gets:

    1. a flip probability ``f[i]`` drawn from a normal of mean ``rate`` and
       standard deviation ``std``, truncated to ``[0, 1]``;
    2. scores ``s = x[i] @ W[y[i]]`` over the classes, where ``x[i]`` is the
       sample's row of ``X`` with every column standardised, and ``W`` of shape
       ``(n_classes, n_features, n_classes)`` is drawn from a standard normal;
    3. the row ``P[i] = f[i] * softmax(s)``, the true class's score set to
       ``-inf`` first (so it gets nothing from the softmax), and then
       ``P[i, y[i]] = 1 - f[i]``.

    A noisy label drawn from ``P[i]`` is therefore wrong with probability
    ``f[i]``, and where it goes depends on the features: nearby samples of a
    class flip to the same classes.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, ...)
        The numeric features, without missing or infinite values. An n-d array
        (e.g. images of shape ``(n_samples, height, width)``) is flattened to
        ``(n_samples, n_features)``. Each column is standardised (mean 0,
        variance 1, over these samples) before the projection; a constant
        column counts for nothing.

    y : array-like of int of shape (n_samples,)
        The true class of each sample, as an index in ``0..n_classes-1``.

    n_classes : int
        The number of classes ``K``, at least 2.

    rate : float in [0, 0.5)
        The centre of the flip probabilities, the mean flip rate (see Notes).
        ``rate=0`` gives no noise. At 0.5 and above the typical sample would be
        relabelled more often than not, and as nearby samples flip to the same
        class, that class would become the most likely label of the region: a
        ``ValueError`` says so. Below 0.5 the samples of the upper tail still
        flip more often than not (16% of them at ``rate=0.4``, with
        ``std=0.1``); their neighbours, with lower flip probabilities, keep the
        true class ahead on average.

    std : float, default=0.1
        Standard deviation of the normal the flip probabilities are drawn
        from, before truncation; 0.1 in the reference code. With 0, every
        sample flips with probability ``rate``.

    random_state : int, RandomState instance or None, default=None
        Seeds the flip probabilities and ``W``.

    Returns
    -------
    P : ndarray of shape (n_samples, n_classes)
        ``P[i, j]`` is the probability that the label of sample ``i`` becomes
        class ``j``; each row sums to 1, and ``1 - P[i, y[i]]`` is the sample's
        flip probability.

    See Also
    --------
    LabelNoiseInjector : ``noise="instance"`` draws noisy labels from these
        rows.

    Notes
    -----
    The columns are standardised because the projection adds them up with
    weights of the same size: unscaled, a column in the thousands (a price, a
    count of pixels) would decide every flip alone, and the noise would depend
    on the units of the data rather than on the samples. The reference code
    works on normalised images, which plays the same part.

    The scores have a standard deviation of about ``sqrt(n_features)``, so with
    more than a few features the softmax is sharp: each sample sends nearly all
    of its flip probability to one class, which depends on its features.

    The truncation moves the mean of the flip probabilities a little above
    ``rate`` when ``rate`` is within about ``2 * std`` of 0: with ``std=0.1``
    the mean is ``rate`` within 0.001 for ``rate >= 0.3``, and is 0.206 at
    ``rate=0.2``, 0.129 at 0.1. This follows the reference code, where the
    normal is centred on the noise rate. At ``rate=0`` every flip probability
    is 0, where the truncated normal would give a mean of 0.08.

    The random numbers are drawn in this order: the ``n_samples`` flip
    probabilities, then ``W[0]``, ``W[1]``, ... one class at a time.

    References
    ----------
    .. [1] X. Xia, T. Liu, B. Han, N. Wang, M. Gong, H. Liu, G. Niu, D. Tao and
       M. Sugiyama, "Part-dependent Label Noise: Towards Instance-dependent
       Label Noise", NeurIPS 2020, arXiv:2006.07836.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce import instance_transition_rows
    >>> X = np.random.RandomState(0).normal(size=(1000, 5))
    >>> y = np.arange(1000) % 3
    >>> P = instance_transition_rows(X, y, n_classes=3, rate=0.3, random_state=0)
    >>> P.shape
    (1000, 3)
    >>> bool(np.allclose(P.sum(axis=1), 1))
    True
    >>> flip = 1 - P[np.arange(1000), y]
    >>> round(float(flip.mean()), 2), round(float(flip.std()), 2)
    (0.3, 0.1)
    """
    n_classes, rate = _check_n_classes(n_classes), _check_rate(rate)
    if rate >= 0.5:
        raise ValueError(
            f"rate={rate} is too high for instance noise: the flip probabilities "
            "are centred on rate, so the typical sample would be relabelled at "
            "least as often as it keeps its class; as nearby samples of a class "
            "flip to the same classes, the true class would no longer be the most "
            "likely label of whole regions of the data. Use rate < 0.5."
        )
    if isinstance(std, bool) or not isinstance(std, Real) or not 0 <= std < np.inf:
        raise ValueError(f"std must be a finite float >= 0; got {std!r}.")
    X = _check_instance_features(X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must be 1-D with one class index per row of X ({X.shape[0]}); got "
            f"shape {y.shape}."
        )
    if y.size and (
        y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_classes
    ):
        raise ValueError(
            f"y must hold integer class indices in 0..{n_classes - 1}; got values "
            f"of dtype {y.dtype} in [{y.min()}, {y.max()}]."
        )
    rng = check_random_state(random_state)
    n_samples, n_features = X.shape

    if rate == 0:
        flip = np.zeros(n_samples)
    elif std == 0:
        flip = np.full(n_samples, rate)
    else:
        a, b = (0 - rate) / std, (1 - rate) / std
        flip = stats.truncnorm(a, b, loc=rate, scale=std).rvs(
            size=n_samples, random_state=rng
        )

    # Standardised columns, with the mean and variance over these samples; a
    # constant column gets a scale of 0 and counts for nothing. A sparse X is
    # not centred (that would make it dense): the centring moves to the
    # projection, ((x - mu) / sigma) @ W_k = x @ (W_k / sigma) - (mu / sigma) @ W_k.
    is_sparse = sparse.issparse(X)
    if is_sparse:
        mean, var = (np.asarray(a, dtype=np.float64) for a in mean_variance_axis(X, axis=0))
    else:
        mean, var = X.mean(axis=0, dtype=np.float64), X.var(axis=0, dtype=np.float64)
    scale = np.sqrt(var)
    inv_scale = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)

    P = np.empty((n_samples, n_classes))
    for k in range(n_classes):
        # Drawn for every class in turn, present or not, so that W[k] does not
        # depend on which classes the given samples have.
        W_k = rng.standard_normal((n_features, n_classes))
        rows = np.flatnonzero(y == k)
        if rows.size == 0:
            continue
        if is_sparse:
            scores = X[rows] @ (W_k * inv_scale[:, None]) - (mean * inv_scale) @ W_k
        else:
            scores = ((X[rows] - mean) * inv_scale) @ W_k
        scores[:, k] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores *= (flip[rows] / scores.sum(axis=1))[:, None]
        scores[:, k] = 1 - flip[rows]
        P[rows] = scores
    return P


def _check_instance_features(X):
    """X as a finite numeric 2-D array or CSR matrix, n-d arrays flattened."""
    try:
        X = check_array(
            X,
            accept_sparse="csr",
            dtype=(np.float64, np.float32),
            allow_nd=True,
            ensure_all_finite=True,
            ensure_min_features=1,
            input_name="X",
        )
    except (TypeError, ValueError) as exc:
        # Keep the exception's type and its message (what scikit-learn's checks
        # and users search for), behind a word on why X is read at all.
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(
            "Instance-dependent noise computes each sample's flips from the values "
            "of X, so X must be a numeric array (dense or sparse) without missing "
            "or infinite values; encode text and categories first (e.g. put the "
            f"injector after a ColumnTransformer). {exc}"
        ) from exc
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    return X


def _is_integer_labels_below(classes, n):
    """Whether every class is an integer (of any dtype) in ``0..n-1``."""
    for c in classes.tolist():
        if isinstance(c, bool) or not isinstance(c, (Integral, Real)):
            return False
        if c != int(c) or not 0 <= c < n:
            return False
    return True


def _summary(classes, limit=10):
    """A short printable list of class labels for error messages."""
    shown = classes.tolist()[:limit]
    more = f" ... ({classes.size} in all)" if classes.size > limit else ""
    return f"{shown}{more}"
