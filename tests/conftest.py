"""Suite-wide fixtures: real database servers for the tests that need them."""
from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import uuid

import pytest
import sqlalchemy as sa

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("HEAT_ALARMING_TEST_POSTGRES_URL",
                           "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres")


def _postgres_answers() -> bool:
    engine = sa.create_engine(ADMIN_URL)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a running PostgreSQL on 127.0.0.1, started or installed if needed."""
    if not _postgres_answers():
        subprocess.run(["bash", str(ROOT / "tools" / "ensure-postgresql.sh")], check=True)
    assert _postgres_answers(), f"PostgreSQL does not answer at {ADMIN_URL}"
    return ADMIN_URL


@contextlib.contextmanager
def temporary_database(admin_url: str, prefix: str):
    """A new, empty PostgreSQL database (its URL), dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database for one test, dropped afterwards."""
    with temporary_database(postgres_server, "ha_test") as url:
        yield url
