"""Real database servers for the tests: PostgreSQL and MariaDB on 127.0.0.1.

``ensure_server(kind)`` makes the server answer (the project's set-up script
starts an installed one or installs Debian's package), ``temporary_database``
gives a new empty database on it and drops it afterwards, and
``database_url(kind, tmp_path, request)`` is the alarm database of a test that is
parametrised over ``DATABASES``.  ``HEAT_ALARMING_TEST_POSTGRES_URL`` and
``HEAT_ALARMING_TEST_MARIADB_URL`` point the tests at other servers.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from heat_alarming.engine.alarm_store import MIGRATIONS

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN_URLS = {
    "postgresql": os.environ.get(
        "HEAT_ALARMING_TEST_POSTGRES_URL",
        "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get(
        "HEAT_ALARMING_TEST_MARIADB_URL",
        "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}
ADMIN_URL = ADMIN_URLS["postgresql"]
SCRIPTS = {"postgresql": "ensure-postgresql.sh", "mariadb": "ensure-mariadb.sh"}
# every alarm database the project supports, for tests parametrised over them
DATABASES = ("sqlite", "postgresql", "mariadb")
#: the newest schema version, which a new or upgraded alarm database has
SCHEMA_HEAD = ScriptDirectory(MIGRATIONS).get_current_head()


def answers(admin_url: str) -> bool:
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def ensure_server(kind: str) -> str:
    """The admin URL of a running ``kind`` server, started or installed if needed."""
    url = ADMIN_URLS[kind]
    if not answers(url):
        subprocess.run(["bash", str(ROOT / "tools" / SCRIPTS[kind])], check=True)
    assert answers(url), f"{kind} does not answer at {url}"
    return url


@contextlib.contextmanager
def temporary_database(admin_url: str, prefix: str):
    """A new, empty database (its URL) on the server of ``admin_url``, dropped when
    the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    mysql = admin.dialect.name in ("mysql", "mariadb")
    quoted = f"`{name}`" if mysql else f'"{name}"'
    with admin.connect() as connection:
        connection.execute(sa.text(
            f"CREATE DATABASE {quoted}" + (" CHARACTER SET utf8mb4" if mysql else "")))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name + ("?charset=utf8mb4" if mysql else "")
    finally:
        with admin.connect() as connection:
            if not mysql:
                connection.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n"), {"n": name})
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
        admin.dispose()


def upgrade_in_step(url: str, barrier, results) -> None:
    """In a child process: wait at ``barrier`` with the others, then open (create or
    upgrade) the alarm store at ``url`` and put "ok" or the error on ``results``."""
    from heat_alarming.engine.alarm_store import AlarmStore
    barrier.wait(timeout=120)
    try:
        AlarmStore(url).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def database_url(kind: str, tmp_path, request) -> str:
    """A fresh alarm database of ``kind`` (one of ``DATABASES``) for one test."""
    if kind == "sqlite":
        return str(tmp_path / "alarms.sqlite")
    return request.getfixturevalue({"postgresql": "postgres_url",
                                    "mariadb": "mariadb_url"}[kind])


@contextlib.contextmanager
def alarm_database(kind: str, tmp_path_factory, request):
    """A fresh alarm database of ``kind`` for a module's tests (``tmp_path_factory`` and
    ``request`` are the fixtures'): a SQLite file, or a temporary database on the
    session's PostgreSQL or MariaDB server, dropped when the block ends."""
    if kind == "sqlite":
        yield str(tmp_path_factory.mktemp("alarm-database") / "alarms.sqlite")
        return
    server = request.getfixturevalue({"postgresql": "postgres_server",
                                      "mariadb": "mariadb_server"}[kind])
    with temporary_database(server, "ha_db") as url:
        yield url
