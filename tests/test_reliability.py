"""Loud, early, clear failures; numerics; persistence; reproducibility."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sklearn_gce import GCEClassifier, TrainingDivergedError

RNG = np.random.RandomState(0)
X = RNG.rand(40, 3)
Y = np.array([0, 1] * 20)
QUICK = dict(max_epochs=3, random_state=0)

BAD_INPUTS = {
    "NaN in X": (np.where(X > 0.9, np.nan, X), Y, ValueError, "Input X contains NaN"),
    "inf in X": (np.where(X > 0.9, np.inf, X), Y, ValueError, "Input X contains infinity"),
    "NaN in y": (X, np.where(np.arange(40) == 3, np.nan, Y), ValueError, r"missing label\(s\).*row\(s\) \[3\]"),
    "None in string y": (X, np.array(["a", "b"] * 19 + [None, "a"], dtype=object), ValueError, r"missing label.*\[38\]"),
    "lengths differ": (X, Y[:10], ValueError, "inconsistent numbers of samples"),
    "empty X": (X[:0], Y[:0], ValueError, "0 sample"),
    "single class": (X, np.zeros(40), ValueError, "at least 2 classes.*only one class: 0.0"),
    "regression target": (X, RNG.rand(40), ValueError, "Unknown label type: continuous"),
    # (string, category and boolean columns are encoded: see tests/test_tabular.py)
    "datetime column": (
        pd.DataFrame({"when": pd.date_range("2020-01-01", periods=40), "size": X[:, 0]}),
        Y,
        ValueError,
        r"Column 'when' has dtype datetime64.*\.dt\.year",
    ),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_raises_a_clear_error(name):
    Xb, yb, error, match = BAD_INPUTS[name]
    with pytest.raises(error, match=match):
        GCEClassifier(**QUICK).fit(Xb, yb)


def test_predict_checks_features_against_fit():
    clf = GCEClassifier(**QUICK).fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 features, but GCEClassifier is expecting 3"):
        clf.predict(X[:, :2])
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = GCEClassifier(**QUICK).fit(frame, Y)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"c": "z"}))
    with pytest.raises(ValueError, match=r"The column 'c' was numeric at fit .* such as 'x'"):
        clf.predict(frame.assign(c="x"))


def test_predict_before_fit_is_not_fitted_error():
    for method in ("predict", "predict_proba", "score"):
        with pytest.raises(NotFittedError):
            args = (X, Y) if method == "score" else (X,)
            getattr(GCEClassifier(), method)(*args)


class NaNAfter(torch.nn.Module):
    """Returns NaN logits from the n-th training batch on."""

    def __init__(self, n=5):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.n = n
        self.calls = 0

    def forward(self, X):
        out = self.linear(X)
        if self.training:
            self.calls += 1
            if self.calls >= self.n:
                out = out * float("nan")
        return out


def test_divergence_stops_with_a_clear_error_and_no_model():
    clf = GCEClassifier(NaNAfter, batch_size=8, max_epochs=5, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 5: the loss became nan"):
        clf.fit(X, Y)
    assert len(clf.history) == 1  # what happened is kept for diagnosis
    with pytest.raises(NotFittedError):
        clf.predict(X)


class InterruptAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_fit_leaves_a_usable_model_with_history():
    clf = GCEClassifier(max_epochs=10, callbacks=[InterruptAt(3)], random_state=0).fit(X, Y)
    assert len(clf.history) == 3
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert set(clf.predict(X)) <= {0, 1}


def test_pickle_and_joblib_round_trips(tmp_path):
    clf = GCEClassifier(**QUICK).fit(X, np.array(["no", "yes"] * 20))
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert list(loaded.predict(X[:2])) == list(clf.predict(X[:2]))


def test_model_saved_for_cuda_loads_on_a_cpu_only_machine(monkeypatch):
    clf = GCEClassifier(device="cpu", **{k: v for k, v in QUICK.items()}).fit(X, Y)
    expected = clf.predict_proba(X)
    clf.__dict__["device"] = "cuda"  # as if trained with device='cuda'
    state = pickle.dumps(clf)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle.loads(state)
    assert torch.device(loaded.device) == torch.device("cpu")
    assert any("cuda" in str(w.message).lower() for w in caught)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_auto_device_model_resolves_to_cpu_when_cuda_is_absent(monkeypatch):
    clf = GCEClassifier(**QUICK).fit(X, Y)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["device"] == "auto" and loaded.device == "cpu"


def test_save_params_path_explains_what_to_do(tmp_path):
    clf = GCEClassifier(**QUICK).fit(X, Y)
    clf.save_params(f_params=tmp_path / "weights.pt")
    fresh = GCEClassifier(**QUICK)
    with pytest.raises(NotFittedError, match="pickle or joblib"):
        fresh.initialize()


def test_reproducible_on_cpu_and_seed_sensitive():
    a = GCEClassifier(**QUICK).fit(X, Y).predict_proba(X)
    b = GCEClassifier(**QUICK).fit(X, Y).predict_proba(X)
    c = GCEClassifier(max_epochs=3, random_state=1).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
