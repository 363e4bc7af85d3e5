"""The Lq loss for gradient-boosted trees: a LightGBM objective and a classifier around it.

Newton boosting (LightGBM, XGBoost) fits each tree to the gradient and the
diagonal Hessian of the loss with respect to the raw scores. For softmax
scores ``z`` (one per class) and given label ``y``, the Lq loss of
:func:`sklearn_gce.losses.lq`, ``L = (1 - p_y**q) / q``, has, with
``a = p_y**q`` and ``g_k = 1[k = y] - p_k``,

- gradient ``dL/dz_k = -a * g_k`` (cross entropy's gradient times ``a``);
- Hessian ``d2L/dz_k**2 = a * (p_k * (1 - p_k) - q * g_k**2)``.

The Hessian is cross entropy's, ``p_k * (1 - p_k)``, times the weight
``a``, less ``q * a * g_k**2``. It is negative where the model finds the
label unlikely (on the label's own score where ``p_y < q / (1 + q)``), and
at the start of boosting (uniform ``p``) already for every row on its
label's score once ``q > 1 / (K - 1)``. It is therefore floored at
``hessian_floor`` times the weighted cross-entropy Hessian
``a * p_k * (1 - p_k)``, an upper bound of the exact one; see
:func:`~sklearn_gce.lq_grad_hess`. The default floor, 1.0, uses that bound
everywhere: each tree takes cross entropy's Newton step with the row weights
``p_y**q``. In a small comparison (digits, storms and flights, two splits,
early stopping on noisy labels) a floor of 1e-3, the exact Hessian clipped,
underfit by about 3 points on clean labels (6 on digits), where 1.0 stayed
within 0.4 of LightGBM's cross entropy.

- :func:`~sklearn_gce.lq_grad_hess`: the gradient and floored Hessian, for any booster.
- :class:`~sklearn_gce.GCEObjective`: a callable objective for
  ``lightgbm.LGBMClassifier(objective=...)`` (and ``lightgbm.train``).
- :class:`~sklearn_gce.GCELGBMClassifier`: ``LGBMClassifier`` trained with
  it, whose ``predict_proba``, ``predict`` and evaluation metrics (early
  stopping) see probabilities rather than raw scores.

LightGBM is a dependency of the package (``GCEClassifierCV`` trains trees
with it); the objective itself needs only NumPy.
"""

from inspect import signature
from numbers import Real

import numpy as np
from scipy.special import expit, log_softmax

try:
    from lightgbm import LGBMClassifier as _LGBMClassifier
except ImportError:  # pragma: no cover - exercised where lightgbm is absent
    _LGBMClassifier = None

__all__ = ["lq_grad_hess", "GCEObjective", "GCELGBMClassifier"]

# The default floor: the weighted cross-entropy Hessian itself (see lq_grad_hess).
_DEFAULT_HESSIAN_FLOOR = 1.0


def _check_q(q):
    if not isinstance(q, Real) or isinstance(q, bool) or not 0 < q <= 1:
        raise ValueError(f"q must be a float in (0, 1], got {q!r}.")


def _check_hessian_floor(hessian_floor):
    if (not isinstance(hessian_floor, Real) or isinstance(hessian_floor, bool)
            or not 0 < hessian_floor <= 1):
        raise ValueError(f"hessian_floor must be a float in (0, 1], got {hessian_floor!r}.")


def _log_proba(raw_score):
    """``log p`` of each row and class, ``(n, K)``; a 1-D score ``s`` is the binary ``z = [0, s]``."""
    raw_score = np.asarray(raw_score, dtype=np.float64)
    if raw_score.ndim == 1:
        # log sigmoid(-s), log sigmoid(s), without overflow for any s.
        return np.column_stack([-np.logaddexp(0.0, raw_score), -np.logaddexp(0.0, -raw_score)])
    if raw_score.ndim != 2 or raw_score.shape[1] < 2:
        raise ValueError(
            "raw_score must have shape (n_samples,) (binary) or (n_samples, n_classes) "
            f"with n_classes >= 2, got shape {raw_score.shape}."
        )
    return log_softmax(raw_score, axis=1)


