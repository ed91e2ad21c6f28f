"""The sample journal: pushed samples shared by every worker through the alarm database.

A pushed batch may arrive at any worker; it is appended here whole, and the
worker that owns the batch's project tails the journal into its store.
After a take-over the new owner replays the journal over the store's
retention, so its windows are whole again at once.  The journal is pruned
to the retention.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa

from heat_alarming.engine import models
from heat_alarming.engine.alarm_store import AlarmStore


class SampleJournal:
    def __init__(self, alarm_store: AlarmStore, clock: Callable[[], float] = time.time) -> None:
        self.alarm_store = alarm_store
        self.clock = clock

    def append(self, project_id: str, samples: Sequence[dict]) -> int:
        """Append one batch (JSON-able sample dicts); returns its journal id."""
        with self.alarm_store._lock, self.alarm_store.engine.begin() as connection:
            result = connection.execute(models.sample_journal.insert().values(
                project_id=project_id, created=self.clock(), samples=json.dumps(list(samples))))
            return int(result.inserted_primary_key[0])

    def read(self, after_id: int, projects: Iterable[str] | None = None,
             since: float | None = None, limit: int = 1000) -> list[tuple[int, str, list]]:
        """Batches with id > ``after_id`` (of ``projects``, newer than ``since``), in order."""
        table = models.sample_journal
        query = sa.select(table).where(table.c.id > after_id)
        if projects is not None:
            query = query.where(table.c.project_id.in_(list(projects)))
        if since is not None:
            query = query.where(table.c.created >= since)
        query = query.order_by(table.c.id).limit(limit)
        with self.alarm_store.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [(r["id"], r["project_id"], json.loads(r["samples"])) for r in rows]

    def prune(self, older_than: float) -> int:
        with self.alarm_store._lock, self.alarm_store.engine.begin() as connection:
            return connection.execute(models.sample_journal.delete().where(
                models.sample_journal.c.created < older_than)).rowcount
