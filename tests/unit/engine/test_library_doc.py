"""docs/library.md's example runs as written and prints what the page says it prints."""
import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "library.md"


def test_the_documented_example_runs_and_prints_the_documented_output():
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    expected = re.search(r"It prints:\n\n```\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "library_doc"})
    assert out.getvalue() == expected
