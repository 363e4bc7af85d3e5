"""GCEClassifierCV and its stacked members: the network, the loss, per-member early stopping, the choice."""

import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from sklearn_gce import (
    MLP,
    CrossEntropyLoss,
    GCEClassifier,
    GCEClassifierCV,
    GCELoss,
    MemberLoss,
    MemberMLP,
    TruncatedGCELoss,
    make_loss,
)
from sklearn_gce._stacked import member_slices


# ------------------------------------------------------------------ network
def _inputs(n=40):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 6, generator=g)
    X[:, 4] = torch.randint(-1, 3, (n,), generator=g)  # codes of 3 categories, -1 unknown
    X[:, 5] = torch.randint(0, 5, (n,), generator=g)
    return X


def _copy_member_into_mlp(net, m, mlp):
    """Member m of a MemberMLP (no shared blocks, two hidden blocks) into an MLP's weights."""
    with torch.no_grad():
        mlp.embedding.weight.copy_(net.embedding_weight[m])
        mlp.embedding.bias.copy_(net.embedding_bias[m, 0])
        mlp.categorical.table.weight.copy_(net.categorical[m])
        first = torch.cat([net.first_shared[m], net.first_private[m]], 0)
        linears = [first, net.layers[0].weight[m], net.layers[1].weight[m]]
        biases = [net.first_bias[m, 0], net.layers[0].bias[m, 0], net.layers[1].bias[m, 0]]
        for layer, w, b in zip([mlp.layers[0], mlp.layers[4], mlp.layers[8]], linears, biases):
            layer.weight.copy_(w.T)
            layer.bias.copy_(b)
        for bn, norm in zip([mlp.layers[1], mlp.layers[5]], net.norms):
            bn.weight.copy_(norm.weight[m, 0])
            bn.bias.copy_(norm.bias[m, 0])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_each_member_computes_what_an_mlp_with_its_weights_computes(mode):
    X = _inputs()
    kwargs = dict(n_features=6, n_classes=3, hidden_sizes=(16, 8), dropout=0.0, n_numeric=3,
                  categorical_cardinalities=[3, 5])
    torch.manual_seed(0)
    net = MemberMLP(n_members=3, **kwargs)
    net.set_input_scaling(X)
    mlps = []
    for m in range(3):
        mlps.append(MLP(**kwargs))
        mlps[-1].set_input_scaling(X)
        _copy_member_into_mlp(net, m, mlps[-1])
    if mode == "eval":  # running statistics after the same training batch
        for module in [net, *mlps]:
            module.train()(X)
            module.eval()
    for m, mlp in enumerate(mlps):
        expected = mlp(X)
        assert torch.allclose(net(X)[:, m], expected, atol=1e-5)


def test_members_start_from_different_weights_and_train_independently():
    torch.manual_seed(0)
    net = MemberMLP(6, 3, n_members=4, hidden_sizes=(8,), dropout=0.0, categorical_cardinalities=[3, 5])
    X, y = _inputs(), torch.randint(0, 3, (40,))
    net.set_input_scaling(X)
    assert not torch.equal(net.layers[0].weight[0], net.layers[0].weight[1])
    loss = MemberLoss([("gce", 0.3), ("truncated", 0.7), ("ce", 1.0), ("nce_agce", 1.0)])
    loss(net(X), y).backward()
    together = {name: p.grad.clone() for name, p in net.named_parameters()}
    for m in range(4):
        net.zero_grad()
        loss.per_member(net(X), y)[m].backward()
        for name, p in net.named_parameters():
            assert torch.allclose(p.grad[m], together[name][m], atol=1e-6), name
            others = [i for i in range(4) if i != m]
            assert p.grad[others].abs().max() == 0, name


def test_unknown_categories_give_a_zero_vector_that_never_trains():
    net = MemberMLP(2, 2, n_members=2, hidden_sizes=(4,), numeric_embedding=None, categorical_cardinalities=[3])
    X = torch.tensor([[0.5, -1.0], [1.0, 7.0]])  # code -1 and an unseen code 7
    loss = MemberLoss([("ce", 1.0)] * 2)
    loss(net(X), torch.tensor([0, 1])).backward()
    assert net.categorical.grad[:, 0].abs().max() == 0
    assert torch.all(net.categorical[:, 0] == 0)


