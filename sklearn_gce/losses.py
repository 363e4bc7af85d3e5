"""Robust classification losses as torch modules.

Every loss here takes raw logits ``(N, C)`` and integer targets ``(N,)``,
an optional per-sample ``weight`` ``(N,)``, and a ``reduction`` in
``{'mean', 'sum', 'none'}``. ``'mean'`` is the *weighted* mean
``sum(w * l) / sum(w)``: normalised by the kept weight, not by the batch
size, so pruning samples does not shrink the effective learning rate.

Probabilities are never exponentiated and then raised to a power: ``p_y**q``
is computed as ``exp(q * log_softmax(logits))``, which stays finite for
extreme logits and under reduced precision.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GCELoss",
    "TruncatedGCELoss",
    "CrossEntropyLoss",
    "MAELoss",
    "SCELoss",
    "NCERCELoss",
    "make_loss",
    "LOSSES",
]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_sample, weight, reduction):
    """Apply ``weight`` and ``reduction`` to per-sample losses."""
    if weight is not None:
        per_sample = per_sample * weight.to(per_sample.dtype)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if weight is None:
        return per_sample.mean()
    # Weighted mean; a batch whose weights are all zero (every sample pruned)
    # contributes a zero loss that still carries a graph, rather than NaN.
    total = weight.to(per_sample.dtype).sum()
    return per_sample.sum() / total.clamp_min(torch.finfo(per_sample.dtype).tiny)


def _target_log_prob(logits, target):
    """``log p_y`` computed in float32 at least (half precision is upcast)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    log_probs = F.log_softmax(logits, dim=-1)
    return log_probs, log_probs.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)


