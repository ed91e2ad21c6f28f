"""The persistent alarm store: definitions, state, history, pending notifications.

SQLAlchemy on SQLite by default (a file path), PostgreSQL or MySQL/MariaDB for
deployments; the schema is created and upgraded by alembic (``migrations/``).  An
evaluation round writes its state changes, history rows and queued
notifications in one transaction, so a crash mid-round leaves either all of
the round or none of it, and a notification is queued exactly when its
transition is recorded.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from oslo_log import log as logging

from heat_alarming.engine import models
from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.sqlite_wal import Checkpointer, checkpoint_deferred

LOG = logging.getLogger(__name__)
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
STATE_TRANSITION = "state transition"
#: action URL prefixes delivered inside this process (no network): their own lane
IN_PROCESS = ("inproc:", "log:")
_MIGRATION_LOCK = 0x4841_4C52  # advisory lock id for schema upgrades ("HALR")
_MIGRATION_LOCK_NAME = "heat_alarming"  # its name's prefix for MySQL/MariaDB's GET_LOCK
#: seconds an upgrade waits for another process's upgrade before it gives up
MIGRATION_LOCK_TIMEOUT = 300.0
#: alarm ids one locking SELECT of a round names at most (a round of more alarms takes
#: several, in ascending id order, in its one transaction)
ROUND_BATCH = 1000
#: new alarms one INSERT of :meth:`AlarmStore.save_alarms` writes at most (a definition
#: of a million alarms takes many, in its one transaction): the rows, their JSON and the
#: driver's parameters exist for one batch at a time, not for every alarm at once
SAVE_BATCH = 1000
#: rows of a round's COPY made and sent at a time (PostgreSQL): the server inserts
#: one chunk while the next is made
COPY_CHUNK = 500


@dataclasses.dataclass(slots=True)  # one per transition: no __dict__ for the collector
class HistoryEntry:
    """One recorded event of an alarm (a state transition, an action outcome)."""

    event_id: str
    alarm_id: str
    type: str
    timestamp: float
    previous: str | None
    current: str | None
    reason: str
    reason_data: dict
    severity: str


#: the hex digit of a UUID's variant field (RFC 9562: binary 10xx) for each random one
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class EventIds:
    """Ids for the events of one moment (a round): version-7 UUIDs (RFC 9562), the
    milliseconds of ``now`` and then 74 random bits of each id's own.

    Ids of one round sort together and after those of earlier rounds, so the
    history's unique index on them grows at its end instead of at a random page per
    event (as version 4's would, on a history of millions of rows). The random bits
    are each id's own, not a counter's: an id is a transition's idempotency key,
    sent to webhooks, and one project's key must not tell another project's keys of
    the same round. They are drawn from ``os.urandom`` for ``block`` ids at a time,
    which a call then slices.
    """

    def __init__(self, now: float, block: int = 1024) -> None:
        millis = int(now * 1000) if math.isfinite(now) else 0
        stamp = f"{millis & 0xFFFF_FFFF_FFFF:012x}"
        self._prefix = f"{stamp[:8]}-{stamp[8:]}-7"
        self._random, self._at, self._block = "", 0, max(1, int(block))

    def __call__(self) -> str:
        at = self._at
        if at >= len(self._random):
            self._random, at = os.urandom(10 * self._block).hex(), 0
        self._at = at + 20
        r = self._random[at:at + 20]
        return f"{self._prefix}{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}"


def new_event_id(now: float) -> str:
    """One new event's id (:class:`EventIds`)."""
    return EventIds(now, block=1)()


@dataclasses.dataclass(slots=True)
class Notification:
    """An action to call for a transition, kept until it is delivered."""

    idempotency_key: str
    alarm_id: str
    action: str
    payload: dict
    next_attempt: float
    created: float
    attempts: int = 0
    last_error: str | None = None
    id: int | None = None
    project_id: str | None = None  # the alarm's project, as read back from the store

    @property
    def in_process(self) -> bool:
        """Delivered by a call inside this process (no network, no remote timeout)."""
        return self.action.startswith(IN_PROCESS)


@dataclasses.dataclass
class InvalidAlarm:
    """A stored alarm whose definition cannot be read back: it is not evaluated, and
    its state is insufficient data with ``error`` as the reason."""

    alarm_id: str
    project_id: str | None
    error: str
    state: str
    state_reason: str
    state_timestamp: float | None
    pending_state: None = None
    pending_since: None = None


def describe_error(exc: BaseException) -> str:
    """An error in a few hundred characters, for a state reason."""
    text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


def database_url(path_or_url: str) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (SQLite)."""
    if "://" in path_or_url:
        return path_or_url
    return "sqlite:///" + os.path.abspath(path_or_url)


#: the alarm database when none is named: a SQLite file in the working directory
DEFAULT_URL = "heat-alarming.sqlite"
#: seconds a new SQLite connection waits for the database's lock (its busy timeout, and
#: the longest it retries switching a fresh file to WAL)
SQLITE_BUSY_TIMEOUT = 30.0


class AlarmStore:
    """Alarm definitions and their state, history and notifications in SQL."""

    def __init__(self, url: str = DEFAULT_URL, *, upgrade: bool = True,
                 read_only: bool = False) -> None:
        """``read_only`` (a reader such as ``heat-alarming alarm``): a SQLite file is
        opened read-only and left in its journal mode; implies ``upgrade=False``."""
        self.url = database_url(url)
        kwargs: dict[str, Any] = {"future": True}
        sqlite_file = sa.engine.make_url(self.url).database if self.url.startswith(
            "sqlite") else None
        upgrade = upgrade and not read_only
        if read_only and sqlite_file and sqlite_file != ":memory:":
            location = f"file:{urllib.parse.quote(os.path.abspath(sqlite_file))}?mode=ro"
            kwargs["creator"] = lambda: sqlite3.connect(
                location, uri=True, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT)
        elif self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False,
                                    "timeout": SQLITE_BUSY_TIMEOUT}
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                # an in-memory database lives in its one connection: a pool of exactly
                # that connection, which a second thread waits for instead of sharing
                # it mid-transaction
                kwargs.update(poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=0)
        else:
            kwargs["pool_pre_ping"] = True
        if sa.engine.make_url(self.url).get_backend_name() in models.MYSQL:
            # as on PostgreSQL, each statement sees what was committed before it (InnoDB's
            # REPEATABLE READ would also lock the gaps between the ids a round locks, where
            # a concurrent definition's insert then waits, and can deadlock)
            kwargs["isolation_level"] = "READ COMMITTED"
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite") and "creator" not in kwargs:  # read-only: as it is
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name in models.MYSQL:
            sa.event.listen(self.engine, "connect", _mysql_strict)
        self._lock = threading.Lock()  # SQLite allows one writer; keep writes serial
        #: SQLite file: the checkpoints of the rounds' commits, off their path
        self.checkpointer = Checkpointer(sqlite_file, SQLITE_BUSY_TIMEOUT) \
            if self.url.startswith("sqlite") and "creator" not in kwargs \
            and sqlite_file not in (None, "", ":memory:") else None
        if upgrade:
            self.upgrade()

    @property
    def write_lock(self) -> threading.Lock:
        """Held by every write of this store's process (SQLite allows one writer)."""
        return self._lock

    def upgrade(self, timeout: float = MIGRATION_LOCK_TIMEOUT) -> None:
        """Create or upgrade the schema to the newest migration.

        Several workers start at once on one database: the first to take the
        database's migration lock migrates, the others wait for it (at most
        ``timeout`` seconds, then :class:`MigrationLockTimeout`) and find the schema
        current.
        """
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        with self.engine.connect() as connection:
            with migration_lock(connection, timeout):
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()

    def schema_version(self) -> str | None:
        with self.engine.connect() as connection:
            try:
                return connection.execute(sa.text(
                    "SELECT version_num FROM ha_alembic_version")).scalar()
            except sa.exc.DBAPIError:
                return None

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.engine.dispose()

    # -- alarms ----------------------------------------------------------
    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or replace an alarm's definition and state."""
        self.save_alarms([alarm])

    def save_alarms(self, alarms: Sequence[Alarm]) -> None:
        """Insert or replace many alarms in one transaction."""
        with self._lock, self.engine.begin() as connection:
            ids = [a.alarm_id for a in alarms]
            known = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                known.update(connection.execute(sa.select(models.alarms.c.alarm_id).where(
                    models.alarms.c.alarm_id.in_(chunk))).scalars())
            redefined = [a for a in alarms if a.alarm_id in known]
            for start in range(0, len(redefined), SAVE_BATCH):  # a batch's rows at a time
                connection.execute(_DEFINITION_UPDATE, [
                    dict(_alarm_row(a), changed_alarm_id=a.alarm_id, defined_at=time.time())
                    for a in redefined[start:start + SAVE_BATCH]])
            fresh = [a for a in alarms if a.alarm_id not in known]
            for start in range(0, len(fresh), SAVE_BATCH):
                connection.execute(models.alarms.insert(), [
                    dict(_alarm_row(a), alarm_id=a.alarm_id, defined_at=time.time())
                    for a in fresh[start:start + SAVE_BATCH]])

    def delete_alarm(self, alarm_id: str) -> bool:
        """Remove an alarm with its history and pending notifications."""
        with self._lock, self.engine.begin() as connection:
            gone = connection.execute(models.alarms.delete().where(
                models.alarms.c.alarm_id == alarm_id)).rowcount
            for table in (models.history, models.notifications):
                connection.execute(table.delete().where(table.c.alarm_id == alarm_id))
        return bool(gone)

    def definitions_signature(self) -> tuple:
        """Changes whenever an alarm is defined, redefined or deleted (not on state changes)."""
        table = models.alarms
        with self.engine.connect() as connection:
            return tuple(connection.execute(sa.select(
                sa.func.count(), sa.func.max(table.c.defined_at))).one())

    def load_alarms(self, invalid: list[InvalidAlarm] | None = None,
                    project_id: str | None = None) -> list[Alarm]:
        """Every alarm that can be read back (of ``project_id`` only, when given); a row
        that cannot (written by an older release, or by hand) is left out, logged, and
        described in ``invalid``."""
        query = sa.select(models.alarms)
        if project_id is not None:
            query = query.where(models.alarms.c.project_id == project_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        alarms = []
        for row in rows:
            try:
                alarms.append(_alarm_from_row(row))
            except Exception as exc:  # one bad row must not hide the others
                error = f"invalid stored definition: {describe_error(exc)}"
                LOG.error("Alarm %s cannot be evaluated: %s", row["alarm_id"], error)
                if invalid is not None:
                    invalid.append(InvalidAlarm(row["alarm_id"], row["project_id"], error,
                                                row["state"], row["state_reason"],
                                                row["state_timestamp"]))
        return alarms

    def load_alarm(self, alarm_id: str) -> Alarm | None:
        """One alarm with the state its owner last committed, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(models.alarms).where(
                models.alarms.c.alarm_id == alarm_id)).mappings().first()
        return None if row is None else _alarm_from_row(row)

    # -- a round ---------------------------------------------------------
    def commit_round(self, changed: Sequence[Alarm], history: Sequence[HistoryEntry],
                     notifications: Sequence[Notification], *,
                     defined_only: bool = False) -> None:
        """Write one round's state changes, history and notifications atomically.

        ``defined_only``: drop what belongs to alarms deleted while the round ran (a
        stack delete racing an evaluation), so that no history or notification outlives
        its alarm. The alarms' rows are locked until the round is written, so a delete
        either comes first and is seen here, or waits and then removes what was written.
        """
        if not (changed or history or notifications):
            return
        # the rows' own stamp of when they were written (as defined_at, which also
        # versions the definitions): the wall clock, not a round's time, which the
        # states carry in state_timestamp
        now = time.time()
        with self._lock, self.engine.connect() as connection:
            # (SQLite: the commit leaves its checkpoint to the checkpointer's thread)
            deferred = contextlib.nullcontext() if self.checkpointer is None else \
                checkpoint_deferred(connection.connection.driver_connection)
            with deferred, connection.begin():
                _write_round(connection, changed, history, notifications, now,
                             defined_only)
        if self.checkpointer is not None:
            self.checkpointer.ask()

    def record(self, entries: Iterable[HistoryEntry]) -> None:
        """Add history entries outside a round (action outcomes, for example)."""
        rows = [_history_row(h) for h in entries]
        if rows:
            with self._lock, self.engine.begin() as connection:
                connection.execute(models.history.insert(), rows)

    def history(self, alarm_id: str, limit: int = 100,
                marker: str | None = None) -> list[HistoryEntry]:
        """An alarm's history, newest first: at most ``limit`` entries.

        ``marker`` is the ``event_id`` of the last entry of the previous page; the
        page then starts just after it (keyset paging on (timestamp, row id), so
        entries recorded meanwhile neither repeat nor shift a page).  A marker that
        is not an event of this alarm raises :class:`UnknownMarker`.
        """
        table = models.history
        query = sa.select(table).where(table.c.alarm_id == alarm_id)
        with self.engine.connect() as connection:
            if marker is not None:
                after = connection.execute(
                    sa.select(table.c.timestamp, table.c.id).where(
                        table.c.alarm_id == alarm_id,
                        table.c.event_id == marker)).first()
                if after is None:
                    raise UnknownMarker(f"marker {marker!r}: no such event in the history "
                                        f"of alarm {alarm_id}")
                query = query.where(sa.or_(
                    table.c.timestamp < after.timestamp,
                    sa.and_(table.c.timestamp == after.timestamp, table.c.id < after.id)))
            query = query.order_by(table.c.timestamp.desc(), table.c.id.desc()).limit(limit)
            rows = connection.execute(query).mappings().all()
        return [HistoryEntry(r["event_id"], r["alarm_id"], r["type"], r["timestamp"],
                             r["previous"], r["current"], r["reason"],
                             json.loads(r["reason_data"] or "{}"), r["severity"])
                for r in rows]

    def prune_history(self, older_than: float) -> int:
        with self._lock, self.engine.begin() as connection:
            return connection.execute(models.history.delete().where(
                models.history.c.timestamp < older_than)).rowcount

    # -- notifications ---------------------------------------------------
    def due_notifications(self, now: float, limit: int = 100, skip: Iterable[int] = (),
                          projects: Collection[str] | None = None,
                          per_project: int | None = None) -> list[Notification]:
        """Due notifications, oldest first; of the alarms of ``projects`` if given.

        ``per_project``: at most that many rows of one project in one lane (in-process
        or remote), ranked in SQL, and the answer ordered by that rank first (every
        project's oldest row, then every project's second...), so that one project's
        thousands of due rows never fill the batch that another project's row needs.
        """
        table, alarms = models.notifications, models.alarms
        project = sa.func.coalesce(alarms.c.project_id, "")
        lane = sa.case((sa.or_(*[table.c.action.startswith(p) for p in IN_PROCESS]), 1),
                       else_=0)
        columns = [table, project.label("project")]
        if per_project is not None:
            columns.append(sa.func.row_number().over(
                partition_by=(project, lane),
                order_by=(table.c.next_attempt, table.c.id)).label("rank"))
        query = _of_projects(sa.select(*columns).select_from(table.outerjoin(
            alarms, alarms.c.alarm_id == table.c.alarm_id)).where(
            table.c.next_attempt <= now), projects)
        skip = list(skip)
        if skip:
            query = query.where(table.c.id.not_in(skip))
        if per_project is None:
            query = query.order_by(table.c.next_attempt, table.c.id).limit(limit)
        else:
            ranked = query.subquery()
            query = (sa.select(ranked).where(ranked.c.rank <= per_project)
                     .order_by(ranked.c.rank, ranked.c.next_attempt, ranked.c.id).limit(limit))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [Notification(r["idempotency_key"], r["alarm_id"], r["action"],
                             json.loads(r["payload"]), r["next_attempt"], r["created"],
                             r["attempts"], r["last_error"], r["id"], r["project"])
                for r in rows]

    def claim_notifications(self, now: float, lease: float, limit: int = 100,
                            skip: Iterable[int] = (),
                            projects: Collection[str] | None = None,
                            per_project: int | None = None) -> list[Notification]:
        """Due notifications that the caller alone is to deliver now.

        Several heat-engine workers share the store, each with a dispatcher. Claiming
        moves a due row's ``next_attempt`` ``lease`` seconds ahead, but only if nobody
        moved it since it was read, so one attempt has one deliverer. A deliverer that
        dies before it records the outcome leaves the row to be due again when the lease
        ends (delivery stays at-least-once). ``projects`` leaves the other projects'
        rows to other deliverers (a worker delivers what its own projects' alarms send);
        ``per_project`` is as in :meth:`due_notifications`.
        """
        return self.claim(self.due_notifications(now, limit, skip, projects, per_project),
                          now, lease)

    def claim(self, due: Sequence[Notification], now: float,
              lease: float) -> list[Notification]:
        """Claim rows read by :meth:`due_notifications` (those nobody moved since)."""
        if not due:
            return []
        table = models.notifications
        claimed = []
        with self._lock, self.engine.begin() as connection:  # one commit for the lot
            for item in due:
                if connection.execute(table.update().where(
                        table.c.id == item.id, table.c.next_attempt == item.next_attempt
                ).values(next_attempt=now + lease)).rowcount:
                    claimed.append(item)
        return claimed

    def next_notification_time(self, projects: Collection[str] | None = None) -> float | None:
        """When the next notification (of ``projects``' alarms, if given) falls due."""
        query = _of_projects(sa.select(sa.func.min(models.notifications.c.next_attempt)),
                             projects)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def pending_count(self, projects: Collection[str] | None = None) -> int:
        """Notifications not delivered yet (of ``projects``' alarms, if given; "" stands
        for alarms without a project): queued, waiting for a retry or in flight."""
        query = _of_projects(sa.select(sa.func.count()).select_from(models.notifications),
                             projects)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def notification_delivered(self, notification_id: int) -> None:
        with self._lock, self.engine.begin() as connection:
            connection.execute(models.notifications.delete().where(
                models.notifications.c.id == notification_id))

    def notification_retry(self, notification_id: int, attempts: int, next_attempt: float,
                           error: str) -> None:
        with self._lock, self.engine.begin() as connection:
            connection.execute(models.notifications.update().where(
                models.notifications.c.id == notification_id).values(
                attempts=attempts, next_attempt=next_attempt, last_error=storable(error[:2000])))


class UnknownMarker(LookupError):
    """A history page was asked to start after an event the alarm does not have."""


class MigrationLockTimeout(RuntimeError):
    """Another process held the schema migration lock for longer than the timeout."""


@contextlib.contextmanager
def migration_lock(connection, timeout: float):
    """Hold the database's schema migration lock on ``connection`` for the block
    (:meth:`AlarmStore.upgrade` migrates and commits inside it), or raise
    :class:`MigrationLockTimeout` after ``timeout`` seconds of waiting for it.

    PostgreSQL: a transaction-scoped advisory lock, released by the commit.
    MySQL/MariaDB: a named lock of the session (``GET_LOCK``; DDL commits implicitly
    there, so no transaction could hold it), released after the block. SQLite: the
    database's write lock (``BEGIN IMMEDIATE``), taken before the first read of the
    schema version, so the whole upgrade is one transaction of one writer.
    """
    name = connection.dialect.name
    failure = MigrationLockTimeout(
        f"the alarm database's schema is being upgraded by another process: its lock "
        f"was not free after {timeout:g} s ({connection.engine.url.render_as_string()})")
    if name == "postgresql":
        connection.execute(sa.text("SELECT set_config('lock_timeout', :ms, true)"),
                           {"ms": f"{int(timeout * 1000)}ms"})
        try:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _MIGRATION_LOCK})
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) == "55P03":  # lock_not_available
                raise failure from exc
            raise
        connection.execute(sa.text("SELECT set_config('lock_timeout', '0', true)"))
        yield
    elif name in models.MYSQL:
        # a named lock is the server's: name it after the database (at most 64 characters)
        lock = sa.text(f"CONCAT('{_MIGRATION_LOCK_NAME}:', SHA1(DATABASE()))")
        got = connection.execute(sa.select(sa.func.GET_LOCK(lock, timeout))).scalar()
        connection.commit()
        if got != 1:
            raise failure
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(sa.select(sa.func.RELEASE_LOCK(lock)))
            connection.commit()
    elif name == "sqlite":
        usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except sa.exc.OperationalError as exc:
                if "locked" in str(exc.orig):
                    raise failure from exc
                raise
            yield
        finally:
            connection.rollback()  # nothing left to roll back after the block's commit
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(usual)}")
    else:
        yield


