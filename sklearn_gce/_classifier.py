"""``GCEClassifier``: a skorch neural network trained with a noise-robust loss."""

import inspect
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit
from skorch.utils import to_tensor

from ._batching import fast_iterator
from ._divergence import DivergenceGuard, TrainingDivergedError
from ._pruning import TruncationPruning
from ._validation import validate_features
from .losses import LOSSES, make_loss
from .networks import MLP

__all__ = ["GCEClassifier"]


def softmax(logits):
    """Class probabilities from logits (a module-level function, so it pickles)."""
    return torch.softmax(logits, dim=-1)


def resolve_device(device):
    """``'auto'`` becomes ``'cuda'`` when CUDA is available, else ``'cpu'``."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch for the duration of a fit without touching the caller's RNG state."""
    cuda = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


_SCHEDULE = [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0, 1, closed="neither")]


class GCEClassifier(ClassifierMixin, NeuralNet):
    """Neural network classifier trained with Generalized Cross Entropy.

    A scikit-learn classifier built on skorch. It wraps any torch module that
    maps a batch of inputs to logits (by default an :class:`~sklearn_gce.MLP`
    whose input and output sizes are inferred at fit) and trains it with a
    loss that tolerates wrong labels: the Lq loss ``(1 - p_y**q) / q`` or its
    truncated variant, whose schedule prunes the samples the model believes
    are mislabelled (exposed after fit as ``label_issues_``).

    Labels may be of any type (strings, non-contiguous integers, a pandas
    Series); inputs are numeric arrays, numeric DataFrames or nested lists,
    and are cast to float32. skorch's ``module__*``, ``optimizer__*``,
    ``criterion__*``, ``iterator_*__*`` and ``callbacks__*`` parameters keep
    working, so :class:`~sklearn.model_selection.GridSearchCV` can tune any
    of them.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; it must return logits of shape ``(n_samples, n_classes)``.
        ``None`` builds an :class:`~sklearn_gce.MLP` with ``n_features`` and
        ``n_classes`` from the data; set its options with ``module__*``
        (e.g. ``module__hidden_sizes=(512, 256)``, ``module__dropout=0.2``).
        A module class whose constructor has ``n_features`` or ``n_classes``
        arguments gets them from the data too, unless set with ``module__*``.
    loss : {'gce', 'truncated', 'ce', 'mae', 'sce', 'nce_rce'}, default='gce'
        The training loss (see :mod:`sklearn_gce.losses`); the baselines make
        fair comparisons and let a grid search choose the loss itself.
        Options of ``'sce'`` and ``'nce_rce'`` are set with ``criterion__*``.
    q : float, default=0.8
        Exponent of the Lq loss, in ``(0, 1]``: small q behaves like cross
        entropy, ``q=1`` like MAE. The paper uses 0.7; 0.8 did slightly
        better in this project's benchmarks under noise, and as well on
        clean labels.
    k : float, default=0.5
        Truncation threshold of ``loss='truncated'``, in ``(0, 1)``.
    prune_start : int or float, default=10
        First epoch at which the truncated loss re-optimises its sample
        weights (``w_i = 1`` iff ``p_y(x_i) > k``); never before epoch 2. A
        float in ``(0, 1)`` is a fraction of ``max_epochs`` (useful without
        early stopping, when ``max_epochs`` is the training length; the paper
        used 40 of 120 epochs).
    prune_every : int or float, default=10
        Period of the re-optimisation, in epochs or as a fraction of
        ``max_epochs``.
    max_epochs : int, default=100
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training rows (stratified) and
        stop when their loss has not improved for ``n_iter_no_change`` epochs,
        restoring the weights of the best epoch. The held-out labels are as
        noisy as the others, but the robust loss on them still tells when the
        network starts memorising wrong labels; the benchmarks chose this
        default (see ``benchmarks/results/tune.md``). Skipped when
        ``train_split`` is set, or when the data are too small to hold out
        one row per class.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping.
    n_iter_no_change : int, default=20
        Patience of early stopping, in epochs.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=128
        Mini-batch size; ``-1`` uses the whole training set.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Set its options with ``optimizer__*``.
    device : str, torch.device or None, default='auto'
        ``'auto'`` trains on CUDA when available, else on the CPU; ``None``
        leaves placement to the caller (skorch's setting under Accelerate).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and dropout. The caller's
        torch random state is left untouched.
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table, ``2`` also a progress bar
        over the batches of each epoch.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks (checkpointing, early stopping, schedulers...).
    train_split : callable or None, default=None
        skorch's internal validation split, e.g.
        ``skorch.dataset.ValidSplit(0.2, stratified=True)``; when set, it
        replaces the split of ``early_stopping`` and no early stopping is added.
    criterion : None
        Not used: the loss is chosen with ``loss``. Kept because skorch
        reserves the name.
    **kwargs
        Any further skorch parameter (``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``callbacks__*``, ``warm_start``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen at fit.
    n_features_in_ : int
        Number of features seen at fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.
    label_issues_ : ndarray of bool, shape (n_samples,)
        Training rows that the truncated loss pruned at its last weight
        update: the suspected label errors. All ``False`` for other losses;
        the rows held out for early stopping are never pruned (``False``).
    module_, criterion_, optimizer_, history_
        skorch's trained network, loss, optimizer and training history.

    See Also
    --------
    sklearn_gce.LabelNoiseInjector : Corrupts training labels inside a pipeline.
    skorch.NeuralNetClassifier : The plain skorch classifier.

    References
    ----------
    Zhang, Z. and Sabuncu, M. R. "Generalized Cross Entropy Loss for Training
    Deep Neural Networks with Noisy Labels", NeurIPS 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import GCEClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GCEClassifier(q=0.7, max_epochs=30, random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """

    _parameter_constraints = {
        "module": [None, type, torch.nn.Module, callable],
        "loss": [StrOptions(set(LOSSES))],
        "q": [Interval(Real, 0, 1, closed="right")],
        "k": [Interval(Real, 0, 1, closed="neither")],
        "prune_start": _SCHEDULE,
        "prune_every": _SCHEDULE,
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "optimizer": [type, callable],
        "device": [str, torch.device, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "train_split": [callable, None],
        "criterion": [None],
    }

    def __init__(
        self,
        module=None,
        *,
        loss="gce",
        q=0.8,
        k=0.5,
        prune_start=10,
        prune_every=10,
        max_epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        lr=1e-3,
        batch_size=128,
        optimizer=torch.optim.Adam,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        train_split=None,
        criterion=None,
        **kwargs,
    ):
        kwargs.setdefault("predict_nonlinearity", softmax)
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.loss = loss
        self.q = q
        self.k = k
        self.prune_start = prune_start
        self.prune_every = prune_every
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state

    # ``device='auto'`` is stored unchanged (scikit-learn convention), while
    # skorch reads ``self.device`` wherever it moves tensors: the property
    # gives skorch the resolved device and ``get_params`` the stored value.
    @property
    def device(self):
        return resolve_device(self.__dict__.get("device", "auto"))

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    def set_params(self, **params):
        if "callbacks" in params and not self.initialized_:
            # skorch initialises callbacks inside set_params; before the first
            # fit they are only stored, and fit reports bad values (the
            # scikit-learn convention).
            self.__dict__["callbacks"] = params.pop("callbacks")
        return super().set_params(**params)

    def __setstate__(self, state):
        requested = state["device"]
        # skorch maps the saved tensors to this device (CPU when CUDA is absent).
        state["device"] = resolve_device(requested)
        super().__setstate__(state)
        if isinstance(requested, str) and requested == "auto":
            self.__dict__["device"] = "auto"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "classes_") and self.initialized_

    # ----------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and (possibly noisy) labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Numeric inputs; float64 and integer data are cast to float32.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss (the weighted mean divides by
            their sum).

        Returns
        -------
        self : GCEClassifier
        """
        self._check_params()
        X, y = validate_features(self, X, y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {encoder.classes_.tolist()[0]!r}."
            )
        self.classes_ = encoder.classes_
        return self._train(X, encoder.transform(y), sample_weight, reinitialize=not self.warm_start)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for ``max_epochs`` more epochs, keeping the current weights.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All labels that can occur; needed on the first call when ``y``
            does not contain every class.

        Returns
        -------
        self : GCEClassifier
        """
        first_call = not self.__sklearn_is_fitted__()
        if first_call:
            self._check_params()
        X, y = validate_features(self, X, y, reset=first_call)
        if first_call:
            self.classes_ = np.unique(y if classes is None else np.concatenate([classes, y]))
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes; pass `classes` "
                    "on the first call of partial_fit."
                )
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen before: {unseen.tolist()}.")
        return self._train(X, np.searchsorted(self.classes_, y), sample_weight, reinitialize=first_call)

    def _make_early_stopping_split(self, y_encoded, seed):
        """A stratified hold-out split for early stopping, or None."""
        if not self.early_stopping or self.train_split:
            return None
        n_valid = int(np.ceil(self.validation_fraction * len(y_encoded)))
        n_classes = len(np.unique(y_encoded))
        if n_valid < n_classes or np.bincount(y_encoded).min() < 2 or len(y_encoded) - n_valid < n_classes:
            return None
        return ValidSplit(self.validation_fraction, stratified=True, random_state=seed)

    def _check_params(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )

    def _train(self, X, y_encoded, sample_weight, reinitialize):
        """Run skorch's training loop on encoded labels."""
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        # device=None (skorch's setting under Accelerate): tensors stay where they are.
        device = None if self.device is None else torch.device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        # Each target row carries its row index, so the loss can look up the
        # sample's weight and the pruning schedule can address it.
        targets = np.column_stack([y_encoded, np.arange(len(y_encoded))]).astype(np.int64)
        self._n_inputs_ = int(np.prod(X.shape[1:]))
        self._early_stopping_split_ = self._make_early_stopping_split(y_encoded, seed)
        self._sample_weight_ = torch.as_tensor(sample_weight, device=device)
        self._keep_weight_ = torch.ones(len(X), device=device)
        try:
            with _seeded_torch(seed, device):
                if reinitialize or not self.initialized_:
                    self.initialize()
                    if isinstance(self.module_, MLP):
                        self.module_.set_input_scaling(X)
                # skorch stops cleanly on KeyboardInterrupt (also raised by its
                # EarlyStopping): the model then keeps the weights reached so far.
                NeuralNet.partial_fit(self, X, targets)
            self.label_issues_ = (self._keep_weight_ == 0).cpu().numpy()
        except TrainingDivergedError:
            # Never leave a model behind that would predict NaN.
            del self.classes_
            raise
        finally:
            # Training-time state: not needed to predict, and kept out of pickles.
            del self._sample_weight_, self._keep_weight_
        return self

    # -------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.module is not None:
            kwargs = {**self._data_sizes_for(self.module), **self.get_params_for("module")}
            self.module_ = self.initialized_instance(self.module, kwargs)
            return self
        if not hasattr(self, "_n_inputs_"):
            raise NotFittedError(
                "The default MLP is sized from the training data, so it exists only "
                "after fit. To save and restore a model, pickle or joblib-dump the "
                "fitted estimator: skorch's save_params/load_params store the weights "
                "but not classes_."
            )
        self.module_ = MLP(
            n_features=self._n_inputs_,
            n_classes=len(self.classes_),
            **self.get_params_for("module"),
        )
        return self

    def _data_sizes_for(self, module):
        """``n_features``/``n_classes`` for a module class whose constructor takes them."""
        if not isinstance(module, type) or not hasattr(self, "_n_inputs_"):
            return {}
        accepted = inspect.signature(module).parameters
        sizes = {"n_features": self._n_inputs_, "n_classes": len(self.classes_)}
        return {name: value for name, value in sizes.items() if name in accepted}

    def initialize_criterion(self):
        if self.criterion is not None:
            raise ValueError("Set the training loss with `loss`, not `criterion`.")
        self.criterion_ = make_loss(
            self.loss, q=self.q, k=self.k, **self.get_params_for("criterion")
        )
        return self

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        extra = [("divergence_guard", DivergenceGuard())]
        # get_params reads this property before fit has validated the parameters.
        if isinstance(self.loss, str) and self.loss == "truncated":
            extra.append(("truncation_pruning", TruncationPruning()))
        if getattr(self, "_early_stopping_split_", None) is not None:
            extra.append(
                ("early_stopping", EarlyStopping(patience=self.n_iter_no_change, load_best=True))
            )
        if isinstance(self.verbose, Integral) and self.verbose >= 2:
            extra.append(("progress_bar", ProgressBar()))
        # Before print_log, so that its row shows what they record.
        return callbacks[:-1] + extra + callbacks[-1:]

    @staticmethod
    def unpack_targets(targets):
        """Split the training targets into (encoded labels, row indices)."""
        return targets[:, 0], targets[:, 1]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        labels, rows = self.unpack_targets(to_tensor(y_true, device=self.device))
        weight = self._sample_weight_[rows]
        if training:
            weight = weight * self._keep_weight_[rows]
        return self.criterion_(y_pred, labels, weight)

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split or self._early_stopping_split_
        if not split:
            return dataset, None
        # Stratify on the labels, not on (label, row index) pairs.
        return split(dataset, y[:, 0], **fit_params)

    def get_iterator(self, dataset, training=False):
        iterator = fast_iterator(self, dataset, training)
        if iterator is None:
            iterator = super().get_iterator(dataset, training=training)
        return iterator

    # ------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits) for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        X = validate_features(self, X, reset=False)
        return super().predict_proba(X)

    def predict(self, X):
        """Predicted class labels (from ``classes_``) for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
