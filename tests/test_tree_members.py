"""GCEClassifierCV(tree_members='lightgbm'): LightGBM cross-fitted beside the networks, combined out of fold."""

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_gce import GCEClassifierCV
from sklearn_gce._layout import fold_rows, stopping_folds
from sklearn_gce._tree_members import (STOPPING_METRICS, TREE_WEIGHTS, TreeMembers, _eval_options, choose_tree_weight,
                                       combine)

lightgbm = pytest.importorskip("lightgbm")

FAST = dict(qs=(0.8,), max_epochs=4, noise_correction=None, random_state=0)


def _data(digits, n=400):
    X, y = digits
    return X[:n], y[:n]


@pytest.fixture(scope="module")
def tree_fit(digits):
    X, y = _data(digits)
    return GCEClassifierCV(cv=KFold(5), tree_members="lightgbm", **FAST).fit(X, y)


def test_each_rows_tree_probabilities_come_from_its_folds_trees_which_never_saw_its_labels(digits, tree_fit):
    X, y = _data(digits)
    trees = tree_fit.tree_members_
    assert len(trees.models_) == 5
    for f in range(5):
        rows = tree_fit.fold_ == f
        model, rounds = trees.models_[f], trees.rounds_[f]
        both = [model.predict_proba(X[rows], num_iteration=r) for r in rounds]
        np.testing.assert_allclose(tree_fit.tree_oof_proba_[rows], (both[0] + both[1]) / 2)
    # fold 0's labels changed: fold 0's trees are the same; the other folds' trees trained on them
    fold = tree_fit.fold_
    changed = y.copy()
    fold0 = fold == 0
    changed[fold0] = (changed[fold0] + 1) % 10
    oof = TreeMembers(10, seed=3).fit(X, y, np.ones(len(y)), fold, stopping_folds(fold, y, 0.1, 3))
    # fold 0's trees stop on rows drawn from the other folds alone: unchanged by fold 0's labels
    refit = TreeMembers(10, seed=3).fit(X, changed, np.ones(len(y)), fold, stopping_folds(fold, changed, 0.1, 3))
    np.testing.assert_array_equal(refit[fold0], oof[fold0])
    assert not np.allclose(refit[~fold0], oof[~fold0])


def test_each_fold_is_read_where_the_log_loss_and_where_the_error_rate_of_its_stopping_rows_stop(digits, tree_fit):
    X, y = _data(digits)
    trees = tree_fit.tree_members_
    for f, (model, rounds) in enumerate(zip(trees.models_, trees.rounds_)):
        assert model.get_params()["metric"] == [f"multi_{m}" for m in STOPPING_METRICS]
        results = model.evals_result_[next(iter(model.evals_result_))]
        for name, best in zip(model.get_params()["metric"], rounds):
            values = np.array(results[name])
            # each stop is the first lowest value, with no lower one in the next 50 rounds, as
            # lightgbm.early_stopping(50) finds it on that metric alone
            assert values[best - 1] < values[: best - 1].min(initial=np.inf)
            assert values[best - 1] <= values[best: best + 50].min(initial=np.inf)
        assert model.booster_.current_iteration() == max(rounds)  # kept up to the later stop
    # one stop alone is lightgbm's own early stopping on that metric
    train, stop, _ = fold_rows(tree_fit.fold_, stopping_folds(tree_fit.fold_, y, 0.1, trees.seed), 0)
    for name, best in zip(trees.models_[0].get_params()["metric"], trees.rounds_[0]):
        alone = lightgbm.LGBMClassifier(learning_rate=0.1, n_estimators=2000, n_jobs=1, verbose=-1, metric=name,
                                        random_state=trees.seed)
        alone.fit(X[train], y[train], **_eval_options(alone, X[stop], y[stop]),
                  callbacks=[lightgbm.early_stopping(50, verbose=False)])
        assert alone.best_iteration_ == best


def test_the_trees_that_predict_train_on_every_row_for_the_folds_mean_rounds(digits, tree_fit):
    X, y = _data(digits)
    trees = tree_fit.tree_members_
    assert trees.n_estimators_ == tuple(int(round(r)) for r in np.mean(trees.rounds_, axis=0))
    assert trees.model_.n_estimators == max(trees.n_estimators_) and trees.model_.n_features_in_ == X.shape[1]
    both = [trees.model_.predict_proba(X, num_iteration=r) for r in trees.n_estimators_]
    np.testing.assert_allclose(trees.predict_proba(X), (both[0] + both[1]) / 2)
    assert not np.allclose(trees.predict_proba(X), trees.fold_mean_proba(X))


