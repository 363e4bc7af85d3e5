"""``GCEClassifier``: a skorch neural network trained with a noise-robust loss."""

import copy
import inspect
import threading
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import (
    Callback,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.dataset import Dataset, ValidSplit, get_len, unpack_data
from skorch.utils import is_dataset, to_numpy, to_tensor
from torch.utils.data import Subset

from ._data import (
    RowBatch,
    RowDataset,
    as_row_batch,
    batches_on_device,
    make_iterator,
    rows_of,
    state_of,
)
from ._divergence import DivergenceGuard, TrainingDivergedError
from ._correction import ForwardCorrectedLoss, MeanWithUncorrected, directed_flip_rate, estimate_transition_matrix
from ._early_stopping import HoldOutEarlyStopping
from ._elr import early_learning_penalty
from ._pruning import TruncationPruning, reoptimise_weights
from ._side_by_side import has_additive_member, set_network, train_one_after_the_other
from ._tabular import TabularEncoder
from ._validation import check_labels, check_sample_weight, dataset_labels, validate_features
from .losses import LOSSES, make_loss
from .losses import _reduce as weighted_loss
from .networks import MLP

__all__ = ["GCEClassifier"]

# Rows of an array, and items of a torch Dataset (read from disk), that set the
# default network's input scaling when X is not on the device whole already.
_MAX_SCALING_ROWS = 65_536
_MAX_SCALING_ITEMS = 2048
# Predictions are copied to the host in chunks of about this many numbers.
_HOST_COPY_ELEMENTS = 2**24

# noise_correction='auto' corrects when the estimated noise has a direction
# (directed_flip_rate above this; chosen on the tuning seeds of
# benchmarks/accuracy.py), and estimates only with this many labels per class.
_AUTO_FORWARD_ABOVE = 0.15
_AUTO_MIN_PER_CLASS = 10


def softmax(logits):
    """Class probabilities from logits (a module-level function, so it pickles)."""
    return torch.softmax(logits, dim=-1)


def resolve_device(device):
    """``'auto'`` becomes ``'cuda'`` when CUDA is available, else ``'cpu'``."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# torch's default generators are process-wide: weight initialisation and dropout
# draw from them. Fits in threads take turns, so each sees only its own seed and
# the caller's state is restored exactly.
_TORCH_RNG_LOCK = threading.RLock()


@contextmanager
def seeded_torch(seed, device):
    """Seed torch's CPU generator (and the training GPU's) for a fit, restoring them after.

    Only the generators the fit uses are touched: a CPU fit leaves every CUDA
    generator alone (``torch.manual_seed`` would reseed them all).
    """
    cuda = device is not None and device.type == "cuda"
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        yield


_SCHEDULE = [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0, 1, closed="neither")]


def init_skorch(net, **params):
    """skorch's ``NeuralNet.__init__`` with this package's defaults: softmax predictions, shuffled batches."""
    params.setdefault("predict_nonlinearity", softmax)
    params.setdefault("iterator_train__shuffle", True)
    NeuralNet.__init__(net, **params)


def _reads_batch_losses(callback):
    """Whether a callback may read each batch's loss in the history as the batch ends."""
    if isinstance(callback, type) or type(callback).on_batch_end is Callback.on_batch_end:
        return False
    if isinstance(callback, LRScheduler):
        return callback.step_every == "batch"
    # skorch's scorers cache predictions per batch, not losses.
    return type(callback) is not EpochScoring


