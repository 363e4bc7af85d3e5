"""The training core under both estimators: data in, skorch's training loop, predictions out.

:class:`BaseGCEClassifier` is to :class:`~sklearn_gce.GCEClassifier` and
:class:`~sklearn_gce.GCEClassifierCV` what skorch's ``NeuralNet`` is to
``NeuralNetClassifier``: it validates and encodes the inputs (tables through
:class:`~sklearn_gce.TabularEncoder`), encodes the labels, holds out rows for
early stopping, builds the training data (:mod:`sklearn_gce._rows`), runs
skorch's loop with one host-device copy of the losses per epoch, computes
each batch's loss from the rows it carries, and predicts. The estimators
above it hold only their own decisions: which network, which loss, which
callbacks, what ``fit`` does with the trained network.

Everything that touches skorch's private names lives in this module, so that
a skorch upgrade breaks one file at most.
"""

import copy
import threading
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import inspect

import numpy as np
import torch
from scipy import sparse
from sklearn.base import ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import (
    Interval,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.fixes import parse_version
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochScoring, EpochTimer, LRScheduler, PassthroughScoring, PrintLog, ProgressBar
from skorch.dataset import Dataset, ValidSplit, get_len, unpack_data
from skorch.history import History
from skorch.utils import is_dataset, to_numpy, to_tensor
from torch.utils.data import Subset

from ._compat import PICKLE_FORMAT, check_pickle_format
from ._correction import ForwardCorrectedLoss, MeanWithUncorrected, NoiseCorrection
from ._divergence import DivergenceGuard, TrainingDivergedError
from ._early_stopping import HoldOutEarlyStopping
from ._elr import early_learning_penalty
from ._pruning import reoptimise_weights
from ._labels import ClassEncoder
from ._rows import RowBatch, RowDataset, as_row_batch, batches_on_device, make_iterator, rows_of, state_of
from ._tabular import TabularEncoder
from .losses import _reduce as weighted_loss
from .networks import MLP
from ._validation import check_labels, check_sample_weight, dataset_labels, validate_features

__all__ = ["BaseGCEClassifier"]

# Rows of an array, and items of a torch Dataset (read from disk), that set the
# default network's input scaling when X is not on the device whole already.
_MAX_SCALING_ROWS = 65_536
_MAX_SCALING_ITEMS = 2048
# Predictions are copied to the host in chunks of about this many numbers.
_HOST_COPY_ELEMENTS = 2**24
# Rows of more inputs than this are "wide" (see BaseGCEClassifier._wide_input):
# at 10,000 columns a per-column embedding into 8 numbers already gives the
# first layer of 256 units 23 million weights.
_WIDE_INPUTS = 10_000
# The default network's embedding computes at most this many ramps per row
# (16 bins of 10,000 columns): rows of more than 2,500 inputs get fewer than
# its 64 bins.
_MAX_RAMPS_PER_ROW = 160_000
_DEFAULT_BINS = inspect.signature(MLP).parameters["n_bins"].default
# Optimisers that torch runs as one fused kernel per weight tensor, and where (the CPU since torch 2.4).
_FUSABLE = (torch.optim.Adam, torch.optim.AdamW)
_FUSED_DEVICES = ("cpu", "cuda") if parse_version(torch.__version__).release >= (2, 4) else ("cuda",)

_SCHEDULE = [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0, 1, closed="neither")]


def softmax(logits):
    """Class probabilities from logits (a module-level function, so it pickles)."""
    return torch.softmax(logits, dim=-1)


