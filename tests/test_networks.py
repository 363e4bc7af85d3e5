"""The default MLP and its piecewise-linear embedding of numeric features."""

import pickle

import numpy as np
import pytest
import torch

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
    torch.testing.assert_close(net.embedding.edges[0], torch.linspace(-2, 2, 17))
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