def test_stopped_members_cost_nothing_in_training_and_all_members_predict():
    torch.manual_seed(0)
    net = MemberMLP(6, 3, n_members=3, hidden_sizes=(8,), categorical_cardinalities=[3, 5])
    X = _inputs()
    net.set_input_scaling(X)
    net.set_active_members([0, 2])
    out = net.train()(X)
    assert torch.all(out[:, 1] == 0) and not torch.all(out[:, 0] == 0)
    MemberLoss([("gce", 0.5)] * 3)(out, torch.zeros(40, dtype=torch.long)).backward()
    assert all(p.grad[1].abs().max() == 0 for p in member_slices(net).values() if p.requires_grad)
    running = net.norms[0].running_mean[1].clone()
    net(X)
    assert torch.equal(net.norms[0].running_mean[1], running)  # not trained: statistics kept
    assert not torch.all(net.eval()(X)[:, 1] == 0)  # evaluation computes every member
    net.set_active_members(None)
    assert not torch.all(net.train()(X)[:, 1] == 0)


def test_members_without_hidden_layers_are_additive_models_and_cross_fit():
    # hidden_sizes=(): each member is MLP(hidden_sizes=()), a sum of one function per feature
    torch.manual_seed(0)
    net = MemberMLP(6, 3, n_members=2, hidden_sizes=(), n_numeric=3, categorical_cardinalities=[3, 5])
    X = _inputs()
    net.set_input_scaling(X)
    net.set_active_members([1])  # selecting members needs no hidden layer
    assert torch.all(net.train()(X)[:, 0] == 0)
    net.set_active_members(None)
    Xb = X.clone()
    Xb[:, 0] += 1.0  # one feature moved: the change of the logits does not depend on the others
    Xc, Xd = X.clone(), Xb.clone()
    Xc[:, 1:] = Xd[:, 1:] = X[7, 1:]
    net.eval()
    assert torch.allclose(net(Xb) - net(X), net(Xd) - net(Xc), atol=1e-5)
    rng = np.random.default_rng(0)
    Xn, yn = rng.normal(size=(120, 4)), rng.integers(0, 3, 120)
    clf = GCEClassifierCV(cv=3, qs=(0.8,), module__hidden_sizes=(), max_epochs=3, random_state=0).fit(Xn, yn)
    assert clf.oof_proba_.shape == (120, 3) and np.all(np.isfinite(clf.oof_proba_))


def test_a_shared_trunk_is_one_mlp_under_member_heads():
    net = MemberMLP(6, 3, n_members=5, hidden_sizes=(16, 8), shared_blocks=1, categorical_cardinalities=[3, 5])
    X = _inputs()
    net.set_input_scaling(X)
    assert net(X).shape == (40, 5, 3)
    assert isinstance(net.trunk, MLP) and net.trunk.layers[0].out_features == 16
    assert all(name.startswith("trunk") for name in net.shared_state if "trunk" in name)
    assert all(t.shape[0] == 5 for t in member_slices(net).values())
    with pytest.raises(ValueError, match="shared_blocks"):
        MemberMLP(6, 3, hidden_sizes=(16,), shared_blocks=2)


# --------------------------------------------------------------------- loss
def test_member_loss_is_each_members_loss_summed():
    torch.manual_seed(0)
    logits, target = torch.randn(12, 5, 4) * 3, torch.randint(0, 4, (12,))
    weight = torch.rand(12)
    settings = [("gce", 0.3), ("ce", 1.0), ("truncated", 0.7), ("gce", 1.0), ("nce_agce", 1.0)]
    loss = MemberLoss(settings, k=0.4)
    expected = [GCELoss(0.3), CrossEntropyLoss(), TruncatedGCELoss(0.7, k=0.4), GCELoss(1.0), make_loss("nce_agce")]
    per_member = loss.per_member(logits, target, weight)
    for m, single in enumerate(expected):
        assert torch.allclose(per_member[m], single(logits[:, m], target, weight), atol=1e-6)
    assert torch.allclose(loss(logits, target, weight), per_member.sum())
    # q = 1 is MAE: 1 - p_y
    p_y = torch.softmax(logits[:, 3], -1).gather(1, target[:, None]).squeeze(1)
    assert torch.allclose(loss.per_sample(logits, target)[:, 3], 1 - p_y, atol=1e-6)


