"""What a skorch user does with a NeuralNetClassifier works on GCEClassifier.

The training targets are the plain 1-D labels: the row index that the loss
needs travels beside each batch (``sklearn_gce._data``), not inside ``y``.
"""

import sys

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed
from skorch.callbacks import Callback, Checkpoint, EpochScoring, LoadInitState
from skorch.dataset import Dataset, ValidSplit
from skorch.helper import predefined_split

from sklearn_gce import GCEClassifier
from sklearn_gce._pruning import schedule_epoch

FAST = dict(max_epochs=8, random_state=0)
LETTERS = np.array(list("abcdefghij"), dtype=object)


@pytest.fixture
def small(digits):
    X, y = digits
    return X[:500].astype(np.float32), y[:500]


@pytest.mark.parametrize("as_letters", [False, True])
def test_epoch_scoring_accuracy_scores_the_validation_labels(small, as_letters):
    X, y = small
    labels = LETTERS[y] if as_letters else y
    clf = GCEClassifier(
        callbacks=[EpochScoring("accuracy", lower_is_better=False)], **FAST
    ).fit(X, labels)
    history = clf.history
    # The user's scorer and the built-in valid_acc score the same held-out rows.
    np.testing.assert_allclose(history[:, "accuracy"], history[:, "valid_acc"])
    assert history[-1, "valid_acc"] > 0.8


def test_valid_acc_is_recorded_by_default(small):
    X, y = small
    history = GCEClassifier(**FAST).fit(X, y).history
    assert all(0 <= acc <= 1 for acc in history[:, "valid_acc"])
    assert "valid_acc_best" in history[-1]


@pytest.mark.parametrize("as_letters", [False, True])
def test_predefined_split_validates_on_the_given_rows(small, as_letters):
    X, y = small
    labels = LETTERS[y] if as_letters else y
    valid = Dataset(X[400:], labels[400:])
    clf = GCEClassifier(train_split=predefined_split(valid), batch_size=64, **FAST)
    clf.fit(X[:400], labels[:400])
    history = clf.history
    assert history[-1, "valid_batch_count"] == 2  # 100 rows in batches of 64
    assert sum(history[-1, "batches", :, "valid_batch_size"]) == 100
    assert history[-1, "train_batch_count"] == 7  # all 400 training rows
    assert history[-1, "valid_acc"] == pytest.approx(clf.score(X[400:], labels[400:]))


def test_predefined_split_with_unknown_labels_is_refused(small):
    X, y = small
    clf = GCEClassifier(train_split=predefined_split(Dataset(X[:20], np.full(20, 99))), **FAST)
    with pytest.raises(ValueError, match=r"labels not in .*\[99\]"):
        clf.fit(X[20:], y[20:])


class RecordLabels(Callback):
    """A user callback that reads the labels of the training data."""

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        from skorch.utils import data_from_dataset

        self.X_, self.y_ = data_from_dataset(dataset_train)


def test_user_callbacks_see_the_labels_as_given(small):
    X, y = small
    labels = LETTERS[y]
    recorder = RecordLabels()
    GCEClassifier(callbacks=[recorder], train_split=ValidSplit(5, stratified=True), **FAST).fit(X, labels)
    assert recorder.y_.ndim == 1 and len(recorder.y_) == 400
    assert set(recorder.y_) == set(LETTERS)
    assert recorder.X_.shape == (400, 64)


@pytest.mark.parametrize("bad, shown", [(-1.0, "-1.0"), (np.nan, "nan"), (np.inf, "inf")])
def test_bad_sample_weight_names_the_first_bad_row(small, bad, shown):
    X, y = small
    weight = np.ones(len(y))
    weight[[7, 30]] = bad
    with pytest.raises(ValueError, match=rf"row 7 is {shown} \(2 bad row"):
        GCEClassifier(**FAST).fit(X, y, sample_weight=weight)
    with pytest.raises(ValueError, match="zero for every row"):
        GCEClassifier(**FAST).fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match=r"shape \(500,\)"):
        GCEClassifier(**FAST).fit(X, y, sample_weight=np.ones(3))


