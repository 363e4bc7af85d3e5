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
    "NCEAGCELoss",
    "ANLCELoss",
    "CEEpsMAELoss",
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


def lq(log_p_y, q):
    """The Lq loss ``(1 - p_y**q) / q`` of each sample, from ``log p_y``.

    Computed as ``-expm1(q * log p_y) / q``: accurate when ``p_y**q`` is
    close to 1, finite for any logits. ``q`` is a float, or a tensor that
    broadcasts against ``log_p_y`` (one ``q`` per member of a stacked
    network). Every Lq loss of the package goes through here.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce.losses import lq
    >>> lq(torch.log(torch.tensor([0.25, 0.64])), 0.5)  # (1 - sqrt(p)) / 0.5
    tensor([1.0000, 0.4000])
    """
    return -torch.expm1(q * log_p_y) / q


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
        return lq(log_p_y, self.q)


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
        return lq(log_p_y, self.q) - lq_k

    @torch.no_grad()
    def optimal_weight(self, input, target):
        """Best weights for a fixed network: 1 where ``p_y > k``, else 0."""
        _, log_p_y = _target_log_prob(input, target)
        return (log_p_y > math.log(self.k)).float()


class CrossEntropyLoss(_WeightedLoss):
    """Categorical cross entropy ``-log p_y`` with the shared weighting.

    The baseline GCE generalises (its ``q -> 0`` limit).

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default='mean'

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

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import MAELoss
    >>> MAELoss()(torch.zeros(1, 4), torch.tensor([2]))
    tensor(0.7500)
    """

    def per_sample(self, input, target):
        return -torch.expm1(_target_log_prob(input, target)[1])


class _ActivePassive(_WeightedLoss):
    """``alpha * active + beta * passive``, both terms computed from ``log_softmax``.

    Subclasses define ``active`` and ``passive``, each a function of the
    log-probabilities ``(N, C)``, the label's log-probability ``(N,)`` and
    the targets ``(N,)``.
    """

    def __init__(self, alpha, beta, reduction):
        super().__init__(reduction)
        self.alpha = alpha
        self.beta = beta

    def per_sample(self, input, target):
        log_probs, log_p_y = _target_log_prob(input, target)
        active = self.active(log_probs, log_p_y, target)
        passive = self.passive(log_probs, log_p_y, target)
        return self.alpha * active + self.beta * passive


def _normalized_ce(log_probs, log_p_y, target=None):
    """``NCE = log p_y / sum_k log p_k``, in ``[0, 1]``; it sums to 1 over the labels.

    Its signature is that of an ``active`` term of :class:`_ActivePassive`.
    """
    # log p_k <= 0, and the sum is < 0 for any finite logits with C >= 2.
    return log_p_y / log_probs.sum(-1).clamp_max(-torch.finfo(log_probs.dtype).tiny)


def _log_shifted(log_p_y, a):
    """``log((a + p_y) / (a + 1))`` for ``a >= 0``, accurate near ``p_y = 1``, finite gradient."""
    if a == 0:
        return log_p_y
    # (a + p) / (a + 1) = 1 + (p - 1) / (a + 1), with p - 1 = expm1(log p) accurate near p = 1.
    return torch.log1p(torch.expm1(log_p_y) / (a + 1))


class _PlusReverseCE(_ActivePassive):
    """``alpha * active + beta * RCE``: an active loss plus reverse cross entropy.

    The reverse term is ``-sum_k p_k log t_k`` with ``log 0`` clipped to ``A``,
    which for a one-hot ``t`` is ``-A * (1 - p_y)``.
    """

    def __init__(self, alpha, beta, A, reduction):
        super().__init__(alpha, beta, reduction)
        if A >= 0:
            raise ValueError(f"A must be negative (it stands for log 0), got {A!r}.")
        self.A = A

    def passive(self, log_probs, log_p_y, target):
        """The reverse cross entropy ``-A * (1 - p_y)`` of each sample."""
        return -self.A * (1 - log_p_y.exp())


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
    def active(log_probs, log_p_y, target):
        """The cross entropy ``-log p_y`` of each sample."""
        return -log_p_y


