"""Models pickled by an earlier version: a clear message to fit them again, never a half-working model.

0.3 split the training core out of the estimators (``_base.py``) and renamed
modules; an estimator pickled by 0.2 or earlier names modules that are gone,
or lacks the state the new code reads. Loading one raises an error that says
so and what to do, from the import system (a module that is gone) or from the
estimator's ``__setstate__`` (:data:`PICKLE_FORMAT`).
"""

import importlib.abc
import sys

# Bumped whenever a fitted estimator's pickled state changes shape.
PICKLE_FORMAT = 3

REFIT = (
    "This model was pickled by an earlier version of sklearn-gce (0.2 or older), whose "
    "fitted state this version cannot read. Fit it again with this version (the "
    "training data and the same parameters give the same model), or load it with the "
    "version that saved it."
)

# Modules of 0.2 that 0.3 renamed, and their new names.
_RENAMED = {
    "sklearn_gce._data": "sklearn_gce._rows",
    "sklearn_gce._members": "sklearn_gce._stacked",
    "sklearn_gce._member_selection": "sklearn_gce._member_stopping",
    "sklearn_gce._side_by_side": "sklearn_gce._additive_model",
    "sklearn_gce._noise": "sklearn_gce._injector",
}


class IncompatiblePickleError(ValueError):
    """Raised when loading an estimator pickled by an incompatible, earlier version.

    Examples
    --------
    >>> from sklearn_gce._compat import IncompatiblePickleError
    >>> issubclass(IncompatiblePickleError, ValueError)
    True
    """


class _RenamedModules(importlib.abc.MetaPathFinder):
    """Answers an import of a module 0.3 renamed (what an old pickle asks for) with the refit message."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _RENAMED:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (it is {_RENAMED[fullname]!r} since sklearn-gce 0.3). {REFIT}",
                name=fullname,
            )
        return None


def check_pickle_format(state, owner):
    """Raise :class:`IncompatiblePickleError` unless ``state`` was pickled in this version's format."""
    if state.get("_pickle_format") != PICKLE_FORMAT:
        raise IncompatiblePickleError(f"Cannot load this {owner}. {REFIT}")


if not any(isinstance(finder, _RenamedModules) for finder in sys.meta_path):
    sys.meta_path.append(_RenamedModules())