def test_partial_fit_on_a_small_chunk_after_a_large_one(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=2, random_state=0)
    clf.partial_fit(X[:1000], y[:1000], classes=np.arange(10))
    clf.partial_fit(X[1000:1005], y[1000:1005])
    # partial_fit holds out nothing: every row of each chunk is trained on.
    assert len(clf.history) == 4
    assert clf.history[-1, "batches", -1, "train_batch_size"] == 5
    assert "valid_loss" not in clf.history[-1]
    # A fit that follows still holds out rows for early stopping.
    clf.fit(X[:1000], y[:1000])
    assert "valid_loss" in clf.history[-1]


def test_partial_fit_checks_labels_against_classes(small):
    X, y = small
    with pytest.raises(ValueError, match=r"labels not in `classes`: \[9\]"):
        GCEClassifier(**FAST).partial_fit(X, y, classes=np.arange(9))
    clf = GCEClassifier(max_epochs=1).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=np.arange(11))


def test_partial_fit_keeps_the_pruning_schedule_across_calls(digits):
    X, y = digits
    clf = GCEClassifier(loss="truncated", prune_start=2, prune_every=3, max_epochs=2, random_state=0)
    clf.partial_fit(X[:900], y[:900])
    clf.partial_fit(X[900:], y[900:])
    pruned_at = [row["epoch"] for row in clf.history if "n_pruned" in row]
    # Epoch 2 by the schedule; epoch 3 because a new chunk starts past prune_start.
    assert pruned_at == [2, 3]
    assert clf.pruned_rows_.shape == (len(X) - 900,)


def test_warm_start_with_other_classes_or_features_is_refused(small):
    X, y = small
    clf = GCEClassifier(warm_start=True, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"warm_start can only be used .* Previously got \[0, 1, 2"):
        clf.fit(X[y < 3], y[y < 3])
    with pytest.raises(ValueError, match="features"):
        clf.fit(X[:, :10], y)
    # The same classes continue training from the current weights.
    before = clf.module_.layers[0].weight.detach().clone()
    clf.fit(X, y)
    assert len(clf.history) > FAST["max_epochs"] and not torch.equal(before, clf.module_.layers[0].weight)


def test_label_issues_are_those_of_the_model_that_is_kept(noisy_digits):
    X, y_noisy, *_ = noisy_digits
    k = 0.5
    clf = GCEClassifier(
        loss="truncated", k=k, prune_start=2, prune_every=1, max_epochs=60, n_iter_no_change=4,
        noise_correction=None, random_state=0,  # corrected, pruning judges p @ T (tests/test_correction.py)
    ).fit(X, y_noisy)
    history = clf.history
    best = int(np.argmin(history[:, "valid_loss"]))
    assert best + 1 < len(history)  # early stopping restored an earlier epoch
    proba = clf.predict_proba(X)[np.arange(len(X)), y_noisy]
    flagged = proba <= k
    issues = clf.pruned_rows_
    # Every flagged training row is one the kept model gives probability <= k;
    # the only others are the held-out rows, which are never flagged.
    assert not np.any(issues & ~flagged)
    n_valid = int(np.ceil(0.1 * len(X)))
    assert 0 <= (flagged & ~issues).sum() <= n_valid
    assert issues.sum() > 0.5 * (flagged.sum() - n_valid)


class DiskImages(torch.utils.data.Dataset):
    """8x8 'images' read lazily, item by item, from a memory-mapped file."""

    def __init__(self, path, labels):
        self.path, self.labels = path, labels
        self.images = None

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if self.images is None:  # opened lazily, also in DataLoader workers
            self.images = np.load(self.path, mmap_mode="r")
        return torch.from_numpy(np.array(self.images[i], dtype=np.float32)), int(self.labels[i])


def test_fit_on_a_lazy_torch_dataset(small, tmp_path):
    X, y = small
    path = tmp_path / "images.npy"
    np.save(path, X.reshape(-1, 1, 8, 8))
    dataset = DiskImages(str(path), y)
    clf = GCEClassifier(**FAST).fit(dataset)
    assert clf.n_features_in_ == 1 and list(clf.classes_) == list(range(10))
    from_disk = clf.predict(dataset)
    np.testing.assert_array_equal(from_disk, clf.predict(X.reshape(-1, 1, 8, 8)))
    assert np.mean(from_disk == y) > 0.8
    # Labels given beside the dataset take precedence over its own.
    strings = GCEClassifier(**FAST).fit(dataset, LETTERS[y])
    assert strings.predict(dataset)[0] in set(LETTERS)


