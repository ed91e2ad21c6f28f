"""Times as double precision: ``FLOAT`` is single precision on MySQL/MariaDB.

SQLite stores every real as a double and PostgreSQL's ``FLOAT`` without a
precision is already ``double precision``, so only MySQL/MariaDB columns change.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMES = {
    "ha_alarms": [("state_timestamp", True), ("pending_since", True),
                  ("updated_at", False), ("defined_at", True)],
    "ha_alarm_history": [("timestamp", False)],
    "ha_notifications": [("next_attempt", False), ("created", False)],
    "ha_workers": [("heartbeat", False)],
    "ha_sample_journal": [("created", False)],
}


def _retype(new, old):
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, columns in TIMES.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=new, existing_type=old,
                            existing_nullable=nullable)


def upgrade():
    _retype(sa.Double(), sa.Float())


def downgrade():
    _retype(sa.Float(), sa.Double())
