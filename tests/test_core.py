"""The training core under both estimators: its contracts, and defects it mended."""

import importlib
import os
import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_gce import GCEClassifier, GCEClassifierCV
from sklearn_gce._base import BaseGCEClassifier
from sklearn_gce._compat import IncompatiblePickleError
from sklearn_gce._rows import RowDataset, SampleState

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def test_both_estimators_are_siblings_over_the_core():
    assert issubclass(GCEClassifier, BaseGCEClassifier) and issubclass(GCEClassifierCV, BaseGCEClassifier)
    assert not issubclass(GCEClassifierCV, GCEClassifier)
    # neither refuses a feature of the other: what they share is the core's, what one lacks it does not have
    for name in ("noise_correction", "k", "elr_lambda", "early_stopping", "device"):
        assert name in GCEClassifier().get_params() and name in GCEClassifierCV().get_params()
    assert not hasattr(GCEClassifierCV(), "partial_fit") and hasattr(GCEClassifier(), "partial_fit")


class _FailWhileTheAdditiveModelTrains(Callback):
    """Raise at the first epoch that trains with the additive model's larger learning rate."""

    active = False

    def on_epoch_begin(self, net, **kwargs):
        if self.active and net.optimizer_.param_groups[0]["lr"] > net.lr:
            raise RuntimeError("interrupted")


def test_a_failed_warm_fit_leaves_the_learning_rate_as_it_was(digits):
    X, y = digits
    failing = _FailWhileTheAdditiveModelTrains()
    clf = GCEClassifier(max_epochs=2, random_state=0, warm_start=True, noise_correction=None,
                        callbacks=[("fail", failing)]).fit(X[:400], y[:400])
    failing.active = True
    with pytest.raises(RuntimeError, match="interrupted"):
        clf.fit(X[:400], y[:400])
    assert clf.optimizer_.param_groups[0]["lr"] == clf.lr  # was 4 times it


def test_the_per_sample_state_of_stacked_members_has_a_column_each():
    state = SampleState(np.array([0, 1, 0]), np.ones(3, dtype=np.float32), None, n_members=4)
    assert state.keep.shape == (3, 4) and state.keep.dtype == torch.float32
    data = RowDataset(np.zeros((3, 2), np.float32), np.array([0, 1, 0]), np.array([0, 1, 0]),
                      np.ones(3, np.float32), None, n_members=4)
    data.state.keep[0, 1] = 0
    data.reset_state()
    assert data.state.keep.shape == (3, 4) and bool(data.state.keep.eq(1).all())
    assert SampleState(np.array([0, 1]), np.ones(2, np.float32), None).keep.shape == (2,)


def test_a_refused_call_leaves_every_fitted_attribute_as_it_was(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=2, random_state=0).fit(X[:200], y[:200])
    before = {name: value for name, value in vars(clf).items() if name.endswith("_") and not name.endswith("__")}
    with pytest.raises(ValueError):
        clf.set_params(warm_start=True).fit(X[:200, :10], y[:200])  # other features
    after = {name: value for name, value in vars(clf).items() if name.endswith("_") and not name.endswith("__")}
    assert after.keys() == before.keys() and all(after[name] is before[name] for name in before)


def test_a_model_pickled_by_0_2_fails_with_a_message_to_refit():
    with open(os.path.join(DATA, "fitted_0.2.pkl"), "rb") as f:
        with pytest.raises(IncompatiblePickleError, match="Fit it again with this version"):
            pickle.load(f)
    # a module 0.3 renamed, as the pickle of a GCEClassifierCV of 0.2 asks for
    with pytest.raises(ModuleNotFoundError, match="sklearn_gce._rows.*Fit it again"):
        importlib.import_module("sklearn_gce._data")


@pytest.mark.parametrize("make", [lambda: GCEClassifier(max_epochs=2, random_state=0),
                                  lambda: GCEClassifierCV(qs=(0.5,), losses=("gce",), max_epochs=2, random_state=0, cv=None)])
