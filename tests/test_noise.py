"""Tests of the label noise: LabelNoiseInjector (a sampler) and NoisyLabelClassifier."""

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn.pipeline import make_pipeline as make_imblearn_pipeline
from imblearn.under_sampling import RandomUnderSampler
from imblearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
)
from imblearn.utils.estimator_checks import (
    parametrize_with_checks as parametrize_with_sampler_checks,
)
from scipy import sparse, stats
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gce import (
    LabelNoiseInjector,
    NoisyLabelClassifier,
    instance_transition_rows,
    mapping_transition_matrix,
    pairflip_transition_matrix,
    symmetric_transition_matrix,
)

N_CLASSES = 10
N_PER_CLASS = 10_000  # 100k labels: standard errors of about 0.005 per cell


def _balanced_labels(n_classes=N_CLASSES, n_per_class=N_PER_CLASS, seed=0):
    y = np.repeat(np.arange(n_classes), n_per_class)
    return np.random.default_rng(seed).permutation(y)


def _empirical_transitions(y, y_noisy, classes):
    counts = pd.crosstab(pd.Categorical(y, classes), pd.Categorical(y_noisy, classes),
                         dropna=False).to_numpy()
    return counts / counts.sum(axis=1, keepdims=True), counts.sum(axis=1)


def _assert_matches_matrix(y, y_noisy, T, classes, n_se=5):
    """Each cell within n_se binomial standard errors; impossible flips never seen."""
    T_hat, n_rows = _empirical_transitions(y, y_noisy, classes)
    se = np.sqrt(T * (1 - T) / n_rows[:, None])
    # Cells of probability 0 or 1 have se 0: they must match exactly.
    np.testing.assert_array_less(np.abs(T_hat - T), n_se * se + 1e-12)


# --- the requested matrices, written independently of the implementation -----


def _symmetric(rate, k):
    return np.where(np.eye(k, dtype=bool), 1 - rate, rate / (k - 1))


def _pairflip(rate, k):
    T = (1 - rate) * np.eye(k)
    for i in range(k):
        T[i, (i + 1) % k] = rate
    return T


def _from_flips(flips, rate, k):
    T = np.eye(k)
    for source, target in flips.items():
        T[source, source] = 1 - rate
        T[source, target] = rate
    return T


def _random_matrix(k, seed=1):
    return np.random.default_rng(seed).dirichlet(np.ones(k) * 0.5, size=k)


STATISTICAL_CASES = {
    "symmetric": (dict(noise="symmetric", rate=0.4), _symmetric(0.4, N_CLASSES)),
    "pairflip": (dict(noise="pairflip", rate=0.35), _pairflip(0.35, N_CLASSES)),
    "mapping": (
        dict(noise="mapping", rate=0.3, mapping={9: 1, 2: 0, 4: 7, 3: 5, 5: 3}),
        _from_flips({9: 1, 2: 0, 4: 7, 3: 5, 5: 3}, 0.3, N_CLASSES),
    ),
    "matrix": (
        dict(noise="matrix", transition_matrix=_random_matrix(N_CLASSES)),
        _random_matrix(N_CLASSES),
    ),
}


@pytest.mark.parametrize("case", list(STATISTICAL_CASES))
def test_noise_matches_requested_transition_matrix(case):
    params, T = STATISTICAL_CASES[case]
    y = _balanced_labels()
    X = np.zeros((y.size, 1))
    injector = LabelNoiseInjector(random_state=0, **params)
    X_res, y_noisy = injector.fit_resample(X, y)

    assert X_res is X
    np.testing.assert_allclose(injector.transition_matrix_, T, atol=1e-12)
    np.testing.assert_array_equal(injector.classes_, np.arange(N_CLASSES))
    _assert_matches_matrix(y, y_noisy, T, injector.classes_)

    # The realised flip rate, against its expectation (1 - mean diagonal here,
    # as the classes are balanced), within 5 binomial standard errors.
    expected_rate = 1 - np.mean(np.diag(T))
    se = np.sqrt(expected_rate * (1 - expected_rate) / y.size)
    assert abs(injector.noise_rate_ - expected_rate) < 5 * se
    np.testing.assert_array_equal(injector.noise_mask_, y_noisy != y)
    assert injector.noise_rate_ == pytest.approx(injector.noise_mask_.mean())


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
    sparsity=st.floats(0.0, 0.8),
)
def test_zero_probability_flips_never_happen(k, seed, sparsity):
    # Sparse rows (including one-hot rows such as [0, 1, 0]) stress the inverse-
    # CDF sampling at its boundaries: a class of probability 0 must never come out.
    rng = np.random.default_rng(seed)
    T = rng.random((k, k)) * (rng.random((k, k)) >= sparsity)
    T[np.arange(k), rng.integers(0, k, size=k)] += 1e-3  # no empty row
    T /= T.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, size=2000)
    y[:k] = np.arange(k)  # every class present
    _, y_noisy = LabelNoiseInjector(
        noise="matrix", transition_matrix=T, random_state=seed
    ).fit_resample(np.zeros((y.size, 1)), y)
    assert np.all(T[y, y_noisy] > 0)


@pytest.mark.parametrize(
    "params",
    [
        dict(noise="symmetric"),
        dict(noise="pairflip"),
        dict(noise="mapping", mapping={0: 1}),
        dict(noise="mapping", mapping="cifar10"),
        dict(noise="instance"),
    ],
)
def test_rate_zero_changes_nothing(params):
    y = _balanced_labels(n_per_class=50)
    injector = LabelNoiseInjector(rate=0.0, random_state=0, **params)
    X = np.random.default_rng(0).normal(size=(y.size, 3))
    _, y_noisy = injector.fit_resample(X, y)
    np.testing.assert_array_equal(y_noisy, y)
    assert injector.noise_rate_ == 0.0
    np.testing.assert_array_equal(injector.transition_matrix_, np.eye(N_CLASSES))
    np.testing.assert_array_equal(injector.flip_probability_, 0.0)


