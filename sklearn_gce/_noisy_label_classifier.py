"""A meta-estimator that trains a classifier on noised labels.

A step of a scikit-learn :class:`~sklearn.pipeline.Pipeline` cannot change ``y``.
:class:`NoisyLabelClassifier` puts the label noise inside ``fit`` instead, so plain
scikit-learn tools (``cross_validate``, ``GridSearchCV``) train on noisy labels and
score on the clean held-out ones.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._injector import LabelNoiseInjector

__all__ = ["NoisyLabelClassifier"]


def _estimator_has(attr):
    """Whether the fitted inner estimator (or else the unfitted one) has ``attr``."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class NoisyLabelClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a classifier on noisy copies of the labels; predict and score as usual.

    ``fit(X, y)`` noises ``y`` with a clone of ``noise`` and fits a clone of
    ``estimator`` on the noisy labels. Everything else (``predict``,
    ``predict_proba``, ``score``...) goes to that fitted estimator, and ``score``
    compares its predictions with the labels it is given. In cross-validation and
    grid search those are the clean held-out labels, so this measures how well a
    model learns through label noise, with plain scikit-learn tools.

    Parameters
    ----------
    estimator : classifier object
        The classifier to train on noisy labels. It is cloned in ``fit``.

    noise : sampler object, default=None
        Makes the noisy labels through ``fit_resample(X, y)``; it must keep the
        number and order of the rows, or ``fit`` raises a ``ValueError`` (a
        sampler that records ``sample_indices_``, as imbalanced-learn's
        under-samplers do, is checked for the order too). It may change the
        values of rows, as open-set noise does. ``None`` means
        ``LabelNoiseInjector()`` (20% symmetric noise, a new draw at every fit).
        It is cloned in ``fit``; give it a fixed ``random_state`` so that every
        candidate of a grid search sees the same noisy labels on a given fold.

    Attributes
    ----------
    estimator_ : classifier object
        The clone of ``estimator`` fitted on the noisy labels.

    noise_ : sampler object
        The fitted clone of ``noise``. For a :class:`LabelNoiseInjector`,
        ``noise_.noise_mask_`` marks the training samples whose label was
        changed and ``noise_.transition_matrix_`` is the noise applied.

    classes_ : ndarray of shape (n_classes,)
        The class labels known to ``estimator_``.

    n_features_in_ : int
        Number of features seen during ``fit`` (when ``estimator_`` records it).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (when ``estimator_`` records them).

    See Also
    --------
    LabelNoiseInjector : The noise, as a sampler for
        :class:`imblearn.pipeline.Pipeline`.

    Notes
    -----
    ``sample_weight`` and any other fit parameter are passed on to
    ``estimator.fit`` unchanged: the noise keeps the rows in place, so per-sample
    parameters stay aligned.

    References
    ----------
    .. [1] Z. Zhang and M. R. Sabuncu, "Generalized Cross Entropy Loss for
       Training Deep Neural Networks with Noisy Labels", NeurIPS 2018,
       arXiv:1805.07836.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_gce import LabelNoiseInjector, NoisyLabelClassifier
    >>> X, y = make_classification(
    ...     n_samples=1000, n_classes=3, n_informative=5, random_state=0
    ... )
    >>> clf = NoisyLabelClassifier(
    ...     LogisticRegression(),
    ...     noise=LabelNoiseInjector(noise="symmetric", rate=0.4, random_state=0),
    ... )
    >>> _ = clf.fit(X, y)
    >>> round(clf.noise_.noise_rate_, 2)  # fraction of training labels changed
    0.39

    Grid search scores each candidate on the clean held-out labels; under 40%
    noise the stronger regularisation wins:

    >>> search = GridSearchCV(clf, {"estimator__C": [0.01, 1.0]}, cv=3)
    >>> search.fit(X, y).best_params_
    {'estimator__C': 0.01}
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "noise": [HasMethods(["fit_resample"]), None],
    }

    def __init__(self, estimator, *, noise=None):
        self.estimator = estimator
        self.noise = noise

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Noise ``y``, then fit a clone of ``estimator`` on the noisy labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples, passed to ``estimator`` unchanged.

        y : array-like of shape (n_samples,)
            Clean training labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Passed to ``estimator.fit`` when given.

        **fit_params : dict
            Other parameters passed to ``estimator.fit``.

        Returns
        -------
        self : object
            The fitted meta-estimator.
        """
        noise = LabelNoiseInjector() if self.noise is None else self.noise
        self.noise_ = clone(noise)
        X_noisy, y_noisy = self.noise_.fit_resample(X, y)
        self._check_rows_kept(X, X_noisy, y_noisy)
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight
        self.estimator_ = clone(self.estimator).fit(X_noisy, y_noisy, **fit_params)
        return self

    def _check_rows_kept(self, X, X_noisy, y_noisy):
        """Refuse a noise step that drops, adds, repeats or reorders rows.

        Per-sample fit parameters (``sample_weight``...) would no longer line up
        with the rows. The rows returned are compared with those given, whatever
        the sampler exposes; ``sample_indices_`` (imbalanced-learn's
        under-samplers) names the order in the message.
        """
        rule = (
            "noise must keep the number and order of the rows of X (sample_weight "
            "and other per-sample fit parameters are aligned with them); use a "
            "sampler that changes labels only, such as LabelNoiseInjector"
        )
        name = type(self.noise_).__name__
        n_samples = _num_samples(X)
        n_out = {_num_samples(X_noisy), _num_samples(y_noisy)}
        if n_out != {n_samples}:
            raise ValueError(
                f"{rule}: {name} turned {n_samples} samples into "
                f"{' and '.join(map(str, sorted(n_out)))}."
            )
        indices = getattr(self.noise_, "sample_indices_", None)
        if indices is not None and not np.array_equal(indices, np.arange(n_samples)):
            raise ValueError(
                f"{rule}: {name} kept {n_samples} samples but not in their order "
                "(its sample_indices_ are not 0, 1, ..., n_samples - 1)."
            )
        # an open-set injector replaces rows by design (noise_mask_): the others must stay where they were
        kept = None
        if getattr(self.noise_, "noise", None) == "open_set" and hasattr(self.noise_, "noise_mask_"):
            kept = ~np.asarray(self.noise_.noise_mask_)
        if not _same_rows(X, X_noisy, kept):
            raise ValueError(
                f"{rule}: {name} returned {n_samples} samples, but not the rows of X in their "
                "order (a row differs from the one it was given at its position)."
            )

    @property
    def classes_(self):
        """The class labels known to the fitted estimator."""
        return self.estimator_.classes_

    @property
    def n_features_in_(self):
        """Number of features seen during fit."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Names of features seen during fit."""
        return self.estimator_.feature_names_in_

    def predict(self, X):
        """Predict class labels with the estimator trained on noisy labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the estimator trained on noisy labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log of the class probabilities from the estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the estimator trained on noisy labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Decision scores, as returned by ``estimator_.decision_function``.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy of the predictions against the labels given here.

        In cross-validation and grid search these are the clean held-out labels:
        only the training labels are noised.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.

        y : array-like of shape (n_samples,)
            True (clean) labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy of ``self.predict(X)`` with respect to ``y``.
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags


def _same_rows(X, X_out, rows=None):
    """Whether ``X_out`` holds the rows of ``X``, in order (missing values equal where both miss).

    ``rows``: a boolean mask of the rows to compare (``None``: all).
    """
    if X_out is X:
        return True
    if rows is not None:
        return _same_rows(_safe_indexing(X, rows), _safe_indexing(X_out, rows))
    if sp.issparse(X) or sp.issparse(X_out):
        return (sp.issparse(X) and sp.issparse(X_out) and X.shape == X_out.shape
                and (X != X_out).nnz == 0)
    a, b = np.asarray(X), np.asarray(X_out)
    if a.shape != b.shape:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # object columns (a DataFrame's categories): pandas compares them, NaN alike
        return pd.DataFrame(a.reshape(len(a), -1)).equals(pd.DataFrame(b.reshape(len(b), -1)))