def test_a_model_pickled_by_this_version_loads_and_predicts_the_same(make, digits):
    X, y = digits
    clf = make().fit(X[:300], y[:300])
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X[:50]), clf.predict_proba(X[:50]))
    assert again.get_params()["device"] == "auto"


@pytest.mark.parametrize("Estimator", [GCEClassifier, GCEClassifierCV])
def test_unknown_parameters_are_refused_at_fit(Estimator, digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"unexpected argument\(s\) qz"):
        Estimator(qz=0.3, max_epochs=1).fit(X[:100], y[:100])
    unknown = "cv" if Estimator is GCEClassifier else "folds"  # GCEClassifierCV has cv
    with pytest.raises(ValueError, match=f"unexpected argument.*{unknown}"):
        Estimator(**{unknown: 5}, max_epochs=1).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="did you mean module__hidden_sizes"):
        Estimator(module_hidden_sizes=(8,), max_epochs=1).fit(X[:100], y[:100])
    # prefixed parameters of every part keep working
    clf = Estimator(module__hidden_sizes=(8,), optimizer__weight_decay=1e-4, encoder__max_onehot_categories=4,
                    iterator_train__shuffle=True, max_epochs=1).fit(X[:100], y[:100])
    module = clf.module_
    assert (module.layers[0].out_features if Estimator is GCEClassifier else module.first_shared.shape[-1]) == 8
    with pytest.raises(ValueError, match="Invalid parameter 'qz'"):
        Estimator(max_epochs=1).set_params(qz=0.3)


@pytest.mark.parametrize("Estimator", [GCEClassifier, GCEClassifierCV])
def test_adam_runs_fused_unless_the_user_chose_its_kernel_or_another_optimizer(Estimator, digits):
    X, y = digits
    X, y = X[:100], y[:100]

    def optimizer(**params):
        return Estimator(max_epochs=1, random_state=0, **params).fit(X, y).optimizer_

    assert optimizer().defaults["fused"] is True
    assert optimizer(optimizer=torch.optim.AdamW).defaults["fused"] is True
    chosen = optimizer(optimizer__foreach=True).defaults
    assert chosen["foreach"] is True and not chosen["fused"]
    assert optimizer(optimizer__fused=False).defaults["fused"] is False
    assert not optimizer(device=None).defaults["fused"]  # Accelerate's setting: the device is not known yet
    assert not optimizer(optimizer=torch.optim.SGD).defaults.get("fused")
    # an unfused update is the same Adam, rounded differently: the fits agree closely
    fused, plain = (Estimator(max_epochs=2, random_state=0, **params).fit(X, y).predict_proba(X)
                    for params in ({}, {"optimizer__fused": False}))
    np.testing.assert_allclose(fused, plain, atol=1e-2)


@pytest.mark.parametrize("device, message", [
    ("gpu", "not a device torch knows"),
    ("cuda:64", "names GPU 64|asks for a GPU"),
    ("meta", "cannot train on a 'meta' device"),
])
def test_devices_that_cannot_work_here_get_a_clear_error(device, message, digits):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        GCEClassifier(device=device, max_epochs=1).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match=message):
        GCEClassifierCV(device=device, max_epochs=1, cv=None).fit(X[:50], y[:50])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_says_so_and_names_auto(digits):
    X, y = digits
    with pytest.raises(ValueError, match="asks for a GPU.*device='auto'"):
        GCEClassifier(device="cuda", max_epochs=1).fit(X[:50], y[:50])


def test_the_grid_comes_loss_by_loss_with_q_crossed_only_with_the_lq_losses():
    clf = GCEClassifierCV(qs=(0.5, 1), losses=("gce", "ce", "truncated"), cv=None)
    assert clf._settings() == [{"loss": "gce", "q": 0.5}, {"loss": "gce", "q": 1.0}, {"loss": "ce"},
                               {"loss": "truncated", "q": 0.5}, {"loss": "truncated", "q": 1.0}]
