"""``GCEClassifierCV``: a grid of ``q`` values and losses trained in one pass, chosen on the hold-out or, cross-fitted, out of fold."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import _fit_context
from sklearn.model_selection import ParameterGrid, StratifiedKFold, check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import Subset

from ._base import BaseGCEClassifier, softmax, with_core_parameters
from ._member_stopping import MemberEarlyStopping, holdout_member_probabilities, shares_weights
from ._pruning import TruncationPruning
from ._stacked import MemberAverage, MemberLoss, MemberMLP, member_slices
from .losses import LOSSES, Q_LOSSES, loss_grid

__all__ = ["GCEClassifierCV"]

# The default members' hidden layers with ``cv``: one setting's, and those of a grid of several,
# narrower so that its pass costs about what one setting's does; without ``cv``, MLP's (256, 256).
_CROSS_FITTED_HIDDEN_SIZES = (96, 96)
_CROSS_FITTED_GRID_HIDDEN_SIZES = (64, 64)


class _EveryRow:
    """The validation split of cross-fitting: every row, each member scoring the rows of its own fold.

    The validation rows go fold after fold, so that a batch holds the rows
    of one fold (two where it straddles) and computes its members alone.
    """

    def __call__(self, dataset, y=None, **fit_params):
        by_fold = np.argsort(np.asarray(dataset.state.folds[0]), kind="stable")  # the host copy of the folds
        return dataset, Subset(dataset, by_fold)


@with_core_parameters
class GCEClassifierCV(BaseGCEClassifier):
    """A grid of ``q`` values and losses, trained at once, the best chosen out of fold or on the hold-out.

    By default (``cv=5``, ``qs=(0.2, 0.8)``, ``losses=('gce',)``) it is a
    bag for tables: two settings, a low ``q`` that fits the hard rows of
    clean tables and ``q=0.8`` that resists noise, each cross-fitted as five
    members in one pass; the ``q`` whose members predict the given labels
    better out of fold is kept, and predicts with the mean of its five
    members. Every training row also gets an out-of-fold label-quality
    score (``label_quality_``, ``label_issues_``, ``label_report_``). On
    ``benchmarks/accuracy.py`` (nine tables; clean, 40% symmetric and 20%
    pair-flip labels; three seeds) it scored 2.3 points above the default
    :class:`~sklearn_gce.GCEClassifier` on average (better in 72 of 81 fits)
    and 1.9 above this estimator's defaults of 0.2 (72 of 81), at 2.15x the
    former's fit time and 1.3x the latter's (timed in one run,
    ``benchmarks/bagged_members.py``). ``cv=None`` with a wider grid is the
    race of 0.2: every setting on the same rows, chosen on a hold-out.

    Where ``GridSearchCV(GCEClassifier(), {"q": qs, "loss": losses}, cv=3)``
    trains ``3 * len(qs) * len(losses) + 1`` networks one after the other,
    this estimator trains one network per setting, all in a single pass: the
    members' weights are stacked (:class:`~sklearn_gce.MemberMLP`), every
    batch goes through all of them, the loss is the sum of their losses
    (:class:`~sklearn_gce.MemberLoss`) and one optimiser step updates them
    all. Because the members share no weight and the optimiser acts
    element-wise, each trains as it would on its own; early stopping runs
    per member, and each keeps the weights of its own best epoch. The best
    setting is then chosen by its accuracy on the early-stopping hold-out
    (``cv=None``) or on every row, out of fold (``cv``).

    The hold-out labels are as noisy as the training labels, and the
    choice is made on them, never on clean labels. Accuracy on noisy labels
    ranks models as their accuracy on clean labels does when the noise flips a label
    towards the other classes less often than it keeps it: under symmetric
    noise of rate ``r`` over ``K`` classes the expected noisy accuracy is
    ``(1 - r) a + r (1 - a) / (K - 1)``, increasing in the clean accuracy ``a``
    for any ``r < (K - 1) / K`` (Chen et al., ICML 2019). The members' losses
    on the hold-out cannot be compared with each other (their scales differ
    with ``q`` and the loss), which is why each member uses its own loss only
    to stop early.

    Parameters are those of :class:`~sklearn_gce.GCEClassifier`, with the
    grid in place of ``loss`` and ``q``, as ``LogisticRegressionCV`` takes
    ``Cs`` in place of ``C``.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        ``None`` builds a :class:`~sklearn_gce.MemberMLP` sized from the data
        (options with ``module__*``, as for ``GCEClassifier``'s ``MLP``; its
        members are MLPs without ``GCEClassifier``'s additive member, i.e.
        ``GCEClassifier(module__additive_member=False)``); with ``cv``, of
        hidden layers ``(96, 96)`` for one setting and ``(64, 64)`` for
        several, instead of ``(256, 256)``: averaged, narrower members train
        in about 0.6x the time and predict about as well (chosen on the
        tuning seeds, ``benchmarks/bagged_members.py``: one setting, +2.3
        points over the default ``GCEClassifier`` at 1.9x its fit time,
        against +2.1 at 3.4x for members of its width; over all seeds of
        ``benchmarks/accuracy.py``, +0.3 points over full width under noise,
        -0.2 with clean labels; two settings 64 wide cost about 1.2x one
        setting 96 wide). A
        module of your own takes ``n_members`` (and, if it wants them,
        ``n_features`` and ``n_classes``), returns logits of shape ``(batch,
        n_members, n_classes)``, and has every parameter and buffer stacked
        with the member as first dimension, except those named in its
        attribute ``shared_state`` (a tuple of state-dict keys). With
        ``cv``, ``n_members`` counts every fold's members too, and no
        trained weight may be shared (a shared trunk would see every fold's
        labels).
    qs : sequence of float, default=(0.2, 0.8)
        Exponents of the Lq losses, each in ``(0, 1]``. The default pairs a
        low ``q``, chosen out of fold where the labels look clean (with clean
        labels one ``GCEClassifier(q=0.2)`` scored 1.8 to 5.5 points above
        ``q=0.8`` on three tables where trees lead, tuning seeds 0 and 1),
        with ``q=0.8``, chosen mostly under noise.
        Until 0.2: ``(0.3, 0.5, 0.7, 0.9, 1.0)``.
    losses : sequence of str, default=('gce',)
        Losses of :mod:`sklearn_gce.losses` (names as for ``GCEClassifier``).
        ``'gce'`` and ``'truncated'`` get one setting per ``q``; any other
        loss one setting. Until 0.2: ``('gce', 'truncated')``.
    ensemble_size : int, default=1
        Members trained per setting, from different initialisations; a
        setting predicts with the mean of its members' probabilities (TabM's
        recipe, Gorishniy et al., ICLR 2025, uses 32 members of one setting:
        ``cv=None, qs=(0.8,), losses=('gce',), ensemble_size=32``). With ``cv``, 2
        gives better ``label_issues_`` for about 1.45x the time (see the user
        guide, "Which training labels are wrong").
    ensemble : bool or int, default=False
        Predict with the mean of the probabilities of the best settings'
        members on the hold-out instead of the chosen setting's: ``True``,
        the better half of the settings; an int ``n``, the ``n`` best.
        On 24 recorded fits of three tables (seeds 0 and 1; no label noise,
        40% symmetric, pair-flip and instance noise) the better half scored
        86.4% on clean labels on average, the chosen setting 83.6%, the
        mean of every member 86.1% and members picked greedily on the noisy
        hold-out (Caruana et al., 2004) 84.9%
        (``benchmarks/results/member_race.md``).
    n_iter_no_change_behind : int or None, default=3
        The members race: a setting whose accuracy on the held-out labels
        (at its best epoch so far) trails the best setting's stops after
        this many epochs without improving its held-out loss, instead of
        ``n_iter_no_change``, as successive halving drops the candidates
        that fall behind. The epochs go to the settings that can still be
        chosen. The default (3) was chosen among 2 to 10, margins and rules
        of successive halving, replayed on recorded fits of three tables
        under four noise types (seeds 0 and 1): on seed 2 it cost 0.18
        points of clean accuracy on average for 2.2x less time
        (``benchmarks/results/member_race.md``). ``None``: every member
        runs to its own early stopping. Not used with ``ensemble`` (the
        ensemble needs its members trained), with ``early_stopping=False``
        or when the members share weights.
    cv : int, cross-validation splitter or None, default=5
        ``None`` (the default until 0.2): the members train on the same rows and are chosen on
        ``validation_fraction`` of them, held out. An int ``k`` (or a
        splitter such as ``StratifiedKFold``, which gets ``y`` and the row
        count only): **cross-fitting** in one pass. Every setting gets ``k``
        members (times ``ensemble_size``), member ``f`` trained on the rows
        outside fold ``f`` and stopping early on the rows inside it, all on
        the same batches. Every training row then has an out-of-fold
        probability vector (``oof_proba_``), from members that never trained
        on it; settings are chosen on the out-of-fold accuracy of all rows;
        predictions are the mean of the chosen setting's ``k`` members
        (bagging: every row trains someone, nothing is held out for good);
        and the per-row results ``label_quality_``, ``label_issues_`` (by
        confident learning, for any loss) and ``label_report_`` are set.
        ``GCEClassifierCV(cv=5, qs=(0.8,), losses=("gce",))`` is one
        setting cross-fitted. Each member is validated on its own fold's rows
        alone, the validation batches going fold after fold, and no longer
        once it has stopped: skorch's ``valid_loss`` in the history then
        holds, per batch, the loss of that batch's fold's members still
        training (about ``1/k`` of what a batch of every fold would hold, 0
        once they have all stopped); each member's own is
        ``member_valid_loss`` (its best epoch's after it stopped).
    label_quality : {'self_confidence', 'normalized_margin', 'confidence_weighted_entropy'}, default='self_confidence'
        With ``cv``: the score of ``label_quality_``, computed by cleanlab's
        ``get_label_quality_scores`` from the out-of-fold probabilities (low:
        the label is likely wrong). ``'self_confidence'`` is the out-of-fold
        probability of the given label; ``'normalized_margin'`` that minus
        the largest other class's, rescaled to ``[0, 1]``.
    noise_correction : {None, 'forward', 'auto'}, default='auto'
        As for :class:`~sklearn_gce.GCEClassifier`, decided once for all
        members: the transition matrix is estimated from the predicting
        members' probabilities of the training rows (the chosen setting's,
        or the ensemble's; out of fold with ``cv``); where it corrects, every
        member trains again through it and the choice is made again, on the
        mean of both passes under ``'auto'``. With ``cv``, ``'auto'`` then
        drops the correction where that mean predicts the given out-of-fold
        labels significantly worse than the first pass (McNemar's test,
        one-sided 5%: a wrong matrix, say from a class too rare to estimate
        its row): the first pass's fit is restored (its network, history,
        optimiser state and results; callback instances passed in
        ``callbacks`` keep what the corrected pass left), ``noise_correction_``
        is ``None`` and ``transition_matrix_`` stays, for a look.
    k, prune_start, prune_every, max_epochs, early_stopping, validation_fraction, n_iter_no_change, elr_lambda, elr_beta, lr, batch_size, optimizer, device, random_state, verbose, callbacks, train_split, criterion, **kwargs
        As for :class:`~sklearn_gce.GCEClassifier`, for every member.
        Without ``cv``, ``fit`` always holds out ``validation_fraction`` of
        the rows (the choice needs them), or validates on ``train_split``'s
        rows when set; ``early_stopping=False`` trains every member for
        ``max_epochs`` and chooses on their last epoch.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        One entry per setting, in the order ``losses`` x ``qs``:
        ``params`` (dicts), ``param_loss``, ``param_q`` (masked where the
        loss has no q), ``holdout_score`` (accuracy on the noisy hold-out of
        the setting's averaged members; with ``cv``, on every row, out of
        fold), ``rank_holdout_score``,
        ``best_epoch`` (mean over the setting's members),
        ``stopped_behind`` (whether the race stopped it, see
        ``n_iter_no_change_behind``), ``n_epochs`` (how many it trained)
        and ``n_label_issues`` (rows pruned by the setting's first member;
        with ``cv``, over every row, its own fold's included).
    best_index_ : int
        Index in ``cv_results_`` of the chosen setting (the highest
        ``holdout_score``; ties go to the first).
    best_params_ : dict
        ``{"loss": ..., "q": ...}`` of the chosen setting (no ``q`` for a
        loss without one).
    best_score_ : float
        Its ``holdout_score``.
    ensemble_holdout_score_ : float
        Accuracy on the noisy hold-out of the ensemble: the members that
        ``ensemble`` averages (the better half of the settings with
        ``ensemble=False``, as trained).
    members_ : list of dict
        The setting of each member, in the order of the network's member
        dimension (see :meth:`predict_member_proba`).
    predicting_members_ : ndarray of int
        The members whose probabilities ``predict_proba`` averages: those
        of the chosen setting, or of the ensemble's settings.
    member_label_issues_ : ndarray of bool, shape (n_samples, n_members)
        Each truncated member's suspected label errors (see
        ``GCEClassifier.label_issues_``); all ``False`` for other members.
    label_issues_ : ndarray of bool, shape (n_samples,)
        The suspected label errors among the training rows. With ``cv``:
        found by confident learning (cleanlab's ``find_label_issues``) on
        ``oof_proba_``, for any loss, every row included. Without: the rows
        flagged by most truncated members of the chosen setting (of the
        ensemble's with ``ensemble``), as ``GCEClassifier(loss='truncated')``
        flags them; none for other losses.
    oof_proba_ : ndarray of shape (n_samples, n_classes)
        With ``cv``: each training row's probabilities from the chosen
        setting's members that never trained on it (those of its fold;
        the ensemble's settings' with ``ensemble``). Columns follow ``classes_``.
        Where ``noise_correction`` trained again through the estimated
        matrix (``noise_correction_ == 'forward'``), they, and the per-row
        results below, come from the corrected networks (under ``'auto'``,
        the mean of them and the first ones), as the prediction does: at
        40% pair-flip noise these gave better flags than the first networks
        alone (see the user guide's "Which training labels are wrong").
    label_quality_ : ndarray of shape (n_samples,)
        With ``cv``: a score in ``[0, 1]`` per training row, low where the
        label is likely wrong (see ``label_quality``).
    label_report_ : pandas.DataFrame
        With ``cv``: one row per training row, most doubtful first:
        ``row`` (position in the training data), ``given_label``,
        ``suggested_label`` (the out-of-fold prediction),
        ``label_quality`` and ``flagged`` (``label_issues_``).
    fold_ : ndarray of int, shape (n_samples,)
        With ``cv``: the fold of each training row (whose members never
        trained on it).
    transition_matrix_, noise_correction_
        As for ``GCEClassifier`` (see ``noise_correction``).
    classes_, n_features_in_, feature_names_in_, encoder_, module_, criterion_, optimizer_, history_
        As for ``GCEClassifier``. The history's ``valid_acc`` is the best
        member's accuracy on the noisy hold-out at each epoch.

    See Also
    --------
    sklearn_gce.GCEClassifier : One network, one setting.
    sklearn.model_selection.GridSearchCV : The general, slower way to choose.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import GCEClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GCEClassifierCV(max_epochs=20, random_state=0).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> sorted(clf.best_params_), clf.cv_results_["holdout_score"].shape
    (['loss', 'q'], (2,))

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
    }
    _loss_parameter = "losses"

    def __init__(self, module=None, *, qs=(0.2, 0.8), losses=("gce",),
                 ensemble_size=1, ensemble=False, n_iter_no_change_behind=3, cv=5,
                 label_quality="self_confidence", **kwargs):
        super().__init__(module, **kwargs)
        self.cv = cv
        self.label_quality = label_quality
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
        return len(self._settings()) * self._members_per_setting()

    def _members_per_setting(self):
        """A setting's members: its copies (``ensemble_size``), times the folds with ``cv``."""
        return self.ensemble_size * self._n_folds()

    def _n_folds(self):
        """Members per setting and copy: one per fold with ``cv``, else one."""
        if self.cv is None:
            return 1
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
        with self._fitted_state_kept_on_error():
            settings = self._settings()
            X, y = self._validate_inputs(X, y, reset=not warm)
            targets = self._encode_labels(y, reset=not warm)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            folds = None
            if self.cv is not None:
                if self.train_split:
                    raise ValueError("Set cv or train_split, not both: each chooses the rows the members "
                                     "are validated on.")
                if not (warm and len(getattr(self, "fold_", ())) == len(targets)):
                    # a warm fit keeps its folds: no member is validated on rows it trained on
                    self.fold_ = self._folds(targets, seed)
                hold_out = _EveryRow()
            else:
                hold_out = self._hold_out(targets, seed)
            if hold_out is None and not self.train_split:
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
            self.members_ = [dict(s) for s in settings for _ in range(self.ensemble_size)]
            if self.cv is not None:
                self.members_ = [dict(member, fold=f) for member in self.members_ for f in range(self._n_folds())]
                folds = (self.fold_, np.array([member["fold"] for member in self.members_]))
            else:
                self.__dict__.pop("fold_", None)
            data = self._training_data(X, y, targets, sample_weight, hold_out, n_members=len(self.members_),
                                       folds=folds)
        return self._train_correcting(data, seed, targets, warm)

    def _after_training(self, data):
        self._choose(self._settings(), data, self._pruned_rows(data))
        return self

    def _held_out_proba(self):
        return self.oof_proba_ if self.cv is not None else None

    def _holds_out(self):
        return True  # the choice needs held-out rows, with or without early stopping

    def _choose(self, settings, data, issues):
        """Score each setting on the hold-out; set ``cv_results_``, ``best_*_`` and the predicting members.

        ``issues``: each member's pruned rows, ``(n_samples, n_members)``.
        """
        stopping = dict(self.callbacks_)["member_early_stopping"]
        # without a validation set (too few rows), on the training rows; with cv, every row in order
        valid = stopping.dataset_valid_ if stopping.dataset_valid_ is not None and self.cv is None else data
        stopping.dataset_valid_ = None  # the training data stays out of the fitted model's pickle
        proba, targets, weight = holdout_member_probabilities(self, valid)
        # the members of a setting: its copies, and with cv each copy's folds
        size = self._members_per_setting()
        if self.cv is None:
            by_setting = proba.reshape(len(proba), len(settings), size, -1).mean(2)
        else:  # each row's probabilities from the members of its fold: out of fold
            per_fold = proba.reshape(len(proba), len(settings), self.ensemble_size, self._n_folds(), -1)
            index = self.fold_.reshape(-1, 1, 1, 1, 1)
            by_setting = np.take_along_axis(per_fold, index, axis=3)[:, :, :, 0].mean(2)
        correct = by_setting.argmax(-1) == targets[:, None]
        scores = (correct * weight[:, None]).sum(0) / weight.sum()
        self.best_index_ = int(np.argmax(scores))
        ranked = np.argsort(-scores, kind="stable")[:self._n_ensembled(len(settings))]
        ensemble = (np.sort(ranked)[:, None] * size + np.arange(size)).ravel()
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
            "best_epoch": stopping.best_epoch_.reshape(len(settings), size).mean(1),
            "stopped_behind": stopping.stopped_behind_.cpu().numpy().reshape(len(settings), size).any(1),
            "n_epochs": stopping.n_epochs_.reshape(len(settings), size).max(1),
            "n_label_issues": issues[:, ::size].sum(0),
        }
        chosen = np.arange(self.best_index_ * size, (self.best_index_ + 1) * size)
        self.predicting_members_ = ensemble if self.ensemble else chosen
        if self.cv is not None:
            settings_kept = np.sort(ranked) if self.ensemble else [self.best_index_]
            self._set_label_quality(by_setting[:, settings_kept].mean(1), targets)
            return
        flagged = [m for m in ensemble if self.members_[m]["loss"] == "truncated"] if self.ensemble else chosen
        votes = issues[:, flagged].sum(1) if len(flagged) else np.zeros(len(issues))
        self.label_issues_ = votes * 2 > max(len(flagged), 1)

    def _set_label_quality(self, oof_proba, targets):
        """``oof_proba_``, and from it ``label_quality_``, ``label_issues_`` and ``label_report_`` (cleanlab)."""
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        oof_proba = oof_proba.astype(np.float64)
        self.oof_proba_ = oof_proba / oof_proba.sum(1, keepdims=True)
        self.label_quality_ = get_label_quality_scores(targets, self.oof_proba_, method=self.label_quality)
        self.label_issues_ = find_label_issues(targets, self.oof_proba_, n_jobs=1)
        report = pd.DataFrame({
            "row": np.arange(len(targets)),
            "given_label": self.classes_[targets],
            "suggested_label": self.classes_[self.oof_proba_.argmax(1)],
            "label_quality": self.label_quality_,
            "flagged": self.label_issues_,
        })
        self.label_report_ = report.sort_values("label_quality", kind="stable").reset_index(drop=True)

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

    def _own_name(self, name):
        return "qs" if name == "q" else name

    def _make_criterion(self, options):
        members = [(s["loss"], s.get("q", 1.0)) for s in self._settings() for _ in range(self._members_per_setting())]
        return self._corrected(MemberLoss(members, k=self.k, **options))

    def _own_callbacks(self):
        callbacks = []
        if isinstance(self.early_stopping, (bool, np.bool_)) and isinstance(self.n_iter_no_change, Integral):
            behind = None if self.ensemble else self.n_iter_no_change_behind
            try:  # a setting's members race as one (read by get_params before fit validates)
                size = int(self._members_per_setting())
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
            mean over the predicting members (``predicting_members_``).
        """
        check_is_fitted(self)
        return self._predict_proba(X, softmax)

    def validation_step(self, batch, **fit_params):
        evaluate = getattr(self.module_, "set_evaluated_members", None)
        if self.cv is None or not callable(evaluate) or getattr(batch, "state", None) is None:
            return super().validation_step(batch, **fit_params)
        # each member is validated on its own fold's rows: compute only the members of this batch's folds
        # that are still training
        members = batch.state.members_validated_on(batch.rows)
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