def _mysql_strict(dbapi_connection, _record) -> None:
    """Refuse a value too long for its column rather than store it cut (what MySQL does
    when the server's ``sql_mode`` is not strict): a cut JSON document cannot be read."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
                   "'STRICT_ALL_TABLES')")
    cursor.close()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL and full syncs on every connection. Switching a file to WAL needs the
    database alone, and SQLite answers "locked" at once, without its busy wait, when
    another connection holds it (several workers opening one fresh file at once): the
    switch is retried until the busy timeout is spent."""
    cursor = dbapi_connection.cursor()
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _of_projects(query, projects: Collection[str] | None):
    """Restrict a notifications query to the alarms of ``projects`` (None: no limit;
    "" stands for alarms without a project)."""
    if projects is None:
        return query
    alarms = models.alarms
    wanted = alarms.c.project_id.in_([p for p in projects if p])
    if "" in projects:
        wanted = sa.or_(wanted, alarms.c.project_id.is_(None))
    return query.where(models.notifications.c.alarm_id.in_(
        sa.select(alarms.c.alarm_id).where(wanted)))


def _alarm_from_row(row) -> Alarm:
    data = json.loads(row["definition"])
    data.update(state=row["state"], state_reason=row["state_reason"],
                state_timestamp=row["state_timestamp"],
                pending_state=row["pending_state"], pending_since=row["pending_since"])
    return Alarm.from_dict(data, checked=False)


