"""One evaluating worker among several that share an alarm database (no Heat).

A :class:`Worker` joins a store, an evaluator and the alarm database's
membership and sample journal: it heartbeats, follows which projects it owns,
tails their samples into its store, replays what a project gained lacks, tells
the evaluator and its dispatcher which alarms are theirs, and snapshots the
store with the journal bookkeeping it reflects.  heat-engine builds one per
worker process (:mod:`heat_alarming.resources.runtime`); a standalone agent
or another embedder builds one the same way::

    worker = Worker(store, evaluator, worker_id="agent-1", heartbeat_interval=5)
    worker.start()
    worker.push_samples(project_id, samples)   # from any worker; the owner ingests
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable

import numpy as np
from oslo_log import log as logging

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.coordination import Membership
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.metering.batch import SampleBatch
from heat_alarming.metering.sample import Sample
from heat_alarming.metering.snapshot import write_state
from heat_alarming.metering.store import RollingStore

LOG = logging.getLogger(__name__)

#: batches read at most by one replay of a gained project (per starting position)
REPLAY_LIMIT = 100_000


@dataclasses.dataclass
class Bookkeeping:
    """Which journal batches a store holds, besides every owned project's batches up
    to ``position``: ``own_batches`` (id -> project) pushed to this worker and
    ingested at once, and for each project given away, ``left[project]`` = (the
    position when it left, its own batches above that position)."""

    position: int = 0
    own_batches: dict[int, str] = dataclasses.field(default_factory=dict)
    left: dict[str, tuple[int, frozenset[int]]] = dataclasses.field(default_factory=dict)

    def to_extra(self, owned: Iterable[str]) -> dict:
        """The JSON-able form written into a snapshot beside the arrays."""
        return {"journal_position": self.position, "owned": sorted(owned),
                "own_batches": sorted([b, p] for b, p in self.own_batches.items()),
                "left": {p: [after, sorted(mine)] for p, (after, mine) in self.left.items()}}

    @classmethod
    def from_extra(cls, extra: dict, path: str = "") -> Bookkeeping | None:
        """The bookkeeping of a snapshot's ``extra``, with the projects then owned
        counted as given away at its position (so the first tail replays what each of
        them lacks); None, logged, when it has none (the arrays without the position
        they reflect would be counted again: the caller starts from an empty store)."""
        try:
            position = int(extra["journal_position"])
            own = {int(b): str(p) for b, p in extra["own_batches"]}
            left = {str(p): (int(after), frozenset(int(b) for b in mine))
                    for p, (after, mine) in extra["left"].items()}
            owned = [str(p) for p in extra["owned"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            LOG.warning("Snapshot %s has no usable journal position (%s); not restored, "
                        "the windows are rebuilt from the journal", path, exc)
            return None
        for project in owned:
            left[project] = (position, frozenset(b for b, p in own.items() if p == project))
        return cls(position, own, left)


class RecentIds:
    """The message ids (:func:`~heat_alarming.metering.batch.id_digests`) of the
    samples a worker's store took lately, per project, so that a message journalled
    twice is taken once.

    That happens when a worker dies between journalling a notification's samples
    and acknowledging the notification: the bus hands it to another worker, which
    journals it again. The owner reads both batches in journal order (a take-over's
    replay too), so the first copy is taken and the second dropped. Each project
    keeps its newest ``per_project`` digests in a ring (a redelivered copy follows
    its original within a worker's prefetch, far fewer samples); a project given
    away is forgotten, so memory is bounded by the projects owned. Digests are
    compared within a project only. Whole-array: one ``np.isin`` per batch.
    Not thread-safe: the worker calls it under its lock.
    """

    per_project = 4096

    def __init__(self, per_project: int | None = None) -> None:
        if per_project is not None:
            self.per_project = int(per_project)
        self._rings: dict[str, list] = {}  # project -> [digests, next slot, filled]

    def fresh(self, project_id: str, ids: np.ndarray) -> np.ndarray:
        """The mask of the samples to take (no id, or an id not taken before, its
        first sample in ``ids``), remembering the ids taken."""
        ring = self._rings.get(project_id)
        candidate = ids != 0
        if ring is not None and ring[2]:
            candidate &= ~np.isin(ids, ring[0][:ring[2]])
        positions = np.flatnonzero(candidate)
        _, first = np.unique(ids[positions], return_index=True)
        taken = positions[np.sort(first)]
        keep = ids == 0
        keep[taken] = True
        if taken.size:
            if ring is None:
                ring = self._rings[project_id] = [
                    np.zeros(self.per_project, np.uint64), 0, 0]
            new = ids[taken][-self.per_project:]
            slots = (ring[1] + np.arange(new.size)) % self.per_project
            ring[0][slots] = new
            ring[1] = int((ring[1] + new.size) % self.per_project)
            ring[2] = min(self.per_project, ring[2] + new.size)
        return keep

    def forget(self, project_id: str) -> None:
        self._rings.pop(project_id, None)


class Worker:
    """Membership, ownership, the journal tail, take-over and snapshots of one worker.

    **Membership.** :meth:`coordinate` (every ``heartbeat_interval`` once
    :meth:`start` ran) refreshes this worker's heartbeat row; the live workers
    are those heard from within two intervals (:class:`Membership`).

    **Ownership.** A project belongs to the live worker that rendezvous hashing
    names. The evaluator evaluates, and the dispatcher delivers for, exactly the
    *published* projects: those owned under the membership last published, where
    publishing happens in :meth:`coordinate`, after the tail. A worker that
    joins publishes nothing during its join grace (two heartbeats, unless
    ``join_grace`` is false), so that the workers already running have seen it
    and dropped its share before it evaluates any of it. Ownership reaches the
    evaluator through :meth:`Evaluator.follow_ownership` (which reads every
    alarm's state again from the alarm store: a gained alarm was last decided
    elsewhere) and the dispatcher through :meth:`Dispatcher.follow_ownership`.

    **No gap on take-over.** A project gained (its owner died or left, or this
    worker's grace ended) is replayed from the journal over the store's
    retention, and the tail reads until it has caught up with the journal,
    *before* the project is published, under the lock every ingest holds: the
    first round that evaluates its alarms already sees whole windows, so none
    of them passes through insufficient data for want of samples that the
    journal holds. The worker tails (and replays) during its join grace too.

    **Exactly-once ingest.** The store holds, of every project tailed here,
    exactly its batches up to the tail's position plus the batches pushed here
    and ingested at once (``own_batches``, which the tail skips); of a project
    given away, its batches up to the position when it left plus its own
    batches of then (``left``). A project gained is replayed over just what
    the store lacks: everything for a project never held, the batches since it
    left for one that comes back. A pushed batch is journalled (committed)
    before any store ingests it, so nothing pushed is lost when a worker dies.

    **Snapshots.** With ``snapshot_path``, :meth:`snapshot` writes the store's
    arrays together with that bookkeeping (:class:`Bookkeeping`), taken under the
    same lock, every ``snapshot_interval`` seconds from :meth:`start` and once
    more in :meth:`stop`. A worker built with a restored store passes the
    snapshot's ``bookkeeping``: the projects it owned then count as given away
    at the snapshot's position, so the first tail adds exactly what came after.
    The caller owns the file (which path, who else may write it).

    The clock (``clock``, default ``time.time``) times heartbeats, the grace and
    the replay's retention; the store keeps its own clock for sample times.
    """

    journal_poll_interval = 1.0
    snapshot_interval = 30.0
    #: journal batches read at a time by the tail (which reads until caught up)
    tail_batches = 1000

    def __init__(self, store: RollingStore, evaluator: Evaluator,
                 alarm_store: AlarmStore | None = None, *, worker_id: str | None = None,
                 heartbeat_interval: float | None = None,
                 journal_poll_interval: float | None = None,
                 snapshot_path: str | None = None, snapshot_interval: float | None = None,
                 bookkeeping: Bookkeeping | None = None, join_grace: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.evaluator = evaluator
        self.alarm_store = alarm_store or evaluator.alarm_store
        self.clock = clock or time.time
        self.membership = Membership(self.alarm_store, worker_id, clock=self.clock,
                                     heartbeat_interval=heartbeat_interval)
        self.journal = SampleJournal(self.alarm_store, clock=self.clock)
        if journal_poll_interval is not None:
            self.journal_poll_interval = float(journal_poll_interval)
        if snapshot_interval is not None:
            self.snapshot_interval = float(snapshot_interval)
        self.snapshot_path = snapshot_path
        grace = 2 * self.membership.heartbeat_interval if join_grace else 0.0
        self._evaluating_from = self.clock() + grace
        self._grace_over = not join_grace
        self._book = bookkeeping or Bookkeeping()
        self.recent_ids = RecentIds()
        self.duplicates = 0  # samples of messages journalled twice, taken once
        if bookkeeping is not None:
            LOG.info("Restored a store of %d series from %s at journal position %d",
                     len(store), snapshot_path, self._book.position)
        self._live: tuple[str, ...] = ()        # the membership as last heard
        self._published: tuple[str, ...] | None = None  # what the evaluator follows
        self._owned_projects: set[str] = set()  # projects the tail has made whole
        self._owned_cache: tuple[tuple, set[str]] = ((), set())
        self._delivering_cache: tuple[tuple, frozenset[str]] = ((), frozenset())
        self._signature = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._stopped = False
        self.evaluator.follow_ownership(self._owns)
        self.evaluator.dispatcher.follow_ownership(self._delivering)

    # -- what is owned ---------------------------------------------------------
    @property
    def worker_id(self) -> str:
        return self.membership.worker_id

    @property
    def journal_position(self) -> int:
        """The newest journal batch the tail has passed."""
        return self._book.position

    def stats(self) -> dict:
        """This worker's part, as copies: ``worker_id``, ``owned_projects`` (the
        projects with alarms it evaluates and delivers for now; none during its join
        grace), ``live_workers`` (the membership as last heard), ``journal_position``
        and ``duplicate_samples`` (samples of messages journalled twice, taken once).
        Lock-free: a scrape never waits for a replay."""
        return {"worker_id": self.worker_id, "owned_projects": len(self._delivering()),
                "live_workers": len(self._live), "journal_position": self._book.position,
                "duplicate_samples": self.duplicates}

    def _owns(self, alarm: Alarm) -> bool:
        """The evaluator's predicate: the alarm's project is published here."""
        published = self._published
        return published is not None and self.membership.owns(alarm.project_id, published)

    def _projects_owned(self, live: tuple[str, ...]) -> set[str]:
        projects = {a.project_id or "" for a in self.evaluator.alarms()}
        return {p for p in projects if self.membership.owns(p, live)}

    def _owned(self) -> set[str]:
        """Projects with alarms that this worker owns under the membership as last
        heard (kept until the alarms or the membership change, so that a poll costs
        no loop over alarms)."""
        key = (self.evaluator.generation, self._live)
        if self._owned_cache[0] != key:
            self._owned_cache = (key, self._projects_owned(self._live))
        return self._owned_cache[1]

    def _delivering(self) -> Collection[str]:
        """The dispatcher's projects: the published ones, so one worker signals a
        policy at a time and the outcome it reads from Heat's events is its own.
        Lock-free (a delivery never waits for a replay)."""
        published = self._published
        if published is None:
            return frozenset()
        key = (self.evaluator.generation, published)
        cached = self._delivering_cache
        if cached[0] != key:
            cached = self._delivering_cache = (key, frozenset(self._projects_owned(published)))
        return cached[1]

    # -- pushed samples --------------------------------------------------------
    def push_samples(self, project_id: str, samples: Iterable[Sample],
                     message_ids: Iterable[str | None] | None = None) -> int:
        """Journal a checked batch of ``project_id``; ingest it here if this worker
        owns the project (the owner tails it otherwise). Returns the samples taken.
        ``message_ids`` (the samples' ids, in order, from the messaging listener)
        let the owner take a message once however often it is journalled.

        The samples become one columnar batch here, once (a sample without a
        timestamp is "now" by the store's clock, so a replay after a take-over files
        every sample where it first went); the journal stores it and every store
        ingests it as it is.
        """
        rows = SampleBatch.from_samples(samples, self.store.clock(), project_id,
                                        message_ids)
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
                self._book.own_batches[batch] = project_id  # the tail skips it
                return self._ingest(project_id, rows)
        return len(rows)

    def _ingest(self, project_id: str, batch: SampleBatch) -> int:
        """Ingest a journalled batch of ``project_id`` but for the messages this store
        has taken already (:class:`RecentIds`); returns the samples accepted."""
        if batch.ids is not None:
            keep = self.recent_ids.fresh(project_id, batch.ids)
            if not keep.all():
                self.duplicates += int(keep.size - keep.sum())
                batch = batch.take(keep)
        return self.store.ingest_batch(batch).accepted

    # -- coordination ----------------------------------------------------------
    def coordinate(self) -> None:
        """One step: heartbeat, follow definitions, tail (replaying projects gained),
        then publish the ownership to the evaluator and dispatcher."""
        with self._lock:
            live = self.membership.heartbeat()
            signature = self.alarm_store.definitions_signature()
            redefined, self._signature = signature != self._signature, signature
            grace_ended = not self._grace_over and self.clock() >= self._evaluating_from
            self._grace_over = self._grace_over or grace_ended
            moved, self._live = live != self._live, live
            if moved or grace_ended:
                LOG.info("heat-alarming workers now %s; this is %s", list(live),
                         self.worker_id)
            if redefined:
                # the tail must know every project with alarms; the evaluator keeps
                # the ownership it follows until the windows of what is gained are whole
                self.evaluator.reload()
            self.tail()
            published = live if self._grace_over else None
            if published != self._published:
                self._published = published
                self.evaluator.follow_ownership(self._owns)
            if live and live[0] == self.worker_id:  # one worker prunes
                self.journal.prune(self.clock() - self.store.retention)

    def tail(self) -> None:
        """Ingest the owned projects' new journal batches, and replay the projects
        gained (see the class docstring for why no sample counts twice)."""
        with self._lock:
            book = self._book
            owned = self._owned()
            for project in self._owned_projects - owned:
                book.left[project] = (book.position, frozenset(
                    b for b, p in book.own_batches.items() if p == project))
                self.recent_ids.forget(project)
            gained = owned - self._owned_projects
            if gained:
                self._replay(gained)
            self._owned_projects = set(owned)
            if not owned:
                return
            # only the owned projects' batches: another project's batch, skipped here,
            # is replayed above if that project ever comes to this worker. Read until
            # caught up, so that what is published next has its windows whole.
            while True:
                batches = self.journal.read(book.position, owned, limit=self.tail_batches)
                for batch, project, rows in batches:
                    book.position = batch
                    if book.own_batches.pop(batch, None) is None:
                        self._ingest(project, rows)
                if len(batches) < self.tail_batches:
                    break
            # own batches the tail has passed are in the store; those of projects
            # given away before the tail reached them are kept in ``left``
            book.own_batches = {b: p for b, p in book.own_batches.items()
                                if b > book.position}

    def _replay(self, gained: set[str]) -> None:
        """Ingest, of the ``gained`` projects, the batches up to the tail's position
        that the store lacks (those above it the tail reads next)."""
        book = self._book
        since = self.clock() - self.store.retention
        starts: dict[int, set[str]] = {}
        held: set[int] = set()
        for project in gained:
            after, mine = book.left.pop(project, (0, frozenset()))
            starts.setdefault(after, set()).add(project)
            held |= mine
        replayed = 0
        for after, projects in starts.items():
            for batch, project, rows in self.journal.read(after, projects, since=since,
                                                          limit=REPLAY_LIMIT):
                if batch <= book.position and batch not in held \
                        and batch not in book.own_batches:
                    self._ingest(project, rows)
                    replayed += 1
        LOG.debug("Worker %s gained %d project(s); %d journal batch(es) replayed",
                  self.worker_id, len(gained), replayed)

    # -- snapshots ---------------------------------------------------------------
    def snapshot(self) -> int:
        """Write the snapshot now (the store and the bookkeeping it reflects, taken
        together under the lock every ingest holds); returns the bytes written."""
        if self.snapshot_path is None:
            raise ValueError("snapshot_path is not set")
        with self._lock:
            meta, arrays = self.store.export_state()
            extra = self._book.to_extra(self._owned_projects)
        return write_state(meta, arrays, self.snapshot_path, extra)

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
    def _run(self) -> None:
        next_beat = 0.0
        next_snapshot = time.monotonic() + self.snapshot_interval
        while not self._stop.wait(self.journal_poll_interval):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.membership.heartbeat_interval
                    self.coordinate()
                else:
                    self.tail()
            except Exception:  # the database may be away for a moment; keep going
                LOG.exception("heat-alarming coordination step failed; retrying")
            if self.snapshot_path is not None and time.monotonic() >= next_snapshot:
                next_snapshot = time.monotonic() + self.snapshot_interval
                self._snapshot_logged()

    def start(self) -> Worker:
        """Start coordination, evaluation and notification delivery (once)."""
        with self._lock:
            if not self._started:
                self._stop.clear()
                self._stopped = False
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="heat-alarming-coordination")
                self._thread.start()
                self.evaluator.start()
                self._started = True
                LOG.info("heat-alarming evaluator started in pid %d as %s", os.getpid(),
                         self.worker_id)
        return self

    def stop(self) -> None:
        """Stop the threads, leave the membership (the others take this worker's
        projects at their next heartbeat) and write the shutdown snapshot; once (a
        second call does nothing until :meth:`start`)."""
        with self._lock:
            if self._started:
                self._stop.set()
                self.evaluator.stop()
                self._started = False
            stopped, self._stopped = self._stopped, True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if stopped:
            return
        self.membership.leave()
        if self.snapshot_path is not None:
            self._snapshot_logged()