def test_member_loss_weights_per_member_and_fully_pruned_members():
    logits, target = torch.randn(6, 2, 3), torch.randint(0, 3, (6,))
    loss = MemberLoss([("truncated", 0.5), ("truncated", 0.9)])
    weight = torch.ones(6, 2)
    weight[:, 1] = 0  # member 1 pruned every row of the batch
    per_member = loss.per_member(logits, target, weight)
    assert torch.isfinite(per_member).all() and per_member[1] == 0
    keep = loss.optimal_weight(logits, target)
    p_y = torch.softmax(logits, -1).gather(2, target[:, None, None].expand(6, 2, 1)).squeeze(2)
    assert torch.equal(keep, (p_y > 0.5).float())
    assert torch.all(MemberLoss([("gce", 0.5), ("truncated", 0.5)]).optimal_weight(logits, target)[:, 0] == 1)


def test_member_loss_refuses_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="q must be"):
        MemberLoss([("gce", 0.0)])
    with pytest.raises(ValueError, match="n_members=2"):
        MemberLoss([("gce", 0.5)] * 2)(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))


# ---------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def fitted(noisy_digits):
    X, y, _, X_test, y_test = noisy_digits
    clf = GCEClassifierCV(qs=(0.5, 1.0), losses=("gce", "truncated", "ce"), max_epochs=25,
                          n_iter_no_change=5, prune_start=3, prune_every=3, random_state=0, cv=None)
    return clf.fit(X, y), X_test, y_test


def test_cv_results_describe_every_setting_and_the_choice(fitted):
    clf, X_test, y_test = fitted
    res = clf.cv_results_
    assert [p for p in res["params"]] == [
        {"loss": "gce", "q": 0.5}, {"loss": "gce", "q": 1.0},
        {"loss": "truncated", "q": 0.5}, {"loss": "truncated", "q": 1.0}, {"loss": "ce"}]
    assert res["param_q"].mask.tolist() == [False] * 4 + [True]
    assert clf.best_index_ == int(np.argmax(res["holdout_score"]))
    assert res["rank_holdout_score"][clf.best_index_] == 1
    assert clf.best_params_ == res["params"][clf.best_index_]
    assert clf.best_score_ == res["holdout_score"][clf.best_index_]
    assert len(clf.members_) == 5 and clf.members_[4] == {"loss": "ce"}
    # trained: far better than chance on clean labels after 40% noise
    assert np.mean(clf.predict(X_test) == y_test) > 0.8


def test_members_stop_early_on_their_own_and_keep_their_best_epoch(fitted):
    clf, _, _ = fitted
    stopping = dict(clf.callbacks_)["member_early_stopping"]
    best = stopping.best_epoch_
    assert len(set(best.tolist())) > 1  # not one epoch for all
    behind = clf.cv_results_["stopped_behind"]
    # members the race did not stop ran out of patience (or of epochs)
    assert np.all(np.minimum(best[~behind] + clf.n_iter_no_change, clf.max_epochs) <= len(clf.history))
    # the module holds each member's best weights
    for name, t in member_slices(clf.module_).items():
        assert torch.equal(t.detach(), stopping.best_weights_[name]), name


def _replay_race(history, patience, patience_behind, size=1):
    """The race replayed from the recorded losses and accuracies: which members it stopped."""
    losses, accuracy = np.array(history[:, "member_valid_loss"]), np.array(history[:, "member_valid_acc"])
    n = losses.shape[1]
    best, best_acc = np.full(n, np.inf), np.zeros(n)
    misses, behind = np.zeros(n, int), np.zeros(n, bool)
    for loss, acc in zip(losses, accuracy):
        done = (misses >= patience) | behind
        improved = (loss < np.where(np.isinf(best), best, best * (1 - 1e-4))) & ~done
        best, best_acc = np.where(improved, loss, best), np.where(improved, acc, best_acc)
        misses = np.where(improved, 0, misses + 1)
        done = (misses >= patience) | behind
        score = best_acc.reshape(-1, size).mean(1)
        stale = ~((misses < patience_behind) & ~done).reshape(-1, size).any(1)
        behind |= np.repeat((score < score.max()) & stale, size)
    return behind