#: the C0 controls no database should be handed (tab, LF and CR are kept), for str.translate
_CONTROLS = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def storable(text: str | None) -> str | None:
    """``text`` as every alarm database stores it: without NUL and the other C0 controls
    (tab, LF and CR kept) and with each lone surrogate as ``?``. Reasons carry words from
    outside (a Prometheus error, a webhook's answer); PostgreSQL refuses NUL and no driver
    encodes a surrogate, and one such reason would fail the whole round's transaction,
    every project's alarms with it."""
    if text is None or (text.isascii() and text.isprintable()):
        return text
    return text.translate(_CONTROLS).encode("utf-8", "replace").decode("utf-8")


#: JSON without the blanks after separators: a definition is kept for every alarm (in
#: memory, for SQLite's ``sqlite://``), and is read back by json.loads alone
_COMPACT = (",", ":")


def _alarm_row(alarm: Alarm) -> dict:
    return {"project_id": alarm.project_id, "name": alarm.name,
            "definition": json.dumps(alarm.definition(), separators=_COMPACT),
            "state": alarm.state,
            "state_reason": storable(alarm.state_reason),
            "state_timestamp": alarm.state_timestamp,
            "pending_state": alarm.pending_state, "pending_since": alarm.pending_since,
            "updated_at": time.time()}


