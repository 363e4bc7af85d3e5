"""Class-dependent noise attacked directly: estimate the noise transition matrix, then train through it.

Under class-dependent noise a label of true class ``i`` becomes ``j`` with
probability ``T[i, j]``. Forward correction (Patrini et al., CVPR 2017)
trains the network's clean-class probabilities ``p`` through that matrix: the
loss sees ``p @ T``, the distribution of the *noisy* label, so the network is
free to put its mass on the true class. ``T`` is estimated without clean
labels by confident learning (Northcutt, Jiang and Chuang, JAIR 2021), from
the predictions of a first model trained with a robust loss.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .networks import log_mean_proba

__all__ = ["ForwardCorrectedLoss", "NoiseCorrection", "directed_flip_rate", "estimate_transition_matrix"]

# noise_correction='auto': correct (predicting with the mean of both networks) where the estimated noise
# has some direction, directed_flip_rate above 0.05. Chosen on the tuning seeds and tables of
# benchmarks/auto_correction.py, checked on a held-out seed and table: symmetric noise estimates at most
# 0.035, class-mapping and pair-flip noise at 40% at least 0.059 (median 0.19 to 0.22), so neither sits on
# the threshold, as class-mapping noise did on 0.3's 0.15 (its median estimate was 0.149). A paired test
# on the early-stopping hold-out's noisy labels was measured there too and had no power.
AUTO_RULE = (0.05, None)
# GCEClassifierCV(cv=k) also judges on every row out of fold, and keeps its rule of 0.3 (measured by
# benchmarks/cv_correction.py): correct above 0.15, drop a correction whose mean predicts the given
# out-of-fold labels significantly worse (McNemar's z < -1.645, one-sided 5%).
CROSS_FITTED_RULE = (0.15, -1.645)
_AUTO_MIN_PER_CLASS = 10


def mcnemar_z(targets, first_proba, second_proba):
    """McNemar's statistic of the second classifier against the first on the same rows.

    ``(gained - lost) / sqrt(gained + lost)`` over the rows where exactly one
    of them predicts ``targets``: positive where the second is right more
    often; 0 where they never disagree. One-sided 5%: ``z >= 1.645``.

    Parameters
    ----------
    targets : ndarray of int, shape (n_samples,)
    first_proba, second_proba : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.repeat([0, 1], 50)
    >>> right, wrong = np.eye(2)[labels], np.eye(2)[1 - labels]
    >>> mcnemar_z(labels, np.where(np.arange(100)[:, None] < 9, wrong, right), right)
    3.0
    """
    first_right = np.argmax(first_proba, axis=1) == targets
    second_right = np.argmax(second_proba, axis=1) == targets
    gained, lost = int((second_right & ~first_right).sum()), int((first_right & ~second_right).sum())
    return float((gained - lost) / np.sqrt(gained + lost)) if gained + lost else 0.0


def estimate_transition_matrix(labels, pred_probs):
    """Estimate the noise transition matrix from noisy labels and predicted probabilities.

    Confident learning, as implemented by cleanlab: the confident joint counts
    the samples of each noisy label whose predicted probability of a class
    reaches that class's average self-confidence, calibrated to the label
    counts; the noise matrix follows from it.

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Noisy labels, encoded as ``0..K-1``.
    pred_probs : array-like of shape (n_samples, K)
        Predicted class probabilities, ideally out-of-sample (or from a model
        that has not memorised the noise, such as one trained with a robust
        loss and stopped early).

    Returns
    -------
    T : ndarray of shape (K, K)
        ``T[i, j]`` estimates the probability that a sample of true class
        ``i`` carries label ``j``; rows sum to 1. The orientation of
        :attr:`LabelNoiseInjector.transition_matrix_`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce import estimate_transition_matrix
    >>> rng = np.random.RandomState(0)
    >>> true = rng.randint(0, 2, 2000)
    >>> noisy = np.where(rng.rand(2000) < 0.2, 1 - true, true)
    >>> proba = np.eye(2)[true] * 0.8 + 0.1        # a model that learnt the true classes
    >>> np.round(estimate_transition_matrix(noisy, proba), 1)
    array([[0.8, 0.2],
           [0.2, 0.8]])
    """
    from cleanlab.count import compute_confident_joint, estimate_latent

    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    joint = compute_confident_joint(labels, pred_probs)
    # cleanlab's noise matrix is P(label = row | true class = column).
    _, noise_matrix, _ = estimate_latent(joint, labels)
    return noise_matrix.T


def directed_flip_rate(transition_matrix):
    """How much of the label noise in ``T`` goes one way: per class, the largest flip minus the average one.

    For true class ``i`` the row ``T[i]`` spends ``1 - T[i, i]`` on wrong
    labels; this is the part of it that favours one wrong class,
    ``max_{j != i} T[i, j] - (1 - T[i, i]) / (K - 1)``, averaged over the
    classes. Clean labels and symmetric noise give 0 (their wrong labels are
    spread evenly); pair-flip noise at rate ``r`` gives ``r (K - 2) / (K - 1)``.
    It is what forward correction can undo and a robust loss cannot:
    with ``noise_correction='auto'``, ``GCEClassifier`` corrects when the
    estimated matrix's rate is above 0.05, ``GCEClassifierCV`` above 0.15.
    Two classes always give 0 (their
    one wrong label has nowhere else to go).

    Parameters
    ----------
    transition_matrix : array-like of shape (K, K)
        ``T[i, j]``: probability that true class ``i`` is labelled ``j``
        (rows sum to 1), e.g. from :func:`estimate_transition_matrix`.

    Returns
    -------
    rate : float
        In ``[0, 1)``.

    Examples
    --------
    >>> from sklearn_gce import directed_flip_rate, pairflip_transition_matrix, symmetric_transition_matrix
    >>> round(directed_flip_rate(pairflip_transition_matrix(5, 0.4)), 3)   # 0.4 * 3 / 4
    0.3
    >>> round(directed_flip_rate(symmetric_transition_matrix(5, 0.4)), 3)
    0.0
    """
    T = np.asarray(transition_matrix, dtype=np.float64)
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise ValueError(f"transition_matrix must be square, got shape {T.shape}.")
    n_classes = len(T)
    if n_classes < 3:
        return 0.0  # the one wrong label has no alternative to be favoured over
    off = T.copy()
    np.fill_diagonal(off, -np.inf)
    spread = (1 - np.diag(T)) / (n_classes - 1)
    return float(max(0.0, np.mean(off.max(axis=1) - spread)))


class ForwardCorrectedLoss(nn.Module):
    """A loss computed on the noisy-label distribution ``p @ T`` (forward correction).

    Parameters
    ----------
    loss : torch.nn.Module
        Any loss of :mod:`sklearn_gce.losses`; it receives ``log(p @ T)`` as
        its logits (a log-distribution, so its softmax is ``p @ T`` itself).
    transition_matrix : array-like of shape (K, K)
        ``T[i, j]``: probability that true class ``i`` is labelled ``j``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce import ForwardCorrectedLoss, GCELoss
    >>> T = torch.tensor([[0.6, 0.4], [0.0, 1.0]])
    >>> loss = ForwardCorrectedLoss(GCELoss(q=1.0, reduction="none"), T)
    >>> logits = torch.tensor([[10.0, -10.0]])    # sure of class 0
    >>> loss(logits, torch.tensor([1]))           # label 1 is expected 40% of the time
    tensor([0.6000])
    """

    def __init__(self, loss, transition_matrix):
        super().__init__()
        self.loss = loss
        T = torch.as_tensor(np.asarray(transition_matrix), dtype=torch.float32)
        self.register_buffer("log_transition", torch.log(T.clamp_min(torch.finfo(T.dtype).tiny)))

    def noisy_log_proba(self, logits):
        """``log(p @ T)``, computed in log space."""
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        log_p = F.log_softmax(logits, dim=-1)
        # the buffer follows the logits (a loss that an accelerator left on the CPU)
        log_transition = self.log_transition.to(logits.device)
        # (..., K) -> (..., K, 1) + (K, K), summed over the clean class; (batch, members, K) too
        return torch.logsumexp(log_p.unsqueeze(-1) + log_transition, dim=-2)

    def forward(self, input, target, weight=None):
        return self.loss(self.noisy_log_proba(input), target, weight)

    def per_sample(self, input, target):
        """The wrapped loss's per-sample values on ``p @ T`` (for stacked members: per member)."""
        return self.loss.per_sample(self.noisy_log_proba(input), target)

    def reduce(self, values, weight=None):
        """The wrapped stacked loss's reduction (``MemberLoss.reduce``)."""
        return self.loss.reduce(values, weight)

    @torch.no_grad()
    def optimal_weight(self, input, target):
        """The truncated loss's weights, judged on the noisy-label distribution."""
        return self.loss.optimal_weight(self.noisy_log_proba(input), target)