def test_members_that_trail_stop_after_n_iter_no_change_behind(noisy_digits):
    X, y, _, _, _ = noisy_digits
    clf = GCEClassifierCV(qs=(0.3, 0.7, 1.0), losses=("gce", "ce"), max_epochs=30,
                          n_iter_no_change=10, n_iter_no_change_behind=2, random_state=0, cv=None).fit(X, y)
    behind = clf.cv_results_["stopped_behind"]
    np.testing.assert_array_equal(behind, _replay_race(clf.history, 10, 2))
    assert behind.any() and not behind[clf.best_index_]
    # a stopped member trained no more: fewer members train epoch after epoch
    training = np.array(clf.history[:, "n_members_training"])
    assert training[0] == 4 and training[-1] < 4 and np.all(np.diff(training) <= 0)
    # n_epochs: a member trained while it had not stopped (the count after an epoch is for the next)
    n_epochs = clf.cv_results_["n_epochs"]
    assert n_epochs.max() == len(clf.history)
    np.testing.assert_array_equal(np.sort(n_epochs), np.sort(
        [1 + int(np.sum(training[:-1] > i)) for i in range(4)]))
    # copies of a setting race as one
    pairs = GCEClassifierCV(qs=(0.3, 1.0), losses=("gce",), ensemble_size=2, max_epochs=30,
                            n_iter_no_change=10, n_iter_no_change_behind=2, random_state=0, cv=None).fit(X, y)
    np.testing.assert_array_equal(
        np.repeat(pairs.cv_results_["stopped_behind"], 2), _replay_race(pairs.history, 10, 2, size=2))


@pytest.mark.parametrize("params", [{"n_iter_no_change_behind": None}, {"ensemble": True},
                                    {"early_stopping": False, "max_epochs": 8}])
def test_no_race_without_n_iter_no_change_behind_or_in_ensemble_mode(noisy_digits, params):
    X, y, _, _, _ = noisy_digits
    clf = GCEClassifierCV(**{"qs": (0.3, 1.0), "losses": ("gce",), "max_epochs": 30, "n_iter_no_change": 5,
                             "random_state": 0, **params}, cv=None).fit(X, y)
    assert not clf.cv_results_["stopped_behind"].any()
    best = dict(clf.callbacks_)["member_early_stopping"].best_epoch_
    if len(clf.history) < clf.max_epochs:  # stopped: the last member ran out of patience
        assert len(clf.history) == best.max() + clf.n_iter_no_change


def test_predictions_average_the_chosen_members_or_the_best_settings(fitted, noisy_digits):
    clf, X_test, _ = fitted
    members = clf.predict_member_proba(X_test)
    assert members.shape == (len(X_test), 5, 10)
    np.testing.assert_allclose(members.sum(-1), 1, rtol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X_test), members[:, clf.predicting_members_].mean(1), rtol=1e-5)
    for ensemble, n in [(True, 3), (2, 2), (9, 5)]:  # the better half (of 5), the 2 best, all
        ens = clone(clf).set_params(ensemble=ensemble).fit(*noisy_digits[:2])
        scores = ens.cv_results_["holdout_score"]
        best = sorted(np.argsort(-scores, kind="stable")[:n].tolist())
        assert ens.predicting_members_.tolist() == best
        assert ens.best_index_ in best and min(scores[best]) >= max(np.delete(scores, best), default=0)
        np.testing.assert_allclose(ens.predict_proba(X_test),
                                   ens.predict_member_proba(X_test)[:, best].mean(1), rtol=1e-5)


def test_label_issues_per_member(fitted, noisy_digits):
    clf, _, _ = fitted
    _, _, flipped, _, _ = noisy_digits
    issues = clf.member_label_issues_
    assert issues.shape == (len(flipped), 5)
    assert not issues[:, [0, 1, 4]].any()  # only truncated members prune
    assert issues[:, 2].any() and issues[:, 3].any()
    # what they flag is mostly label errors (40% of rows are flipped)
    assert flipped[issues[:, 2]].mean() > 0.6
    assert clf.pruned_rows_.shape == (len(flipped),)
    assert np.array_equal(clf.cv_results_["n_label_issues"], issues.sum(0))


