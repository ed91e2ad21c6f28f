"""The sample journal's format on every alarm database: columnar batches, ids that never go
back (not across a prune, not across the migration to this format), and a stored batch
that is damaged or claims another project read as nothing."""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from heat_alarming.engine import models
from heat_alarming.engine.alarm_store import MIGRATIONS, AlarmStore
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering.batch import SampleBatch
from tests.support.databases import DATABASES, SCHEMA_HEAD, database_url
from tests.support.journal_load import T0, batch_of


@pytest.fixture(params=DATABASES)
def url(request, tmp_path):
    return database_url(request.param, tmp_path, request)


@pytest.fixture
def journal(url):
    store = AlarmStore(url)
    yield SampleJournal(store, clock=lambda: T0)
    store.close()


def test_a_batch_reads_back_as_the_columns_appended(journal):
    batch = batch_of(7, size=1000)
    batch_id = journal.append("p", batch)
    [(read_id, project, back)] = journal.read(0, ["p"])
    assert (read_id, project) == (batch_id, "p")
    assert back.volumes.tolist() == batch.volumes.tolist()
    assert back.timestamps.tolist() == batch.timestamps.tolist()
    assert back.resource_ids == batch.resource_ids
    with journal.alarm_store.engine.connect() as connection:
        count = connection.execute(sa.select(models.sample_journal.c.count)).scalar()
    assert count == 1000


def test_a_large_batch_fits(journal):
    """More than MySQL's 64 KiB BLOB: 20,000 samples of distinct series."""
    batch = batch_of(1, size=20_000)
    assert len(batch.encode()) > 1 << 20
    journal.append("p", batch)
    assert len(journal.read(0)[0][2]) == 20_000


def test_a_batch_of_another_project_is_refused(journal):
    with pytest.raises(ValueError, match="another project"):
        journal.append("p", batch_of(1, project="q"))
    assert journal.read(0) == []


def test_ids_never_go_back_after_the_journal_is_pruned_empty(journal):
    first = journal.append("p", batch_of(1))
    assert journal.prune(T0 + 1) == 1
    assert journal.append("p", batch_of(2)) > first, "a tail at the old id still reads it"


def test_a_damaged_or_foreign_stored_batch_reads_as_empty(journal, caplog):
    good = journal.append("p", batch_of(1))
    table = models.sample_journal
    forged = batch_of(2, project="q").encode()  # q's samples filed under p
    with journal.alarm_store.engine.begin() as connection:
        connection.execute(table.insert(), [
            {"project_id": "p", "created": T0, "count": 3, "payload": b"garbage"},
            {"project_id": "p", "created": T0, "count": 3, "payload": forged}])
    last = journal.append("p", batch_of(3))
    with caplog.at_level(logging.WARNING):
        read = journal.read(0, ["p"])
    assert [i for i, _, _ in read][0] == good and read[-1][0] == last
    assert [len(b) for _, _, b in read] == [3, 0, 0, 3], "the tail moves past both"
    assert caplog.text.count("unreadable and skipped") == 2


def test_the_migration_drops_old_rows_and_ids_go_on_above_them(url):
    store = AlarmStore(url, upgrade=False)
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with store.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO ha_sample_journal (id, project_id, created, samples) "
            "VALUES (41, 'p', :t, '[]'), (42, 'p', :t, '[]')"), {"t": T0})
    store.upgrade()
    assert store.schema_version() == SCHEMA_HEAD
    journal = SampleJournal(store, clock=lambda: T0)
    assert journal.read(0) == [], "old-format rows are gone"
    assert journal.append("p", batch_of(1)) == 43, "a snapshot's position 42 keeps its meaning"
    store.close()


def test_an_empty_batch_is_a_batch(journal):
    batch_id = journal.append("p", SampleBatch.empty())
    assert [(i, len(b)) for i, _, b in journal.read(0)] == [(batch_id, 0)]
