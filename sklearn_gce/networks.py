"""The default network: a multilayer perceptron for tabular data."""

import torch
from torch import nn

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Multilayer perceptron returning logits.

    Each hidden block is ``Linear -> BatchNorm1d -> activation -> Dropout``.
    Inputs are standardised inside the module with statistics that
    :class:`~sklearn_gce.GCEClassifier` sets from the training data (buffers
    ``input_mean`` and ``input_scale``), so raw tabular features train well
    without a scaler and the statistics travel with the saved model.

    Parameters
    ----------
    n_features : int
        Number of input features (inferred at fit by ``GCEClassifier``).
    n_classes : int
        Number of outputs (inferred at fit by ``GCEClassifier``).
    hidden_sizes : tuple of int, default=(256, 256)
        Width of each hidden layer; ``()`` gives a linear model.
    dropout : float, default=0.3
        Dropout probability after each hidden block.
    activation : {'relu', 'gelu', 'silu', 'tanh'}, default='relu'
    batch_norm : bool, default=True
        Whether hidden blocks use batch normalisation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import MLP
    >>> net = MLP(n_features=4, n_classes=3, hidden_sizes=(8,))
    >>> net.eval()(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features,
        n_classes,
        hidden_sizes=(256, 256),
        dropout=0.3,
        activation="relu",
        batch_norm=True,
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.register_buffer("input_mean", torch.zeros(n_features))
        self.register_buffer("input_scale", torch.ones(n_features))
        layers = []
        width = n_features
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers += [_ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    @torch.no_grad()
    def set_input_scaling(self, X):
        """Standardise inputs with the mean and spread of ``X`` (rows, features)."""
        X = torch.as_tensor(X, dtype=torch.float32, device=self.input_mean.device)
        X = X.reshape(len(X), -1)
        self.input_mean.copy_(X.mean(0))
        scale = X.std(0, unbiased=False)
        # Constant columns keep scale 1 instead of dividing by zero.
        self.input_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))

    def forward(self, X):
        X = X.reshape(len(X), -1)
        return self.layers((X - self.input_mean) / self.input_scale)
