"""The losses against closed forms, limits, the gradient formula and extreme inputs."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_gce.losses import (
    LOSSES,
    CrossEntropyLoss,
    GCELoss,
    MAELoss,
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
    assert torch.equal(loss(logits, target, torch.ones(64)), per_sample.sum() / 64)


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


ALL_LOSSES = [GCELoss(0.7), GCELoss(1e-3), TruncatedGCELoss(), CrossEntropyLoss(), MAELoss(), SCELoss(), NCERCELoss()]


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
    for loss in (GCELoss(q), TruncatedGCELoss(q=q), SCELoss(), NCERCELoss()):
        assert _finite_value_and_grad(loss, logits, target)
    # And the value is within the loss's range: 0 <= L_q <= 1/q.
    value = GCELoss(q, reduction="none")(logits, target).item()
    assert -1e-6 <= value <= 1 / q + 1e-4
