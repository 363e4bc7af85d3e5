"""Run the command line: ``python -m sklearn_gce``."""

from ._cli import main

raise SystemExit(main())
