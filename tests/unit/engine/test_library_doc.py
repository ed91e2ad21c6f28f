"""docs/library.md's example runs as written and prints what the page says it prints, on
every alarm database (the page's in-memory SQLite, a SQLite file, PostgreSQL, MariaDB)."""
import contextlib
import io

import pytest

from tests.support.databases import DATABASES, database_url
from tests.support.docs import LIBRARY as DOC
from tests.support.docs import printed, python_example

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
