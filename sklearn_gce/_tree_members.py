"""Gradient-boosted tree members of ``GCEClassifierCV`` (``tree_members``): cross-fitted, combined out of fold.

After the networks are trained and chosen, one LightGBM model (cross
entropy) is boosted per fold ``f`` on the rows outside fold ``f`` and read
at two early stops on rows of those training folds (never on fold ``f``),
which it then does not train on: where their log loss is lowest and where
their error rate is. The stopping rows are those
:func:`~sklearn_gce._layout.stopping_folds` gives fold ``f``'s members. Each
row's tree probabilities are the mean of its fold's model at the two stops,
so they are out of fold as the networks' are. A convex weight between the
two families is chosen on the out-of-fold accuracy of the given labels
(:func:`choose_tree_weight`). One more model, boosted on every row, is read
at the folds' mean number of rounds of each stop, and predicts. Nothing
here knows of the networks: the estimator passes the encoded ``X``, the
labels, the folds and the networks' out-of-fold probabilities.
"""

import inspect

import numpy as np
from scipy import sparse

from ._layout import fold_rows

__all__ = ["STOPPING_METRICS", "TREE_WEIGHTS", "TreeMembers", "choose_tree_weight", "combine", "require_lightgbm"]

# The convex weights of the trees tried out of fold, ascending: a tie goes to the first, the fewer trees.
TREE_WEIGHTS = tuple(i / 10 for i in range(11))

# Where each fold's model is read: the log loss of the stopping rows turns early, the more so under
# noise; their error rate can go on falling after it (flights and storms with clean labels, issue 42).
STOPPING_METRICS = ("logloss", "error")

# LightGBM's settings for a careful peer: its default steps, many of them, stopped early on held-out rows.
_LGBM_OPTIONS = {"learning_rate": 0.1, "n_estimators": 2000, "verbose": -1}
_PATIENCE = 50
_ROUNDS_WITHOUT_STOPPING_ROWS = 100  # a fold with no stopping rows (a tiny table) trains this many rounds


def require_lightgbm():
    """The ``lightgbm`` module, or an ImportError that says how to install it."""
    try:
        import lightgbm
    except ImportError as exc:
        raise ImportError(
            "GCEClassifierCV's tree members need LightGBM (a dependency of sklearn-gce): pip install lightgbm"
        ) from exc
    return lightgbm


def _as_lightgbm_input(X):
    """A sparse ``X`` as the ``csr_matrix`` LightGBM takes without a copy and a warning (a ``csr_array`` is not)."""
    return sparse.csr_matrix(X) if sparse.issparse(X) and not isinstance(X, sparse.csr_matrix) else X


def _eval_options(model, X, y):
    """The stopping rows as ``fit`` takes them: ``eval_X``/``eval_y`` (LightGBM >= 4.7), else ``eval_set``."""
    if "eval_X" in inspect.signature(model.fit).parameters:
        return {"eval_X": (X,), "eval_y": (y,)}
    return {"eval_set": [(X, y)]}


class _Prior:
    """A fold's stand-in where its training rows hold a single class: that class's probability 1."""

    def __init__(self, cls):
        self.classes_ = np.array([cls])

    def predict_proba(self, X, num_iteration=None):
        return np.ones((X.shape[0], 1))


class _StopEachMetric:
    """A LightGBM callback: ``lightgbm.early_stopping`` for each metric of the stopping rows apart.

    Each metric's best round is its first strictly lowest value before
    ``patience`` rounds without one, as ``lightgbm.early_stopping(patience)``
    finds it with that metric alone; the boosting ends once every metric has
    stopped; :meth:`rounds` gives each metric's best number of rounds.
    """

    order = 30  # where lightgbm.early_stopping runs

    def __init__(self, patience):
        self.patience = patience
        self.best_ = {}  # metric name: [best iteration, its value, stopped]

    def __call__(self, env):
        for _, name, value, *_ in env.evaluation_result_list:
            best = self.best_.setdefault(name, [env.iteration, value, False])
            if best[2]:
                continue
            if value < best[1]:
                best[:2] = env.iteration, value
            elif env.iteration - best[0] >= self.patience:
                best[2] = True
        if all(stopped for _, _, stopped in self.best_.values()):
            raise require_lightgbm().callback.EarlyStopException(
                max(iteration for iteration, _, _ in self.best_.values()), env.evaluation_result_list)

    def rounds(self, names):
        """The best number of rounds of each metric in ``names``."""
        return tuple(self.best_[name][0] + 1 for name in names)


