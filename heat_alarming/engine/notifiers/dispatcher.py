"""Asynchronous, at-least-once delivery of queued notifications.

An evaluation round only writes notifications into the alarm store (in the
same transaction as the transition).  The dispatcher delivers them from
there on its own threads, so a slow or dead webhook never delays a round,
and what was queued before a crash is found and delivered after a restart.
Failed deliveries are retried with exponential backoff; after
``max_attempts`` the notification is dropped and the failure recorded in
the alarm's history.

Delivery is fair across projects. In-process actions (``inproc://``,
``log://``) and remote ones (webhooks) have separate thread pools, so an
in-process action never waits behind a network call. In each pool one
project has at most ``workers_per_project`` deliveries in flight, and
claims take every project's oldest due row before anybody's second (the
per-project rank is computed in SQL), so a project whose targets hang holds
at most its share of the threads, each for at most the notifier timeout.
Rows are claimed only when a thread is free for them, so a claimed row
never waits in a queue while its lease runs out.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent import futures

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import GROUP
from heat_alarming.engine.alarm_store import (
    AlarmStore,
    HistoryEntry,
    Notification,
    new_event_id,
)
from heat_alarming.engine.notifiers import DeliveryError, NotifierManager, redact

LOG = logging.getLogger(__name__)
ACTION_FAILED = "action failed"
#: threads of each delivery pool, and of one project in each; attempts before a
#: notification is given up; the first retry's wait and the longest wait, in seconds
WORKERS, WORKERS_PER_PROJECT, MAX_ATTEMPTS, BACKOFF, MAX_BACKOFF = 16, 2, 8, 1.0, 300.0


class Dispatcher:
    """Delivers the alarm store's pending notifications with a thread pool."""

    def __init__(self, alarm_store: AlarmStore, manager: NotifierManager | None = None, *,
                 workers: int = WORKERS, workers_per_project: int = WORKERS_PER_PROJECT,
                 max_attempts: int = MAX_ATTEMPTS, backoff: float = BACKOFF,
                 max_backoff: float = MAX_BACKOFF,
                 poll_interval: float = 5.0, clock: Callable[[], float] = time.time,
                 lease: float = 120.0, batch: int = 200,
                 projects: Callable[[], Collection[str] | None] | None = None) -> None:
        if workers < 1 or workers_per_project < 1:
            raise ValueError("workers and workers_per_project must be >= 1")
        self.alarm_store = alarm_store
        # how long a claimed notification is this dispatcher's alone (several workers'
        # dispatchers share the store); past it, another one retries it
        self.lease = lease
        self._projects_of = projects  # see follow_ownership
        self.manager = manager or NotifierManager()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.clock = clock
        self.workers = workers  # threads of each pool (in-process, remote)
        self.workers_per_project = min(workers_per_project, workers)
        self.batch = batch  # rows read per claim
        self._pools: dict[bool, futures.ThreadPoolExecutor] = {}
        self._in_flight: dict[int, tuple[str, bool]] = {}  # id -> (project, in process)
        self._busy: Counter = Counter()  # (project, in process) and in process -> in flight
        self._outcomes: Counter = Counter()  # delivered, retried, failed (stats())
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
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def follow_ownership(self, projects: Callable[[], Collection[str] | None] | None) -> None:
        """Deliver only the notifications of the projects that ``projects()`` returns
        at each claim (None, or a call returning None: everybody's). A worker among
        several passes the projects it evaluates, so that one process delivers
        everything one alarm sends, in order (:class:`heat_alarming.engine.worker.Worker`).
        """
        self._projects_of = projects

    def wake(self) -> None:
        """Look for due notifications now (called after a round queued some)."""
        self._wake.set()

    def idle(self) -> bool:
        """Nothing in flight and nothing waiting (a retry scheduled later counts)."""
        with self._lock:
            if self._in_flight:
                return False
        return self.alarm_store.next_notification_time(self._projects()) is None

    def stats(self) -> dict[str, int]:
        """What delivery did since start, and what waits: ``delivered``, ``retried``
        (failed attempts that will be tried again), ``failed`` (notifications given
        up, each recorded in its alarm's history), ``in_flight``, and ``pending``:
        the notifications in the alarm store of the projects this dispatcher
        delivers for (queued, waiting for a retry or in flight; one count query)."""
        with self._lock:
            out = {key: self._outcomes[key] for key in ("delivered", "retried", "failed")}
            out["in_flight"] = len(self._in_flight)
        out["pending"] = self.alarm_store.pending_count(self._projects())
        return out

    def _projects(self) -> Collection[str] | None:
        projects = self._projects_of
        return None if projects is None else projects()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a wake from now on is not lost
            try:
                self.dispatch_due()
                upcoming = self.alarm_store.next_notification_time(self._projects())
            except Exception:  # the database may be briefly away; keep the loop alive
                LOG.exception("Notification dispatch failed; will retry")
                upcoming = None
            wait = self.poll_interval
            if upcoming is not None:
                ahead = upcoming - self.clock()
                if ahead > 0:
                    wait = min(wait, ahead)
                elif not self._busy_any():
                    wait = 0.01  # due and nothing running: a claim raced another worker
                # else due rows wait for a thread: a delivery that ends wakes the loop
            self._wake.wait(max(wait, 0.01))

    def _busy_any(self) -> bool:
        with self._lock:
            return bool(self._in_flight)

    # -- delivery --------------------------------------------------------
    def dispatch_due(self) -> list[futures.Future]:
        """Claim and start the due notifications that have a free thread (fairly, see
        the module's text) and are not in flight; returns their futures."""
        return list(self._dispatch().values())

    def _dispatch(self, skip: Collection[int] = ()) -> dict[int, futures.Future]:
        with self._lock:
            free = {lane: self.workers - self._busy[lane] for lane in (False, True)}
            if not any(n > 0 for n in free.values()):
                return {}
            due = self.alarm_store.due_notifications(
                self.clock(), self.batch, skip=set(self._in_flight) | set(skip),
                projects=self._projects(), per_project=self.workers_per_project)
            chosen, taking = [], Counter()
            for item in due:  # ranked: each project's oldest first
                key = (item.project_id or "", item.in_process)
                if free[item.in_process] > 0 and (
                        self._busy[key] + taking[key] < self.workers_per_project):
                    chosen.append(item)
                    taking[key] += 1
                    free[item.in_process] -= 1
            claimed = self.alarm_store.claim(chosen, self.clock(), self.lease)
            jobs = {}
            for item in claimed:
                key = (item.project_id or "", item.in_process)
                self._in_flight[item.id] = key
                self._busy[key] += 1
                self._busy[item.in_process] += 1
                jobs[item.id] = self._pool(item.in_process).submit(self._deliver, item)
        return jobs

    def _pool(self, in_process: bool) -> futures.ThreadPoolExecutor:
        pool = self._pools.get(in_process)
        if pool is None:
            name = "alarm-notifier-inproc" if in_process else "alarm-notifier"
            pool = self._pools[in_process] = futures.ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix=name)
        return pool

    def deliver_due(self) -> int:
        """Deliver what is due now and wait for it (for tests and shutdown): each due
        notification is attempted once; returns how many were."""
        jobs: dict[int, futures.Future] = {}
        while True:
            started = self._dispatch(skip=jobs)
            jobs.update(started)
            running = [job for job in jobs.values() if not job.done()]
            if not started and not running:
                return len(jobs)
            if running:
                futures.wait(running, return_when=futures.FIRST_COMPLETED)

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
            self._outcome("delivered")
            LOG.debug("Delivered %s for alarm %s to %s", item.idempotency_key,
                      item.alarm_id, redact(item.action))
        finally:
            with self._lock:
                key = self._in_flight.pop(item.id, None)
                if key is not None:
                    self._busy[key] -= 1
                    self._busy[key[1]] -= 1
            self._wake.set()  # a thread is free: claim what waits for one

    def _failed(self, item: Notification, error: str, retryable: bool) -> None:
        attempts = item.attempts + 1
        if retryable and attempts < self.max_attempts:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
            LOG.warning("Notification of alarm %s to %s failed (attempt %d): %s; retry in "
                        "%.1f s", item.alarm_id, redact(item.action), attempts, error, delay)
            self.alarm_store.notification_retry(item.id, attempts, self.clock() + delay, error)
            self._outcome("retried")
            return
        LOG.error("Giving up notifying alarm %s to %s after %d attempt(s): %s",
                  item.alarm_id, redact(item.action), attempts, error)
        now = self.clock()
        self.alarm_store.record([HistoryEntry(
            new_event_id(now), item.alarm_id, ACTION_FAILED, now,
            item.payload.get("previous"), item.payload.get("current"),
            f"action {redact(item.action)} failed after {attempts} attempt(s): {error}",
            {"action": redact(item.action), "idempotency_key": item.idempotency_key},
            item.payload.get("severity", ""))])
        self.alarm_store.notification_delivered(item.id)
        self._outcome("failed")

    def _outcome(self, what: str) -> None:
        with self._lock:
            self._outcomes[what] += 1