def test_the_weight_is_the_argmax_of_out_of_fold_accuracy_and_the_label_scores_follow(digits, tree_fit):
    X, y = _data(digits)
    clf = tree_fit
    w = clf.best_params_["tree_weight"]
    assert set(clf.best_params_) == {"loss", "q", "tree_weight"}
    assert w == TREE_WEIGHTS[int(np.argmax(clf.tree_weight_scores_))]
    assert clf.best_score_ == pytest.approx(clf.tree_weight_scores_.max())
    # cv_results_: every setting beside the trees kept; the chosen one's is the choice
    assert clf.cv_results_["tree_weight"][clf.best_index_] == w
    assert clf.cv_results_["oof_score_with_trees"][clf.best_index_] == pytest.approx(clf.best_score_)
    assert not any(name.startswith("_oof") for name in vars(clf))  # the per-setting probabilities are not kept
    networks = GCEClassifierCV(cv=KFold(5), tree_members=None, **FAST).fit(X, y)  # the same networks, no trees
    np.testing.assert_array_equal(networks.fold_, clf.fold_)
    expected = [np.mean(combine(clf.tree_oof_proba_, networks.oof_proba_, v).argmax(1) == y) for v in TREE_WEIGHTS]
    np.testing.assert_allclose(clf.tree_weight_scores_, expected)
    combined = combine(clf.tree_oof_proba_, networks.oof_proba_, w)
    np.testing.assert_allclose(clf.oof_proba_, combined / combined.sum(1, keepdims=True), atol=1e-12)
    assert clf.label_quality_.shape == (len(y),) and clf.label_report_.shape[0] == len(y)
    # the networks' own predictions are those of the bag without trees
    np.testing.assert_array_equal(super(GCEClassifierCV, clf).predict_proba(X), networks.predict_proba(X))


def test_the_choice_breaks_ties_towards_fewer_trees():
    trees = np.array([[0.9, 0.1], [0.2, 0.8]])
    networks = np.array([[0.6, 0.4], [0.4, 0.6]])  # both right: every weight ties
    w, scores = choose_tree_weight(trees, networks, np.array([0, 1]), np.ones(2))
    assert w == 0.0 and np.all(scores == 1)
    # weighted accuracy: the heavy row, which only the trees get right, decides; 0.75 and 1 tie
    trees = np.array([[0.3, 0.7], [0.2, 0.8]])
    networks = np.array([[0.9, 0.1], [0.9, 0.1]])
    w, scores = choose_tree_weight(trees, networks, np.array([0, 1]), np.array([1.0, 3.0]),
                                   weights=(0.0, 0.25, 0.5, 0.75, 1.0))
    np.testing.assert_allclose(scores, [0.25, 0.25, 0.25, 0.75, 0.75])
    assert w == 0.75
    # the default weights, a tenth apart, find the mix that gets both rows right
    w, scores = choose_tree_weight(trees, networks, np.array([0, 1]), np.array([1.0, 3.0]))
    assert w == 0.6 and scores.max() == 1 and len(scores) == len(TREE_WEIGHTS) == 11


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0])
def test_predict_proba_is_the_convex_combination(digits, tree_fit, w):
    X, _ = _data(digits)
    clf = pickle.loads(pickle.dumps(tree_fit))
    clf.best_params_["tree_weight"] = w
    trees = clf.tree_members_.predict_proba(X)
    networks = super(GCEClassifierCV, clf).predict_proba(X)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, w * trees + (1 - w) * networks, atol=1e-6)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])


def test_pickling_determinism_and_clone(digits, tree_fit):
    X, y = _data(digits)
    restored = pickle.loads(pickle.dumps(tree_fit))
    np.testing.assert_array_equal(restored.predict_proba(X), tree_fit.predict_proba(X))
    again = GCEClassifierCV(cv=KFold(5), tree_members="lightgbm", **FAST).fit(X, y)
    np.testing.assert_array_equal(again.tree_oof_proba_, tree_fit.tree_oof_proba_)
    np.testing.assert_array_equal(again.predict_proba(X), tree_fit.predict_proba(X))
    assert clone(tree_fit).get_params()["tree_members"] == "lightgbm"
    assert GCEClassifierCV().get_params()["tree_members"] == "auto"


def test_the_trees_use_as_many_threads_as_pytorch(digits, monkeypatch):
    X, y = _data(digits, 300)
    monkeypatch.setattr("torch.get_num_threads", lambda: 3)  # what a user or a joblib worker gave PyTorch
    trees = GCEClassifierCV(tree_members="lightgbm", **FAST).fit(X, y).tree_members_
    assert trees.n_threads == 3
    assert {model.get_params()["n_jobs"] for model in [*trees.models_, trees.model_]} == {3}


def test_verbose_says_what_the_trees_did(digits, capsys):
    X, y = _data(digits, 300)
    clf = GCEClassifierCV(tree_members="lightgbm", verbose=1, **FAST).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tree_members:")]
    assert len(lines) == 2 and "per fold (5)" in lines[0]
    assert f"weight {clf.best_params_['tree_weight']:g}," in lines[1]
    assert f"{clf.tree_weight_scores_.max():.4f}" in lines[1]


