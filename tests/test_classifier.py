"""GCEClassifier's behaviour as a scikit-learn estimator on skorch."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.dataset import ValidSplit

from sklearn_gce import MLP, GCEClassifier
from sklearn_gce._rows import RowBatch, TensorBatches
from sklearn_gce._pruning import schedule_epoch

FAST = dict(max_epochs=15, random_state=0)


@pytest.fixture
def small(digits):
    X, y = digits
    return X[:400], y[:400]


def test_labels_of_any_type_round_trip(small):
    X, y = small
    names = np.array(list("abcdefghij"), dtype=object)[y]
    clf = GCEClassifier(**FAST).fit(X, names)
    assert list(clf.classes_) == list("abcdefghij")
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, names) > 0.8

    sparse_ints = y * 10 + 3
    clf = GCEClassifier(**FAST).fit(X, pd.Series(sparse_ints))
    assert np.array_equal(clf.classes_, np.arange(10) * 10 + 3)
    assert clf.score(X, sparse_ints) > 0.8


def test_predict_proba_is_a_distribution(small):
    X, y = small
    proba = GCEClassifier(**FAST).fit(X, y).predict_proba(X)
    assert proba.shape == (len(X), 10)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert np.all(proba >= 0)


def test_dataframe_input_sets_feature_names(small):
    X, y = small
    df = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])
    clf = GCEClassifier(**FAST).fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    assert clf.n_features_in_ == 64
    np.testing.assert_array_equal(clf.predict(df), GCEClassifier(**FAST).fit(X, y).predict(X))


def test_integer_float64_and_list_inputs(small):
    X, y = small
    ref = GCEClassifier(**FAST).fit(X.astype(np.float32), y).predict_proba(X)
    for Xi in (X.astype(np.int64), X.astype(np.float64), X.tolist()):
        np.testing.assert_array_equal(GCEClassifier(**FAST).fit(Xi, y).predict_proba(X), ref)


def test_same_seed_same_model_other_seed_other_model(small):
    X, y = small
    a = GCEClassifier(**FAST).fit(X, y)
    b = GCEClassifier(**FAST).fit(X, y)
    c = GCEClassifier(max_epochs=15, random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    wa, wc = a.module_.layers[0].weight, c.module_.layers[0].weight
    assert not torch.equal(wa, wc)


def test_fit_leaves_the_global_torch_rng_alone(small):
    X, y = small
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GCEClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_pickle_round_trip_keeps_predictions(small):
    X, y = small
    clf = GCEClassifier(loss="truncated", **FAST).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    assert clone.get_params()["device"] == "auto"
    np.testing.assert_array_equal(clone.pruned_rows_, clf.pruned_rows_)


def test_device_auto_is_stored_and_resolved():
    clf = GCEClassifier()
    assert clf.get_params()["device"] == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.device == expected
    clf.set_params(device="cpu")
    assert clf.get_params()["device"] == "cpu"


def test_device_none_leaves_placement_to_the_caller(small):
    # skorch's setting under AccelerateMixin: nothing is moved.
    X, y = small
    clf = GCEClassifier(device=None, **FAST).fit(X, y)
    assert clf.get_params()["device"] is None
    assert clf.score(X, y) > 0.8


def test_training_uses_on_device_tensor_batches(small):
    X, y = small
    clf = GCEClassifier(**FAST).fit(X, y)
    dataset = clf.get_dataset(X.astype(np.float32))
    assert isinstance(clf.get_iterator(dataset, training=True), TensorBatches)
    # Custom iterator options fall back to skorch's DataLoader path, same API.
    slow = GCEClassifier(iterator_train__drop_last=True, **FAST).fit(X, y)
    assert not isinstance(slow.get_iterator(slow.get_dataset(X.astype(np.float32)), training=True), TensorBatches)
    assert slow.score(X, y) > 0.8


def test_tensor_batches_cover_every_row_once_and_merge_a_singleton():
    X = torch.arange(257.0)[:, None]
    labels = np.arange(257)
    batches = TensorBatches(X, labels, None, batch_size=128, shuffle=True, merge_singleton=True)
    seen = [yb for _, yb in batches]
    assert [len(b) for b in seen] == [128, 129] and len(batches) == 2
    assert torch.equal(torch.sort(torch.cat(seen)).values, torch.arange(257))
    ordered = TensorBatches(X, None, None, batch_size=100, shuffle=False)
    assert [len(xb) for xb, _ in ordered] == [100, 100, 57] and len(ordered) == 3
    # A subset of rows: each batch's X and y are those rows, and it knows them.
    rows = np.array([5, 3, 250, 7])
    subset = TensorBatches(X, labels, rows, batch_size=3, shuffle=False, state=object())
    got = list(subset)
    assert all(isinstance(batch, RowBatch) for batch in got)
    assert torch.equal(torch.cat([b.rows for b in got]), torch.as_tensor(rows))
    assert torch.equal(torch.cat([b[0] for b in got])[:, 0], torch.as_tensor(rows, dtype=torch.float32))
    assert torch.equal(torch.cat([b[1] for b in got]), torch.as_tensor(rows))


def test_module_routing_and_user_modules(small):
    X, y = small
    clf = GCEClassifier(module__hidden_sizes=(16,), module__dropout=0.0, **FAST).fit(X, y)
    assert isinstance(clf.module_, MLP)
    assert clf.module_.layers[0].out_features == 16

    class Linear(torch.nn.Module):
        def __init__(self, n_in=64, n_out=10):
            super().__init__()
            self.linear = torch.nn.Linear(n_in, n_out)

        def forward(self, X):
            return self.linear(X / 16)

    clf = GCEClassifier(Linear, module__n_out=10, lr=1e-2, **FAST).fit(X, y)
    assert isinstance(clf.module_, Linear)
    assert clf.score(X, y) > 0.8

    class SizedLinear(torch.nn.Module):
        def __init__(self, n_features, n_classes, scale=16.0):
            super().__init__()
            self.linear = torch.nn.Linear(n_features, n_classes)
            self.scale = scale

        def forward(self, X):
            return self.linear(X / self.scale)

    # Sizes come from the data (8 classes here) for constructors that ask for them.
    keep = y < 8
    clf = GCEClassifier(SizedLinear, module__scale=8.0, lr=1e-2, **FAST).fit(X[keep], y[keep])
    assert clf.module_.linear.out_features == 8 and clf.module_.linear.in_features == 64
    assert clf.module_.scale == 8.0


def test_grid_search_over_q_and_loss_in_parallel(small):
    X, y = small
    search = GridSearchCV(
        GCEClassifier(max_epochs=5, random_state=0),
        {"q": [0.3, 0.7], "loss": ["gce", "ce"]},
        cv=2,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_params_["loss"] in {"gce", "ce"}
    assert len(search.cv_results_["params"]) == 4
    assert search.score(X, y) > 0.7


def test_pipeline_with_scaler(small):
    X, y = small
    pipe = make_pipeline(StandardScaler(), GCEClassifier(**FAST)).fit(X, y)
    assert pipe.score(X, y) > 0.8


def test_sample_weight_changes_what_is_learned(small):
    X, y = small
    weight = np.where(y == 0, 0.0, 1.0)
    clf = GCEClassifier(**FAST).fit(X, y, sample_weight=weight)
    # With no weight on class 0, nothing pulls its logit up.
    assert np.mean(clf.predict(X[y == 0]) == 0) < 0.5
    unweighted = GCEClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(
        unweighted.predict_proba(X), GCEClassifier(**FAST).fit(X, y).predict_proba(X)
    )


def test_internal_validation_split_is_stratified_and_recorded(small):
    X, y = small
    clf = GCEClassifier(train_split=ValidSplit(0.2, stratified=True), **FAST).fit(X, y)
    assert np.isfinite(clf.history[-1, "valid_loss"])
    assert clf.history[-1, "valid_batch_count"] >= 1


def test_verbose_prints_the_epoch_table(small, capsys):
    X, y = small
    GCEClassifier(max_epochs=2, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out
    GCEClassifier(max_epochs=2, verbose=0, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    # verbose=2 adds a progress bar over the batches of each epoch.
    clf = GCEClassifier(max_epochs=1, verbose=2, random_state=0).fit(X, y)
    assert "progress_bar" in dict(clf.callbacks_)
    assert "train_loss" in capsys.readouterr().out


def test_schedule_epoch_scales_with_training_length():
    assert schedule_epoch(0.33, 120) == 40
    assert schedule_epoch(0.1, 120) == 12
    assert schedule_epoch(0.1, 3) == 1
    assert schedule_epoch(5, 120) == 5


def test_truncated_loss_prunes_the_mislabelled_rows(noisy_digits):
    X, y_noisy, flipped, X_test, y_test = noisy_digits
    clf = GCEClassifier(
        loss="truncated", max_epochs=40, prune_start=0.33, prune_every=0.1, early_stopping=False, random_state=0
    ).fit(X, y_noisy)
    issues = clf.pruned_rows_
    assert issues.shape == (len(y_noisy),)
    precision = flipped[issues].mean()
    recall = issues[flipped].mean()
    assert precision > 0.9 and recall > 0.5, (precision, recall)
    pruned = [row.get("n_pruned") for row in clf.history if "n_pruned" in row]
    # prune_start=0.33, prune_every=0.1 of 40 epochs: epochs 13, 17, ..., 37. The flags are the
    # rows the final network prunes, three epochs after the last step: nearly the same count.
    assert len(pruned) == 7 and abs(pruned[-1] - issues.sum()) <= 0.01 * len(y_noisy)
    assert not GCEClassifier(loss="gce", max_epochs=2).fit(X, y_noisy).pruned_rows_.any()


def test_label_issues_is_the_deprecated_name_of_the_pruned_rows_and_the_bags_own_stays(small):
    import warnings

    from sklearn_gce import GCEClassifierCV

    X, y = small
    clf = GCEClassifier(loss="truncated", **FAST)
    assert not hasattr(clf, "label_issues_") and not hasattr(clf, "pruned_rows_")
    clf.fit(X, y)
    with pytest.warns(FutureWarning, match="renamed pruned_rows_"):
        np.testing.assert_array_equal(clf.label_issues_, clf.pruned_rows_)
    bag = GCEClassifierCV(qs=(0.8,), max_epochs=2, noise_correction=None, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # out of fold: the name of what it is, no warning
        flags = pickle.loads(pickle.dumps(bag)).label_issues_
    np.testing.assert_array_equal(flags, bag.label_issues_)
    assert not hasattr(bag, "pruned_rows_")
    bag.set_params(cv=None).fit(X, y)  # a refit without cv: the old flags go, the pruned rows come
    assert "label_issues_" not in vars(bag) and bag.pruned_rows_.shape == (len(y),)


def test_early_stopping_holds_out_rows_and_restores_the_best_epoch(noisy_digits):
    X, y_noisy, *_ = noisy_digits
    clf = GCEClassifier(max_epochs=200, n_iter_no_change=5, random_state=0).fit(X, y_noisy)
    history = clf.history
    assert len(history) < 200  # stopped early
    best = int(np.argmin(history[:, "valid_loss"]))
    assert len(history) == best + 1 + 5
    assert history[0, "train_batch_count"] == int(np.ceil(len(X) * 0.9 / 128))
    off = GCEClassifier(max_epochs=3, early_stopping=False, random_state=0).fit(X, y_noisy)
    assert "valid_loss" not in off.history[-1] or off.history[-1, "valid_batch_count"] == 0
    # Too little data to hold out a row of each class: train on everything.
    tiny = GCEClassifier(max_epochs=2, random_state=0).fit(X[:12], y_noisy[:12])
    assert "valid_loss" not in tiny.history[-1] and tiny.history[-1, "batches", -1, "train_batch_size"] == 12


def test_pruning_waits_for_a_trained_model_and_warns_when_it_prunes_everything(noisy_digits):
    X, y_noisy, *_ = noisy_digits
    clf = GCEClassifier(loss="truncated", prune_start=1, prune_every=1, max_epochs=2, random_state=0)
    clf.fit(X, y_noisy)
    assert "n_pruned" not in clf.history[0] and "n_pruned" in clf.history[1]
    with pytest.warns(RuntimeWarning, match="pruned every training sample"):
        GCEClassifier(loss="truncated", k=0.99, prune_start=2, max_epochs=2, random_state=0).fit(X, y_noisy)


def test_robust_losses_beat_cross_entropy_on_noisy_digits(noisy_digits):
    X, y_noisy, _, X_test, y_test = noisy_digits
    scores = {
        # Without early stopping, so that the loss alone makes the difference.
        loss: GCEClassifier(loss=loss, max_epochs=40, early_stopping=False, random_state=0)
        .fit(X, y_noisy)
        .score(X_test, y_test)
        for loss in ("ce", "gce", "truncated")
    }
    assert scores["gce"] > scores["ce"] + 0.03, scores
    assert scores["truncated"] > scores["ce"] + 0.05, scores


@pytest.mark.parametrize(
    "params, match",
    [
        ({"q": 0.0}, r"'q' parameter .* range \(0.0, 1.0\]"),
        ({"q": 1.5}, r"'q' parameter .* range \(0.0, 1.0\]"),
        ({"k": 1.0}, r"'k' parameter .* range \(0.0, 1.0\)"),
        ({"loss": "focal"}, r"'loss' parameter .*'nce_rce'"),
        ({"lr": 0.0}, r"'lr' parameter .* range \(0.0, inf\)"),
        ({"batch_size": 0}, r"'batch_size' parameter"),
        ({"max_epochs": 0}, r"'max_epochs' parameter .* range \[1, inf\)"),
        ({"prune_start": 1.5}, r"'prune_start' parameter"),
    ],
)
def test_bad_parameters_are_reported_at_fit(small, params, match):
    X, y = small
    clf = GCEClassifier(**params)
    assert clf.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_criterion_is_refused_in_favour_of_loss(small):
    X, y = small
    with pytest.raises(ValueError, match="criterion"):
        GCEClassifier(criterion=torch.nn.CrossEntropyLoss, max_epochs=1).fit(X, y)


def test_partial_fit_continues_training(small):
    X, y = small
    clf = GCEClassifier(max_epochs=1, random_state=0)
    clf.partial_fit(X[:200], y[:200], classes=np.arange(10))
    first = clf.module_.layers[0].weight.detach().clone()
    clf.partial_fit(X[200:], y[200:])
    assert not torch.equal(first, clf.module_.layers[0].weight)
    assert len(clf.history) == 2
    with pytest.raises(ValueError, match="not in the classes seen before"):
        clf.partial_fit(X[:5], np.full(5, 42))