@pytest.mark.parametrize("case", ["symmetric", "pairflip", "mapping"])
def test_flip_probability_of_class_dependent_models(case):
    # Without instance noise, a sample's flip probability is 1 - T[i, i] of its class.
    params, T = STATISTICAL_CASES[case]
    y = _balanced_labels(n_per_class=20)
    injector = LabelNoiseInjector(random_state=0, **params).fit(np.zeros((y.size, 1)), y)
    np.testing.assert_allclose(injector.flip_probability_, 1 - np.diag(T)[y], atol=1e-12)


# --- presets --------------------------------------------------------------------

# CIFAR-100 fine label -> coarse label, in the layout of the python version of the
# data set (the widely copied `sparse2coarse` table): an independent check of the
# super-class table of the implementation.
CIFAR100_COARSE = np.array([
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
])  # fmt: skip


def test_cifar100_preset_flips_to_next_class_of_same_superclass():
    rate = 0.4
    y = np.repeat(np.arange(100), 20)
    injector = LabelNoiseInjector(
        noise="mapping", mapping="cifar100", rate=rate, random_state=0
    )
    injector.fit_resample(np.zeros((y.size, 1)), y)
    T = injector.transition_matrix_

    np.testing.assert_allclose(np.diag(T), 1 - rate)
    for fine in range(100):
        members = np.flatnonzero(CIFAR100_COARSE == CIFAR100_COARSE[fine])
        assert members.size == 5
        expected_target = members[(np.searchsorted(members, fine) + 1) % 5]
        assert T[fine, expected_target] == pytest.approx(rate)
        assert np.count_nonzero(T[fine]) == 2


@pytest.mark.parametrize(
    "preset, flips",
    [
        ("cifar10", {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}),  # truck, bird, deer, cat<->dog
        ("fashion_mnist", {9: 7, 7: 5, 2: 6, 4: 3, 3: 4}),  # boot, sneaker, ...
    ],
)
def test_ten_class_presets(preset, flips):
    y = np.repeat(np.arange(10), 20)
    injector = LabelNoiseInjector(noise="mapping", mapping=preset, rate=0.25)
    injector.fit(np.zeros((y.size, 1)), y)
    np.testing.assert_allclose(injector.transition_matrix_, _from_flips(flips, 0.25, 10))


# --- label types and containers ---------------------------------------------------


def test_string_labels():
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(["dog", "bird", "cat"]), size=30_000)
    X = np.zeros((y.size, 2))

    pair = LabelNoiseInjector(noise="pairflip", rate=0.3, random_state=0)
    _, y_noisy = pair.fit_resample(X, y)
    np.testing.assert_array_equal(pair.classes_, ["bird", "cat", "dog"])
    assert y_noisy.dtype == y.dtype
    # Circular in sorted order: bird -> cat -> dog -> bird.
    expected = {"bird": "cat", "cat": "dog", "dog": "bird"}
    flipped = pair.noise_mask_
    assert all(expected[a] == b for a, b in zip(y[flipped], y_noisy[flipped]))
    _assert_matches_matrix(y, y_noisy, _pairflip(0.3, 3), pair.classes_)

    mapping = LabelNoiseInjector(
        noise="mapping", mapping={"cat": "dog"}, rate=0.4, random_state=0
    )
    _, y_noisy = mapping.fit_resample(X, y)
    assert set(y[mapping.noise_mask_]) == {"cat"}
    assert set(y_noisy[mapping.noise_mask_]) == {"dog"}


def test_non_contiguous_integer_labels():
    rng = np.random.default_rng(0)
    y = rng.choice(np.array([42, 3, 10]), size=30_000)
    X = np.zeros((y.size, 1))

    pair = LabelNoiseInjector(noise="pairflip", rate=0.2, random_state=0)
    _, y_noisy = pair.fit_resample(X, y)
    np.testing.assert_array_equal(pair.classes_, [3, 10, 42])
    assert set(np.unique(y_noisy)) == {3, 10, 42}
    _assert_matches_matrix(y, y_noisy, _pairflip(0.2, 3), pair.classes_)

    T = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.1, 0.1, 0.8]])
    matrix = LabelNoiseInjector(noise="matrix", transition_matrix=T, random_state=0)
    _, y_noisy = matrix.fit_resample(X, y)
    _assert_matches_matrix(y, y_noisy, T, matrix.classes_)

    mapping = LabelNoiseInjector(noise="mapping", mapping={42: 3}, rate=0.3)
    _, y_noisy = mapping.fit_resample(X, y)
    assert set(zip(y[mapping.noise_mask_], y_noisy[mapping.noise_mask_])) == {(42, 3)}


