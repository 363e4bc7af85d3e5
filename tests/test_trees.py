"""The Lq loss for gradient-boosted trees: derivatives, LightGBM objective and classifier."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gce import GCELGBMClassifier, GCEObjective, LabelNoiseInjector
from sklearn_gce.losses import lq
from sklearn_gce import lq_grad_hess

lgb = pytest.importorskip("lightgbm")

# Tiny enough that the exact Hessian is never floored but where it is negative.
TINY_FLOOR = 1e-12


def _scores(n_classes, n=40, scale=3.0, seed=0):
    """Raw scores, with rows at the extremes (p_y near 0 and near 1) appended."""
    rng = np.random.default_rng(seed)
    shape = (n,) if n_classes == 2 else (n, n_classes)
    z = rng.normal(scale=scale, size=shape)
    y = rng.integers(n_classes, size=n)
    if n_classes == 2:
        extreme = np.array([50.0, -50.0, 50.0, -50.0, 500.0, -500.0])
        y_extreme = np.array([1, 1, 0, 0, 0, 1])
    else:
        extreme = np.zeros((4, n_classes))
        extreme[0, 0] = extreme[1, 1] = 50.0
        extreme[2, 0] = extreme[3, 1] = -50.0
        y_extreme = np.array([0, 0, 0, 1])
    return np.concatenate([z, extreme]), np.concatenate([y, y_extreme])


def _autograd(y, z, q):
    """Gradient, diagonal Hessian and weighted CE Hessian ``a p (1 - p)`` of the package's lq."""
    logits = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    full = torch.stack([torch.zeros_like(logits), logits], 1) if z.ndim == 1 else logits
    log_p = torch.log_softmax(full, 1)
    log_p_y = log_p.gather(1, torch.as_tensor(y).long()[:, None])[:, 0]
    (grad,) = torch.autograd.grad(lq(log_p_y, q).sum(), logits, create_graph=True)
    columns = [grad] if z.ndim == 1 else [grad[:, k] for k in range(z.shape[1])]
    hess = [torch.autograd.grad(c.sum(), logits, retain_graph=True)[0] for c in columns]
    hess = hess[0] if z.ndim == 1 else torch.stack([h[:, k] for k, h in enumerate(hess)], 1)
    p = log_p.exp()[:, 1] if z.ndim == 1 else log_p.exp()
    a = torch.exp(q * log_p_y)
    ce = (a[:, None] if z.ndim == 2 else a) * p * (1 - p)
    return grad.detach().numpy(), hess.detach().numpy(), ce.detach().numpy()


