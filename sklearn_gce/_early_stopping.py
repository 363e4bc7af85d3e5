"""Early stopping on the rows that ``GCEClassifier`` holds out itself."""

from skorch.callbacks import EarlyStopping

from ._rows import rows_of


class HoldOutEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping``, active only in a fit that holds out its own rows.

    ``GCEClassifier(early_stopping=True)`` holds out ``validation_fraction``
    of the rows in ``fit``. Calls that hold out nothing (``partial_fit``, a
    user ``train_split``, data too small to hold out a row per class) train
    for ``max_epochs`` as if this callback were absent, so the callback can
    stay in place across calls. ``GCEClassifier`` runs it after the user's
    callbacks, so it can monitor their scores
    (``callbacks__early_stopping__monitor="valid_f1"``); a monitor that no
    callback records raises skorch's ``KeyError``.
    """

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        base, _ = rows_of(dataset_train)
        if base is None or base.hold_out is None or not net.history[-1].get("valid_batch_count"):
            return
        super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        weights = self.best_model_weights_
        if weights is not None and set(weights) != set(net.module_.state_dict()):
            # Saved from a wrapper that is gone by now: under Accelerate the
            # network trains inside DistributedDataParallel ("module." keys)
            # and is unwrapped at the end of training, before this runs.
            self.best_model_weights_ = {key.removeprefix("module."): value for key, value in weights.items()}
        super().on_train_end(net, **kwargs)
