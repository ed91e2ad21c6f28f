"""Worker membership, the sample journal and definition times, for several workers.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ha_alarms") as batch:
        batch.add_column(sa.Column("defined_at", sa.Float))
    op.create_table(
        "ha_workers",
        sa.Column("worker_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "ha_sample_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(64), nullable=False, index=True),
        sa.Column("created", sa.Float, nullable=False, index=True),
        sa.Column("samples", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("ha_sample_journal")
    op.drop_table("ha_workers")
    with op.batch_alter_table("ha_alarms") as batch:
        batch.drop_column("defined_at")
