"""The truncated loss's schedule: re-optimising per-sample weights during training."""

import warnings

import numpy as np
import torch
from skorch.callbacks import Callback

from ._rows import rows_of


def schedule_epoch(value, max_epochs):
    """An epoch count from an int (epochs) or a real in ``(0, 1)`` (fraction of ``max_epochs``).

    Any real type counts as a fraction (``np.float32(0.5)`` too), any integer
    type as epochs.
    """
    if isinstance(value, (float, np.floating)) and value < 1:
        return max(1, round(float(value) * max_epochs))
    return int(value)


def reoptimise_weights(net, dataset):
    """Set the keep-weights of ``dataset``'s rows to their optimum for the current network.

    Each row gets weight 1 if the network gives its label a probability above
    ``k``, else 0: the closed-form optimum of the truncated loss's weights for
    a fixed network (Zhang & Sabuncu, 2018). ``dataset`` is the training data
    (a :class:`~sklearn_gce._rows.RowDataset` or a ``Subset`` of one), whose
    state holds the weights. Returns the number of rows pruned (a list, one
    count per member, when the state keeps a column of weights per member).
    """
    base, rows = rows_of(dataset)
    rows = np.arange(len(base)) if rows is None else rows
    logits = net.forward(dataset, training=False, device=net.device)
    state = base.state
    index = torch.as_tensor(rows, dtype=torch.long)
    keep = net.criterion_.optimal_weight(logits, state.targets_of(index))
    state.keep[index.to(state.keep.device)] = keep.to(state.keep.dtype)
    state.pruned_rows = rows
    pruned = (keep == 0).sum(0)
    return int(pruned) if pruned.ndim == 0 else pruned.tolist()


class TruncationPruning(Callback):
    """Re-optimise the truncated loss's weights with the live model.

    At the start of epoch ``start`` and every ``every`` epochs after it, each
    training sample gets weight 1 if the current model gives its label a
    probability above ``k``, else 0 (it is pruned); see
    :func:`reoptimise_weights`. A training call that begins past ``start``
    (``partial_fit`` on a new chunk, ``warm_start``, a fit resumed from a
    checkpoint) re-optimises at its first epoch, so that its rows never
    train with stale or missing weights. ``GCEClassifier`` (and
    ``GCEClassifierCV``, for its truncated members) adds this callback itself
    when a loss is ``'truncated'`` and reads ``start``, ``every`` and ``k``
    from its own parameters.
    """

    def on_train_begin(self, net, **kwargs):
        self.first_epoch_ = True

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        epoch = len(net.history)
        # Never before epoch 2: an untrained model gives every label p_y ~ 1/K
        # and would prune the whole training set.
        start = max(2, schedule_epoch(net.prune_start, net.max_epochs))
        every = schedule_epoch(net.prune_every, net.max_epochs)
        first, self.first_epoch_ = self.first_epoch_, False
        if epoch < start or ((epoch - start) % every and not first):
            return
        n_pruned = reoptimise_weights(net, dataset_train)
        net.history.record("n_pruned", n_pruned)
        if np.any(np.asarray(n_pruned) == len(dataset_train)):
            warnings.warn(
                f"The truncated loss pruned every training sample at epoch {epoch}: "
                f"no label has probability above k={net.k} yet, so training stops "
                "learning. Start pruning later (prune_start) or lower k.",
                RuntimeWarning,
                stacklevel=2,
            )