class TreeMembers:
    """One LightGBM model per fold, trained outside its fold (out-of-fold probabilities), and one on every row.

    Each is read at two numbers of rounds, chosen by early stopping on the
    log loss and on the error rate (``STOPPING_METRICS``); its probabilities
    are the mean of the two.

    Parameters
    ----------
    n_classes : int
        Number of classes; targets are positions ``0..n_classes-1``.
    categorical_columns : list of int
        Columns of the encoded ``X`` that hold category codes (LightGBM
        splits them as categories; a code ``-1`` is missing).
    seed : int
        LightGBM's ``random_state`` and the draw of the stopping rows.
    n_threads : int, default=1
        LightGBM's threads (``n_jobs``); the estimator passes PyTorch's.
    """

    def __init__(self, n_classes, categorical_columns=(), seed=0, n_threads=1):
        self.n_classes = int(n_classes)
        self.categorical_columns = list(categorical_columns)
        self.seed = int(seed)
        self.n_threads = int(n_threads)

    def fit(self, X, targets, sample_weight, fold, stop_fold):
        """Fit fold ``f``'s trees on the rows outside fold ``f``, stopping early on some of those.

        ``stop_fold`` says which fold's trees stop on each row
        (:func:`~sklearn_gce._layout.stopping_folds`). Returns the trees'
        out-of-fold probabilities, ``(n_samples, n_classes)``.
        """
        X = _as_lightgbm_input(X)
        targets = np.asarray(targets)
        weight = np.asarray(sample_weight, dtype=np.float64)
        categorical = self.categorical_columns or "auto"
        self.models_, self.rounds_, oof = [], [], np.zeros((len(targets), self.n_classes))
        for f in range(int(fold.max()) + 1):
            train, stop, scored = fold_rows(fold, stop_fold, f)
            classes = np.unique(targets[train])
            if len(classes) < 2:
                model, rounds = _Prior(classes[0]), None
            else:
                # stopping rows of a class the trees never train on cannot be scored: left out
                stop = stop[np.isin(targets[stop], classes)]
                model = self._model()
                options = {"sample_weight": weight[train], "categorical_feature": categorical}
                if len(stop):
                    names = [f"{'binary' if len(classes) == 2 else 'multi'}_{m}" for m in STOPPING_METRICS]
                    stopping = _StopEachMetric(_PATIENCE)
                    model.set_params(metric=names)
                    options.update(_eval_options(model, X[stop], targets[stop]), eval_sample_weight=[weight[stop]],
                                   callbacks=[stopping])
                else:
                    model.set_params(n_estimators=_ROUNDS_WITHOUT_STOPPING_ROWS)
                model.fit(X[train], targets[train], **options)
                rounds = (stopping.rounds(names) if len(stop)
                          else (_ROUNDS_WITHOUT_STOPPING_ROWS,) * len(STOPPING_METRICS))
            self.models_.append(model)
            self.rounds_.append(rounds)
            if len(scored):
                oof[scored] = self._model_proba(model, X[scored], rounds)
        self._fit_on_every_row(X, targets, weight, categorical)
        return oof

    def _fit_on_every_row(self, X, targets, weight, categorical):
        """``model_``: trees on every row, read at the folds' mean number of rounds of each stop (what predicts).

        The fold models train on about 70% of the rows; as after ``lightgbm.cv``,
        the number of rounds they chose trains one model on all of them.
        """
        chosen = np.array([rounds for rounds in self.rounds_ if rounds is not None]).reshape(-1, len(STOPPING_METRICS))
        self.n_estimators_ = (tuple(max(1, int(round(r))) for r in chosen.mean(0)) if len(chosen)
                              else (_ROUNDS_WITHOUT_STOPPING_ROWS,) * len(STOPPING_METRICS))
        self.model_ = self._model(n_estimators=max(self.n_estimators_))
        self.model_.fit(X, targets, sample_weight=weight, categorical_feature=categorical)

    def _model(self, **options):
        """An unfitted LightGBM model: ``_LGBM_OPTIONS``, ``options`` over them, these trees' threads and seed."""
        return require_lightgbm().LGBMClassifier(**{**_LGBM_OPTIONS, **options}, n_jobs=self.n_threads,
                                                 random_state=self.seed)

    def _model_proba(self, model, X, rounds):
        """A model's mean probabilities at ``rounds``, a column for every class (0 for those it never saw)."""
        proba = np.zeros((X.shape[0], self.n_classes))
        proba[:, np.asarray(model.classes_, dtype=int)] = np.mean(
            [model.predict_proba(X, num_iteration=r) for r in sorted(set(rounds or (None,)))], axis=0)
        return proba

    def predict_proba(self, X):
        """The probabilities of the trees trained on every row (``model_``), ``(n_samples, n_classes)``."""
        return self._model_proba(self.model_, _as_lightgbm_input(X), self.n_estimators_)

    def fold_mean_proba(self, X):
        """The mean over the folds' models of their probabilities: what ``model_`` is measured against."""
        X = _as_lightgbm_input(X)
        return np.mean([self._model_proba(model, X, rounds) for model, rounds in zip(self.models_, self.rounds_)],
                       axis=0)


def combine(tree_proba, network_proba, weight):
    """``weight * tree_proba + (1 - weight) * network_proba``; either alone at weight 1 or 0."""
    if weight == 0:
        return network_proba
    if weight == 1:
        return np.asarray(tree_proba, dtype=network_proba.dtype)
    return (weight * tree_proba + (1 - weight) * network_proba).astype(network_proba.dtype)


def choose_tree_weight(tree_oof, network_oof, targets, sample_weight, weights=TREE_WEIGHTS):
    """The weight of ``weights`` whose combination predicts the given labels best out of fold.

    Accuracy is weighted by ``sample_weight``; a tie goes to the first
    (smallest) weight. Returns ``(weight, scores)``, the scores in the order
    of ``weights``.

    Examples
    --------
    >>> import numpy as np
    >>> trees = np.array([[0.3, 0.7], [0.2, 0.8]])  # right on the second row only
    >>> networks = np.array([[0.9, 0.1], [0.9, 0.1]])  # right on the first row only
    >>> w, scores = choose_tree_weight(trees, networks, np.array([0, 1]), np.array([1.0, 3.0]))
    >>> w, scores.tolist()  # 0.6: both rows right
    (0.6, [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 1.0, 0.75, 0.75, 0.75, 0.75])
    """
    targets = np.asarray(targets)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    scores = np.array([
        ((combine(tree_oof, network_oof, w).argmax(1) == targets) * sample_weight).sum() / sample_weight.sum()
        for w in weights
    ])
    return float(weights[int(np.argmax(scores))]), scores