#: the columns of a history row and of a notification row, in the order of
#: :func:`_history_values` and :func:`_notification_values`
_HISTORY_COLUMNS = ("event_id", "alarm_id", "type", "timestamp", "previous", "current",
                    "reason", "reason_data", "severity")
_NOTIFICATION_COLUMNS = ("idempotency_key", "alarm_id", "action", "payload", "attempts",
                         "next_attempt", "created", "last_error")
#: the state columns a round writes (``updated_at`` besides), in the order of
#: :func:`_state_values` after the alarm id
_STATE_COLUMNS = ("state", "state_reason", "state_timestamp", "pending_state",
                  "pending_since")


def _made_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings, for the two documents of every
    transition (its reason data and its notification's payload).

    json.dumps makes a new encoder at every call, about half the cost of encoding a
    round's small documents; CPython's C encoder (``json.encoder.c_make_encoder``,
    what json.dumps itself makes) is made here once, with json.dumps's settings but
    no check for cycles (these documents are trees of plain values). json.dumps
    itself where that encoder is absent, or answers differently."""
    from json import encoder as stdlib
    make = getattr(stdlib, "c_make_encoder", None)
    if make is None:
        return json.dumps
    try:
        encode = make(None, json.JSONEncoder().default, stdlib.encode_basestring_ascii,
                      None, ": ", ", ", False, False, True)
    except TypeError:  # not the arguments json.encoder itself passes it
        return json.dumps

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    probe = {"a": [1, 2.5, float("nan"), -float("inf"), None, True], "\u00e9\n": {"b": "\""}}
    try:
        return dumps if dumps(probe) == json.dumps(probe) else json.dumps
    except Exception:
        return json.dumps


_dumps = _made_dumps()


def _history_values(h: HistoryEntry) -> tuple:
    return (h.event_id, h.alarm_id, h.type, h.timestamp, h.previous, h.current,
            storable(h.reason), _dumps(h.reason_data), h.severity)


def _history_row(h: HistoryEntry) -> dict:
    return dict(zip(_HISTORY_COLUMNS, _history_values(h)))


def _notification_values(n: Notification) -> tuple:
    return (n.idempotency_key, n.alarm_id, n.action, _dumps(n.payload), n.attempts,
            n.next_attempt, n.created, storable(n.last_error))


def _notification_row(n: Notification) -> dict:
    return dict(zip(_NOTIFICATION_COLUMNS, _notification_values(n)))


def _state_values(a: Alarm) -> tuple:
    return (a.alarm_id, a.state, storable(a.state_reason), a.state_timestamp,
            a.pending_state, a.pending_since)


#: one alarm's new definition and state (:meth:`AlarmStore.save_alarms`), executed with
#: every redefined alarm's row
_DEFINITION_UPDATE = models.alarms.update().where(
    models.alarms.c.alarm_id == sa.bindparam("changed_alarm_id"))
#: one alarm's new state: compiled once, executed with every changed alarm's row
_STATE_UPDATE = models.alarms.update().where(
    models.alarms.c.alarm_id == sa.bindparam("changed_alarm_id"))
#: PostgreSQL: the round's alarms (``has_state``: with a new state) are copied into a
#: table of the transaction's own, locked through it, and their states written by one
#: UPDATE from it
_PG_STATES = ("CREATE TEMPORARY TABLE ha_round_states (alarm_id varchar(64), "
              "has_state boolean, state varchar(32), state_reason text, "
              "state_timestamp double precision, pending_state varchar(32), "
              "pending_since double precision) ON COMMIT DROP")
_PG_LOCK_ROUND = ("SELECT a.alarm_id FROM ha_alarms AS a JOIN ha_round_states AS v "
                  "ON a.alarm_id = v.alarm_id ORDER BY a.alarm_id FOR UPDATE OF a")
_PG_STATE_UPDATE = (
    "UPDATE ha_alarms AS a SET " + ", ".join(f"{c} = v.{c}" for c in _STATE_COLUMNS)
    + ", updated_at = %s FROM ha_round_states AS v "
    "WHERE a.alarm_id = v.alarm_id AND v.has_state")
#: SQLite: one alarm's new state, run as an executemany
_SQLITE_STATE_UPDATE = ("UPDATE ha_alarms SET " + ", ".join(f"{c} = ?" for c in _STATE_COLUMNS)
                        + ", updated_at = ? WHERE alarm_id = ?")
#: MySQL/MariaDB: as on PostgreSQL, a temporary table of the new states (its id in the
#: collation of the ids it is joined with), filled by multi-row INSERTs
_MYSQL_STATES = ("CREATE TEMPORARY TABLE ha_round_states (alarm_id varchar(64) "
                 "CHARACTER SET utf8mb4 COLLATE {} PRIMARY KEY, state varchar(32), "
                 "state_reason mediumtext, state_timestamp double, pending_state varchar(32), "
                 "pending_since double)")
_MYSQL_STATE_UPDATE = (
    "UPDATE ha_alarms AS a JOIN ha_round_states AS v ON a.alarm_id = v.alarm_id SET "
    + ", ".join(f"a.{c} = v.{c}" for c in _STATE_COLUMNS) + ", a.updated_at = %s")
#: the backslash escapes of COPY's text format, and the characters that need one
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


_NULL = "\\N"  # COPY's NULL


def _copy_field(value) -> str:
    if value is None:
        return _NULL
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value
    return str(value)  # an int or a float (nan, inf and -inf read back as such)


def _copy_text(rows: Sequence[tuple], width: int) -> str:
    """``rows`` of ``width`` fields in COPY's text format.

    Most rounds' fields need no escape: they are joined as they are (``str`` of a
    number is its ``repr``), and the whole text is then checked to hold exactly its
    separators, no CR and no backslash but those of its NULLs; only a text that does
    not is built again field by field, with the escapes."""
    text = "".join(["\t".join([_NULL if v is None else str(v) for v in row]) + "\n"
                    for row in rows])
    nulls = sum([row.count(None) for row in rows])
    if (text.count("\n") == len(rows) and text.count("\t") == len(rows) * (width - 1)
            and text.count("\\") == nulls and "\r" not in text
            and sum(map(len, rows)) == len(rows) * width):
        return text
    return "".join("\t".join(map(_copy_field, row)) + "\n" for row in rows)


class _CopyStream:
    """The COPY text of ``rows`` (tuples of ``width`` fields), made ``COPY_CHUNK``
    rows at a time as psycopg2 reads it: the server parses and inserts one chunk
    while the next is made (the rows' values, their JSON included, are made here
    too when ``rows`` is lazy), so that a round's Python and the server's work on
    it overlap instead of following each other."""

    def __init__(self, rows: Iterable[tuple], width: int) -> None:
        self._rows, self._width = iter(rows), width

    def read(self, size: int = -1) -> str:  # psycopg2's size: how much it would take
        chunk = list(itertools.islice(self._rows, COPY_CHUNK))
        return _copy_text(chunk, self._width) if chunk else ""


def _copy(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL (psycopg2): ``rows`` into ``table`` by one COPY, in its text format,
    streamed (:class:`_CopyStream`)."""
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN",
                       _CopyStream(rows, len(columns)))


