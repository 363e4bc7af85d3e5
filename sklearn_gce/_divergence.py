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
    """Raise :class:`TrainingDivergedError` at the first non-finite training loss.

    It reads the loss skorch has already recorded in the history, so it adds
    no device synchronisation.
    """

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        loss = net.history[-1, "batches", -1, "train_loss"]
        if not math.isfinite(loss):
            epoch = len(net.history)
            batch_no = len(net.history[-1, "batches"])
            raise TrainingDivergedError(
                f"Training diverged at epoch {epoch}, batch {batch_no}: the loss became "
                f"{loss}. The model is left unfitted. Try a smaller `lr`, gradient "
                "clipping (callbacks=[skorch.callbacks.GradientNormClipping(1.0)]), "
                "or check the inputs for extreme values."
            )
