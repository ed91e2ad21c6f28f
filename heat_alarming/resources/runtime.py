"""The alarm machinery of one heat-engine worker: store, evaluator, signaller, coordination.

heat-engine imports plugins in its parent process and forks its workers
afterwards, so nothing may be started at import time.  :func:`get_runtime`
builds the runtime for the current process on first use (and again in a
forked child, where the parent's threads do not exist), from the
``[heat_alarming]`` options of heat.conf.

Several workers (on one host or many) share the alarm database: each one
heartbeats there, owns the projects that rendezvous hashing gives it among
the live workers, evaluates only those projects' alarms, and tails the
sample journal for those projects' samples (docs/architecture.md).
"""
from __future__ import annotations

import os
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import opts
from heat_alarming.engine.coordination import Membership
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering.sample import Sample, to_epoch
from heat_alarming.resources import actions

LOG = logging.getLogger(__name__)


class Runtime:
    """Store, evaluator, in-process policy signaller and coordination of one worker."""

    def __init__(self, conf: cfg.ConfigOpts = cfg.CONF, clock=None,
                 worker_id: str | None = None, join_grace: bool = True) -> None:
        opts.register_opts(conf)
        group = conf[opts.GROUP]
        self.pid = os.getpid()
        self.clock = clock or time.time
        self.store = opts.store_from_conf(conf, clock=clock)
        self.evaluator = opts.evaluator_from_conf(conf, self.store, clock=clock)
        self.membership = Membership(self.evaluator.alarm_store, worker_id,
                                     heartbeat_interval=group.heartbeat_interval,
                                     clock=self.clock)
        self.journal = SampleJournal(self.evaluator.alarm_store, clock=self.clock)
        self.journal_poll_interval = group.journal_poll_interval
        # A new worker waits two heartbeats before it evaluates anything, so that
        # the workers already running have seen it and dropped its share.
        grace = 2 * self.membership.heartbeat_interval if join_grace else 0.0
        self._evaluating_from = self.clock() + grace
        self._grace_over = not join_grace
        self.evaluator.owns = self._owns
        self.evaluator.dispatcher.projects = self._delivering
        self.evaluator.register_target(actions.TARGET,
                                       actions.HeatSignaller(self._project_of_alarm,
                                                             self._threshold_of_alarm,
                                                             self._record_outcome,
                                                             self._history_of_alarm))
        self._live: tuple[str, ...] = ()
        self._owned_projects: set[str] = set()
        self._owned_cache: set[str] = set()
        self._owned_key: tuple | None = None
        self._journal_position = 0
        self._own_batches: set[int] = set()
        self._signature = None
        self._started = False
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self.coordinate()

    def _owns(self, alarm) -> bool:
        return self._grace_over and self.membership.owns(alarm.project_id, self._live)

    def _delivering(self) -> set[str]:
        """The projects whose notifications this worker delivers: those it evaluates,
        so one worker signals a policy at a time and the outcome it reads from Heat's
        events is its own."""
        with self._lock:
            return self._owned() if self._grace_over else set()

    # -- helpers for the signaller -------------------------------------------
    def _project_of_alarm(self, alarm_id: str) -> str | None:
        return self.evaluator.get(alarm_id).project_id

    def _threshold_of_alarm(self, alarm_id: str) -> float | None:
        return getattr(self.evaluator.get(alarm_id).rule, "threshold", None)

    def _record_outcome(self, payload: dict, text: str, data: dict,
                        kind: str = "action") -> None:
        """Commit an action's outcome (``kind`` "action") or the signaller's note that it
        is about to signal (``actions.SENDING``) to the alarm's history."""
        import uuid

        from heat_alarming.engine.alarm_store import HistoryEntry
        self.evaluator.alarm_store.record([HistoryEntry(
            str(uuid.uuid4()), payload["alarm_id"], kind, time.time(),
            payload.get("previous"), payload.get("current"), text, data,
            payload.get("severity", ""))])

    def _history_of_alarm(self, alarm_id: str) -> list:
        return self.evaluator.history(alarm_id, limit=50)

    # -- pushed samples --------------------------------------------------------
    def push_samples(self, project_id: str, samples: list[Sample]) -> int:
        """Journal a checked batch; the worker owning the project ingests it.

        Timestamps are fixed here (a sample without one is "now"), so a replay
        after a take-over files every sample where it first went.
        """
        now = self.store.clock()
        rows = [{"name": s.name, "volume": s.volume, "resource_id": s.resource_id,
                 "unit": s.unit, "project_id": project_id,
                 "timestamp": now if s.timestamp is None else to_epoch(s.timestamp),
                 "resource_metadata": dict(s.resource_metadata)} for s in samples]
        with self._lock:
            batch = self.journal.append(project_id, rows)
            if self.membership.owns(project_id, self._live):
                self._own_batches.add(batch)  # the tail must not ingest it twice
                return self.store.ingest(rows).accepted
        return len(rows)

    # -- coordination ----------------------------------------------------------
    def coordinate(self) -> None:
        """One step: heartbeat, follow ownership and definitions, tail the journal."""
        with self._lock:
            live = self.membership.heartbeat()
            signature = self.evaluator.alarm_store.definitions_signature()
            redefined, self._signature = signature != self._signature, signature
            grace_ended = not self._grace_over and self.clock() >= self._evaluating_from
            self._grace_over = self._grace_over or grace_ended
            moved, self._live = live != self._live, live
            if moved or grace_ended:
                LOG.info("heat-alarming workers now %s; this is %s", list(live),
                         self.membership.worker_id)
            if redefined or moved or grace_ended:
                # new definitions, or projects gained whose states their previous
                # owner kept: read everything again from the database, once
                self.evaluator.reload()
            self._tail()
            if live and live[0] == self.membership.worker_id:  # one worker prunes
                self.journal.prune(self.clock() - self.store.retention)

    def _owned(self) -> set[str]:
        """Projects with alarms that this worker owns (kept until the evaluator's
        alarms or the membership change, so that a poll costs no loop over alarms)."""
        key = (self.evaluator.generation, self._live)
        if self._owned_key != key:
            projects = {a.project_id or "" for a in self.evaluator.alarms()}
            self._owned_cache = {p for p in projects if self.membership.owns(p, self._live)}
            self._owned_key = key
        return self._owned_cache

    def _tail(self) -> None:
        owned = self._owned()
        gained = owned - self._owned_projects
        if gained:  # a take-over: rebuild the windows from the journal
            since = self.clock() - self.store.retention
            for batch, _, rows in self.journal.read(0, gained, since=since, limit=100_000):
                if batch <= self._journal_position and batch not in self._own_batches:
                    self.store.ingest(rows)
        self._owned_projects = owned
        if not owned:
            return
        # only the owned projects' batches: another project's batch, skipped here, is
        # replayed above if that project ever comes to this worker
        for batch, _, rows in self.journal.read(self._journal_position, owned):
            self._journal_position = batch
            if batch in self._own_batches:
                self._own_batches.discard(batch)
            else:
                self.store.ingest(rows)
        # batches pushed here for a project given away before they were read
        self._own_batches = {b for b in self._own_batches if b > self._journal_position}

    def _run(self) -> None:
        next_beat = 0.0
        while not self._stop.wait(self.journal_poll_interval):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.membership.heartbeat_interval
                    self.coordinate()
                else:
                    with self._lock:
                        self._tail()
            except Exception:  # the database may be away for a moment; keep going
                LOG.exception("heat-alarming coordination step failed; retrying")

    # -- life cycle --------------------------------------------------------------
    def start(self) -> Runtime:
        """Start evaluation, notification delivery and coordination (once)."""
        with self._lock:
            if not self._started:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="heat-alarming-coordination")
                self._thread.start()
                self.evaluator.start()
                self._started = True
                LOG.info("heat-alarming evaluator started in pid %d as %s", self.pid,
                         self.membership.worker_id)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._started:
                self._stop.set()
                self.evaluator.stop()
                self._started = False
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.membership.leave()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime(start: bool = True) -> Runtime:
    """This process's runtime, built on first use (and anew after a fork).

    In heat-engine the after-fork hook of :mod:`heat_alarming.resources.plugin`
    starts it; resource handlers only look it up (``start=False``), so an
    embedding program decides when its threads run.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = Runtime()
        runtime = _runtime
    return runtime.start() if start else runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests build one with their own clock and config)."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None and runtime is not _runtime:
            _runtime.stop()
        _runtime = runtime
