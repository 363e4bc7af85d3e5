"""Many networks in one: the stacked members of :class:`~sklearn_gce.GCEClassifierCV`.

A grid of ``q`` values and losses, or an ensemble of one setting, is trained
as ``n_members`` independent networks whose weights are stacked along a
leading member dimension: every layer is one batched matrix product over all
members, every batch goes through all of them, and one optimiser step updates
them all. The loss is the *sum* of the members' losses, so each member's
gradient is exactly the gradient of its own loss: with an element-wise
optimiser (Adam, SGD) a member trains as it would alone on the same batches.
"""

import inspect
import math
from numbers import Integral

import numpy as np
import torch
from torch import nn

from .losses import _check_q, _target_log_prob, lq, make_loss
from .networks import (
    _ACTIVATIONS,
    MLP,
    PiecewiseLinearEmbedding,
    check_mlp_options,
    fit_input_scaling,
    piecewise_linear_ramps,
)

__all__ = ["MemberAverage", "MemberMLP", "MemberLoss"]


def _uniform(shape, bound):
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class _Stacked(nn.Module):
    """A module whose weights stack the members; ``active`` (training) or ``evaluated`` (evaluation) selects some.

    Both are member indices, or None for every member.
    """

    active = None
    evaluated = None

    def computed(self):
        """The members this forward pass computes (None: all)."""
        return self.active if self.training else self.evaluated

    def pick(self, tensor):
        """The slices of ``tensor`` (member dimension first) of the members this pass computes."""
        members = self.computed()
        return tensor if members is None else tensor[members]


class _MemberLinear(_Stacked):
    """``n_members`` linear maps, initialised as ``torch.nn.Linear`` initialises one.

    Takes ``(n_members, batch, in)`` or a shared ``(batch, in)`` input and
    returns ``(n_members, batch, out)``.
    """

    def __init__(self, n_members, n_in, n_out):
        super().__init__()
        bound = 1 / math.sqrt(n_in) if n_in else 0.0
        self.weight = _uniform((n_members, n_in, n_out), bound)
        self.bias = _uniform((n_members, 1, n_out), bound)

    def forward(self, X):
        weight, bias = self.pick(self.weight), self.pick(self.bias)
        if X.ndim == 2:
            # One input for every member: a single (batch, in) x (in, members * out) product.
            members, n_in, n_out = weight.shape
            out = X @ weight.permute(1, 0, 2).reshape(n_in, members * n_out)
            return out.view(len(X), members, n_out).transpose(0, 1) + bias
        return torch.baddbmm(bias, X, weight)


class _MemberBatchNorm(_Stacked):
    """Batch normalisation of each member's features over the batch, as ``BatchNorm1d`` per member."""

    def __init__(self, n_members, n_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_members, 1, n_features))
        self.bias = nn.Parameter(torch.zeros(n_members, 1, n_features))
        self.register_buffer("running_mean", torch.zeros(n_members, 1, n_features))
        self.register_buffer("running_var", torch.ones(n_members, 1, n_features))
        self.momentum, self.eps = momentum, eps

    def forward(self, X):
        members, batch, width = X.shape
        weight, bias = self.pick(self.weight), self.pick(self.bias)
        if self.training and batch > 1:
            # torch's batch norm over (batch, members x features): each member's features are channels
            # of their own. Ten times faster on the CPU than the statistics written out (var_mean).
            if self.active is None:  # the kernel updates the running statistics in place
                mean, var = self.running_mean.view(-1), self.running_var.view(-1)
            else:
                mean, var = self.running_mean[self.active].reshape(-1), self.running_var[self.active].reshape(-1)
            flat = X.transpose(0, 1).reshape(batch, members * width)
            out = torch.batch_norm(flat, weight.reshape(-1), bias.reshape(-1), mean, var, True, self.momentum,
                                   self.eps, False)
            if self.active is not None:
                with torch.no_grad():
                    self.running_mean[self.active] = mean.view(members, 1, width)
                    self.running_var[self.active] = var.view(members, 1, width)
            return out.view(batch, members, width).transpose(0, 1)
        mean, var = self.pick(self.running_mean), self.pick(self.running_var)
        scale = torch.rsqrt(var + self.eps) * weight
        return torch.addcmul(bias - mean * scale, X, scale)


def _dropout(X, p, training):
    """Dropout; on the CPU with a mask drawn by ``rand_like``, twice as fast as torch's Bernoulli draws there."""
    if not training or p == 0 or X.device.type != "cpu":
        return nn.functional.dropout(X, p, training)
    return X * ((torch.rand_like(X) >= p).to(X.dtype) * (1 / (1 - p)))


