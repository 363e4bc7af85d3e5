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
from .losses import _reduce as weighted_loss
from .networks import MLP

__all__ = ["GCEClassifier"]


@with_core_parameters
class GCEClassifier(BaseGCEClassifier):
    """Neural network classifier trained with Generalized Cross Entropy.

    A scikit-learn classifier built on skorch. It wraps any torch module that
    maps a batch of inputs to logits (by default an :class:`~sklearn_gce.MLP`
    whose input and output sizes are inferred at fit) and trains it with a
    loss that tolerates wrong labels: the Lq loss ``(1 - p_y**q) / q`` or its
    truncated variant, whose schedule prunes the samples the model believes
    are mislabelled (exposed after fit as ``label_issues_``).

    Labels may be of any type (strings, non-contiguous integers, a pandas
    Series). Inputs are numeric arrays or nested lists, cast to float32, or
    pandas DataFrames as they come: numeric, boolean, ``category`` and
    string columns, with missing values anywhere, encoded by a
    :class:`~sklearn_gce.TabularEncoder` fitted with the model (``encoder_``).
    skorch's ``module__*``, ``optimizer__*``, ``criterion__*``,
    ``iterator_*__*`` and ``callbacks__*`` parameters keep working, and
    ``encoder__*`` sets the encoder's, so
    :class:`~sklearn.model_selection.GridSearchCV` can tune any of them.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; it must return logits of shape ``(n_samples, n_classes)``.
        ``None`` builds an :class:`~sklearn_gce.MLP` with ``n_features`` and
        ``n_classes`` from the data, and an additive model beside it
        (``additive_member=True``; one learned
        piecewise-linear function per feature, summed) trained beside the
        MLP. A fit that holds out rows trains the MLP, then the additive
        model, each with its own early stopping, and predicts the mean of
        their probabilities, or one model alone where the hold-out clearly
        prefers it (``network_choice_``). Set the network's options with
        ``module__*`` (e.g. ``module__hidden_sizes=(512, 256)``,
        ``module__dropout=0.2``; ``module__additive_member=False`` for the
        MLP alone).
        A module class whose constructor has ``n_features`` or ``n_classes``
        arguments gets them from the data too, unless set with ``module__*``.
    loss : {'gce', 'truncated', 'ce', 'mae', 'sce', 'nce_rce', 'nce_agce', 'anl_ce', 'ce_eps_mae'}, default='gce'
        The training loss (see :mod:`sklearn_gce.losses`); the baselines make
        fair comparisons and let a grid search choose the loss itself.
        ``'nce_agce'`` (NCE + asymmetric GCE, Zhou et al. 2021), ``'anl_ce'``
        (active negative loss, Ye et al. 2023) and ``'ce_eps_mae'``
        (epsilon-softmax CE + MAE, Wang et al. 2024) are later robust losses
        whose defaults are their papers' CIFAR-10 settings. Options of
        ``'sce'``, ``'nce_rce'``, ``'nce_agce'``, ``'anl_ce'`` and
        ``'ce_eps_mae'`` are set with ``criterion__*`` (e.g.
        ``criterion__alpha``, ``criterion__agce_q``, ``criterion__m``);
        ``q`` and ``k`` are used by ``'gce'`` and ``'truncated'`` only.
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
        default (see ``benchmarks/results/tune_defaults.md``). Only ``fit`` holds out
        rows: not ``partial_fit``, not a fit with ``train_split`` set, nor one
        on data too small to hold out one row per class. The inputs (never the
        labels) of the held-out rows enter the default network's input
        standardisation, as they would a ``StandardScaler`` before it.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping.
    n_iter_no_change : int, default=20
        Patience of early stopping, in epochs.
    elr_lambda : float, default=0.0
        Weight of the early-learning regularisation (ELR, Liu et al., NeurIPS
        2020), added to any ``loss``: ``elr_lambda * log(1 - <p_i, t_i>)``,
        with ``t_i`` a moving average of the network's past predictions for
        training row ``i``. It keeps the network near what it learnt early,
        before it memorises wrong labels. ``0`` turns it off; the paper used
        3 on CIFAR-10 and 7 on CIFAR-100 (with cross entropy).
    elr_beta : float, default=0.7
        Momentum of ELR's moving average, in ``[0, 1)`` (the paper: 0.7 on
        CIFAR-10, 0.9 on CIFAR-100).
    noise_correction : {None, 'forward', 'auto'}, default='auto'
        ``'forward'`` attacks class-dependent noise directly: ``fit`` first
        trains the network as configured, estimates the noise transition
        matrix from its predictions by confident learning
        (:func:`~sklearn_gce.estimate_transition_matrix`, exposed as
        ``transition_matrix_``), then trains again from scratch with the loss
        computed on ``p @ T``, the distribution of the noisy label (forward
        correction, Patrini et al., CVPR 2017), with any ``loss``. It costs
        two fits. Predictions are the network's clean-class probabilities.
        ``'auto'`` trains and estimates the same way, but trains again with
        the correction only where the estimated noise has a direction
        (:func:`~sklearn_gce.directed_flip_rate` above 0.15, as under
        pair-flip or class-to-class noise), and then predicts with the mean
        of the corrected and the first network's probabilities, which bounds
        what a wrong estimate costs; otherwise it keeps the first network, at
        the cost of one fit. ``noise_correction_`` says which. A warm fit or
        ``partial_fit`` after a corrected one trains the corrected network on,
        and predicts with it alone.
    lr : float, default=2e-3
        Learning rate (1e-3 until 0.3: with the embedding's 64 bins, 2e-3
        was better on the tuning seeds of ``benchmarks/accuracy.py``, and
        fits in fewer epochs).
    batch_size : int, default=128
        Mini-batch size; ``-1`` uses the whole training set.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Set its options with ``optimizer__*``. Adam and AdamW run fused
        (torch's one-kernel update, four times faster on the CPU with torch
        2.4 or later; on CUDA) unless ``optimizer__fused`` or
        ``optimizer__foreach`` is given, or ``device=None``.
    device : str, torch.device or None, default='auto'
        ``'auto'`` trains on CUDA when available, else on the CPU; ``None``
        leaves placement to the caller (skorch's setting under Accelerate).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the early-stopping
        split. The caller's torch random state is left untouched on every
        device (a CPU fit never touches the CUDA generators). torch's
        generators are process-wide, so fits in threads (joblib's threading
        backend) take turns and give the same models as fits in sequence;
        processes (joblib's default) train in parallel.
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
        ``iterator_train__*``, ``callbacks__*``, ``warm_start``, ...), and
        ``encoder__*`` for the :class:`~sklearn_gce.TabularEncoder` of
        DataFrames (``encoder__max_onehot_categories=16``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen at fit.
    n_features_in_ : int
        Number of features (DataFrame columns) seen at fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.
    encoder_ : TabularEncoder or None
        The encoder fitted on a DataFrame X (``None`` for arrays). Its
        numeric columns are the only ones the default network embeds
        piecewise-linearly; its categorical columns of many categories are
        embedded as learned vectors.
    transition_matrix_ : ndarray of shape (n_classes, n_classes)
        With ``noise_correction='forward'`` or ``'auto'``: the estimated
        probability ``T[i, j]`` that a row of class ``classes_[i]`` is
        labelled ``classes_[j]``, the matrix the loss was (or, under
        ``'auto'``, would have been) corrected with. Absent when ``'auto'``
        had fewer than 10 labels of some class to estimate it from.
    noise_correction_ : {None, 'forward'}
        The correction the kept network was trained with: ``'forward'`` or
        ``None``; under ``'auto'``, what the estimate decided. Where
        ``'auto'`` corrected, ``module_`` holds both networks (attributes
        ``corrected`` and ``uncorrected``) and predicts with the mean of
        their probabilities: two forward passes per prediction, twice the
        weights in memory. ``label_issues_``, ``history_``,
        ``network_choice_`` and ``network_scores_`` then describe the
        corrected network's training; the saved parameters
        (``save_params``) load only into a fit that corrected too (pickle
        the estimator instead).
    label_issues_ : ndarray of bool, shape (n_samples,)
        The suspected label errors: the training rows that the truncated loss
        prunes under the network that is kept (the best epoch, when early
        stopping restored one), i.e. whose label it gives a probability of at
        most ``k`` (with forward correction: whose label has probability at
        most ``k`` under ``p @ T``, the noisy-label distribution). All
        ``False`` for other losses, and when training ended
        before ``prune_start``; the rows held out for early stopping are never
        flagged. Its rows are those of the last ``fit``/``partial_fit`` call.
        For an out-of-fold score and flags for every row, from any loss,
        see ``GCEClassifierCV(cv=5)`` (:ref:`label_issues`).
    module_, criterion_, optimizer_, history_
        skorch's trained network, loss, optimizer and training history. The
        history records ``train_loss``, ``valid_loss`` and ``valid_acc`` (the
        accuracy on the held-out, noisy labels) per epoch, and ``n_pruned``
        at each re-weighting of the truncated loss. With the default network
        it is the MLP's training.
    additive_history_ : skorch History
        The default network's additive model's training, when it was trained
        after the MLP (a fit with early stopping on held-out rows).
    network_choice_ : {'mean', 'mlp', 'additive'}
        With the default network: what it predicts with. ``'mean'`` (the mean
        of both models' probabilities) unless one model alone got clearly
        more held-out rows right: more than 2 standard deviations of the
        paired difference. Fits without a hold-out keep the mean.
    network_scores_ : dict
        Accuracy on the held-out (noisy) labels of ``'mlp'``, ``'additive'``
        and ``'mean'``, which ``network_choice_`` was chosen on.

    Notes
    -----
    skorch sees the training labels exactly as given (a 1-D ``y``): scorers
    such as ``EpochScoring('accuracy')``, ``predefined_split`` validation
    sets with the same labels, and callbacks that read ``dataset.y`` work as
    on a ``NeuralNetClassifier``. The loss receives them encoded as
    positions in ``classes_``, and finds each sample's weights by the row
    indices that travel beside every batch. ``X`` may also be a torch
    ``Dataset`` of ``(x, y)`` pairs, read batch by batch. Training copies
    the batch losses to the host once per epoch rather than once per batch
    (a synchronisation each on a GPU), unless a progress bar shows them.

    A DataFrame at ``predict`` must have the columns seen at fit, in the
    same order (scikit-learn's rule, with its messages); a column that was
    numeric at fit must still be, and a categorical one must not have become
    numeric, unless all its values are missing. Categories not seen at fit
    are encoded as unknown (zero one-hot columns, a zero embedding) without
    an error: see :class:`~sklearn_gce.TabularEncoder`. A user's module gets
    the encoded table as a float32 matrix.

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
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All labels that can occur; needed on the first call when ``y``
            does not contain every class. Labels of ``y`` outside ``classes``
            raise a ``ValueError``.

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
        self.label_issues_ = self._pruned_rows(data)

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

    def _mean_penalty(self, penalty, weight):
        return weighted_loss(penalty, weight, "mean")
