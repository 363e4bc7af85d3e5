"""The truncated loss's schedule: re-optimising per-sample weights during training."""

import warnings

import torch
from skorch.callbacks import Callback


def schedule_epoch(value, max_epochs):
    """An epoch count from an int (epochs) or a float in ``(0, 1)`` (fraction of ``max_epochs``)."""
    if isinstance(value, float) and value < 1:
        return max(1, round(value * max_epochs))
    return int(value)


class TruncationPruning(Callback):
    """Re-optimise the truncated loss's weights with the live model.

    At the start of epoch ``start`` and every ``every`` epochs after it, each
    training sample gets weight 1 if the current model gives its label a
    probability above ``k``, else 0 (it is pruned). This is the closed-form
    optimum of the weights for a fixed network (Zhang & Sabuncu, 2018).
    ``GCEClassifier`` adds this callback itself when ``loss='truncated'`` and
    reads ``start``, ``every`` and ``k`` from its own parameters.
    """

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        epoch = len(net.history)
        # Never before epoch 2: an untrained model gives every label p_y ~ 1/K
        # and would prune the whole training set.
        start = max(2, schedule_epoch(net.prune_start, net.max_epochs))
        every = schedule_epoch(net.prune_every, net.max_epochs)
        if epoch < start or (epoch - start) % every:
            return
        logits = net.forward(dataset_train, training=False, device=net.device)
        labels, rows = net.unpack_targets(dataset_train_targets(dataset_train, net.device))
        keep = net.criterion_.optimal_weight(logits, labels)
        net._keep_weight_[rows] = keep.to(net._keep_weight_.dtype)
        n_pruned = int((keep == 0).sum())
        net.history.record("n_pruned", n_pruned)
        if n_pruned == len(keep):
            warnings.warn(
                f"The truncated loss pruned every training sample at epoch {epoch}: "
                f"no label has probability above k={net.k} yet, so training stops "
                "learning. Start pruning later (prune_start) or lower k.",
                RuntimeWarning,
                stacklevel=2,
            )


def dataset_train_targets(dataset, device):
    """The encoded target array behind a skorch ``Dataset`` or a ``Subset`` of one."""
    if isinstance(dataset, torch.utils.data.Subset):
        return torch.as_tensor(dataset.dataset.y[dataset.indices], device=device)
    return torch.as_tensor(dataset.y, device=device)