def test_pandas_in_pandas_out():
    n = 2000
    index = pd.Index(np.arange(n) * 3 + 7, name="row")
    X = pd.DataFrame(
        {
            "text": ["a b", None] * (n // 2),
            "value": np.where(np.arange(n) % 5 == 0, np.nan, 1.0),
            "when": pd.date_range("2020-01-01", periods=n, freq="h"),
        },
        index=index,
    )
    X_before = X.copy()
    y = pd.Series(np.tile(["no", "yes", "maybe"], n)[:n], index=index, name="answer")
    injector = LabelNoiseInjector(rate=0.3, random_state=0)
    X_res, y_res = injector.fit_resample(X, y)

    assert X_res is X
    pd.testing.assert_frame_equal(X, X_before)
    assert isinstance(y_res, pd.Series)
    assert y_res.name == "answer"
    assert y_res.dtype == y.dtype
    pd.testing.assert_index_equal(y_res.index, index)
    np.testing.assert_array_equal(injector.noise_mask_, (y_res != y).to_numpy())
    assert 0.2 < injector.noise_rate_ < 0.4
    np.testing.assert_array_equal(injector.feature_names_in_, ["text", "value", "when"])

    # A categorical Series keeps its dtype, a one-column DataFrame stays one.
    y_cat = y.astype("category")
    _, y_cat_res = clone(injector).fit_resample(X, y_cat)
    assert y_cat_res.dtype == y_cat.dtype
    np.testing.assert_array_equal(y_cat_res.astype(str), y_res)
    _, y_df_res = clone(injector).fit_resample(X, y.to_frame())
    assert isinstance(y_df_res, pd.DataFrame)
    pd.testing.assert_index_equal(y_df_res.index, index)
    assert y_df_res.columns.tolist() == ["answer"]
    np.testing.assert_array_equal(y_df_res["answer"], y_res)


def test_other_containers():
    y = [0, 1, 2] * 100
    X = sparse.random(len(y), 4, density=0.1, format="csr", random_state=0)
    X_res, y_res = LabelNoiseInjector(random_state=0).fit_resample(X, y)
    assert X_res is X
    assert isinstance(y_res, list) and len(y_res) == len(y)

    # Text documents: a 1-D list of strings is passed on for a vectoriser.
    docs = ["good film", "bad film", "great plot", "awful plot"] * 25
    labels = ["pos", "neg", "pos", "neg"] * 25
    model = make_imblearn_pipeline(
        LabelNoiseInjector(rate=0.1, random_state=0),
        TfidfVectorizer(),
        LogisticRegression(),
    ).fit(docs, labels)
    assert model.score(docs, labels) == 1.0
    assert not hasattr(model[0], "n_features_in_")


def test_random_state_reproducible():
    y = _balanced_labels(n_per_class=500)
    X = np.zeros((y.size, 1))

    def draw(random_state):
        return LabelNoiseInjector(rate=0.3, random_state=random_state).fit_resample(X, y)[1]

    np.testing.assert_array_equal(draw(0), draw(0))
    np.testing.assert_array_equal(draw(np.random.RandomState(5)), draw(5))
    assert np.mean(draw(0) != draw(1)) > 0.2


# --- errors ----------------------------------------------------------------------

Y3 = np.array([0, 1, 2] * 10)
Y10 = np.arange(10).repeat(3)


@pytest.mark.parametrize(
    "params, y, match",
    [
        (dict(rate=1.0), Y3, r"'rate' parameter .* range \[0.0, 1.0\)"),
        (dict(rate=-0.1), Y3, r"'rate' parameter .* range \[0.0, 1.0\)"),
        (dict(noise="uniform"), Y3, r"'noise' parameter .*'symmetric'"),
        (dict(rate=0.9), Y10, r"too high for symmetric noise over 10 classes.*"
                              r"rate < \(K - 1\) / K = 0.9"),
        (dict(rate=0.5), np.array([0, 1] * 5), r"too high for symmetric noise over 2"),
        (dict(noise="pairflip", rate=0.5), Y3, "too high for pairflip noise.*rate < 0.5"),
        (dict(noise="mapping", mapping={0: 1}, rate=0.6), Y3, "too high for mapping"),
        (dict(noise="mapping"), Y3, "noise='mapping' needs mapping"),
        (dict(noise="mapping", mapping={0: 7}), Y3, "not in y: 7"),
        (dict(noise="mapping", mapping={"a": 0}), Y3, "not in y: 'a'"),
        (dict(noise="mapping", mapping="cifar"), Y3, "'mapping' parameter .*'cifar10'"),
        (dict(noise="mapping", mapping="cifar10"), np.array(["a", "b"] * 3),
         "preset for the integer class ids 0..9"),
        (dict(noise="mapping", mapping="cifar10"), np.array([0, 1, 10] * 3),
         "preset for the integer class ids 0..9"),
        (dict(mapping={0: 1}), Y3, "mapping is only used with noise='mapping'"),
        (dict(transition_matrix=np.eye(3)), Y3, "only used with noise='matrix'"),
        (dict(noise="matrix"), Y3, "noise='matrix' needs transition_matrix"),
        (dict(noise="matrix", transition_matrix=np.ones((3, 2)) / 2), Y3, "square"),
        (dict(noise="matrix", transition_matrix=np.eye(4)), Y3,
         r"is 4 x 4 but y has 3 classes"),
        (dict(noise="matrix", transition_matrix=np.full((3, 3), 0.3)), Y3,
         r"row-stochastic.*rows \[0, 1, 2\] sum to \[0.9, 0.9, 0.9\]"),
        (dict(noise="matrix", transition_matrix=[[1.5, -0.5], [0, 1]]),
         np.array([0, 1] * 3), "non-negative"),
        (dict(), np.zeros(10), r"at least 2 classes .* got 1 class"),
        (dict(), np.array([0.0, 1.0, np.nan, 1.0]), "missing labels .* at row 2"),
        (dict(), np.array(["a", None, "b"], dtype=object), "missing labels"),
        (dict(), np.array([0.5, 1.5, 2.5]), "Unknown label type: continuous"),
        (dict(), np.array([1, "a"], dtype=object), "mixes label types"),
        (dict(), np.array([[1, 1, 0], [0, 1, 0]]), "Multilabel"),
    ],
)
def test_errors(params, y, match):
    X = np.zeros((len(y), 2))
    with pytest.raises(ValueError, match=match):
        LabelNoiseInjector(**params).fit_resample(X, y)


def test_errors_about_x_and_y():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LabelNoiseInjector().fit_resample(np.zeros((5, 2)), Y3)
    with pytest.raises(ValueError, match="requires y to be passed"):
        LabelNoiseInjector().fit_resample(np.zeros((5, 2)), None)


def test_symmetric_rate_just_below_the_limit_is_accepted():
    injector = LabelNoiseInjector(rate=0.89, random_state=0)
    injector.fit(np.zeros((Y10.size, 1)), Y10)
    assert injector.transition_matrix_[0, 0] > injector.transition_matrix_[0, 1]


# --- in pipelines: noisy training labels, clean scoring ---------------------------


class CleanLabelOracle(ClassifierMixin, BaseEstimator):
    """Predicts the clean label hidden in ``X[:, 0]``; records the y it was fit on.

    Its accuracy is 1 exactly when it is scored against clean labels.
    """

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X)
        self.fit_y_ = np.asarray(y).copy()
        self.fit_clean_y_ = X[:, 0].astype(int)
        self.fit_sample_weight_ = sample_weight
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0].astype(int)