def _round_ids(changed: Sequence[Alarm], history: Sequence[HistoryEntry],
               notifications: Sequence[Notification]) -> set[str]:
    return ({a.alarm_id for a in changed} | {h.alarm_id for h in history}
            | {n.alarm_id for n in notifications})


def _of_defined(defined: set[str], records: Sequence) -> list:
    """Those of ``records`` (alarms, history entries, notifications) whose alarm is in
    ``defined``."""
    return [r for r in records if r.alarm_id in defined]


def _lock_defined(connection, ids: set[str]) -> set[str]:
    """Those of ``ids`` that name a stored alarm, their rows locked until the caller's
    transaction ends (SQLite: one writer at a time, nothing to lock).

    Every round locks in one order, so that two rounds sharing alarms (a rebalance)
    wait for each other instead of deadlocking: batches of ``ROUND_BATCH`` in ascending
    order, on MySQL/MariaDB (the ids' binary collation is Python's order) and any other
    server; PostgreSQL with psycopg2 locks them all by one statement in the database's
    own order instead (:func:`_copy_round`)."""
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    lock = "" if dialect.name == "sqlite" else " ORDER BY alarm_id FOR UPDATE"
    ordered, defined = sorted(ids), set()
    for start in range(0, len(ordered), ROUND_BATCH):
        batch = ordered[start:start + ROUND_BATCH]
        defined.update(connection.exec_driver_sql(
            f"SELECT alarm_id FROM ha_alarms WHERE alarm_id IN "
            f"({', '.join([mark] * len(batch))}){lock}", tuple(batch)).scalars().all())
    return defined


