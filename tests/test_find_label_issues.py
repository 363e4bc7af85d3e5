"""``find_label_issues``: the one-call label report."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold

from sklearn_gce import GCEClassifierCV, find_label_issues
from sklearn_gce._find_label_issues import PRESETS

FAST = {"max_epochs": 30, "random_state": 0}
COLUMNS = ["given_label", "suggested_label", "label_quality", "is_label_issue"]


@pytest.fixture(scope="module")
def noisy_iris():
    """Iris as a DataFrame indexed by string ids, species names as labels, 15 of them (10%) moved on."""
    data = load_iris(as_frame=True)
    X = data.data.set_axis([f"id{i:03d}" for i in range(150)]).rename_axis("plant")
    names = np.array(data.target_names)
    flipped = np.random.default_rng(0).choice(150, 15, replace=False)
    codes = data.target.to_numpy().copy()
    codes[flipped] = (codes[flipped] + 1) % 3
    return X, pd.Series(names[codes], index=X.index), X.index[flipped]


@pytest.fixture(scope="module")
def fitted(noisy_iris):
    X, y, _ = noisy_iris
    return find_label_issues(X, y, return_estimator=True, **FAST)


def test_report_keeps_the_dataframe_index_sorted_worst_first(noisy_iris, fitted):
    X, y, _ = noisy_iris
    report, estimator = fitted
    assert report.columns.tolist() == COLUMNS
    assert report.index.name == "plant"
    assert sorted(report.index) == sorted(X.index)
    assert report["label_quality"].is_monotonic_increasing
    # each row's values are its own: the given label, and the estimator's out-of-fold results at its position
    pd.testing.assert_series_equal(report["given_label"], y.loc[report.index], check_names=False)
    position = X.index.get_indexer(report.index)
    np.testing.assert_allclose(report["label_quality"], estimator.label_quality_[position])
    suggested = estimator.classes_[estimator.oof_proba_[position].argmax(1)]
    np.testing.assert_array_equal(report["suggested_label"], suggested)
    assert report["is_label_issue"].dtype == bool


def test_flagged_rows_are_mostly_the_flipped_ones(noisy_iris, fitted):
    report, _ = fitted
    _, _, flipped = noisy_iris
    flagged = report.index[report["is_label_issue"]]
    # 10% flipped: flagging at random would give a precision near 0.1
    precision = np.isin(flagged, flipped).mean()
    recall = np.isin(flipped, flagged).mean()
    assert precision >= 0.6 and recall >= 0.6, (precision, recall)
    # worst first: the flagged rows are at the top
    assert report["is_label_issue"].iloc[: len(flagged) // 2].all()


def test_array_input_is_indexed_by_row_position():
    X, y = load_iris(return_X_y=True)
    report = find_label_issues(X, y, **FAST)
    assert report.index.name == "row"
    assert sorted(report.index) == list(range(150))
    np.testing.assert_array_equal(report["given_label"], y[report.index])


def test_presets_and_overrides(noisy_iris, fitted):
    X, y, _ = noisy_iris
    _, fast = fitted
    assert {k: fast.get_params()[k] for k in PRESETS["fast"]} == PRESETS["fast"]
    assert fast.max_epochs == 30
    report, thorough = find_label_issues(X, y, preset="thorough", cv=3, return_estimator=True,
                                         max_epochs=5, random_state=0)
    assert isinstance(thorough, GCEClassifierCV)
    assert {k: thorough.get_params()[k] for k in PRESETS["thorough"] if k != "cv"} == {
        "qs": (0.7, 0.9), "losses": ("gce",), "ensemble": 2, "ensemble_size": 2, "n_iter_no_change": 10,
        "tree_members": None}  # measured with networks only
    assert thorough.cv == 3 and thorough.max_epochs == 5
    assert len(thorough.members_) == 2 * 2 * 3  # two q, two initialisations, three folds
    assert len(report) == 150


def test_filter_by_is_cleanlabs_rule(noisy_iris):
    X, y, _ = noisy_iris
    report = find_label_issues(X, y, filter_by="predicted_neq_given", cv=StratifiedKFold(3), max_epochs=5,
                               random_state=0)
    np.testing.assert_array_equal(report["is_label_issue"],
                                  report["given_label"] != report["suggested_label"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"preset": "best"}, "preset must be one of 'fast', 'thorough'; got 'best'"),
        ({"filter_by": "noise_rate"}, "filter_by must be one of cleanlab's rules"),
        ({"cv": None}, "cv must be an int >= 2"),
        ({"y": ["a"] * 10 + ["b"] * 10 + ["c"] * 2}, "class 'c' has 2 row(s), fewer than the 5"),
        ({"y": ["a"] * 22}, "single class ('a')"),
        ({"y": ["a", "b"] * 10}, "X has 22 rows but y has 20 labels"),
        ({"y": ["a", "b"] * 10 + [None, "a"]}, "y has 1 missing label(s), first at row 20"),
    ],
    ids=["preset", "filter_by", "cv-none", "rare-class", "one-class", "length", "missing"],
)
def test_bad_input_is_refused_before_fitting(change, message):
    X = np.random.default_rng(0).normal(size=(22, 3))
    options = {"y": ["a", "b"] * 11, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        find_label_issues(X, **options)