def _oracle_data(n=3000, n_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    X = np.column_stack([y, rng.normal(size=n)])
    return X, y


@pytest.mark.parametrize("noise", ["symmetric", "instance"])
def test_imblearn_pipeline_trains_on_noisy_and_scores_on_clean_labels(noise):
    rate = 0.3
    X, y = _oracle_data()
    pipe = make_imblearn_pipeline(
        LabelNoiseInjector(noise=noise, rate=rate, random_state=0), CleanLabelOracle()
    )
    result = cross_validate(pipe, X, y, cv=3, return_estimator=True)

    # Scored on clean labels: the oracle is perfect there (about 0.7 if not).
    np.testing.assert_array_equal(result["test_score"], 1.0)
    se = np.sqrt(rate * (1 - rate) / (len(y) * 2 / 3))
    for fitted in result["estimator"]:
        oracle, injector = fitted[-1], fitted[0]
        changed = oracle.fit_y_ != oracle.fit_clean_y_
        assert abs(changed.mean() - rate) < 5 * se
        np.testing.assert_array_equal(changed, injector.noise_mask_)


@pytest.mark.parametrize("noise", ["symmetric", "instance"])
def test_imblearn_pipeline_with_a_real_classifier_in_grid_search(noise):
    X, y = make_classification(n_samples=150, n_informative=4, n_classes=3, random_state=0)
    pipe = make_imblearn_pipeline(
        LabelNoiseInjector(noise=noise, rate=0.3, random_state=0), LogisticRegression()
    )
    search = GridSearchCV(
        pipe,
        {"logisticregression__C": [0.1, 1.0], "labelnoiseinjector__rate": [0.1, 0.3]},
        cv=2,
    ).fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # The best pipeline predicts without noising anything.
    assert search.best_estimator_.predict(X).shape == y.shape


# --- instance-dependent noise (Xia et al., NeurIPS 2020) --------------------------


def _truncated_flip_distribution(rate, std=0.1):
    """The distribution the per-sample flip probabilities are drawn from."""
    return stats.truncnorm((0 - rate) / std, (1 - rate) / std, loc=rate, scale=std)


def _xia_rows(X, y, n_classes, rate, seed):
    """The rows of Xia et al.'s procedure, written sample by sample as in the paper.

    The random numbers are taken in the documented order (flip rates, then
    W[0], W[1], ...), so that the rows can be compared exactly.
    """
    rng = np.random.RandomState(seed)
    flip = _truncated_flip_distribution(rate).rvs(size=len(y), random_state=rng)
    W = [rng.standard_normal((X.shape[1], n_classes)) for _ in range(n_classes)]
    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std > 0, std, np.inf)
    P = np.empty((len(y), n_classes))
    for i, (z, label) in enumerate(zip(Z, y)):
        scores = z @ W[label]
        scores[label] = -np.inf
        P[i] = flip[i] * softmax(scores)
        P[i, label] = 1 - flip[i]
    return P


def _per_class_mean(P, y, n_classes):
    return np.array([P[y == k].mean(axis=0) for k in range(n_classes)])


def _features(n, n_features=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_features))


def test_instance_rows_follow_the_procedure_of_xia_et_al():
    y = _balanced_labels(n_classes=4, n_per_class=300)
    # Columns of different scales and offsets, one constant.
    X = _features(y.size, 6) * [1, 10, 0.1, 1000, 1, 0] + [0, 5, -3, 1e4, 0, 7]
    P = instance_transition_rows(X, y, 4, 0.3, random_state=0)
    np.testing.assert_allclose(P, _xia_rows(X, y, 4, 0.3, seed=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1)
    assert np.all(P >= 0)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.45])
