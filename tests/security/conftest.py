"""The security tests drive the session's in-process heat-engine (tests/support/heat_engine.py)."""
import pytest

from tests.support.heat_engine import session_engine


@pytest.fixture(scope="session")
def heat_engine(request, tmp_path_factory):
    return session_engine(request, tmp_path_factory)
