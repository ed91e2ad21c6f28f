"""The first alarm store schema: alarms, history, pending notifications.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ha_alarms",
        sa.Column("alarm_id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_reason", sa.Text, nullable=False),
        sa.Column("state_timestamp", sa.Float),
        sa.Column("pending_state", sa.String(32)),
        sa.Column("pending_since", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ha_alarm_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("alarm_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("previous", sa.String(32)),
        sa.Column("current", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("reason_data", sa.Text),
        sa.Column("severity", sa.String(16)),
    )
    op.create_index("ix_ha_alarm_history_alarm_time", "ha_alarm_history",
                    ["alarm_id", "timestamp"])
    op.create_table(
        "ha_notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("alarm_id", sa.String(64), nullable=False, index=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.Float, nullable=False, index=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
    )


def downgrade():
    op.drop_table("ha_notifications")
    op.drop_index("ix_ha_alarm_history_alarm_time", table_name="ha_alarm_history")
    op.drop_table("ha_alarm_history")
    op.drop_table("ha_alarms")