def test_instance_noise_flip_rates(rate):
    y = _balanced_labels()
    X = _features(y.size)
    injector = LabelNoiseInjector(noise="instance", rate=rate, random_state=0)
    X_res, y_noisy = injector.fit_resample(X, y)
    assert X_res is X
    np.testing.assert_array_equal(injector.noise_mask_, y_noisy != y)

    # The per-sample flip probabilities: a normal of mean `rate` and std 0.1,
    # truncated to [0, 1] (whose mean is above `rate` at 0.1, its std below 0.1).
    flip, dist, n = injector.flip_probability_, _truncated_flip_distribution(rate), y.size
    assert flip.shape == y.shape and np.all((flip >= 0) & (flip <= 1))
    assert abs(flip.mean() - dist.mean()) < 5 * dist.std() / np.sqrt(n)
    assert abs(flip.std() - dist.std()) < 5 * dist.std() / np.sqrt(2 * n)
    assert dist.std() > 0.079 and (rate < 0.3 or abs(dist.std() - 0.1) < 1e-3)
    # Not ordered by class or position: no trend between the halves of the data.
    assert abs(flip[: n // 2].mean() - flip[n // 2 :].mean()) < 5 * dist.std() / np.sqrt(n / 4)

    # Each label flips with its own probability, and only to another class: the
    # share of changed labels is the mean flip probability (a binomial draw).
    expected = dist.mean()
    assert abs(injector.noise_rate_ - expected) < 5 * np.sqrt(expected * (1 - expected) / n)
    assert abs(injector.noise_rate_ - rate) < 5 * np.sqrt(rate * (1 - rate) / n) + (
        dist.mean() - rate
    )

    # transition_matrix_ is the mean row of each true class, and the noisy labels
    # of each class follow it (the binomial errors bound those of a sum of rows).
    T = injector.transition_matrix_
    np.testing.assert_allclose(T.sum(axis=1), 1)
    per_class_flip = np.array([flip[y == k].mean() for k in range(N_CLASSES)])
    np.testing.assert_allclose(np.diag(T), 1 - per_class_flip)
    _assert_matches_matrix(y, y_noisy, T, injector.classes_)


def test_instance_noise_depends_on_the_features():
    # Class 0 holds two points, each repeated n times, far apart; the other
    # classes are spread around them.
    n, n_classes = 20_000, 5
    rng = np.random.default_rng(0)
    a = rng.normal(size=8)
    X = np.vstack([np.tile(a, (n, 1)), np.tile(-a, (n, 1)), rng.normal(size=(2 * n, 8))])
    y = np.r_[np.zeros(2 * n, dtype=int), rng.integers(1, n_classes, size=2 * n)]
    at_a, at_b = np.arange(n), np.arange(n, 2 * n)

    P = instance_transition_rows(X, y, n_classes, 0.4, random_state=0)
    flip = 1 - P[np.arange(y.size), y]
    where_to = P / flip[:, None]  # where a flipped label goes
    where_to[np.arange(y.size), y] = 0
    # The same features: the same distribution of targets (their flip
    # probabilities still differ); far apart: different targets.
    np.testing.assert_allclose(where_to[at_a], np.tile(where_to[0], (n, 1)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(where_to[at_b], np.tile(where_to[n], (n, 1)), rtol=1e-10, atol=1e-14)
    assert np.std(flip[at_a]) > 0.09
    assert 0.5 * np.abs(where_to[0] - where_to[n]).sum() > 0.5  # total variation

    # The injector's flipped labels at each point follow that point's targets.
    injector = LabelNoiseInjector(noise="instance", rate=0.4, random_state=0)
    _, y_noisy = injector.fit_resample(X, y)
    np.testing.assert_allclose(injector.flip_probability_, flip)
    for rows, target in [(at_a, where_to[0]), (at_b, where_to[n])]:
        flipped = y_noisy[rows][injector.noise_mask_[rows]]
        assert flipped.size > 0.3 * n and np.all(flipped != 0)
        observed = np.bincount(flipped, minlength=n_classes) / flipped.size
        se = np.sqrt(target * (1 - target) / flipped.size)
        np.testing.assert_array_less(np.abs(observed - target), 5 * se + 1e-12)


def test_instance_noise_without_informative_features_is_symmetric():
    # Constant columns count for nothing: every other class is equally likely.
    y = _balanced_labels(n_classes=4, n_per_class=100)
    P = instance_transition_rows(np.ones((y.size, 3)), y, 4, 0.3, random_state=0)
    flip = 1 - P[np.arange(y.size), y]
    expected = np.where(np.eye(4, dtype=bool)[y], 1 - flip[:, None], flip[:, None] / 3)
    np.testing.assert_allclose(P, expected)


def test_instance_noise_feature_formats():
    y = _balanced_labels(n_classes=3, n_per_class=500)
    images = np.random.default_rng(0).normal(size=(y.size, 4, 4))
    X = images.reshape(y.size, 16)
    P = instance_transition_rows(X, y, 3, 0.3, random_state=0)

    def rows(X_other):
        return instance_transition_rows(X_other, y, 3, 0.3, random_state=0)

    # Standardised columns: units and offsets do not matter.
    np.testing.assert_allclose(rows(X * np.logspace(-3, 3, 16) + 100), P, atol=1e-6)
    np.testing.assert_allclose(rows(images), P)  # n-d arrays are flattened
    np.testing.assert_allclose(rows(sparse.csr_matrix(X)), P, atol=1e-12)
    np.testing.assert_allclose(rows(sparse.csc_matrix(X)), P, atol=1e-12)
    np.testing.assert_allclose(rows(X.astype(np.float32)), P, atol=1e-5)
    np.testing.assert_allclose(rows(pd.DataFrame(X)), P)
    np.testing.assert_allclose(rows(X.tolist()), P)

    # Labels of any kind; X comes back untouched, whatever its container.
    labels = np.array(["ant", "bee", "cat"])[y]
    X_frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(16)])
    injector = LabelNoiseInjector(noise="instance", rate=0.3, random_state=0)
    X_res, y_noisy = injector.fit_resample(X_frame, pd.Series(labels))
    assert X_res is X_frame and isinstance(y_noisy, pd.Series)
    np.testing.assert_allclose(injector.flip_probability_, 1 - P[np.arange(y.size), y])
    np.testing.assert_array_equal(injector.feature_names_in_, X_frame.columns)
    _, y_sparse = clone(injector).fit_resample(sparse.csr_matrix(X), labels)
    np.testing.assert_array_equal(y_sparse, y_noisy.to_numpy())


def test_instance_noise_never_draws_a_class_of_probability_zero():
    # With many features the softmax is sharp: most targets get (almost) 0.
    y = np.random.default_rng(0).integers(0, 10, size=5000)
    X = _features(y.size, n_features=500)
    P = instance_transition_rows(X, y, 10, 0.3, random_state=0)
    assert np.mean(P < 1e-12) > 0.3
    injector = LabelNoiseInjector(noise="instance", rate=0.3, random_state=0)
    _, y_noisy = injector.fit_resample(X, y)
    assert np.all(P[np.arange(y.size), y_noisy] > 0)
    assert np.all(y_noisy[injector.noise_mask_] != y[injector.noise_mask_])


def test_instance_noise_random_state():
    y = _balanced_labels(n_per_class=500)
    X = _features(y.size)

    def fit(random_state):
        return LabelNoiseInjector(
            noise="instance", rate=0.3, random_state=random_state
        ).fit(X, y)

    first, again = fit(0), fit(0)
    np.testing.assert_array_equal(first.noise_mask_, again.noise_mask_)
    np.testing.assert_array_equal(first.flip_probability_, again.flip_probability_)
    np.testing.assert_array_equal(first.transition_matrix_, again.transition_matrix_)
    np.testing.assert_array_equal(fit(np.random.RandomState(5)).noise_mask_, fit(5).noise_mask_)
    other = fit(1)
    assert np.all(other.flip_probability_ != first.flip_probability_)
    assert np.mean(other.noise_mask_ != first.noise_mask_) > 0.2
    # No global random state is read or changed.
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(fit(0).noise_mask_, first.noise_mask_)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_instance_noise_in_noisy_label_classifier():
    # Pipelines: see the tests of imbalanced-learn pipelines above.
    X, y = make_classification(n_samples=300, n_informative=4, n_classes=3, random_state=0)
    clf = NoisyLabelClassifier(
        LogisticRegression(), noise=LabelNoiseInjector(noise="instance", random_state=0)
    ).fit(X, y)
    np.testing.assert_array_equal(clf.estimator_.predict(X), clf.predict(X))
    assert 0.1 < clf.noise_.noise_rate_ < 0.3


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([["a", "b"]] * 30), "Instance-dependent noise computes .* numeric"),
        (np.where(np.arange(60).reshape(30, 2) == 7, np.nan, 1.0), "contains NaN"),
        (np.full((30, 2), np.inf), "infinity"),
        (["good film", "bad film", "great plot"] * 10, "could not convert string"),
        (np.ones(30), "Expected 2D array"),
        (np.zeros((30, 0)), r"0 feature\(s\)"),
    ],
)
def test_instance_noise_needs_numeric_x(X, match):
    with pytest.raises(ValueError, match=match):
        LabelNoiseInjector(noise="instance").fit_resample(X, Y3)