class _WeightedLoss(nn.Module):
    """Shared argument checking and the ``forward`` signature."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {_REDUCTIONS}, got {reduction!r}."
            )
        self.reduction = reduction

    def forward(self, input, target, weight=None):
        if input.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects logits of shape (N, C), "
                f"got shape {tuple(input.shape)}."
            )
        if target.shape != input.shape[:1]:
            raise ValueError(
                f"target must have shape ({input.shape[0]},), got {tuple(target.shape)}."
            )
        if weight is not None and weight.shape != target.shape:
            raise ValueError(
                f"weight must have shape ({target.shape[0]},), got {tuple(weight.shape)}."
            )
        return _reduce(self.per_sample(input, target), weight, self.reduction)

    def per_sample(self, input, target):  # pragma: no cover - abstract
        raise NotImplementedError


def _check_q(q):
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q!r}.")


class GCELoss(_WeightedLoss):
    """Generalized cross entropy, the Lq loss ``(1 - p_y**q) / q``.

    ``q -> 0`` recovers cross entropy (fast, fits noise); ``q = 1`` is the
    mean absolute error ``1 - p_y`` (robust, slow to train). Its gradient is
    the cross-entropy gradient weighted by ``p_y**q``, so samples the model
    finds unlikely (often the mislabelled ones) count less.

    Parameters
    ----------
    q : float, default=0.7
        Exponent in ``(0, 1]``. The paper's default is 0.7.
    reduction : {'mean', 'sum', 'none'}, default='mean'
        ``'mean'`` is the weighted mean ``sum(w * l) / sum(w)``.

    References
    ----------
    Zhang, Z. and Sabuncu, M. R. "Generalized Cross Entropy Loss for Training
    Deep Neural Networks with Noisy Labels", NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import GCELoss
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> target = torch.tensor([0, 0])
    >>> GCELoss(q=1.0, reduction="none")(logits, target)
    tensor([0.1192, 0.8808])
    """

    def __init__(self, q=0.7, reduction="mean"):
        super().__init__(reduction)
        _check_q(q)
        self.q = q

    def per_sample(self, input, target):
        _, log_p_y = _target_log_prob(input, target)
        # -expm1(q log p) == 1 - p**q, accurate when p**q is close to 1.
        return -torch.expm1(self.q * log_p_y) / self.q


class TruncatedGCELoss(_WeightedLoss):
    """Truncated Lq loss, trained with per-sample weights.

    The truncated loss is ``L_q(k)`` when ``p_y <= k`` and ``L_q(p_y)``
    otherwise. Following the paper it is optimised as
    ``sum_i w_i * (L_q(p_i) - L_q(k))`` with weights ``w_i`` in ``[0, 1]``
    that a training schedule re-optimises (``w_i = 1`` iff ``p_y(x_i) > k``,
    see :class:`~sklearn_gce.GCEClassifier`). Between re-optimisations the
    weights are fixed, so this module only applies the weights it is given;
    with ``reduction='mean'`` it divides by their sum (the kept weight). The
    subtracted constant makes the value negative; gradients are unaffected.

    Parameters
    ----------
    q : float, default=0.7
        Exponent in ``(0, 1]``.
    k : float, default=0.5
        Truncation threshold in ``(0, 1)``.
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import TruncatedGCELoss
    >>> logits = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    >>> target = torch.tensor([0, 0])
    >>> loss = TruncatedGCELoss(q=0.7, k=0.5)
    >>> keep = loss.optimal_weight(logits, target)  # the second sample is pruned
    >>> keep
    tensor([1., 0.])
    >>> float(loss(logits, target, weight=keep)) < 0
    True
    """

    def __init__(self, q=0.7, k=0.5, reduction="mean"):
        super().__init__(reduction)
        _check_q(q)
        if not 0 < k < 1:
            raise ValueError(f"k must be in (0, 1), got {k!r}.")
        self.q = q
        self.k = k

    def per_sample(self, input, target):
        _, log_p_y = _target_log_prob(input, target)
        lq_k = (1 - self.k**self.q) / self.q
        return -torch.expm1(self.q * log_p_y) / self.q - lq_k

    @torch.no_grad()
    def optimal_weight(self, input, target):
        """Best weights for a fixed network: 1 where ``p_y > k``, else 0."""
        _, log_p_y = _target_log_prob(input, target)
        return (log_p_y > math.log(self.k)).float()


class CrossEntropyLoss(_WeightedLoss):
    """Categorical cross entropy ``-log p_y`` with the shared weighting.

    The baseline GCE generalises (its ``q -> 0`` limit).

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import CrossEntropyLoss
    >>> CrossEntropyLoss()(torch.zeros(2, 4), torch.tensor([0, 3]))
    tensor(1.3863)
    """

    def per_sample(self, input, target):
        return -_target_log_prob(input, target)[1]


class MAELoss(_WeightedLoss):
    """Mean absolute error on the probabilities, ``1 - p_y`` (GCE at ``q = 1``).

    This is half the L1 distance between ``softmax`` and the one-hot target.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import MAELoss
    >>> MAELoss()(torch.zeros(1, 4), torch.tensor([2]))
    tensor(0.7500)
    """

    def per_sample(self, input, target):
        return -torch.expm1(_target_log_prob(input, target)[1])


class _PlusReverseCE(_WeightedLoss):
    """``alpha * active + beta * RCE``: an active loss plus reverse cross entropy.

    The reverse term is ``-sum_k p_k log t_k`` with ``log 0`` clipped to ``A``,
    which for a one-hot ``t`` is ``-A * (1 - p_y)``.
    """

    def __init__(self, alpha, beta, A, reduction):
        super().__init__(reduction)
        if A >= 0:
            raise ValueError(f"A must be negative (it stands for log 0), got {A!r}.")
        self.alpha = alpha
        self.beta = beta
        self.A = A

    def per_sample(self, input, target):
        log_probs, log_p_y = _target_log_prob(input, target)
        reverse = -self.A * (1 - log_p_y.exp())
        return self.alpha * self.active(log_probs, log_p_y) + self.beta * reverse


class SCELoss(_PlusReverseCE):
    """Symmetric cross entropy ``alpha * CE + beta * RCE`` (Wang et al., 2019).

    Parameters
    ----------
    alpha : float, default=0.1
        Weight of cross entropy.
    beta : float, default=1.0
        Weight of reverse cross entropy.
    A : float, default=-4.0
        Value that ``log 0`` is clipped to in the reverse term (negative).
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import SCELoss
    >>> SCELoss(alpha=0.0, beta=1.0)(torch.zeros(1, 2), torch.tensor([0]))
    tensor(2.)
    """

    def __init__(self, alpha=0.1, beta=1.0, A=-4.0, reduction="mean"):
        super().__init__(alpha, beta, A, reduction)

    @staticmethod
    def active(log_probs, log_p_y):
        return -log_p_y


class NCERCELoss(_PlusReverseCE):
    """Normalised CE plus reverse CE, an active-passive loss (Ma et al., 2020).

    ``NCE = log p_y / sum_k log p_k``; the loss is ``alpha * NCE + beta * RCE``
    with the reverse term's ``log 0`` clipped to ``A``.

    Parameters
    ----------
    alpha : float, default=1.0
    beta : float, default=1.0
    A : float, default=-4.0
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import NCERCELoss
    >>> NCERCELoss(alpha=1.0, beta=0.0)(torch.zeros(1, 4), torch.tensor([1]))
    tensor(0.2500)
    """

    def __init__(self, alpha=1.0, beta=1.0, A=-4.0, reduction="mean"):
        super().__init__(alpha, beta, A, reduction)

    @staticmethod
    def active(log_probs, log_p_y):
        # log p_k <= 0, and the sum is < 0 for any finite logits with C >= 2.
        return log_p_y / log_probs.sum(-1).clamp_max(-torch.finfo(log_probs.dtype).tiny)


#: Loss names accepted by :func:`make_loss` and ``GCEClassifier(loss=...)``.
LOSSES = {
    "gce": GCELoss,
    "truncated": TruncatedGCELoss,
    "ce": CrossEntropyLoss,
    "mae": MAELoss,
    "sce": SCELoss,
    "nce_rce": NCERCELoss,
}


def make_loss(name, *, q=0.7, k=0.5, reduction="mean", **params):
    """Build a loss module from its name.

    Parameters
    ----------
    name : {'gce', 'truncated', 'ce', 'mae', 'sce', 'nce_rce'}
        The loss.
    q : float, default=0.7
        Exponent, used by ``'gce'`` and ``'truncated'`` only.
    k : float, default=0.5
        Truncation threshold, used by ``'truncated'`` only.
    reduction : {'mean', 'sum', 'none'}, default='mean'
    **params
        Further constructor arguments (``alpha``, ``beta``, ``A`` for
        ``'sce'`` and ``'nce_rce'``).

    Returns
    -------
    loss : torch.nn.Module

    Examples
    --------
    >>> from sklearn_gce import make_loss
    >>> make_loss("gce", q=0.5)
    GCELoss()
    >>> make_loss("sce", alpha=0.1, beta=1.0).beta
    1.0
    """
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; choose one of {sorted(LOSSES)}.")
    if name == "gce":
        params["q"] = q
    elif name == "truncated":
        params.update(q=q, k=k)
    return LOSSES[name](reduction=reduction, **params)
