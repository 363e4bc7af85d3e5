"""``GCEClassifier``: a neural network trained with a noise-robust loss, optionally through the estimated noise."""

from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import EpochScoring
from skorch.history import History

from ._additive_model import has_additive_model, held_out_choice, larger_steps, predict_with
from ._base import BaseGCEClassifier, softmax, with_core_parameters  # noqa: F401 (softmax: the nonlinearity of 0.2 pickles)
from ._early_stopping import HoldOutEarlyStopping
from ._pruning import TruncationPruning
from .losses import LOSSES, make_loss
from .networks import MLP

__all__ = ["GCEClassifier"]


@with_core_parameters
class GCEClassifier(BaseGCEClassifier):
    """Neural network classifier trained with Generalized Cross Entropy.

    One network trained with a loss that tolerates wrong labels: the Lq loss
    ``(1 - p_y**q) / q`` (Zhang & Sabuncu, 2018) or its truncated variant,
    which also flags the rows it believes mislabelled (``pruned_rows_``).
    Use it for images, text, a torch module of your own or ``partial_fit``.
    On a table, :class:`~sklearn_gce.GCEClassifierCV` is more accurate, and
    :func:`~sklearn_gce.find_label_issues` says which labels are wrong; see the
    :ref:`user guide <user_guide>`.

    ``X`` is a numeric array, a SciPy sparse matrix, a torch ``Dataset`` of
    ``(x, y)`` pairs, or a pandas DataFrame as it comes (numeric, boolean,
    ``category`` and string columns, missing values anywhere: encoded by a
    :class:`~sklearn_gce.TabularEncoder` kept as ``encoder_``). Labels may
    be of any type. skorch's ``module__*``, ``optimizer__*``,
    ``criterion__*``, ``iterator_*__*`` and ``callbacks__*`` parameters keep
    working and ``encoder__*`` sets the encoder's, so a grid search can tune
    any of them.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        A network that returns logits of shape ``(n_samples, n_classes)``; a
        class whose constructor takes ``n_features`` or ``n_classes`` gets
        them from the data. ``None``: an :class:`~sklearn_gce.MLP` and,
        trained after it with its own early stopping, an additive model (one
        learned function per feature); it predicts with the mean of their
        probabilities, or with one alone where the hold-out clearly prefers
        it (``network_choice_``). Options with ``module__*``, e.g.
        ``module__hidden_sizes=(512, 256)`` or
        ``module__additive_member=False`` (the MLP alone).
    loss : {'gce', 'truncated', 'ce', 'mae', 'sce', 'nce_rce', 'nce_agce', 'anl_ce', 'ce_eps_mae'}, default='gce'
        The training loss: the Lq loss, its truncated variant, and baselines
        and later robust losses for comparison, whose options are set with
        ``criterion__*`` (see :ref:`losses`).
    q : float, default=0.8
        Exponent of the Lq loss, in ``(0, 1]``: a small ``q`` behaves like
        cross entropy, ``q=1`` like MAE. Used by ``'gce'`` and
        ``'truncated'`` only.
    k : float, default=0.5
        Threshold of ``loss='truncated'``, in ``(0, 1)``: a row whose label
        gets a probability of at most ``k`` is pruned.
    prune_start : int or float, default=10
        First epoch at which the truncated loss recomputes which rows it
        prunes (never before epoch 2); a float in ``(0, 1)`` is a fraction
        of ``max_epochs``.
    prune_every : int or float, default=10
        Epochs between those recomputations (or a fraction of
        ``max_epochs``).
    max_epochs : int, default=100
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (stratified), stop when
        their loss has not improved for ``n_iter_no_change`` epochs, and keep
        the best epoch's weights. Only ``fit`` holds rows out, not
        ``partial_fit`` nor a fit with ``train_split`` set.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping.
    n_iter_no_change : int, default=20
        Patience of early stopping, in epochs.
    elr_lambda : float, default=0.0
        Weight of early-learning regularisation (ELR, Liu et al., 2020),
        added to any loss; ``0`` turns it off (see :ref:`correction`).
    elr_beta : float, default=0.7
        Momentum of ELR's moving average of past predictions, in ``[0, 1)``.
    noise_correction : {'auto', 'forward'} or None, default='auto'
        ``'forward'``: train, estimate the noise transition matrix from the
        network's predictions (``transition_matrix_``), then train again
        through it (forward correction, Patrini et al., 2017): two fits.
        ``'auto'``: correct only where the estimated noise has a direction
        (:func:`~sklearn_gce.directed_flip_rate` above 0.05), then predict
        with the mean of the corrected and the first network; otherwise one
        fit. ``None``: never correct. ``noise_correction_`` says what was
        done (see :ref:`correction`).
    lr : float, default=2e-3
        Learning rate.
    batch_size : int, default=128
        Mini-batch size; ``-1`` uses the whole training set.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Options with ``optimizer__*``. Adam and AdamW run fused unless
        ``optimizer__fused`` or ``optimizer__foreach`` is given.
    device : str, torch.device or None, default='auto'
        ``'auto'`` trains on CUDA when available, else on the CPU; ``None``
        leaves placement to the caller (as under Accelerate).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the early-stopping
        split. The caller's torch random state is left as it was.
    verbose : int, default=0
        ``1`` prints skorch's table of losses per epoch, ``2`` adds a
        progress bar.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks (checkpoints, schedulers, scorers...).
    train_split : callable or None, default=None
        A skorch validation split, e.g. ``predefined_split(dataset)``. When
        set, it replaces the hold-out of ``early_stopping`` and no early
        stopping is added.
    criterion : None
        Not used: the loss is chosen with ``loss``. Kept because skorch
        reserves the name.
    **kwargs
        Any further skorch parameter (``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``warm_start``...) and ``encoder__*`` for the
        :class:`~sklearn_gce.TabularEncoder` of DataFrames.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen at fit.
    n_features_in_ : int
        Number of features (DataFrame columns) seen at fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    encoder_ : TabularEncoder or None
        The encoder fitted on a DataFrame ``X``; ``None`` for arrays.
    pruned_rows_ : ndarray of bool, shape (n_samples,)
        With ``loss='truncated'``: the training rows it prunes under the
        kept network, those whose label gets a probability of at most ``k``.
        In sample, and never the rows held out for early stopping; all
        ``False`` for other losses (``label_issues_`` before 0.4, deprecated).
        For an out-of-fold score of every row, use
        :func:`~sklearn_gce.find_label_issues` (see :ref:`label_issues`).
    transition_matrix_ : ndarray of shape (n_classes, n_classes)
        With ``noise_correction``: the estimated probability ``T[i, j]``
        that a row of class ``classes_[i]`` is labelled ``classes_[j]``.
        Absent when some class had fewer than 10 labels to estimate it from.
    noise_correction_ : {'forward'} or None
        The correction the kept network was trained with. Where ``'auto'``
        corrected, ``module_`` holds both networks (``corrected`` and
        ``uncorrected``) and predicts with the mean of their probabilities.
    network_choice_ : {'mean', 'mlp', 'additive'}
        With the default network: what it predicts with, chosen on the
        held-out labels (fits without a hold-out keep ``'mean'``).
    network_scores_ : dict
        Accuracy on the held-out (noisy) labels of ``'mlp'``,
        ``'additive'`` and ``'mean'``.
    module_, criterion_, optimizer_, history_
        skorch's trained network, loss, optimizer and training history
        (``train_loss``, ``valid_loss``, ``valid_acc`` on the noisy held-out
        labels, and ``n_pruned`` for the truncated loss). With the default
        network, ``history_`` is the MLP's training.
    additive_history_ : skorch History
        The default network's additive model's training, when it was trained
        after the MLP.

    See Also
    --------
    GCEClassifierCV : Two ``q`` cross-fitted in one pass, the better kept; the choice for tables.
    find_label_issues : Which training labels are wrong, in one call.
    LabelNoiseInjector : Corrupts training labels inside a pipeline.
    skorch.NeuralNetClassifier : The plain skorch classifier.

    Notes
    -----
    skorch sees the labels exactly as given, so its scorers, callbacks and
    ``predefined_split`` validation sets work as on a
    ``NeuralNetClassifier``; the loss gets them encoded as positions in
    ``classes_``. A DataFrame at ``predict`` must have the columns seen at
    fit, in the same order; categories not seen at fit are encoded as
    unknown, without an error.

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
        **BaseGCEClassifier._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "q": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, module=None, *, loss="gce", q=0.8, **kwargs):
        super().__init__(module, **kwargs)
        self.loss = loss
        self.q = q

    # ----------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the network on ``X`` and (possibly noisy) labels ``y``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features) or (n_samples, ...), or torch Dataset
            A DataFrame of any column types, with missing values, encoded by
            a :class:`~sklearn_gce.TabularEncoder` (``encoder_``); numeric
            arrays, float64 and integer data cast to float32. A
            torch (or skorch) ``Dataset`` of ``(x, y)`` pairs is read lazily,
            batch by batch (image files, memory maps): its labels come from
            ``y`` when given, else from its ``y`` or ``targets`` attribute,
            else from one pass over its items.
        y : array-like of shape (n_samples,), default=None
            Class labels of any type; ``None`` only with a ``Dataset``.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss: finite and non-negative (the
            weighted mean divides by their sum).

        Returns
        -------
        self : GCEClassifier
        """
        warm = bool(self.warm_start) and self.__sklearn_is_fitted__()
        with self._fitted_state_kept_on_error():
            X, y = self._validate_inputs(X, y, reset=not warm)
            targets = self._encode_labels(y, reset=not warm)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            data = self._training_data(X, y, targets, sample_weight, self._hold_out(targets, seed))
        return self._train_correcting(data, seed, targets, warm)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """Train for ``max_epochs`` more epochs on ``X``, keeping the current weights.

        Unlike :meth:`fit`, no rows are held out for early stopping (as in
        scikit-learn's ``MLPClassifier``): each call trains on all the rows it
        is given, for ``max_epochs`` epochs. The truncated loss's pruning
        schedule continues across calls (its epochs count over all calls),
        and a call past ``prune_start`` re-optimises the weights of its new
        rows at its first epoch.

        Parameters
        ----------
        X, y
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All labels that can occur; needed on the first call when ``y``
            does not contain every class. Labels of ``y`` outside ``classes``
            raise a ``ValueError``.
        sample_weight
            As in :meth:`fit`.

        Returns
        -------
        self : GCEClassifier
        """
        first_call = not self.__sklearn_is_fitted__()
        if self.noise_correction == "forward" and not hasattr(self, "transition_matrix_"):
            raise ValueError(
                "noise_correction='forward' estimates the transition matrix in fit; call "
                "fit once before partial_fit, or set noise_correction=None."
            )
        with self._fitted_state_kept_on_error():
            X, y = self._validate_inputs(X, y, reset=first_call)
            targets = self._encode_labels(y, reset=first_call, classes=classes, incremental=True)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            data = self._training_data(X, y, targets, sample_weight, hold_out=None)
        self._follow_last_correction()  # 'auto' before any fit: no matrix to correct with yet
        return self._train(data, seed, reinitialize=first_call)

    # ------------------------------------------------------------ training
    def _run_training(self, data, reinitialize):
        if reinitialize:  # nothing of an earlier fit's choice stays behind
            for name in ("network_choice_", "network_scores_", "additive_history_"):
                self.__dict__.pop(name, None)
        if has_additive_model(self.module_) and data.hold_out is not None and not self.train_split:
            self._train_mlp_then_additive(data)
        else:
            self._skorch_loop(data)
            if has_additive_model(self.module_) and not hasattr(self, "network_choice_"):
                self._predict_with("mean")  # trained together: no hold-out to choose on
        self.pruned_rows_ = self._pruned_rows(data)

    def _train_mlp_then_additive(self, data):
        """Train the MLP, then the additive model, each with its own early stopping; then choose.

        ``history_`` is the MLP's training, ``additive_history_`` the
        additive model's.
        """
        module = self.module_
        with module.run_alone("mlp"):
            self._skorch_loop(data)
        mlp_history = self.history_
        # The additive model starts as a fit of its own: unit keep-weights, no
        # ELR targets, a fresh history (the truncated loss's schedule counts its
        # epochs) and optimiser.
        data.reset_state()
        self.history_ = History()
        self.initialize_optimizer()
        with module.run_alone("additive"), larger_steps(self, data):
            self._skorch_loop(data)
        self.additive_history_ = self.history_
        self.history_ = mlp_history
        self.initialize_optimizer()  # over both models, for partial_fit and warm starts
        choice, self.network_scores_ = held_out_choice(self, data)
        self._predict_with(choice)

    def _predict_with(self, choice):
        """Predict with the mean of the MLP and the additive model, or one alone; sets ``network_choice_``."""
        predict_with(self.module_, choice)
        self.network_choice_ = choice

    # ------------------------------------------------- the estimator's own
    def _default_module(self, **sizes):
        # No additive model beside the MLP on sparse or very wide X either.
        defaults = {"additive_member": not self._wide_input(), **self._network_defaults()}
        return MLP(**sizes, **{**defaults, **self.get_params_for("module")})

    def _make_criterion(self, options):
        return self._corrected(make_loss(self.loss, q=self.q, k=self.k, **options))

    def _scoring_callbacks(self):
        # NeuralNetClassifier's valid_acc
        return [("valid_acc", EpochScoring("accuracy", name="valid_acc", lower_is_better=False))]

    def _own_callbacks(self):
        callbacks = []
        if isinstance(self.early_stopping, (bool, np.bool_)) and self.early_stopping:
            callbacks.append(
                ("early_stopping", HoldOutEarlyStopping(patience=self.n_iter_no_change, load_best=True))
            )
        if isinstance(self.loss, str) and self.loss == "truncated":
            callbacks.append(("truncation_pruning", TruncationPruning()))
        return callbacks

    def _model_axis(self, y_pred):
        # The default network in training returns the MLP's and the additive
        # model's logits, (batch, 2, classes): each is trained with the loss on its own.
        return 1 if y_pred.ndim == 3 else None
