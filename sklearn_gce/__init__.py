"""Generalized Cross Entropy for scikit-learn: neural networks that tolerate noisy labels.

The public API is this short list; each name lives in a module of its own.
"""

from importlib.metadata import PackageNotFoundError, version

from . import _compat  # noqa: F401 (old pickles: a message to refit)
from ._accelerate import AcceleratedGCEClassifier
from ._classifier import GCEClassifier
from ._classifier_cv import GCEClassifierCV
from ._find_label_issues import find_label_issues
from ._stacked import MemberLoss, MemberMLP
from ._correction import ForwardCorrectedLoss, directed_flip_rate, estimate_transition_matrix
from ._divergence import TrainingDivergedError
from .losses import (
    CrossEntropyLoss,
    GCELoss,
    MAELoss,
    NCERCELoss,
    SCELoss,
    TruncatedGCELoss,
    NCEAGCELoss,
    ANLCELoss,
    CEEpsMAELoss,
    make_loss,
)
from ._injector import LabelNoiseInjector
from ._noisy_label_classifier import NoisyLabelClassifier
from .trees import GCELGBMClassifier, GCEObjective, lq_grad_hess
from ._tabular import TabularEncoder
from .networks import MLP, CategoricalEmbedding, PiecewiseLinearEmbedding
from .noise_models import (
    instance_transition_rows,
    mapping_transition_matrix,
    pairflip_transition_matrix,
    symmetric_transition_matrix,
)

try:
    __version__ = version("sklearn-gce")
except PackageNotFoundError:  # a checkout on sys.path, not installed
    __version__ = "unknown"

__all__ = [
    "GCEClassifier",
    "GCEClassifierCV",
    "find_label_issues",
    "MemberMLP",
    "MemberLoss",
    "AcceleratedGCEClassifier",
    "ForwardCorrectedLoss",
    "estimate_transition_matrix",
    "directed_flip_rate",
    "TrainingDivergedError",
    "MLP",
    "PiecewiseLinearEmbedding",
    "CategoricalEmbedding",
    "TabularEncoder",
    "GCELoss",
    "TruncatedGCELoss",
    "CrossEntropyLoss",
    "MAELoss",
    "SCELoss",
    "NCERCELoss",
    "NCEAGCELoss",
    "ANLCELoss",
    "CEEpsMAELoss",
    "make_loss",
    "LabelNoiseInjector",
    "NoisyLabelClassifier",
    "GCELGBMClassifier",
    "GCEObjective",
    "lq_grad_hess",
    "symmetric_transition_matrix",
    "pairflip_transition_matrix",
    "mapping_transition_matrix",
    "instance_transition_rows",
]
