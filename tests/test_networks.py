"""The default MLP and its piecewise-linear embedding of numeric features."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedShuffleSplit
from skorch.callbacks import Callback

from sklearn_gce import MLP, GCEClassifier, PiecewiseLinearEmbedding, networks


def identity_embedding(n_features, n_bins):
    """An embedding whose output is its ramps (identity per-feature map)."""
    emb = PiecewiseLinearEmbedding(n_features, n_bins=n_bins, d_embedding=n_bins)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(n_bins).repeat(n_features, 1, 1))
        emb.bias.zero_()
    return emb


def test_ramps_are_the_piecewise_linear_encoding():
    emb = identity_embedding(1, 3)
    emb.edges.copy_(torch.tensor([[0.0, 1.0, 2.0, 4.0]]))
    x = torch.tensor([[-1.0], [0.5], [1.5], [3.0], [9.0]])
    expected = torch.tensor([
        [0.0, 0.0, 0.0],   # below the first edge
        [0.5, 0.0, 0.0],
        [1.0, 0.5, 0.0],
        [1.0, 1.0, 0.5],
        [1.0, 1.0, 1.0],   # above the last edge
    ])
    torch.testing.assert_close(emb(x), expected)


def test_repeated_quantiles_of_a_binary_column_act_as_a_step():
    emb = identity_embedding(1, 4)
    x = torch.tensor([[0.0]] * 70 + [[1.0]] * 30)
    emb.set_bins(x)
    out = emb(torch.tensor([[0.0], [1.0]]))
    assert torch.isfinite(out).all()
    assert out[0].sum() == 0 and out[1].sum() > 0  # only the 1s switch ramps on


def test_a_column_constant_in_training_stays_off_at_predict():
    emb = identity_embedding(2, 4)
    emb.set_bins(torch.stack([torch.zeros(50), torch.arange(50.0)], dim=1))
    out = emb(torch.tensor([[7.0, 10.0]]))  # a value the first column never took
    assert out[0, :4].sum() == 0 and out[0, 4:].sum() > 0


def test_bins_are_training_quantiles():
    emb = PiecewiseLinearEmbedding(2, n_bins=4)
    X = torch.stack([torch.arange(101.0), torch.arange(101.0) ** 2], dim=1)
    emb.set_bins(X)
    torch.testing.assert_close(emb.edges[0], torch.tensor([0.0, 25.0, 50.0, 75.0, 100.0]))
    torch.testing.assert_close(emb.edges[1], emb.edges[0] ** 2)


def test_wide_inputs_get_their_bins_a_block_of_columns_at_a_time(monkeypatch):
    X = torch.randn(200, 7)
    whole = PiecewiseLinearEmbedding(7, n_bins=4)
    whole.set_bins(X)
    sizes = []
    quantile = torch.quantile

    def recording_quantile(block, *args, **kwargs):
        sizes.append(block.numel())
        return quantile(block, *args, **kwargs)

    monkeypatch.setattr(networks, "_QUANTILE_MAX_ELEMENTS", 450)  # 2 columns of 200 rows
    monkeypatch.setattr(torch, "quantile", recording_quantile)
    blocks = PiecewiseLinearEmbedding(7, n_bins=4)
    blocks.set_bins(X)
    assert sizes == [400, 400, 400, 200]
    torch.testing.assert_close(blocks.edges, whole.edges)


def test_bins_use_at_most_20000_evenly_spaced_rows(monkeypatch):
    seen = []
    quantile = torch.quantile
    monkeypatch.setattr(torch, "quantile", lambda b, *a, **k: seen.append(len(b)) or quantile(b, *a, **k))
    for n in (100, 20_000, 39_999, 100_001):
        PiecewiseLinearEmbedding(2, n_bins=4).set_bins(torch.randn(n, 2))
    assert seen == [100, 20_000, 20_000, 16_667]


def test_narrow_bins_of_a_heavy_tailed_column_still_span_zero_to_one():
    # One huge outlier makes the standardised Poisson counts < 1e-6 apart.
    rng = np.random.RandomState(0)
    counts = np.append(rng.poisson(3, 999), 1e8).astype(np.float32)[:, None]
    net = MLP(1, 2, n_bins=8, d_embedding=8)
    net.set_input_scaling(counts)
    edges = net.embedding.edges[0]
    lo, hi = edges[:-1], edges[1:]
    narrow = (hi > lo) & (hi - lo < 1e-6)
    assert narrow.any()
    emb = identity_embedding(1, 8)
    emb.edges.copy_(net.embedding.edges)
    with torch.no_grad():
        at_upper = emb(hi[:, None])   # row t: the value at bin t's upper edge
        at_lower = emb(lo[:, None])
    t = torch.arange(8)
    assert torch.all(at_upper[t, t][hi > lo] == 1)  # a bin is full at its upper edge
    assert torch.all(at_lower[t, t][hi > lo] == 0)  # and empty at its lower edge


def test_edges_travel_in_the_state_dict_and_default_to_standard_units():
    net = MLP(3, 2)
    torch.testing.assert_close(net.embedding.edges[0], torch.linspace(-2, 2, net.embedding.edges.shape[1]))
    assert net.embedding.edges.shape == (3, 65)  # 64 bins
    net.set_input_scaling(torch.rand(50, 3) * 100)
    fresh = MLP(3, 2)
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh.embedding.edges, net.embedding.edges)
    X = torch.rand(5, 3) * 100
    torch.testing.assert_close(fresh.eval()(X), net.eval()(X))


def test_default_mlp_embedding_uses_standardised_features_and_bins_set_at_fit(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=5, random_state=0).fit(X[:300], y[:300])
    net = clf.module_
    assert net.embedding is not None
    # first layer sees the 64 standardised pixels and 64 x 8 embedding columns
    assert net.layers[0].in_features == 64 + 64 * 8
    Z = (torch.as_tensor(X[:300], dtype=torch.float32) - net.input_mean) / net.input_scale
    torch.testing.assert_close(net.embedding.edges[:, -1], Z.max(0).values)
    torch.testing.assert_close(net.embedding.edges[:, 0], Z.min(0).values)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone.predict_proba(X[300:340]), clf.predict_proba(X[300:340]))


def test_embedding_learns_a_threshold_on_a_heavy_tailed_feature():
    # y depends on thresholds of a log-normal count; the plain MLP sees a
    # feature squashed near zero after standardisation, the bins do not.
    rng = np.random.RandomState(0)
    x = rng.lognormal(0, 2, size=(3000, 1)).astype(np.float32)
    y = np.digitize(x[:, 0], [0.2, 1.0, 5.0])
    params = dict(max_epochs=30, early_stopping=False, random_state=0)
    plain = GCEClassifier(module__numeric_embedding=None, **params).fit(
        x[:2000], y[:2000]).score(x[2000:], y[2000:])
    binned = GCEClassifier(**params).fit(x[:2000], y[:2000]).score(x[2000:], y[2000:])
    assert binned > 0.97
    assert binned > plain


@pytest.mark.parametrize("kwargs, match", [
    (dict(numeric_embedding="periodic"), "numeric_embedding must be one of"),
    (dict(n_bins=0), "n_bins and d_embedding"),
    (dict(d_embedding=4.0), "n_bins and d_embedding"),
    (dict(activation="swish"), "activation must be one of"),
    (dict(dropout=1.0), "dropout must be in"),
])
def test_bad_network_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(4, 3, **kwargs)


# ------------------------------------------------- the additive member
def _side_by_side_net():
    torch.manual_seed(0)
    net = MLP(5, 3, hidden_sizes=(16,), additive_member=True)
    net.set_input_scaling(torch.randn(200, 5) * 3 + 1)
    return net


def test_additive_member_is_a_linear_model_of_its_own_embeddings():
    net = _side_by_side_net()
    add = net.additive
    assert add.additive is None
    # one linear layer on 5 standardised features and 5 x 8 embedding columns
    assert [type(m) for m in add.layers] == [torch.nn.Linear]
    assert add.layers[0].in_features == 5 + 5 * 8
    # its own weights and the same bins and scaling as the MLP
    assert add.embedding.weight.data_ptr() != net.embedding.weight.data_ptr()
    torch.testing.assert_close(add.embedding.edges, net.embedding.edges)
    torch.testing.assert_close(add.input_mean, net.input_mean)


def test_side_by_side_outputs_each_model_in_training_and_their_mean_in_evaluation():
    net = _side_by_side_net()
    X = torch.randn(7, 5)
    torch.manual_seed(1)
    both = net.train()(X)
    assert both.shape == (7, 2, 3)
    torch.testing.assert_close(both[:, 1], net.additive(X))  # no dropout without hidden layers
    net.eval()
    mlp_alone = MLP(5, 3, hidden_sizes=(16,))
    mlp_alone.load_state_dict({k: v for k, v in net.state_dict().items()
                               if not k.startswith("additive.") and k != "model_weights"})
    expected = (mlp_alone.eval()(X).softmax(-1) + net.additive(X).softmax(-1)) / 2
    torch.testing.assert_close(net(X).exp(), expected)
    # the mean of probabilities in log space stays finite at extreme logits
    with torch.no_grad():
        net.additive.layers[0].bias.fill_(1e4)
    assert torch.isfinite(net(X)).all()


def test_gce_classifier_builds_the_side_by_side_network_by_default(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=3, random_state=0).fit(X[:300], y[:300])
    assert clf.module_.additive is not None
    plain = GCEClassifier(max_epochs=3, random_state=0, module__additive_member=False).fit(X[:300], y[:300])
    assert plain.module_.additive is None
    proba = clf.predict_proba(X[300:340])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone.predict_proba(X[300:340]), proba)


class KeepBatch(Callback):
    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.batch_ = batch


def test_each_model_side_by_side_is_trained_with_the_loss_on_its_own_logits(digits):
    X, y = digits
    keep = KeepBatch()
    # noise_correction=None: the default network itself, not the mean of two ('auto' may correct)
    clf = GCEClassifier(max_epochs=1, early_stopping=False, noise_correction=None, callbacks=[keep], random_state=0)
    clf.fit(X[:256], y[:256])
    batch, net = keep.batch_, clf.module_.train()
    Xb = batch[0]
    torch.manual_seed(3)
    both = clf.infer(Xb)
    loss = clf._batch_loss(both, batch, Xb, training=True)
    labels = batch.state.targets_of(batch.rows)
    expected = clf.criterion_(both[:, 0], labels) + clf.criterion_(both[:, 1], labels)
    torch.testing.assert_close(loss, expected)
    # gradients stay within each model: the additive one's come from its own loss only
    net.zero_grad()
    clf.criterion_(both[:, 1], labels).backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is None or not g.any() for n, g in grads.items() if not n.startswith("additive."))
    assert any(g is not None and g.any() for n, g in grads.items() if n.startswith("additive."))


def test_side_by_side_keeps_one_elr_target_per_model(digits):
    # Without a hold-out the two models train side by side, in one loop.
    X, y = digits
    keep = KeepBatch()
    GCEClassifier(max_epochs=2, early_stopping=False, elr_lambda=1.0, callbacks=[keep],
                  random_state=0).fit(X[:300], y[:300])
    targets = keep.batch_.state.elr_targets(None)
    assert targets.shape == (300, 2, 10)
    # a moving average of each model's own predictions: both distributions, and different
    torch.testing.assert_close(targets.sum(-1), torch.full((300, 2), 1 - 0.7**2))
    assert not torch.allclose(targets[:, 0], targets[:, 1])


def test_predictions_do_not_depend_on_the_order_of_the_rows():
    # scikit-learn's check asks for 1e-9 (see tests/test_common.py)
    rng = np.random.RandomState(0)
    X = 3 * rng.uniform(size=(40, 3))
    y = X[:, 0].astype(np.int64)
    clf = GCEClassifier(max_epochs=20, random_state=1).fit(X, y)
    order = rng.permutation(len(X))
    np.testing.assert_allclose(clf.predict_proba(X)[order], clf.predict_proba(X[order]), atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X)[order], clf.predict(X[order]))


def test_bad_additive_member_option_is_refused():
    with pytest.raises(ValueError, match="additive_member must be True or False"):
        MLP(4, 3, additive_member="yes")


# ------------------------------------- the two models, one after the other
def test_the_mean_is_kept_unless_one_model_is_clearly_better():
    from sklearn_gce._additive_model import clear_winner

    def rows(n_right, n=100):
        return np.arange(n) < n_right

    def winner(**right):  # the rows each model gets right; every label is 0
        return clear_winner(np.zeros(100, dtype=int), {name: np.eye(2)[(~r).astype(int)] for name, r in right.items()})

    # 7 more right rows, all where the mean is wrong: 7 > 2 * sqrt(7)
    assert winner(mlp=rows(67), additive=rows(55), mean=rows(60)) == "mlp"
    assert winner(mlp=rows(50), additive=rows(75), mean=rows(60)) == "additive"
    # 5 more, but on 9 rows that differ (7 won, 2 lost): 5 < 2 * sqrt(9) is not clear
    lost_two = rows(67) & ~rows(2)
    assert winner(mlp=lost_two, additive=rows(55), mean=rows(60)) == "mean"
    # 6 more, all where the mean is wrong: 6 > 2 * sqrt(6)
    assert winner(mlp=rows(66), additive=rows(55), mean=rows(60)) == "mlp"
    # both clearly better: the larger gain
    assert winner(mlp=rows(80), additive=rows(90), mean=rows(60)) == "additive"


def test_fit_trains_the_mlp_then_the_additive_model_and_predicts_with_the_choice(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=30, random_state=0).fit(X[:800], y[:800])
    # each model stopped early on its own; history_ is the MLP's
    assert clf.additive_history_[-1, "valid_loss"] > 0 and len(clf.history) > 1
    # the additive model takes larger steps: batches twice as large (720 training rows)
    assert clf.history[0, "train_batch_count"] == 6  # of 128
    assert clf.additive_history_[0, "train_batch_count"] == 3  # of 256
    assert clf.optimizer_.param_groups[0]["lr"] == clf.lr  # set back for later calls
    net = clf.module_
    # the hold-out accuracies of the choice, recomputed from the same split
    # (the split skorch's ValidSplit makes from fit's seed)
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    split = StratifiedShuffleSplit(n_splits=1, test_size=0.1, random_state=seed)
    _, rows = next(split.split(X[:800], y[:800]))
    Xv = torch.as_tensor(X[:800][rows], dtype=torch.float32)
    with torch.no_grad():
        net.eval()
        p_add = net.additive(Xv).softmax(-1)
        with net.run_alone("mlp"):
            p_mlp = net(Xv).softmax(-1)
    for name, p in {"mlp": p_mlp, "additive": p_add, "mean": (p_mlp + p_add) / 2}.items():
        assert clf.network_scores_[name] == pytest.approx(float((p.argmax(1).numpy() == y[:800][rows]).mean()))
    assert clf.network_choice_ in ("mean", "mlp", "additive")
    # predictions follow the choice
    for choice, expected in {"mlp": p_mlp, "additive": p_add, "mean": (p_mlp + p_add) / 2}.items():
        clf._predict_with(choice)
        np.testing.assert_allclose(clf.predict_proba(X[:800][rows]), expected.numpy(), atol=1e-5)


def test_a_fit_without_hold_out_trains_both_side_by_side_and_keeps_the_mean(digits):
    X, y = digits
    clf = GCEClassifier(max_epochs=20, random_state=0).fit(X[:500], y[:500])
    assert hasattr(clf, "additive_history_")
    clf.set_params(early_stopping=False, max_epochs=3).fit(X[:500], y[:500])
    assert len(clf.history) == 3 and clf.network_choice_ == "mean"
    # nothing of the earlier fit's choice is left
    assert not hasattr(clf, "additive_history_") and not hasattr(clf, "network_scores_")
    torch.testing.assert_close(clf.module_.model_weights, torch.tensor([0.5, 0.5]))
    plain = clf.set_params(module__additive_member=False).fit(X[:500], y[:500])
    assert not hasattr(plain, "network_choice_")


@pytest.mark.parametrize("n_inputs, n_bins", [(40, 64), (3000, 53)])
def test_the_default_network_bins_each_column_64_times_up_to_160000_ramps_a_row(n_inputs, n_bins):
    from sklearn_gce import GCEClassifierCV

    rng = np.random.RandomState(0)
    X, y = rng.rand(60, n_inputs).astype(np.float32), np.arange(60) % 3
    clf = GCEClassifier(max_epochs=1, module__additive_member=False, noise_correction=None,
                        random_state=0).fit(X, y)
    assert clf.module_.embedding.edges.shape == (n_inputs, n_bins + 1)
    stacked = GCEClassifierCV(qs=(0.5,), losses=("gce",), max_epochs=1, noise_correction=None,
                              random_state=0, cv=None).fit(X, y)
    assert stacked.module_.n_bins == n_bins
    # a user's choice wins
    mine = GCEClassifier(max_epochs=1, module__n_bins=7, noise_correction=None, random_state=0).fit(X, y)
    assert mine.module_.embedding.edges.shape == (n_inputs, 8)
