"""MySQL/MariaDB: double times, binary ids and documents beyond 64 KiB.

Only MySQL/MariaDB columns change; SQLite and PostgreSQL already had all three.

- Times: ``FLOAT`` is single precision there (+-64 s at today's epoch); SQLite
  stores every real as a double and PostgreSQL's ``FLOAT`` is double precision.
- Ids: the default collation (``utf8mb4_general_ci``) folds case and ignores
  trailing spaces, so project ``'ABC'`` was project ``'abc '``; ids get the binary
  collation of :func:`heat_alarming.engine.models.id_collation`. (From a folding
  collation to a binary one no two stored ids can collide; the way back can.)
- Documents: ``TEXT`` holds 64 KiB there; definitions, reasons, payloads and errors
  become ``MEDIUMTEXT`` (16 MiB), like PostgreSQL's and SQLite's unbounded text.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from heat_alarming.engine.models import MYSQL, id_collation

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table: [(column, nullable)]
TIMES = {
    "ha_alarms": [("state_timestamp", True), ("pending_since", True),
                  ("updated_at", False), ("defined_at", True)],
    "ha_alarm_history": [("timestamp", False)],
    "ha_notifications": [("next_attempt", False), ("created", False)],
    "ha_workers": [("heartbeat", False)],
    "ha_sample_journal": [("created", False)],
}
# table: [(column, length, nullable)]
IDS = {
    "ha_alarms": [("alarm_id", 64, False), ("project_id", 64, True)],
    "ha_alarm_history": [("event_id", 64, False), ("alarm_id", 64, False)],
    "ha_notifications": [("idempotency_key", 64, False), ("alarm_id", 64, False)],
    "ha_workers": [("worker_id", 128, False)],
    "ha_sample_journal": [("project_id", 64, False)],
}
DOCUMENTS = {
    "ha_alarms": [("definition", False), ("state_reason", False)],
    "ha_alarm_history": [("reason", True), ("reason_data", True)],
    "ha_notifications": [("action", False), ("payload", False), ("last_error", True)],
}


def _mysql():
    return op.get_bind().dialect.name in MYSQL


def _modify(columns):
    """One ``ALTER TABLE`` per table (MySQL rebuilds a table for each), with the SQL type
    ``columns[table][i] = (column, type, nullable)``."""
    for table, changes in columns.items():
        op.execute(f"ALTER TABLE `{table}` " + ", ".join(
            f"MODIFY `{column}` {type_} {'NULL' if nullable else 'NOT NULL'}"
            for column, type_, nullable in changes))


def _columns(double, text, identifier):
    columns = {}
    for table, times in TIMES.items():
        columns.setdefault(table, []).extend((c, double, n) for c, n in times)
    for table, ids in IDS.items():
        columns.setdefault(table, []).extend((c, identifier(length), n)
                                             for c, length, n in ids)
    for table, documents in DOCUMENTS.items():
        columns.setdefault(table, []).extend((c, text, n) for c, n in documents)
    return columns


def upgrade():
    if _mysql():
        collation = id_collation(op.get_bind().dialect)
        _modify(_columns("DOUBLE", "MEDIUMTEXT", lambda length: (
            f"VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE {collation}")))


def downgrade():
    if _mysql():  # ids back to the table's default collation
        _modify(_columns("FLOAT", "TEXT", lambda length: f"VARCHAR({length})"))