def test_the_choice_is_the_best_accuracy_on_the_validation_rows(digits):
    X, y = digits
    X_val, y_val = X[1500:], y[1500:]
    clf = GCEClassifierCV(qs=(0.3, 1.0), losses=("gce",), ensemble_size=2, max_epochs=6,
                          train_split=predefined_split(Dataset(X_val, y_val)), random_state=0, cv=None)
    clf.fit(X[:1500], y[:1500])
    proba = clf.predict_member_proba(X_val).reshape(len(y_val), 2, 2, 10).mean(2)
    expected = (proba.argmax(-1) == y_val[:, None]).mean(0)
    np.testing.assert_allclose(clf.cv_results_["holdout_score"], expected)
    assert clf.predicting_members_.tolist() == [2 * clf.best_index_, 2 * clf.best_index_ + 1]


class _KeepState(Callback):
    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.state_ = batch.state


@pytest.mark.filterwarnings("ignore:The truncated loss pruned every")
def test_sample_weight_and_elr_work_per_member(digits):
    X, y = digits[0][:400], digits[1][:400]
    w = np.where(np.arange(400) % 2, 1.0, 0.5)
    keep = _KeepState()
    clf = GCEClassifierCV(qs=(0.7,), losses=("gce", "truncated"), max_epochs=4, prune_start=2,
                          prune_every=1, elr_lambda=1.0, callbacks=[keep], random_state=0, cv=None)
    clf.fit(X, y, sample_weight=w)
    # a moving average per row and member, keep-weights per member
    assert tuple(keep.state_.elr_targets((2, 10)).shape) == (400, 2, 10)
    assert keep.state_.elr_targets((2, 10)).abs().sum() > 0
    assert tuple(keep.state_.keep.shape) == (400, 2)
    assert keep.state_.keep[:, 0].min() == 1  # the gce member prunes nothing
    assert np.isfinite(clf.history[:, "train_loss"]).all()
    assert np.isfinite(clf.predict_proba(X)).all()


