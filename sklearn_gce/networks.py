"""The default network: a multilayer perceptron for tabular data."""

import math
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch
from scipy import sparse
from sklearn.utils.sparsefuncs import mean_variance_axis
from torch import nn

__all__ = ["MLP", "CategoricalEmbedding", "PiecewiseLinearEmbedding"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}
_EMBEDDINGS = (None, "piecewise_linear")
# Quantile bins are estimated on at most this many rows (evenly spaced).
_MAX_ROWS_FOR_BINS = 20_000
# torch.quantile refuses inputs above 2**24 elements on some versions and devices.
_QUANTILE_MAX_ELEMENTS = 2**24


def _evenly_spaced_rows(X):
    """At most ``_MAX_ROWS_FOR_BINS`` rows of ``X``, evenly spaced."""
    return X[:: -(-len(X) // _MAX_ROWS_FOR_BINS) or 1]


@torch.no_grad()
def fit_input_scaling(module, X):
    """Set ``module``'s buffers ``input_mean`` and ``input_scale`` from ``X``; return the sample for bins.

    The networks standardise their dense columns (all but the categorical
    codes) inside the module. Returns the standardised numeric columns of at
    most ``_MAX_ROWS_FOR_BINS`` evenly spaced rows, from which a
    piecewise-linear embedding sets its bins (a zero-width sample when the
    module has no numeric column).

    A scipy sparse ``X`` is scaled without centring, as
    ``StandardScaler(with_mean=False)`` scales it, and without densifying it
    (:func:`_fit_sparse_input_scaling`); the sample returned is sparse too.
    """
    if sparse.issparse(X):
        return _fit_sparse_input_scaling(module, X)
    X = torch.as_tensor(X, dtype=torch.float32, device=module.input_mean.device)
    X = X.reshape(len(X), -1)[:, : len(module.input_mean)]
    module.input_mean.copy_(X.mean(0))
    scale = X.std(0, unbiased=False)
    # Constant columns keep scale 1 instead of dividing by zero.
    module.input_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))
    # standardise only the rows the bins are estimated on, not a copy of X
    sample = (_evenly_spaced_rows(X) - module.input_mean) / module.input_scale
    return sample[:, : module.n_numeric]