def test_instance_noise_on_a_dataframe_encodes_it_as_the_estimator_does():
    # Issue 25: text and categorical columns failed with "X must be a numeric
    # array". The flips are computed on TabularEncoder's encoding of X; X itself
    # comes back unchanged.
    from sklearn_gce import GCEClassifier, TabularEncoder

    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 3, size=n)
    X = pd.DataFrame(
        {
            "size": np.where(rng.random(n) < 0.1, np.nan, y + rng.normal(size=n)),
            "colour": pd.Categorical(np.array(["red", "green", "blue"])[y]),
            "comment": rng.choice(["fine", "odd", None], size=n),
            "flag": rng.random(n) < 0.5,
        }
    )
    X_before = X.copy()
    injector = LabelNoiseInjector(noise="instance", rate=0.3, random_state=0)
    X_res, y_noisy = injector.fit_resample(X, y)
    assert X_res is X
    pd.testing.assert_frame_equal(X, X_before)
    encoded = TabularEncoder().fit_transform(X)
    assert encoded.dtype == np.float32
    P = instance_transition_rows(encoded, y, 3, 0.3, random_state=0)
    np.testing.assert_array_equal(injector.flip_probability_, 1 - P[np.arange(n), y])
    np.testing.assert_allclose(injector.transition_matrix_, _per_class_mean(P, y, 3))
    assert 0.2 < injector.noise_rate_ < 0.4

    model = make_imblearn_pipeline(
        LabelNoiseInjector(noise="instance", rate=0.3, random_state=0),
        GCEClassifier(max_epochs=3, random_state=0),
    ).fit(X, y)
    np.testing.assert_array_equal(model[0].noise_mask_, injector.noise_mask_)
    assert model.predict(X).shape == (n,)


def test_instance_noise_errors():
    X = np.zeros((Y3.size, 2))
    with pytest.raises(ValueError, match="too high for instance noise.*rate < 0.5"):
        LabelNoiseInjector(noise="instance", rate=0.5).fit_resample(X, Y3)
    with pytest.raises(ValueError, match="mapping is only used with noise='mapping'"):
        LabelNoiseInjector(noise="instance", mapping={0: 1}).fit_resample(X, Y3)
    with pytest.raises(TypeError, match="argument must be a string.* number"):
        LabelNoiseInjector(noise="instance").fit_resample(np.array([[{}, 1]] * 30), Y3)
    LabelNoiseInjector(noise="instance", rate=0.49).fit_resample(X, Y3)


# --- the public builders: the very matrices the injector applies ---------------


@pytest.mark.parametrize("case", ["symmetric", "pairflip", "mapping"])
def test_public_builders_are_what_the_injector_applies(case):
    params, T = STATISTICAL_CASES[case]
    y = _balanced_labels(n_per_class=20)
    injector = LabelNoiseInjector(random_state=0, **params).fit(np.zeros((y.size, 1)), y)
    rate = params["rate"]
    built = {
        "symmetric": lambda: symmetric_transition_matrix(N_CLASSES, rate),
        "pairflip": lambda: pairflip_transition_matrix(N_CLASSES, rate),
        "mapping": lambda: mapping_transition_matrix(
            injector.classes_, params["mapping"], rate
        ),
    }[case]()
    np.testing.assert_array_equal(built, injector.transition_matrix_)
    np.testing.assert_allclose(built, T, atol=1e-12)


