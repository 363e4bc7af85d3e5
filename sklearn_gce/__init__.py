"""Generalized Cross Entropy for scikit-learn: neural networks that tolerate noisy labels.

The public API is this short list; each name lives in a module of its own.
"""

from ._classifier import GCEClassifier
from ._divergence import TrainingDivergedError
from .losses import (
    CrossEntropyLoss,
    GCELoss,
    MAELoss,
    NCERCELoss,
    SCELoss,
    TruncatedGCELoss,
    make_loss,
)
from ._noise import LabelNoiseInjector
from ._noisy_label_classifier import NoisyLabelClassifier
from .networks import MLP, PiecewiseLinearEmbedding

__version__ = "0.1.0"

__all__ = [
    "GCEClassifier",
    "TrainingDivergedError",
    "MLP",
    "PiecewiseLinearEmbedding",
    "GCELoss",
    "TruncatedGCELoss",
    "CrossEntropyLoss",
    "MAELoss",
    "SCELoss",
    "NCERCELoss",
    "make_loss",
    "LabelNoiseInjector",
    "NoisyLabelClassifier",
]
