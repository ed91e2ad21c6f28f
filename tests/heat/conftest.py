"""A real heat-engine in this process (EngineService on PostgreSQL, fake:// RPC).

The engine comes from :mod:`heat_alarming.resources.embedded`; Keystone is the
only cloud service Heat touches here (trusts, stack-domain users and EC2 keys
of the scaling policies), and Heat's own FakeKeystoneClient stands in for it
because no keystone runs in these tests.
"""
from __future__ import annotations

import os
import time
import uuid

from heat_alarming.resources.embedded import select_threading_backend

select_threading_backend()  # before anything imports heat

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from heat_alarming.metering import ManualClock  # noqa: E402
from heat_alarming.resources.embedded import ROOT, EmbeddedEngine  # noqa: E402

__all__ = ["ROOT"]


@pytest.fixture(scope="session")
def heat_database(postgres_server):
    """A PostgreSQL database for Heat itself."""
    name = f"ha_heat_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name})
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def heat_engine(tmp_path_factory, heat_database):
    workdir = tmp_path_factory.mktemp("heat-engine")
    clock = ManualClock(float(int(time.time()) // 60 * 60))
    # the only worker of this engine: no joining grace to wait out
    engine = EmbeddedEngine(heat_database, os.path.join(workdir, "alarms.sqlite"),
                            clock=clock, join_grace=False)
    try:
        yield engine
    finally:
        engine.stop()