def test_public_mapping_builder_presets_and_labels():
    np.testing.assert_array_equal(
        mapping_transition_matrix(np.arange(10), "fashion_mnist", 0.25),
        _from_flips({9: 7, 7: 5, 2: 6, 4: 3, 3: 4}, 0.25, 10),
    )
    T = mapping_transition_matrix(["bird", "cat", "dog"], {"cat": "dog", "dog": "cat"}, 0.3)
    np.testing.assert_allclose(T, [[1, 0, 0], [0, 0.7, 0.3], [0, 0.3, 0.7]])


def test_public_instance_builder_is_what_the_injector_applies():
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array(["x", "y", "z", "w"]), size=4000)
    X = rng.normal(size=(labels.size, 5))
    injector = LabelNoiseInjector(noise="instance", rate=0.35, random_state=3)
    injector.fit(X, labels)
    codes = np.searchsorted(injector.classes_, labels)
    P = instance_transition_rows(X, codes, 4, 0.35, random_state=3)
    np.testing.assert_array_equal(injector.flip_probability_, 1 - P[np.arange(codes.size), codes])
    np.testing.assert_allclose(injector.transition_matrix_, _per_class_mean(P, codes, 4))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: symmetric_transition_matrix(1, 0.1), "n_classes must be an integer >= 2"),
        (lambda: symmetric_transition_matrix(3.0, 0.1), "n_classes must be an integer"),
        (lambda: symmetric_transition_matrix(3, 1.0), r"rate must be a float in \[0, 1\)"),
        (lambda: symmetric_transition_matrix(3, 0.7), "too high for symmetric noise"),
        (lambda: pairflip_transition_matrix(3, 0.5), "too high for pairflip noise"),
        (lambda: mapping_transition_matrix([0, 1], {0: 1}, 0.5), "too high for mapping"),
        (lambda: mapping_transition_matrix([0, 1], "mnist", 0.2), "not a preset"),
        (lambda: mapping_transition_matrix([0, 1], [(0, 1)], 0.2), "must be a dict"),
        (lambda: mapping_transition_matrix([0, 1], {0: 2}, 0.2), "not in y: 2"),
        (lambda: mapping_transition_matrix([[0, 1]], {0: 1}, 0.2), "classes must be 1-D"),
        (lambda: instance_transition_rows(np.zeros((3, 2)), [0, 1, 2], 2, 0.2),
         r"integer class indices in 0..1"),
        (lambda: instance_transition_rows(np.zeros((3, 2)), [0, 1], 2, 0.2),
         "one class index per row of X"),
        (lambda: instance_transition_rows(np.zeros((3, 2)), [0, 1, 1], 2, 0.2, std=-1),
         "std must be"),
        (lambda: instance_transition_rows(np.zeros((3, 2)), [0, 1, 1], 2, 0.6),
         "too high for instance noise"),
    ],
)
def test_public_builder_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_instance_builder_with_a_fixed_flip_rate():
    y = np.arange(300) % 3
    P = instance_transition_rows(_features(300), y, 3, 0.2, std=0, random_state=0)
    np.testing.assert_allclose(P[np.arange(300), y], 0.8)


# --- NoisyLabelClassifier ---------------------------------------------------------


def test_noisy_label_classifier_fits_on_noisy_labels():
    X, y = make_classification(n_samples=600, n_informative=4, n_classes=3, random_state=0)
    noise = LabelNoiseInjector(rate=0.3, random_state=0)
    clf = NoisyLabelClassifier(LogisticRegression(), noise=noise).fit(X, y)

    assert clf.noise_ is not noise and clf.noise_.noise_mask_.sum() > 100
    # The inner model is exactly a model fitted on the injector's noisy labels...
    _, y_noisy = clone(noise).fit_resample(X, y)
    np.testing.assert_array_equal(y_noisy != y, clf.noise_.noise_mask_)
    expected = LogisticRegression().fit(X, y_noisy)
    np.testing.assert_allclose(clf.estimator_.coef_, expected.coef_)
    # ...and not the model of the clean labels.
    assert not np.allclose(clf.estimator_.coef_, LogisticRegression().fit(X, y).coef_)

    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(clf.predict_proba(X), expected.predict_proba(X))
    np.testing.assert_array_equal(clf.predict(X), expected.predict(X))
    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))


def test_noisy_label_classifier_records_and_scores_with_clean_labels():
    X, y = _oracle_data()
    weights = np.linspace(1, 2, len(y))
    clf = NoisyLabelClassifier(
        CleanLabelOracle(), noise=LabelNoiseInjector(rate=0.3, random_state=0)
    ).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(
        clf.estimator_.fit_y_ != y, clf.noise_.noise_mask_
    )
    assert clf.noise_.noise_mask_.any()
    np.testing.assert_array_equal(clf.estimator_.fit_sample_weight_, weights)
    assert clf.score(X, y) == 1.0

    search = GridSearchCV(
        NoisyLabelClassifier(CleanLabelOracle(), noise=LabelNoiseInjector(rate=0.3)),
        {"noise__rate": [0.1, 0.3]},
        cv=StratifiedKFold(3),
    ).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], 1.0)
    assert search.best_estimator_.noise_.noise_rate_ > 0.05


def test_noisy_label_classifier_grid_search_clone_and_pickle():
    X, y = make_classification(n_samples=150, n_informative=4, n_classes=3, random_state=0)
    clf = NoisyLabelClassifier(
        LogisticRegression(), noise=LabelNoiseInjector(rate=0.3, random_state=0)
    )
    search = GridSearchCV(clf, {"estimator__C": [0.01, 1.0]}, cv=2).fit(X, y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
    assert isinstance(search.best_estimator_, NoisyLabelClassifier)

    fitted = clone(clf).fit(X, y)
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "estimator_")
    assert unfitted.get_params()["noise__rate"] == 0.3
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.noise_.noise_mask_, fitted.noise_.noise_mask_)


