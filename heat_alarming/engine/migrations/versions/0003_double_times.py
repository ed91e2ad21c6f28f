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
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

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


def upgrade():
    if not _mysql():
        return
    collation = id_collation(op.get_bind().dialect)
    for table, columns in TIMES.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=sa.Double(), existing_type=sa.Float(),
                            existing_nullable=nullable)
    for table, ids in IDS.items():
        for column, length, nullable in ids:
            op.alter_column(table, column, type_=mysql.VARCHAR(
                length, charset="utf8mb4", collation=collation),
                existing_type=sa.String(length), existing_nullable=nullable)
    for table, columns in DOCUMENTS.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=mysql.MEDIUMTEXT(), existing_type=sa.Text(),
                            existing_nullable=nullable)


def downgrade():
    if not _mysql():
        return
    for table, columns in DOCUMENTS.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=sa.Text(), existing_type=mysql.MEDIUMTEXT(),
                            existing_nullable=nullable)
    for table, ids in IDS.items():
        for column, length, nullable in ids:
            op.alter_column(table, column, type_=sa.String(length),
                            existing_type=sa.String(length), existing_nullable=nullable)
    for table, columns in TIMES.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=sa.Float(), existing_type=sa.Double(),
                            existing_nullable=nullable)
