"""Candidate networks for ``tune_defaults.py`` (architecture ideas tried without editing the package).

A library of the benchmarks, not a script.
"""

import math

import torch
from torch import nn

from sklearn_gce import MLP


class PeriodicEmbeddingMLP(nn.Module):
    """MLP on periodic embeddings of each (standardised) feature.

    Each feature ``x_j`` becomes ``ReLU(W_j [sin(2 pi c_j x_j), cos(2 pi c_j x_j)])``
    with ``n_frequencies`` trainable frequencies ``c_j ~ N(0, sigma)`` and a
    per-feature linear map to ``d_embedding`` (Gorishniy et al., 2022, "On
    embeddings for numerical features in tabular deep learning", PLR
    embeddings). The embeddings are concatenated and fed to an ``MLP``.
    """

    def __init__(self, n_features, n_classes, n_frequencies=16, sigma=0.1, d_embedding=8,
                 hidden_sizes=(256, 256), dropout=0.1, batch_norm=True):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * sigma)
        bound = 1 / math.sqrt(2 * n_frequencies)
        self.weight = nn.Parameter(
            torch.empty(n_features, 2 * n_frequencies, d_embedding).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, d_embedding).uniform_(-bound, bound))
        self.mlp = MLP(n_features * d_embedding, n_classes, hidden_sizes=hidden_sizes,
                       dropout=dropout, batch_norm=batch_norm, numeric_embedding=None)

    def forward(self, X):
        z = 2 * math.pi * self.frequencies * X.unsqueeze(-1)  # (N, F, m)
        z = torch.cat([torch.sin(z), torch.cos(z)], dim=-1)  # (N, F, 2m)
        z = torch.relu(torch.einsum("nfm,fmd->nfd", z, self.weight) + self.bias)
        return self.mlp(z.reshape(len(X), -1))



class PiecewiseLinearMLP(MLP):
    """``MLP`` on piecewise-linear encodings of each feature (quantile bins).

    Each feature ``x_j`` becomes ``n_bins`` ramps ``clamp((x_j - b_{t-1}) /
    (b_t - b_{t-1}), 0, 1)`` over its training quantiles ``b_0 < ... < b_T``
    (Gorishniy et al., 2022, "PLE"): a fixed, monotone, tree-like re-coding
    that makes heavy-tailed and threshold-like features easy for the MLP.
    Being an ``MLP`` subclass, ``GCEClassifier`` calls its
    ``set_input_scaling(X)`` at fit, which computes the bins here.

    Kept to reproduce the ``PLE16`` rows of ``tune_defaults.md``; the package's own
    ``MLP(numeric_embedding='piecewise_linear')`` grew out of it (a learned
    map per feature, the raw feature beside it).
    """

    def __init__(self, n_features, n_classes, n_bins=16, **kwargs):
        # the encoding is done here; the MLP's own embedding stays off
        kwargs["numeric_embedding"] = None
        super().__init__(n_features * n_bins, n_classes, **kwargs)
        self.n_bins = n_bins
        edges = torch.linspace(-2, 2, n_bins + 1).repeat(n_features, 1)
        self.register_buffer("edges", edges)

    @torch.no_grad()
    def set_input_scaling(self, X):
        X = torch.as_tensor(X, dtype=torch.float32, device=self.edges.device)
        X = X.reshape(len(X), -1)
        sample = X[torch.randperm(len(X), device=X.device)[:20000]]
        qs = torch.linspace(0, 1, self.n_bins + 1, device=X.device)
        self.edges.copy_(torch.quantile(sample, qs, dim=0).T)

    def forward(self, X):
        X = X.reshape(len(X), -1)
        lo, hi = self.edges[:, :-1], self.edges[:, 1:]
        width = (hi - lo).clamp_min(1e-6)
        z = ((X.unsqueeze(-1) - lo) / width).clamp(0, 1)
        return self.layers(z.reshape(len(X), -1))
