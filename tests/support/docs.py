"""The examples of the docs, as the tests run them: the code and what the page says it prints."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "docs" / "library.md"
EXPLAIN = ROOT / "docs" / "explain.md"


def python_example(text: str) -> str:
    """The first ```python block of a page (or of one section of it)."""
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def printed(text: str) -> str:
    """The block after "It prints:", as the example's standard output."""
    return re.search(r"It prints:\n\n```\n(.*?)```", text, re.S).group(1)
