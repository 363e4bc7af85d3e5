"""The classes of a fit, and labels encoded as positions among them."""

import numpy as np
from sklearn.preprocessing import LabelEncoder


class ClassEncoder:
    """Owns ``classes_`` and turns labels of any type into positions in it, with the checks of each call.

    An estimator keeps the fitted ``classes_`` (the public attribute); this
    object holds the rules that relate a call's labels to them: a first fit
    needs two classes (``classes`` may name more, as ``partial_fit`` takes
    them), a warm fit the same classes, a later ``partial_fit`` call no new
    ones. Encoding is scikit-learn's :class:`~sklearn.preprocessing.LabelEncoder`.

    Parameters
    ----------
    owner : str
        The estimator's name, for the messages.
    classes : ndarray or None, default=None
        The classes of an earlier fit, or ``None`` before the first.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gce._labels import ClassEncoder
    >>> encoder = ClassEncoder("GCEClassifier").fit(np.array(["b", "a", "b"]))
    >>> encoder.classes_
    array(['a', 'b'], dtype='<U1')
    >>> encoder.transform(np.array(["b", "a"]))
    array([1, 0])
    """

    def __init__(self, owner, classes=None):
        self.owner = owner
        self.classes_ = classes

    def fit(self, y, classes=None, incremental=False):
        """Set ``classes_`` from ``y`` (or from ``classes``, which must hold every label of ``y``)."""
        seen = np.unique(y)
        new_classes = seen if classes is None else np.unique(classes)
        if len(new_classes) < 2:
            hint = " Pass `classes` on the first call of partial_fit." if incremental else ""
            raise ValueError(
                f"{self.owner} needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {new_classes.tolist()[0]!r}.{hint}"
            )
        unknown = np.setdiff1d(seen, new_classes)
        if unknown.size:
            raise ValueError(
                f"y contains labels not in `classes`: {unknown.tolist()}; classes is "
                f"{new_classes.tolist()}."
            )
        self.classes_ = new_classes
        return self

    def check(self, y, classes=None, incremental=False):
        """Refuse labels a fitted model cannot take: other classes on a warm fit, new ones on ``partial_fit``."""
        seen = np.unique(y)
        if incremental and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={np.unique(classes).tolist()}` is not the same as on the first "
                f"call to partial_fit, was: {self.classes_.tolist()}."
            )
        if not incremental and not np.array_equal(seen, self.classes_):
            # warm_start keeps the output layer, which is sized for classes_.
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_.tolist()}, `y` has "
                f"{seen.tolist()}."
            )
        return self

    def transform(self, y):
        """``y`` as int64 positions in ``classes_``."""
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels not in the classes seen before: {unknown.tolist()}; "
                f"classes_ is {self.classes_.tolist()}."
            )
        encoder = LabelEncoder()
        encoder.classes_ = self.classes_
        return encoder.transform(y).astype(np.int64)
