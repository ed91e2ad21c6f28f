"""Alembic environment for the alarm store; run through ``AlarmStore.upgrade``."""
from alembic import context

from heat_alarming.engine.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic path is supported
    raise RuntimeError("run migrations through heat_alarming.engine.alarm_store.upgrade()")
context.configure(connection=connection, target_metadata=metadata,
                  version_table="ha_alembic_version")
with context.begin_transaction():
    context.run_migrations()
