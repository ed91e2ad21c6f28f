"""The sample journal holds batches as columns: one encoded payload and a count per batch.

The table is made anew. Its rows in the old format (a JSON list of sample
dicts) are dropped: the journal is transient, bounded by the store retention,
and a worker that restarts on a snapshot holds those samples already (one
without rebuilds its windows from the batches appended from now on). Ids go on
above the old table's highest, so a journal position kept in a snapshot keeps
its meaning. The new ids are 64-bit (a serialised append order reaches 2**31
within weeks at full rate), and SQLite's table is AUTOINCREMENT, so that ids
never go back once the journal has been pruned empty. The payload is a LONGBLOB
on MySQL/MariaDB, whose BLOB holds only 64 KiB, and the project id keeps the
binary collation migration 0003 gave it.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from heat_alarming.engine.models import Identifier

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "ha_sample_journal"


def _go_on_after(last: int) -> None:
    """Make the new table's next id ``last + 1``."""
    bind = op.get_bind()
    if not last:
        return
    name = bind.dialect.name
    if name == "sqlite":
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :last)"),
                     {"t": TABLE, "last": last})
    elif name == "postgresql":
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :last)"),
                     {"t": TABLE, "last": last})
    elif name in ("mysql", "mariadb"):
        bind.execute(sa.text(f"ALTER TABLE {TABLE} AUTO_INCREMENT = {int(last) + 1}"))


def upgrade():
    last = op.get_bind().execute(sa.text(f"SELECT MAX(id) FROM {TABLE}")).scalar() or 0
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        # binary and padding nothing on MySQL/MariaDB, as migration 0003 made it
        sa.Column("project_id", Identifier(64), nullable=False),
        sa.Column("created", sa.Double(), nullable=False, index=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql",
                                                           "mariadb"), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ha_sample_journal_project_id_id", TABLE, ["project_id", "id"])
    _go_on_after(int(last))


def downgrade():
    last = op.get_bind().execute(sa.text(f"SELECT MAX(id) FROM {TABLE}")).scalar() or 0
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(64), nullable=False, index=True),
        sa.Column("created", sa.Double(), nullable=False, index=True),
        sa.Column("samples", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql" and last:
        op.get_bind().execute(sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                                      ":last)"), {"t": TABLE, "last": int(last)})
