"""Schema migrations on SQLite, PostgreSQL and MariaDB: several workers starting at once
on one fresh database all come up, and the schema is migrated once."""
import multiprocessing

import pytest
import sqlalchemy as sa

from heat_alarming.engine.alarm_store import (
    AlarmStore,
    MigrationLockTimeout,
    migration_lock,
)
from tests.support.databases import DATABASES, SCHEMA_HEAD, database_url, upgrade_in_step

WORKERS = 4


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    return database_url(request.param, tmp_path, request)


def test_workers_upgrading_one_fresh_database_at_once_all_succeed(database):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    children = [context.Process(target=upgrade_in_step, args=(database, barrier, results))
                for _ in range(WORKERS)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert outcomes == ["ok"] * WORKERS
    store = AlarmStore(database, upgrade=False)
    try:
        with store.engine.connect() as connection:
            versions = connection.execute(sa.text(
                "SELECT version_num FROM ha_alembic_version")).scalars().all()
        assert versions == [SCHEMA_HEAD], "one schema version, the newest"
        assert {"ha_alarms", "ha_alarm_history", "ha_notifications", "ha_workers",
                "ha_sample_journal"} <= set(sa.inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_an_upgrade_that_cannot_get_the_lock_says_so_after_its_timeout(database):
    holder = AlarmStore(database, upgrade=False)
    waiter = AlarmStore(database, upgrade=False)
    try:
        with holder.engine.connect() as connection, migration_lock(connection, 5):
            with pytest.raises(MigrationLockTimeout, match="being upgraded by another"):
                waiter.upgrade(timeout=0.5)
        waiter.upgrade(timeout=5)  # free again
        assert waiter.schema_version() == SCHEMA_HEAD
    finally:
        holder.close()
        waiter.close()
