"""The training data path: each batch knows its rows, and ``y`` stays the labels.

skorch sees the training data as a :class:`RowDataset` (a skorch ``Dataset``
whose ``y`` holds the labels as the user gave them) and its batches as
``(X, y)`` pairs, so every skorch idiom (scorers, ``predefined_split``,
callbacks that read ``dataset.y``) works unchanged. Beside the pair, a
:class:`RowBatch` carries the indices of its rows in the training data: the
loss looks up the encoded targets and the per-sample state
(:class:`SampleState`) by them.

Two iterators produce such batches:

- :class:`TensorBatches`, for in-memory arrays with skorch's default
  ``DataLoader`` settings: the data go to the training device once, and each
  batch is a gather of its rows there (skorch's per-sample collation
  dominates the cost of small networks). A sparse matrix stays on the host
  (:class:`SparseRows`): each batch's rows are gathered there and only they
  are made dense, on the device;
- skorch's own iterator class (a ``DataLoader``) over :class:`RowItems`, for
  everything else: torch datasets read lazily (image files, memory maps),
  custom ``iterator_*`` classes or options, and skorch's ``AccelerateMixin``.
  It yields :class:`LoaderBatch` triples, which the estimator turns into
  :class:`RowBatch` objects.
"""

from typing import NamedTuple

import numpy as np
import torch
from scipy import sparse
from skorch.dataset import Dataset
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    Subset,
    default_collate,
)

__all__ = ["LoaderBatch", "RowBatch", "RowDataset", "SampleState", "SparseRows", "TensorBatches", "make_iterator"]


class RowBatch(tuple):
    """A skorch batch ``(X, y)`` that also knows which rows of the training data it holds.

    It unpacks as the usual pair. ``rows`` is a long tensor of row indices
    into the :class:`RowDataset` the batch came from; ``state`` is that
    dataset's :class:`SampleState` (set in the training process, so that
    batches made in ``DataLoader`` worker processes never copy it).
    """

    rows = None
    state = None

    @classmethod
    def of(cls, X, y, rows, state=None):
        batch = cls((X, y))
        batch.rows, batch.state = rows, state
        return batch


