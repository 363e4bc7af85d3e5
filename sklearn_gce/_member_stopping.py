"""Early stopping per member, and the hold-out scores a member is chosen by."""

import numpy as np
import torch
from skorch.callbacks import Callback

from ._rows import rows_of
from ._stacked import member_slices

# skorch's EarlyStopping default: an improvement must beat the best by 0.01%.
_THRESHOLD = 1e-4


class MemberEarlyStopping(Callback):
    """skorch's early stopping, run for each member of a stacked network on its own.

    At the end of each epoch with validation batches, every member's loss on
    the held-out rows is compared with its best; a member that improved is
    copied aside (its slice of every stacked weight), one that did not counts
    a miss. Training stops when every member has missed ``patience`` epochs
    in a row, and at the end each member gets back the weights of its own
    best epoch: what ``GCEClassifier``'s early stopping does for one network,
    so a member ends as it would have in a fit of its own. With
    ``stop_early=False`` the members train for ``max_epochs`` and keep their
    last weights. Members that share trained weights (a common trunk) cannot
    each go back to an epoch of their own: they stop together, on the sum
    of their losses, as skorch's ``EarlyStopping`` would on ``valid_loss``.
    The history records ``valid_acc``, the best member's accuracy on the
    (noisy) held-out labels, ``n_members_improved``, and each member's
    ``member_valid_loss`` and ``member_valid_acc`` (lists, in member order;
    a member that has stopped shows its best epoch's, having no more to
    show: cross-fitted members are no longer validated once they stop).

    With ``patience_behind``, the members also race, as in successive
    halving: a member whose accuracy on the held-out labels (at its best
    epoch so far) trails the best member's, and whose loss has not improved
    for ``patience_behind`` epochs, stops then instead of after
    ``patience``. The epochs go to the members that can still be chosen.
    Runs of ``group_size`` consecutive members (the copies of a setting)
    race as one: on the mean of their accuracies, stopped together once
    none of them has improved lately.

    Parameters
    ----------
    patience : int
        Epochs without improvement after which a member stops counting.
    stop_early : bool, default=True
    patience_behind : int or None, default=None
        Epochs without improvement after which a member that trails stops;
        ``None``: no race.
    group_size : int, default=1
        Consecutive members that race as one.
    """

    def __init__(self, patience, stop_early=True, patience_behind=None, group_size=1):
        self.patience = patience
        self.stop_early = stop_early
        self.patience_behind = patience_behind
        self.group_size = group_size

    def on_train_begin(self, net, **kwargs):
        n = net.module_.n_members
        device = next(net.module_.parameters()).device
        self.best_loss_ = torch.full((n,), float("inf"), device=device)
        self.misses_ = torch.zeros(n, dtype=torch.long, device=device)
        self.best_epoch_ = np.zeros(n, dtype=np.int64)
        self.best_accuracy_ = torch.zeros(n, device=device)
        self.stopped_behind_ = torch.zeros(n, dtype=torch.bool, device=device)
        self.n_epochs_ = np.zeros(n, dtype=np.int64)  # epochs each member trained
        self.best_weights_ = None
        self.dataset_valid_ = None
        _set_active(net.module_, None)
        _set_members(net.module_, "set_evaluated_members", None)

    def on_epoch_begin(self, net, dataset_valid=None, **kwargs):
        if self.dataset_valid_ is None:  # the fit's first epoch: every member is validated
            _validate(dataset_valid, None)
        self.dataset_valid_ = dataset_valid
        self._sums = None

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            return
        state = batch.state
        targets = state.targets_of(batch.rows)
        weight = state.weight_of(batch.rows, training=False)
        weight = torch.ones(len(targets), device=targets.device) if weight is None else weight
        # (batch,), or (batch, n_members) when each member is validated on rows of its own (folds)
        column = weight if weight.ndim == 2 else weight[:, None]
        with torch.no_grad():
            losses = net.criterion_.per_sample(y_pred, targets)
            correct = (y_pred.argmax(-1) == targets.unsqueeze(1)).to(losses.dtype)
            sums = torch.stack([(losses * column).sum(0), (correct * column).sum(0)])
            total = weight.sum(0) if weight.ndim == 2 else weight.sum()
        self._sums = (sums, total) if self._sums is None else (self._sums[0] + sums, self._sums[1] + total)

    def on_epoch_end(self, net, **kwargs):
        if self._sums is None:  # nothing held out this epoch
            return
        sums, total = self._sums
        loss, accuracy = sums / total.clamp_min(torch.finfo(sums.dtype).tiny)
        epoch = len(net.history)
        if shares_weights(net.module_):
            loss = loss.sum().expand_as(loss)
        if self.stop_early:
            threshold = self.best_loss_ * (1 - _THRESHOLD)
            improved = loss < torch.where(torch.isinf(self.best_loss_), self.best_loss_, threshold)
        else:
            improved = torch.ones_like(loss, dtype=torch.bool)
        done = (self.misses_ >= self.patience) | self.stopped_behind_
        self.n_epochs_[~done.cpu().numpy()] = epoch  # those that trained this epoch
        improved &= ~done  # a member that has stopped is not computed any more
        self.best_loss_ = torch.where(improved, loss, self.best_loss_)
        self.best_accuracy_ = torch.where(improved, accuracy, self.best_accuracy_)
        self.misses_ = torch.where(improved, 0, self.misses_ + 1)
        better = improved.cpu().numpy()
        self.best_epoch_[better] = epoch
        self._keep_weights(net.module_, improved)
        # a member that has stopped is no longer validated (with folds): it shows its best epoch's scores
        loss = torch.where(done, self.best_loss_, loss)
        accuracy = torch.where(done, self.best_accuracy_, accuracy)
        net.history.record("valid_acc", float(accuracy.max()))
        net.history.record("n_members_improved", int(better.sum()))
        net.history.record("member_valid_loss", loss.tolist())
        net.history.record("member_valid_acc", accuracy.tolist())
        if not self.stop_early:
            return
        done = (self.misses_ >= self.patience) | self.stopped_behind_
        if self.patience_behind is not None and not shares_weights(net.module_):
            self.stopped_behind_ |= self._behind(done)
            done |= self.stopped_behind_
        net.history.record("n_members_training", int((~done).sum()))
        if bool(done.all()):
            if net.verbose:
                print(f"Stopping: every member has stopped ({self.patience} epochs without improving its "
                      "valid_loss, or fewer when it trailed).")
            raise KeyboardInterrupt  # how skorch's EarlyStopping ends training
        if bool(done.any()) and not shares_weights(net.module_):
            # Members that have stopped keep their best weights aside: train and validate the others only.
            training = torch.nonzero(~done).flatten()
            _set_active(net.module_, training)
            _validate(self.dataset_valid_, training.cpu().numpy())

    def _behind(self, done):
        """Members that trail the leading group and have not improved for ``patience_behind`` epochs."""
        size = self.group_size
        score = self.best_accuracy_.view(-1, size).mean(1)
        # stale: no member of the group improved lately (a stopped member counts as stale)
        fresh = (self.misses_ < self.patience_behind) & ~done
        stale = ~fresh.view(-1, size).any(1)
        behind = (score < score.max()) & stale
        return behind.repeat_interleave(size)

    @torch.no_grad()
    def _keep_weights(self, module, improved):
        if shares_weights(module):
            if bool(improved.any()):
                self.best_weights_ = {k: t.detach().clone() for k, t in module.state_dict().items()}
            return
        weights = member_slices(module)
        if self.best_weights_ is None:
            self.best_weights_ = {name: t.detach().clone() for name, t in weights.items()}
            return
        for name, t in weights.items():
            kept = self.best_weights_[name]
            mask = improved.view(-1, *([1] * (t.ndim - 1))).to(kept.device)
            kept.copy_(torch.where(mask, t.detach().to(kept.device), kept))

    @torch.no_grad()
    def on_train_end(self, net, **kwargs):
        _set_active(net.module_, None)
        _validate(self.dataset_valid_, None)
        _set_members(net.module_, "set_evaluated_members", None)
        if self.best_weights_ is None:
            return
        if shares_weights(net.module_):
            net.module_.load_state_dict(self.best_weights_)
            return
        for name, t in member_slices(net.module_).items():
            t.data.copy_(self.best_weights_[name].to(t.device))


