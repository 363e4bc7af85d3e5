"""Stop loudly when training diverges, instead of returning a model that predicts NaN."""

import math

from skorch.callbacks import Callback

__all__ = ["TrainingDivergedError", "DivergenceGuard"]


class TrainingDivergedError(FloatingPointError):
    """Raised by ``fit`` when the training loss becomes NaN or infinite.

    The estimator is left unfitted (``predict`` raises ``NotFittedError``);
    its ``history_`` shows the epochs and batches before the divergence.

    Examples
    --------
    >>> from sklearn_gce import TrainingDivergedError
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """


class DivergenceGuard(Callback):
    """Raise :class:`TrainingDivergedError` after an epoch with a non-finite training loss.

    It reads the batch losses that the estimator copies from the device once
    per epoch, so it adds no device synchronisation; a divergence is reported
    at the end of its epoch, naming the first bad batch.
    """

    def on_epoch_end(self, net, **kwargs):
        batches = net.history[-1, "batches"]
        for number, batch in enumerate(batches, start=1):
            loss = batch.get("train_loss")
            if loss is not None and not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"Training diverged at epoch {len(net.history)}, batch {number}: the "
                    f"loss became {loss}. The model is left unfitted. Try a smaller `lr`, "
                    "gradient clipping (callbacks=[skorch.callbacks.GradientNormClipping(1.0)]), "
                    "or check the inputs for extreme values."
                )
