"""Forward correction with an estimated transition matrix: the loss, the estimate, the estimator."""

import numpy as np
import pytest
import torch

from sklearn_gce import GCEClassifier, LabelNoiseInjector
from sklearn_gce._correction import ForwardCorrectedLoss, estimate_transition_matrix
from sklearn_gce.losses import CrossEntropyLoss, GCELoss, TruncatedGCELoss


def test_forward_correction_is_the_loss_of_the_noisy_label_distribution():
    rng = np.random.RandomState(0)
    logits = torch.tensor(rng.randn(6, 4) * 2, dtype=torch.float32)
    target = torch.tensor(rng.randint(0, 4, 6))
    T = rng.dirichlet(np.ones(4) * 0.5, size=4) * 0.5 + np.eye(4) * 0.5
    p = torch.softmax(logits.double(), -1).numpy()
    q = p @ T
    got = ForwardCorrectedLoss(GCELoss(q=0.7, reduction="none"), T)(logits, target).numpy()
    np.testing.assert_allclose(got, (1 - q[np.arange(6), target] ** 0.7) / 0.7, rtol=1e-5)
    got = ForwardCorrectedLoss(CrossEntropyLoss(reduction="none"), T)(logits, target).numpy()
    np.testing.assert_allclose(got, -np.log(q[np.arange(6), target]), rtol=1e-5)
    # The identity matrix changes nothing.
    base = GCELoss(q=0.7, reduction="none")
    torch.testing.assert_close(ForwardCorrectedLoss(base, np.eye(4))(logits, target), base(logits, target))


def test_forward_correction_is_finite_at_extreme_logits_and_zero_entries():
    T = np.array([[1.0, 0.0], [0.3, 0.7]])
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = ForwardCorrectedLoss(CrossEntropyLoss(), T)(logits.to(torch.bfloat16), torch.tensor([1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    keep = ForwardCorrectedLoss(TruncatedGCELoss(k=0.5), T).optimal_weight(
        torch.tensor([[5.0, -5.0], [-5.0, 5.0]]), torch.tensor([0, 0])
    )
    assert keep.tolist() == [1.0, 0.0]  # p(label 0 | x) is 0.3 for the second row


def test_the_estimate_recovers_a_known_matrix_from_good_probabilities():
    rng = np.random.RandomState(0)
    true = rng.randint(0, 3, 6000)
    T = np.array([[0.7, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    noisy = np.array([rng.choice(3, p=T[c]) for c in true])
    proba = np.full((6000, 3), 0.1) + np.eye(3)[true] * 0.7
    np.testing.assert_allclose(estimate_transition_matrix(noisy, proba), T, atol=0.03)


@pytest.fixture(scope="module")
def pairflip_digits(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, test = order[:1300], order[1300:]
    injector = LabelNoiseInjector(noise="pairflip", rate=0.4, random_state=0)
    _, y_noisy = injector.fit_resample(X[train], y[train])
    return X[train], y_noisy, injector.transition_matrix_, X[test], y[test]


def test_forward_correction_estimates_the_noise_and_beats_class_dependent_flips(pairflip_digits):
    X, y_noisy, T, X_test, y_test = pairflip_digits
    plain = GCEClassifier(max_epochs=60, random_state=0).fit(X, y_noisy)
    corrected = GCEClassifier(noise_correction="forward", max_epochs=60, random_state=0).fit(X, y_noisy)
    estimate = corrected.transition_matrix_
    assert estimate.shape == (10, 10)
    np.testing.assert_allclose(estimate.sum(1), 1, atol=1e-6)
    assert np.abs(estimate - T).mean() < 0.08
    assert corrected.score(X_test, y_test) > plain.score(X_test, y_test) + 0.03
    assert not hasattr(plain, "transition_matrix_")


def test_forward_correction_composes_with_the_truncated_loss_and_refuses_partial_fit_first(digits):
    X, y = digits
    clf = GCEClassifier(loss="truncated", noise_correction="forward", prune_start=2, max_epochs=4, random_state=0)
    clf.fit(X[:600], y[:600])
    assert clf.label_issues_.shape == (600,) and isinstance(clf.criterion_, ForwardCorrectedLoss)
    clf.partial_fit(X[600:700], y[600:700])  # keeps the estimate of fit
    with pytest.raises(ValueError, match="call fit once before partial_fit"):
        GCEClassifier(noise_correction="forward").partial_fit(X[:100], y[:100], classes=np.arange(10))