class NCERCELoss(_PlusReverseCE):
    """Normalised CE plus reverse CE, an active-passive loss (Ma et al., 2020).

    ``NCE = log p_y / sum_k log p_k``; the loss is ``alpha * NCE + beta * RCE``
    with the reverse term's ``log 0`` clipped to ``A``.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of NCE.
    beta : float, default=1.0
        Weight of reverse cross entropy.
    A : float, default=-4.0
        Value that ``log 0`` is clipped to in the reverse term (negative).
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

    active = staticmethod(_normalized_ce)


class NCEAGCELoss(_ActivePassive):
    """Normalised CE plus asymmetric GCE, ``alpha * NCE + beta * AGCE`` (Zhou et al., 2021).

    The active term is ``NCE = log p_y / sum_k log p_k`` (symmetric, in
    ``[0, 1]``); the passive term is the asymmetric generalized cross entropy

    ``AGCE = ((a + 1)**q - (a + p_y)**q) / q``,

    which is noise-tolerant by being *asymmetric* rather than symmetric: when
    the clean class is the most likely label, the expected loss is smallest
    at the one-hot prediction of that class (for every ``a`` when
    ``q >= 1``, as by default). The paper argues that this weaker condition
    leaves it easier to train than MAE. It lies in
    ``[0, ((a + 1)**q - a**q) / q]`` and decreases with ``p_y``. At ``a = 0``
    it is the Lq loss ``(1 - p_y**q) / q`` of :class:`GCELoss`; at ``q = 1``
    it is ``1 - p_y`` (:class:`MAELoss`) for every ``a``; as ``a`` grows it
    tends to ``(a + 1)**(q - 1) * (1 - p_y)``, a scaled MAE.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of NCE.
    beta : float, default=4.0
        Weight of AGCE.
    a : float, default=6.0
        AGCE's shift, ``>= 0``.
    agce_q : float, default=1.5
        AGCE's exponent, the paper's ``q``, ``> 0`` (it may exceed 1). Named
        apart from the Lq exponent ``q`` that
        :class:`~sklearn_gce.GCEClassifier` passes to :func:`make_loss`, so
        that ``criterion__agce_q`` sets it.
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Notes
    -----
    The defaults are the authors' CIFAR-10 setting (``NCEandAGCE`` in
    ``lnl/config.py`` of github.com/hitcszx/ALFs, the same in the ANL and
    epsilon-softmax code): ``alpha=1, beta=4, a=6, q=1.5``. Their CIFAR-100
    setting is ``alpha=10, beta=0.1, a=1.8, q=3``. AGCE is computed as
    ``(a + 1)**q * (1 - ((a + p_y) / (a + 1))**q) / q`` from ``log p_y``,
    exact near ``p_y = 1`` and with finite gradients as ``p_y -> 0``.

    References
    ----------
    Zhou, X., Liu, X., Jiang, J., Gao, X. and Ji, X. "Asymmetric Loss
    Functions for Learning with Noisy Labels", ICML 2021.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce.losses import NCEAGCELoss
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    >>> NCEAGCELoss(reduction="none")(logits, torch.tensor([0, 0]))
    tensor([2.2879, 9.6220])
    >>> # At agce_q = 1, AGCE is 1 - p_y (MAE) whatever a is:
    >>> NCEAGCELoss(alpha=0.0, beta=1.0, agce_q=1.0, reduction="none")(logits, torch.tensor([0, 0]))
    tensor([0.2130, 0.8935])
    """

    def __init__(self, alpha=1.0, beta=4.0, a=6.0, agce_q=1.5, reduction="mean"):
        super().__init__(alpha, beta, reduction)
        if not a >= 0:
            raise ValueError(f"a must be >= 0, got {a!r}.")
        if not agce_q > 0:
            raise ValueError(f"agce_q must be > 0, got {agce_q!r}.")
        self.a = a
        self.agce_q = agce_q

    active = staticmethod(_normalized_ce)

    def passive(self, log_probs, log_p_y, target):
        """The asymmetric GCE ``((a + 1)**q - (a + p_y)**q) / q`` of each sample (``q``: ``agce_q``)."""
        a, q = self.a, self.agce_q
        return (a + 1) ** q * -torch.expm1(q * _log_shifted(log_p_y, a)) / q


class ANLCELoss(_ActivePassive):
    """Active Negative Loss with cross entropy, ``alpha * NCE + beta * NNCE`` (Ye et al., 2023).

    The active term is ``NCE = log p_y / sum_k log p_k``; the passive one,
    replacing the MAE of active-passive losses, is the normalised negative
    cross entropy

    ``NNCE = 1 - (A - CE_y) / sum_k (A - CE_k)``,

    with ``CE_k = -log p_k`` clipped at ``A = -log(min_prob)``, so that every
    ``A - CE_k`` lies in ``[0, A]``. NNCE is in ``[0, 1]`` and sums to
    ``K - 1`` over the ``K`` possible labels, so ANL-CE is a symmetric loss
    (``sum_k L(f(x), k) = alpha + beta * (K - 1)`` for every ``x``), robust to
    symmetric noise. Unlike MAE, which weighs every sample alike, NNCE
    concentrates on the samples the model has already fitted, which the
    paper shows speeds up training. Probabilities below
    ``min_prob`` are clipped, so they get no gradient from NNCE.

    Parameters
    ----------
    alpha : float, default=5.0
        Weight of NCE.
    beta : float, default=5.0
        Weight of NNCE.
    min_prob : float, default=1e-7
        The probability at which ``CE_k`` is clipped, in ``(0, 1)``:
        ``A = -log(min_prob)``, 16.1 by default. It must stay below
        ``1 / K``.
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Notes
    -----
    The defaults are the authors' CIFAR-10 setting (``config/cifar10_anl_ce.json``
    of github.com/Virusdoll/Active-Negative-Loss): ``alpha = beta = 5`` and
    ``min_prob = 1e-7``; CIFAR-100 uses ``alpha=10, beta=1``. Both settings
    also add an L1 penalty on the network's weights, ``delta * sum |theta|``
    (``delta = 5e-5`` on CIFAR-10, ``5e-7`` on CIFAR-100), and no weight
    decay. A loss of the logits cannot see
    the weights, so the penalty is not part of this module; with
    :class:`~sklearn_gce.GCEClassifier`, ``optimizer__weight_decay`` (an L2
    penalty, not the same) is the built-in way to regularise the weights.

    References
    ----------
    Ye, X. et al. "Active Negative Loss Functions for Learning with Noisy
    Labels", NeurIPS 2023.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce.losses import ANLCELoss
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    >>> ANLCELoss(reduction="none")(logits, torch.tensor([0, 0]))
    tensor([3.4344, 5.7828])
    >>> # Symmetric: the loss summed over every label is alpha + beta * (K - 1).
    >>> loss = ANLCELoss(reduction="sum")
    >>> round(sum(float(loss(logits[:1], torch.tensor([k]))) for k in range(3)), 4)
    15.0
    """

    def __init__(self, alpha=5.0, beta=5.0, min_prob=1e-7, reduction="mean"):
        super().__init__(alpha, beta, reduction)
        if not 0 < min_prob < 1:
            raise ValueError(f"min_prob must be in (0, 1), got {min_prob!r}.")
        self.min_prob = min_prob

    active = staticmethod(_normalized_ce)

    def passive(self, log_probs, log_p_y, target):
        """The normalised negative cross entropy NNCE of each sample."""
        # A - CE_k = A + log p_k, clipped at 0 (CE_k clipped at A).
        A = -math.log(self.min_prob)
        margin = (log_probs + A).clamp_min(0)
        margin_y = margin.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
        # The sum is >= A - log K > 0 while min_prob < 1 / K.
        return 1 - margin_y / margin.sum(-1).clamp_min(torch.finfo(margin.dtype).tiny)


class CEEpsMAELoss(_ActivePassive):
    """Cross entropy on the epsilon-softmax plus MAE, ``alpha * CE_eps + beta * MAE`` (Wang et al., 2024).

    The epsilon-softmax adds ``m`` to the largest entry of ``p`` and
    renormalises, ``p~_k = (p_k + m * [k = argmax p]) / (1 + m)``: a vector
    within ``1 / (1 + m)`` of the one-hot vector of its arg-max, entry by
    entry. ``CE_eps = -log p~_y``; ``MAE = ||p - e_y||_1 = 2 * (1 - p_y)``
    (twice :class:`MAELoss`, as in the authors' code, so that ``beta`` means
    what it does in the paper). The paper bounds the excess risk of CE_eps
    under label noise by a term that shrinks as ``m`` grows; the MAE term, a
    symmetric loss, makes up for the fit that CE_eps loses on clean labels.

    Which entry is the arg-max is a constant for the gradient, which flows
    through ``p_y`` in both cases: where the label is the arg-max, CE_eps's
    gradient is the cross-entropy gradient times ``p_y / (p_y + m)``, almost
    nothing for a large ``m`` (a sample predicted as labelled stops pulling);
    elsewhere it is the cross-entropy gradient. At ``m = 0`` CE_eps is cross
    entropy.

    Parameters
    ----------
    alpha : float, default=0.01
        Weight of CE_eps.
    beta : float, default=5.0
        Weight of MAE (``2 * (1 - p_y)``).
    m : float, default=1e5
        What the arg-max entry gets, ``>= 0``: the larger, the nearer ``p~``
        to a one-hot vector (within ``1 / (1 + m)``).
    eps : float, default=1e-8
        Lower bound on ``p~_y``, in ``[0, 1)``, as in the authors' code: it
        bounds CE_eps by ``-log(eps)`` and leaves no CE_eps gradient where
        ``p~_y < eps`` (with ``m = 1e5``: a label that is not the arg-max and
        has ``p_y`` below about ``1e-3``). ``0`` removes the bound.
    reduction : {'mean', 'sum', 'none'}, default='mean'

    Notes
    -----
    The defaults are the authors' CIFAR-10 setting for symmetric noise
    (``get_eps_softmax`` in ``config.py`` of github.com/cswjl/eps-softmax):
    ``alpha=0.01, beta=5, m=1e5``; for asymmetric noise they use
    ``alpha=0.02, beta=5, m=1e3``, for instance-dependent noise
    ``alpha=0.045, beta=10, m=1e5``; ``eps=1e-8`` is their clamp. CE_eps is
    computed from ``log p_y``: ``log p_y - log(1 + m)`` off the arg-max and
    ``log(1 + (p_y - 1) / (1 + m))`` on it.

    References
    ----------
    Wang, J., Zhou, X., Zhai, D., Jiang, J., Ji, X. and Liu, X.
    "epsilon-Softmax: Approximating One-Hot Vectors for Mitigating Label
    Noise", NeurIPS 2024.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce.losses import CEEpsMAELoss
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    >>> CEEpsMAELoss(reduction="none")(logits, torch.tensor([0, 0]))
    tensor([2.1301, 9.0725])
    >>> # m = 0 is cross entropy:
    >>> CEEpsMAELoss(alpha=1.0, beta=0.0, m=0.0, reduction="none")(logits, torch.tensor([0, 0]))
    tensor([0.2395, 2.2395])
    """

    def __init__(self, alpha=0.01, beta=5.0, m=1e5, eps=1e-8, reduction="mean"):
        super().__init__(alpha, beta, reduction)
        if not m >= 0:
            raise ValueError(f"m must be >= 0, got {m!r}.")
        if not 0 <= eps < 1:
            raise ValueError(f"eps must be in [0, 1), got {eps!r}.")
        self.m = m
        self.eps = eps

    def active(self, log_probs, log_p_y, target):
        """The cross entropy on the epsilon-softmax, ``CE_eps = -log max(p~_y, eps)``, of each sample."""
        is_top = log_probs.argmax(-1) == target
        log_p_eps = torch.where(is_top, _log_shifted(log_p_y, self.m), log_p_y - math.log1p(self.m))
        if self.eps > 0:
            log_p_eps = log_p_eps.clamp_min(math.log(self.eps))
        return -log_p_eps

    @staticmethod
    def passive(log_probs, log_p_y, target):
        """The MAE ``2 * (1 - p_y)`` of each sample."""
        return -2 * torch.expm1(log_p_y)


#: Loss names accepted by :func:`make_loss` and ``GCEClassifier(loss=...)``.
# The losses with an exponent q (the Lq losses); the others ignore q.
Q_LOSSES = ("gce", "truncated")


def loss_grid(losses, qs):
    """A grid of losses and ``q`` values, for :class:`~sklearn.model_selection.ParameterGrid`.

    ``q`` is crossed with the losses that use it only: one dict per loss, in
    the order given, ``{"loss": [name], "q": qs}`` for ``'gce'`` and
    ``'truncated'`` and ``{"loss": [name]}`` for the others. Iterating
    ``ParameterGrid`` over it gives the settings loss by loss.

    Examples
    --------
    >>> from sklearn.model_selection import ParameterGrid
    >>> from sklearn_gce.losses import loss_grid
    >>> list(ParameterGrid(loss_grid(["gce", "ce"], [0.5, 1.0])))
    [{'loss': 'gce', 'q': 0.5}, {'loss': 'gce', 'q': 1.0}, {'loss': 'ce'}]
    """
    return [{"loss": [name], "q": list(qs)} if name in Q_LOSSES else {"loss": [name]} for name in losses]


LOSSES = {
    "gce": GCELoss,
    "truncated": TruncatedGCELoss,
    "ce": CrossEntropyLoss,
    "mae": MAELoss,
    "sce": SCELoss,
    "nce_rce": NCERCELoss,
    "nce_agce": NCEAGCELoss,
    "anl_ce": ANLCELoss,
    "ce_eps_mae": CEEpsMAELoss,
}


def make_loss(name, *, q=0.7, k=0.5, reduction="mean", **params):
    """Build a loss module from its name.

    Parameters
    ----------
    name : {'gce', 'truncated', 'ce', 'mae', 'sce', 'nce_rce', 'nce_agce', 'anl_ce', 'ce_eps_mae'}
        The loss.
    q : float, default=0.7
        Exponent, used by ``'gce'`` and ``'truncated'`` only.
    k : float, default=0.5
        Truncation threshold, used by ``'truncated'`` only.
    reduction : {'mean', 'sum', 'none'}, default='mean'
    **params
        Further constructor arguments: ``alpha`` and ``beta`` for the
        two-term losses, with ``A`` for ``'sce'`` and ``'nce_rce'``, ``a``
        and ``agce_q`` for ``'nce_agce'``, ``min_prob`` for ``'anl_ce'``,
        ``m`` and ``eps`` for ``'ce_eps_mae'``.

    Returns
    -------
    loss : torch.nn.Module
        An instance of the loss's class (``LOSSES[name]``), whose forward
        pass takes logits ``(N, C)``, targets ``(N,)`` and optional weights.

    Examples
    --------
    >>> from sklearn_gce import make_loss
    >>> make_loss("gce", q=0.5)
    GCELoss()
    >>> make_loss("sce", alpha=0.1, beta=1.0).beta
    1.0
    >>> make_loss("nce_agce", a=3.0, agce_q=0.5).agce_q
    0.5
    """
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; choose one of {sorted(LOSSES)}.")
    if name == "gce":
        params["q"] = q
    elif name == "truncated":
        params.update(q=q, k=k)
    return LOSSES[name](reduction=reduction, **params)
