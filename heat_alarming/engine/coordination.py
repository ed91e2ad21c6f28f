"""Several evaluating workers: who is alive, and which projects each one owns.

Every worker heartbeats a row of ``ha_workers`` in the shared alarm
database; a worker whose row is older than ``2 x heartbeat_interval`` is
gone.  Projects are spread over the live workers by rendezvous hashing
(highest hash of worker and project wins), so a worker that joins or leaves
moves only its own share.  A worker evaluates exactly the alarms of the
projects it owns, and ingests exactly those projects' samples from the
journal; an alarm only ever reads its own project's samples, so one owner
holds everything its alarms need.
"""
from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from heat_alarming.engine import models
from heat_alarming.engine.alarm_store import AlarmStore


def owner(project_id: str, workers: Sequence[str]) -> str | None:
    """The worker that owns ``project_id`` among ``workers`` (rendezvous hashing)."""
    if not workers:
        return None

    def weight(worker: str) -> bytes:
        return hashlib.blake2b(f"{worker}\0{project_id}".encode(), digest_size=8).digest()
    return max(workers, key=weight)


class Membership:
    """This worker's heartbeat and the list of live workers."""

    heartbeat_interval = 5.0

    def __init__(self, alarm_store: AlarmStore, worker_id: str | None = None, *,
                 heartbeat_interval: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.alarm_store = alarm_store
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        if heartbeat_interval is not None:
            self.heartbeat_interval = float(heartbeat_interval)
        self.clock = clock

    def heartbeat(self) -> tuple[str, ...]:
        """Refresh this worker's row and return the live workers (sorted)."""
        now = self.clock()
        table = models.workers
        engine = self.alarm_store.engine
        with self.alarm_store._lock, engine.begin() as connection:
            done = connection.execute(table.update().where(
                table.c.worker_id == self.worker_id).values(heartbeat=now))
            if done.rowcount == 0:
                connection.execute(table.insert().values(
                    worker_id=self.worker_id, host=socket.gethostname(), pid=os.getpid(),
                    heartbeat=now))
        return self.live(now)

    def live(self, now: float | None = None) -> tuple[str, ...]:
        now = self.clock() if now is None else now
        table = models.workers
        with self.alarm_store.engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.worker_id).where(
                table.c.heartbeat >= now - 2 * self.heartbeat_interval)).scalars().all()
        return tuple(sorted(rows))

    def leave(self) -> None:
        with self.alarm_store._lock, self.alarm_store.engine.begin() as connection:
            connection.execute(models.workers.delete().where(
                models.workers.c.worker_id == self.worker_id))

    def owns(self, project_id: str | None, live: Sequence[str]) -> bool:
        """Whether rendezvous hashing over ``live`` gives ``project_id`` to this worker."""
        return owner(project_id or "", live) == self.worker_id