def _write_round(connection, changed: Sequence[Alarm], history: Sequence[HistoryEntry],
                 notifications: Sequence[Notification], now: float,
                 defined_only: bool) -> None:
    """A round's states (rows that are gone stay gone), history and notifications, in
    the caller's transaction, a few statements for the lot: on PostgreSQL (psycopg2)
    by COPY, the states into a temporary table and then one UPDATE from it; on
    MySQL/MariaDB likewise with multi-row INSERTs (PyMySQL's executemany); on SQLite
    by one executemany of each statement (:func:`_sqlite_round`); elsewhere by
    SQLAlchemy's executemany. ``defined_only``: keep only the records of alarms still
    stored, their rows locked first on a server (:meth:`AlarmStore.commit_round`)."""
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg2":
        cursor = connection.connection.cursor()  # the transaction's own connection
        try:
            _copy_round(cursor, changed, history, notifications, now, defined_only)
        except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises it (IntegrityError...)
            statement = (cursor.query or b"").decode("utf-8", "replace")
            raise sa.exc.DBAPIError.instance(statement, None, exc,
                                             dialect.loaded_dbapi.Error,
                                             dialect=dialect) from exc
        finally:
            cursor.close()
        return
    if dialect.name == "sqlite":
        _sqlite_round(connection, changed, history, notifications, now, defined_only)
        return
    if defined_only:
        defined = _lock_defined(connection, _round_ids(changed, history, notifications))
        changed, history, notifications = (_of_defined(defined, records) for records in
                                           (changed, history, notifications))
    if dialect.name not in models.MYSQL:
        if changed:
            connection.execute(_STATE_UPDATE, [
                dict(zip(("changed_alarm_id",) + _STATE_COLUMNS, _state_values(a)),
                     updated_at=now) for a in changed])
        if history:
            connection.execute(models.history.insert(), [_history_row(h) for h in history])
        if notifications:
            connection.execute(models.notifications.insert(),
                               [_notification_row(n) for n in notifications])
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if changed:
        # (a round that failed before its DROP left the table in this connection)
        connection.exec_driver_sql("DROP TEMPORARY TABLE IF EXISTS ha_round_states")
        connection.exec_driver_sql(_MYSQL_STATES.format(models.id_collation(dialect)))
        connection.exec_driver_sql(
            _insert("ha_round_states", ("alarm_id",) + _STATE_COLUMNS, mark),
            [_state_values(a) for a in changed])
        connection.exec_driver_sql(_MYSQL_STATE_UPDATE, (now,))
        connection.exec_driver_sql("DROP TEMPORARY TABLE ha_round_states")
    _insert_records(connection, history, notifications, mark)


