"""Suite-wide fixtures: real database servers (tests/support/databases.py) and webhooks."""
from __future__ import annotations

import pytest

from tests.support.databases import ensure_server, temporary_database
from tests.support.http_servers import Webhook


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a running PostgreSQL on 127.0.0.1, started or installed if needed."""
    return ensure_server("postgresql")


@pytest.fixture(scope="session")
def mariadb_server() -> str:
    """The admin URL of a running MariaDB on 127.0.0.1, started or installed if needed."""
    return ensure_server("mariadb")


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with temporary_database(postgres_server, "ha_test") as url:
        yield url


@pytest.fixture
def mariadb_url(mariadb_server):
    """A fresh, empty MariaDB database for one test, dropped afterwards."""
    with temporary_database(mariadb_server, "ha_test") as url:
        yield url


@pytest.fixture
def hooks():
    """``hooks(**kwargs)`` starts a loopback webhook (tests/support/http_servers.py);
    every one started is closed when the test ends."""
    made = []

    def make(**kwargs):
        made.append(Webhook(**kwargs))
        return made[-1]
    yield make
    for hook in made:
        hook.close()
