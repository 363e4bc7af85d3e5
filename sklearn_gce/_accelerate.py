"""``AcceleratedGCEClassifier``: data-parallel and mixed-precision training through Accelerate."""

from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin

from ._base import BaseGCEClassifier
from ._classifier import GCEClassifier

__all__ = ["AcceleratedGCEClassifier"]


class AcceleratedGCEClassifier(AccelerateMixin, GCEClassifier):
    """:class:`GCEClassifier` trained through Hugging Face Accelerate (skorch's ``AccelerateMixin``).

    Run a script that fits it with ``accelerate launch --num_processes N
    script.py`` to train one network on N GPUs (data-parallel), or pass
    ``Accelerator(mixed_precision="bf16")`` for mixed precision on one. Every
    parameter of :class:`GCEClassifier` applies; ``device`` stays ``None``
    (Accelerate places the model and the batches).

    Each process trains on its shard of every epoch's batches, through
    skorch's ``DataLoader`` path (which Accelerate shards), and holds the
    per-sample state of all rows (sample weights, the truncated loss's
    keep-weights). Validation, the truncated loss's re-weighting and
    ``predict`` run over every row in every process: the early-stopping
    decision, the keep-weights and ``pruned_rows_`` are then the same
    everywhere, and no process waits on another that stopped. They are the
    cheap part of training; the gradient steps are what is shared out.

    Parameters
    ----------
    *args
        Positional arguments of :class:`GCEClassifier` (its ``module``).
    accelerator : accelerate.Accelerator
        The accelerator, with its settings (mixed precision, gradient
        accumulation, ``cpu=True`` to run on the CPU).
    device : str, torch.device or None, default=None
        Leave ``None`` while the accelerator places the model (as it does by default):
        skorch raises a ``ValueError`` otherwise.
    unwrap_after_train : bool, default=True
        Unwrap the network after training, so that the estimator pickles.
    callbacks__print_log__sink : 'auto' or callable, default='auto'
        Where the epoch log is printed. ``'auto'`` uses the accelerator's
        ``print`` (once per machine, not once per process), else Python's.
    **kwargs
        Any parameter of :class:`GCEClassifier`.

    See Also
    --------
    GCEClassifier : The estimator this one accelerates.
    skorch.hf.AccelerateMixin : The skorch integration this class mixes in.

    Examples
    --------
    >>> from accelerate import Accelerator
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_gce import AcceleratedGCEClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = AcceleratedGCEClassifier(
    ...     accelerator=Accelerator(cpu=True), max_epochs=20, random_state=0,
    ...     callbacks__print_log__sink=print, verbose=0,
    ... ).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    def _initialize_accelerator(self):
        # The losses have no parameters: there is nothing to synchronise, and
        # DistributedDataParallel refuses to wrap such a module.
        criteria, self._criteria = self._criteria, []
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria

    def _training_device(self):
        return self.accelerator.device

    def get_iterator(self, dataset, training=False):
        if training:
            # AccelerateMixin: a shard of the batches for each process.
            return super().get_iterator(dataset, training=True)
        from accelerate.data_loader import prepare_data_loader

        # Every row for every process, on its device: see the class docstring.
        loader = BaseGCEClassifier.get_iterator(self, dataset, training=False)
        return prepare_data_loader(
            loader, self.accelerator.device, num_processes=1, process_index=0, put_on_device=True
        )

    def evaluation_step(self, batch, training=False):
        # Each process predicts every row itself: nothing to gather.
        return BaseGCEClassifier.evaluation_step(self, batch, training=training)

    def train_step_single(self, batch, **fit_params):
        # AccelerateMixin's step with GCEClassifier's loss: targets and
        # weights are looked up by the rows of the batch.
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        with self.accelerator.autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self._batch_loss(y_pred, batch, Xi, training=True)
            self.accelerator.backward(loss)
        return {"loss": loss, "y_pred": y_pred}
