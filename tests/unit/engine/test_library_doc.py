"""docs/library.md's example runs as written and prints what the page says it prints, on
every alarm database (the page's in-memory SQLite, a SQLite file, PostgreSQL, MariaDB);
so does docs/explain.md's."""
import contextlib
import io

import pytest

from tests.support.databases import DATABASES, database_url
from tests.support.docs import EXPLAIN, printed, python_example
from tests.support.docs import LIBRARY as DOC

IN_MEMORY = 'AlarmStore("sqlite://")'


@pytest.mark.parametrize("kind", ("as written",) + DATABASES)
def test_the_documented_example_runs_and_prints_the_documented_output(kind, tmp_path,
                                                                      request):
    text = DOC.read_text()
    code, expected = python_example(text), printed(text)
    if kind != "as written":
        assert IN_MEMORY in code
        code = code.replace(IN_MEMORY, f"AlarmStore({database_url(kind, tmp_path, request)!r})")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "library_doc"})
    assert out.getvalue() == expected


def test_the_explain_page_example_prints_what_the_page_says():
    text = EXPLAIN.read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(python_example(text), str(EXPLAIN), "exec"), {"__name__": "explain_doc"})
    assert out.getvalue() == printed(text)