class MeanWithUncorrected(nn.Module):
    """What ``noise_correction='auto'`` predicts with when it corrects: the mean of two networks.

    ``corrected`` was trained through the estimated transition matrix,
    ``uncorrected`` is the first network, the one the matrix was estimated
    from. Averaging their probabilities keeps most of what the correction
    gains and bounds what a wrong estimate costs (see
    :ref:`benchmarks`). In evaluation mode the module returns the log of the
    mean of the two networks' probabilities, so their softmax is that mean;
    in training mode the corrected network's output alone, the uncorrected
    one being frozen.

    Parameters
    ----------
    corrected, uncorrected : torch.nn.Module
        Networks returning logits (or log-probabilities) for the same classes.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gce._correction import MeanWithUncorrected
    >>> a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> mean = MeanWithUncorrected(a, b).eval()
    >>> x = torch.randn(4, 3)
    >>> expected = (torch.softmax(a(x), -1) + torch.softmax(b(x), -1)) / 2
    >>> bool(torch.allclose(torch.softmax(mean(x), -1), expected, atol=1e-6))
    True
    """

    def __init__(self, corrected, uncorrected):
        super().__init__()
        self.corrected = corrected
        self.uncorrected = uncorrected.requires_grad_(False)

    def forward(self, X):
        if self.training:
            return self.corrected(X)
        return log_mean_proba(torch.stack([self.corrected(X), self.uncorrected(X)]), dim=0)