def _class_index(y, n_samples, n_classes):
    y = np.asarray(y)
    if y.shape != (n_samples,):
        raise ValueError(f"y must have shape ({n_samples},), got {y.shape}.")
    index = y.astype(np.intp)
    if not (np.all(index == y) and np.all((index >= 0) & (index < n_classes))):
        raise ValueError(f"y must hold class indices in 0..{n_classes - 1}.")
    return index


def lq_grad_hess(y, raw_score, q=0.7, *, hessian_floor=_DEFAULT_HESSIAN_FLOOR, sample_weight=None):
    """Gradient and floored diagonal Hessian of the Lq loss with respect to raw scores.

    The loss of a row is ``(1 - p_y**q) / q`` (:func:`sklearn_gce.losses.lq`)
    with ``p = softmax(z)``. With ``a = p_y**q`` (computed as
    ``exp(q * log_softmax(z)[y])``) and ``g_k = 1[k = y] - p_k``:

    - ``grad_k = -a * g_k``, cross entropy's gradient ``p_k - 1[k = y]``
      weighted by ``a``;
    - the exact ``d2L/dz_k**2 = a * (p_k * (1 - p_k) - q * g_k**2)``,
      returned as ``max(exact, hessian_floor * a * p_k * (1 - p_k))``.

    As ``q -> 0``, ``a -> 1`` and both tend to cross entropy's gradient and
    diagonal Hessian ``p_k * (1 - p_k)``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class indices, ``0 .. n_classes - 1`` (floats holding integers are
        accepted, as LightGBM passes them).
    raw_score : array-like of shape (n_samples, n_classes) or (n_samples,)
        Raw scores (logits). A 1-D array is a binary problem with one score
        ``s`` per row, the logit of class 1: ``z = [0, s]``, and the
        returned arrays are then 1-D, the derivatives with respect to ``s``
        (its Hessian is exact, not a diagonal approximation).
    q : float, default=0.7
        Exponent in ``(0, 1]``.
    hessian_floor : float, default=1.0
        In ``(0, 1]``: the Hessian is at least this fraction of the weighted
        cross-entropy Hessian ``a * p_k * (1 - p_k)``, which bounds the exact
        one from above. ``1.0`` uses that bound everywhere (each Newton step
        is that of cross entropy with the row weights ``p_y**q`` of the
        current scores); smaller values keep the exact Hessian wherever it
        exceeds the floor.
    sample_weight : array-like of shape (n_samples,), default=None
        Multiplies each row's gradient and Hessian.

    Returns
    -------
    grad, hess : ndarray of the shape of ``raw_score``, float64
        The gradient and the floored Hessian of each row's loss, times its
        weight.

    Notes
    -----
    Why a floor: a Newton booster sets each leaf to ``-sum(grad) /
    (sum(hess) + reg_lambda)``. A negative or near-zero ``sum(hess)`` gives
    leaves that step the wrong way or without bound, and LightGBM refuses
    leaves whose Hessian sums to less than ``min_child_weight``; from uniform
    scores with ``q > 1 / (K - 1)`` the exact Hessian on the label's score is
    negative for every row. The floor is relative so that it scales with the
    row weight ``a`` and with ``p_k * (1 - p_k)`` (vanishing, as cross
    entropy's does, where a score saturates) and keeps the ``q -> 0`` limit.
    Robust-GBDT (Luo et al., 2023, arXiv:2310.05067), whose RFL loss at
    ``r = 0`` is this one, clips the exact Hessian at a tiny constant instead.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce import lq_grad_hess
    >>> grad, hess = lq_grad_hess([0, 1], np.zeros((2, 2)), q=1.0)
    >>> grad  # p = (0.5, 0.5), a = p_y = 0.5
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    >>> hess  # exact: 0.5 * (0.25 - 0.25) = 0, floored at 0.5 * 0.25
    array([[0.125, 0.125],
           [0.125, 0.125]])
    >>> lq_grad_hess([1], np.zeros(1), q=1.0)  # binary: one score per row
    (array([-0.25]), array([0.125]))
    """
    _check_q(q)
    _check_hessian_floor(hessian_floor)
    log_p = _log_proba(raw_score)
    n_samples, n_classes = log_p.shape
    rows = np.arange(n_samples)
    label = _class_index(y, n_samples, n_classes)

    p = np.exp(log_p)
    one_minus_p = -np.expm1(log_p)  # accurate where p is near 1
    a = np.exp(q * log_p[rows, label])[:, None]  # p_y**q, never p_y raised to q
    g = -p  # 1[k = y] - p_k
    g[rows, label] = one_minus_p[rows, label]

    grad = -a * g
    ce_hess = a * p * one_minus_p
    # Floored: a Newton leaf is -sum(grad) / sum(hess), and the exact Hessian is
    # negative on rows the model finds mislabelled (see Notes).
    hess = np.maximum(ce_hess - q * a * g * g, hessian_floor * ce_hess)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (n_samples,):
            raise ValueError(f"sample_weight must have shape ({n_samples},), got {sample_weight.shape}.")
        grad *= sample_weight[:, None]
        hess *= sample_weight[:, None]
    if np.ndim(raw_score) == 1:
        return grad[:, 1], hess[:, 1]
    return grad, hess