@pytest.mark.parametrize("n_classes", [2, 3, 7])
@pytest.mark.parametrize("q", [1e-4, 0.3, 0.7, 0.999, 1.0])
def test_gradient_and_hessian_are_autograd_of_lq(n_classes, q):
    z, y = _scores(n_classes)
    grad, hess = lq_grad_hess(y, z, q, hessian_floor=TINY_FLOOR)
    auto_grad, auto_hess, ce = _autograd(y, z, q)
    assert grad.shape == hess.shape == z.shape
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    # Entries are O(1) and cancel (p (1 - p) - q g^2): absolute tolerances.
    np.testing.assert_allclose(grad, auto_grad, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hess, np.maximum(auto_hess, TINY_FLOOR * ce), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("floor", [0.01, 0.5, 1.0])
def test_hessian_floor(n_classes, floor):
    z, y = _scores(n_classes, n=200)
    q = 0.9
    _, hess = lq_grad_hess(y, z, q, hessian_floor=floor)
    _, auto_hess, ce = _autograd(y, z, q)
    assert np.all(hess >= floor * ce * (1 - 1e-12))
    # Above the floor the exact Hessian is kept; it lies below the weighted CE Hessian.
    np.testing.assert_allclose(hess, np.maximum(auto_hess, floor * ce), rtol=1e-9, atol=1e-12)
    assert np.all(auto_hess <= ce + 1e-12)
    assert (auto_hess < 0).any()  # the case the floor is for
    if floor == 1.0:  # numpy's exp and log-softmax against torch's: a few ulps apart, more where p_k is tiny
        np.testing.assert_allclose(hess, ce, rtol=1e-9, atol=1e-12)


def test_hessian_is_floored_on_the_label_from_uniform_scores():
    # With K classes and q > 1 / (K - 1), the exact Hessian on the label's score is negative at p = 1/K.
    y = np.arange(5)
    _, hess = lq_grad_hess(y, np.zeros((5, 5)), 0.5, hessian_floor=0.1)
    a = 0.2**0.5
    np.testing.assert_allclose(np.diag(hess), 0.1 * a * 0.2 * 0.8)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(hess[off], a * (0.2 * 0.8 - 0.5 * 0.2**2))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_q_to_zero_is_cross_entropy(n_classes):
    z, y = _scores(n_classes)
    grad, hess = lq_grad_hess(y, z, 1e-9, hessian_floor=TINY_FLOOR)
    if n_classes == 2:
        p = softmax(np.column_stack([np.zeros_like(z), z]), axis=1)[:, 1]
        ce_grad, ce_hess = p - y, p * (1 - p)
    else:
        p = softmax(z, axis=1)
        ce_grad, ce_hess = p - np.eye(n_classes)[y], p * (1 - p)
    # The weight p_y**q differs from 1 by q |log p_y| <= 1e-9 * 100.
    np.testing.assert_allclose(grad, ce_grad, atol=1e-6)
    np.testing.assert_allclose(hess, ce_hess, atol=1e-6)


def test_extreme_scores_are_finite():
    cases = [  # raw scores, labels [0, 0], log p_y of each row
        (np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]), np.array([0.0, -2e4])),
        (np.array([-1e4, 1e4]), np.array([0.0, -1e4])),
    ]
    for z, log_p_y in cases:
        for q in (1e-6, 0.5, 1.0):
            grad, hess = lq_grad_hess([0, 0], z, q)
            assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess)) and np.all(hess >= 0)
            # p_y = 1: nothing to learn; p_y = exp(log p_y): cross entropy's gradient times p_y**q.
            if z.ndim == 2:
                expected = np.exp(q * log_p_y)[:, None] * np.array([[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])
            else:
                expected = np.exp(q * log_p_y) * np.array([0.0, 1.0])
            np.testing.assert_allclose(grad, expected, atol=1e-300)


def test_sample_weight_multiplies():
    z, y = _scores(4)
    w = np.random.default_rng(1).uniform(0, 3, size=len(y))
    grad, hess = lq_grad_hess(y, z, 0.6)
    grad_w, hess_w = lq_grad_hess(y, z, 0.6, sample_weight=w)
    np.testing.assert_allclose(grad_w, grad * w[:, None])
    np.testing.assert_allclose(hess_w, hess * w[:, None])


def test_invalid_arguments():
    z, y = _scores(3, n=4)
    for q in (0.0, 1.5, -0.1, True):
        with pytest.raises(ValueError, match="q must"):
            lq_grad_hess(y, z, q)
    for floor in (0.0, 1.1):
        with pytest.raises(ValueError, match="hessian_floor"):
            lq_grad_hess(y, z, 0.5, hessian_floor=floor)
    with pytest.raises(ValueError, match="class indices"):
        lq_grad_hess(np.full(len(y), 3), z, 0.5)
    with pytest.raises(ValueError, match="class indices"):
        lq_grad_hess(y + 0.5, z, 0.5)
    with pytest.raises(ValueError, match="raw_score"):
        lq_grad_hess(y, z[:, :1], 0.5)
    with pytest.raises(ValueError, match="q must"):
        GCEObjective(q=2.0)


def test_objective_applies_lightgbms_multiclass_factor():
    z, y = _scores(4)
    w = np.linspace(0.5, 2, len(y))
    grad, hess = GCEObjective(q=0.4, hessian_floor=0.3)(y.astype(float), z, w)
    g, h = lq_grad_hess(y, z, 0.4, hessian_floor=0.3, sample_weight=w)
    np.testing.assert_allclose(grad, g)
    np.testing.assert_allclose(hess, h * 4 / 3)
    zb, yb = _scores(2)
    gb, hb = GCEObjective(q=0.4)(yb, zb)  # binary: the exact derivatives, no factor
    np.testing.assert_allclose(hb, lq_grad_hess(yb, zb, 0.4)[1])
    assert repr(GCEObjective(q=0.4)) == "GCEObjective(q=0.4, hessian_floor=1.0)"


def _quiet(**params):
    return {"verbose": -1, "n_jobs": 1, "random_state": 0, **params}


@pytest.mark.parametrize("loader", [load_iris, load_breast_cancer])
def test_q_to_zero_is_lightgbms_own_objective(loader):
    # Balanced iris: LightGBM's multiclass starts from the log class frequencies, a
    # constant shift of the raw scores; binary: boost_from_average=False does the same.
    X, y = loader(return_X_y=True)
    ours = GCELGBMClassifier(q=1e-9, **_quiet(n_estimators=10)).fit(X, y)
    theirs = lgb.LGBMClassifier(**_quiet(n_estimators=10, boost_from_average=False)).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    # The objective alone, in a plain LGBMClassifier, gives the same raw scores.
    plain = lgb.LGBMClassifier(objective=GCEObjective(q=1e-9), **_quiet(n_estimators=10)).fit(X, y)
    np.testing.assert_allclose(plain.predict_proba(X, raw_score=True), ours.predict_proba(X, raw_score=True))


def test_lightgbm_train_api():
    X, y = load_iris(return_X_y=True)
    params = {"objective": GCEObjective(q=0.5), "num_class": 3, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=10)
    ours = GCELGBMClassifier(q=0.5, **_quiet(n_estimators=10)).fit(X, y)
    np.testing.assert_allclose(booster.predict(X), ours.predict_proba(X, raw_score=True))


def test_classifier_binary_probabilities_and_metrics():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0, stratify=y)
    clf = GCELGBMClassifier(q=0.7, **_quiet(n_estimators=40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # eval_set in lightgbm >= 4.7
        clf.fit(X_train, y_train, eval_set=[(X_val, y_val)], eval_metric=["error", "auc"])
    proba = clf.predict_proba(X_val)
    raw = clf.predict_proba(X_val, raw_score=True)
    assert raw.shape == (len(y_val),)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-raw)))
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X_val), (raw > 0).astype(int))
    result = clf.evals_result_["valid_0"]
    assert set(result) == {"binary_logloss", "binary_error", "auc"}
    assert result["binary_logloss"][-1] == pytest.approx(log_loss(y_val, proba), rel=1e-6)
    assert result["binary_error"][-1] == pytest.approx(np.mean(clf.predict(X_val) != y_val))
    assert clf.score(X_val, y_val) > 0.9


