"""Mini-batches sliced from tensors held on the training device.

skorch's default ``Dataset`` + ``DataLoader`` collate every batch sample by
sample, which dominates the cost of small networks on in-memory arrays. For
plain arrays we move the data to the device once and slice it per batch.
"""

import numpy as np
import torch
from skorch.dataset import Dataset
from skorch.utils import to_device
from torch.utils.data import DataLoader, Subset


class TensorBatches:
    """Iterable of ``(X_batch, y_batch)`` slices of on-device tensors.

    A new permutation is drawn from torch's default generator at each pass
    when ``shuffle`` is true (the estimator seeds it inside a forked RNG
    state). A trailing batch of a single sample is merged into the one
    before it when training, since batch normalisation cannot train on it.
    """

    def __init__(self, X, y, batch_size, shuffle, device):
        self.X = to_device(torch.as_tensor(X), device)
        self.y = None if y is None else to_device(torch.as_tensor(y), device)
        self.batch_size = len(self.X) if batch_size == -1 else int(batch_size)
        self.shuffle = shuffle

    def __len__(self):
        return max(1, -(-len(self.X) // self.batch_size))

    def _bounds(self):
        n = len(self.X)
        starts = list(range(0, n, self.batch_size))
        ends = starts[1:] + [n]
        if self.shuffle and len(starts) > 1 and ends[-1] - starts[-1] == 1:
            starts.pop()
            ends.pop(-2)
        return zip(starts, ends)

    def __iter__(self):
        order = (
            torch.randperm(len(self.X), device=self.X.device) if self.shuffle else None
        )
        for start, end in self._bounds():
            if order is None:
                idx = slice(start, end)
            else:
                idx = order[start:end]
            yield self.X[idx], (None if self.y is None else self.y[idx])


def _plain_arrays(dataset):
    """``(X, y)`` numpy arrays behind a skorch ``Dataset`` (or a ``Subset`` of one), else None."""
    indices = None
    if isinstance(dataset, Subset):
        dataset, indices = dataset.dataset, np.asarray(dataset.indices)
    if type(dataset) is not Dataset or not isinstance(dataset.X, np.ndarray):
        return None
    X, y = dataset.X, dataset.y
    if y is not None and not isinstance(y, np.ndarray):
        return None
    if indices is not None:
        X = X[indices]
        y = None if y is None else y[indices]
    return X, y


def fast_iterator(net, dataset, training):
    """A :class:`TensorBatches` when the net uses skorch's default data path, else None.

    Custom ``iterator_*`` classes, iterator parameters other than
    ``batch_size``/``shuffle``, datasets that are not plain arrays, and nets
    trained through skorch's ``AccelerateMixin`` keep skorch's ``DataLoader``
    path.
    """
    if hasattr(net, "accelerator"):
        # skorch's AccelerateMixin shards DataLoaders across processes.
        return None
    prefix = "iterator_train" if training else "iterator_valid"
    params = net.get_params_for(prefix)
    if getattr(net, prefix) is not DataLoader or set(params) - {"batch_size", "shuffle"}:
        return None
    arrays = _plain_arrays(dataset)
    if arrays is None:
        return None
    shuffle = params.get("shuffle", training)
    batch_size = params.get("batch_size", net.batch_size)
    return TensorBatches(*arrays, batch_size=batch_size, shuffle=shuffle, device=net.device)
