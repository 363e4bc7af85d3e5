"""Tests of open-set noise: LabelNoiseInjector(noise="open_set")."""

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import make_pipeline as make_imblearn_pipeline
from imblearn.utils.estimator_checks import check_param_validation
from scipy import sparse, stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.neighbors import NearestCentroid
from sklearn.preprocessing import StandardScaler

from sklearn_gce import LabelNoiseInjector, NoisyLabelClassifier


def _task_and_outside(n=2000, n_outside=1500, n_features=5, n_classes=4, seed=0):
    """Rows of the task (labels 0..K-1) and outside rows, told apart by feature 0.

    Task rows have feature 0 in [0, 1), outside rows in [10, 11): every row of
    the result can be traced back to where it came from.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features))
    y = rng.integers(0, n_classes, size=n)
    outside = rng.random((n_outside, n_features))
    outside[:, 0] += 10
    return X, y, outside


def _open_set(rate=0.3, outside_label="kept", random_state=0, **params):
    return LabelNoiseInjector(
        noise="open_set", rate=rate, outside_label=outside_label,
        random_state=random_state, **params,
    )


# --- the rows replaced, and the rows kept ----------------------------------------


@pytest.mark.parametrize("n, rate", [(2000, 0.3), (1000, 0.2), (999, 0.4), (7, 0.5), (50, 0.0)])
def test_exactly_rate_times_n_rows_are_replaced(n, rate):
    X, y, outside = _task_and_outside(n=n)
    injector = _open_set(rate=rate, outside=outside)
    X_res, y_res = injector.fit_resample(X, y)

    expected = int(np.floor(rate * n + 0.5))
    mask = injector.noise_mask_
    assert X_res.shape == X.shape and len(y_res) == n
    assert mask.dtype == bool and mask.sum() == expected
    assert injector.noise_rate_ == expected / n
    np.testing.assert_array_equal(injector.flip_probability_, expected / n)
    np.testing.assert_array_equal(injector.transition_matrix_, np.eye(4))
    # The outside rows are told apart by their feature 0.
    np.testing.assert_array_equal(X_res[:, 0] >= 10, mask)
    # Distinct outside rows, given in the order of the replaced rows.
    drawn = injector.outside_indices_
    assert drawn.shape == (expected,) and np.unique(drawn).size == expected
    np.testing.assert_array_equal(X_res[mask], outside[drawn])
    if expected == 0:
        assert X_res is X


def test_outside_values_are_copied_exactly_and_other_rows_kept():
    X, y, outside = _task_and_outside()
    X_before = X.copy()
    injector = _open_set(rate=0.4, outside=outside, outside_label="uniform")
    X_res, y_res = injector.fit_resample(X, y)
    mask = injector.noise_mask_

    assert X_res is not X
    np.testing.assert_array_equal(X, X_before)  # the input is not modified
    assert X_res.dtype == X.dtype
    np.testing.assert_array_equal(X_res[mask], outside[injector.outside_indices_])
    np.testing.assert_array_equal(X_res[~mask], X[~mask])
    np.testing.assert_array_equal(y_res[~mask], y[~mask])


def test_replaced_rows_are_a_uniform_draw():
    # Every row has the same chance: over 200 draws, each row's count of
    # replacements is binomial(200, rate); the counts of the first and second
    # halves of the rows, and of each class, agree.
    X, y, outside = _task_and_outside(n=300, n_outside=100)
    counts = sum(_open_set(rate=0.3, outside=outside, random_state=s).fit(X, y).noise_mask_
                 for s in range(200))
    expected = 200 * 90 / 300
    assert abs(counts.mean() - expected) < 1e-12
    assert abs(counts[:150].mean() - counts[150:].mean()) < 5 * np.sqrt(expected / 150)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_random_state_reproducible():
    X, y, outside = _task_and_outside()

    def fit(random_state, label="uniform"):
        return _open_set(outside=outside, outside_label=label, random_state=random_state)

    X0, y0 = fit(0).fit_resample(X, y)
    X0_again, y0_again = fit(0).fit_resample(X, y)
    np.testing.assert_array_equal(X0, X0_again)
    np.testing.assert_array_equal(y0, y0_again)
    np.testing.assert_array_equal(fit(np.random.RandomState(5)).fit_resample(X, y)[0],
                                  fit(5).fit_resample(X, y)[0])
    first, other = fit(0).fit(X, y), fit(1).fit(X, y)
    assert np.mean(first.noise_mask_ != other.noise_mask_) > 0.2
    assert np.mean(first.outside_indices_ != other.outside_indices_) > 0.5
    # No global random state is read or changed.
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(fit(0).fit(X, y).noise_mask_, first.noise_mask_)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


# --- the labels the outside rows get ----------------------------------------------


def test_kept_labels_are_those_of_the_replaced_rows():
    X, y, outside = _task_and_outside()
    y_str = np.array(["ant", "bee", "cat", "dog"])[y]
    injector = _open_set(rate=0.4, outside=outside)
    _, y_res = injector.fit_resample(X, y_str)
    np.testing.assert_array_equal(y_res, y_str)  # class counts unchanged
    np.testing.assert_array_equal(injector.classes_, ["ant", "bee", "cat", "dog"])


def test_uniform_labels_are_classes_of_the_task_drawn_uniformly():
    # Imbalanced classes: uniform labels do not follow the class frequencies.
    rng = np.random.default_rng(0)
    y = rng.choice([3, 10, 42], size=20_000, p=[0.8, 0.15, 0.05])
    X = rng.random((y.size, 2))
    outside = rng.random((10_000, 2)) + 10
    injector = _open_set(rate=0.4, outside=outside, outside_label="uniform")
    _, y_res = injector.fit_resample(X, y)
    labels = y_res[injector.noise_mask_]
    assert set(labels) == {3, 10, 42}
    observed = np.array([np.sum(labels == c) for c in (3, 10, 42)])
    assert stats.chisquare(observed).pvalue > 1e-3


def test_labels_only_from_the_task_classes():
    X, y, outside = _task_and_outside()
    for label in ("kept", "uniform", "nearest"):
        _, y_res = _open_set(rate=0.5, outside=outside, outside_label=label).fit_resample(X, y)
        assert set(np.unique(y_res)) <= {0, 1, 2, 3}


def test_nearest_label_known_answer():
    # Class centroids at (0, 0), (10, 0), (0, 10) in the first two features; a
    # third, constant feature counts for nothing (even a huge value there).
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    offsets = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=float)
    X = np.vstack([c + offsets for c in centres])
    X = np.column_stack([X, np.full(len(X), 5.0)])
    y = np.repeat([0, 1, 2], 4)
    outside = np.array([[9.0, 1.0, 1e6], [1.0, 8.0, -1e6], [0.5, 0.5, 0.0],
                        [5.0, 5.0, 5.0]])
    injector = _open_set(rate=4 / 12, outside=outside, outside_label="nearest")
    X_res, y_res = injector.fit_resample(X, y)
    # outside row -> class; row 3 is as far from the three centroids: the first wins
    expected = {0: 1, 1: 2, 2: 0, 3: 0}
    got = dict(zip(injector.outside_indices_.tolist(), y_res[injector.noise_mask_].tolist()))
    assert got == expected


def test_nearest_label_is_nearest_centroid_in_standardised_space():
    # Features of very different scales: standardising changes the answer of
    # many rows, and the injector agrees with scikit-learn's NearestCentroid
    # fitted on the standardised rows of the task.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, size=3000)
    X = (rng.normal(size=(y.size, 6)) + y[:, None] * [1, 0.5, 0, 0.2, 1, 0]) * [
        1, 100, 0.01, 1, 1000, 1]
    outside = rng.normal(size=(2000, 6)) * X.std(axis=0) + X.mean(axis=0)
    injector = _open_set(rate=0.5, outside=outside, outside_label="nearest")
    _, y_res = injector.fit_resample(X, y)
    picked = outside[injector.outside_indices_]

    scaler = StandardScaler().fit(X)
    reference = NearestCentroid().fit(scaler.transform(X), y)
    np.testing.assert_array_equal(y_res[injector.noise_mask_],
                                  reference.predict(scaler.transform(picked)))
    raw = NearestCentroid().fit(X, y).predict(picked)
    assert np.mean(raw != y_res[injector.noise_mask_]) > 0.1

    # Sparse and n-d rows give the same labels.
    _, y_sparse = clone(injector).fit_resample(sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(y_sparse, y_res)
    _, y_nd = clone(injector).set_params(outside=outside.reshape(-1, 2, 3)).fit_resample(
        X.reshape(-1, 2, 3), y)
    np.testing.assert_array_equal(y_nd, y_res)


def test_nearest_label_on_a_dataframe_reads_its_categories():
    # The numeric column says nothing; the category tells the classes apart.
    n = 400
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], n // 2)
    X = pd.DataFrame({"noise": rng.normal(size=n),
                      "kind": pd.Categorical(np.where(y == 0, "a", "b")),
                      "note": np.where(y == 0, "x", None)})
    outside = pd.DataFrame({"noise": rng.normal(size=100),
                            "kind": pd.Categorical(["b", "a"] * 50),
                            "note": [None, "x"] * 50})
    injector = _open_set(rate=0.25, outside=outside, outside_label="nearest")
    _, y_res = injector.fit_resample(X, y)
    kinds = outside["kind"].to_numpy()[injector.outside_indices_]
    np.testing.assert_array_equal(y_res[injector.noise_mask_], (kinds == "b").astype(int))


# --- containers ---------------------------------------------------------------------


def _mixed_frame(n, index, seed=0, offset=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "number": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)) + offset,
            "count": rng.integers(0, 100, size=n) + offset,
            "colour": pd.Categorical(rng.choice(["red", "green"], size=n)),
            "text": rng.choice(["a b", "c", None], size=n),
            "flag": rng.random(n) < 0.5,
            "when": pd.date_range("2020-01-01", periods=n, freq="h") + pd.Timedelta(days=offset),
        },
        index=index,
    )


def test_dataframe_keeps_index_dtypes_and_values():
    n = 500
    X = _mixed_frame(n, pd.Index(np.arange(n) * 3 + 7, name="row"))
    X_before = X.copy()
    outside = _mixed_frame(300, pd.RangeIndex(300), seed=1, offset=1000)
    outside = outside[["when", "flag", "text", "colour", "count", "number"]]  # any order
    y = pd.Series(np.tile(["no", "yes", "maybe"], n)[:n], index=X.index, name="answer")

    injector = _open_set(rate=0.3, outside=outside, outside_label="uniform")
    X_res, y_res = injector.fit_resample(X, y)
    mask = injector.noise_mask_

    assert isinstance(X_res, pd.DataFrame) and X_res is not X
    pd.testing.assert_frame_equal(X, X_before)
    pd.testing.assert_index_equal(X_res.index, X.index)
    pd.testing.assert_series_equal(X_res.dtypes, X.dtypes)
    pd.testing.assert_frame_equal(X_res[~mask], X[~mask])
    copied = outside.iloc[injector.outside_indices_][list(X.columns)]
    pd.testing.assert_frame_equal(X_res[mask].reset_index(drop=True),
                                  copied.reset_index(drop=True))
    assert mask.sum() == 150 and np.all(X_res["count"][mask] >= 1000)
    assert isinstance(y_res, pd.Series) and y_res.name == "answer"
    pd.testing.assert_index_equal(y_res.index, X.index)
    pd.testing.assert_series_equal(y_res[~mask], y[~mask])


def test_dataframe_new_categories_and_missing_values_widen_only_where_needed():
    X = pd.DataFrame({"colour": pd.Categorical(["red", "green"] * 10),
                      "count": np.arange(20)})
    outside = pd.DataFrame({"colour": pd.Categorical(["blue", "red"] * 10),
                            "count": [np.nan, 1.5] * 10})
    y = np.array([0, 1] * 10)
    injector = _open_set(rate=0.5, outside=outside)
    X_res, _ = injector.fit_resample(X, y)
    mask = injector.noise_mask_

    assert isinstance(X_res["colour"].dtype, pd.CategoricalDtype)
    assert list(X_res["colour"].cat.categories) == ["green", "red", "blue"]
    np.testing.assert_array_equal(
        X_res["colour"][mask].astype(str),
        outside["colour"].to_numpy()[injector.outside_indices_].astype(str))
    assert X_res["count"].dtype == np.float64  # integers with missing values
    np.testing.assert_array_equal(X_res["count"][~mask], X["count"][~mask])
    np.testing.assert_array_equal(X_res["count"][mask],
                                  outside["count"].to_numpy()[injector.outside_indices_])


def test_sparse_lists_and_images():
    X, y, outside = _task_and_outside(n=200, n_outside=100)
    injector = _open_set(rate=0.25, outside=sparse.csc_matrix(outside))
    X_res, _ = injector.fit_resample(sparse.csc_matrix(X), y)
    assert sparse.issparse(X_res) and X_res.format == "csc"
    np.testing.assert_array_equal(X_res.toarray(), _open_set(rate=0.25, outside=outside)
                                  .fit_resample(X, y)[0])

    images = X.reshape(200, 5, 1)
    X_res, _ = _open_set(rate=0.25, outside=outside.reshape(100, 5, 1)).fit_resample(images, y)
    assert X_res.shape == images.shape

    # Text documents: a list stays a list; rows of the task are words a/b,
    # outside rows are words x/y.
    docs = ["a good", "a bad", "b good", "b bad"] * 25
    labels = ["pos", "neg", "pos", "neg"] * 25
    outside_docs = ["x good", "y bad"] * 40
    injector = _open_set(rate=0.2, outside=outside_docs)
    docs_res, labels_res = injector.fit_resample(docs, labels)
    assert isinstance(docs_res, list) and len(docs_res) == 100
    assert [d[0] in "xy" for d in docs_res] == injector.noise_mask_.tolist()
    model = make_imblearn_pipeline(_open_set(rate=0.2, outside=outside_docs),
                                   TfidfVectorizer(), LogisticRegression()).fit(docs, labels)
    assert model.score(docs, labels) == 1.0


# --- in pipelines -------------------------------------------------------------------


class RowRecorder(ClassifierMixin, BaseEstimator):
    """Predicts the label stored in ``X[:, 1]``; records the rows it was fit on."""

    def fit(self, X, y):
        self.fit_X_ = np.asarray(X).copy()
        self.fit_y_ = np.asarray(y).copy()
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.asarray(X)[:, 1].astype(int)


def test_pipeline_trains_on_outside_rows_and_scores_clean_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=900)
    X = np.column_stack([np.zeros(y.size), y])
    outside = np.column_stack([np.ones(600), np.full(600, 99)])  # never a class
    pipe = make_imblearn_pipeline(_open_set(rate=0.4, outside=outside), RowRecorder())
    result = cross_validate(pipe, X, y, cv=3, return_estimator=True)

    np.testing.assert_array_equal(result["test_score"], 1.0)  # clean test rows
    for fitted in result["estimator"]:
        injector, recorder = fitted[0], fitted[-1]
        assert recorder.fit_X_.shape == (600, 2)
        np.testing.assert_array_equal(recorder.fit_X_[:, 0] == 1, injector.noise_mask_)
        assert injector.noise_mask_.sum() == 240

    clf = NoisyLabelClassifier(RowRecorder(), noise=_open_set(rate=0.4, outside=outside))
    clf.fit(X, y)
    assert clf.estimator_.fit_X_[:, 0].sum() == 360
    assert clf.score(X, y) == 1.0


# --- errors ---------------------------------------------------------------------------


X10, Y10 = np.zeros((10, 3)), np.array([0, 1] * 5)
FRAME = pd.DataFrame({"a": np.arange(10.0), "b": list("xyxyxyxyxy")})


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(), X10, "noise='open_set' needs outside"),
        (dict(outside=np.zeros((3, 3)), rate=0.4), X10,
         r"outside has 3 rows, but noise='open_set' replaces 4 training rows"),
        (dict(outside=np.zeros((10, 4))), X10, r"outside has 4 features \(columns\) but X has 3"),
        (dict(outside=np.zeros((10, 3, 2))), X10, r"rows of shape \(3, 2\)"),
        (dict(outside=np.zeros((10, 2))), FRAME, "outside must be a DataFrame with the same"),
        (dict(outside=FRAME.rename(columns={"b": "c"})), FRAME,
         r"missing from outside: \['b'\]; columns of outside not in X: \['c'\]"),
        (dict(outside=FRAME[["a"]]), FRAME, r"missing from outside: \['b'\]"),
        (dict(outside=FRAME.assign(c=1)), FRAME, r"not in X: \['c'\]"),
        (dict(outside=np.array([["a", "b", "c"]] * 10), outside_label="nearest"),
         np.array([["a", "b", "c"]] * 10), "outside_label='nearest' compares .* numeric"),
        (dict(outside=np.full((10, 3), np.nan), outside_label="nearest"), X10,
         "outside_label='nearest'.*NaN"),
        (dict(outside=X10, rate=1.0), X10, r"'rate' parameter .* range \[0.0, 1.0\)"),
        (dict(outside=X10, rate=-0.1), X10, r"'rate' parameter"),
        (dict(outside=X10, outside_label="random"), X10, "'outside_label' parameter"),
        (dict(outside="rows"), X10, "'outside' parameter"),
    ],
)
def test_errors(params, X, match):
    with pytest.raises(ValueError, match=match):
        LabelNoiseInjector(noise="open_set", **params).fit_resample(X, Y10)


def test_open_set_parameters_with_other_noise_models():
    with pytest.raises(ValueError, match="outside is only used with noise='open_set'"):
        LabelNoiseInjector(outside=X10).fit_resample(X10, Y10)
    with pytest.raises(ValueError, match="outside_label is only used with noise='open_set'"):
        LabelNoiseInjector(noise="pairflip", outside_label="uniform").fit_resample(X10, Y10)


def test_param_validation_and_clone():
    check_param_validation("LabelNoiseInjector", _open_set(outside=X10))
    injector = _open_set(outside=X10, outside_label="nearest")
    params = clone(injector).get_params()
    assert params["noise"] == "open_set" and params["outside_label"] == "nearest"
    np.testing.assert_array_equal(params["outside"], X10)
