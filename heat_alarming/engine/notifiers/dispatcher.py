"""Asynchronous, at-least-once delivery of queued notifications.

An evaluation round only writes notifications into the alarm store (in the
same transaction as the transition).  The dispatcher delivers them from
there on its own threads, so a slow or dead webhook never delays a round,
and what was queued before a crash is found and delivered after a restart.
Failed deliveries are retried with exponential backoff; after
``max_attempts`` the notification is dropped and the failure recorded in
the alarm's history.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection
from concurrent import futures

from oslo_log import log as logging

from heat_alarming.engine.alarm_store import AlarmStore, HistoryEntry, Notification
from heat_alarming.engine.notifiers import DeliveryError, NotifierManager, redact

LOG = logging.getLogger(__name__)
ACTION_FAILED = "action failed"


class Dispatcher:
    """Delivers the alarm store's pending notifications with a thread pool."""

    def __init__(self, alarm_store: AlarmStore, manager: NotifierManager | None = None, *,
                 workers: int = 4, max_attempts: int = 8, backoff: float = 1.0,
                 max_backoff: float = 300.0, poll_interval: float = 5.0,
                 clock: Callable[[], float] = time.time, lease: float = 120.0) -> None:
        self.alarm_store = alarm_store
        # how long a claimed notification is this dispatcher's alone (several workers'
        # dispatchers share the store); past it, another one retries it
        self.lease = lease
        # whose notifications this dispatcher delivers: a callable returning projects
        # (None: everybody's); in heat-engine, the projects its worker owns, so that
        # one process delivers everything one alarm sends, in order
        self.projects: Callable[[], Collection[str] | None] | None = None
        self.manager = manager or NotifierManager()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.clock = clock
        self.workers = workers
        self._pool: futures.ThreadPoolExecutor | None = None
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------
    def start(self) -> Dispatcher:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alarm-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Look for due notifications now (called after a round queued some)."""
        self._wake.set()

    def idle(self) -> bool:
        """Nothing in flight and nothing waiting (a retry scheduled later counts)."""
        with self._lock:
            if self._in_flight:
                return False
        return self.alarm_store.next_notification_time(self._projects()) is None

    def _projects(self) -> Collection[str] | None:
        return None if self.projects is None else self.projects()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch_due()
                upcoming = self.alarm_store.next_notification_time(self._projects())
            except Exception:  # the database may be briefly away; keep the loop alive
                LOG.exception("Notification dispatch failed; will retry")
                upcoming = None
            wait = self.poll_interval
            if upcoming is not None:
                wait = min(wait, max(0.0, upcoming - self.clock()))
            self._wake.wait(max(wait, 0.01))
            self._wake.clear()

    # -- delivery --------------------------------------------------------
    def dispatch_due(self) -> list[futures.Future]:
        """Claim and submit every due notification not already in flight; returns the
        futures."""
        with self._lock:
            due = self.alarm_store.claim_notifications(self.clock(), self.lease, limit=200,
                                                       skip=self._in_flight,
                                                       projects=self._projects())
            for item in due:
                self._in_flight.add(item.id)
            if due and self._pool is None:
                self._pool = futures.ThreadPoolExecutor(max_workers=self.workers,
                                                        thread_name_prefix="alarm-notifier")
            pool = self._pool
        return [pool.submit(self._deliver, item) for item in due]

    def deliver_due(self) -> int:
        """Deliver what is due now and wait for it (for tests and shutdown)."""
        jobs = self.dispatch_due()
        futures.wait(jobs)
        return len(jobs)

    def _deliver(self, item: Notification) -> None:
        try:
            self.manager.notify(item.action, item.payload, item.idempotency_key)
        except DeliveryError as exc:
            self._failed(item, str(exc), exc.retryable)
        except Exception as exc:  # a driver bug must not kill the worker
            LOG.exception("Notifier for %s raised", redact(item.action))
            self._failed(item, f"{exc.__class__.__name__}: {exc}", True)
        else:
            self.alarm_store.notification_delivered(item.id)
            LOG.debug("Delivered %s for alarm %s to %s", item.idempotency_key,
                      item.alarm_id, redact(item.action))
        finally:
            with self._lock:
                self._in_flight.discard(item.id)

    def _failed(self, item: Notification, error: str, retryable: bool) -> None:
        attempts = item.attempts + 1
        if retryable and attempts < self.max_attempts:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
            LOG.warning("Notification of alarm %s to %s failed (attempt %d): %s; retry in "
                        "%.1f s", item.alarm_id, redact(item.action), attempts, error, delay)
            self.alarm_store.notification_retry(item.id, attempts, self.clock() + delay, error)
            return
        LOG.error("Giving up notifying alarm %s to %s after %d attempt(s): %s",
                  item.alarm_id, redact(item.action), attempts, error)
        self.alarm_store.record([HistoryEntry(
            str(uuid.uuid4()), item.alarm_id, ACTION_FAILED, self.clock(),
            item.payload.get("previous"), item.payload.get("current"),
            f"action {redact(item.action)} failed after {attempts} attempt(s): {error}",
            {"action": redact(item.action), "idempotency_key": item.idempotency_key},
            item.payload.get("severity", ""))])
        self.alarm_store.notification_delivered(item.id)