class GCEObjective:
    """The Lq loss as a LightGBM objective: ``LGBMClassifier(objective=GCEObjective(q))``.

    A callable ``(y_true, y_pred, weight)`` returning the gradient and
    Hessian of :func:`~sklearn_gce.lq_grad_hess` for LightGBM's scikit-learn API
    (multiclass scores ``(n_samples, n_classes)`` or binary scores
    ``(n_samples,)``, as LightGBM 4 passes them), sample weights
    multiplied in. It also works as ``params["objective"]`` of
    ``lightgbm.train``, which calls it with ``(preds, train_set)``.

    For multiclass problems the Hessian is multiplied by
    ``n_classes / (n_classes - 1)``, the factor LightGBM's own ``multiclass``
    objective applies (Friedman's correction for the redundant softmax
    score), so that as ``q -> 0`` this objective is LightGBM's
    ``multiclass`` and its ``learning_rate``, ``min_child_weight`` and
    ``reg_lambda`` mean the same; binary problems get the exact derivatives,
    as LightGBM's ``binary`` does.

    With a callable objective, LightGBM's ``predict_proba`` and ``predict``
    return raw scores and its built-in metrics (``multi_logloss``, the
    default) are computed on raw scores, which misleads early stopping;
    :class:`GCELGBMClassifier` handles all three. With a bare
    ``LGBMClassifier``, take
    ``scipy.special.softmax(model.predict_proba(X, raw_score=True), axis=1)``.

    Parameters
    ----------
    q : float, default=0.7
        Exponent in ``(0, 1]``.
    hessian_floor : float, default=1.0
        In ``(0, 1]``, see :func:`~sklearn_gce.lq_grad_hess`.

    Notes
    -----
    LightGBM starts a custom objective from raw scores 0 (uniform
    probabilities) where its ``multiclass`` objective starts from the log
    class frequencies; the trees make up the difference in a few rounds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce import GCEObjective
    >>> objective = GCEObjective(q=0.5)
    >>> grad, hess = objective(np.array([0.0, 2.0]), np.zeros((2, 3)))
    >>> grad.shape, bool(np.all(hess > 0))
    ((2, 3), True)
    >>> # With LightGBM:  LGBMClassifier(objective=GCEObjective(q=0.5))
    """

    def __init__(self, q=0.7, hessian_floor=_DEFAULT_HESSIAN_FLOOR):
        _check_q(q)
        _check_hessian_floor(hessian_floor)
        self.q = q
        self.hessian_floor = hessian_floor

    def __call__(self, y_true, y_pred, weight=None):
        if hasattr(y_pred, "get_label"):  # lightgbm.train: (preds, train_set)
            y_true, y_pred, weight = y_pred.get_label(), y_true, y_pred.get_weight()
        grad, hess = lq_grad_hess(
            y_true, y_pred, self.q, hessian_floor=self.hessian_floor, sample_weight=weight
        )
        if hess.ndim == 2:
            n_classes = hess.shape[1]
            hess *= n_classes / (n_classes - 1)
        return grad, hess

    def __repr__(self):
        return f"GCEObjective(q={self.q!r}, hessian_floor={self.hessian_floor!r})"