def _set_active(module, members):
    _set_members(module, "set_active_members", members)


def _validate(dataset_valid, members):
    """Validate only ``members`` (``None``: all) on the rows of ``dataset_valid``, where members have rows of their own."""
    base, _ = rows_of(dataset_valid)
    if base is not None and base.state.member_rows is not None:
        base.state.member_rows.validate_members(members)


def _set_members(module, setter, members):
    """Call ``module.<setter>(members)`` where the module has it (a user's member module may not)."""
    setter = getattr(module, setter, None)
    if callable(setter):
        setter(members)


def shares_weights(module):
    """Whether the members of ``module`` share trained weights (a trunk)."""
    shared = set(getattr(module, "shared_state", ()))
    return any(name in shared for name, _ in module.named_parameters())


def holdout_member_probabilities(net, dataset_valid):
    """Probabilities ``(n_rows, n_members, n_classes)``, labels and weights of the held-out rows."""
    base, rows = rows_of(dataset_valid)
    rows = np.arange(len(base)) if rows is None else rows
    logits = net.forward(dataset_valid, training=False, device=net.device)
    proba = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    index = torch.as_tensor(rows, dtype=torch.long)
    targets = base.state.targets_of(index).cpu().numpy()
    weight = base.state.sample_weight[index.to(base.state.sample_weight.device)].cpu().numpy()
    return proba, targets, weight