def _fit_sparse_input_scaling(module, X):
    """:func:`fit_input_scaling` for a sparse matrix: each column over its standard deviation, not centred.

    What ``StandardScaler(with_mean=False)`` does. A zero of a sparse column
    means "absent" (a word not in the document, a category not taken): left
    at zero, absent entries add nothing to the first layer, and the batch
    could be multiplied as a sparse matrix. Centring would gain nothing: a
    shift of the inputs is a shift of the first layer's bias. Dividing by
    the largest magnitude instead (``MaxAbsScaler``) learnt far more slowly
    on TF-IDF matrices: under label noise, early stopping on the noisy
    hold-out then ends the fit before it has learnt much.
    """
    X = sparse.csr_matrix(X, dtype=np.float32)
    n_dense = len(module.input_mean)
    if X.shape[1] != n_dense:
        X = X[:, :n_dense]
    _, variance = mean_variance_axis(X, axis=0)
    scale = np.sqrt(variance).astype(np.float32)
    scale[scale == 0] = 1  # constant columns keep scale 1, as in fit_input_scaling
    module.input_mean.zero_()
    module.input_scale.copy_(torch.from_numpy(scale))
    sample = X[:: -(-X.shape[0] // _MAX_ROWS_FOR_BINS) or 1]
    sample = sparse.csr_matrix(sample.multiply(1 / scale[None, :]), dtype=np.float32)
    return sample[:, : module.n_numeric]


def log_mean_proba(logits, dim, weights=None):
    """The log of the (weighted) mean over ``dim`` of the softmax of ``logits``, in float32 and log space.

    What a network that averages models returns in evaluation mode: its
    softmax is the mean of the models' probabilities. ``weights`` (one per
    entry of ``dim``, summing to 1) default to equal ones. Float32 even under
    autocast.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce.networks import log_mean_proba
    >>> logits = torch.randn(4, 2, 3)
    >>> mean = torch.softmax(logits, -1).mean(1)
    >>> bool(torch.allclose(log_mean_proba(logits, dim=1).exp(), mean, atol=1e-6))
    True
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)
    if weights is None:
        return torch.logsumexp(log_p, dim=dim) - math.log(logits.shape[dim])
    log_weight = torch.log(weights).view(-1, *([1] * (logits.ndim - 1 - dim % logits.ndim)))
    return torch.logsumexp(log_p + log_weight, dim=dim)


class PiecewiseLinearEmbedding(nn.Module):
    """Piecewise-linear encoding of each feature, then a small per-feature linear map.

    Feature ``x_j`` becomes ``n_bins`` ramps ``clamp((x_j - b_{t-1}) /
    (b_t - b_{t-1}), 0, 1)`` over the bin edges ``b_0 <= ... <= b_T``
    (training quantiles, set by :meth:`set_bins`), and each feature's ramps
    go through its own ``Linear(n_bins, d_embedding)`` and a ReLU: the "PLE"
    embedding of Gorishniy, Rubachev and Babenko ("On Embeddings for
    Numerical Features in Tabular Deep Learning", NeurIPS 2022), except that
    the first and last ramps are clamped too, so values outside the training
    range saturate instead of growing without bound (:class:`MLP` passes the
    standardised feature on beside it, which keeps the linear trend).
    A repeated quantile (a discrete or one-hot column) gives a zero-width bin,
    a step that is on for values above it; a column constant in training has
    its ramps always off. Threshold-like and heavy-tailed
    features, where gradient-boosted trees usually beat an MLP, become easy
    to use.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_bins : int, default=64
        Ramps per feature. Repeated quantiles (discrete or one-hot columns)
        give zero-width bins, which act as steps.
    d_embedding : int, default=8
        Output size per feature; the output has ``n_features * d_embedding``
        columns.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import PiecewiseLinearEmbedding
    >>> emb = PiecewiseLinearEmbedding(n_features=3, n_bins=4, d_embedding=2)
    >>> emb.set_bins(torch.randn(100, 3))
    >>> emb(torch.zeros(5, 3)).shape
    torch.Size([5, 6])
    """

    def __init__(self, n_features, n_bins=64, d_embedding=8):
        super().__init__()
        if not all(isinstance(v, Integral) and v >= 1 for v in (n_bins, d_embedding)):
            raise ValueError(
                f"n_bins and d_embedding must be >= 1, got {n_bins!r} and {d_embedding!r}."
            )
        # Until set_bins is called: equal bins over [-2, 2] (standardised units).
        self.register_buffer("edges", torch.linspace(-2, 2, n_bins + 1).repeat(n_features, 1))
        self.weight = nn.Parameter(torch.randn(n_features, n_bins, d_embedding) / n_bins**0.5)
        self.bias = nn.Parameter(torch.zeros(n_features, d_embedding))

    @torch.no_grad()
    def set_bins(self, X):
        """Set each feature's bin edges to quantiles of ``X`` (rows, features).

        A scipy sparse ``X`` is made dense for at most ``2**24`` numbers, of
        evenly spaced rows (at 50,000 columns, 335 rows).
        """
        if sparse.issparse(X):
            n_rows = max(1, min(X.shape[0], _QUANTILE_MAX_ELEMENTS // max(1, X.shape[1])))
            X = X[:: -(-X.shape[0] // n_rows) or 1].toarray()
        X = torch.as_tensor(X, dtype=torch.float32, device=self.edges.device)
        X = X.reshape(len(X), -1)
        X = _evenly_spaced_rows(X)
        levels = torch.linspace(0, 1, self.edges.shape[1], device=X.device)
        # Wide inputs (image pixels) go a block of columns at a time.
        step = max(1, _QUANTILE_MAX_ELEMENTS // len(X))
        for start in range(0, X.shape[1], step):
            block = X[:, start:start + step]
            self.edges[start:start + step] = torch.quantile(block, levels, dim=0).T

    def forward(self, X):
        out = torch.einsum("bft,ftd->bfd", piecewise_linear_ramps(X, self.edges), self.weight) + self.bias
        return torch.relu(out).reshape(len(X), -1)


def piecewise_linear_ramps(X, edges):
    """The ramps ``(batch, features, bins)`` of ``X`` ``(batch, features)`` over bin ``edges``."""
    lo, hi = edges[:, :-1], edges[:, 1:]
    width = hi - lo
    X = X.unsqueeze(-1)
    # Divide by the true width, however narrow (a heavy-tailed column can
    # have tiny bins in standardised units); zero-width bins are steps.
    ramps = torch.where(
        width > 0,
        (X - lo) / torch.where(width > 0, width, torch.ones_like(width)),
        (X > lo).to(X.dtype),
    ).clamp(0, 1)
    # A column constant in training has untrained ramp weights: keep its
    # ramps off, whatever value it takes later.
    varied = edges[:, -1:] > edges[:, :1]
    return ramps * varied.to(ramps.dtype)


class CategoricalEmbedding(nn.Module):
    """A learned vector for each category of each integer-coded column.

    Column ``j`` holds codes ``0..cardinalities[j] - 1`` (as
    :class:`~sklearn_gce.TabularEncoder` makes them, in float or integer
    tensors); each code selects a vector of ``d_embedding`` learned numbers,
    and the vectors of the columns are concatenated. Any other code (``-1``,
    a category unseen at fit) gives a zero vector, which is never trained:
    an unknown category adds nothing, as the all-zero row of a one-hot
    encoding. One table holds the vectors of every column, so the lookup is
    one gather whatever the number of columns.

    Parameters
    ----------
    cardinalities : sequence of int
        Number of categories of each column.
    d_embedding : int, default=8
        Size of each category's vector; the output has
        ``len(cardinalities) * d_embedding`` columns.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import CategoricalEmbedding
    >>> emb = CategoricalEmbedding([3, 40], d_embedding=4)
    >>> out = emb(torch.tensor([[0.0, 39.0], [-1.0, 5.0]]))
    >>> out.shape
    torch.Size([2, 8])
    >>> out[1, :4].abs().sum().item()  # code -1: unknown, zeros
    0.0
    """

    def __init__(self, cardinalities, d_embedding=8):
        super().__init__()
        cardinalities = list(cardinalities)
        if not cardinalities or not all(isinstance(n, Integral) and n >= 1 for n in cardinalities):
            raise ValueError(
                f"cardinalities must be a non-empty list of ints >= 1, got {cardinalities!r}."
            )
        if not (isinstance(d_embedding, Integral) and d_embedding >= 1):
            raise ValueError(f"d_embedding must be >= 1, got {d_embedding!r}.")
        sizes = torch.tensor(cardinalities, dtype=torch.long)
        self.register_buffer("cardinalities", sizes)
        # Row 0 of the table is the zero vector of unknown codes; column j's
        # categories follow at 1 + offsets[j].
        self.register_buffer("offsets", 1 + torch.cumsum(sizes, 0) - sizes)
        self.table = nn.Embedding(1 + int(sizes.sum()), d_embedding, padding_idx=0)

    def forward(self, codes):
        codes = codes.reshape(len(codes), -1).long()
        known = (codes >= 0) & (codes < self.cardinalities)
        return self.table(torch.where(known, codes + self.offsets, 0)).reshape(len(codes), -1)


def check_mlp_options(n_features, dropout, activation, numeric_embedding, n_numeric, categorical_cardinalities):
    """Check the options an :class:`MLP` shares with its stacked form; ``(n_dense, n_numeric)``.

    ``n_dense`` counts the columns before the categorical codes; ``n_numeric``
    (``None``: all of them) is checked against it.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}.")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    if numeric_embedding not in _EMBEDDINGS:
        raise ValueError(
            f"numeric_embedding must be one of {list(_EMBEDDINGS)}, got {numeric_embedding!r}."
        )
    n_codes = len(categorical_cardinalities)
    n_dense = n_features - n_codes
    if n_dense < 0:
        raise ValueError(f"{n_codes} categorical columns do not fit in n_features={n_features}.")
    if n_numeric is None:
        n_numeric = n_dense
    if not (isinstance(n_numeric, Integral) and 0 <= n_numeric <= n_dense):
        raise ValueError(
            f"n_numeric must be an int in [0, {n_dense}] (the columns before the "
            f"categorical codes), got {n_numeric!r}."
        )
    return n_dense, int(n_numeric)


class MLP(nn.Module):
    """Multilayer perceptron returning logits.

    Each hidden block is ``Linear -> BatchNorm1d -> activation -> Dropout``.
    The first block sees the standardised features and, by default, a
    piecewise-linear embedding of the numeric ones. Inputs are standardised
    inside the module with statistics that
    :class:`~sklearn_gce.GCEClassifier` sets from the training data (buffers
    ``input_mean`` and ``input_scale``), so raw tabular features train well
    without a scaler and the statistics travel with the saved model.

    The columns of a table encoded by :class:`~sklearn_gce.TabularEncoder`
    come in blocks, which ``GCEClassifier`` describes to the network with
    ``n_numeric`` and ``categorical_cardinalities``: the first ``n_numeric``
    columns are numeric (standardised and embedded piecewise-linearly), the
    next ones binary (missing-value indicators and one-hot columns:
    standardised only, an embedding of a 0/1 column being a step that the
    first layer already has), and the last ``len(categorical_cardinalities)``
    hold integer codes of categories, embedded by
    :class:`~sklearn_gce.CategoricalEmbedding`. The defaults treat every
    column as numeric, as for a plain array.

    With ``additive_member=True`` (how ``GCEClassifier`` builds its default
    network) an additive model trains beside the MLP: a linear layer on its
    own copy of the same inputs and embeddings, so a sum of one learned
    piecewise-linear function per feature. It has no hidden layer, so it can
    hardly memorise wrong labels, and it is the better model of the two on
    near-linear tables; the MLP is the better one on tables with
    interactions. In training mode the module returns both models' logits,
    ``(batch, 2, n_classes)``, and each model is trained with the loss on its
    own logits; in evaluation mode it returns the log of the mean of their
    probabilities, ``(batch, n_classes)``, so the softmax of the output is
    the average of the two models (weighted by the buffer ``model_weights``,
    ``[0.5, 0.5]`` unless ``GCEClassifier`` kept one model alone).
    :meth:`run_alone` runs one model alone, with ordinary
    ``(batch, n_classes)`` logits in both modes.

    Parameters
    ----------
    n_features : int
        Number of input features (inferred at fit by ``GCEClassifier``).
    n_classes : int
        Number of outputs (inferred at fit by ``GCEClassifier``).
    hidden_sizes : tuple of int, default=(256, 256)
        Width of each hidden layer; ``()`` with ``numeric_embedding=None``
        gives a linear model.
    dropout : float, default=0.3
        Dropout probability after each hidden block.
    activation : {'relu', 'gelu', 'silu', 'tanh'}, default='relu'
    batch_norm : bool, default=True
        Whether hidden blocks use batch normalisation.
    numeric_embedding : {'piecewise_linear', None}, default='piecewise_linear'
        ``'piecewise_linear'`` feeds the first layer each standardised feature
        *and* its :class:`PiecewiseLinearEmbedding` (bins from the training
        quantiles). On real tables, with threshold-like, discrete or
        heavy-tailed columns, it closes most of the gap to gradient-boosted
        trees. ``None`` feeds the standardised features only: better on
        smooth continuous data with many uninformative columns (see
        :ref:`benchmarks`), and lighter on wide inputs such as images.
    n_bins, d_embedding : int, default=64, 8
        Options of the embedding; ignored without one. ``d_embedding`` is
        also the size of each category's vector. 64 bins resolve the values
        of a column that names a category or a threshold (a prestige score,
        a distance between two airports) far better than 16 (chosen on the
        tuning seeds of ``benchmarks/accuracy.py``, see :ref:`benchmarks`);
        ``GCEClassifier`` and ``GCEClassifierCV`` give rows of more than 2,500
        inputs fewer.
    n_numeric : int or None, default=None
        How many of the first columns are numeric and get the
        piecewise-linear embedding; ``None``: every column but the
        categorical codes.
    categorical_cardinalities : sequence of int, default=()
        Number of categories of each integer-coded column; these columns are
        the last ones of the input.
    additive_member : bool, default=False
        Also train the additive model described above and predict the mean
        of both models' probabilities. ``GCEClassifier``'s default network
        sets it (``module__additive_member=False`` turns it off there); the
        benchmarks chose it (:ref:`benchmarks`).

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import MLP
    >>> net = MLP(n_features=4, n_classes=3, hidden_sizes=(8,))
    >>> net.set_input_scaling(torch.randn(50, 4))  # GCEClassifier does this at fit
    >>> net.eval()(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    >>> MLP(n_features=4, n_classes=3, numeric_embedding=None).layers[0]
    Linear(in_features=4, out_features=256, bias=True)

    Two numeric columns, an indicator and a column of codes of 50 categories:

    >>> net = MLP(n_features=4, n_classes=3, n_numeric=2, categorical_cardinalities=[50])
    >>> net.layers[0].in_features  # 3 standardised + 2 x 8 ramps + 8 for the codes
    27

    The MLP and the additive model side by side:

    >>> net = MLP(n_features=4, n_classes=3, additive_member=True)
    >>> net.train()(torch.zeros(5, 4)).shape  # each model's logits, for the loss
    torch.Size([5, 2, 3])
    >>> mean = net.eval()(torch.zeros(5, 4)).exp()  # log of the mean probabilities
    >>> mean.shape, bool(torch.allclose(mean.sum(1), torch.ones(5)))
    (torch.Size([5, 3]), True)
    """

    def __init__(
        self,
        n_features,
        n_classes,
        hidden_sizes=(256, 256),
        dropout=0.3,
        activation="relu",
        batch_norm=True,
        numeric_embedding="piecewise_linear",
        n_bins=64,
        d_embedding=8,
        n_numeric=None,
        categorical_cardinalities=(),
        additive_member=False,
    ):
        super().__init__()
        if not isinstance(additive_member, (bool, np.bool_)):
            raise ValueError(f"additive_member must be True or False, got {additive_member!r}.")
        n_dense, n_numeric = check_mlp_options(
            n_features, dropout, activation, numeric_embedding, n_numeric, categorical_cardinalities
        )
        n_codes = len(categorical_cardinalities)
        self.n_numeric = int(n_numeric)
        self.register_buffer("input_mean", torch.zeros(n_dense))
        self.register_buffer("input_scale", torch.ones(n_dense))
        width = n_dense
        self.embedding = None
        if numeric_embedding == "piecewise_linear" and n_numeric:
            self.embedding = PiecewiseLinearEmbedding(n_numeric, n_bins, d_embedding)
            width += n_numeric * d_embedding
        self.categorical = None
        if n_codes:
            self.categorical = CategoricalEmbedding(categorical_cardinalities, d_embedding)
            width += n_codes * d_embedding
        layers = []
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers += [_ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)
        # Its own weights and embeddings: shared ones would let the MLP's
        # gradients memorise through them.
        self.additive = None
        if additive_member:
            self.additive = MLP(
                n_features, n_classes, hidden_sizes=(), dropout=dropout, activation=activation,
                batch_norm=batch_norm, numeric_embedding=numeric_embedding, n_bins=n_bins,
                d_embedding=d_embedding, n_numeric=n_numeric,
                categorical_cardinalities=categorical_cardinalities,
            )
            # What evaluation mode averages: the two models' probabilities,
            # weighted (GCEClassifier may keep one model alone, see
            # ``network_choice_``).
            self.register_buffer("model_weights", torch.tensor([0.5, 0.5]))
        # None: both models run; "mlp" or "additive": that one alone (see run_alone).
        self._alone = None

    @contextmanager
    def run_alone(self, which):
        """Run one model alone, ``'mlp'`` or ``'additive'``, inside the ``with`` block.

        Its output is then ordinary ``(batch, n_classes)`` logits in both
        modes: how ``GCEClassifier`` trains the two models one after the
        other, and scores each on the hold-out.
        """
        if which not in ("mlp", "additive"):
            raise ValueError(f"which must be 'mlp' or 'additive', got {which!r}.")
        before, self._alone = self._alone, which
        try:
            yield self
        finally:
            self._alone = before

    @torch.no_grad()
    def set_input_scaling(self, X):
        """Standardise inputs with the mean and spread of ``X`` (rows, features).

        With a numeric embedding, also set its bins from ``X``'s quantiles.
        ``GCEClassifier`` calls it once, when the network is built at ``fit``
        (with ``partial_fit``: from the first batch). Categorical codes (the
        last columns) are left as they are.
        """
        sample = fit_input_scaling(self, X)
        if self.embedding is not None:
            self.embedding.set_bins(sample)
        if getattr(self, "additive", None) is not None:
            self.additive.set_input_scaling(X)

    def forward(self, X):
        alone = getattr(self, "_alone", None)
        if getattr(self, "additive", None) is not None and alone == "additive":
            return self.additive(X)
        X = X.reshape(len(X), -1)
        n_dense = len(self.input_mean)
        # Slices only where there are columns to drop: each costs an autograd
        # node per batch, and all-numeric inputs (arrays) need none.
        dense = (X if X.shape[1] == n_dense else X[:, :n_dense]) - self.input_mean
        dense = dense / self.input_scale
        parts = [dense]
        # Attributes absent from older pickles: every column numeric, no codes.
        if getattr(self, "embedding", None) is not None:
            n_numeric = getattr(self, "n_numeric", n_dense)
            parts.append(self.embedding(dense if n_numeric == n_dense else dense[:, :n_numeric]))
        if getattr(self, "categorical", None) is not None:
            parts.append(self.categorical(X[:, n_dense:]))
        logits = self.layers(torch.cat(parts, dim=1) if len(parts) > 1 else dense)
        if getattr(self, "additive", None) is None or alone == "mlp":
            return logits
        both = torch.stack([logits, self.additive(X)], dim=1)
        if self.training:
            return both
        return log_mean_proba(both, dim=1, weights=self.model_weights)
