"""The alarm machinery of one heat-engine worker, wired into Heat.

heat-engine imports plugins in its parent process and forks its workers
afterwards, so nothing may be started at import time.  :func:`get_runtime`
builds the runtime for the current process on first use (and again in a
forked child, where the parent's threads do not exist), from the
``[heat_alarming]`` options of heat.conf.

What needs no Heat (membership, ownership, the journal tail, take-over,
snapshots) is :class:`heat_alarming.engine.worker.Worker`; this module reads
the options, claims the worker's snapshot slot, restores its snapshot, and
registers the in-process Heat signaller.

With ``snapshot_path`` set, each worker takes a slot of its own (the first
file ``<snapshot_path>.<n>`` that no live process holds), with a stable id
``<host>:slot<n>``: restarted in that slot it owns the same projects again,
so what its snapshot holds is what it evaluates.

With ``metrics_port`` or ``metrics_textfile`` set, each worker exposes its own
health for Prometheus (:mod:`heat_alarming.engine.metrics`): worker ``n`` of a
host, the same ``n`` as its snapshot slot, on ``metrics_port + n``.
"""
from __future__ import annotations

import os
import socket
import threading

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import GROUP, opts
from heat_alarming.engine.alarm_store import HistoryEntry, new_event_id
from heat_alarming.engine.evaluator import evaluator_from_conf
from heat_alarming.engine.listener import listener_from_conf
from heat_alarming.engine.metrics import metrics_from_conf
from heat_alarming.engine.worker import Bookkeeping, Worker
from heat_alarming.metering.sample import Sample
from heat_alarming.metering.snapshot import claim_slot
from heat_alarming.metering.store_conf import restore_from_conf, store_from_conf
from heat_alarming.resources import actions

LOG = logging.getLogger(__name__)