def test_a_table_with_a_categorical_column_and_missing_values_and_a_refit_without_trees():
    rng = np.random.RandomState(0)
    n = 300
    city = rng.choice([f"c{i}" for i in range(25)], n)  # embedded: a code column, split as a category
    x = rng.randn(n)
    y = np.where((x > 0) ^ np.isin(city, [f"c{i}" for i in range(12)]), "yes", "no")
    df = pd.DataFrame({"x": np.where(rng.rand(n) < 0.1, np.nan, x), "colour": pd.Categorical(
        rng.choice(["red", "blue", None], n)), "city": city.astype(object)})
    clf = GCEClassifierCV(tree_members="lightgbm", **FAST).fit(df, y)
    model = clf.tree_members_.models_[0]
    assert model.booster_.dump_model()["feature_infos"]  # trained
    assert model.get_params()["metric"] == ["binary_logloss", "binary_error"]
    assert clf.tree_members_.categorical_columns == [model.n_features_in_ - 1]
    assert set(clf.predict(df.iloc[:50])) <= {"no", "yes"} and clf.predict_proba(df).shape == (n, 2)
    assert clf.tree_oof_proba_.shape == (n, 2) and list(clf.label_report_.index[:3]) != []
    clf.set_params(tree_members=None).fit(df, y)
    assert "tree_weight" not in clf.best_params_
    assert not any(hasattr(clf, name) for name in ("tree_members_", "tree_oof_proba_", "tree_weight_scores_"))


def test_sparse_input_and_sample_weights(digits):
    X, y = _data(digits, 300)
    weight = np.where(np.arange(len(y)) % 2, 2.0, 1.0)
    clf = GCEClassifierCV(tree_members="lightgbm", **FAST).fit(sparse.csr_matrix(X), y, sample_weight=weight)
    correct = clf.tree_oof_proba_.argmax(1) == y
    w = clf.best_params_["tree_weight"]
    if w == 1:
        assert clf.tree_weight_scores_[-1] == pytest.approx((correct * weight).sum() / weight.sum())
    assert clf.predict_proba(sparse.csr_matrix(X[:10])).shape == (10, 10)


def test_errors(digits, monkeypatch):
    X, y = _data(digits, 200)
    with pytest.raises(ValueError, match="tree_members needs cv"):
        GCEClassifierCV(cv=None, tree_members="lightgbm", **FAST).fit(X, y)
    with pytest.raises(InvalidParameterError, match="tree_members"):
        GCEClassifierCV(tree_members="xgboost", **FAST).fit(X, y)
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(ImportError, match="pip install lightgbm"):
        GCEClassifierCV(tree_members="lightgbm", **FAST).fit(X, y)


def test_auto_trains_trees_where_they_apply(digits):
    X, y = _data(digits, 300)
    with_trees = GCEClassifierCV(**FAST).fit(X, y)  # the default: 'auto', cross-fitted, a matrix of rows
    assert hasattr(with_trees, "tree_members_") and "tree_weight" in with_trees.best_params_
    without_cv = GCEClassifierCV(**{**FAST, "cv": None}).fit(X, y)  # no folds to cross-fit on: no trees, no error
    assert not hasattr(without_cv, "tree_members_") and "tree_weight" not in without_cv.best_params_
    images = GCEClassifierCV(**FAST)
    assert not images._trees_wanted(X.reshape(-1, 1, 8, 8))  # images: networks only
    assert images._trees_wanted(X) and images._trees_wanted(sparse.csr_matrix(X))


def test_a_model_pickled_before_stop_on_and_tree_members_loads_as_it_was(digits):
    X, y = _data(digits, 300)
    clf = GCEClassifierCV(tree_members=None, **FAST).fit(X, y)
    state = clf.__getstate__()
    del state["stop_on"], state["tree_members"]  # what a 0.3 pickle holds
    old = GCEClassifierCV.__new__(GCEClassifierCV)
    old.__setstate__(state)
    assert old.get_params()["tree_members"] is None and old.get_params()["stop_on"] == "own_fold"
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    assert clone(old).get_params()["tree_members"] is None


def test_without_stopping_rows_a_fixed_number_of_rounds_and_a_single_class_fold_stands_for_its_class():
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3), np.repeat([0, 1, 2], 20)
    fold = np.tile(np.arange(3), 20)
    trees = TreeMembers(3, seed=0)
    oof = trees.fit(X, y, np.ones(60), fold, np.full(60, -1))  # no row to stop on
    assert all(model.n_estimators == 100 for model in trees.models_) and trees.rounds_ == [(100, 100)] * 3
    assert trees.n_estimators_ == (100, 100)
    np.testing.assert_allclose(oof.sum(1), 1)
    # fold 0 trains on class 0 alone (its other rows are in the test fold): its stand-in says class 0
    fold = np.where(y == 0, rng.randint(0, 2, 60) + 1, 0)
    oof = trees.fit(X, y, np.ones(60), fold, np.full(60, -1))
    assert type(trees.models_[0]).__name__ == "_Prior" and trees.rounds_[0] is None
    np.testing.assert_array_equal(oof[fold == 0], np.tile([1.0, 0, 0], ((fold == 0).sum(), 1)))
