"""numpydoc validation of the public API: every name of ``sklearn_gce.__all__`` and its public methods.

What is checked, and why the rest is not:

- **The public names** (each class's and function's own docstring) pass every
  check of ``numpydoc.validate`` except those in ``NAME_EXCLUDED``: the
  parameters documented are those of the signature, in its order, each with a
  type and a description (PR01-PR07, PR09, PR10); sections known and in
  numpydoc's order (GL06, GL07); a one-line summary ending with a period (SS01,
  SS03, SS04, SS06); return values described (RT01, RT03); well-formed See Also
  entries (SA02-SA04). The entry points a user starts from (``ENTRY_POINTS``)
  must also have See Also and Examples sections, and every See Also entry of a
  public name must name something that exists.
- **Their public methods** (those the package defines, inherited ones
  included) are held to what is written being right: known sections in order,
  a summary line, documented parameters that exist, in the signature's order
  (``METHOD_CODES``). A method's docstring may be a summary alone; once it has a
  Parameters section, that section documents every parameter (PR01). A
  method of the package's own must have a docstring (GL08); one that overrides
  a method of a base class (torch's ``forward``, skorch's hooks, the loss
  modules' ``per_sample``), and a property that is a constructor parameter,
  may rely on the base's or the parameter's documentation.

``KNOWN_FAILURES`` lists the docstrings that do not pass yet, each with the
file to fix; they are expected to fail (strictly: a fixed one fails the test
until its entry is removed).
"""

import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate").validate
from numpydoc.docscrape import NumpyDocString  # noqa: E402

import sklearn_gce  # noqa: E402

NAME_EXCLUDED = {
    "ES01": "an extended summary: a one-line summary is enough for a small helper",
    "EX01": "an Examples section: required of the entry points only (ENTRY_POINTS)",
    "SA01": "a See Also section: required of the entry points only (ENTRY_POINTS)",
    "RT02": "a named return value ('self : object'), as scikit-learn writes them",
    "PR08": "a description that starts with a code literal (``None``, ``'auto'``)",
    "SS02": "a summary that starts with a code literal",
    "SS05": "the summary's grammatical mood ('Returns' or 'Return')",
}
METHOD_CODES = {"GL06", "GL07", "GL08", "GL09", "GL10", "SS01", "SS03", "SS04",
                "PR01", "PR02", "PR03", "PR05", "PR06", "PR10", "SA02", "SA03", "SA04"}
ENTRY_POINTS = {"GCEClassifier", "GCEClassifierCV", "LabelNoiseInjector", "NoisyLabelClassifier",
                "find_label_issues"}

# target -> (the codes it fails, the file to fix). Remove an entry once its docstring passes.
KNOWN_FAILURES = {}


def _public_methods(cls):
    """(name, function) of the public methods and properties the package defines on ``cls``."""
    for name, member in inspect.getmembers(cls):
        function = member.fget if isinstance(member, property) else member
        if name.startswith("_") or not callable(function):
            continue
        if not (getattr(function, "__module__", None) or "").startswith("sklearn_gce"):
            continue  # torch's, skorch's or scikit-learn's own, documented there
        if isinstance(member, property) and name in inspect.signature(cls).parameters:
            continue  # a constructor parameter, documented as one
        yield name, function


def _overrides(cls, name):
    """Whether ``cls.name`` overrides a method of a base class (torch's ``forward``, skorch's hooks,
    the loss modules' ``per_sample``): the base declares what it does."""
    mro = cls.__mro__
    owner = next(i for i, base in enumerate(mro) if name in vars(base))
    return any(name in vars(base) for base in mro[owner + 1:])


def _targets():
    for name in sklearn_gce.__all__:
        obj = getattr(sklearn_gce, name)
        yield name
        if inspect.isclass(obj):
            for method, _ in _public_methods(obj):
                yield f"{name}.{method}"


TARGETS = list(_targets())


def checked_errors(target):
    """The numpydoc errors of ``sklearn_gce.<target>`` that this suite checks: {code: messages}."""
    errors = validate(f"sklearn_gce.{target}")["errors"]
    if "." not in target:
        codes = {code for code, _ in errors} - set(NAME_EXCLUDED)
        if target in ENTRY_POINTS:
            codes |= {code for code, _ in errors if code in ("SA01", "EX01")}
    else:
        cls_name, method = target.split(".")
        cls = getattr(sklearn_gce, cls_name)
        function = getattr(cls, method)
        function = function.fget if isinstance(function, property) else function
        codes = {code for code, _ in errors} & METHOD_CODES
        if _overrides(cls, method):
            codes.discard("GL08")
        if not NumpyDocString(inspect.getdoc(function) or "")["Parameters"]:
            codes.discard("PR01")  # a summary alone: nothing documented, nothing to match
    return {code: [message for c, message in errors if c == code] for code in sorted(codes)}


def _param(target):
    if target in KNOWN_FAILURES:
        return pytest.param(target, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[target][1]))
    return target


@pytest.mark.parametrize("target", [_param(target) for target in TARGETS])
def test_numpydoc_validation(target):
    errors = checked_errors(target)
    assert not errors, f"sklearn_gce.{target}: " + "; ".join(
        f"{code} {message}" for code, messages in errors.items() for message in messages)


def test_known_failures_name_existing_docstrings():
    assert not set(KNOWN_FAILURES) - set(TARGETS), "remove the entries of names that are gone"


def _resolve(reference):
    """The object a See Also entry names: a name of the package, or a dotted import path."""
    if hasattr(sklearn_gce, reference.split(".")[0]):
        obj = sklearn_gce
        for part in reference.split("."):
            obj = getattr(obj, part)
        return obj
    parts = reference.split(".")
    if len(parts) == 1:
        raise AttributeError(f"sklearn_gce has no {reference}")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(reference)


@pytest.mark.parametrize("name", sklearn_gce.__all__)
def test_see_also_names_exist(name):
    doc = NumpyDocString(inspect.getdoc(getattr(sklearn_gce, name)) or "")
    for references, _ in doc["See Also"]:
        for reference, _ in references:
            reference = reference.removeprefix("~")
            try:
                _resolve(reference)
            except AttributeError:
                pytest.fail(f"sklearn_gce.{name}'s See Also names {reference}, which does not exist")
            except ImportError as exc:  # an optional project not installed here
                pytest.skip(f"{reference}: {exc}")
