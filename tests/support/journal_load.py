"""Helpers for the sample-journal ordering tests: a commit held open, the server's view
of an append waiting for its turn, and appenders in threads or processes.

``HeldCommit`` holds the first commit made on an engine (from the thread that
makes it) until the test releases it, so an earlier append's transaction stays
open while later ones run: the commit order the journal must survive.
"""
from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.sample import Sample

T0 = 1_767_225_600.0


def batch_of(tag: int, size: int = 3, project: str = "p") -> SampleBatch:
    """A small checked batch whose volumes carry ``tag`` (to tell batches apart)."""
    return SampleBatch.from_samples(
        [Sample("cpu_util", float(tag), f"vm-{k}", project_id=project, timestamp=T0 + k)
         for k in range(size)], now=T0)


class HeldCommit:
    """Blocks the first COMMIT on ``engine`` until :meth:`release` (or the block's end)."""

    def __init__(self, engine: sa.engine.Engine, deadline: float = 30.0) -> None:
        self.engine = engine
        self.deadline = deadline
        self.holding = threading.Event()
        self._go = threading.Event()
        self._used = False

    def _on_commit(self, connection) -> None:
        if self._used:
            return
        self._used = True
        self.holding.set()
        self._go.wait(self.deadline)

    def __enter__(self) -> HeldCommit:
        sa.event.listen(self.engine, "commit", self._on_commit)
        return self

    def release(self) -> None:
        self._go.set()

    def __exit__(self, *exc) -> None:
        self.release()
        sa.event.remove(self.engine, "commit", self._on_commit)


class StatementWatch:
    """Whether a statement sent on ``engine`` has not returned yet (SQLite's writer waits
    inside its INSERT for the database lock)."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self.open = 0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args) -> None:
        self.open += 1

    def _after(self, *args) -> None:
        self.open -= 1


def waiting_appenders(alarm_store: AlarmStore) -> int:
    """Sessions of the alarm database that the server shows waiting for the journal's
    append lock (PostgreSQL's advisory lock, MariaDB's named lock)."""
    with alarm_store.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            return int(connection.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND NOT granted AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())")).scalar())
        return int(connection.execute(sa.text(
            "SELECT count(*) FROM information_schema.processlist "
            "WHERE info LIKE 'SELECT GET_LOCK%%' AND id <> CONNECTION_ID()")).scalar())


def jittered(engine: sa.engine.Engine, seed: int, most: float = 0.003) -> None:
    """Delay every commit on ``engine`` by up to ``most`` seconds, so that transactions
    of concurrent appenders overlap and commit in every order."""
    rng = random.Random(seed)
    sa.event.listen(engine, "commit", lambda connection: time.sleep(rng.random() * most))


def append_many(url: str, projects: list[str], count: int, seed: int) -> list[tuple[int, str]]:
    """Append ``count`` batches round the ``projects`` from a fresh alarm store (a worker of
    its own; the schema is there already: alembic's upgrade is not thread-safe), commits
    jittered; returns the (id, project) of each."""
    store = AlarmStore(url, upgrade=False)
    jittered(store.engine, seed)
    journal = SampleJournal(store)
    done = []
    try:
        for k in range(count):
            project = projects[(seed + k) % len(projects)]
            done.append((journal.append(project, batch_of(seed * 100_000 + k, 2, project)),
                         project))
    finally:
        store.close()
    return done


def append_in_process(url: str, projects: list[str], count: int, seed: int, queue) -> None:
    """A child process's appender (multiprocessing target): puts its list on ``queue``."""
    try:
        queue.put(append_many(url, projects, count, seed))
    except Exception as exc:  # the parent fails the test with the reason
        queue.put(f"{type(exc).__name__}: {exc}")
