"""Early-learning regularisation: its closed form, its per-sample state, and what it buys under noise."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_gce import GCEClassifier
from sklearn_gce._elr import early_learning_penalty


def test_penalty_matches_the_closed_form_and_updates_only_its_rows():
    rng = np.random.RandomState(0)
    logits = torch.tensor(rng.randn(4, 5) * 3)
    targets = torch.tensor(rng.dirichlet(np.ones(5), size=10))
    before = targets.clone()
    rows = torch.tensor([7, 2, 9, 0])
    beta = 0.7
    penalty = early_learning_penalty(logits, targets, rows, beta)

    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    p = np.clip(p, 1e-4, 1 - 1e-4)
    t = beta * before.numpy()[rows] + (1 - beta) * p / p.sum(1, keepdims=True)
    np.testing.assert_allclose(targets[rows].numpy(), t, rtol=1e-10, atol=1e-14)
    # log(1 - t.p) cancels where t.p nears 1: an absolute floor at float64's scale
    np.testing.assert_allclose(penalty.numpy(), np.log(1 - (t * p).sum(1)), rtol=1e-9, atol=1e-12)
    untouched = np.setdiff1d(np.arange(10), rows.numpy())
    assert torch.equal(targets[untouched], before[untouched])


def test_its_gradient_pulls_the_prediction_towards_the_target():
    targets = torch.tensor([[0.9, 0.05, 0.05]])
    logits = torch.tensor([[0.0, 2.0, 0.0]], requires_grad=True)
    # beta=1 keeps the target fixed, so only the pull is measured.
    early_learning_penalty(logits, targets, torch.tensor([0]), beta=1.0).sum().backward()
    assert logits.grad[0, 0] < 0 < logits.grad[0, 1]  # descent raises p_0, lowers p_1


def test_extreme_and_half_precision_logits_stay_finite():
    targets = torch.zeros(2, 3)
    for logits in (torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]),
                   torch.randn(2, 3).to(torch.bfloat16)):
        logits = logits.clone().requires_grad_(True)
        penalty = early_learning_penalty(logits, targets, torch.tensor([0, 1]), 0.7)
        penalty.sum().backward()
        assert torch.isfinite(penalty).all() and torch.isfinite(logits.grad).all()


class KeepState(Callback):
    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.state_ = batch.state


def test_targets_are_kept_per_training_row(digits):
    X, y = digits
    keep = KeepState()
    GCEClassifier(elr_lambda=1.0, max_epochs=2, callbacks=[keep], random_state=0).fit(X[:500], y[:500])
    targets = keep.state_.elr_targets((10,))
    seen = targets.sum(1) > 0
    # Every training row has a moving average (a distribution); the 10% held
    # out for early stopping never trains, so has none.
    assert seen.sum() == 450
    np.testing.assert_allclose(targets[seen].sum(1).numpy(), 1 - 0.7**2, rtol=1e-5)


def test_elr_beats_plain_cross_entropy_on_noisy_digits(noisy_digits):
    X, y_noisy, _, X_test, y_test = noisy_digits
    scores = {
        lam: GCEClassifier(loss="ce", elr_lambda=lam, max_epochs=40, early_stopping=False, random_state=0)
        .fit(X, y_noisy)
        .score(X_test, y_test)
        for lam in (0.0, 3.0)
    }
    assert scores[3.0] > scores[0.0] + 0.03, scores


@pytest.mark.parametrize("params, match", [({"elr_lambda": -1.0}, "elr_lambda"), ({"elr_beta": 1.0}, "elr_beta")])
def test_bad_elr_options_are_reported_at_fit(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        GCEClassifier(**params).fit(X[:50], y[:50])
