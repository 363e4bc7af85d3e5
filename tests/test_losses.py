"""The losses against closed forms, limits, the gradient formula and extreme inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_gce import GCEClassifier
from sklearn_gce.losses import (
    LOSSES,
    ANLCELoss,
    CEEpsMAELoss,
    CrossEntropyLoss,
    GCELoss,
    MAELoss,
    NCEAGCELoss,
    NCERCELoss,
    SCELoss,
    TruncatedGCELoss,
    make_loss,
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 7, generator=gen, dtype=torch.float64) * 3
    target = torch.randint(0, 7, (64,), generator=gen)
    return logits, target


def _p_y(logits, target):
    return torch.softmax(logits, -1).gather(1, target[:, None]).squeeze(1)


def test_gce_matches_definition(batch):
    logits, target = batch
    for q in (0.1, 0.5, 0.7, 1.0):
        expected = (1 - _p_y(logits, target) ** q) / q
        got = GCELoss(q=q, reduction="none")(logits, target)
        torch.testing.assert_close(got, expected)


def test_gce_q1_is_one_minus_p_and_equals_mae(batch):
    logits, target = batch
    one_minus_p = 1 - _p_y(logits, target)
    torch.testing.assert_close(GCELoss(q=1.0, reduction="none")(logits, target), one_minus_p)
    torch.testing.assert_close(MAELoss(reduction="none")(logits, target), one_minus_p)


def test_gce_approaches_cross_entropy_as_q_goes_to_zero(batch):
    logits, target = batch
    ce = F.cross_entropy(logits, target, reduction="none")
    gaps = [(GCELoss(q=q, reduction="none")(logits, target) - ce).abs().max().item() for q in (1e-1, 1e-2, 1e-4)]
    assert gaps[0] > gaps[1] > gaps[2]
    # Second order: L_q = CE - q * CE**2 / 2 + O(q**2).
    q = 1e-4
    torch.testing.assert_close(GCELoss(q=q, reduction="none")(logits, target) - ce, -q / 2 * ce**2, rtol=1e-2, atol=1e-9)
    torch.testing.assert_close(CrossEntropyLoss(reduction="none")(logits, target), ce)


@pytest.mark.parametrize("q", [0.3, 0.7, 1.0])
def test_gce_gradient_is_weighted_cross_entropy_gradient(batch, q):
    logits, target = batch
    logits = logits.float().requires_grad_()
    GCELoss(q=q, reduction="sum")(logits, target).backward()
    p = torch.softmax(logits.detach(), -1)
    onehot = F.one_hot(target, 7).float()
    expected = _p_y(logits.detach(), target)[:, None] ** q * (p - onehot)
    torch.testing.assert_close(logits.grad, expected, rtol=1e-4, atol=1e-6)


def test_weighted_mean_divides_by_kept_weight(batch):
    logits, target = batch
    loss = GCELoss(q=0.7)
    per_sample = GCELoss(q=0.7, reduction="none")(logits, target)
    weight = torch.zeros(64)
    weight[:10] = 1.0
    torch.testing.assert_close(loss(logits, target, weight), per_sample[:10].mean())
    # Scaling all weights does not change the mean.
    torch.testing.assert_close(loss(logits, target, 3 * weight), per_sample[:10].mean())
    torch.testing.assert_close(loss(logits, target, torch.ones(64)), per_sample.sum() / 64)


def test_all_zero_weights_give_zero_not_nan(batch):
    logits, target = batch
    logits = logits.float().requires_grad_()
    value = TruncatedGCELoss()(logits, target, torch.zeros(64))
    value.backward()
    assert value.item() == 0.0
    assert torch.all(logits.grad == 0)


def test_truncated_closed_form_with_optimal_weights(batch):
    logits, target = batch
    q, k = 0.7, 0.5
    loss = TruncatedGCELoss(q=q, k=k, reduction="none")
    weight = loss.optimal_weight(logits, target)
    p_y = _p_y(logits, target)
    assert torch.equal(weight.bool(), p_y > k)
    lq_k = (1 - k**q) / q
    truncated = torch.where(p_y > k, (1 - p_y**q) / q, torch.full_like(p_y, lq_k))
    # sum_i w_i (L_q(p_i) - L_q(k)) + L_q(k) is the truncated loss per sample.
    torch.testing.assert_close(loss(logits, target, weight) + lq_k, truncated)
    assert torch.all(loss(logits, target, weight) <= 0)


def test_sce_and_nce_rce_closed_forms(batch):
    logits, target = batch
    p = torch.softmax(logits, -1)
    p_y = _p_y(logits, target)
    ce = -torch.log(p_y)
    rce = 4.0 * (1 - p_y)  # -sum_k p_k log t_k with log 0 := -4
    nce = torch.log(p_y) / torch.log(p).sum(-1)
    torch.testing.assert_close(
        SCELoss(alpha=0.1, beta=1.0, reduction="none")(logits, target), 0.1 * ce + rce
    )
    torch.testing.assert_close(
        NCERCELoss(alpha=1.0, beta=1.0, reduction="none")(logits, target), nce + rce
    )


def test_make_loss_builds_each_name_and_rejects_unknown():
    for name, cls in LOSSES.items():
        assert type(make_loss(name)) is cls
    assert make_loss("truncated", q=0.3, k=0.2).k == 0.2
    with pytest.raises(ValueError, match="Unknown loss 'focal'"):
        make_loss("focal")


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: GCELoss(q=0.0), r"q must be in \(0, 1\]"),
        (lambda: GCELoss(q=1.5), r"q must be in \(0, 1\]"),
        (lambda: TruncatedGCELoss(k=1.0), r"k must be in \(0, 1\)"),
        (lambda: GCELoss(reduction="avg"), "reduction must be one of"),
        (lambda: SCELoss(A=4.0), "A must be negative"),
        (lambda: NCEAGCELoss(a=-0.1), "a must be >= 0"),
        (lambda: NCEAGCELoss(agce_q=0.0), "agce_q must be > 0"),
        (lambda: ANLCELoss(min_prob=0.0), r"min_prob must be in \(0, 1\)"),
        (lambda: ANLCELoss(min_prob=1.0), r"min_prob must be in \(0, 1\)"),
        (lambda: CEEpsMAELoss(m=-1.0), "m must be >= 0"),
        (lambda: CEEpsMAELoss(eps=1.0), r"eps must be in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"logits of shape \(N, C\)"):
        GCELoss()(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="target must have shape"):
        GCELoss()(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="weight must have shape"):
        GCELoss()(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.ones(2))


def _finite_value_and_grad(loss, logits, target, weight=None):
    logits = logits.detach().requires_grad_()
    value = loss(logits, target, weight)
    value.backward()
    return bool(torch.isfinite(value).all()) and bool(torch.isfinite(logits.grad).all())


SUCCESSORS = [NCEAGCELoss(), ANLCELoss(), CEEpsMAELoss()]
ALL_LOSSES = [
    GCELoss(0.7),
    GCELoss(1e-3),
    TruncatedGCELoss(),
    CrossEntropyLoss(),
    MAELoss(),
    SCELoss(),
    NCERCELoss(),
    *SUCCESSORS,
    NCEAGCELoss(a=0.0, agce_q=0.5),  # the Lq path of AGCE
    ANLCELoss(min_prob=0.1),  # most entries clipped
    CEEpsMAELoss(eps=0.0),  # unbounded CE_eps
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda l: type(l).__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_extreme_logits_stay_finite(loss, dtype):
    # The label's logit at -1e4 while another is +1e4: p_y underflows to 0.
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    target = torch.tensor([1, 1, 2])
    assert _finite_value_and_grad(loss, logits, target)
    assert _finite_value_and_grad(loss, logits, target, torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda l: type(l).__name__)
def test_extreme_logits_under_bf16_autocast(loss):
    layer = torch.nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3) * 1e4)
        layer.bias.zero_()
    x = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]])
    target = torch.tensor([1, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(layer(x), target)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(layer.weight.grad).all()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=4, max_size=4),
    target=st.integers(0, 3),
    q=st.floats(1e-3, 1.0),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
)
def test_property_finite_for_any_logits(values, target, q, dtype):
    logits = torch.tensor([values], dtype=dtype)
    target = torch.tensor([target])
    for loss in (GCELoss(q), TruncatedGCELoss(q=q), SCELoss(), NCERCELoss(), NCEAGCELoss(agce_q=q), *SUCCESSORS[1:]):
        assert _finite_value_and_grad(loss, logits, target)
    # And the value is within the loss's range: 0 <= L_q <= 1/q.
    value = GCELoss(q, reduction="none")(logits, target).item()
    assert -1e-6 <= value <= 1 / q + 1e-4


# Successor losses: NCE+AGCE, ANL-CE and CE_eps+MAE, against numpy float64 closed forms.


def _np_log_softmax(logits):
    z = logits.numpy().astype(np.float64)
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def _np_label(values, target):
    return values[np.arange(len(values)), target.numpy()]


def _np_nce(log_p, target):
    return _np_label(log_p, target) / log_p.sum(1)


@pytest.fixture
def wide_batch(batch):
    """The batch with logits four times wider: many probabilities below 1e-7."""
    logits, target = batch
    return logits * 4, target


@pytest.mark.parametrize("alpha, beta, a, q", [(1.0, 4.0, 6.0, 1.5), (0.5, 1.0, 0.5, 0.5), (0.0, 1.0, 1.8, 3.0)])
def test_nce_agce_matches_definition(batch, alpha, beta, a, q):
    logits, target = batch
    log_p = _np_log_softmax(logits)
    p_y = np.exp(_np_label(log_p, target))
    expected = alpha * _np_nce(log_p, target) + beta * ((a + 1) ** q - (a + p_y) ** q) / q
    got = NCEAGCELoss(alpha=alpha, beta=beta, a=a, agce_q=q, reduction="none")(logits, target).numpy()
    # AGCE is a difference of near-equal powers where p_y is near 1: an absolute floor for the cancellation
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_agce_limits(batch):
    logits, target = batch
    p_y = _p_y(logits, target)

    def agce(**kw):
        return NCEAGCELoss(alpha=0.0, beta=1.0, reduction="none", **kw)(logits, target)

    # a = 0: the Lq loss of GCE. q = 1: MAE, whatever a.
    for q in (0.3, 0.7, 1.0):
        torch.testing.assert_close(agce(a=0.0, agce_q=q), GCELoss(q=q, reduction="none")(logits, target))
    for a in (0.5, 6.0, 100.0):
        torch.testing.assert_close(agce(a=a, agce_q=1.0), MAELoss(reduction="none")(logits, target))
    # a -> infinity: a scaled MAE, (a + 1)**(q - 1) * (1 - p_y), with an O(1/a) relative gap.
    q = 1.5
    gaps = [(agce(a=a, agce_q=q) / (a + 1) ** (q - 1) - (1 - p_y)).abs().max().item() for a in (10.0, 100.0, 1000.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3
    # q -> 0: log((a + 1) / (a + p_y)), which is cross entropy at a = 0.
    torch.testing.assert_close(agce(a=6.0, agce_q=1e-7), torch.log(7 / (6 + p_y)), rtol=1e-5, atol=1e-7)
    # Bounded and decreasing in p_y: 0 <= AGCE <= ((a + 1)**q - a**q) / q.
    value = agce(a=6.0, agce_q=q)
    assert torch.all(value >= 0) and torch.all(value <= (7**q - 6**q) / q)
    order = torch.argsort(p_y)
    assert torch.all(torch.diff(value[order]) <= 0)


def test_agce_risk_is_minimised_by_the_most_likely_label():
    # Asymmetry, what makes AGCE noise-tolerant: for a label distribution eta with
    # one most likely class, the expected loss sum_k eta_k AGCE(p, k) is smallest at
    # the one-hot p of that class (true for any a >= 0 when q >= 1), where cross
    # entropy's risk is smallest at p = eta itself.
    gen = torch.Generator().manual_seed(1)
    loss = NCEAGCELoss(alpha=0.0, beta=1.0, reduction="none")
    n_classes = 5
    labels = torch.arange(n_classes)
    for _ in range(20):
        eta = torch.softmax(torch.randn(n_classes, generator=gen, dtype=torch.float64), 0)
        logits = torch.randn(200, n_classes, generator=gen, dtype=torch.float64) * 3
        risks = sum(eta[k] * loss(logits, labels[k].expand(200)) for k in range(n_classes))
        vertex = torch.full((1, n_classes), -1e3, dtype=torch.float64)
        vertex[0, eta.argmax()] = 0.0
        best = sum(eta[k] * loss(vertex, labels[k : k + 1]) for k in range(n_classes))
        assert torch.all(risks >= best)


@pytest.mark.parametrize("alpha, beta, min_prob", [(5.0, 5.0, 1e-7), (1.0, 2.0, 1e-3)])
def test_anl_ce_matches_definition(wide_batch, alpha, beta, min_prob):
    logits, target = wide_batch
    log_p = _np_log_softmax(logits)
    A = -np.log(min_prob)
    ce = np.minimum(-log_p, A)  # CE_k clipped at A
    assert (ce == A).any() and (ce < A).any()  # the clip is exercised
    nnce = 1 - (A - _np_label(ce, target)) / (A - ce).sum(1)
    expected = alpha * _np_nce(log_p, target) + beta * nnce
    got = ANLCELoss(alpha=alpha, beta=beta, min_prob=min_prob, reduction="none")(logits, target).numpy()
    # NNCE of a confident row is 1 minus a number near 1 (values near 1e-9): the error is absolute,
    # its size depends on the machine's SIMD paths, so compare absolutely at float64's scale
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * (alpha + beta))


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_nce_and_nnce_are_bounded_and_symmetric(batch, scale):
    # Over the K labels of every sample, NCE and NNCE (each in [0, 1]) sum to 1
    # and K - 1, so ANL-CE, in [0, alpha + beta], sums to alpha + beta * (K - 1).
    logits, _ = batch
    logits = logits * scale
    n, n_classes = logits.shape
    nce = NCEAGCELoss(alpha=1.0, beta=0.0, reduction="none")
    nnce = ANLCELoss(alpha=0.0, beta=1.0, reduction="none")
    anl = ANLCELoss(alpha=2.0, beta=3.0, reduction="none")
    for loss, bound, total in ((nce, 1.0, 1.0), (nnce, 1.0, n_classes - 1.0), (anl, 5.0, 2.0 + 3.0 * (n_classes - 1))):
        values = torch.stack([loss(logits, torch.full((n,), k)) for k in range(n_classes)], 1)
        assert torch.all(values >= 0) and torch.all(values <= bound)
        torch.testing.assert_close(values.sum(1), torch.full((n,), total, dtype=logits.dtype))


def _np_eps_softmax(log_p, m):
    p = np.exp(log_p)
    p_eps = p.copy()
    p_eps[np.arange(len(p)), p.argmax(1)] += m
    return p, p_eps / (1 + m)


@pytest.mark.parametrize("alpha, beta, m, eps", [(0.01, 5.0, 1e5, 1e-8), (1.0, 1.0, 1e3, 0.0), (0.5, 0.0, 2.0, 1e-3)])
def test_ce_eps_mae_matches_definition(batch, alpha, beta, m, eps):
    logits, target = batch
    log_p = _np_log_softmax(logits)
    p, p_eps = _np_eps_softmax(log_p, m)
    is_top = p.argmax(1) == target.numpy()
    assert is_top.any() and not is_top.all()  # both branches are exercised
    ce_eps = -np.log(np.maximum(_np_label(p_eps, target), eps))
    expected = alpha * ce_eps + beta * 2 * (1 - _np_label(p, target))  # MAE = ||p - e_y||_1
    got = CEEpsMAELoss(alpha=alpha, beta=beta, m=m, eps=eps, reduction="none")(logits, target).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_ce_eps_limits_and_gradient(batch):
    logits, target = batch
    ce = F.cross_entropy(logits, target, reduction="none")
    is_top = logits.argmax(1) == target

    def ce_eps(m, eps=0.0, logits=logits):
        return CEEpsMAELoss(alpha=1.0, beta=0.0, m=m, eps=eps, reduction="none")(logits, target)

    # m = 0 is cross entropy; with a large m the arg-max labels cost ~0 and the
    # others cross entropy plus log(1 + m).
    torch.testing.assert_close(ce_eps(0.0), ce)
    big = ce_eps(1e8)
    assert torch.all(big[is_top] < 1e-8)
    torch.testing.assert_close(big[~is_top] - torch.log1p(torch.tensor(1e8, dtype=logits.dtype)), ce[~is_top])
    # The arg-max is a constant index; the gradient flows through p_y: the CE
    # gradient, times p_y / (p_y + m) where the label is the arg-max.
    m = 3.0
    leaf = logits.clone().requires_grad_()
    ce_eps(m, logits=leaf).sum().backward()
    p = torch.softmax(logits, 1)
    p_y = _p_y(logits, target)
    factor = torch.where(is_top, p_y / (p_y + m), torch.ones_like(p_y))
    torch.testing.assert_close(leaf.grad, factor[:, None] * (p - F.one_hot(target, 7)))
    # eps bounds CE_eps by -log(eps) and leaves no gradient where p~_y < eps.
    eps = 1e-3
    leaf = logits.clone().requires_grad_()
    value = ce_eps(m, eps, logits=leaf)
    value.sum().backward()
    clipped = ~is_top & (p_y / (1 + m) < eps)
    assert clipped.any()
    torch.testing.assert_close(value[clipped], torch.full_like(value[clipped], -np.log(eps)))
    assert torch.all(leaf.grad[clipped] == 0) and torch.all(leaf.grad[~clipped].abs().sum(1) > 0)


_OPTIONS = {
    NCEAGCELoss: ("alpha", "beta", "a", "agce_q"),
    ANLCELoss: ("alpha", "beta", "min_prob"),
    CEEpsMAELoss: ("alpha", "beta", "m", "eps"),
}


def _options(loss):
    """A successor loss's constructor arguments, read back from the module."""
    return {name: getattr(loss, name) for name in _OPTIONS[type(loss)]}


