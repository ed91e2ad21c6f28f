"""The sample journal: pushed samples shared by every worker through the alarm database.

A pushed batch may arrive at any worker; it is appended here whole, and the
worker that owns the batch's project tails the journal into its store
(``read(position, its projects)``, then the position moves to the last id
read).  After a take-over the new owner replays the journal over the store's
retention, so its windows are whole again at once.  The journal is pruned to
the retention.

**Ordering.** A tail reads ``id > position``, so it relies on one guarantee:
*a batch is visible to readers no later than every batch with a higher id*.
Ids are handed out when a row is inserted and become visible when its
transaction commits; on PostgreSQL and MariaDB two appenders may commit in
the other order, and a tail that read the later id first would pass the
earlier batch for ever.  Appends are therefore serialised per alarm
database, so ids commit in order:

* PostgreSQL: ``pg_advisory_xact_lock`` inside the append's transaction,
  before the insert; the lock goes with the transaction, after its commit is
  visible to every new snapshot.
* MariaDB/MySQL: ``GET_LOCK`` on the append's connection before the insert,
  ``RELEASE_LOCK`` after the commit has returned (named locks are not
  transactional; the name carries the database's, as they are server-wide).
* SQLite: writes are serial already (one writer holds the database lock from
  its insert to its commit).

Why this rather than remembering the ids skipped below the high-water mark
(gap tracking) or reading behind a lag window: serialising keeps a tail's
state one integer (the position stored in snapshots keeps its meaning, and
a take-over's replay needs nothing else), it cannot miss a batch however long
a transaction takes (a lag window can), and its cost is small and bounded.
The lock covers one insert of one batch, already encoded before the
transaction starts and bounded by ``max_samples_per_signal`` and
``max_signal_bytes``; nothing else runs while it is held, so one project's
append waits for another's for about one insert and commit (a millisecond or
two on PostgreSQL for 1,000 samples; ``benchmarks/bench_ingest.py``).  A wait
is bounded by ``lock_timeout`` (:data:`LOCK_TIMEOUT`; the append then raises
:class:`TimeoutError`, nothing is stored, and the signal fails), and on
PostgreSQL an appender that stalls inside its transaction is cut off after the
same time (``idle_in_transaction_session_timeout``).  Appends
of all projects share the one order, one transaction at a time: the commit's
WAL flush (about a millisecond) bounds them to roughly 1,000 appends, a million
samples, per second per alarm database, far above what Heat's signal path
delivers.

Ids never go back: SQLite's table is ``AUTOINCREMENT`` (otherwise a journal
pruned empty would hand out ids below a tail's position again), PostgreSQL's
sequence and InnoDB's counter only grow.

**Format.** One row per batch: ``project_id``, ``created``, ``count`` (its
samples) and ``payload``, the :class:`~heat_alarming.metering.batch.SampleBatch`
encoding (columns: float64 volumes and timestamps, each distinct series once).
A payload that cannot be read back, or that holds samples of another project
than its row's, is logged and read as an empty batch, so a tail moves past it.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming.engine import models
from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.metering.batch import BatchError, SampleBatch

LOG = logging.getLogger(__name__)
#: seconds an append waits for its turn (and, on PostgreSQL, may stall inside its
#: transaction) before it fails
LOCK_TIMEOUT = 10
_PG_LOCK = 0x4841_4A4E  # advisory lock id of journal appends ("HAJN")
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's error code for lock_timeout

#: what one signal may carry, checked (by the OS::Metering::Alarm resource) before its
#: batch is encoded and appended, so that one append's hold of the lock stays short
signal_opts = [
    cfg.IntOpt("max_samples_per_signal", default=1000, min=1,
               help="Most sample rows one OS::Metering::Alarm signal may carry."),
    cfg.IntOpt("max_signal_bytes", default=1048576, min=1,
               help="Largest OS::Metering::Alarm signal accepted, as the JSON size of "
                    "its details in bytes (heat-api's max_json_body_size bounds REST "
                    "requests, but not the engine's RPC)."),
]


class SampleJournal:
    """Append checked batches of one project; read them back in id order.

    ``append`` returns the batch's id; ids grow, and a batch is visible to
    ``read`` before any batch with a higher id (the module docstring says how).
    """

    def __init__(self, alarm_store: AlarmStore, clock: Callable[[], float] = time.time,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.alarm_store = alarm_store
        self.clock = clock
        self.lock_timeout = lock_timeout
        engine = alarm_store.engine
        self._dialect = engine.dialect.name
        # MySQL's named locks are server-wide: the database's name keeps them apart
        self._lock_name = f"heat_alarming.journal.{engine.url.database}"[:64]

    def append(self, project_id: str, batch: SampleBatch) -> int:
        """Append one batch of ``project_id`` (every sample of it); returns its id."""
        if batch.projects() - {project_id}:
            raise ValueError(f"a journal batch of project {project_id!r} holds samples "
                             "of another project")
        values = {"project_id": project_id, "created": self.clock(), "count": len(batch),
                  "payload": batch.encode()}
        insert = models.sample_journal.insert().values(**values)
        if self._dialect in ("mysql", "mariadb"):
            return self._append_mysql(insert)
        serial = self.alarm_store.write_lock if self._dialect == "sqlite" \
            else contextlib.nullcontext()
        with serial, self.alarm_store.engine.begin() as connection:
            if self._dialect == "postgresql":
                # one round trip: the timeouts for this transaction, then the lock
                # (a select list is computed left to right)
                try:
                    connection.execute(sa.text(
                        "SELECT set_config('lock_timeout', :t, true), "
                        "set_config('idle_in_transaction_session_timeout', :t, true), "
                        "pg_advisory_xact_lock(:key)"),
                        {"t": f"{math.ceil(self.lock_timeout * 1000)}ms", "key": _PG_LOCK})
                except sa.exc.OperationalError as exc:
                    if getattr(exc.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                        raise
                    raise TimeoutError(self._busy()) from None
            return int(connection.execute(insert).inserted_primary_key[0])

    def _append_mysql(self, insert) -> int:
        with self.alarm_store.engine.connect() as connection:
            got = connection.execute(sa.text("SELECT GET_LOCK(:name, :t)"),
                                     {"name": self._lock_name,
                                      "t": math.ceil(self.lock_timeout)}).scalar()
            if got != 1:
                connection.rollback()
                raise TimeoutError(self._busy())
            try:
                batch_id = int(connection.execute(insert).inserted_primary_key[0])
                connection.commit()
            finally:
                # after the commit has returned: the next append's id commits later
                connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"),
                                   {"name": self._lock_name})
                connection.rollback()
            return batch_id

    def _busy(self) -> str:
        return (f"the sample journal's append lock was not free within "
                f"{self.lock_timeout:g} s; nothing was stored")

    def read(self, after_id: int, projects: Iterable[str] | None = None,
             since: float | None = None,
             limit: int = 1000) -> list[tuple[int, str, SampleBatch]]:
        """Batches with id > ``after_id`` (of ``projects``, newer than ``since``), in id
        order, at most ``limit``: ``(id, project_id, batch)``."""
        table = models.sample_journal
        query = sa.select(table.c.id, table.c.project_id, table.c.payload).where(
            table.c.id > after_id)
        if projects is not None:
            query = query.where(table.c.project_id.in_(list(projects)))
        if since is not None:
            query = query.where(table.c.created >= since)
        query = query.order_by(table.c.id).limit(limit)
        with self.alarm_store.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(int(batch_id), project, _decoded(batch_id, project, payload))
                for batch_id, project, payload in rows]

    def prune(self, older_than: float) -> int:
        with self.alarm_store.write_lock, self.alarm_store.engine.begin() as connection:
            return connection.execute(models.sample_journal.delete().where(
                models.sample_journal.c.created < older_than)).rowcount


def _decoded(batch_id: int, project: str, payload: bytes) -> SampleBatch:
    """A stored batch read back; one that is not (or not all of its project) is empty."""
    try:
        batch = SampleBatch.decode(payload)
        if batch.projects() - {project}:
            raise BatchError("samples of another project")
        return batch
    except BatchError as exc:
        LOG.warning("Sample journal batch %s of project %s is unreadable and skipped: %s",
                    batch_id, project, exc)
        return SampleBatch.empty()