def test_checkpoint_and_load_init_state_resume_a_fit(small, tmp_path):
    X, y = small
    checkpoint = Checkpoint(dirname=str(tmp_path))
    first = GCEClassifier(callbacks=[checkpoint], loss="truncated", prune_start=5, **FAST).fit(X, y)
    resumed = GCEClassifier(
        callbacks=[Checkpoint(dirname=str(tmp_path)), LoadInitState(checkpoint)],
        loss="truncated", prune_start=5, **FAST,
    ).fit(X, y)
    best = max(row["epoch"] for row in first.history if row["valid_loss_best"])
    # The history continues from the last checkpoint, and so does the network.
    assert len(resumed.history) == best + FAST["max_epochs"]
    assert resumed.history[:best, "train_loss"] == first.history[:best, "train_loss"]
    # The truncated loss re-optimises its weights at the first resumed epoch.
    assert "n_pruned" in resumed.history[best]
    assert resumed.score(X, y) > 0.8


def test_schedule_accepts_numpy_reals():
    assert schedule_epoch(np.float32(0.5), 10) == 5
    assert schedule_epoch(np.int64(4), 10) == 4


def test_a_cpu_fit_leaves_every_cuda_generator_alone(small, monkeypatch):
    X, y = small
    calls = []
    for name in ("manual_seed", "manual_seed_all", "set_rng_state", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, _name=name, **k: calls.append(_name))
    GCEClassifier(max_epochs=1, device="cpu", random_state=0).fit(X, y)
    assert calls == []


def test_fits_in_threads_equal_fits_in_sequence(small):
    X, y = small

    def fit(seed):
        return GCEClassifier(max_epochs=3, random_state=seed).fit(X, y).predict_proba(X)

    sequential = [fit(0), fit(1)]
    threaded = Parallel(n_jobs=2, backend="threading")(delayed(fit)(seed) for seed in (0, 1))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    Parallel(n_jobs=2, backend="threading")(delayed(fit)(seed) for seed in (0, 1))
    assert torch.equal(torch.rand(3), expected)


def _count_host_copies(monkeypatch):
    """Count the device-to-host copies that the training code (skorch's and ours) makes.

    On a GPU each is a synchronisation. Scalar reads and ``tolist`` always
    count; ``numpy`` counts for floating-point tensors (index tensors live on
    the host by design). torch's own internals (the optimiser) are not counted.
    """
    calls = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "numpy", "cpu"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith(("skorch", "sklearn_gce")) and (
                _name not in ("numpy", "cpu") or self.is_floating_point()
            ):
                calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


@pytest.mark.parametrize("loss", ["gce", "truncated"])
def test_host_copies_per_epoch_do_not_grow_with_the_batches(digits, monkeypatch, loss):
    X, y = digits
    calls = _count_host_copies(monkeypatch)
    counts, run = {}, {}
    for epochs in (4, 8):
        calls.clear()
        clf = GCEClassifier(
            loss=loss, max_epochs=epochs, n_iter_no_change=100, batch_size=32,
            prune_start=2, prune_every=1, random_state=0,
        ).fit(X, y)
        counts[epochs] = len(calls)
        # the MLP's epochs, then its additive member's
        run[epochs] = len(clf.history) + len(clf.additive_history_)
    batches = clf.history[-1, "train_batch_count"] + clf.history[-1, "valid_batch_count"]
    per_epoch = (counts[8] - counts[4]) / (run[8] - run[4])
    assert batches > 50
    # train losses, validation losses, validation accuracy (+ the pruning count)
    assert per_epoch <= (3 if loss == "gce" else 4), (per_epoch, counts)


def test_criterion_q_points_to_the_estimators_own_q(small):
    X, y = small
    with pytest.raises(ValueError, match=r"Set q with the estimator's own parameter\(s\) \(q=...\)"):
        GCEClassifier(criterion__q=0.5, max_epochs=1).fit(X, y)


def test_a_refused_fit_leaves_the_fitted_model_as_it_was(small):
    X, y = small
    clf = GCEClassifier(max_epochs=2, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, y + 10 * (y < 5), sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X[:, :10], np.zeros(len(y)))
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    fresh = GCEClassifier()
    with pytest.raises(ValueError):
        fresh.fit(X, np.zeros(len(y)))
    assert not hasattr(fresh, "n_features_in_") and not hasattr(fresh, "classes_")


