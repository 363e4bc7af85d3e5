"""pytest settings for the doctests of the package (``--doctest-modules sklearn_gce``)."""

import importlib.util

# The Accelerate integration's example needs the optional `accelerate` package
# (the `scale` extra); without it, its doctest is not collected.
collect_ignore = [] if importlib.util.find_spec("accelerate") else ["sklearn_gce/_accelerate.py"]
