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

With ``snapshot_path`` set, each worker takes a slot of its own (the first
file ``<snapshot_path>.<n>`` that no live process holds), snapshots its store
every ``snapshot_interval`` seconds together with the journal position that
the store reflects, and restores it on start; the journal then supplies only
what came after (see :meth:`Runtime._tail` for why no sample counts twice).
"""
from __future__ import annotations

import os
import socket
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from heat_alarming import opts
from heat_alarming.engine.coordination import Membership
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.sample import Sample
from heat_alarming.metering.snapshot import claim_slot, write_state
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
        self.snapshot_path: str | None = None
        self.snapshot_interval = float(group.snapshot_interval)
        self._slot_fd: int | None = None
        restored = None
        if group.snapshot_path:
            slot, self.snapshot_path, self._slot_fd = claim_slot(group.snapshot_path)
            # a stable id: the worker restarted in this slot owns the same projects
            # again, so what its snapshot holds is what it evaluates
            worker_id = worker_id or f"{socket.gethostname()}:slot{slot}"
            restored = opts.restore_from_conf(conf, self.snapshot_path, clock=clock)
        bookkeeping = restored and _bookkeeping(restored[1], self.snapshot_path)
        self.store = restored[0] if bookkeeping else opts.store_from_conf(conf, clock=clock)
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
        # batches pushed here and ingested at once (id -> project), for the tail to skip
        self._own_batches: dict[int, str] = {}
        # projects given away whose samples the store still holds: the journal position
        # when they left, and their batches above it that the store holds too
        self._left: dict[str, tuple[int, frozenset[int]]] = {}
        if bookkeeping:
            self._journal_position, self._own_batches, self._left = bookkeeping
            LOG.info("Restored a store of %d series from %s at journal position %d",
                     len(self.store), self.snapshot_path, self._journal_position)
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

        The samples become one columnar batch here, once (a sample without a
        timestamp is "now", so a replay after a take-over files every sample where
        it first went); the journal stores it and every store ingests it as is.
        """
        rows = SampleBatch.from_samples(samples, self.store.clock(), project_id)
        with self._lock:
            mine = project_id in self._owned()
        if not mine:
            # not under the lock: the tail reads it (ids commit in order), and a wait
            # for the journal's append lock never holds up this worker's tail
            self.journal.append(project_id, rows)
            return len(rows)
        with self._lock:
            batch = self.journal.append(project_id, rows)
            # a project with alarms here (one without has nothing to read it; its
            # batches are replayed from the journal when alarms come)
            if project_id in self._owned():
                self._own_batches[batch] = project_id  # the tail must not ingest it twice
                return self.store.ingest_batch(rows).accepted
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
        """Ingest the owned projects' new journal batches, and rebuild the windows of
        projects gained.

        The store holds, of every project tailed here, exactly its batches up to
        ``_journal_position`` plus those in ``_own_batches``; of a project given away,
        its batches up to the position when it left plus the own batches it had then
        (``_left``). A project gained is replayed from the journal over just what the
        store lacks: everything for a project never held, the batches since it left
        for one that comes back (a take-over, or a restore from a snapshot, which
        writes that bookkeeping with the arrays). So no sample counts twice.
        """
        owned = self._owned()
        for project in self._owned_projects - owned:
            self._left[project] = (self._journal_position, frozenset(
                b for b, p in self._own_batches.items() if p == project))
        gained = owned - self._owned_projects
        if gained:
            since = self.clock() - self.store.retention
            starts: dict[int, set[str]] = {}
            held: set[int] = set()
            for project in gained:
                after, mine = self._left.pop(project, (0, frozenset()))
                starts.setdefault(after, set()).add(project)
                held |= mine
            for after, projects in starts.items():
                for batch, _, rows in self.journal.read(after, projects, since=since,
                                                        limit=100_000):
                    if batch <= self._journal_position and batch not in held \
                            and batch not in self._own_batches:
                        self.store.ingest_batch(rows)
        self._owned_projects = owned
        if not owned:
            return
        # only the owned projects' batches: another project's batch, skipped here, is
        # replayed above if that project ever comes to this worker
        for batch, _, rows in self.journal.read(self._journal_position, owned):
            self._journal_position = batch
            if self._own_batches.pop(batch, None) is None:
                self.store.ingest_batch(rows)
        # own batches the tail has passed are in the store; those of projects given
        # away before the tail reached them are kept in _left
        self._own_batches = {b: p for b, p in self._own_batches.items()
                             if b > self._journal_position}

    # -- snapshots ---------------------------------------------------------------
    def snapshot(self) -> int:
        """Write this worker's snapshot now (store and journal bookkeeping, taken
        together under the lock every ingest holds); returns the bytes written."""
        if self.snapshot_path is None:
            raise ValueError("snapshot_path is not set")
        with self._lock:
            meta, arrays = self.store.export_state()
            extra = {"journal_position": self._journal_position,
                     "owned": sorted(self._owned_projects),
                     "own_batches": sorted([b, p] for b, p in self._own_batches.items()),
                     "left": {p: [after, sorted(mine)]
                              for p, (after, mine) in self._left.items()}}
        return write_state(meta, arrays, self.snapshot_path, extra)

    def _run(self) -> None:
        next_beat = 0.0
        next_snapshot = time.monotonic() + self.snapshot_interval
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
            if self.snapshot_path is not None and time.monotonic() >= next_snapshot:
                next_snapshot = time.monotonic() + self.snapshot_interval
                self._snapshot_logged()

    def _snapshot_logged(self) -> None:
        try:
            started = time.monotonic()
            size = self.snapshot()
            LOG.debug("Snapshot of %d series to %s: %d bytes in %.3f s", len(self.store),
                      self.snapshot_path, size, time.monotonic() - started)
        except Exception:  # a failed snapshot (disk full...) must not stop the worker
            LOG.exception("Snapshot to %s failed; the journal still holds the samples",
                          self.snapshot_path)

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
        if self._slot_fd is not None:
            self._snapshot_logged()  # the shutdown snapshot
            os.close(self._slot_fd)  # frees the slot
            self._slot_fd = None


def _bookkeeping(extra: dict, path: str):
    """(journal position, own batches, given-away projects) from a snapshot's extra,
    with the projects then owned counted as given away at its position, so that the
    first tail replays what each of them lacks; None (logged) if it has none."""
    try:
        position = int(extra["journal_position"])
        own = {int(b): str(p) for b, p in extra["own_batches"]}
        left = {str(p): (int(after), frozenset(int(b) for b in mine))
                for p, (after, mine) in extra["left"].items()}
        owned = [str(p) for p in extra["owned"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # arrays without the journal position they reflect would be counted again
        LOG.warning("Snapshot %s has no usable journal position (%s); not restored, the "
                    "windows are rebuilt from the journal", path, exc)
        return None
    for project in owned:
        left[project] = (position, frozenset(b for b, p in own.items() if p == project))
    return position, own, left


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