class LazyRows(torch.utils.data.Dataset):
    """A torch dataset that an array of row indices selects from lazily.

    ``rows[i]`` is the dataset's item ``i``; ``rows[indices]`` a ``Subset``,
    nothing read. skorch's scorers index ``dataset.X`` by rows when they do
    not cache predictions, as they would index an array.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    @property
    def shape(self):
        # What scikit-learn's row indexing (used by skorch) looks for in an array.
        return (len(self),)

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)):
            return self.dataset[int(i)]
        if isinstance(i, tuple):  # scikit-learn indexes arrays as a[rows, ...]
            i = i[0]
        return Subset(self.dataset, np.arange(len(self))[i])


class LoaderBatch(NamedTuple):
    """What a ``DataLoader`` over :class:`RowItems` yields: ``(X, y, rows)``.

    A named tuple, so that libraries that move batches between devices or
    processes rebuild it intact (Accelerate does, field by field); the
    estimator turns it into a :class:`RowBatch` before skorch and the
    callbacks see it.
    """

    X: object
    y: object
    rows: torch.Tensor

    def as_row_batch(self, state=None):
        return RowBatch.of(self.X, self.y, self.rows, state)


class SampleState:
    """Per-sample training state of one fit, on the training device, addressed by row.

    Parameters
    ----------
    targets : ndarray of int64, shape (n_samples,)
        Encoded labels ``0..K-1``: what the loss is computed on.
    sample_weight : ndarray of float32, shape (n_samples,)
        The caller's per-sample weights.
    device : torch.device or None
        Where the state lives (the training device).
    n_members : int or None, default=None
        The members of a stacked network (``GCEClassifierCV``): each has a
        column of keep-weights of its own. ``None``: one network, one column.
    member_rows : object or None, default=None
        Members that train and stop on rows of their own (cross-fitting's
        :class:`~sklearn_gce._layout.FoldMask`): its ``to(device)``, and on
        that copy ``training(rows)`` and ``validation(rows)``, ``(batch,
        n_members)`` masks that each member's weights are multiplied by.
        ``None``: every member trains on every training row.

    Attributes
    ----------
    keep : tensor of float32, shape (n_samples,) or (n_samples, n_members)
        The truncated loss's weights (1 = trained on, 0 = pruned), re-optimised
        by :class:`~sklearn_gce._pruning.TruncationPruning`. Rows never seen by
        the pruning step (the early-stopping hold-out) keep weight 1.
    pruned_rows : ndarray of int64 or None
        The rows that the last re-optimisation scored (the training rows), or
        ``None`` before the first one.
    """

    def __init__(self, targets, sample_weight, device, n_members=None, member_rows=None):
        self.targets = torch.as_tensor(targets, dtype=torch.long, device=device)
        self.sample_weight = torch.as_tensor(sample_weight, dtype=torch.float32, device=device)
        # Unit weights until the truncated loss prunes: the loss then takes a
        # plain mean, with no weights to gather and multiply in every batch.
        self.unit_weight = bool(torch.as_tensor(sample_weight).eq(1).all())
        self.n_members = n_members
        shape = self.sample_weight.shape if n_members is None else (len(self.sample_weight), n_members)
        self.keep = torch.ones(shape, dtype=torch.float32, device=self.sample_weight.device)
        self.pruned_rows = None
        self._elr_targets = None
        self.member_rows = None if member_rows is None else member_rows.to(self.targets.device)

    def elr_targets(self, shape):
        """The early-learning regularisation's moving-average targets: ``(n_samples, *shape)``.

        ``shape`` is that of one sample's predictions: ``(n_classes,)``, or
        ``(n_members, n_classes)`` for a network of several members.
        """
        if self._elr_targets is None:
            self._elr_targets = torch.zeros(
                len(self.targets), *shape, device=self.targets.device
            )
        return self._elr_targets

    def _on_device(self, rows):
        device = self.targets.device
        # Comparing devices is much cheaper than a no-op .to() on every batch.
        return rows if rows.device == device else rows.to(device, non_blocking=True)

    def targets_of(self, rows):
        """Encoded labels of ``rows``."""
        return self.targets[self._on_device(rows)]

    def weight_of(self, rows, training):
        """The loss weights of ``rows``: sample weights, times the keep-weights when training.

        ``None`` while every weight is 1 (no sample weights, nothing pruned yet,
        no ``member_rows``). With ``member_rows``, ``(batch, n_members)``:
        each member's rows only (``member_rows.training`` or ``.validation``).
        """
        if self.unit_weight and self.member_rows is None and (not training or self.pruned_rows is None):
            return None
        rows = self._on_device(rows)
        weight = self.sample_weight[rows]
        if self.member_rows is not None:
            kept = self.member_rows.training(rows) if training else self.member_rows.validation(rows)
            weight = weight.unsqueeze(1) * kept.to(weight.dtype)
        if not training:
            return weight
        keep = self.keep[rows]
        if weight.ndim == keep.ndim:
            return keep * weight
        # (batch,) or, with a column of keep-weights per member, (batch, n_members)
        return keep * weight.view(-1, *([1] * (keep.ndim - 1)))


class RowDataset(Dataset):
    """The data of one ``fit`` call: inputs, labels as given, encoded targets and per-sample state.

    Parameters
    ----------
    X : ndarray of float32 or torch Dataset
        The inputs. A torch dataset is read item by item (``X[i]`` must be an
        ``(x, y)`` pair, as skorch expects); only its ``x`` is used.
    y : ndarray of shape (n_samples,)
        The labels as the caller gave them: what skorch's scorers and user
        callbacks see as ``dataset.y`` and as the ``y`` of each batch.
    targets : ndarray of int64, shape (n_samples,)
        The same labels encoded as ``0..K-1`` (positions in ``classes_``).
    sample_weight : ndarray of float32, shape (n_samples,)
    device : torch.device or None
        The training device, where the state (and, for arrays, ``X``) goes.
    hold_out : callable or None, default=None
        The split that holds out rows for early stopping, if this fit does.
    n_members, member_rows : default=None
        See :class:`SampleState`.

    Attributes
    ----------
    batch_scale : int
        Training batches are ``batch_scale`` times the estimator's
        ``batch_size`` (the default network's additive model takes larger
        steps, see :mod:`sklearn_gce._additive_model`); 1 otherwise.
    """

    def __init__(self, X, y, targets, sample_weight, device, hold_out=None, n_members=None, member_rows=None):
        self.X = X
        self.y = y
        self.X_indexing = None
        self.y_indexing = None
        self._len = len(targets)
        self.state = SampleState(targets, sample_weight, device, n_members, member_rows)
        self.device = device
        self.hold_out = hold_out
        self.batch_scale = 1
        self._device_X = None
        if not isinstance(X, np.ndarray) and not sparse.issparse(X):
            self.X = LazyRows(X)

    def reset_state(self):
        """Fresh per-sample state (unit keep-weights, no ELR targets), for a fit from scratch."""
        old = self.state
        self.state = SampleState(old.targets, old.sample_weight, self.device, old.n_members, old.member_rows)

    def __getstate__(self):
        # What DataLoader workers need to read items; the state stays on the device here.
        state = dict(self.__dict__)
        state["state"] = state["_device_X"] = None
        return state

    @property
    def in_memory(self):
        """Whether ``X`` is an array or a sparse matrix (batched on the device) rather than a torch dataset."""
        return isinstance(self.X, np.ndarray) or sparse.issparse(self.X)

    def device_X(self):
        """``X`` on the training device, copied there once per fit (a view on the CPU).

        A sparse matrix stays on the host, as :class:`SparseRows`, whose
        batches come out dense on the device.
        """
        if self._device_X is None:
            self._device_X = as_device_rows(self.X, self.device)
        return self._device_X

    def input_sample(self, max_rows):
        """At most ``max_rows`` inputs, evenly spaced, as one tensor on the device.

        The device copy of ``X`` when there is one already, else a sample:
        rows of an array, or items of a torch dataset read from disk. A
        sparse matrix gives a sparse sample of its rows, on the host: the
        network reads what it needs from it without densifying it.
        """
        if self._device_X is not None and not sparse.issparse(self.X):
            return self._device_X
        index = np.unique(np.linspace(0, len(self) - 1, min(len(self), max_rows)).round().astype(int))
        if sparse.issparse(self.X):
            return self.X[index] if len(index) < len(self) else self.X
        if self.in_memory:
            return torch.as_tensor(self.X[index] if len(index) < len(self) else self.X, device=self.device)
        items = [torch.as_tensor(np.asarray(self.X[int(i)][0])) for i in index]
        return torch.stack(items).float().to(self.device)

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        # The label is the one given to fit, also when a torch dataset has its own.
        if sparse.issparse(self.X):
            x = self.X[i].toarray().reshape(-1)  # one row, for a DataLoader's collation
        else:
            x = self.X[i] if self.in_memory else self.X[i][0]
        return x, self.y[i]


class SparseRows:
    """A sparse matrix kept on the host, whose batches of rows come out dense on a device.

    ``rows[start:end]`` or ``rows[indices]`` (a host array or tensor of row
    indices) gathers those rows from the CSR matrix, at the cost of their
    nonzeros, and makes only them dense: the whole matrix is never densified.

    The batch is densified on the device: its nonzeros and their positions
    go there (12 bytes per nonzero), and are written into a tensor of zeros
    allocated there. Densifying on the host would send 4 bytes per *cell*
    instead: at the 0.1% density of a TF-IDF matrix, some 300 times as many
    bytes through a GPU's PCIe link, which would then bound a step. On the
    CPU, where device and host are one, the two cost the same order (a few
    milliseconds for 128 rows of 50,000 columns), small beside the dense
    first layer's product over those columns.

    Parameters
    ----------
    X : scipy sparse matrix of float32
        Converted to CSR; one with duplicate entries is summed into a copy
        (the caller's matrix is left as it is).
    device : torch.device, str or None
        Where the batches go; ``None`` is the CPU.
    """

    def __init__(self, X, device):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        self.X = X
        self.device = torch.device("cpu") if device is None else torch.device(device)

    @property
    def shape(self):
        return self.X.shape

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, rows):
        if isinstance(rows, torch.Tensor):
            rows = rows.numpy()
        batch = self.X[rows]
        n_rows, n_columns = batch.shape
        # Position of each nonzero in the flattened (rows, columns) batch.
        flat = np.repeat(np.arange(n_rows, dtype=np.int64) * n_columns, np.diff(batch.indptr))
        flat += batch.indices
        dense = torch.zeros(n_rows, n_columns, dtype=torch.float32, device=self.device)
        values = torch.from_numpy(np.asarray(batch.data, dtype=np.float32))
        dense.view(-1)[torch.from_numpy(flat).to(self.device)] = values.to(self.device)
        return dense


def as_device_rows(X, device):
    """An array as a tensor on ``device``; a sparse matrix as :class:`SparseRows` (kept on the host)."""
    if sparse.issparse(X):
        return SparseRows(X, device)
    return torch.as_tensor(X, device=device)


def rows_of(dataset):
    """``(RowDataset, row indices or None)`` behind a dataset, or ``(None, None)``.

    Follows nested ``Subset`` objects, as made by skorch's ``ValidSplit``.
    """
    if isinstance(dataset, RowDataset):
        return dataset, None
    if isinstance(dataset, Subset):
        base, rows = rows_of(dataset.dataset)
        if base is not None:
            indices = np.asarray(dataset.indices, dtype=np.int64)
            return base, indices if rows is None else rows[indices]
    return None, None


class TensorBatches:
    """Iterable of batches gathered from a tensor held on the training device.

    Parameters
    ----------
    X : tensor or SparseRows
        All inputs, already on the training device; or a sparse matrix on
        the host, whose batches are gathered by host row indices and come
        out dense on the device.
    y : ndarray or None
        Labels as given, on the host (as skorch's ``DataLoader`` would give
        them); ``None`` at prediction.
    rows : ndarray of int64 or None
        The rows to visit (a subset of the training data), or every row.
    batch_size : int
    shuffle : bool
        Draw a new order at each pass, from torch's default CPU generator
        (the estimator seeds it for the duration of a fit).
    state : SampleState or None
        Attached to each :class:`RowBatch`; ``None`` yields plain pairs.
    merge_singleton : bool
        Merge a trailing batch of one sample into the one before it (batch
        normalisation cannot train on a single sample).
    """

    def __init__(self, X, y, rows, batch_size, shuffle, state=None, merge_singleton=False):
        self.X = X
        self.y = None if y is None else np.asarray(y)
        self.rows = None if rows is None else torch.as_tensor(rows, dtype=torch.long)
        self.n = len(X) if rows is None else len(rows)
        self.batch_size = self.n if batch_size == -1 else int(batch_size)
        self.shuffle = shuffle
        self.state = state
        self.merge_singleton = merge_singleton
        self._gathers_on_host = isinstance(X, SparseRows)

    def _bounds(self):
        starts = list(range(0, self.n, self.batch_size)) or [0]
        ends = starts[1:] + [self.n]
        if self.merge_singleton and len(starts) > 1 and ends[-1] - starts[-1] == 1:
            starts.pop()
            ends.pop(-2)
        return list(zip(starts, ends))

    def __len__(self):
        return len(self._bounds())

    def __iter__(self):
        order = torch.randperm(self.n) if self.shuffle else None
        if order is None and self.rows is None:
            host = None  # every row in order: batches are views, not gathers
        elif order is None:
            host = self.rows
        else:
            host = order if self.rows is None else self.rows[order]
        # One copy of the visiting order per pass; batches then index on the device.
        if host is None:
            device_rows = torch.arange(self.n, device=self.X.device) if self.state else None
        else:
            device_rows = host.to(self.X.device, non_blocking=True)
        for start, end in self._bounds():
            rows = None if device_rows is None else device_rows[start:end]
            if host is None:
                Xb, labels = self.X[start:end], slice(start, end)
            else:
                labels = host[start:end].numpy()
                Xb = self.X[labels if self._gathers_on_host else rows]
            yb = None if self.y is None else _as_batch_labels(self.y[labels])
            if self.state is None:
                yield Xb, yb
            else:
                yield RowBatch.of(Xb, yb, rows, self.state)


def _as_batch_labels(labels):
    """Labels of a batch as skorch's ``DataLoader`` would give them: a tensor when numeric."""
    if labels.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(labels))
    return labels