def test_noisy_label_classifier_delegation_and_defaults():
    X, y = make_classification(n_samples=200, random_state=0)
    clf = NoisyLabelClassifier(RidgeClassifier())
    assert not hasattr(clf, "predict_proba")
    assert hasattr(clf, "decision_function")
    assert not hasattr(clf, "classes_")  # unfitted
    clf.fit(X, y)
    assert isinstance(clf.noise_, LabelNoiseInjector)
    assert clf.noise_.rate == 0.2 and clf.noise_.noise == "symmetric"
    assert clf.decision_function(X).shape == (200,)
    assert hasattr(NoisyLabelClassifier(LogisticRegression()), "predict_proba")

    with pytest.raises(ValueError, match="noise must keep the number and order of the rows"):
        NoisyLabelClassifier(
            LogisticRegression(), noise=RandomUnderSampler(random_state=0)
        ).fit(X[:150], y[:150] * (np.arange(150) < 120))


def test_noisy_label_classifier_refuses_a_noise_step_that_reorders_rows():
    # Issue 25: on balanced classes RandomUnderSampler keeps every row but
    # groups them by class, so sample weights no longer matched their rows.
    X, y = make_classification(n_samples=200, random_state=0)
    assert np.bincount(y).tolist() == [100, 100]
    clf = NoisyLabelClassifier(LogisticRegression(), noise=RandomUnderSampler(random_state=0))
    with pytest.raises(
        ValueError,
        match=r"noise must keep the number and order of the rows of X \(sample_weight.*"
        r"RandomUnderSampler kept 200 samples but not in their order",
    ):
        clf.fit(X, y, sample_weight=np.linspace(1, 2, 200))


class _ReversingNoise(LabelNoiseInjector):
    """Noise that also reverses the rows, and exposes no sample_indices_."""

    def fit_resample(self, X, y):
        X_noisy, y_noisy = super().fit_resample(X, y)
        return X_noisy[::-1], y_noisy[::-1]


@pytest.mark.parametrize("as_frame", [False, True])
def test_noisy_label_classifier_refuses_a_noise_step_that_reorders_rows_silently(as_frame):
    # Issue 40: the order was checked through sample_indices_ only; the rows themselves are compared now
    X, y = make_classification(n_samples=200, random_state=0)
    X = pd.DataFrame(X).assign(city=np.array(["a", None, "b", "c"], dtype=object)[np.arange(200) % 4]) if as_frame else X
    clf = NoisyLabelClassifier(LogisticRegression(), noise=_ReversingNoise(random_state=0))
    with pytest.raises(ValueError, match=r"_ReversingNoise returned 200 samples, but not the rows of X"):
        clf.fit(X if not as_frame else X.drop(columns="city"), y, sample_weight=np.linspace(1, 2, 200))
    if as_frame:  # missing values in object columns compare equal to themselves: nothing refused
        from sklearn_gce._noisy_label_classifier import _same_rows
        assert _same_rows(X, X.copy()) and not _same_rows(X, X.iloc[::-1])
        # rows outside the mask may differ (an open-set injector replaces some by design)
        changed = X.copy()
        changed.iloc[3, 0] = 99.0
        assert not _same_rows(X, changed) and _same_rows(X, changed, np.arange(200) != 3)


# --- estimator checks -------------------------------------------------------------


@parametrize_with_sampler_checks(
    [
        LabelNoiseInjector(random_state=0),
        LabelNoiseInjector(noise="pairflip", rate=0.3, random_state=0),
        LabelNoiseInjector(noise="instance", rate=0.3, random_state=0),
    ]
)
def test_imblearn_sampler_checks(estimator, check):
    # All of imbalanced-learn's sampler checks apply: none is expected to fail.
    check(estimator)


def test_imblearn_param_validation_and_feature_names():
    check_param_validation("LabelNoiseInjector", LabelNoiseInjector())
    check_dataframe_column_names_consistency("LabelNoiseInjector", LabelNoiseInjector())
    check_dataframe_column_names_consistency(
        "LabelNoiseInjector", LabelNoiseInjector(noise="instance", random_state=0)
    )


def _expected_failed_checks(estimator):
    if isinstance(estimator, LabelNoiseInjector):
        if estimator.noise == "instance":
            return {}  # reads and validates X: every check applies
        reason = (
            "by design the injector never reads X's values (only its length), so X "
            "of any shape, including 1-D text or no columns, is passed on to the next "
            "step, which validates it"
        )
        return {"check_fit1d": reason, "check_estimators_empty_data_messages": reason}
    if estimator.noise is not None and estimator.noise.rate > 0:
        reason = (
            "duplicating a row is not the same as doubling its weight under label "
            "noise: each copy gets its own draw of the noise"
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    return {}


@parametrize_with_checks(
    [
        LabelNoiseInjector(random_state=0),
        LabelNoiseInjector(noise="instance", rate=0.3, random_state=0),
        NoisyLabelClassifier(LogisticRegression(), noise=LabelNoiseInjector(rate=0.0)),
        NoisyLabelClassifier(
            LogisticRegression(), noise=LabelNoiseInjector(rate=0.3, random_state=0)
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_error_messages_name_the_allowed_values():
    # The parameter validation message lists every preset.
    with pytest.raises(ValueError) as info:
        LabelNoiseInjector(noise="mapping", mapping="mnist").fit_resample(Y3, Y3)
    for preset in ("cifar10", "cifar100", "fashion_mnist"):
        assert re.search(preset, str(info.value))
