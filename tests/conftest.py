"""Suite-wide fixtures: real database servers (tests/support/databases.py), webhooks,
and a real Prometheus with test exporters (tests/support/prometheus.py)."""
from __future__ import annotations

import logging

import pytest

from tests.support.databases import ensure_server, temporary_database
from tests.support.http_servers import Webhook
from tests.support.prometheus import ensure_prometheus, scraped_exporter


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


@pytest.fixture(scope="session")
def prometheus():
    """The running Prometheus (and node exporter) on 127.0.0.1, started or installed by
    tools/ensure-prometheus.sh; the test is skipped, with the reason, where it cannot."""
    return ensure_prometheus()


@pytest.fixture
def exporter(prometheus):
    """A prometheus-client exporter of this test, already scraped by ``prometheus``
    (its series carry the label ``exporter=<exporter.id>``); unregistered and closed
    when the test ends."""
    made, target = scraped_exporter(prometheus)
    yield made
    target.remove()
    made.close()


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A command run by ``cli.main`` points the root logger at the stderr of its call,
    which capsys closes when the test ends: every test leaves the root logger's handlers
    and level as it found them, so nothing a later test logs goes to a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``engine_clock_near_real_time`` run first of the tests/heat ones.

    The session heat-engine's clock is a manual one that the tests move forward, by
    hours over the session, while a real Prometheus stamps its samples in real time: the
    PromQL scaling test, whose alarms ask that Prometheus at the engine's time, goes
    before the tests that move the clock. (A stack test whose load starts off a period
    boundary mixes two loads in one period: tests start their loads at
    ``tests.support.heat_engine.period_boundary``.)
    """
    first = [item for item in items if item.get_closest_marker("engine_clock_near_real_time")]
    if first:
        rest = [item for item in items if item not in first]
        heat = next((i for i, item in enumerate(rest)
                     if "tests/heat/" in item.nodeid), len(rest))
        items[:] = rest[:heat] + first + rest[heat:]
