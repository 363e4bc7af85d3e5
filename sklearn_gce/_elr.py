"""Early-learning regularisation (ELR): a penalty that keeps the network near its own early predictions.

Liu, Niles-Weed, Razavian and Fernandez-Granda, "Early-Learning Regularization
Prevents Memorization of Noisy Labels", NeurIPS 2020. Early in training a
network fits the clean labels first; ELR keeps, for every training sample, a
target ``t_i``: an exponential moving average of the network's own past
predictions, and adds ``lambda * log(1 - <p_i, t_i>)`` to the loss. Its
gradient pulls ``p_i`` towards ``t_i``, so a wrong label that the network
would later memorise is outweighed by what the network learnt early. The
targets are per-sample state, addressed by the row indices that travel with
each batch (see :mod:`sklearn_gce._rows`).
"""

import torch
import torch.nn.functional as F

# The paper's code clamps the probabilities away from 0 and 1 before both the
# moving average and the penalty: log(1 - <p, t>) stays finite.
_CLAMP = 1e-4


def early_learning_penalty(logits, targets, rows, beta):
    """Per-sample ELR penalties of a batch, after updating its rows' targets.

    Parameters
    ----------
    logits : tensor of shape (batch, n_classes)
    targets : tensor of shape (n_samples, n_classes)
        The moving averages of every training row, updated in place for
        ``rows``: ``t = beta * t + (1 - beta) * p / sum(p)`` with ``p`` the
        clamped probabilities, detached.
    rows : long tensor of shape (batch,)
    beta : float
        Momentum of the moving average, in ``[0, 1)``.

    Returns
    -------
    penalty : tensor of shape (batch,)
        ``log(1 - <p_i, t_i>)``, negative; minimising it raises the agreement
        of ``p_i`` with ``t_i``.

    Examples
    --------
    >>> import torch
    >>> targets = torch.zeros(3, 2)
    >>> penalty = early_learning_penalty(torch.tensor([[2.0, 0.0]]), targets, torch.tensor([1]), 0.0)
    >>> bool(penalty < 0), targets[1].sum().item()
    (True, 1.0)
    """
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    proba = F.softmax(logits, dim=-1).clamp(_CLAMP, 1 - _CLAMP)
    with torch.no_grad():
        seen = proba.detach()
        targets[rows] = beta * targets[rows] + (1 - beta) * seen / seen.sum(-1, keepdim=True)
    return torch.log1p(-(targets[rows] * proba).sum(-1))