class EpochCounter(Callback):
    def on_epoch_end(self, net, **kwargs):
        self.n_ = getattr(self, "n_", 0) + 1


def test_built_in_early_stopping_can_monitor_a_user_score_and_runs_last(small):
    X, y = small
    counter = EpochCounter()
    clf = GCEClassifier(
        callbacks=[EpochScoring("f1_macro", name="valid_f1", lower_is_better=False), counter],
        callbacks__early_stopping__monitor="valid_f1",
        callbacks__early_stopping__lower_is_better=False,
        n_iter_no_change=2, max_epochs=200, random_state=0,
    ).fit(X, y)
    assert len(clf.history) < 200 and "valid_f1" in clf.history[-1]
    # the user's callback saw the last epoch too, of the MLP and of its additive member
    assert counter.n_ == len(clf.history) + len(clf.additive_history_)
    assert "valid_f1" in clf.additive_history_[-1]
    with pytest.raises(KeyError, match="valid_typo"):
        GCEClassifier(callbacks__early_stopping__monitor="valid_typo", max_epochs=3).fit(X, y)
    # A numpy boolean turns it on as True does.
    assert len(GCEClassifier(early_stopping=np.True_, n_iter_no_change=2, max_epochs=200,
                             random_state=0).fit(X, y).history) < 200


def test_callbacks_that_read_batch_losses_get_them_per_batch(small):
    from skorch.callbacks import LRScheduler

    X, y = small
    scheduler = LRScheduler("ReduceLROnPlateau", monitor="train_loss", step_every="batch")
    clf = GCEClassifier(callbacks=[scheduler], max_epochs=2, random_state=0).fit(X, y)
    assert all("train_loss" in batch for batch in clf.history[-1, "batches"] if "train_batch_size" in batch)


class Arrays(torch.utils.data.Dataset):
    def __init__(self, X, y, pairs=True):
        self.X, self.y, self.pairs = X, y, pairs

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        x = torch.from_numpy(self.X[i])
        return (x, int(self.y[i])) if self.pairs else x


def test_dataset_items_must_be_pairs_and_any_batch_of_one_is_merged(small):
    X, y = small
    with pytest.raises(ValueError, match=r"must be \(x, y\) pairs"):
        GCEClassifier(max_epochs=1).fit(Arrays(X, y, pairs=False), y)
    # 129 rows in batches of 64 would end on a single row, which batch
    # normalisation cannot train on: skorch's DataLoader path merges it too.
    clf = GCEClassifier(batch_size=64, max_epochs=2, early_stopping=False).fit(Arrays(X[:129], y[:129]))
    assert clf.history[-1, "train_batch_count"] == 2
    GCEClassifier(batch_size=64, max_epochs=1, early_stopping=False,
                  iterator_train__num_workers=0).fit(X[:129], y[:129])


def test_scorers_without_caching_read_arrays_and_lazy_datasets(small):
    X, y = small
    cached = GCEClassifier(max_epochs=3, random_state=0).fit(X, LETTERS[y])
    uncached = GCEClassifier(use_caching=False, max_epochs=3, random_state=0).fit(X, LETTERS[y])
    np.testing.assert_allclose(uncached.history[:, "valid_acc"], cached.history[:, "valid_acc"])
    lazy = GCEClassifier(use_caching=False, max_epochs=3, random_state=0).fit(Arrays(X, y))
    assert 0 <= lazy.history[-1, "valid_acc"] <= 1


def test_a_corrected_fit_starts_from_a_fresh_per_sample_state(small):
    X, y = small

    class FirstBatchState(Callback):
        def on_train_begin(self, net, **kwargs):
            self.first_ = True

        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            if training and self.first_:
                self.first_ = False
                self.seen_ = getattr(self, "seen_", []) + [int((batch.state.keep == 0).sum())]

    spy = FirstBatchState()
    GCEClassifier(loss="truncated", elr_lambda=1.0, noise_correction="forward", prune_start=2,
                  max_epochs=4, callbacks=[spy], random_state=0).fit(X, y)
    # Both fits begin with nothing pruned and ELR averages only from their first
    # batch; so does each of the two models of each fit (the MLP, its additive member).
    assert spy.seen_ == [0, 0, 0, 0]
