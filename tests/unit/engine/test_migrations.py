"""Schema migrations on SQLite, PostgreSQL and MariaDB: several workers starting at once
on one fresh database all come up, and the schema is migrated once."""
import json
import multiprocessing

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.alarm_store import (
    MIGRATIONS,
    AlarmStore,
    MigrationLockTimeout,
    migration_lock,
)
from heat_alarming.engine.coordination import Membership
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


def test_a_database_of_the_previous_schema_is_upgraded_with_its_rows(database):
    old = AlarmStore(database, upgrade=False)
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(sa.text(
            "INSERT INTO ha_alarms (alarm_id, project_id, name, definition, state, "
            "state_reason, updated_at) VALUES ('a1', 'abc', 'n', :d, 'ok', 'r', 1.5)"),
            {"d": json.dumps({"alarm_id": "a1", "project_id": "abc", "name": "n",
                              "threshold_rule": {"meter_name": "m", "threshold": 1}})})
        connection.execute(sa.text(
            "INSERT INTO ha_workers (worker_id, host, pid, heartbeat) "
            "VALUES ('w1', 'h', 1, 2.5)"))
    old.close()
    store = AlarmStore(database)
    try:
        assert store.schema_version() == SCHEMA_HEAD
        (alarm,) = store.load_alarms()
        assert (alarm.alarm_id, alarm.project_id, alarm.state) == ("a1", "abc", "ok")
        store.save_alarm(Alarm.from_dict({"alarm_id": "A1", "name": "n", "project_id": "ABC",
                                          "threshold_rule": {"meter_name": "m",
                                                             "threshold": 1}}))
        assert sorted(a.alarm_id for a in store.load_alarms()) == ["A1", "a1"]
        assert Membership(store, "w1", clock=lambda: 3.0).live() == ("w1",)
    finally:
        store.close()


def test_postgresql_alarm_pages_keep_room_for_the_next_state(request, tmp_path):
    # a round rewrites every changed alarm's row: with room on its page, PostgreSQL
    # keeps the new version there without touching the indexes
    store = AlarmStore(database_url("postgresql", tmp_path, request))
    try:
        with store.engine.connect() as connection:
            options = connection.execute(sa.text(
                "SELECT reloptions FROM pg_class WHERE relname = 'ha_alarms'")).scalar()
        assert "fillfactor=70" in options
    finally:
        store.close()