# -- options: read by dispatcher_from_conf, gathered in heat_alarming.opts ---------------
dispatcher_opts = [
    cfg.IntOpt("notification_max_attempts", default=MAX_ATTEMPTS, min=1,
               help="Delivery attempts of one notification before it is given up and "
                    "the failure recorded in the alarm's history."),
    cfg.FloatOpt("notification_backoff", default=BACKOFF, min=0.0,
                 help="Seconds before the first retry; each further retry waits twice "
                      "as long, up to notification_max_backoff."),
    cfg.FloatOpt("notification_max_backoff", default=MAX_BACKOFF, min=0.0,
                 help="Longest wait between two delivery attempts."),
    cfg.IntOpt("notification_workers", default=WORKERS, min=1,
               help="Notifications delivered in parallel: the threads of each of the "
                    "two delivery pools, one for in-process actions (inproc://, log://) "
                    "and one for remote ones (webhooks)."),
    cfg.IntOpt("notification_workers_per_project", default=WORKERS_PER_PROJECT, min=1,
               help="Notifications of one project delivered in parallel in each pool, "
                    "so that a project whose targets are slow or dead holds at most "
                    "this many threads; the others deliver the other projects' "
                    "notifications, every project's oldest due one first."),
]


def dispatcher_from_conf(conf: cfg.ConfigOpts, alarm_store: AlarmStore,
                         manager: NotifierManager,
                         clock: Callable[[], float] = time.time) -> Dispatcher:
    """A dispatcher of ``alarm_store``'s notifications through ``manager``, paced and
    bounded by ``[heat_alarming]``, on ``clock`` (the evaluator's)."""
    conf.register_opts(dispatcher_opts, group=GROUP)
    group = conf[GROUP]
    return Dispatcher(alarm_store, manager, workers=group.notification_workers,
                      workers_per_project=group.notification_workers_per_project,
                      max_attempts=group.notification_max_attempts,
                      backoff=group.notification_backoff,
                      max_backoff=group.notification_max_backoff, clock=clock)