def test_pickle_clone_pipeline_and_grid_search():
    X, y = load_iris(return_X_y=True)
    clf = GCEClassifierCV(qs=(0.5, 1.0), losses=("gce",), max_epochs=5, random_state=0, cv=None).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params()["qs"] == (0.5, 1.0)
    pipe = make_pipeline(StandardScaler(), GCEClassifierCV(qs=(0.7,), losses=("gce",), max_epochs=3, random_state=0, cv=None))
    assert pipe.fit(X, y).score(X, y) > 0.3
    search = GridSearchCV(GCEClassifierCV(qs=(0.7,), losses=("gce",), max_epochs=3, random_state=0, cv=None),
                          {"lr": [1e-3, 1e-2]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (1e-3, 1e-2)


def test_same_seed_same_model():
    X, y = load_iris(return_X_y=True)
    a = GCEClassifierCV(qs=(0.5, 1.0), losses=("gce",), max_epochs=4, random_state=3, cv=None).fit(X, y)
    b = GCEClassifierCV(qs=(0.5, 1.0), losses=("gce",), max_epochs=4, random_state=3, cv=None).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


class _OneMember(torch.nn.Module):
    """A MemberMLP of one member as a plain network, for GCEClassifier."""

    def __init__(self, n_features, n_classes, **kwargs):
        super().__init__()
        self.net = MemberMLP(n_features, n_classes, n_members=1, **kwargs)

    def set_input_scaling(self, X):
        self.net.set_input_scaling(X)

    def forward(self, X):
        return self.net(X)[:, 0]


@pytest.mark.parametrize("loss", ["gce", "truncated"])
def test_a_member_trains_exactly_as_a_fit_of_its_own(digits, loss):
    """Same seed, same first weights: one member of GCEClassifierCV is GCEClassifier's network."""
    X, y = digits[0][:600], digits[1][:600]
    kw = dict(max_epochs=14, n_iter_no_change=3, prune_start=6, prune_every=2, lr=5e-3, random_state=0,
              module__hidden_sizes=(32,))
    alone = GCEClassifier(_OneMember, loss=loss, q=0.7, **kw).fit(X, y)
    member = GCEClassifierCV(qs=(0.7,), losses=(loss,), **kw, cv=None).fit(X, y)
    assert len(member.history) == len(alone.history)
    np.testing.assert_allclose(member.predict_proba(X), alone.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(member.pruned_rows_, alone.pruned_rows_)
    if loss == "truncated":  # pruned some rows, not all
        assert 0 < alone.pruned_rows_.sum() < len(y) / 2


@pytest.mark.parametrize("params, message", [
    ({"qs": (0.0, 0.5)}, "qs must be"),
    ({"qs": (0.5, 0.5)}, "must not repeat"),
    ({"losses": ("gce", "nope")}, "losses must be"),
    ({"losses": ()}, "losses must be"),
    ({"criterion__q": 0.3}, r"own parameter\(s\) \(qs=...\), not criterion__q"),
    ({"ensemble": 0}, "'ensemble' parameter"),
    ({"n_iter_no_change_behind": 0}, "'n_iter_no_change_behind' parameter"),
])
def test_bad_grids_are_refused_with_a_clear_message(params, message):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        GCEClassifierCV(max_epochs=1, **params, cv=None).fit(X, y)


def test_no_partial_fit_and_too_small_data():
    assert not hasattr(GCEClassifierCV(), "partial_fit")
    X, y = np.random.RandomState(0).rand(6, 2), np.array([0, 1, 2, 0, 1, 2])
    with pytest.warns(UserWarning, match="the choice is made on the training labels"):
        clf = GCEClassifierCV(qs=(0.5, 1.0), losses=("gce",), max_epochs=3, cv=None).fit(X, y)
    assert len(clf.history) == 3 and clf.best_index_ in (0, 1)


def test_a_module_of_ones_own_must_stack_its_members():
    X, y = load_iris(return_X_y=True)

    class Plain(torch.nn.Module):
        def __init__(self, n_members=1):
            super().__init__()
            self.n_members = n_members
            self.linear = torch.nn.Linear(4, 3)  # no member dimension

        def forward(self, X):
            return self.linear(X).unsqueeze(1).expand(-1, self.n_members, -1)

    with pytest.raises(ValueError, match="member as first dimension"):
        GCEClassifierCV(Plain, qs=(0.5, 1.0), losses=("gce",), max_epochs=1, cv=None).fit(X, y)

    class Stacked(torch.nn.Module):
        def __init__(self, n_members=1, n_features=4, n_classes=3):
            super().__init__()
            self.n_members = n_members
            self.weight = torch.nn.Parameter(torch.randn(n_members, n_features, n_classes) * 0.1)

        def forward(self, X):
            return torch.einsum("bi,mic->bmc", X, self.weight)

    clf = GCEClassifierCV(Stacked, qs=(0.5, 1.0), losses=("gce",), max_epochs=5, random_state=0, cv=None).fit(X, y)
    assert clf.predict_member_proba(X).shape == (150, 2, 3)


def test_members_trained_alone_update_their_own_batch_statistics_only():
    X = _inputs()
    torch.manual_seed(0)
    net = MemberMLP(6, 3, n_members=3, hidden_sizes=(8,), dropout=0.0, n_numeric=3, categorical_cardinalities=[3, 5])
    net.set_input_scaling(X)
    every = copy.deepcopy(net)
    every.train()(X)
    net.set_active_members([0, 2])
    out = net.train()(X)
    norm, full = net.norms[0], every.norms[0]
    for stat in ("running_mean", "running_var"):
        torch.testing.assert_close(getattr(norm, stat)[[0, 2]], getattr(full, stat)[[0, 2]])
        torch.testing.assert_close(getattr(norm, stat)[1], torch.full_like(getattr(norm, stat)[1],
                                                                           0.0 if stat == "running_mean" else 1.0))
    torch.testing.assert_close(out[:, [0, 2]], every(X)[:, [0, 2]])
    assert not out[:, 1].any()  # not computed


def test_the_members_dropout_drops_the_rate_and_rescales_the_rest():
    from sklearn_gce._stacked import _dropout

    X = torch.ones(4, 500, 100)
    torch.manual_seed(0)
    out = _dropout(X, 0.3, training=True)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.01
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    torch.manual_seed(0)
    torch.testing.assert_close(_dropout(X, 0.3, training=True), out)  # seeded
    assert torch.equal(_dropout(X, 0.3, training=False), X) and torch.equal(_dropout(X, 0.0, training=True), X)