def _proba(raw_score):
    """Class probabilities from LightGBM raw scores: softmax, or sigmoid of a 1-D score."""
    raw_score = np.asarray(raw_score, dtype=np.float64)
    if raw_score.ndim == 1:
        return np.column_stack([expit(-raw_score), expit(raw_score)])
    return np.exp(log_softmax(raw_score, axis=1))


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _weighted_mean(values, weight):
    if weight is None:
        return float(np.mean(values))
    return float(np.sum(values * weight) / np.sum(weight))


# LightGBM's names (and aliases) of the metrics computed here from probabilities.
_LOGLOSS_NAMES = {"logloss", "binary_logloss", "binary", "multi_logloss", "multiclass", "softmax"}
_ERROR_NAMES = {"error", "binary_error", "multi_error"}
_METRIC_ALIASES = ("metric", "metrics", "metric_types")


class _ProbabilityMetric:
    """A LightGBM evaluation metric computed from the probabilities of raw scores.

    ``kind`` is ``'logloss'``, ``'error'`` or ``'lq'`` (the Lq loss at ``q``).
    Named as LightGBM names its own (``multi_logloss``, ``binary_error``...).
    """

    def __init__(self, kind, q=None):
        self.kind = kind
        self.q = q

    def __call__(self, y_true, y_pred, weight=None):
        log_p = _log_proba(y_pred)
        rows = np.arange(len(log_p))
        label = _class_index(y_true, *log_p.shape)
        prefix = "binary" if np.ndim(y_pred) == 1 else "multi"
        if self.kind == "logloss":
            return f"{prefix}_logloss", _weighted_mean(-log_p[rows, label], weight), False
        if self.kind == "error":
            return f"{prefix}_error", _weighted_mean(log_p.argmax(1) != label, weight), False
        return "lq", _weighted_mean(-np.expm1(self.q * log_p[rows, label]) / self.q, weight), False


class _OnProbabilities:
    """A user's evaluation function, given probabilities instead of raw scores.

    As with LightGBM's built-in objectives: the positive class's probability
    (1-D) for binary problems, ``(n_samples, n_classes)`` otherwise.
    """

    def __init__(self, func):
        self.func = func

    def __call__(self, y_true, y_pred, weight=None, group=None):
        proba = _proba(y_pred)
        if np.ndim(y_pred) == 1:
            proba = proba[:, 1]
        argc = len(signature(self.func).parameters)
        return self.func(*(y_true, proba, weight, group)[:argc])


if _LGBMClassifier is None:  # pragma: no cover - exercised where lightgbm is absent
    from sklearn.base import BaseEstimator, ClassifierMixin

    class _LGBMClassifier(ClassifierMixin, BaseEstimator):
        """Stands in for ``lightgbm.LGBMClassifier`` where LightGBM is not installed."""

        def __init__(self, **params):
            raise ImportError(
                "GCELGBMClassifier needs LightGBM: pip install lightgbm "
                "(GCEObjective and lq_grad_hess do not)."
            )