class MemberMLP(_Stacked):
    """``n_members`` independent :class:`~sklearn_gce.MLP` networks evaluated as one.

    Each member has the architecture of the default ``MLP`` (standardised
    inputs, optionally their piecewise-linear embedding and learned
    embeddings of categorical codes, hidden blocks ``Linear -> BatchNorm ->
    activation -> Dropout``) and weights of its own, initialised as an
    ``MLP``'s are. What carries no weights is computed once for all members:
    the standardisation and the embedding's ramps. The output holds every
    member's logits, ``(batch, n_members, n_classes)``. The architecture's
    parameters are those of :class:`~sklearn_gce.MLP`, for every member.

    Parameters
    ----------
    n_features, n_classes : int
        Input and output sizes (inferred at fit by ``GCEClassifierCV``).
    n_members : int, default=1
        Number of networks.
    hidden_sizes : tuple of int, default=(256, 256)
        Width of each hidden layer.
    dropout : float, default=0.3
        Dropout probability after each hidden block.
    activation : {'relu', 'gelu', 'silu', 'tanh'}, default='relu'
        Activation of the hidden blocks.
    batch_norm : bool, default=True
        Whether hidden blocks use batch normalisation.
    numeric_embedding : {'piecewise_linear', None}, default='piecewise_linear'
        The numeric features' embedding, or ``None`` for none.
    n_bins, d_embedding : int, default=64, 8
        Options of the embedding; ``d_embedding`` is also the size of each
        category's vector.
    n_numeric : int or None, default=None
        How many of the first columns are numeric; ``None``: every column but
        the categorical codes.
    categorical_cardinalities : sequence of int, default=()
        Number of categories of each integer-coded (last) column.
    shared_blocks : int, default=0
        How many of the first hidden blocks (with the embeddings before them)
        all members share: a common trunk, computed once per batch and
        trained by every member's loss, under heads of their own. ``0``: the
        members share no weight. A shared trunk costs about one network
        whatever the number of members, but its members are no longer
        independent networks (they stop early together).

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import MemberMLP
    >>> net = MemberMLP(n_features=4, n_classes=3, n_members=5, hidden_sizes=(8,))
    >>> net.set_input_scaling(torch.randn(50, 4))
    >>> net.eval()(torch.zeros(2, 4)).shape
    torch.Size([2, 5, 3])
    """

    @property
    def shared_state(self):
        """State-dict keys without a member dimension: computed once for all members."""
        fixed = ("input_mean", "input_scale", "edges", "cardinalities", "offsets")
        return tuple(k for k in self.state_dict() if k in fixed or k.startswith("trunk"))

    def set_active_members(self, members):
        """Train only ``members`` (indices; ``None``: all) until called again.

        In training mode the others' logits are zeros, with no gradient:
        members that have stopped (early stopping keeps their best weights
        aside) cost nothing. Evaluation (validation, prediction, the
        truncated loss's re-weighting) computes every member, unless
        :meth:`set_evaluated_members` says otherwise.
        """
        self._set_members("active", members)

    def set_evaluated_members(self, members):
        """Compute only ``members`` (indices; ``None``: all) in evaluation mode until called again.

        The others' logits are zeros. Cross-fitting validates each member on
        the rows of its own fold only, so a batch of one fold's rows needs
        that fold's members alone.
        """
        self._set_members("evaluated", members)

    def _set_members(self, name, members):
        # (any weight's device: a member without hidden layers has no self.layers)
        members = None if members is None else torch.as_tensor(members, dtype=torch.long,
                                                               device=next(self.parameters()).device)
        if members is not None and len(members) == self.n_members:
            members = None
        for module in self.modules():
            if isinstance(module, _Stacked):
                setattr(module, name, members)

    def __init__(self, n_features, n_classes, n_members=1, *, shared_blocks=0, **options):
        unknown = sorted(set(options) - set(_MLP_OPTIONS))
        if unknown:
            raise TypeError(f"MemberMLP got unexpected argument(s) {', '.join(unknown)}.")
        options = {**_MLP_OPTIONS, **options}
        hidden_sizes, dropout, activation, batch_norm = (
            options[name] for name in ("hidden_sizes", "dropout", "activation", "batch_norm"))
        numeric_embedding, n_bins, d_embedding = options["numeric_embedding"], options["n_bins"], options["d_embedding"]
        n_numeric, categorical_cardinalities = options["n_numeric"], options["categorical_cardinalities"]
        super().__init__()
        if not (isinstance(n_members, Integral) and n_members >= 1):
            raise ValueError(f"n_members must be an int >= 1, got {n_members!r}.")
        hidden_sizes = list(hidden_sizes)
        if not (isinstance(shared_blocks, Integral) and 0 <= shared_blocks <= len(hidden_sizes)):
            raise ValueError(
                f"shared_blocks must be an int in [0, {len(hidden_sizes)}] (the hidden blocks), "
                f"got {shared_blocks!r}."
            )
        self.n_members, self.shared_blocks = int(n_members), int(shared_blocks)
        if shared_blocks:
            self._build_trunk(n_features, n_classes, hidden_sizes, dropout, activation, batch_norm,
                              numeric_embedding, n_bins, d_embedding, n_numeric, categorical_cardinalities)
            return
        cardinalities = [int(n) for n in categorical_cardinalities]
        n_dense, n_numeric = check_mlp_options(
            n_features, dropout, activation, numeric_embedding, n_numeric, cardinalities
        )
        self.n_numeric = int(n_numeric)
        self.register_buffer("input_mean", torch.zeros(n_dense))
        self.register_buffer("input_scale", torch.ones(n_dense))
        M = self.n_members
        # The ramps (no weights) are computed once; each member maps them with its own weights.
        self.n_bins = int(n_bins) if numeric_embedding and n_numeric else 0
        width_private = 0
        if self.n_bins:
            PiecewiseLinearEmbedding(n_numeric, n_bins, d_embedding)  # checks n_bins and d_embedding
            self.register_buffer("edges", torch.linspace(-2, 2, n_bins + 1).repeat(n_numeric, 1))
            self.embedding_weight = nn.Parameter(torch.randn(M, n_numeric, n_bins, d_embedding) / n_bins**0.5)
            self.embedding_bias = nn.Parameter(torch.zeros(M, 1, n_numeric, d_embedding))
            width_private += n_numeric * d_embedding
        self.categorical = None
        if cardinalities:
            sizes = torch.tensor(cardinalities, dtype=torch.long)
            self.register_buffer("cardinalities", sizes)
            self.register_buffer("offsets", 1 + torch.cumsum(sizes, 0) - sizes)
            table = torch.randn(M, 1 + int(sizes.sum()), d_embedding)
            table[:, 0] = 0  # unknown codes: a zero vector, never trained
            self.categorical = nn.Parameter(table)
            width_private += len(cardinalities) * d_embedding
        # The first layer: standardised inputs (shared) and each member's embeddings.
        sizes = list(hidden_sizes) + [n_classes]
        width = n_dense + width_private
        first = _MemberLinear(M, width, sizes[0])
        self.first_shared = nn.Parameter(first.weight.data[:, :n_dense].clone())
        self.first_private = nn.Parameter(first.weight.data[:, n_dense:].clone())
        self.first_bias = first.bias
        self.norms = nn.ModuleList(
            [_MemberBatchNorm(M, size) if batch_norm else nn.Identity() for size in hidden_sizes]
        )
        self.activation = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)  # its rate; forward draws the masks with _dropout
        self.layers = nn.ModuleList([_MemberLinear(M, a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def _build_trunk(self, n_features, n_classes, hidden_sizes, dropout, activation, batch_norm, *embedding):
        s, M = self.shared_blocks, self.n_members
        # The trunk is an MLP whose last layer is the s-th hidden layer.
        self.trunk = MLP(n_features, hidden_sizes[s - 1], hidden_sizes[: s - 1], dropout, activation,
                         batch_norm, *embedding)
        self.trunk_out = nn.Sequential(
            nn.BatchNorm1d(hidden_sizes[s - 1]) if batch_norm else nn.Identity(),
            _ACTIVATIONS[activation](),
            nn.Dropout(dropout),
        )
        sizes = hidden_sizes[s - 1:] + [n_classes]
        self.norms = nn.ModuleList(
            [_MemberBatchNorm(M, size) if batch_norm else nn.Identity() for size in hidden_sizes[s:]]
        )
        self.activation = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)  # its rate; forward draws the masks with _dropout
        self.layers = nn.ModuleList([_MemberLinear(M, a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    @torch.no_grad()
    def set_input_scaling(self, X):
        """Standardise inputs with the mean and spread of ``X``; set the embedding's bins (as ``MLP``)."""
        if self.shared_blocks:
            return self.trunk.set_input_scaling(X)
        sample = fit_input_scaling(self, X)
        if self.n_bins:
            bins = PiecewiseLinearEmbedding(self.n_numeric, self.n_bins, 1).to(self.edges.device)
            bins.set_bins(sample)
            self.edges.copy_(bins.edges)

    def forward(self, X):
        if self.shared_blocks:
            h = self.layers[0](self.trunk_out(self.trunk(X)))
            for norm, layer in zip(self.norms, self.layers[1:]):
                h = layer(_dropout(self.activation(norm(h)), self.dropout.p, self.training))
            return self._all_members(h)
        X = X.reshape(len(X), -1)
        n_dense = len(self.input_mean)
        dense = ((X if X.shape[1] == n_dense else X[:, :n_dense]) - self.input_mean) / self.input_scale
        # (members, batch, hidden): the shared inputs in one product for all members
        h = torch.einsum("bi,mio->mbo", dense, self.pick(self.first_shared)) + self.pick(self.first_bias)
        private = []
        if self.n_bins:
            numeric = dense if self.n_numeric == n_dense else dense[:, : self.n_numeric]
            ramps = piecewise_linear_ramps(numeric, self.edges)
            emb = torch.einsum("bft,mftd->mbfd", ramps, self.pick(self.embedding_weight))
            emb = emb + self.pick(self.embedding_bias)
            private.append(torch.relu(emb).flatten(2))
        if self.categorical is not None:
            codes = X[:, n_dense:].long()
            known = (codes >= 0) & (codes < self.cardinalities)
            index = torch.where(known, codes + self.offsets, 0)
            # unknown codes read row 0, times 0: a zero vector that never trains
            vectors = self.pick(self.categorical)[:, index] * known.unsqueeze(-1).to(dense.dtype)
            private.append(vectors.flatten(2))
        if private:
            private = torch.cat(private, -1) if len(private) > 1 else private[0]
            h = torch.baddbmm(h, private, self.pick(self.first_private))
        for norm, layer in zip(self.norms, self.layers):
            h = layer(_dropout(self.activation(norm(h)), self.dropout.p, self.training))
        return self._all_members(h)

    def _all_members(self, h):
        """``(members, batch, classes)`` of the computed members to ``(batch, n_members, classes)``."""
        members = self.computed()
        if members is None:
            return h.transpose(0, 1)
        out = h.new_zeros(h.shape[1], self.n_members, h.shape[2])
        out[:, members] = h.transpose(0, 1)
        return out


class MemberAverage:
    """Class probabilities from stacked logits: the mean of the chosen members' softmax.

    A module-level class, so that a fitted estimator pickles.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce._stacked import MemberAverage
    >>> logits = torch.zeros(2, 3, 4)             # 2 rows, 3 members, 4 classes
    >>> MemberAverage([0, 2])(logits).shape
    torch.Size([2, 4])
    """

    def __init__(self, members):
        self.members = np.asarray(members, dtype=np.int64)

    def __call__(self, logits):
        proba = torch.softmax(logits, dim=-1)
        if len(self.members) == proba.shape[1]:
            return proba.mean(1)
        return proba[:, torch.as_tensor(self.members, device=proba.device)].mean(1)


# Every member is an MLP: the options and their defaults are MLP's (written
# once, in its signature), but for the additive model, which members have not.
_MLP_OPTIONS = {name: p.default for name, p in inspect.signature(MLP).parameters.items()
                if name not in ("n_features", "n_classes", "additive_member")}
MemberMLP.__init__.__signature__ = inspect.Signature([
    *list(inspect.signature(MemberMLP.__init__).parameters.values())[:4],
    *[inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
      for name, default in _MLP_OPTIONS.items()],
    inspect.Parameter("shared_blocks", inspect.Parameter.KEYWORD_ONLY, default=0),
])


def member_slices(module):
    """The weights of a stacked ``module``, each with the member as first dimension (name -> tensor).

    Every entry of the state dict but those the module names in its
    ``shared_state``. Per-member snapshots (early stopping keeps each
    member's best epoch) copy slices of these tensors.
    """
    shared = set(getattr(module, "shared_state", ()))
    return {name: t for name, t in module.state_dict(keep_vars=True).items() if name not in shared}


class MemberLoss(nn.Module):
    """The sum over members of each member's loss on the same batch.

    The forward pass takes logits ``(batch, n_members, n_classes)``, targets
    ``(batch,)`` and optional weights ``(batch,)`` or ``(batch, n_members)``;
    each member's term is its weighted mean, as :mod:`sklearn_gce.losses`
    computes it, and the terms are summed.

    Parameters
    ----------
    settings : list of (str, float)
        ``(loss, q)`` for each member, in the order of the network's member
        dimension; ``q`` is used by ``'gce'`` and ``'truncated'`` only.
    k : float, default=0.5
        Truncation threshold of the ``'truncated'`` members.
    **params
        Options of the other losses (``alpha``, ``beta``, ...), as
        ``criterion__*`` sets them for ``GCEClassifier``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import GCELoss, MemberLoss
    >>> loss = MemberLoss([("gce", 0.3), ("gce", 1.0), ("ce", 0.7)])
    >>> logits, target = torch.randn(6, 3, 4), torch.randint(0, 4, (6,))
    >>> per_member = loss.per_member(logits, target)
    >>> torch.allclose(per_member[1], GCELoss(q=1.0)(logits[:, 1], target))
    True
    """

    def __init__(self, settings, k=0.5, **params):
        super().__init__()
        self.settings = [(str(name), float(q)) for name, q in settings]
        if not self.settings:
            raise ValueError("MemberLoss needs at least one member.")
        self.k = k
        # The Lq members (gce, truncated) are computed together, whatever
        # their q; any other loss once for its members stacked in the batch.
        groups = {}
        for m, (name, q) in enumerate(self.settings):
            if name in ("gce", "truncated"):
                _check_q(q)
            groups.setdefault("lq" if name in ("gce", "truncated") else name, []).append(m)
        truncated = torch.tensor([name == "truncated" for name, _ in self.settings])
        if truncated.any() and not 0 < k < 1:
            raise ValueError(f"k must be in (0, 1), got {k!r}.")
        self.groups = {}
        for name, members in groups.items():
            loss = None if name == "lq" else make_loss(name, reduction="none", **params)
            self.groups[name] = (members, loss)
            if loss is not None:
                self.add_module(f"loss_{name}", loss)
        q = torch.tensor([q for _, q in self.settings])
        self.register_buffer("q", q)
        self.register_buffer("truncated", truncated)
        # The truncated loss is L_q(p) - L_q(k) (see TruncatedGCELoss); 0 for gce.
        self.register_buffer("lq_k", torch.where(truncated, (1 - k**q) / q, torch.zeros_like(q)))

    def per_sample(self, input, target):
        """Per-sample, per-member losses, ``(batch, n_members)``."""
        if input.ndim != 3 or input.shape[1] != len(self.settings):
            raise ValueError(
                f"The network must return logits of shape (batch, n_members={len(self.settings)}, "
                f"n_classes), got {tuple(input.shape)}."
            )
        B, M, C = input.shape
        columns = [None] * M
        for name, (members, loss) in self.groups.items():
            index = slice(None) if len(members) == M else torch.tensor(members, device=input.device)
            logits = input[:, index]
            if loss is None:
                _, log_p_y = _target_log_prob(logits, target.unsqueeze(1).expand(B, len(members)))
                values = lq(log_p_y, self.q[index]) - self.lq_k[index]
            else:
                flat = logits.reshape(B * len(members), C)
                values = loss(flat, target.repeat_interleave(len(members))).view(B, len(members))
            if len(members) == M:
                return values
            for j, m in enumerate(members):
                columns[m] = values[:, j]
        return torch.stack(columns, 1)

    def reduce(self, values, weight=None):
        """Each member's weighted mean of per-sample ``values`` ``(batch, n_members)``, summed.

        ``weight`` is ``None``, ``(batch,)`` or ``(batch, n_members)``.
        """
        return self.member_means(values, weight).sum()

    @staticmethod
    def member_means(values, weight=None):
        """Each member's weighted mean of ``values`` ``(batch, n_members)``: ``(n_members,)``."""
        if weight is None:
            return values.mean(0)
        weight = weight.to(values.dtype)
        weight = weight.unsqueeze(1).expand_as(values) if weight.ndim == 1 else weight
        # a member whose every sample is pruned contributes 0, not NaN
        total = weight.sum(0).clamp_min(torch.finfo(values.dtype).tiny)
        return (values * weight).sum(0) / total

    def per_member(self, input, target, weight=None):
        """Each member's (weighted) mean loss, ``(n_members,)``."""
        return self.member_means(self.per_sample(input, target), weight)

    def forward(self, input, target, weight=None):
        return self.reduce(self.per_sample(input, target), weight)

    @torch.no_grad()
    def optimal_weight(self, input, target):
        """The truncated members' keep-weights for a fixed network, ``(batch, n_members)``.

        1 where the member gives the label a probability above ``k``, else 0;
        always 1 for the other members.
        """
        B, M, _ = input.shape
        _, log_p_y = _target_log_prob(input, target.unsqueeze(1).expand(B, M))
        return ((log_p_y > math.log(self.k)) | ~self.truncated).float()