class RowItems(torch.utils.data.Dataset):
    """Items ``((x, y), row)`` of a :class:`RowDataset`'s rows, for skorch's ``DataLoader``."""

    def __init__(self, base, rows):
        self.base = base
        self.rows = rows

    @property
    def state(self):
        # The base's; it stays out of pickles sent to DataLoader workers.
        return self.base.state

    def __len__(self):
        return len(self.base) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        row = i if self.rows is None else int(self.rows[i])
        return self.base[row], row


class MergeSingletonBatches(BatchSampler):
    """A ``BatchSampler`` that merges a trailing batch of one sample into the one before it.

    Batch normalisation cannot train on a single sample; skorch's
    ``DataLoader`` path would end an epoch on one whenever
    ``n_samples % batch_size == 1``.
    """

    def __iter__(self):
        batches = iter(super().__iter__())
        previous = next(batches, None)
        for batch in batches:
            if len(batch) == 1:
                previous = previous + batch
                continue
            yield previous
            previous = batch
        if previous is not None:
            yield previous

    def __len__(self):
        n = len(self.sampler)
        full, rest = divmod(n, self.batch_size)
        return full + (rest > 1 or (rest == 1 and full == 0))


class CollateRows:
    """Collate ``((x, y), row)`` items with the caller's ``collate_fn`` into a :class:`LoaderBatch`."""

    def __init__(self, collate_fn=None):
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __call__(self, items):
        pairs, rows = zip(*items)
        X, y = self.collate_fn(list(pairs))
        if isinstance(y, (list, tuple)):  # string labels: an array, as skorch's scorers need
            y = np.asarray(y)
        return LoaderBatch(X, y, torch.as_tensor(rows, dtype=torch.long))