def test_classifier_early_stopping_metrics_see_probabilities():
    X, y = load_iris(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0, stratify=y)
    seen = []

    def brier(y_true, proba):
        seen.append(proba)
        return "brier", float(np.mean((np.eye(3)[y_true.astype(int)] - proba) ** 2)), False

    clf = GCELGBMClassifier(q=0.5, **_quiet(n_estimators=300, metric="lq"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        clf.fit(X_train, y_train, eval_set=[(X_val, y_val)], eval_metric=[brier, "multi_logloss"],
                callbacks=[lgb.early_stopping(10, first_metric_only=True, verbose=False)])
    assert 0 < clf.best_iteration_ < 300
    assert np.allclose(seen[-1].sum(1), 1.0)
    result = clf.evals_result_["valid_0"]
    best = clf.best_iteration_ - 1
    proba = clf.predict_proba(X_val)  # at the best iteration
    p_y = proba[np.arange(len(y_val)), y_val]
    assert result["lq"][best] == pytest.approx(np.mean((1 - p_y**0.5) / 0.5), rel=1e-6)
    assert result["multi_logloss"][best] == pytest.approx(log_loss(y_val, proba), rel=1e-6)


def test_classifier_sklearn_conventions(tmp_path):
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = GCELGBMClassifier(q=0.3, hessian_floor=0.5, **_quiet(n_estimators=15))
    params = clf.get_params()
    assert params["q"] == 0.3 and params["hessian_floor"] == 0.5 and "objective" not in params
    assert params["verbose"] == -1
    clf.fit(X, labels)
    assert clone(clf).get_params() == params
    assert set(clf.predict(X)) <= set(labels)
    assert repr(clf.objective_) == "GCEObjective(q=0.3, hessian_floor=0.5)"
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    # Same seed, same trees; q is used.
    np.testing.assert_array_equal(clone(clf).fit(X, labels).predict_proba(X), clf.predict_proba(X))
    assert not np.allclose(clf.set_params(q=0.9).fit(X, labels).predict_proba(X), restored.predict_proba(X))
    with pytest.raises(ValueError, match="q must"):
        clone(clf).set_params(q=0.0).fit(X, y)
    with pytest.raises(ValueError, match="objective cannot be set"):
        clone(clf).set_params(objective="multiclass").fit(X, y)


def test_sample_weight_reaches_the_objective():
    X, y = load_breast_cancer(return_X_y=True)
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    ours = GCELGBMClassifier(q=1e-9, **_quiet(n_estimators=10)).fit(X, y, sample_weight=w)
    theirs = lgb.LGBMClassifier(**_quiet(n_estimators=10, boost_from_average=False)).fit(X, y, sample_weight=w)
    unweighted = clone(ours).fit(X, y).predict_proba(X)
    assert np.abs(ours.predict_proba(X) - unweighted).max() > 1e-3
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


def test_noisy_digits_end_to_end():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    _, y_noisy = LabelNoiseInjector(noise="symmetric", rate=0.3, random_state=0).fit_resample(X_train, y_train)
    assert 0.25 < np.mean(y_noisy != y_train) < 0.35
    clf = GCELGBMClassifier(q=0.7, **_quiet(n_estimators=30)).fit(X_train, y_noisy)
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    # On the clean test labels: 0.91 on three splits; with hessian_floor=1e-3 (the exact
    # Hessian, clipped) the same trees underfit: 0.84 on this one.
    assert np.mean(clf.predict(X_test) == y_test) > 0.88


@parametrize_with_checks(
    [GCELGBMClassifier(n_jobs=1)],
    expected_failed_checks=lambda est: {
        "check_all_zero_sample_weights_error": "LightGBM's own: LGBMClassifier fits all-zero weights too.",
    },
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