def _insert_records(connection, history: Sequence[HistoryEntry],
                    notifications: Sequence[Notification], mark: str) -> None:
    """A round's history rows and notifications, by one executemany each."""
    if history:
        connection.exec_driver_sql(_insert(models.history.name, _HISTORY_COLUMNS, mark),
                                   [_history_values(h) for h in history])
    if notifications:
        connection.exec_driver_sql(
            _insert(models.notifications.name, _NOTIFICATION_COLUMNS, mark),
            [_notification_values(n) for n in notifications])


def _sqlite_round(connection, changed: Sequence[Alarm], history: Sequence[HistoryEntry],
                  notifications: Sequence[Notification], now: float,
                  defined_only: bool) -> None:
    """:func:`_write_round` on SQLite, whose writers take turns (nothing to lock).

    The states come first, by one executemany, which also opens the transaction and
    takes the database's write lock: from then on no alarm can go. When it updated a
    row for every state and the round's other records are all of those alarms (a
    storm), every alarm of the round is still stored; otherwise (``defined_only``)
    the stored ones are read, and only their history and notifications written."""
    updated = connection.exec_driver_sql(_SQLITE_STATE_UPDATE, [
        _state_values(a)[1:] + (now, a.alarm_id) for a in changed]).rowcount \
        if changed else 0
    if defined_only:
        moved = {a.alarm_id for a in changed}
        if not (updated == len(changed) and all(h.alarm_id in moved for h in history)
                and all(n.alarm_id in moved for n in notifications)):
            defined = _lock_defined(connection, _round_ids((), history, notifications))
            history, notifications = (_of_defined(defined, history),
                                      _of_defined(defined, notifications))
    _insert_records(connection, history, notifications, "?")


