"""Early stopping on the rows that ``GCEClassifier`` holds out itself."""

from skorch.callbacks import EarlyStopping

from ._data import rows_of


class HoldOutEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping``, active only in a fit that holds out its own rows.

    ``GCEClassifier(early_stopping=True)`` holds out ``validation_fraction``
    of the rows in ``fit``. Calls that hold out nothing (``partial_fit``, a
    user ``train_split``, data too small to hold out a row per class) train
    for ``max_epochs`` as if this callback were absent, so the callback can
    stay in place across calls.
    """

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        base, _ = rows_of(dataset_train)
        if base is None or base.hold_out is None or self.monitor not in net.history[-1]:
            return
        super().on_epoch_end(net, **kwargs)