class Runtime:
    """Store, evaluator, in-process policy signaller and :class:`Worker` of one
    heat-engine worker process, from ``[heat_alarming]``."""

    def __init__(self, conf: cfg.ConfigOpts = cfg.CONF, clock=None,
                 worker_id: str | None = None, join_grace: bool = True) -> None:
        opts.register_opts(conf)  # all of them: the resources read some too
        self.conf = conf
        group = conf[GROUP]
        self.pid = os.getpid()
        self.snapshot_path: str | None = None
        self._slot_fd: int | None = None
        slot = None
        restored = bookkeeping = None
        if group.snapshot_path:
            slot, self.snapshot_path, self._slot_fd = claim_slot(group.snapshot_path)
            worker_id = worker_id or f"{socket.gethostname()}:slot{slot}"
            restored = restore_from_conf(conf, self.snapshot_path, clock=clock)
            bookkeeping = restored and Bookkeeping.from_extra(restored[1],
                                                              self.snapshot_path)
        self.store = restored[0] if bookkeeping else store_from_conf(conf, clock=clock)
        self.evaluator = evaluator_from_conf(conf, self.store, clock=clock)
        # explanations of alarms other workers evaluate (made on first use)
        self._explainer = None
        self._explainer_lock = threading.Lock()
        self.evaluator.register_target(actions.TARGET,
                                       actions.HeatSignaller(self._project_of_alarm,
                                                             self._threshold_of_alarm,
                                                             self._record_outcome,
                                                             self._history_of_alarm,
                                                             clock=self.evaluator.clock))
        self.worker = Worker(self.store, self.evaluator, worker_id=worker_id,
                             heartbeat_interval=group.heartbeat_interval,
                             journal_poll_interval=group.journal_poll_interval,
                             snapshot_path=self.snapshot_path,
                             snapshot_interval=group.snapshot_interval,
                             bookkeeping=bookkeeping or None, join_grace=join_grace,
                             clock=clock)
        self.worker.coordinate()
        # Ceilometer's samples from the bus (None unless metering_listener is on):
        # any worker of the pool takes a notification, and push_samples journals
        # each project's samples for its owner (docs/ingest.md)
        self.listener = listener_from_conf(conf, None, self.worker.push_samples,
                                           clock=clock)
        self._listening = False
        # the worker's own health for Prometheus (None unless metrics_port or
        # metrics_textfile is set); worker n of the host is its snapshot slot n
        self.metrics = metrics_from_conf(conf, self.worker, slot)

    # -- helpers for the signaller -------------------------------------------
    def _project_of_alarm(self, alarm_id: str) -> str | None:
        return self.evaluator.get(alarm_id).project_id

    def _threshold_of_alarm(self, alarm_id: str) -> float | None:
        return getattr(self.evaluator.get(alarm_id).rule, "threshold", None)

    def _record_outcome(self, payload: dict, text: str, data: dict,
                        kind: str = "action") -> None:
        """Commit an action's outcome (``kind`` "action") or the signaller's note that it
        is about to signal (``actions.SENDING``) to the alarm's history."""
        now = self.evaluator.clock()
        self.evaluator.alarm_store.record([HistoryEntry(
            new_event_id(now), payload["alarm_id"], kind, now,
            payload.get("previous"), payload.get("current"), text, data,
            payload.get("severity", ""))])

    def _history_of_alarm(self, alarm_id: str) -> list:
        return self.evaluator.history(alarm_id, limit=50)

    # -- explanations ------------------------------------------------------------
    def explain(self, alarm_id: str) -> dict:
        """Why the alarm is in its state (``Evaluator.explain``), whichever worker asks.

        The worker that evaluates the alarm explains from its latest round. Another
        worker's store holds none of the alarm's project's samples (they are
        journalled for the owner), so it explains with a store of that project's
        samples from the sample journal, as at its clock (:mod:`heat_alarming.
        explain_store`), rather than tell of a query that matched nothing; that
        rebuild is reused and bounded per project (:class:`heat_alarming.explain_store.
        JournalExplainer`), so asking often costs the shared worker little. Raises
        KeyError for an alarm this worker's evaluator does not know.
        """
        evaluator = self.evaluator
        alarm = evaluator.get(alarm_id)
        if alarm_id in evaluator.evaluated_ids():
            return evaluator.explain(alarm_id)
        from heat_alarming.explain_store import ExplainLater, JournalExplainer
        with self._explainer_lock:
            if self._explainer is None:
                self._explainer = JournalExplainer(evaluator.alarm_store, self.conf,
                                                   evaluator.clock)
        try:
            return self._explainer.explain(alarm_id, alarm.project_id)
        except ExplainLater as exc:  # as a value: Heat would make an exception None
            return {"error": str(exc)}

    # -- the worker's ------------------------------------------------------------
    def push_samples(self, project_id: str, samples: list[Sample]) -> int:
        """Journal a checked batch; the worker owning the project ingests it
        (:meth:`Worker.push_samples`)."""
        return self.worker.push_samples(project_id, samples)

    def coordinate(self) -> None:
        """One coordination step of the worker (:meth:`Worker.coordinate`)."""
        self.worker.coordinate()

    def snapshot(self) -> int:
        """Write this worker's snapshot now (:meth:`Worker.snapshot`)."""
        return self.worker.snapshot()

    # -- life cycle --------------------------------------------------------------
    def start(self) -> Runtime:
        """Start evaluation, notification delivery, coordination, the messaging
        listener and the metrics exposition (once)."""
        self.worker.start()
        if self.listener is not None and not self._listening:
            self.listener.start()
            self._listening = True
        if self.metrics is not None:
            self.metrics.start()
        return self

    def stop(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        if self._listening:
            self.listener.stop()  # its transport too: a runtime stopped is done
            self._listening = False
        self.worker.stop()  # which writes the shutdown snapshot
        if self._slot_fd is not None:
            os.close(self._slot_fd)  # frees the slot
            self._slot_fd = None


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
