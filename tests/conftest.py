import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def noisy_digits(digits):
    """Digits with 40% symmetric label noise on a training split; clean test labels."""
    X, y = digits
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, test = order[:1200], order[1200:]
    y_noisy = y[train].copy()
    flip = rng.rand(len(train)) < 0.4
    y_noisy[flip] = (y_noisy[flip] + rng.randint(1, 10, flip.sum())) % 10
    return X[train], y_noisy, flip, X[test], y[test]