class NoiseCorrection:
    """What ``noise_correction`` asks of one ``fit``: estimate the noise, decide, and correct.

    The estimators' ``fit`` (``_base._train_correcting``) trains a first network whenever
    :meth:`estimates` says so, hands its probabilities of the training rows
    to :meth:`estimate`, and trains again through the matrix where
    :meth:`corrects`. Under ``'auto'`` the first network is kept and
    :meth:`combine` makes the network that predicts with the mean of both;
    where the fit has held-out probabilities, :meth:`confirmed` then decides
    whether that correction stands.

    Parameters
    ----------
    mode : {None, 'forward', 'auto'}
        The estimator's ``noise_correction``.
    rule : tuple of (float, float or None) or None, default=None
        Under ``'auto'``: the directed flip rate above which it corrects,
        and McNemar's ``z`` the correction must reach on held-out rows to
        stand (``None``: no such check); ``None``: :data:`AUTO_RULE`.

    Attributes
    ----------
    transition_matrix : ndarray of shape (n_classes, n_classes)
        The estimate, once :meth:`estimate` has run.
    rate : float
        Its :func:`directed_flip_rate`.
    z : float
        McNemar's statistic of the last :meth:`confirmed` under ``'auto'``
        (positive: the mean of both networks predicts the given labels more
        often than the first alone).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce._correction import NoiseCorrection
    >>> labels = np.repeat([0, 1, 2], 20)
    >>> correction = NoiseCorrection("auto")
    >>> correction.estimates(labels, n_classes=3)
    True
    >>> _ = correction.estimate(labels, np.eye(3)[labels] * 0.9 + 0.1 / 3)  # clean labels
    >>> correction.corrects()
    False
    """

    def __init__(self, mode, rule=None):
        self.mode = mode
        self.rule = AUTO_RULE if rule is None else rule

    def estimates(self, targets, n_classes):
        """Whether the fit trains a first network to estimate the matrix (``'auto'``: >= 10 labels per class)."""
        if self.mode is None:
            return False
        if self.mode == "forward":
            return True
        return bool(np.bincount(np.asarray(targets), minlength=n_classes).min() >= _AUTO_MIN_PER_CLASS)

    def estimate(self, targets, proba):
        """Estimate the transition matrix from the encoded labels and the first network's probabilities.

        Every row, the held-out ones included: a network trained with a
        robust loss and stopped early has not memorised the wrong labels.
        """
        self.transition_matrix = estimate_transition_matrix(targets, proba)
        self.rate = directed_flip_rate(self.transition_matrix)
        return self.transition_matrix

    def corrects(self):
        """Whether to train again through the matrix: always under ``'forward'``, where the noise has a direction under ``'auto'``."""
        return self.mode == "forward" or self.rate > self.rule[0]

    @property
    def checks(self):
        """Whether held-out rows judge the correction (:meth:`confirmed`)."""
        return self.mode == "auto" and self.rule[1] is not None

    @property
    def keeps_first(self):
        """Whether the first network stays, to predict with the mean of both (``'auto'``)."""
        return self.mode == "auto"

    def confirmed(self, targets, first_proba, mean_proba):
        """Whether the correction stands, judged on rows neither network trained on.

        Where the rule has a ``z`` (:attr:`checks`, ``GCEClassifierCV(cv=k)``
        out of fold): unless the mean of both networks predicts the given
        labels worse than the first network alone, by McNemar's test on the
        rows where exactly one of them is right (``z`` below the rule's). The
        given labels are noisy, but a classifier nearer the true classes
        agrees with them more often wherever the noise leaves every class its
        own label most often (Chen et al., ICML 2019); a wrong matrix (a
        class too rare to estimate its row) shows as a drop. Otherwise the
        correction always stands. Rows count equally (``sample_weight``
        weights the training losses only, as for cleanlab's scores). Sets
        :attr:`z`.

        Parameters
        ----------
        targets : ndarray of shape (n_samples,)
            The given (noisy) labels, encoded.
        first_proba, mean_proba : ndarray of shape (n_samples, n_classes)
            Held-out probabilities of the first network and of the mean of
            both.

        Returns
        -------
        bool

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_gce._correction import CROSS_FITTED_RULE, NoiseCorrection
        >>> labels = np.repeat([0, 1], 100)
        >>> right, wrong = np.eye(2)[labels], np.eye(2)[1 - labels]
        >>> correction = NoiseCorrection("auto", CROSS_FITTED_RULE)
        >>> correction.confirmed(labels, right, np.where(np.arange(200)[:, None] < 20, wrong, right))
        False
        >>> correction.confirmed(labels, right, np.where(np.arange(200)[:, None] < 2, wrong, right))
        True
        """
        if not self.checks:
            return True
        self.z = mcnemar_z(targets, first_proba, mean_proba)
        return bool(self.z >= self.rule[1])

    def announce(self):
        """What ``verbose`` prints when ``'auto'`` trains again."""
        return (f"noise_correction='auto': the estimated noise has a direction (directed flip "
                f"rate {self.rate:.3f} > {self.rule[0]}); training again with forward correction, to "
                "predict with the mean of both networks.")

    def announce_dropped(self):
        """What ``verbose`` prints when ``'auto'`` drops the correction it trained."""
        return (f"noise_correction='auto': the mean of both networks predicts the given held-out labels "
                f"worse than the first alone (McNemar z = {self.z:.2f} < {self.rule[1]}); the "
                "estimated matrix is kept, the correction dropped: predicting with the first network.")

    @staticmethod
    def loss(loss, transition_matrix):
        """``loss`` computed on the noisy-label distribution ``p @ T``."""
        return ForwardCorrectedLoss(loss, transition_matrix)

    @staticmethod
    def combine(corrected, uncorrected):
        """The network ``'auto'`` predicts with where it corrected: the mean of both (in ``corrected``'s mode)."""
        return MeanWithUncorrected(corrected, uncorrected).train(corrected.training)