def _copy_round(cursor, changed: Sequence[Alarm], history: Sequence[HistoryEntry],
                notifications: Sequence[Notification], now: float,
                defined_only: bool) -> None:
    """:func:`_write_round` on PostgreSQL with psycopg2's ``cursor``: the round's alarms
    are copied into a table of the transaction's own, the new states with them, and
    (``defined_only``) locked by one join with it, in the database's order of the ids;
    the UPDATE from that table writes the states of the alarms still stored."""
    rows = [(a.alarm_id, True) + _state_values(a)[1:] for a in changed]
    if defined_only:
        stateless = _round_ids((), history, notifications) - {a.alarm_id for a in changed}
        rows += [(i, False, None, None, None, None, None) for i in sorted(stateless)]
    if rows:
        cursor.execute(_PG_STATES)
        _copy(cursor, "ha_round_states", ("alarm_id", "has_state") + _STATE_COLUMNS, rows)
    if defined_only:
        cursor.execute(_PG_LOCK_ROUND)
        defined = {row[0] for row in cursor.fetchall()}
        history, notifications = _of_defined(defined, history), _of_defined(defined,
                                                                          notifications)
    if changed:
        cursor.execute(_PG_STATE_UPDATE, (now,))
    if rows:
        cursor.execute("DROP TABLE ha_round_states")
    if history:
        _copy(cursor, models.history.name, _HISTORY_COLUMNS, map(_history_values, history))
    if notifications:
        _copy(cursor, models.notifications.name, _NOTIFICATION_COLUMNS,
              map(_notification_values, notifications))


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    """An INSERT of one row of ``columns``, with the driver's parameter ``mark``."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})")
