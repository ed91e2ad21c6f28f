"""SQL tables of the alarm store (SQLAlchemy Core metadata).

The schema is versioned by the alembic migrations in ``migrations/``; this
module is the single description of the tables that the code reads and writes.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()
MYSQL = ("mysql", "mariadb")  # SQLAlchemy's names for MySQL and MariaDB dialects

# Times are epoch seconds.  ``sa.Float`` is single precision on MySQL/MariaDB (a
# 24-bit mantissa: +-64 s at today's epoch), so every time column is a double.
Time = sa.Double

# A document (JSON, a reason, an error): MySQL/MariaDB's TEXT holds only 64 KiB
Document = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL)


def id_collation(dialect) -> str:
    """The collation of id columns on MySQL/MariaDB: binary, and padding nothing.

    Their default collations (``utf8mb4_general_ci``) fold case and ignore trailing
    spaces, so that project ``'ABC'`` would be project ``'abc '``; ``utf8mb4_bin``
    still ignores trailing spaces. MariaDB has ``utf8mb4_nopad_bin`` (10.2 on), MySQL
    ``utf8mb4_0900_bin`` (8.0 on); older MySQL has only ``utf8mb4_bin``.
    """
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    if (dialect.server_version_info or (8,)) >= (8,):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


class Identifier(sa.types.TypeDecorator):
    """An id (of an alarm, a project, a worker, an event): text equal only to the
    very same characters on every database.

    SQLite and PostgreSQL compare ``VARCHAR`` exactly; on MySQL/MariaDB the column
    has the binary collation of :func:`id_collation`.
    """

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.VARCHAR(
                self.impl.length, charset="utf8mb4", collation=id_collation(dialect)))
        return dialect.type_descriptor(self.impl)

alarms = sa.Table(
    "ha_alarms", metadata,
    sa.Column("alarm_id", Identifier(64), primary_key=True),
    sa.Column("project_id", Identifier(64), index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("definition", Document, nullable=False),       # JSON, Aodh-style fields
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("state_reason", Document, nullable=False),
    sa.Column("state_timestamp", Time),
    sa.Column("pending_state", sa.String(32)),
    sa.Column("pending_since", Time),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("defined_at", Time),  # last change of the definition (not of the state)
)

history = sa.Table(
    "ha_alarm_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", Identifier(64), nullable=False, unique=True),
    sa.Column("alarm_id", Identifier(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),        # state transition, action ...
    sa.Column("timestamp", Time, nullable=False),
    sa.Column("previous", sa.String(32)),
    sa.Column("current", sa.String(32)),
    sa.Column("reason", Document),
    sa.Column("reason_data", Document),                       # JSON
    sa.Column("severity", sa.String(16)),
    sa.Index("ix_ha_alarm_history_alarm_time", "alarm_id", "timestamp"),
)

notifications = sa.Table(
    "ha_notifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", Identifier(64), nullable=False),
    sa.Column("alarm_id", Identifier(64), nullable=False, index=True),
    sa.Column("action", Document, nullable=False),
    sa.Column("payload", Document, nullable=False),            # JSON
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt", Time, nullable=False, index=True),
    sa.Column("created", Time, nullable=False),
    sa.Column("last_error", Document),
)

workers = sa.Table(
    "ha_workers", metadata,
    sa.Column("worker_id", Identifier(128), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("heartbeat", Time, nullable=False, index=True),
)

# one row per pushed batch; ids only grow (SQLite: AUTOINCREMENT), see engine/journal.py
sample_journal = sa.Table(
    "ha_sample_journal", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("project_id", Identifier(64), nullable=False),
    sa.Column("created", Time, nullable=False, index=True),
    sa.Column("count", sa.Integer, nullable=False),             # samples in the batch
    # SampleBatch.encode() (metering/batch.py); LONGBLOB on MySQL, whose BLOB is 64 KiB
    sa.Column("payload", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
              nullable=False),
    sa.Index("ix_ha_sample_journal_project_id_id", "project_id", "id"),
    sqlite_autoincrement=True,
)
