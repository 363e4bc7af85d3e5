"""``GCEClassifierCV``: a grid of ``q`` values and losses trained in one pass, chosen on the hold-out or, cross-fitted, out of fold."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from scipy.stats import rankdata
from sklearn.base import _fit_context
from sklearn.model_selection import ParameterGrid, StratifiedKFold, check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.utils import is_dataset

from ._base import BaseGCEClassifier, softmax, with_core_parameters
from ._correction import CROSS_FITTED_RULE
from ._layout import MemberLayout, StoppingRows, stopping_folds
from ._member_stopping import MemberEarlyStopping, holdout_member_probabilities, shares_weights
from ._pruning import TruncationPruning
from ._stacked import MemberAverage, MemberLoss, MemberMLP, member_slices
from ._tree_members import TreeMembers, choose_tree_weight, combine, require_lightgbm
from ._validation import check_sample_weight, validate_features
from .losses import LOSSES, Q_LOSSES, loss_grid

__all__ = ["GCEClassifierCV"]

# The default members' hidden layers with ``cv``: one setting's, and those of a grid of several,
# narrower so that its pass costs about what one setting's does; without ``cv``, MLP's (256, 256).
_CROSS_FITTED_HIDDEN_SIZES = (96, 96)
_CROSS_FITTED_GRID_HIDDEN_SIZES = (64, 64)


@with_core_parameters
class GCEClassifierCV(BaseGCEClassifier):
    """Noise-robust networks for tables: a grid of ``q`` values and losses trained in one pass.

    By default (``cv=5``, ``qs=(0.2, 0.8)``, ``losses=('gce',)``) each
    ``q`` is cross-fitted as five members, member ``f`` trained on the rows
    outside fold ``f`` and stopped early on some of those (it sees nothing
    of fold ``f``'s labels); the ``q``
    whose members predict the given labels better out of fold is kept, and
    predicts with the mean of its five members. Every training row also
    gets out-of-fold probabilities and a label-quality score
    (``oof_proba_``, ``label_quality_``, ``label_issues_``,
    ``label_report_``). It takes a DataFrame as it comes, as
    :class:`~sklearn_gce.GCEClassifier` does. ``cv=None`` chooses among the
    settings on a hold-out instead (the race of 0.2, with a wider grid).

    The members' weights are stacked (:class:`~sklearn_gce.MemberMLP`): every
    batch goes through all of them and one optimiser step updates them all,
    while each trains as it would alone and stops early on its own. The
    choice is made on the given (noisy) labels, never on clean ones; see
    :ref:`one_pass` for how it trains and what it costs.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        ``None`` builds a :class:`~sklearn_gce.MemberMLP` sized from the data:
        members like ``GCEClassifier``'s MLP without its additive model, with
        ``cv`` of hidden layers ``(96, 96)`` for one setting and ``(64, 64)``
        for several (``module__hidden_sizes`` sets others). A module of your
        own takes ``n_members``, returns logits of shape ``(batch, n_members,
        n_classes)`` and stacks every weight with the member first, except
        those named in its attribute ``shared_state``.
    qs : sequence of float, default=(0.2, 0.8)
        Exponents of the Lq losses, each in ``(0, 1]``.
    losses : sequence of str, default=('gce',)
        Losses, named as for ``GCEClassifier``'s ``loss``. ``'gce'`` and
        ``'truncated'`` get one setting per ``q``, any other loss one
        setting.
    ensemble_size : int, default=1
        Members trained per setting (and per fold), from different
        initialisations; a setting predicts with the mean of its members.
    ensemble : bool or int, default=False
        Predict with the mean of the best settings' members instead of the
        chosen setting's: ``True``, the better half; an int ``n``, the ``n``
        best.
    n_iter_no_change_behind : int or None, default=3
        The race: a setting whose held-out accuracy trails the best
        setting's stops after this many epochs without improving, instead
        of ``n_iter_no_change``. ``None`` turns it off; it is off with
        ``ensemble``, ``early_stopping=False`` or shared weights.
    cv : int, cross-validation splitter or None, default=5
        An int ``k`` or a splitter: cross-fitting, ``k`` members per setting
        in one pass; settings are chosen on the out-of-fold accuracy of every
        row, and predictions are the mean of the chosen setting's members.
        Member ``f`` trains outside fold ``f`` and stops early on fold ``f``
        (or on rows of its training folds, ``stop_on``). ``None``: the
        members train on the same rows and are chosen on the
        ``validation_fraction`` held out.
    label_quality : {'self_confidence', 'normalized_margin', 'confidence_weighted_entropy'}, default='self_confidence'
        With ``cv``: the score of ``label_quality_``, computed by cleanlab's
        ``get_label_quality_scores`` from the out-of-fold probabilities (low:
        the label is likely wrong).
    stop_on : {'own_fold', 'training_folds'}, default='own_fold'
        With ``cv``: the rows member ``f`` stops early (and races) on.
        ``'own_fold'``: fold ``f``, the rows it is scored on, whose labels
        then choose its epoch. ``'training_folds'``: ``validation_fraction``
        of its training rows, drawn from the other folds, which it does not
        train on; its probabilities of fold ``f`` then owe nothing to fold
        ``f``'s labels, at a measured cost in the flags' F1 and in accuracy
        (see :ref:`one_pass`).
    tree_members : {'auto', 'lightgbm'} or None, default='auto'
        Gradient-boosted trees beside the networks (see :ref:`one_pass`).
        After the networks are trained and chosen, one
        ``lightgbm.LGBMClassifier`` (cross entropy; learning rate 0.1, up to
        2000 trees; PyTorch's number of threads, ``torch.get_num_threads()``)
        per fold ``f``, trained on the encoded rows outside fold
        ``f`` with the sample weights, and read at two early stops (patience
        50, whatever ``early_stopping`` says) on ``validation_fraction`` of
        those rows, which it does not train on, never on fold ``f``: where
        the log loss of those rows stops falling and where their error rate
        does. The trees' probabilities are the mean of the two readings. A
        convex weight ``w`` in ``(0, 0.1, ..., 1)`` of the trees'
        out-of-fold probabilities against the networks' is chosen on the
        out-of-fold accuracy of the given labels (a tie: the smaller ``w``).
        ``oof_proba_`` and the label scores come from the chosen
        combination, and ``predict_proba`` is ``w`` times the probabilities
        of trees trained on every row, read at the folds' mean number of
        rounds of each stop, plus ``1 - w`` times the networks'.
        The trees are not noise-corrected: ``noise_correction`` decides on the
        networks alone. ``'auto'``: trees where they apply, with ``cv`` and
        ``X`` a DataFrame or a 2-D array or sparse matrix (not images, not a
        torch Dataset); ``'lightgbm'``: always, an error where they cannot;
        ``None``: networks only.
    k : float, default=0.5
        Threshold of the truncated members, as for ``GCEClassifier``.
    prune_start : int or float, default=10
        First epoch of the truncated members' pruning, as for
        ``GCEClassifier``.
    prune_every : int or float, default=10
        Epochs between the truncated members' pruning steps.
    max_epochs : int, default=100
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Each member stops after ``n_iter_no_change`` epochs without improving
        its loss on the rows it does not train on, and keeps its best
        epoch's weights. ``False`` trains every member ``max_epochs`` and
        chooses on the last epoch. Without ``cv``, rows are held out either
        way (the choice needs them).
    validation_fraction : float, default=0.1
        Without ``cv``: fraction of the rows held out, for early stopping
        and the choice. With ``cv`` and ``stop_on='training_folds'``:
        fraction of each member's training rows it stops early on.
    n_iter_no_change : int, default=20
        Patience of each member's early stopping, in epochs.
    elr_lambda : float, default=0.0
        Weight of early-learning regularisation, for every member.
    elr_beta : float, default=0.7
        Momentum of ELR's moving average, in ``[0, 1)``.
    noise_correction : {'auto', 'forward'} or None, default='auto'
        As for ``GCEClassifier``, decided once for all members from the
        predicting members' probabilities (out of fold with ``cv``):
        ``'auto'`` corrects where the directed flip rate exceeds 0.15 and,
        with ``cv``, drops a correction under which the given labels are
        predicted significantly worse out of fold (McNemar's test,
        one-sided 5%), restoring the first pass.
    lr : float, default=2e-3
        Learning rate.
    batch_size : int, default=128
        Mini-batch size; ``-1`` uses the whole training set.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Options with ``optimizer__*``.
    device : str, torch.device or None, default='auto'
        ``'auto'`` trains on CUDA when available, else on the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout, the folds and the
        hold-out.
    verbose : int, default=0
        ``1`` shows a progress bar over each epoch's batches and one line per
        epoch (every member's losses and accuracies stay in the history).
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks.
    train_split : callable or None, default=None
        Without ``cv``: a skorch validation split whose rows replace the
        hold-out.
    criterion : None
        Not used: the losses are chosen with ``losses``.
    **kwargs
        Any further skorch parameter (``module__*``, ``optimizer__*``...) and
        ``encoder__*``, for every member.

    Attributes
    ----------
    best_params_ : dict
        ``{"loss": ..., "q": ...}`` of the chosen setting (no ``q`` for a
        loss without one); where trees were trained also ``tree_weight``, the
        trees' weight ``w``.
    best_score_ : float
        Its ``holdout_score``; where trees were trained, the out-of-fold
        accuracy of the chosen combination.
    best_index_ : int
        Index of the chosen setting in ``cv_results_``.
    cv_results_ : dict of ndarray
        One entry per setting (in the order ``losses`` x ``qs``): ``params``,
        ``param_loss``, ``param_q``, ``holdout_score`` (accuracy on the noisy
        hold-out; with ``cv``, out of fold on every row),
        ``rank_holdout_score``, ``best_epoch``, ``n_epochs``,
        ``stopped_behind`` (stopped by the race) and ``n_label_issues``;
        with ``cv`` also ``oof_score``, the same as ``holdout_score`` under
        the name of what it is; where trees were trained, ``tree_weight``
        and ``oof_score_with_trees``: each setting's best weight beside the
        trees kept and its out-of-fold accuracy (the weight in
        ``best_params_`` is chosen for the setting kept).
    oof_proba_ : ndarray of shape (n_samples, n_classes)
        With ``cv``: each training row's probabilities from the predicting
        members that never trained on it (where trees were trained, combined
        with the trees' as chosen). Columns follow ``classes_``.
    tree_oof_proba_ : ndarray of shape (n_samples, n_classes)
        Where trees were trained: each training row's probabilities from the
        trees of its fold, which never trained or stopped on it.
    tree_weight_scores_ : ndarray of shape (11,)
        Where trees were trained: the out-of-fold accuracy on the given labels
        of each trees' weight ``w`` in ``(0, 0.1, ..., 1)``.
    tree_members_ : object
        Where trees were trained: the fitted trees, one LightGBM model per fold
        in its ``models_`` (read at the rounds in ``rounds_``: the
        out-of-fold probabilities) and ``model_``, trained on every row and
        read at ``n_estimators_``, which predicts.
    label_quality_ : ndarray of shape (n_samples,)
        With ``cv``: a score in ``[0, 1]`` per training row, low where the
        label is likely wrong (see ``label_quality``).
    label_issues_ : ndarray of bool, shape (n_samples,)
        With ``cv``: the suspected label errors, found by confident learning
        (cleanlab's ``find_label_issues``) on ``oof_proba_``, every row
        included. Without ``cv``, the deprecated name of ``pruned_rows_``.
    pruned_rows_ : ndarray of bool, shape (n_samples,)
        Without ``cv``: the rows pruned by most truncated members of the
        chosen setting, in sample (none for other losses).
    label_report_ : pandas.DataFrame
        With ``cv``: one row per training row, most doubtful first, indexed
        by the DataFrame's own index (positions for arrays): ``row``
        (position in the training data), ``given_label``,
        ``suggested_label`` (the out-of-fold prediction), ``label_quality``
        and ``flagged``. :func:`~sklearn_gce.find_label_issues` returns the
        same, with cleanlab's filter of your choice.
    fold_ : ndarray of int, shape (n_samples,)
        With ``cv``: the fold of each training row.
    stop_fold_ : ndarray of int, shape (n_samples,)
        With ``cv``: the fold whose members stop early on each training row
        (``stop_on='own_fold'``: ``fold_``; ``'training_folds'``: never the
        row's own fold, ``-1`` for none).
    members_ : list of dict
        The setting of each member, in the order of the network's member
        dimension (see :meth:`predict_member_proba`).
    predicting_members_ : ndarray of int
        The members whose probabilities ``predict_proba`` averages.
    member_label_issues_ : ndarray of bool, shape (n_samples, n_members)
        Each truncated member's pruned rows; all ``False`` for other members.
    ensemble_holdout_score_ : float
        Accuracy on the noisy hold-out of the better half of the settings
        (or of those ``ensemble`` averages).
    transition_matrix_, noise_correction_
        As for ``GCEClassifier`` (see ``noise_correction``).
    classes_, n_features_in_, feature_names_in_, encoder_, module_, criterion_, optimizer_, history_
        As for ``GCEClassifier``. The history also records each member's
        held-out loss and accuracy (``member_valid_loss``,
        ``member_valid_acc``) and ``n_members_training``.

    See Also
    --------
    GCEClassifier : One network, one setting: for images, text, modules of your own, ``partial_fit``.
    find_label_issues : This estimator's out-of-fold flags as a report, in one call.
    sklearn.model_selection.GridSearchCV : The general, slower way to choose ``q``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import GCEClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GCEClassifierCV(max_epochs=20, random_state=0).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> sorted(clf.best_params_), clf.cv_results_["oof_score"].shape
    (['loss', 'q', 'tree_weight'], (2,))

    Every training row has a label-quality score, out of fold:

    >>> clf.oof_proba_.shape, clf.label_quality_.shape
    ((150, 3), (150,))
    >>> list(clf.label_report_.columns)
    ['row', 'given_label', 'suggested_label', 'label_quality', 'flagged']

    The race of 0.2, ten settings on the same rows, chosen on a hold-out:

    >>> race = GCEClassifierCV(cv=None, qs=(0.3, 0.5, 0.7, 0.9, 1.0), losses=("gce", "truncated"),
    ...                        max_epochs=20, random_state=0).fit(X, y)
    >>> race.cv_results_["holdout_score"].shape
    (10,)
    """

    _parameter_constraints = {
        **BaseGCEClassifier._parameter_constraints,
        "qs": ["array-like"],
        "losses": ["array-like"],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "ensemble": ["boolean", Interval(Integral, 1, None, closed="left")],
        "n_iter_no_change_behind": [Interval(Integral, 1, None, closed="left"), None],
        "cv": [None, Interval(Integral, 2, None, closed="left"), "cv_object"],
        "label_quality": [StrOptions({"self_confidence", "normalized_margin", "confidence_weighted_entropy"})],
        "stop_on": [StrOptions({"own_fold", "training_folds"})],
        "tree_members": [StrOptions({"auto", "lightgbm"}), None],
    }
    _own_names = {"loss": "losses", "q": "qs"}

    _parameters_added = {"stop_on": "own_fold", "tree_members": None}  # since 0.3: a 0.3 model had neither

    def __init__(self, module=None, *, qs=(0.2, 0.8), losses=("gce",),
                 ensemble_size=1, ensemble=False, n_iter_no_change_behind=3, cv=5,
                 label_quality="self_confidence", stop_on="own_fold", tree_members="auto", **kwargs):
        super().__init__(module, **kwargs)
        self.tree_members = tree_members
        self.cv = cv
        self.label_quality = label_quality
        self.stop_on = stop_on
        self.qs = qs
        self.losses = losses
        self.ensemble_size = ensemble_size
        self.ensemble = ensemble
        self.n_iter_no_change_behind = n_iter_no_change_behind

    # ------------------------------------------------------------ the grid
    def _settings(self):
        """The grid as a list of ``{"loss": ..., "q": ...}``, checked."""
        losses = [self.losses] if isinstance(self.losses, str) else list(self.losses)
        qs = [self.qs] if isinstance(self.qs, Real) else list(self.qs)
        unknown = sorted({str(name) for name in losses} - set(LOSSES))
        if not losses or unknown:
            raise ValueError(
                f"losses must be a non-empty list of {sorted(LOSSES)}; got {self.losses!r}."
            )
        bad = [q for q in qs if not (isinstance(q, Real) and 0 < q <= 1)]
        if any(name in Q_LOSSES for name in losses) and (not qs or bad):
            raise ValueError(f"qs must be a non-empty list of floats in (0, 1]; got {self.qs!r}.")
        if len(set(losses)) < len(losses) or len(set(map(float, qs))) < len(qs):
            raise ValueError(f"losses and qs must not repeat a value; got {self.losses!r} and {self.qs!r}.")
        return [{name: float(value) if name == "q" else value for name, value in setting.items()}
                for setting in ParameterGrid(loss_grid(losses, qs))]

    @property
    def _n_members(self):
        return self._layout().n_members

    def _layout(self):
        """The members: settings x ``ensemble_size`` copies x, with ``cv``, folds (:class:`MemberLayout`)."""
        return MemberLayout(self._settings(), self.ensemble_size, self._n_folds())

    def _n_folds(self):
        """The folds of ``cv``, or None."""
        if self.cv is None:
            return None
        return int(self.cv) if isinstance(self.cv, Integral) else check_cv(self.cv).get_n_splits()

    def _folds(self, targets, seed):
        """The test fold of every row (``cv``): stratified and shuffled for an int."""
        if isinstance(self.cv, Integral):
            splitter = StratifiedKFold(int(self.cv), shuffle=True, random_state=seed)
        else:
            splitter = check_cv(self.cv, targets, classifier=True)
        fold = np.full(len(targets), -1)
        for f, (_, test) in enumerate(splitter.split(np.zeros((len(targets), 1)), targets)):
            if (fold[test] >= 0).any():
                raise ValueError("cv must put every row in exactly one test fold; a row is in two.")
            fold[test] = f
        if (fold < 0).any():
            raise ValueError(f"cv must put every row in one test fold; {int((fold < 0).sum())} rows are in none.")
        return fold

    # ----------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train every member on ``X`` and (possibly noisy) labels ``y``; choose on the hold-out.

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`GCEClassifier.fit`.

        Returns
        -------
        self : GCEClassifierCV
        """
        warm = bool(self.warm_start) and self.__sklearn_is_fitted__()
        self._rows_index = X.index if isinstance(X, pd.DataFrame) else None  # the label report's index
        if self.tree_members == "lightgbm":
            self._check_tree_members(X)  # before any training
        with self._fitted_state_kept_on_error():
            for name in ("tree_members_", "tree_oof_proba_", "tree_weight_scores_", "label_issues_", "pruned_rows_"):
                self.__dict__.pop(name, None)  # a refit keeps none of another configuration's
            layout = self._layout()
            X, y = self._validate_inputs(X, y, reset=not warm)
            trees = self._trees_wanted(X)
            if trees:
                require_lightgbm()  # before the networks train, not after
            targets = self._encode_labels(y, reset=not warm)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            member_rows = None
            if self.cv is not None:
                if self.train_split:
                    raise ValueError("Set cv or train_split, not both: each chooses the rows the members "
                                     "are validated on.")
                if not (warm and len(getattr(self, "fold_", ())) == len(targets)):
                    # a warm fit keeps its folds: no member is scored or stopped on rows it trained on
                    self.fold_ = self._folds(targets, seed)
                    if self.stop_on == "own_fold":
                        self.stop_fold_ = self.fold_  # member f stops on the fold it is scored on
                    else:
                        fraction = self.validation_fraction if self.early_stopping else 0.0
                        self.stop_fold_ = stopping_folds(self.fold_, targets, fraction, seed)
                member_rows = layout.fold_mask(self.fold_, self.stop_fold_)
                hold_out = StoppingRows() if member_rows.any_stopping() else None
            else:
                # the choice needs held-out rows, with or without early stopping
                hold_out = None if self.train_split else self._stratified_hold_out(targets, seed)
            if hold_out is None and not self.train_split and self.cv is None:
                warnings.warn(
                    f"GCEClassifierCV chooses on {self.validation_fraction:.0%} of the rows held "
                    f"out, but {len(targets)} rows cannot give a held-out row of every class and "
                    "keep one for training: every member trains on all rows for max_epochs, and "
                    "the choice is made on the training labels, which favours the members that "
                    "fit them best, wrong ones included. Give more rows, raise "
                    "validation_fraction, or set train_split.",
                    UserWarning,
                    stacklevel=2,
                )
            self.members_ = layout.members
            if self.cv is None:
                self.__dict__.pop("fold_", None)
                self.__dict__.pop("stop_fold_", None)
            data = self._training_data(X, y, targets, sample_weight, hold_out, n_members=layout.n_members,
                                       member_rows=member_rows)
        self._train_correcting(data, seed, targets, warm)
        if trees:  # beside the networks as finally trained and chosen
            self._fit_tree_members(X, targets, check_sample_weight(sample_weight, len(targets)), seed)
        self.__dict__.pop("_oof_by_setting_", None)  # out of the fitted model's pickle
        return self

    # --------------------------------------------------------- tree members
    def _trees_wanted(self, X):
        """Whether this fit trains trees, given the validated ``X``: ``'auto'`` where they apply."""
        if self.tree_members != "auto":
            return self.tree_members is not None
        # cross-fitted, on a matrix of rows (a DataFrame encoded), not on images nor a torch Dataset
        return self.cv is not None and not is_dataset(X) and (sparse.issparse(X) or getattr(X, "ndim", 0) == 2)

    def _check_tree_members(self, X):
        """``tree_members='lightgbm'`` needs ``cv`` and ``X`` as a table or matrix (not a torch Dataset)."""
        if self.cv is None:
            raise ValueError(
                "tree_members needs cv: the trees are cross-fitted on the networks' folds and combined "
                "out of fold. Set cv (e.g. cv=5) or tree_members=None."
            )
        if is_dataset(X):
            raise ValueError("tree_members takes X as an array, a sparse matrix or a DataFrame, not a "
                             f"{type(X).__name__}: the trees need the features as a matrix.")

    def _fit_tree_members(self, X, targets, weight, seed):
        """Fit the trees per fold, combine their out-of-fold probabilities with the networks' (see _tree_members)."""
        encoder = getattr(self, "encoder_", None)
        n_codes = len(encoder.cardinalities_) if encoder is not None else 0
        categorical = list(range(X.shape[1] - n_codes, X.shape[1]))  # the encoder's code columns come last
        # the trees stop on rows of their training folds, whatever stop_on says of the networks
        stop_fold = stopping_folds(self.fold_, targets, self.validation_fraction, seed)
        network_oof = self.oof_proba_
        # as many threads as the networks had: what the user (or a joblib worker) gave PyTorch
        trees = TreeMembers(len(self.classes_), categorical, seed, n_threads=torch.get_num_threads())
        if self.verbose:
            print(f"tree_members: one LightGBM model per fold ({self._n_folds()}) and one on every "
                  f"row, {trees.n_threads} thread(s)", flush=True)
        self.tree_oof_proba_ = trees.fit(X, targets, weight, self.fold_, stop_fold)
        weight_chosen, self.tree_weight_scores_ = choose_tree_weight(self.tree_oof_proba_, network_oof,
                                                                     targets, weight)
        if self.verbose:
            scores = self.tree_weight_scores_
            print(f"tree_members: rounds at the log-loss and error-rate stops {trees.n_estimators_}; trees' "
                  f"weight {weight_chosen:g}, out-of-fold accuracy {scores.max():.4f} (networks alone "
                  f"{scores[0]:.4f}, trees alone {scores[-1]:.4f})", flush=True)
        self.tree_members_ = trees
        self.best_params_ = {**self.best_params_, "tree_weight": weight_chosen}
        self.best_score_ = float(self.tree_weight_scores_.max())
        self._set_label_quality(combine(self.tree_oof_proba_, network_oof, weight_chosen), targets)
        # what every setting would score beside the trees kept: the weight is chosen for the setting kept
        by_setting = self.__dict__.pop("_oof_by_setting_")
        per_setting = [choose_tree_weight(self.tree_oof_proba_, by_setting[:, s], targets, weight)
                       for s in range(by_setting.shape[1])]
        self.cv_results_["tree_weight"] = np.array([w for w, _ in per_setting])
        self.cv_results_["oof_score_with_trees"] = np.array([scores.max() for _, scores in per_setting])

    def predict_proba(self, X):
        """Class probabilities for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or torch Dataset
            As at fit: a DataFrame with the columns seen at fit, in their order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to 1. Where trees were trained:
            ``w`` times those of the trees trained on every row plus ``1 - w``
            times the networks', ``w = best_params_['tree_weight']``.
        """
        trees = getattr(self, "tree_members_", None)
        if trees is None:
            return super().predict_proba(X)
        check_is_fitted(self)
        weight = self.best_params_["tree_weight"]
        network = super().predict_proba(X) if weight < 1 else None
        tree = trees.predict_proba(validate_features(self, X, reset=False)) if weight > 0 else None
        if network is None:
            return tree.astype(np.float32)
        return combine(tree, network, weight)

    def _after_training(self, data):
        self._choose(self._layout(), data, self._pruned_rows(data))
        return self

    def _held_out_proba(self):
        return self.oof_proba_ if self.cv is not None else None

    _auto_rule = CROSS_FITTED_RULE

    def _checked_proba(self, data):
        if self.cv is None:
            return None  # the race's hold-out chose the members: the rate alone decides
        return data.state.targets.cpu().numpy(), self.oof_proba_  # every row, out of fold

    def _choose(self, layout, data, issues):
        """Score each setting on the hold-out; set ``cv_results_``, ``best_*_`` and the predicting members.

        ``issues``: each member's pruned rows, ``(n_samples, n_members)``.
        """
        stopping = dict(self.callbacks_)["member_early_stopping"]
        # without a validation set (too few rows), on the training rows; with cv, every row in order
        valid = stopping.dataset_valid_ if stopping.dataset_valid_ is not None and self.cv is None else data
        stopping.dataset_valid_ = None  # the training data stays out of the fitted model's pickle
        proba, targets, weight = holdout_member_probabilities(self, valid)
        settings = layout.settings
        if self.cv is None:
            by_setting = layout.by_setting(proba)
        else:  # each row's probabilities from the members of its fold: out of fold
            by_setting = layout.out_of_fold(proba, self.fold_)
        correct = by_setting.argmax(-1) == targets[:, None]
        scores = (correct * weight[:, None]).sum(0) / weight.sum()
        self.best_index_ = int(np.argmax(scores))
        ranked = np.argsort(-scores, kind="stable")[:self._n_ensembled(len(settings))]
        ensemble = layout.members_of(np.sort(ranked))
        if self.cv is None:
            ensemble_correct = proba[:, ensemble].mean(1).argmax(-1) == targets
        else:
            ensemble_correct = by_setting[:, np.sort(ranked)].mean(1).argmax(-1) == targets
        self.ensemble_holdout_score_ = float((ensemble_correct * weight).sum() / weight.sum())
        self.best_params_ = dict(settings[self.best_index_])
        self.best_score_ = float(scores[self.best_index_])
        self.member_label_issues_ = issues
        q = np.ma.masked_array([s.get("q", 0.0) for s in settings], mask=["q" not in s for s in settings])
        self.cv_results_ = {
            "params": [dict(s) for s in settings],
            "param_loss": np.array([s["loss"] for s in settings], dtype=object),
            "param_q": q,
            "holdout_score": scores,
            "rank_holdout_score": rankdata(-scores, method="min").astype(np.int32),  # as GridSearchCV
            "best_epoch": layout.per_setting(stopping.best_epoch_).mean(-1),
            "stopped_behind": layout.per_setting(stopping.stopped_behind_.cpu().numpy()).any(-1),
            "n_epochs": layout.per_setting(stopping.n_epochs_).max(-1),
            "n_label_issues": layout.per_setting(issues)[..., 0].sum(0),  # a setting's first member's
        }
        if self.cv is not None:  # the score's name for what it is; holdout_score kept, the same numbers
            self.cv_results_["oof_score"] = scores
        chosen = layout.members_of(self.best_index_)
        self.predicting_members_ = ensemble if self.ensemble else chosen
        if self.cv is not None:
            settings_kept = np.sort(ranked) if self.ensemble else [self.best_index_]
            self._set_label_quality(by_setting[:, settings_kept].mean(1), targets)
            # for the trees' columns of cv_results_, dropped after fit; a trailing _: restored with the first fit
            self._oof_by_setting_ = by_setting
            return
        flagged = [m for m in ensemble if self.members_[m]["loss"] == "truncated"] if self.ensemble else chosen
        votes = issues[:, flagged].sum(1) if len(flagged) else np.zeros(len(issues))
        self.pruned_rows_ = votes * 2 > max(len(flagged), 1)

    def _set_label_quality(self, oof_proba, targets):
        """``oof_proba_``, and from it ``label_quality_``, ``label_issues_`` and ``label_report_`` (cleanlab)."""
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        oof_proba = oof_proba.astype(np.float64)
        self.oof_proba_ = oof_proba / oof_proba.sum(1, keepdims=True)
        self.label_quality_ = get_label_quality_scores(targets, self.oof_proba_, method=self.label_quality)
        self.label_issues_ = find_label_issues(targets, self.oof_proba_, n_jobs=1)
        # indexed as the rows came: a DataFrame's own index, else positions
        index = getattr(self, "_rows_index", None)
        report = pd.DataFrame({
            "row": np.arange(len(targets)),
            "given_label": self.classes_[targets],
            "suggested_label": self.classes_[self.oof_proba_.argmax(1)],
            "label_quality": self.label_quality_,
            "flagged": self.label_issues_,
        }, index=index if index is not None and len(index) == len(targets) else None)
        self.label_report_ = report.sort_values("label_quality", kind="stable")

    def _n_ensembled(self, n_settings):
        """How many of the best settings the ensemble averages."""
        if isinstance(self.ensemble, (bool, np.bool_)):
            return -(-n_settings // 2)  # the better half
        return min(int(self.ensemble), n_settings)

    # ------------------------------------------------- the estimator's own
    def initialize_module(self):
        super().initialize_module()
        self._check_member_module(self.module_)
        return self

    def _default_module(self, **sizes):
        return MemberMLP(**sizes, n_members=self._n_members,
                         **{**self._network_defaults(), **self.get_params_for("module")})

    def _network_defaults(self):
        # Cross-fitted members are averaged: narrower ones cost about 0.6x the time of members of
        # GCEClassifier's width and, averaged, predict about as well (issue 23's screen); a grid's
        # narrower still, so that two settings cost about 1.2x one.
        defaults = super()._network_defaults()
        if self.cv is None:
            return defaults
        hidden = _CROSS_FITTED_HIDDEN_SIZES if len(self._settings()) == 1 else _CROSS_FITTED_GRID_HIDDEN_SIZES
        return {"hidden_sizes": hidden, **defaults}

    def _module_sizes(self):
        return {"n_members": self._n_members}

    def _check_member_module(self, module):
        n = self._n_members
        if getattr(module, "n_members", None) != n:
            raise ValueError(
                f"GCEClassifierCV's module must have n_members={n} (one per setting and copy); "
                f"got {getattr(module, 'n_members', None)!r}."
            )
        if self.cv is not None and shares_weights(module):
            raise ValueError(
                "With cv, every member must have weights of its own: a trunk shared by the members "
                "(module__shared_blocks > 0) trains on every fold's labels, so no probability would "
                "be out of fold. Set module__shared_blocks=0 or cv=None."
            )
        wrong = [name for name, t in member_slices(module).items() if t.ndim == 0 or t.shape[0] != n]
        if wrong:
            raise ValueError(
                f"Every weight of GCEClassifierCV's module must have the member as first dimension "
                f"(size {n}), or be named in the module's shared_state; these are not: {wrong}."
            )

    # verbose=1: a bar over each epoch's batches (a pass of every member is long) and one line per epoch,
    # without the per-member lists (their best epoch's scores are in the history)
    _progress_bar_from = 1
    _log_ignores = ("member_valid_loss", "member_valid_acc")

    def _make_criterion(self, options):
        members = [(m["loss"], m.get("q", 1.0)) for m in self._layout().members]
        return self._corrected(MemberLoss(members, k=self.k, **options))

    def _own_callbacks(self):
        callbacks = []
        if isinstance(self.early_stopping, (bool, np.bool_)) and isinstance(self.n_iter_no_change, Integral):
            behind = None if self.ensemble else self.n_iter_no_change_behind
            try:  # a setting's members race as one (read by get_params before fit validates)
                size = self._layout().group_size
            except (TypeError, ValueError):
                size = 1
            callbacks.append(("member_early_stopping", MemberEarlyStopping(
                self.n_iter_no_change, stop_early=bool(self.early_stopping),
                patience_behind=behind if isinstance(behind, Integral) else None, group_size=size)))
        # read by get_params and set_params, before fit has validated losses
        losses = self.losses if isinstance(self.losses, (list, tuple, np.ndarray)) else [self.losses]
        if any(isinstance(name, str) and name == "truncated" for name in losses):
            callbacks.append(("truncation_pruning", TruncationPruning()))
        return callbacks

    def _mean_penalty(self, penalty, weight):
        # each member's mean, summed, as the members' losses are
        return self.criterion_.reduce(penalty, weight)

    def predict_member_proba(self, X):
        """Every member's class probabilities for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or torch Dataset
            As for :meth:`predict_proba`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_members, n_classes)
            Members in the order of ``members_``; ``predict_proba`` is the
            mean over the predicting members (``predicting_members_``),
            combined with the trees' where trees were trained.
        """
        check_is_fitted(self)
        return self._predict_proba(X, softmax)

    def validation_step(self, batch, **fit_params):
        evaluate = getattr(self.module_, "set_evaluated_members", None)
        if self.cv is None or not callable(evaluate) or getattr(batch, "state", None) is None:
            return super().validation_step(batch, **fit_params)
        # each member is validated on its own fold's rows: compute only the members of this batch's folds
        # that are still training
        members = batch.state.member_rows.members_validated_on(batch.rows)
        if not len(members):  # every member of these folds has stopped: nothing to compute
            weight = next(self.module_.parameters())  # the network's device and dtype
            logits = weight.new_zeros(len(batch.rows), self._n_members, len(self.classes_))
            return {"loss": logits.sum(), "y_pred": logits}
        evaluate(members)
        try:
            return super().validation_step(batch, **fit_params)
        finally:
            evaluate(None)

    def _run_training(self, data, reinitialize):
        self.__dict__.pop("predicting_members_", None)  # while training, scorers see every member
        super()._run_training(data, reinitialize)

    def _probabilities(self):
        members = getattr(self, "predicting_members_", None)
        if members is None:  # while training: every member
            members = np.arange(self._n_members)
        return MemberAverage(members)
