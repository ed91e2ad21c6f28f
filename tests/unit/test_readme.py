"""README.md's store snippet runs as written and prints what the README says it prints."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_store_snippet_runs_as_written_and_prints_one_period():
    text = README.read_text()
    section = text.split("## Using the store from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    start, count, avg, peak = lines[0].split()
    assert float(start) % 60 == 0
    assert (count, avg, peak) == ("1", "71.5", "71.5")