def batches_on_device(net, training):
    """Whether ``net``'s settings let in-memory arrays be batched on the device (:class:`TensorBatches`).

    Only with skorch's default iterator and no options but ``batch_size`` and
    ``shuffle``, and not under skorch's ``AccelerateMixin``, which shards
    its DataLoader objects across processes.
    """
    prefix = "iterator_train" if training else "iterator_valid"
    return (
        getattr(net, prefix) is DataLoader
        and not set(net.get_params_for(prefix)) - {"batch_size", "shuffle"}
        and not hasattr(net, "accelerator")
    )


def make_iterator(net, dataset, training):
    """The batches of ``dataset`` for ``net``: :class:`TensorBatches` where possible.

    The training data (a :class:`RowDataset` or a ``Subset`` of one) gives
    :class:`RowBatch` objects. In-memory arrays with skorch's default iterator
    settings are batched on the device; anything else goes through the net's
    ``iterator_train``/``iterator_valid`` class (a ``DataLoader`` by default)
    with every ``iterator_*__*`` option, the rows riding beside each batch.
    """
    prefix = "iterator_train" if training else "iterator_valid"
    params = net.get_params_for(prefix)
    params.setdefault("batch_size", net.batch_size)
    iterator = getattr(net, prefix)
    base, rows = rows_of(dataset)
    if params["batch_size"] == -1:
        params["batch_size"] = len(dataset)
    elif training and base is not None:
        params["batch_size"] *= base.batch_scale  # the additive model's larger steps
    default_path = batches_on_device(net, training)
    shuffle = params.get("shuffle", False)
    if base is not None and base.in_memory and default_path:
        return TensorBatches(
            base.device_X(), base.y, rows, params["batch_size"], shuffle,
            state=base.state, merge_singleton=training,
        )
    if base is None:
        plain = _plain_arrays(dataset)
        if plain is not None and default_path:
            return TensorBatches(
                as_device_rows(plain[0], net.device), plain[1], None,
                params["batch_size"], shuffle,
            )
        return iterator(dataset, **params)
    items = RowItems(base, rows)
    params["collate_fn"] = CollateRows(params.get("collate_fn"))
    if training and iterator is DataLoader and not {"sampler", "batch_sampler", "drop_last"} & set(params):
        sampler = RandomSampler(items) if params.pop("shuffle", False) else SequentialSampler(items)
        params["batch_sampler"] = MergeSingletonBatches(sampler, params.pop("batch_size"), drop_last=False)
    return iterator(items, **params)


def as_row_batch(batch, state):
    """The :class:`RowBatch` of a batch from :func:`make_iterator`'s iterators; others unchanged."""
    if isinstance(batch, LoaderBatch):
        return batch.as_row_batch(state)
    if isinstance(batch, RowBatch) and batch.state is None:
        batch.state = state
    return batch


def state_of(iterator):
    """The :class:`SampleState` behind an iterator made by :func:`make_iterator`, or None."""
    state = getattr(iterator, "state", None)
    if state is None:
        state = getattr(getattr(iterator, "dataset", None), "state", None)
    return state


def _plain_arrays(dataset):
    """``(X, y)`` of a plain skorch ``Dataset`` of numpy arrays or a sparse matrix (as skorch makes at predict), else None."""
    if type(dataset) is not Dataset or not (isinstance(dataset.X, np.ndarray) or sparse.issparse(dataset.X)):
        return None
    y = dataset.y
    if y is not None and not isinstance(y, np.ndarray):
        return None
    return dataset.X, y