def resolve_device(device):
    """``'auto'`` becomes ``'cuda'`` when CUDA is available, else ``'cpu'``."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_device(device):
    """Refuse, with a message that names the fix, a device this machine cannot train on.

    ``'auto'``, ``None`` (placement left to the caller, as under Accelerate)
    and the CPU always pass; ``'cuda'``/``'cuda:N'``, ``'mps'`` and other
    accelerators only where torch sees them.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows ({exc}). Use 'auto' (a GPU when "
            "there is one, else the CPU), 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    kind = parsed.type
    if kind == "cpu":
        return
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else "no GPU is visible to torch (torch.cuda.is_available() is False)")
            raise ValueError(
                f"device={device!r} asks for a GPU, but {why}. device='auto' trains on a GPU "
                "when one is visible and on the CPU otherwise; device='cpu' forces the CPU."
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"device={device!r} names GPU {parsed.index}, but torch sees {count} GPU(s) "
                f"(cuda:0 to cuda:{count - 1})."
            )
        return
    backend = getattr(torch.backends, kind, None) if kind == "mps" else getattr(torch, kind, None)
    available = getattr(backend, "is_available", None)
    if not callable(available) or not available():
        raise ValueError(
            f"device={device!r}: torch cannot train on a {kind!r} device here. Use 'auto' "
            "(a GPU when there is one, else the CPU) or 'cpu'."
        )


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


def _reads_batch_losses(callback):
    """Whether a callback may read each batch's loss in the history as the batch ends."""
    if isinstance(callback, type) or type(callback).on_batch_end is Callback.on_batch_end:
        return False
    if isinstance(callback, LRScheduler):
        return callback.step_every == "batch"
    # skorch's scorers cache predictions per batch, not losses.
    return type(callback) is not EpochScoring


def with_core_parameters(cls):
    """Show the core's parameters in the signature of ``cls.__init__``, after the estimator's own.

    A sibling's ``__init__`` takes its own parameters and passes the rest to
    :class:`BaseGCEClassifier` through ``**kwargs`` (skorch's
    ``NeuralNetClassifier`` does the same over ``NeuralNet``), so their
    defaults are written once; this gives ``help()``, editors and
    scikit-learn's checks the whole list.
    """
    own = inspect.signature(cls.__init__).parameters
    core = inspect.signature(BaseGCEClassifier.__init__).parameters
    shared = [p for name, p in core.items() if p.kind == p.KEYWORD_ONLY and name not in own]
    mine = [p for p in own.values() if p.kind != p.VAR_KEYWORD]
    cls.__init__.__signature__ = inspect.Signature([*mine, *shared, own["kwargs"]])
    return cls


