"""The default network's two models, the MLP and the additive model: trained in turn, then combined.

``GCEClassifier``'s default network is an :class:`~sklearn_gce.MLP` with an
additive model beside it (``additive_member=True``). A fit that holds out
rows for early stopping trains the MLP first, as a network of its own, then
the additive model, each with its own early stopping on the same hold-out,
and predicts the mean of their probabilities. One stopping rule for both
would let the MLP go on memorising wrong labels while the slower additive
model still improves the joint hold-out loss.

The mean is kept unless one model alone is clearly better on the (noisy)
hold-out: its count of correct rows exceeds the mean's by more than
``_CLEARLY`` standard deviations of the paired difference (McNemar's
statistic, :func:`~sklearn_gce._correction.mcnemar_z`). The benchmarks
chose the rule on their tuning seeds (``benchmarks/results/accuracy.md``):
the mean is better than either model in most settings, the MLP alone on
clean tables with strong interactions (hpc), where the additive model is far
behind.
"""

from contextlib import contextmanager

import numpy as np
import torch

from ._correction import mcnemar_z
from ._rows import rows_of

# Standard deviations of the paired difference in correct hold-out rows.
_CLEARLY = 2.0
# The additive model takes larger steps (twice the batch, four times the
# learning rate): it has few weights and a nearly convex loss, and on the
# benchmark tables (24 fits) this cut its fit time by 40% for 0.2 points.
_ADDITIVE_BATCH_SCALE = 2
_ADDITIVE_LR_SCALE = 4

_WEIGHTS = {"mean": (0.5, 0.5), "mlp": (1.0, 0.0), "additive": (0.0, 1.0)}


def has_additive_model(module):
    """Whether ``module`` is an MLP with an additive model beside it."""
    return getattr(module, "additive", None) is not None


@contextmanager
def larger_steps(net, data):
    """Train on ``data`` with the additive model's larger batches and learning rate; both restored after."""
    groups = net.optimizer_.param_groups
    rates = [group["lr"] for group in groups]
    data.batch_scale = _ADDITIVE_BATCH_SCALE
    for group in groups:
        group["lr"] = group["lr"] * _ADDITIVE_LR_SCALE
    try:
        yield
    finally:
        data.batch_scale = 1
        for group, rate in zip(groups, rates):
            group["lr"] = rate


def held_out_choice(net, data):
    """``(choice, scores)``: the mean of the two models, or one alone where the hold-out clearly prefers it.

    ``scores`` is each option's accuracy on the held-out (noisy) labels.
    """
    _, valid = net.get_split_datasets(data, data.y)
    base, rows = rows_of(valid)
    labels = base.state.targets_of(torch.as_tensor(rows, dtype=torch.long)).cpu().numpy()
    module = net.module_
    proba = {}
    for which in ("mlp", "additive"):
        with module.run_alone(which):
            proba[which] = torch.softmax(net.forward(valid, training=False, device=net.device), -1)
    proba["mean"] = (proba["mlp"] + proba["additive"]) / 2
    proba = {name: p.cpu().numpy() for name, p in proba.items()}
    scores = {name: float(np.mean(p.argmax(-1) == labels)) for name, p in proba.items()}
    return clear_winner(labels, proba), scores


def clear_winner(labels, proba):
    """``'mean'``, or the model whose hold-out predictions (probabilities by name) clearly beat the mean's.

    Clearly: McNemar's statistic of the model against the mean
    (:func:`~sklearn_gce._correction.mcnemar_z`, the gain in rows right over
    the square root of the rows on which they disagree) above ``_CLEARLY``;
    where both models are, the one with the larger gain.
    """
    right = {name: p.argmax(-1) == labels for name, p in proba.items()}
    choice, margin = "mean", 0
    for which in ("mlp", "additive"):
        gain = int(right[which].sum()) - int(right["mean"].sum())
        if mcnemar_z(labels, proba["mean"], proba[which]) > _CLEARLY and gain > margin:
            choice, margin = which, gain
    return choice


def predict_with(module, choice):
    """Make ``module`` predict with ``choice``: ``'mean'``, ``'mlp'`` or ``'additive'``."""
    weights = module.model_weights
    weights.copy_(torch.tensor(_WEIGHTS[choice], dtype=weights.dtype))