class GCEClassifier(ClassifierMixin, NeuralNet):
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
        ``n_classes`` from the data, and with an additive member
        (``additive_member=True``): an additive model (one learned
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
        default (see ``benchmarks/results/tune.md``). Only ``fit`` holds out
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
        "elr_lambda": [Interval(Real, 0, None, closed="left")],
        "elr_beta": [Interval(Real, 0, 1, closed="left")],
        "noise_correction": [StrOptions({"forward", "auto"}), None],
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
    # ``encoder__*`` parameters set the TabularEncoder fitted on DataFrames.
    prefixes_ = [*NeuralNet.prefixes_, "encoder"]
    # Whether the loss itself takes a member dimension (GCEClassifierCV's
    # MemberLoss); otherwise 3-D outputs are models side by side.
    _loss_takes_members = False

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
        elr_lambda=0.0,
        elr_beta=0.7,
        noise_correction="auto",
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
        init_skorch(self, module=module, criterion=criterion, optimizer=optimizer, lr=lr,
                    max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
                    callbacks=callbacks, verbose=verbose, device=device, **kwargs)
        self.loss = loss
        self.q = q
        self.k = k
        self.prune_start = prune_start
        self.prune_every = prune_every
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.elr_lambda = elr_lambda
        self.elr_beta = elr_beta
        self.noise_correction = noise_correction
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
        for key in [key for key in params if key.startswith("encoder__")]:
            # Read at the next fit only: skorch has nothing to re-initialise.
            setattr(self, key, params.pop(key))
            self._params_to_validate.add(key)
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
        uncorrected = None
        if self.noise_correction is None:
            self.__dict__.pop("transition_matrix_", None)
            self._follow_last_correction()
        elif warm and hasattr(self, "transition_matrix_"):
            self._follow_last_correction()  # a warm start keeps the matrix of the last fit
        elif self.noise_correction == "forward" or self._can_estimate_noise(targets):
            first = self._estimate_noise(data, seed)
            rate = directed_flip_rate(self.transition_matrix_)
            if self.noise_correction == "auto" and rate <= _AUTO_FORWARD_ABOVE:
                self.noise_correction_ = None
                return first  # no direction to the noise: the first network stays
            if self.noise_correction == "auto":
                # Kept for the mean; a copy, as skorch re-uses a module instance
                # the user passed (its corrected fit then goes on from these weights).
                uncorrected = copy.deepcopy(self._unwrapped_module()).eval()
                if self.verbose:
                    print(f"noise_correction='auto': the estimated noise has a direction (directed flip "
                          f"rate {rate:.3f} > {_AUTO_FORWARD_ABOVE}); training again with forward "
                          "correction, to predict with the mean of both networks.")
            self.noise_correction_ = "forward"
            # The corrected fit starts from scratch (a warm one too: the first
            # network replaced its weights): no pruning or ELR state either.
            data.reset_state()
            warm = False
        else:
            self.__dict__.pop("transition_matrix_", None)
            self.noise_correction_ = None
        self._train(data, seed, reinitialize=not warm)
        if uncorrected is not None:
            corrected = self._unwrapped_module()
            self.module_ = MeanWithUncorrected(corrected, uncorrected).train(corrected.training)
        return self

    def _unwrapped_module(self):
        """``module_`` as a plain network (under Accelerate, without its distributed wrapper)."""
        accelerator = getattr(self, "accelerator", None)
        return self.module_ if accelerator is None else accelerator.unwrap_model(self.module_)

    def _follow_last_correction(self):
        """Set ``noise_correction_``, and the loss, as the parameter asks of the last fit's matrix.

        For the calls that estimate nothing: warm fits and ``partial_fit``.
        ``'auto'`` keeps the last fit's decision.
        """
        if self.noise_correction is None or not hasattr(self, "transition_matrix_"):
            self.noise_correction_ = None
        elif self.noise_correction == "forward":
            self.noise_correction_ = "forward"
        else:  # None in a model pickled before 'auto' existed
            self.noise_correction_ = getattr(self, "noise_correction_", None)
        corrected = isinstance(getattr(self, "criterion_", None), ForwardCorrectedLoss)
        if getattr(self, "initialized_", False) and corrected != self._corrects_forward():
            self._initialize_criterion()

    def _can_estimate_noise(self, targets):
        """Whether ``'auto'`` has enough labels of every class to estimate the transition matrix."""
        counts = np.bincount(np.asarray(targets), minlength=len(self.classes_))
        return counts.min() >= _AUTO_MIN_PER_CLASS

    def _estimate_noise(self, data, seed):
        """Train without correction, then estimate ``transition_matrix_`` from the predictions."""
        self.__dict__.pop("transition_matrix_", None)
        self.noise_correction_ = None
        self._train(data, seed, reinitialize=True)
        # Every row, the held-out ones included: a network trained with a
        # robust loss and stopped early has not memorised the wrong labels.
        logits = self.forward(data, training=False, device=self.device)
        proba = to_numpy(self._get_predict_nonlinearity()(logits))
        self.transition_matrix_ = estimate_transition_matrix(data.state.targets.cpu().numpy(), proba)
        return self

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

    @contextmanager
    def _fitted_state_kept_on_error(self):
        """Restore the fitted attributes if validating new data fails.

        Validation sets ``n_features_in_``, ``classes_`` and the like as it
        goes (scikit-learn's ``validate_data`` does); a call refused for its
        data must leave an already fitted model as it was.
        """
        names = [name for name in vars(self) if name.endswith("_") and not name.endswith("__")]
        names += ["_n_inputs_"]
        saved = {name: self.__dict__[name] for name in names if name in self.__dict__}
        try:
            yield
        except BaseException:
            for name in [n for n in vars(self) if n.endswith("_") and n not in saved]:
                del self.__dict__[name]
            self.__dict__.update(saved)
            raise

    def _validate_params(self):
        # skorch's method (argument names and prefixes) shadows scikit-learn's
        # (_parameter_constraints), which _fit_context calls: run both. skorch
        # knows its module prefixes only once initialised, and then runs its
        # own check at the end of initialize().
        if self.initialized_:
            super()._validate_params()
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )

    def _validate_inputs(self, X, y, reset):
        """Inputs as float32 arrays (or a torch dataset, left lazy) and labels as an array."""
        if not is_dataset(X):
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is "
                    "None (y may be left out only when X is a torch Dataset of (x, y) pairs)."
                )
            encoder = TabularEncoder(**self.get_params_for("encoder")) if reset else None
            X, y = validate_features(self, X, y, reset=reset, encoder=encoder)
            self._n_inputs_ = int(np.prod(X.shape[1:])) if reset else self._n_inputs_
            return X, y
        y = dataset_labels(X) if y is None else np.asarray(y)
        check_labels(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)} labels.")
        first = X[0]
        if not isinstance(first, (tuple, list)) or len(first) < 2:
            raise ValueError(
                f"The items of a Dataset X must be (x, y) pairs, as skorch expects; X[0] is a "
                f"{type(first).__name__}. Give the labels in y and return (x, label) from "
                "__getitem__ (any placeholder label will do: y takes precedence)."
            )
        shape = np.shape(first[0])
        n_inputs = int(np.prod(shape))
        if reset:
            self.n_features_in_ = int(shape[0]) if shape else 1
            self._n_inputs_ = n_inputs
        elif n_inputs != self._n_inputs_:
            raise ValueError(
                f"The samples of X have {n_inputs} inputs, but {type(self).__name__} "
                f"was fitted on samples of {self._n_inputs_}."
            )
        return X, y

    def _encode_labels(self, y, reset, classes=None, incremental=False):
        """Set ``classes_`` (on ``reset``) and return ``y`` encoded as positions in it."""
        name = type(self).__name__
        seen = np.unique(y)
        if reset:
            new_classes = seen if classes is None else np.unique(classes)
            if len(new_classes) < 2:
                hint = " Pass `classes` on the first call of partial_fit." if incremental else ""
                raise ValueError(
                    f"{name} needs samples of at least 2 classes in the data, but the "
                    f"data contains only one class: {new_classes.tolist()[0]!r}.{hint}"
                )
            unknown = np.setdiff1d(seen, new_classes)
            if unknown.size:
                raise ValueError(
                    f"y contains labels not in `classes`: {unknown.tolist()}; classes is "
                    f"{new_classes.tolist()}."
                )
            self.classes_ = new_classes
        elif incremental and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={np.unique(classes).tolist()}` is not the same as on the first "
                f"call to partial_fit, was: {self.classes_.tolist()}."
            )
        elif not incremental and not np.array_equal(seen, self.classes_):
            # warm_start keeps the output layer, which is sized for classes_.
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_.tolist()}, `y` has "
                f"{seen.tolist()}."
            )
        unknown = np.setdiff1d(seen, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels not in the classes seen before: {unknown.tolist()}; "
                f"classes_ is {self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _hold_out(self, targets, seed):
        """The stratified early-stopping split of ``fit``, or None."""
        if not self._holds_out() or self.train_split:
            return None
        n_valid = int(np.ceil(self.validation_fraction * len(targets)))
        counts = np.bincount(targets)
        n_classes = np.count_nonzero(counts)
        if n_valid < n_classes or counts[counts > 0].min() < 2 or len(targets) - n_valid < n_classes:
            return None  # too small to hold out a row of every class
        return ValidSplit(self.validation_fraction, stratified=True, random_state=seed)

    def _holds_out(self):
        """Whether ``fit`` holds out rows of its own (for early stopping)."""
        return bool(self.early_stopping)

    def _training_data(self, X, y, targets, sample_weight, hold_out):
        """The :class:`RowDataset` of one training call, its state on the training device."""
        weight = check_sample_weight(sample_weight, len(targets))
        return RowDataset(X, np.asarray(y), targets, weight, self._training_device(), hold_out)

    def _training_device(self):
        """Where the per-sample state (and the fast path's data) live; None leaves tensors in place."""
        return None if self.device is None else torch.device(self.device)

    def _train(self, data, seed, reinitialize):
        """Run skorch's training loop on ``data``; set ``label_issues_``."""
        mean = getattr(self, "module_", None)
        if isinstance(mean, MeanWithUncorrected) and not reinitialize:
            # Training on (a warm fit, partial_fit) continues the corrected network alone.
            self.module_ = mean.corrected
        else:
            mean = None
        try:
            with seeded_torch(seed, data.device):
                if reinitialize or not self.initialized_:
                    self.initialize()
                    set_input_scaling = getattr(self.module_, "set_input_scaling", None)
                    if callable(set_input_scaling):
                        if data.in_memory and batches_on_device(self, training=True):
                            data.device_X()  # the copy training batches from: no other
                        limit = _MAX_SCALING_ROWS if data.in_memory else _MAX_SCALING_ITEMS
                        set_input_scaling(data.input_sample(limit))
                # skorch stops cleanly on KeyboardInterrupt (also raised by its
                # EarlyStopping): the model then keeps the weights reached so far.
                # y as given too: skorch's scorers index it when they do not cache.
                if reinitialize:  # nothing of an earlier fit's choice stays behind
                    for name in ("network_choice_", "network_scores_", "additive_history_"):
                        self.__dict__.pop(name, None)
                if self._trains_one_after_the_other(data):
                    train_one_after_the_other(self, data)
                else:
                    NeuralNet.partial_fit(self, data, data.y)
                    if has_additive_member(self.module_) and not hasattr(self, "network_choice_"):
                        set_network(self, "mean")  # trained side by side: no hold-out to choose on
                self.label_issues_ = self._label_issues(data)
        except TrainingDivergedError:
            # Never leave a model behind that would predict NaN; nor, in the
            # scorers' caches, the predictions of the epoch that diverged.
            del self.classes_
            for _, callback in self.callbacks_:
                if isinstance(callback, EpochScoring):
                    callback.on_train_end(self)
            raise
        except BaseException:
            if mean is not None:  # a failed call leaves the model it was given
                self.module_ = mean
            raise
        return self

    def _trains_one_after_the_other(self, data):
        """Whether the MLP and its additive member train in turn, each with early stopping on the hold-out."""
        return (
            has_additive_member(self.module_)
            and getattr(data, "hold_out", None) is not None
            and not self.train_split
        )

    def _label_issues(self, data):
        """Rows the truncated loss prunes under the model that is kept.

        Early stopping may have restored an earlier epoch than the last
        pruning step, so the weights are re-optimised for the final network.
        """
        rows = data.state.pruned_rows
        if rows is not None:
            reoptimise_weights(self, Subset(data, rows))
        return (data.state.keep == 0).cpu().numpy()

    # -------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.module is not None:
            kwargs = {**self._data_sizes_for(self.module), **self.get_params_for("module")}
            self.module_ = self.initialized_instance(self.module, kwargs)
            return self
        if not hasattr(self, "_n_inputs_") or not hasattr(self, "classes_"):
            raise NotFittedError(
                "The default MLP is sized from the training data, so it exists only "
                "after fit. To save and restore a model, pickle or joblib-dump the "
                "fitted estimator: skorch's save_params/load_params store the weights "
                "but not classes_."
            )
        self.module_ = MLP(
            n_features=self._n_inputs_,
            n_classes=len(self.classes_),
            **self._table_layout(),
            **{"additive_member": True, **self.get_params_for("module")},
        )
        return self

    def _table_layout(self):
        """The blocks of an encoded table, for the network: which columns are numeric, which codes."""
        encoder = getattr(self, "encoder_", None)
        if encoder is None:
            return {}
        return {
            "n_numeric": len(encoder.numeric_features_),
            "categorical_cardinalities": encoder.cardinalities_,
        }

    def _data_sizes_for(self, module):
        """Sizes from the data (``n_features``, ``n_classes``, the table's blocks) that a module class takes."""
        if not isinstance(module, type) or not hasattr(self, "_n_inputs_"):
            return {}
        accepted = inspect.signature(module).parameters
        sizes = {"n_features": self._n_inputs_, "n_classes": len(self.classes_), **self._table_layout()}
        return {name: value for name, value in sizes.items() if name in accepted}

    def initialize_criterion(self):
        if self.criterion is not None:
            raise ValueError("Set the training loss with `loss`, not `criterion`.")
        options = self.get_params_for("criterion")
        clash = sorted({"q", "k"} & set(options))
        if clash:
            raise ValueError(
                f"Set {' and '.join(clash)} with the estimator's own parameter(s) "
                f"({', '.join(f'{name}=...' for name in clash)}), not criterion__{clash[0]}."
            )
        self.criterion_ = make_loss(self.loss, q=self.q, k=self.k, **options)
        if self._corrects_forward():
            self.criterion_ = ForwardCorrectedLoss(self.criterion_, self.transition_matrix_)
        return self

    def _corrects_forward(self):
        """Whether training goes through the estimated transition matrix."""
        if self.noise_correction is None or not hasattr(self, "transition_matrix_"):
            return False
        return self.noise_correction == "forward" or getattr(self, "noise_correction_", None) == "forward"

    @property
    def _default_callbacks(self):
        # skorch's defaults and NeuralNetClassifier's valid_acc, then ours, by name.
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring("accuracy", name="valid_acc", lower_is_better=False)),
            ("divergence_guard", DivergenceGuard()),
        ]
        # get_params reads this property before fit has validated the parameters.
        if isinstance(self.early_stopping, (bool, np.bool_)) and self.early_stopping:
            callbacks.append(
                ("early_stopping", HoldOutEarlyStopping(patience=self.n_iter_no_change, load_best=True))
            )
        if isinstance(self.loss, str) and self.loss == "truncated":
            callbacks.append(("truncation_pruning", TruncationPruning()))
        if isinstance(self.verbose, Integral) and self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks.append(("print_log", PrintLog()))
        return callbacks

    def _yield_callbacks(self):
        # skorch runs its defaults before the user's callbacks. The built-in
        # early stopping goes after them (before the log): it can monitor
        # their scores, and they all see the epoch on which it stops.
        stopping = []
        for item in super()._yield_callbacks():
            callback = item[1]
            if isinstance(callback, HoldOutEarlyStopping):
                stopping.append(item)
                continue
            if isinstance(callback, PrintLog) or callback is PrintLog:
                yield from stopping
                stopping = []
            yield item
        yield from stopping

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        split = self.train_split or getattr(dataset, "hold_out", None)
        if not split:
            return dataset, None
        labels = dataset.y if isinstance(dataset, RowDataset) else y
        dataset_train, dataset_valid = split(dataset, labels, **fit_params)
        return dataset_train, self._validation_data(dataset_valid)

    def _validation_data(self, dataset):
        """A validation set from a user's ``train_split`` (``predefined_split``) as a RowDataset."""
        if dataset is None or rows_of(dataset)[0] is not None:
            return dataset
        X = dataset.X if isinstance(dataset, Dataset) and not is_dataset(dataset.X) else dataset
        y = dataset.y if isinstance(dataset, Dataset) and dataset.y is not None else None
        X, y = self._validate_inputs(X, y, reset=False)
        targets = self._encode_labels(y, reset=False, incremental=True)
        return self._training_data(X, y, targets, None, hold_out=None)

    def get_iterator(self, dataset, training=False):
        return make_iterator(self, dataset, training)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, with the batch losses copied to the host once per epoch.

        skorch calls ``.item()`` on every batch's loss, a host-device
        synchronisation per batch on a GPU. Here the losses stay on the device
        until the epoch ends, then fill in each batch's row of the history.
        A callback that may read each batch's loss as it comes (a progress
        bar, an LR scheduler stepping per batch, any user callback with an
        ``on_batch_end``) gets them batch by batch, as skorch records them.
        """
        if iterator is None:
            return
        state = state_of(iterator)
        each_batch = any(_reads_batch_losses(callback) for _, callback in self.callbacks_)
        losses, entries, n_batches = [], [], 0
        for batch in iterator:
            batch = as_row_batch(batch, state)
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            if each_batch:
                self.history.record_batch(prefix + "_loss", step["loss"].item())
            else:
                losses.append(step["loss"].detach())
                entries.append(self.history[-1]["batches"][-1])  # this batch's row
            self.history.record_batch(prefix + "_batch_size", get_len(batch[0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            n_batches += 1
        if losses:
            for entry, loss in zip(entries, torch.stack(losses).tolist()):
                entry[prefix + "_loss"] = loss
        self.history.record(prefix + "_batch_count", n_batches)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self._batch_loss(y_pred, batch, Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, _ = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def evaluation_step(self, batch, training=False):
        # Batches of the training data from a DataLoader carry their rows,
        # which prediction does not need.
        return super().evaluation_step(as_row_batch(batch, None), training=training)

    def _batch_loss(self, y_pred, batch, X, training):
        """The loss of a training or validation batch: targets and weights looked up by row."""
        if not isinstance(batch, RowBatch) or batch.state is None:
            raise TypeError(
                f"{type(self).__name__} trains on batches that carry their row indices "
                f"(RowBatch); got a {type(batch).__name__}. A custom iterator must keep "
                "the batches that GCEClassifier's dataset and collate function make."
            )
        state = batch.state
        weight = state.weight_of(batch.rows, training)
        labels = state.targets_of(batch.rows)
        # A module of models side by side (the default network in training:
        # the MLP and its additive member) returns (batch, models, classes);
        # each model is trained with the loss on its own logits.
        side_by_side = y_pred.ndim == 3 and not self._loss_takes_members
        outputs = y_pred.unbind(1) if side_by_side else (y_pred,)
        loss = sum(self.get_loss(out, labels, X=X, training=training, sample_weight=weight) for out in outputs)
        if training and self.elr_lambda > 0:
            # Per-sample moving averages, addressed by the rows of the batch
            # (one per model side by side).
            targets = state.elr_targets(y_pred.shape[1:])
            penalty = early_learning_penalty(y_pred, targets, batch.rows.to(targets.device), self.elr_beta)
            penalties = penalty.unbind(1) if side_by_side else (penalty,)
            loss = loss + self.elr_lambda * sum(self._mean_penalty(p, weight) for p in penalties)
        return loss

    def _mean_penalty(self, penalty, weight):
        """The batch's mean of per-sample penalties, as the loss weighs its samples."""
        return weighted_loss(penalty, weight, "mean")

    def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
        """The loss of a batch.

        ``y_true`` are the encoded labels (positions in ``classes_``);
        ``sample_weight`` the per-sample weights of the batch (the caller's
        sample weights, times the truncated loss's keep-weights when
        training), or ``None`` for unit weights.
        """
        y_true = to_tensor(y_true, device=y_pred.device)
        return self.criterion_(y_pred, y_true, sample_weight)

    # ------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits) for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or torch Dataset
            As at fit: a DataFrame with the columns seen at fit, in their order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        return self._predict_proba(X, self._get_predict_nonlinearity())

    def _predict_proba(self, X, nonlinearity):
        """``nonlinearity`` of the network's outputs for ``X`` (a fitted model), as one array on the host."""
        if not is_dataset(X):
            X = validate_features(self, X, reset=False)
        # Kept on the device and copied to the host in large chunks: skorch
        # copies every batch, a host-device synchronisation each.
        chunks, pending, size = [], [], 0
        for y_infer in self.forward_iter(X, training=False, device=self.device):
            y_infer = y_infer[0] if isinstance(y_infer, tuple) else y_infer
            pending.append(nonlinearity(y_infer))
            size += pending[-1].numel()
            if size >= _HOST_COPY_ELEMENTS:
                chunks.append(to_numpy(torch.cat(pending)))
                pending, size = [], 0
        if pending:
            chunks.append(to_numpy(torch.cat(pending)))
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def predict(self, X):
        """Predicted class labels (from ``classes_``) for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or torch Dataset
            As at fit: a DataFrame with the columns seen at fit, in their order.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