@pytest.mark.parametrize("loss", SUCCESSORS, ids=lambda l: type(l).__name__)
def test_successor_gradients_match_finite_differences(batch, loss):
    logits, target = batch
    loss = type(loss)(**_options(loss), reduction="sum")
    leaf = logits[:8].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda z: loss(z, target[:8]), (leaf,))


@pytest.mark.parametrize("loss", SUCCESSORS, ids=lambda l: type(l).__name__)
def test_successor_weights_and_reductions(batch, loss):
    logits, target = batch
    options = _options(loss)
    per_sample = type(loss)(**options, reduction="none")(logits, target)
    assert per_sample.shape == (64,) and torch.all(per_sample >= 0)
    weight = torch.rand(64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    weight[:20] = 0
    mean, total = (type(loss)(**options, reduction=r) for r in ("mean", "sum"))
    torch.testing.assert_close(mean(logits, target, weight), (weight * per_sample).sum() / weight.sum())
    torch.testing.assert_close(total(logits, target, weight), (weight * per_sample).sum())
    torch.testing.assert_close(mean(logits, target), per_sample.mean())
    torch.testing.assert_close(type(loss)(**options, reduction="none")(logits, target, weight), weight * per_sample)
    leaf = logits.float().requires_grad_()
    value = mean(leaf, target, torch.zeros(64))
    value.backward()
    assert value.item() == 0.0 and torch.all(leaf.grad == 0)


def test_make_loss_builds_the_successors_with_options():
    agce = make_loss("nce_agce", alpha=2.0, beta=0.5, a=3.0, agce_q=0.5, reduction="sum", q=0.9)
    assert (agce.alpha, agce.beta, agce.a, agce.agce_q, agce.reduction) == (2.0, 0.5, 3.0, 0.5, "sum")
    assert make_loss("anl_ce", min_prob=1e-5).min_prob == 1e-5
    eps_mae = make_loss("ce_eps_mae", m=1e3, eps=0.0, alpha=0.02)
    assert (eps_mae.m, eps_mae.eps, eps_mae.alpha, eps_mae.beta) == (1e3, 0.0, 0.02, 5.0)
    # The defaults are the papers' CIFAR-10 settings.
    assert _options(make_loss("nce_agce")) == {"alpha": 1.0, "beta": 4.0, "a": 6.0, "agce_q": 1.5}
    assert _options(make_loss("anl_ce")) == {"alpha": 5.0, "beta": 5.0, "min_prob": 1e-7}
    assert _options(make_loss("ce_eps_mae")) == {"alpha": 0.01, "beta": 5.0, "m": 1e5, "eps": 1e-8}


@pytest.mark.parametrize(
    "loss, options",
    [
        ("nce_agce", {"a": 3.0, "agce_q": 0.5, "beta": 2.0}),
        ("anl_ce", {"min_prob": 1e-5, "alpha": 1.0}),
        ("ce_eps_mae", {"m": 1e3, "eps": 0.0}),
    ],
)
def test_classifier_passes_criterion_options(digits, loss, options):
    X, y = digits
    params = {f"criterion__{name}": value for name, value in options.items()}
    clf = GCEClassifier(loss=loss, max_epochs=1, early_stopping=False, noise_correction=None, random_state=0,
                        **params)
    clf.fit(X[:200], y[:200])
    assert type(clf.criterion_) is LOSSES[loss]
    assert all(getattr(clf.criterion_, name) == value for name, value in options.items())


def test_successors_train_through_noise(noisy_digits):
    # 40% symmetric noise on digits, a fixed 20 epochs (no early stopping): each
    # successor loss stays well above cross entropy, which memorises the noise.
    X, y_noisy, _, X_test, y_test = noisy_digits

    def accuracy(loss):
        clf = GCEClassifier(loss=loss, max_epochs=20, early_stopping=False, random_state=0)
        return clf.fit(X, y_noisy).score(X_test, y_test)

    ce = accuracy("ce")
    for loss in ("nce_agce", "anl_ce", "ce_eps_mae"):
        score = accuracy(loss)
        assert score > 0.85 and score > ce + 0.1, (loss, score, ce)
