"""Sphinx configuration of the sklearn-gce documentation.

Build (from the project root; no network needed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Add ``-D plot_gallery=0`` to skip running the examples while editing.
"""

import os
import sys
from pathlib import Path

import matplotlib

# Figures are drawn off-screen, whatever the environment asks for.
os.environ["MPLBACKEND"] = "Agg"
matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the checkout, even when another copy of the package is installed.
sys.path.insert(0, str(ROOT))

import sklearn_gce  # noqa: E402
import torch  # noqa: E402

# sphinx-gallery runs the examples in this process. Their networks are small
# and gain nothing from several CPU threads, while PyTorch's threads slow down
# many-fold when the cores are busy with other work (measured here: 25 s with
# one thread against 570 s with two, for plot_noisy_digits.py on two loaded
# cores). Set SKLEARN_GCE_DOCS_THREADS to use more.
torch.set_num_threads(int(os.environ.get("SKLEARN_GCE_DOCS_THREADS", "1")))

# -- Project -----------------------------------------------------------------
project = "sklearn-gce"
author = "the sklearn-gce developers"
copyright = "the sklearn-gce developers"
version = release = sklearn_gce.__version__

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# No network at build time: cross-references to other projects stay plain text.
intersphinx_mapping = {}

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
autodoc_inherit_docstrings = False  # do not show skorch's docstrings as ours
add_module_names = False

# The class template (docs/_templates/autosummary/class.rst) lists the methods;
# numpydoc must not add its own member tables on top.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every examples/plot_*.py runs at build time and its figures are embedded.
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_gce",),
    "reference_url": {"sklearn_gce": None},
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "within_subsection_order": "FileNameSortKey",
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-gce {release}"
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": [], "cli": [], "benchmarks": []}
html_static_path = []

# -- Benchmark results -------------------------------------------------------
# docs/benchmarks.rst shows the result files of benchmarks/ when they exist; a
# checkout without them builds without warnings.
BENCHMARK_RESULTS = [
    ("accuracy.md", "Accuracy under label noise (``benchmarks/accuracy.py``)", "markdown"),
    ("accuracy.png", None, None),
    ("trees.md", "Tree members beside the networks (``benchmarks/trees.py``)", "markdown"),
    ("speed.md", "Fit speed (``benchmarks/speed.py``)", "markdown"),
    ("tune_defaults.md", "Sweeps behind the defaults (``benchmarks/tune_defaults.py``)", "markdown"),
]


def _benchmark_results():
    results = ROOT / "benchmarks" / "results"
    lines = []
    for name, title, language in BENCHMARK_RESULTS:
        path = results / name
        if not path.is_file():
            continue
        rel = os.path.relpath(path, DOCS).replace(os.sep, "/")
        if language is None:  # a figure
            lines += [f".. image:: {rel}", f"   :alt: {name}", ""]
            continue
        lines += [title, "-" * len(title), "", f"From ``benchmarks/results/{name}``:", "",
                  f".. literalinclude:: {rel}", f"   :language: {language}", ""]
    if not lines:
        lines = [".. note::", "",
                 "   No result files were found in ``benchmarks/results/`` when this page",
                 "   was built: run the commands above to produce them.", ""]
    return "\n".join(lines)


def _add_benchmark_results(app, docname, source):
    if docname == "benchmarks":
        source[0] = source[0].replace(".. benchmark-results-here", _benchmark_results())


def _always_reread_benchmarks(app, env, added, changed, removed):
    # Result files may appear or change between builds: re-read that page.
    return ["benchmarks"] if "benchmarks" in env.found_docs else []


def setup(app):
    app.connect("source-read", _add_benchmark_results)
    app.connect("env-get-outdated", _always_reread_benchmarks)