class GCELGBMClassifier(_LGBMClassifier):
    """A LightGBM classifier trained with the Lq loss (generalized cross entropy).

    ``lightgbm.LGBMClassifier`` with the objective :class:`GCEObjective`,
    and everything else LightGBM's: every parameter, ``eval_set`` (or
    ``eval_X``/``eval_y``) with ``callbacks=[lightgbm.early_stopping(...)]``,
    categorical features, sample and class weights, ``booster_``,
    ``best_iteration_``, ``feature_importances_``, pickling. What a custom
    objective would otherwise leave as raw scores is converted:

    - ``predict_proba`` returns probabilities (softmax of the raw scores, or
      the sigmoid of the binary one) and ``predict`` the most probable
      class; ``raw_score=True`` still gives the raw scores;
    - evaluation metrics see probabilities: the default (``metric`` unset)
      is the log loss, named ``multi_logloss``/``binary_logloss`` as
      LightGBM names it; ``'logloss'``, ``'error'`` (and their
      ``binary_``/``multi_`` names) and ``'lq'`` (the Lq loss at ``q``, on
      the evaluation set's labels) are computed from probabilities, in
      ``eval_metric`` or the ``metric`` parameter. Callable metrics get
      probabilities, as with LightGBM's built-in objectives. Other built-in
      metrics are LightGBM's, which see raw scores (right for those that
      depend only on the ranking of scores, such as ``auc``).

    Parameters
    ----------
    q : float, default=0.7
        Exponent of the Lq loss ``(1 - p_y**q) / q``, in ``(0, 1]``.
        ``q -> 0`` is cross entropy (LightGBM's ``multiclass``/``binary``).
    hessian_floor : float, default=1.0
        In ``(0, 1]``: the fraction of the weighted cross-entropy Hessian
        below which the exact Hessian is not allowed to fall, see
        :func:`~sklearn_gce.lq_grad_hess`.
    boosting_type, num_leaves, max_depth, learning_rate, n_estimators, \
subsample_for_bin, class_weight, min_split_gain, min_child_weight, \
min_child_samples, subsample, subsample_freq, colsample_bytree, reg_alpha, \
reg_lambda, random_state, n_jobs, importance_type : LightGBM parameters
        As for ``lightgbm.LGBMClassifier``, with its defaults. There is no
        ``objective``: it is the Lq loss.
    **kwargs : dict
        Further LightGBM parameters (``verbose``, ``max_bin``,
        ``metric``...), as for ``lightgbm.LGBMClassifier``.

    Attributes
    ----------
    classes_, n_classes_, booster_, best_iteration_, evals_result_, \
feature_importances_, n_features_in_
        As for ``lightgbm.LGBMClassifier``; ``objective_`` is the
        :class:`GCEObjective` trained with.

    See Also
    --------
    GCEObjective : The objective alone, for a plain ``LGBMClassifier``.
    sklearn_gce.GCEClassifier : The Lq loss for a neural network.

    Notes
    -----
    A custom objective starts from raw scores 0 (LightGBM's ``multiclass``
    starts from the log class frequencies). ``init_score`` is passed on to
    LightGBM and, as there, not added back at prediction.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import GCELGBMClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GCELGBMClassifier(q=0.5, n_estimators=20, verbose=-1).fit(X, y)
    >>> proba = clf.predict_proba(X[:2])
    >>> proba.shape, bool(abs(proba.sum(axis=1) - 1).max() < 1e-12)
    ((2, 3), True)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(
        self,
        q=0.7,
        hessian_floor=_DEFAULT_HESSIAN_FLOOR,
        *,
        boosting_type="gbdt",
        num_leaves=31,
        max_depth=-1,
        learning_rate=0.1,
        n_estimators=100,
        subsample_for_bin=200000,
        class_weight=None,
        min_split_gain=0.0,
        min_child_weight=1e-3,
        min_child_samples=20,
        subsample=1.0,
        subsample_freq=0,
        colsample_bytree=1.0,
        reg_alpha=0.0,
        reg_lambda=0.0,
        random_state=None,
        n_jobs=None,
        importance_type="split",
        **kwargs,
    ):
        self.q = q
        self.hessian_floor = hessian_floor
        super().__init__(
            boosting_type=boosting_type,
            num_leaves=num_leaves,
            max_depth=max_depth,
            learning_rate=learning_rate,
            n_estimators=n_estimators,
            subsample_for_bin=subsample_for_bin,
            objective=None,
            class_weight=class_weight,
            min_split_gain=min_split_gain,
            min_child_weight=min_child_weight,
            min_child_samples=min_child_samples,
            subsample=subsample,
            subsample_freq=subsample_freq,
            colsample_bytree=colsample_bytree,
            reg_alpha=reg_alpha,
            reg_lambda=reg_lambda,
            random_state=random_state,
            n_jobs=n_jobs,
            importance_type=importance_type,
            **kwargs,
        )

    def get_params(self, deep=True):
        """Get the parameters of this estimator (LightGBM's, less ``objective``, plus ``q`` and ``hessian_floor``).

        Parameters
        ----------
        deep : bool, default=True
            Unused; as for ``lightgbm.LGBMClassifier``.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep)
        params.pop("objective", None)  # always the Lq loss
        params["q"] = self.q
        params["hessian_floor"] = self.hessian_floor
        return params

    def fit(self, X, y, sample_weight=None, *, eval_metric=None, **fit_params):
        """Fit the trees with the Lq loss.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        eval_metric : str, callable or list of them, default=None
            Metrics on the evaluation sets in addition to the ``metric``
            parameter (the log loss when unset); see the class description.
        **fit_params
            Passed to ``lightgbm.LGBMClassifier.fit`` by keyword
            (``eval_set``, ``callbacks``, ``categorical_feature``...).

        Returns
        -------
        self : GCELGBMClassifier
        """
        _check_q(self.q)
        _check_hessian_floor(self.hessian_floor)
        if getattr(self, "objective", None) is not None:
            raise ValueError(
                "GCELGBMClassifier trains with the Lq loss; objective cannot be set "
                f"(got {self.objective!r}). Use lightgbm.LGBMClassifier for another objective."
            )
        params = self.get_params()
        set_metrics = [params[alias] for alias in _METRIC_ALIASES if params.get(alias) is not None]
        requested = [name for value in set_metrics or ["logloss"] for name in _as_list(value)]
        requested += _as_list(eval_metric)

        builtin, callables = [], []
        for metric in requested:
            if callable(metric):
                callables.append(_OnProbabilities(metric))
            elif metric in _LOGLOSS_NAMES:
                callables.append(_ProbabilityMetric("logloss"))
            elif metric in _ERROR_NAMES:
                callables.append(_ProbabilityMetric("error"))
            elif metric == "lq":
                callables.append(_ProbabilityMetric("lq", self.q))
            elif metric not in ("None", "na", "null", "custom", ""):
                builtin.append(metric)
        self._gce_metrics = builtin
        self._gce_objective = GCEObjective(self.q, self.hessian_floor)
        super().fit(X, y, sample_weight=sample_weight, eval_metric=callables or None, **fit_params)
        if not isinstance(self._objective, GCEObjective):  # pragma: no cover - a LightGBM change
            raise RuntimeError(
                "This LightGBM version did not train with the Lq objective; "
                "please report it with lightgbm.__version__."
            )
        return self

    def _process_params(self, stage):
        # LightGBM's hook that turns the estimator's parameters into the
        # booster's: the objective is the Lq loss, and the metrics are the
        # built-in ones that fit() did not replace by probability-based ones.
        if stage == "fit":
            self._objective = self._gce_objective
        params = super()._process_params(stage)
        # At prediction too: LightGBM checks the metric names against the objective.
        params["metric"] = getattr(self, "_gce_metrics", None) or "None"
        if stage == "fit":
            # LightGBM (4.7) aborts a custom objective's training when no feature can be
            # split (too few rows for min_child_samples); unfiltered, it fits constant trees.
            params.setdefault("feature_pre_filter", False)
        return params

    def predict_proba(self, X, raw_score=False, start_iteration=0, num_iteration=None,
                      pred_leaf=False, pred_contrib=False, validate_features=False, **kwargs):
        """Class probabilities: the softmax of the raw scores (the sigmoid of the binary score).

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        raw_score, start_iteration, num_iteration, pred_leaf, pred_contrib, \
validate_features, **kwargs
            As for ``lightgbm.LGBMClassifier.predict_proba``; with
            ``raw_score``, ``pred_leaf`` or ``pred_contrib`` the booster's
            output is returned as LightGBM returns it.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        raw = raw_score or pred_leaf or pred_contrib
        result = super().predict_proba(
            X, raw_score=raw_score or not (pred_leaf or pred_contrib),
            start_iteration=start_iteration, num_iteration=num_iteration, pred_leaf=pred_leaf,
            pred_contrib=pred_contrib, validate_features=validate_features, **kwargs,
        )
        return result if raw else _proba(result)

    def predict(self, X, raw_score=False, start_iteration=0, num_iteration=None,
                pred_leaf=False, pred_contrib=False, validate_features=False, **kwargs):
        """The most probable class of each row.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        raw_score, start_iteration, num_iteration, pred_leaf, pred_contrib, \
validate_features, **kwargs
            As for ``lightgbm.LGBMClassifier.predict``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        result = self.predict_proba(
            X, raw_score=raw_score, start_iteration=start_iteration, num_iteration=num_iteration,
            pred_leaf=pred_leaf, pred_contrib=pred_contrib, validate_features=validate_features,
            **kwargs,
        )
        if raw_score or pred_leaf or pred_contrib:
            return result
        return np.asarray(self.classes_)[np.argmax(result, axis=1)]