class BaseGCEClassifier(ClassifierMixin, NeuralNet):
    """The training core of the package's estimators; not used directly.

    An estimator on this core (a *sibling*) writes ``__init__`` (its own
    parameters, the rest through ``**kwargs``, see
    :func:`with_core_parameters`) and ``fit``, which calls the core in
    order: ``_validate_inputs``, ``_encode_labels``, ``_hold_out`` (or
    ``_stratified_hold_out``, or a split of its own), ``_training_data``,
    ``_train_correcting``. The core calls back only these, as skorch's
    ``NeuralNet`` calls ``get_loss`` and ``train_step``:

    Extension points (the sibling must define the first three):

    - ``_default_module(**sizes)``: the network when ``module=None``.
    - ``_make_criterion(options)``: the training loss (through
      ``_corrected`` for noise correction).
    - ``_own_callbacks()``: its callbacks by name (early stopping,
      pruning); ``_scoring_callbacks()`` for scores shown beside the losses.
    - ``_after_training(data)``: what it does with each trained network
      (``GCEClassifierCV`` chooses among its members).
    - ``_run_training(data, reinitialize)``: training in phases (default:
      one run of skorch's loop).
    - ``_held_out_proba()`` and ``_checked_proba(data)``: the probabilities
      of rows no network trained on, that noise correction estimates and
      checks on (default: none of either).
    - ``_probabilities()``: outputs to class probabilities at prediction.
    - ``_model_axis(y_pred)`` and ``_mean_penalty(penalty, weight)``:
      several models in one output, each trained with the loss; how ELR's
      penalty is averaged as the loss averages (default: a weighted mean).
    - ``_module_sizes()``: sizes a module class of the user's may take.
    - Class attributes: ``_own_names`` (the estimator's names of the loss's
      options), ``_auto_rule`` (``noise_correction='auto'``'s rule),
      ``_progress_bar_from`` and ``_log_ignores`` (what ``verbose`` shows).

    and skorch's own ``initialize_module`` and ``validation_step``, where a
    sibling adds to them (``GCEClassifierCV`` checks a user's stacked
    module; computes in each validation batch only the members validated
    on its rows). Members that train on rows of their own come in as data,
    not as a hook: ``_training_data(..., n_members, member_rows)``, where
    ``member_rows`` is cross-fitting's :class:`~sklearn_gce._layout.FoldMask`.
    See ``docs/architecture.rst``.
    """

    # The parameters both estimators share; each adds its own.
    _parameter_constraints = {
        "module": [None, type, torch.nn.Module, callable],
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

    def __init__(
        self,
        module=None,
        *,
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
        lr=2e-3,
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
        # skorch's settings, with this package's defaults: softmax predictions, shuffled batches.
        kwargs.setdefault("predict_nonlinearity", softmax)
        kwargs.setdefault("iterator_train__shuffle", True)
        NeuralNet.__init__(self, module=module, criterion=criterion, optimizer=optimizer, lr=lr,
                           max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
                           callbacks=callbacks, verbose=verbose, device=device, **kwargs)
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

    def __getstate__(self):
        state = super().__getstate__()
        state["_pickle_format"] = PICKLE_FORMAT
        return state

    # Parameters added since PICKLE_FORMAT was last bumped, with the value that gives what a model pickled
    # before them does: an older pickle loads with them set so, and get_params and clone work on it.
    _parameters_added = {}

    def __setstate__(self, state):
        check_pickle_format(state, type(self).__name__)
        state = {**self._parameters_added, **state}
        del state["_pickle_format"]
        requested = state["device"]
        # skorch maps the saved tensors to this device (CPU when CUDA is absent).
        state["device"] = resolve_device(requested)
        super().__setstate__(state)
        if isinstance(requested, str) and requested == "auto":
            self.__dict__["device"] = "auto"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # kept sparse; batches are made dense one at a time
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "classes_") and self.initialized_

    def _validate_params(self):
        # skorch's method (argument names and prefixes) shadows scikit-learn's
        # (_parameter_constraints), which _fit_context calls: run both.
        # skorch's own check runs at the end of initialize(), once the
        # network exists and every prefix is known.
        if self.initialized_ or hasattr(self, "module_"):
            super()._validate_params()
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        check_device(self.__dict__.get("device", "auto"))

    # ------------------------------------------------------------ the flags
    @property
    def label_issues_(self):
        """The rows whose labels are suspected wrong, found out of fold; see :ref:`label_issues`.

        Set by ``GCEClassifierCV`` with ``cv``. Elsewhere, the former name
        of ``pruned_rows_`` (the rows the truncated loss prunes, in sample),
        with a ``FutureWarning``; it goes in 0.5.
        """
        if "label_issues_" in self.__dict__:
            return self.__dict__["label_issues_"]
        if "pruned_rows_" in self.__dict__:
            warnings.warn(
                f"{type(self).__name__}.label_issues_ is renamed pruned_rows_ (the rows the truncated loss "
                "prunes, in sample; all False for other losses) and goes in 0.5. For label issues found "
                "out of fold, use GCEClassifierCV's label_issues_ or sklearn_gce.find_label_issues.",
                FutureWarning, stacklevel=2)
            return self.pruned_rows_
        raise AttributeError(f"'{type(self).__name__}' object has no attribute 'label_issues_'")

    @label_issues_.setter
    def label_issues_(self, value):
        self.__dict__["label_issues_"] = value  # a fitted attribute as any: kept on error, pickled

    # ------------------------------------------------------- data of a call
    @contextmanager
    def _fitted_state_kept_on_error(self):
        """Restore the fitted attributes if validating new data fails.

        Validation sets ``n_features_in_``, ``classes_`` and the like as it
        goes (scikit-learn's ``validate_data`` does); a call refused for its
        data must leave an already fitted model as it was.
        """
        saved = self._fitted_attributes()
        try:
            yield
        except BaseException:
            self._restore_fitted(saved)
            raise

    def _fitted_attributes(self):
        """The fitted attributes (a trailing underscore), by name: a shallow copy."""
        return {name: value for name, value in vars(self).items() if name.endswith("_") and not name.endswith("__")}

    def _restore_fitted(self, saved):
        """Put back the fitted attributes of ``_fitted_attributes``, and drop those set since."""
        for name in self._fitted_attributes().keys() - saved.keys():
            del self.__dict__[name]
        self.__dict__.update(saved)

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
            if reset:
                self._n_inputs_ = int(np.prod(X.shape[1:]))
                self._sparse_input_ = sparse.issparse(X)
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
            self._sparse_input_ = False
        elif n_inputs != self._n_inputs_:
            raise ValueError(
                f"The samples of X have {n_inputs} inputs, but {type(self).__name__} "
                f"was fitted on samples of {self._n_inputs_}."
            )
        return X, y

    def _encode_labels(self, y, reset, classes=None, incremental=False):
        """Set ``classes_`` (on ``reset``) and return ``y`` encoded as positions in it."""
        encoder = ClassEncoder(type(self).__name__, getattr(self, "classes_", None))
        if reset:
            self.classes_ = encoder.fit(y, classes, incremental).classes_
        else:
            encoder.check(y, classes, incremental)
        return encoder.transform(y)

    def _hold_out(self, targets, seed):
        """The stratified split of ``fit``'s own held-out rows for early stopping, or None."""
        if not self.early_stopping or self.train_split:
            return None
        return self._stratified_hold_out(targets, seed)

    def _stratified_hold_out(self, targets, seed):
        """``validation_fraction`` of the rows held out, stratified; None where a class could not be in both parts."""
        n_valid = int(np.ceil(self.validation_fraction * len(targets)))
        counts = np.bincount(targets)
        n_classes = np.count_nonzero(counts)
        if n_valid < n_classes or counts[counts > 0].min() < 2 or len(targets) - n_valid < n_classes:
            return None  # too small to hold out a row of every class
        return ValidSplit(self.validation_fraction, stratified=True, random_state=seed)

    def _training_data(self, X, y, targets, sample_weight, hold_out, n_members=None, member_rows=None):
        """The :class:`RowDataset` of one training call, its state on the training device.

        ``n_members`` and ``member_rows``: a stacked network's members, and
        the rows each trains and stops on (see :class:`~sklearn_gce._rows.SampleState`).
        """
        weight = check_sample_weight(sample_weight, len(targets))
        return RowDataset(X, np.asarray(y), targets, weight, self._training_device(), hold_out,
                          n_members=n_members, member_rows=member_rows)

    def _training_device(self):
        """Where the per-sample state (and the fast path's data) live; None leaves tensors in place."""
        return None if self.device is None else torch.device(self.device)

    @property
    def partial_fit(self):
        # skorch's NeuralNet.partial_fit would train on raw data, past the
        # validation and encoding above: an estimator offers its own or none.
        raise AttributeError(
            f"{type(self).__name__} has no partial_fit: its fit needs every row at once. "
            "GCEClassifier trains in chunks."
        )

    # ------------------------------------------------------------ training
    def _train(self, data, seed, reinitialize):
        """Build the network (on ``reinitialize``) and run ``_run_training`` on ``data``, seeded."""
        mean = getattr(self, "module_", None)
        if isinstance(mean, MeanWithUncorrected) and not reinitialize:
            # Training on (a warm fit, partial_fit) continues the corrected network alone.
            self.module_ = mean.corrected
        else:
            mean = None
        try:
            self._train_seeded(data, seed, reinitialize)
        except BaseException:
            if mean is not None:  # a failed call leaves the model it was given
                self.module_ = mean
            raise
        return self

    def _train_seeded(self, data, seed, reinitialize):
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
                self._run_training(data, reinitialize)
        except TrainingDivergedError:
            # Never leave a model behind that would predict NaN; nor, in the
            # scorers' caches, the predictions of the epoch that diverged.
            del self.classes_
            for _, callback in self.callbacks_:
                if isinstance(callback, EpochScoring):
                    callback.on_train_end(self)
            raise
        return self

    # ---------------------------------------------------- noise correction
    def _train_correcting(self, data, seed, targets, warm):
        """Train on ``data``; with ``noise_correction``, estimate the noise and train again through it.

        Under ``'forward'`` (and ``'auto'`` with at least 10 labels of every
        class) the network trained as configured gives the estimated
        transition matrix (:class:`~sklearn_gce._correction.NoiseCorrection`);
        where the correction is asked for, the network is trained again from
        scratch with the loss on ``p @ T``, and under ``'auto'`` predicts with
        the mean of both, unless held-out probabilities (``_held_out_proba``)
        show that mean predicting the given labels worse than the first network
        (:meth:`NoiseCorrection.confirmed`): then the first network's fit is
        restored. ``_after_training`` runs after each training.
        """
        correction = NoiseCorrection(self.noise_correction, self._auto_rule)
        if self.noise_correction is None or (warm and hasattr(self, "transition_matrix_")):
            # Nothing to estimate: no correction, or a warm start, which keeps the last fit's matrix.
            if self.noise_correction is None:
                self.__dict__.pop("transition_matrix_", None)
            self._follow_last_correction()
            return self._train(data, seed, reinitialize=not warm)._after_training(data)
        self.__dict__.pop("transition_matrix_", None)
        self.noise_correction_ = None
        if not correction.estimates(targets, len(self.classes_)):
            return self._train(data, seed, reinitialize=not warm)._after_training(data)
        # The first network, trained as configured, gives the estimate.
        self._train(data, seed, reinitialize=True)._after_training(data)
        held_out = self._held_out_proba()
        self.transition_matrix_ = correction.estimate(
            targets, held_out if held_out is not None else self._training_proba(data))
        checked = self._checked_proba(data) if correction.checks else None
        if not correction.corrects():
            return self  # 'auto' and no direction to the noise: the first network stays
        # Kept for the mean; a copy, as skorch re-uses a module instance the
        # user passed (its corrected fit then goes on from these weights).
        first = copy.deepcopy(self._unwrapped_module()).eval() if correction.keeps_first else None
        # With held-out rows the correction is checked: the first fit's
        # results are kept to restore should it be dropped.
        first_fit = self._fitted_attributes() if first is not None and checked is not None else None
        if first_fit is not None:
            trainable = [p.requires_grad for p in first.parameters()]  # the mean freezes them
            self.history_ = History()  # skorch would clear the first fit's in place
        if first is not None and self.verbose:
            print(correction.announce())
        self.noise_correction_ = "forward"
        # The corrected fit starts from scratch (a warm one too: the first
        # network replaced its weights): no pruning or ELR state either.
        data.reset_state()
        self._train(data, seed, reinitialize=True)
        if first is not None:
            self.module_ = correction.combine(self._unwrapped_module(), first)
        self._after_training(data)
        if first_fit is not None and not correction.confirmed(checked[0], checked[1],
                                                              self._checked_proba(data)[1]):
            if self.verbose:
                print(correction.announce_dropped())
            training = self._unwrapped_module().training
            self._restore_fitted(first_fit)
            for param, flag in zip(first.parameters(), trainable):
                param.requires_grad_(flag)
            self.module_ = first.train(training)
            # the first fit's optimiser state, over the restored copy of its weights
            self.initialize_optimizer()
            self.optimizer_.load_state_dict(first_fit["optimizer_"].state_dict())
        return self

    def _after_training(self, data):
        """What the estimator does with each trained network (a choice among its members, say)."""
        return self

    def _held_out_proba(self):
        """Each training row's probabilities from networks that never trained on it, where the fit has them.

        The transition matrix is estimated from these, else from the training
        probabilities.
        """
        return None

    _auto_rule = None  # NoiseCorrection's default: AUTO_RULE

    def _checked_proba(self, data):
        """``(targets, proba)`` of rows no network trained on, for ``'auto'`` to judge its correction, or None."""
        return None

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
        corrected = isinstance(getattr(self, "criterion_", None), ForwardCorrectedLoss)
        if getattr(self, "initialized_", False) and corrected != self._corrects_forward():
            self._rebuild_criterion()

    def _corrects_forward(self):
        """Whether training goes through the estimated transition matrix."""
        if self.noise_correction is None or not hasattr(self, "transition_matrix_"):
            return False
        return self.noise_correction == "forward" or getattr(self, "noise_correction_", None) == "forward"

    def _corrected(self, criterion):
        """``criterion``, through the transition matrix when training corrects (see ``_corrects_forward``)."""
        return NoiseCorrection.loss(criterion, self.transition_matrix_) if self._corrects_forward() else criterion

    def _run_training(self, data, reinitialize):
        """Train the initialised network on ``data``; a subclass may train in phases."""
        self._skorch_loop(data)

    def _pruned_rows(self, data):
        """Rows the truncated loss prunes under the model that is kept (a column per member when stacked).

        Early stopping may have restored an earlier epoch than the last
        pruning step, so the weights are re-optimised for the final network.
        """
        rows = data.state.pruned_rows
        if rows is not None:
            reoptimise_weights(self, Subset(data, rows))
        return (data.state.keep == 0).cpu().numpy()

    def _skorch_loop(self, data):
        """One run of skorch's training loop (``NeuralNet.partial_fit``) on ``data``.

        skorch stops cleanly on KeyboardInterrupt (also raised by its
        EarlyStopping): the model then keeps the weights reached so far. ``y``
        goes as given too: skorch's scorers index it when they do not cache.
        """
        NeuralNet.partial_fit(self, data, data.y)

    # -------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.module is not None:
            kwargs = {**self._data_sizes_for(self.module), **self.get_params_for("module")}
            self.module_ = self.initialized_instance(self.module, kwargs)
            return self
        if not hasattr(self, "_n_inputs_") or not hasattr(self, "classes_"):
            raise NotFittedError(
                "The default network is sized from the training data, so it exists only "
                "after fit. To save and restore a model, pickle or joblib-dump the "
                "fitted estimator: skorch's save_params/load_params store the weights "
                "but not classes_."
            )
        self.module_ = self._default_module(
            n_features=self._n_inputs_, n_classes=len(self.classes_), **self._table_layout()
        )
        return self

    def _default_module(self, **sizes):
        """The network when ``module=None``, from the data's sizes (``n_features``, ``n_classes``, the table's)."""
        raise NotImplementedError

    def _wide_input(self):
        """Whether the fit's ``X`` was a sparse matrix or had more than 10,000 inputs per row.

        What a default network asks to choose layers that suit wide inputs
        (TF-IDF text, one-hot codes of many categories).
        """
        return bool(getattr(self, "_sparse_input_", False)) or self._n_inputs_ > _WIDE_INPUTS

    def _network_defaults(self):
        """Options of the default network that depend on the data; the user's ``module__*`` win over them.

        Sparse or very wide X (TF-IDF text): no per-column embedding (its
        ramps x 8 numbers for each of tens of thousands of columns). Between
        2,500 and 10,000 inputs, fewer bins than the network's default, so
        that a row has at most 160,000 ramps.
        """
        # the bins too where the embedding is off: a user's module__numeric_embedding brings it back
        n_bins = max(1, _MAX_RAMPS_PER_ROW // max(self._n_inputs_, 1))
        defaults = {"n_bins": n_bins} if n_bins < _DEFAULT_BINS else {}
        return {**defaults, "numeric_embedding": None} if self._wide_input() else defaults

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
        sizes = {"n_features": self._n_inputs_, "n_classes": len(self.classes_), **self._table_layout(),
                 **self._module_sizes()}
        return {name: value for name, value in sizes.items() if name in accepted}

    def _module_sizes(self):
        """Further sizes a module class may take (the stacked networks' ``n_members``)."""
        return {}

    def initialize_criterion(self):
        if self.criterion is not None:
            raise ValueError(f"Set the training loss with `{self._own_names.get('loss', 'loss')}`, not `criterion`.")
        options = self.get_params_for("criterion")
        clash = sorted({"q", "k"} & set(options))
        if clash:
            raise ValueError(
                f"Set {' and '.join(clash)} with the estimator's own parameter(s) "
                f"({', '.join(self._own_names.get(name, name) + '=...' for name in clash)}), not criterion__{clash[0]}."
            )
        self.criterion_ = self._make_criterion(options)
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimizer arguments; Adam and AdamW run fused where they can and the user chose no kernel.

        Not under ``device=None``: Accelerate places the weights later.

        torch's fused Adam updates each weight tensor in one kernel instead of
        about eight: on the CPU a step over five stacked members took 0.5 ms
        instead of 2.1 ms, a quarter of ``GCEClassifierCV(cv=5)``'s fit time (members
        of ``(256, 256)``, the default before 0.3).
        The update is Adam's, rounded differently.
        """
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        chosen = {"fused", "foreach"}  # the user chose a kernel
        # device=None (Accelerate): the weights move after the optimiser is made, to a device unknown here
        if (prefix == "optimizer" and self.optimizer in _FUSABLE and self.device is not None
                and not chosen & set(kwargs) and not any(chosen & set(group) for group in args[0])):
            params = [p for group in args[0] for p in group["params"]]
            if params and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES for p in params):
                kwargs["fused"] = True
        return args, kwargs

    # the estimator's parameter for each of the loss's options where it is named otherwise (``q``: ``qs``)
    _own_names = {}

    def _make_criterion(self, options):
        """The training loss, with the ``criterion__*`` options."""
        raise NotImplementedError

    @property
    def _default_callbacks(self):
        # skorch's defaults, then the estimator's own (get_params reads this
        # property before fit has validated the parameters), then the log.
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            *self._scoring_callbacks(),
            ("divergence_guard", DivergenceGuard()),
            *self._own_callbacks(),
        ]
        if isinstance(self.verbose, Integral) and self.verbose >= self._progress_bar_from:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks.append(("print_log", PrintLog(keys_ignored=self._log_ignores)))
        return callbacks

    # ``verbose`` from which each epoch shows a progress bar; history keys the per-epoch line leaves out
    _progress_bar_from = 2
    _log_ignores = None

    def _scoring_callbacks(self):
        """Scores recorded each epoch beside the losses."""
        return []

    def _own_callbacks(self):
        """The estimator's callbacks (early stopping, pruning), by name."""
        return []

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

    def _rebuild_criterion(self):
        """Build the loss again (through skorch, which also places it on the device)."""
        self._initialize_criterion()

    def _get_predict_nonlinearity(self):
        return self._probabilities()

    def _probabilities(self):
        """What turns the network's outputs into class probabilities at prediction."""
        return super()._get_predict_nonlinearity()

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
                f"the batches that {type(self).__name__}'s dataset and collate function make."
            )
        state = batch.state
        weight = state.weight_of(batch.rows, training)
        labels = state.targets_of(batch.rows)
        side = self._model_axis(y_pred)
        outputs = (y_pred,) if side is None else y_pred.unbind(side)
        loss = sum(self.get_loss(out, labels, X=X, training=training, sample_weight=weight) for out in outputs)
        if training and self.elr_lambda > 0:
            # Per-sample moving averages, addressed by the rows of the batch
            # (one per model, see _model_axis).
            targets = state.elr_targets(y_pred.shape[1:])
            penalty = early_learning_penalty(y_pred, targets, batch.rows.to(targets.device), self.elr_beta)
            penalties = (penalty,) if side is None else penalty.unbind(side)
            loss = loss + self.elr_lambda * sum(self._mean_penalty(p, weight) for p in penalties)
        return loss

    def _model_axis(self, y_pred):
        """The dimension along which ``y_pred`` holds several models' logits, each trained with the loss, or None."""
        return None

    def _mean_penalty(self, penalty, weight):
        """The batch's mean of per-sample penalties, as the loss weighs its samples (a weighted mean)."""
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
        """Class probabilities for ``X``.

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

    def _training_proba(self, data):
        """The network's probabilities for every row of the training data, on the host."""
        logits = self.forward(data, training=False, device=self.device)
        return to_numpy(self._get_predict_nonlinearity()(logits))

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
