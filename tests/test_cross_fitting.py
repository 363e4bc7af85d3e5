"""GCEClassifierCV(cv=k): cross-fitted members in one pass, out-of-fold probabilities, label quality."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.model_selection import KFold, StratifiedKFold

from sklearn_gce import GCEClassifierCV, LabelNoiseInjector
from sklearn_gce._layout import FoldMask, MemberLayout
from sklearn_gce._rows import SampleState

FAST = dict(qs=(0.8,), losses=("gce",), max_epochs=15, random_state=0, tree_members=None)  # the networks alone


@pytest.fixture(scope="module")
def noisy_fit(noisy_digits):
    X, y_noisy, flip, X_test, y_test = noisy_digits
    return GCEClassifierCV(cv=4, qs=(0.5, 1.0), losses=("gce", "ce"), max_epochs=25, random_state=0,
                           tree_members=None).fit(X, y_noisy)


def test_the_default_is_a_bag_of_two_q_chosen_out_of_fold(digits):
    X, y = digits
    X, y = X[:500], y[:500]
    clf = GCEClassifierCV(max_epochs=6, random_state=0).fit(X, y)
    # five folds of q=0.2 and five of q=0.8, 64 wide, in one pass
    assert [(m["q"], m["fold"]) for m in clf.members_] == [(q, f) for q in (0.2, 0.8) for f in range(5)]
    assert [layer.weight.shape[1] for layer in clf.module_.layers] == [64, 64]
    # the q whose members predict the given labels better out of fold, and its five members predict
    scores = clf.cv_results_["oof_score"]
    np.testing.assert_array_equal(clf.cv_results_["holdout_score"], scores)  # its first name, kept
    chosen = int(np.argmax(scores))
    networks = GCEClassifierCV(max_epochs=6, random_state=0, tree_members=None).fit(X, y)  # the same networks
    assert networks.best_params_ == {"loss": "gce", "q": (0.2, 0.8)[chosen]}
    np.testing.assert_array_equal(clf.predicting_members_, np.arange(5) + 5 * chosen)
    oof_correct = networks.oof_proba_.argmax(1) == np.searchsorted(clf.classes_, y)
    assert scores[chosen] == pytest.approx(oof_correct.mean())
    members = clf.predict_member_proba(X[:50])
    np.testing.assert_allclose(networks.predict_proba(X[:50]), members[:, clf.predicting_members_].mean(1),
                               atol=1e-6)
    # trees beside them (a matrix of rows, cross-fitted: tree_members='auto'), weighted as chosen out of fold
    assert "tree_weight" in clf.best_params_
    w = clf.best_params_["tree_weight"]
    trees = clf.tree_members_.predict_proba(X[:50])
    np.testing.assert_allclose(clf.predict_proba(X[:50]), w * trees + (1 - w) * networks.predict_proba(X[:50]),
                               atol=1e-6)
    assert clf.label_quality_.shape == (500,) and clf.label_issues_.dtype == bool


def test_a_member_trains_outside_its_fold_and_stops_on_rows_it_does_not_train_on():
    row_fold, member_fold = np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 0, 1, 2])
    stop_fold = np.array([1, 2, -1, 2, 0])  # never the row's own fold
    state = SampleState(np.zeros(5, np.int64), np.full(5, 2.0, np.float32), None, n_members=6,
                        member_rows=FoldMask(row_fold, member_fold, stop_fold))
    rows = torch.arange(5)
    inside = row_fold[:, None] == member_fold[None, :]
    stops = stop_fold[:, None] == member_fold[None, :]
    torch.testing.assert_close(state.weight_of(rows, training=False), 2 * torch.as_tensor(stops, dtype=torch.float32))
    torch.testing.assert_close(state.weight_of(rows, training=True),
                               2 * torch.as_tensor(~inside & ~stops, dtype=torch.float32))
    state.keep[0, 2] = 0  # pruned by member 2: stays out of its training
    assert state.weight_of(rows, training=True)[0, 2] == 0


def test_members_no_longer_validated_get_no_validation_rows():
    row_fold, member_fold = np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 0, 1, 2])
    stop_fold = np.array([1, 2, 0, 2, 0])
    state = SampleState(np.zeros(5, np.int64), np.ones(5, np.float32), None, n_members=6,
                        member_rows=FoldMask(row_fold, member_fold, stop_fold))
    rows = torch.arange(5)
    mask = state.member_rows
    mask.validate_members([0, 2])  # the others have stopped
    stops = torch.as_tensor(stop_fold[:, None] == member_fold[None, :], dtype=torch.float32)
    torch.testing.assert_close(state.weight_of(rows, training=False), stops * torch.tensor([1., 0, 1, 0, 0, 0]))
    np.testing.assert_array_equal(mask.members_validated_on(rows), [0, 2])
    assert len(mask.members_validated_on(torch.tensor([0]))) == 0  # fold 1's members have both stopped
    mask.validate_members(None)
    np.testing.assert_array_equal(mask.members_validated_on(torch.tensor([0])), [1, 4])
    # the rows some member stops on, fold after fold
    np.testing.assert_array_equal(mask.stopping_rows(), [2, 4, 0, 1, 3])


def test_a_members_own_fold_labels_change_nothing_of_it(digits):
    # Issue 40: member f stopped early on fold f's labels, so changing them moved its best epoch and its
    # out-of-fold probabilities. It now sees nothing of its fold: the same weights whatever those labels.
    X, y = digits
    X, y = X[:400], y[:400]
    # folds that do not depend on the labels (stratified ones would move with them)
    params = dict(cv=KFold(4, shuffle=True, random_state=0), qs=(0.8,), losses=("gce",), max_epochs=12,
                  n_iter_no_change=2, noise_correction=None, batch_size=50, lr=0.01, random_state=0,
                  stop_on="training_folds", tree_members=None)
    clf = GCEClassifierCV(**params).fit(X, y)
    fold0 = clf.fold_ == 0
    y_changed = np.where(fold0, (y + 1) % 10, y)
    changed = GCEClassifierCV(**params).fit(X, y_changed)
    np.testing.assert_array_equal(changed.fold_, clf.fold_)
    stopping = [dict(c.callbacks_)["member_early_stopping"] for c in (clf, changed)]
    assert stopping[0].best_epoch_[0] == stopping[1].best_epoch_[0]
    np.testing.assert_allclose(changed.oof_proba_[fold0], clf.oof_proba_[fold0], atol=1e-5)
    assert not np.allclose(changed.oof_proba_[~fold0], clf.oof_proba_[~fold0], atol=1e-3)  # the others saw it


def test_stopped_members_are_not_validated_and_the_fit_is_unchanged(digits, monkeypatch):
    from sklearn_gce import MemberMLP

    X, y = digits
    X, y = X[:400], y[:400]
    # members of full width, a high learning rate: on these rows they stop after 6 to 9 of the 12 epochs,
    # each at its own (the default rate left every member training to the end on one processor)
    params = dict(cv=4, qs=(0.8,), losses=("gce",), max_epochs=12, n_iter_no_change=2, noise_correction=None,
                  batch_size=50, lr=0.01, module__hidden_sizes=(256, 256), random_state=0)
    computed, forward = [], MemberMLP.forward

    def recording(self, X):
        if not self.training:
            computed.append(self.layers[0].computed())
        return forward(self, X)

    monkeypatch.setattr(MemberMLP, "forward", recording)
    skipping = GCEClassifierCV(**params).fit(X, y)
    n_skipping = len(computed)
    validate = FoldMask.validate_members
    monkeypatch.setattr(FoldMask, "validate_members", lambda self, members: validate(self, None))  # every one
    computed.clear()
    every = GCEClassifierCV(**params).fit(X, y)
    stopping = dict(skipping.callbacks_)["member_early_stopping"]
    epochs = stopping.n_epochs_
    assert epochs.min() < epochs.max()  # some member stopped before the others
    # the same training: validating stopped members changed nothing but the work done
    np.testing.assert_array_equal(skipping.oof_proba_, every.oof_proba_)
    np.testing.assert_array_equal(epochs, dict(every.callbacks_)["member_early_stopping"].n_epochs_)
    assert n_skipping < len(computed)
    # a stopped member shows its best epoch's scores from then on
    first = int(np.argmin(epochs))
    best = stopping.best_epoch_[first]
    losses = [row["member_valid_loss"][first] for row in skipping.history_]
    assert losses[-1] == losses[epochs[first]] == losses[best - 1]


def test_out_of_fold_probabilities_come_from_the_members_of_each_rows_fold(noisy_fit, noisy_digits):
    clf, (X, y_noisy, *_) = noisy_fit, noisy_digits
    assert len(clf.members_) == 3 * 4 and {m["fold"] for m in clf.members_} == {0, 1, 2, 3}
    members = clf.predict_member_proba(X)
    best = clf.best_index_
    chosen = np.arange(best * 4, best * 4 + 4)  # the chosen setting's members, one per fold
    expected = members[np.arange(len(X)), chosen[clf.fold_]]
    np.testing.assert_allclose(clf.oof_proba_, expected, atol=1e-5)
    # prediction: the mean of the chosen setting's k members (bagging)
    np.testing.assert_array_equal(clf.predicting_members_, chosen)
    np.testing.assert_allclose(clf.predict_proba(X), members[:, chosen].mean(1), atol=1e-6)
    # the choice is made on every row's out-of-fold accuracy
    targets = np.searchsorted(clf.classes_, y_noisy)
    assert clf.best_score_ == pytest.approx(float((clf.oof_proba_.argmax(1) == targets).mean()), abs=1e-6)
    # folds are stratified and cover every row once
    assert np.bincount(clf.fold_).tolist() == [300] * 4


def test_label_quality_and_issues_are_cleanlabs_on_the_out_of_fold_probabilities(noisy_fit, noisy_digits):
    clf, (X, y_noisy, flip, *_) = noisy_fit, noisy_digits
    targets = np.searchsorted(clf.classes_, y_noisy)
    np.testing.assert_allclose(clf.label_quality_, get_label_quality_scores(targets, clf.oof_proba_))
    np.testing.assert_array_equal(clf.label_issues_, find_label_issues(targets, clf.oof_proba_, n_jobs=1))
    report = clf.label_report_
    assert len(report) == len(X) and report["label_quality"].is_monotonic_increasing
    assert (report["given_label"].to_numpy() == y_noisy[report["row"]]).all()
    assert (report["flagged"].to_numpy() == clf.label_issues_[report["row"]]).all()
    # the rows the noise flipped are found, for losses without truncation too (40% symmetric noise)
    found = clf.label_issues_
    precision, recall = (found & flip).sum() / found.sum(), (found & flip).sum() / flip.sum()
    assert precision > 0.85 and recall > 0.85, (precision, recall)


def test_other_scores_string_labels_a_table_weights_and_pickling(digits):
    X, y = digits
    X, y = X[:400], np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y[:400]]
    df = pd.DataFrame(X[:, :20], columns=[f"p{i}" for i in range(20)])
    df["group"] = pd.Categorical(np.where(X[:, 30] > 8, "hi", "lo"))
    weight = np.random.RandomState(0).uniform(0.5, 2, len(y))
    clf = GCEClassifierCV(cv=3, label_quality="normalized_margin", **FAST).fit(df, y, sample_weight=weight)
    targets = np.searchsorted(clf.classes_, y)
    np.testing.assert_allclose(clf.label_quality_,
                               get_label_quality_scores(targets, clf.oof_proba_, method="normalized_margin"))
    assert set(clf.label_report_["suggested_label"]) <= set(clf.classes_)
    # issue 41: the report is indexed by the DataFrame's own index
    shifted = GCEClassifierCV(cv=3, **{**FAST, "max_epochs": 2}).fit(df.set_axis(df.index * 10 + 7), y)
    report = shifted.label_report_
    assert (report.index == report["row"] * 10 + 7).all() and report["label_quality"].is_monotonic_increasing
    assert (report["given_label"] == pd.Series(y, index=df.index * 10 + 7)[report.index]).all()
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.label_issues_, clf.label_issues_)
    np.testing.assert_array_equal(again.predict(df), clf.predict(df))


def test_a_splitter_of_ones_own_and_bad_settings(digits):
    X, y = digits
    clf = GCEClassifierCV(cv=KFold(3, shuffle=True, random_state=1), **FAST).fit(X[:300], y[:300])
    assert sorted(np.bincount(clf.fold_)) == [100, 100, 100] and len(clf.members_) == 3

    class Partial(StratifiedKFold):
        def split(self, X, y=None, groups=None):
            for train, test in super().split(X, y, groups):
                yield train, test[1:]

    with pytest.raises(ValueError, match="every row in one test fold"):
        GCEClassifierCV(cv=Partial(3), **FAST).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="cv or train_split"):
        from skorch.dataset import ValidSplit
        GCEClassifierCV(cv=3, train_split=ValidSplit(0.2), **FAST).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="'cv' parameter"):
        GCEClassifierCV(cv=1, **FAST).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="'label_quality' parameter"):
        GCEClassifierCV(cv=3, label_quality="nope", **FAST).fit(X[:300], y[:300])


def test_without_cv_nothing_changes_and_the_truncated_flags_keep_their_meaning(digits):
    X, y = digits
    _, y_noisy = LabelNoiseInjector(rate=0.3, random_state=0).fit_resample(X[:500], y[:500])
    clf = GCEClassifierCV(qs=(0.7,), losses=("truncated",), prune_start=3, prune_every=3, max_epochs=10,
                          random_state=0, cv=None).fit(X[:500], y_noisy)
    assert not hasattr(clf, "oof_proba_") and not hasattr(clf, "fold_") and "oof_score" not in clf.cv_results_
    assert clf.pruned_rows_.sum() > 0 and "fold" not in clf.members_[0]


def test_folds_stay_out_of_fold_shared_trunks_refused_and_warm_fits_keep_their_folds(digits):
    X, y = digits
    with pytest.raises(ValueError, match="shared by the members"):
        GCEClassifierCV(cv=3, module__shared_blocks=1, **FAST).fit(X[:300], y[:300])
    clf = GCEClassifierCV(cv=3, **{**FAST, "random_state": None, "max_epochs": 2}, warm_start=True)
    folds = clf.fit(X[:300], y[:300]).fold_.copy()
    np.testing.assert_array_equal(clf.fit(X[:300], y[:300]).fold_, folds)
    # a list of (train, test) splits: the fold members of a setting race as one
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X[:300], y[:300]))
    clf = GCEClassifierCV(cv=splits, qs=(0.5, 1.0), losses=("gce",), max_epochs=2, random_state=0)
    assert dict(clf._default_callbacks)["member_early_stopping"].group_size == 3
    assert len(clf.fit(X[:300], y[:300]).members_) == 6


def test_the_grid_on_sparse_input_has_no_per_column_embedding(digits):
    from scipy import sparse

    X, y = digits
    clf = GCEClassifierCV(cv=3, **{**FAST, "max_epochs": 2}).fit(sparse.csr_matrix(X[:300]), y[:300])
    assert clf.module_.n_bins == 0 and not hasattr(clf.module_, "embedding_weight")


def test_cross_fitted_members_are_narrower_unless_the_user_sizes_them(digits):
    X, y = digits
    widths = {}
    for name, params in {"cv": dict(cv=3), "splitter": dict(cv=StratifiedKFold(3)),
                         "user": dict(cv=3, module__hidden_sizes=(32, 16)), "no cv": dict(cv=None),
                         "grid": dict(cv=3, qs=(0.2, 0.8)), "grid, no cv": dict(cv=None, qs=(0.2, 0.8))}.items():
        module = GCEClassifierCV(**{**FAST, "max_epochs": 1, "noise_correction": None, **params}).fit(
            X[:150], y[:150]).module_
        widths[name] = [layer.weight.shape[1] for layer in module.layers]  # each layer's inputs
    # a grid's cross-fitted members are narrower still: two settings cost about 1.2x one
    assert widths == {"cv": [96, 96], "splitter": [96, 96], "user": [32, 16], "no cv": [256, 256],
                      "grid": [64, 64], "grid, no cv": [256, 256]}


@pytest.mark.parametrize("stop_on", ["own_fold", "training_folds"])
def test_each_member_is_validated_on_its_own_rows_alone(digits, monkeypatch, stop_on):
    from sklearn_gce import MemberMLP

    X, y = digits
    X, y = X[:400], y[:400]
    computed, forward = [], MemberMLP.forward

    def recording(self, X):
        computed.append((self.training, self.layers[0].computed()))
        return forward(self, X)

    monkeypatch.setattr(MemberMLP, "forward", recording)
    clf = GCEClassifierCV(cv=4, qs=(0.5, 1.0), losses=("gce",), max_epochs=3, noise_correction=None,
                          batch_size=50, random_state=0, stop_on=stop_on).fit(X, y)
    evaluation = [members for training, members in computed if not training]
    if stop_on == "own_fold":
        np.testing.assert_array_equal(clf.stop_fold_, clf.fold_)
    else:
        # each member stops on 10% of its 300 training rows, drawn from the other folds: 120 stopping rows
        assert np.all(clf.stop_fold_ != clf.fold_)
        assert np.bincount(clf.stop_fold_[clf.stop_fold_ >= 0]).tolist() == [30] * 4
    # 3 epochs of validation batches of 50, the stopping rows fold after fold, each batch computing only the
    # members (2 settings) of the folds among its rows; then the choice's forward pass over every row
    stopping = np.sort(clf.stop_fold_[clf.stop_fold_ >= 0])
    expected = [2 * len(np.unique(stopping[i:i + 50])) for i in range(0, len(stopping), 50)] * 3
    assert max(expected) < 8  # no batch computes every member
    validation, after = evaluation[:len(expected)], evaluation[len(expected):]
    assert [len(m) for m in validation] == expected
    assert after and all(m is None for m in after)
    assert clf.module_.layers[0].evaluated is None  # prediction computes every member
    # what each member scored on its stopping rows in the last epoch is what it predicts there now
    members = clf.predict_member_proba(X)
    stops = [clf.stop_fold_ == m["fold"] for m in clf.members_]
    accuracy = [np.mean(members[rows, j].argmax(-1) == y[rows]) for j, rows in enumerate(stops)]
    np.testing.assert_allclose(clf.history_[-1, "member_valid_acc"], accuracy, atol=1e-6)


def test_without_early_stopping_members_train_on_every_row_outside_their_fold(digits):
    X, y = digits
    clf = GCEClassifierCV(cv=4, early_stopping=False, max_epochs=2, random_state=0, stop_on="training_folds", **{
        k: v for k, v in FAST.items() if k not in ("max_epochs", "random_state")}).fit(X[:200], y[:200])
    assert np.all(clf.stop_fold_ == -1)  # nothing held out to stop on


def test_after_a_correction_the_per_row_results_are_those_of_the_corrected_networks(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    _, y_noisy = LabelNoiseInjector(noise="pairflip", rate=0.3, random_state=0).fit_resample(X, y)
    plain = GCEClassifierCV(cv=3, noise_correction=None, **{**FAST, "max_epochs": 8}).fit(X, y_noisy)
    corrected = GCEClassifierCV(cv=3, noise_correction="forward", **{**FAST, "max_epochs": 8}).fit(X, y_noisy)
    assert corrected.noise_correction_ == "forward"
    # each row's probabilities from the corrected member of its fold, as the prediction uses them
    members = corrected.predict_member_proba(X)
    np.testing.assert_allclose(corrected.oof_proba_, members[np.arange(len(X)), corrected.fold_], atol=1e-5)
    assert np.abs(corrected.oof_proba_ - plain.oof_proba_).max() > 1e-2
    np.testing.assert_array_equal(
        corrected.label_issues_, find_label_issues(np.searchsorted(corrected.classes_, y_noisy),
                                                   corrected.oof_proba_, n_jobs=1))


def test_verbose_prints_one_readable_line_per_epoch_and_a_bar(digits, capsys):
    # issue 41: verbose=1 printed the members' losses and accuracies as lists of ten or twenty floats per epoch
    X, y = digits
    clf = GCEClassifierCV(cv=3, max_epochs=2, verbose=1, random_state=0).fit(X[:150], y[:150])
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 2 and all("[" not in line.replace("\x1b[", "") for line in lines)
    assert "it/s" in captured.err + captured.out  # the progress bar
    assert len(clf.history_[-1, "member_valid_loss"]) == 2 * 3  # still in the history


def test_the_layout_is_settings_then_copies_then_folds():
    layout = MemberLayout([{"loss": "gce", "q": 0.2}, {"loss": "gce", "q": 0.8}], n_copies=2, n_folds=3)
    assert layout.n_members == 12 and layout.group_size == 6
    assert [(m["q"], m["fold"]) for m in layout.members] == [(q, f) for q in (0.2, 0.8) for _ in range(2)
                                                             for f in range(3)]
    np.testing.assert_array_equal(layout.setting_of, np.repeat([0, 1], 6))
    np.testing.assert_array_equal(layout.member_fold, [m["fold"] for m in layout.members])
    np.testing.assert_array_equal(layout.members_of([1]), np.arange(6, 12))
    proba = np.random.RandomState(0).rand(4, 12, 3)
    np.testing.assert_allclose(layout.by_setting(proba)[:, 1], proba[:, 6:].mean(1))
    fold = np.array([0, 1, 2, 1])
    oof = layout.out_of_fold(proba, fold)
    np.testing.assert_allclose(oof[3, 1], proba[3, [7, 10]].mean(0))  # setting 1, both copies, fold 1
    plain = MemberLayout([{"loss": "ce"}], n_copies=3)
    assert plain.member_fold is None and plain.members == [{"loss": "ce"}] * 3
    clf = GCEClassifierCV(cv=3, qs=(0.2, 0.8), ensemble_size=2)
    assert clf._layout().members == layout.members and clf._n_members == 12
