"""The samples an alarm is explained with outside its own round, and the explanation.

``heat-alarming explain`` (a person, anywhere the alarm database answers) and an
engine worker asked about an alarm that another worker evaluates (whose own store
holds none of that project's samples) both explain with a store of their own, built
here: a worker's snapshot, and/or the alarm's project's samples from the sample
journal of the alarm database, where every pushed or listened sample is kept for the
store's retention. Read after the snapshot's journal position (its bookkeeping, as a
restoring worker reads it), no sample counts twice. An :class:`Evaluator` over the
alarm database then explains without deciding anything: it is never started, and
explain changes nothing.
"""
from __future__ import annotations

import collections
import os
import threading


class SamplesError(ValueError):
    """The samples asked for cannot be had (a snapshot that cannot be read, say): the
    message says why in one line, naming the file or option."""


def explain(alarm_store, alarm_id: str, project_id: str, at: float,
            snapshot: str | None, conf, *, journal: bool = False) -> tuple[dict, dict]:
    """``Evaluator.explain`` of one alarm as at ``at``, over ``alarm_store`` and the
    samples of ``snapshot`` (None: none) and, with ``journal``, of the sample journal;
    with where the samples came from: ``{"snapshot", "series", "at", "newest_bucket",
    "owned_by_snapshot", "journal"}`` (``journal``: None, or the batches and samples
    taken from it). Raises :class:`SamplesError` for samples that cannot be had and
    KeyError for an alarm the alarm database does not hold (readably)."""
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.metering import ManualClock

    clock = ManualClock(at)  # the store's and the evaluator's: one "now"
    store, source = samples_at(snapshot, clock, project_id, conf)
    extra = source.pop("extra")
    source["journal"] = replay_journal(alarm_store, store, project_id, at, snapshot,
                                       extra) if journal else None
    source["series"] = len(store)
    # never started: no round; the project's alarms only
    evaluator = Evaluator(store, alarm_store, clock=clock, project=project_id)
    return evaluator.explain(alarm_id, now=at), source


def samples_at(snapshot: str | None, clock, project_id: str,
               conf) -> tuple[object, dict]:
    """The store to explain with: ``snapshot`` restored (a :class:`SamplesError` naming
    the file if it cannot be read), or an empty store configured as heat-engine's."""
    from heat_alarming.metering.snapshot import SnapshotError, load_snapshot
    from heat_alarming.metering.store_conf import store_from_conf

    if snapshot is None:
        store = store_from_conf(conf, clock=clock)
        return store, {"snapshot": None, "series": 0, "at": clock(), "newest_bucket": None,
                       "owned_by_snapshot": None, "extra": None}
    if not os.path.isfile(snapshot):
        raise SamplesError(f"--snapshot {snapshot}: no such file")
    try:
        store, extra, meta = load_snapshot(snapshot, clock=clock)
    except SnapshotError as exc:
        raise SamplesError(f"--snapshot {exc}") from None
    owned = extra.get("owned")
    head = int(meta.get("head", -1))
    return store, {
        "snapshot": snapshot, "series": len(store), "at": clock(),
        "newest_bucket": head * store.resolution if head >= 0 else None,
        # a worker's snapshot holds the samples of the projects it owned
        "owned_by_snapshot": (project_id in owned) if isinstance(owned, list) else None,
        "extra": extra}


#: journal batches read per query
JOURNAL_PAGE = 500


def _journal_start(snapshot: str | None, extra: dict | None,
                   project_id: str) -> tuple[int, frozenset]:
    """Where the journal's batches of ``project_id`` that a store lacks start, and the
    batches above that it holds already: nothing for an empty store; for a worker's
    snapshot, what its bookkeeping says (``engine.worker.Bookkeeping``: the projects
    it owned are in it to its journal position, with the batches it took itself above
    it; one it gave away, to the position it left at)."""
    from heat_alarming.engine.worker import Bookkeeping

    if snapshot is None:
        return 0, frozenset()
    # (from_extra logs what it lacks, for a worker; here the one line says it)
    book = Bookkeeping.from_extra(extra, snapshot) \
        if isinstance(extra, dict) and "journal_position" in extra else None
    if book is None:
        raise SamplesError(f"--journal: the snapshot {snapshot} records no journal "
                           "position, so which journal samples it holds is unknown "
                           "(leave out --journal, or --snapshot)")
    if project_id in set(extra.get("owned") or []):
        return book.position, frozenset(b for b, p in book.own_batches.items()
                                        if p == project_id)
    if project_id in book.left:
        return book.left[project_id]
    return 0, frozenset()


def replay_journal(alarm_store, store, project_id: str, at: float,
                   snapshot: str | None, extra: dict | None) -> dict:
    """Ingest into ``store`` the journal's samples of ``project_id`` that it lacks and
    that were in the store's window at ``at`` (a sample stamped later had not come
    yet); returns ``{"batches", "samples"}`` taken."""
    after, held = _journal_start(snapshot, extra, project_id)
    tail = JournalTail(alarm_store, store, project_id, after, held)
    return tail.take(at)


class JournalTail:
    """A project's samples taken from the sample journal into a store, batch after
    batch: :meth:`take` again reads only the batches journalled since, and a message
    journalled twice counts once."""

    def __init__(self, alarm_store, store, project_id: str, after: int = 0,
                 held: frozenset = frozenset()) -> None:
        import numpy as np

        from heat_alarming.engine.journal import SampleJournal

        self.journal = SampleJournal(alarm_store)
        self.store = store
        self.project_id = project_id
        self.after = after  # the last batch read
        self.held = held  # batches above ``after`` the store holds already
        # the message ids taken, sorted, with their samples' times: a message journalled
        # twice counts once; ids whose samples left the window are dropped, so these
        # hold no more than the store's window of the project's samples
        self._ids = np.empty(0, dtype=np.uint64)
        self._stamps = np.empty(0, dtype=np.float64)

    def take(self, at: float) -> dict:
        """Ingest the batches not read yet, their samples in the store's window at ``at``
        (one stamped later is left: it had not come yet); ``{"batches", "samples"}``."""

        oldest = at - self.store.retention
        batches = samples = 0
        while True:
            page = self.journal.read(self.after, [self.project_id], since=oldest,
                                     limit=JOURNAL_PAGE)
            for batch_id, _, rows in page:
                self.after = batch_id
                if batch_id in self.held or not len(rows):
                    continue
                keep = (rows.timestamps >= oldest) & (rows.timestamps <= at)
                if rows.ids is not None:  # 0: a sample without a message id
                    keep &= (rows.ids == 0) | ~self._taken(rows.ids)
                    self._remember(rows.ids[keep & (rows.ids != 0)],
                                   rows.timestamps[keep & (rows.ids != 0)])
                if not keep.any():
                    continue
                taken = self.store.ingest_batch(rows if keep.all() else rows.take(keep))
                batches += 1
                samples += taken.accepted
            if len(page) < JOURNAL_PAGE:
                live = self._stamps >= oldest
                if not live.all():
                    self._ids, self._stamps = self._ids[live], self._stamps[live]
                return {"batches": batches, "samples": samples}

    def _taken(self, ids):
        """Which of ``ids`` were taken already (a search in the sorted ids: no pass
        over all of them per batch)."""
        import numpy as np

        if not self._ids.size:
            return np.zeros(ids.shape, dtype=bool)
        at = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
        return self._ids[at] == ids

    def _remember(self, ids, stamps) -> None:
        import numpy as np

        if not ids.size:
            return
        order = np.argsort(ids, kind="stable")
        ids, stamps = ids[order], stamps[order]
        at = np.searchsorted(self._ids, ids)
        self._ids, self._stamps = np.insert(self._ids, at, ids), np.insert(self._stamps, at,
                                                                           stamps)


#: seconds an explanation of another worker's alarm is answered again without looking
#: at the journal and the alarm database
REFRESH_SECONDS = 5.0
#: projects whose samples from the journal are kept at once (the least recently asked go)
KEPT_PROJECTS = 8
#: seconds between two reads of a project's whole journal (its samples dropped from what
#: is kept meanwhile, or being read by another question)
REBUILD_SECONDS = 30.0


class ExplainLater(Exception):
    """The project's journal was read whole too lately to read it again; ``seconds``
    until it may be."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"this worker read the project's samples from the journal "
                         f"{REBUILD_SECONDS - seconds:.0f} s ago and keeps those of the "
                         f"{KEPT_PROJECTS} projects asked last; ask again in "
                         f"{max(seconds, 1):.0f} s")


class _Kept:
    """One project's samples from the journal, and an evaluator of its alarms over them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one refresh at a time for the project
        self.at: float | None = None  # the time of the newest refresh
        self.clock = None
        self.tail: JournalTail | None = None
        self.evaluator = None


class JournalExplainer:
    """Explanations of alarms that another worker evaluates, at a bounded cost.

    A worker holds none of the samples of a project it does not own, so it explains
    that project's alarms with the project's samples taken from the sample journal.
    heat-api resolves every attribute of a resource on each ``resource show``, so the
    question can come as often as a project likes; the answer must not cost the shared
    worker each time, or one project could slow every other. So, on this object's
    clock:

    * the first question about a project reads its samples from the journal into a
      store of its own, with an evaluator of that project's alarms only
      (``Evaluator(project=...)``), never the whole alarm database; later ones read
      only the batches journalled since, and the project's alarms again (their states
      move), so an answer is as fresh as the journal and the alarm database;
    * within ``refresh`` seconds of the last refresh, questions about the project's
      alarms are answered from what is kept (the answer's ``samples_at`` says as at
      when), after one read of the alarm's row: if its owner committed another state
      since, the project is refreshed at once, so an answer never tells another state
      than the alarm's;
    * one refresh runs at a time per project (a second question waits for it and is
      answered from it); other projects' questions do not wait for it;
    * at most ``projects`` projects are kept, the least recently asked dropped first.

    A sample journalled with a timestamp later than a refresh (a pusher's clock ahead)
    is not taken by a later one. ``stats()`` counts the reads of a whole project
    (``rebuilds``), the refreshes that read only what is new, and the answers given
    from what is kept (``reused``).
    """

    def __init__(self, alarm_store, conf, clock, *, refresh: float = REFRESH_SECONDS,
                 projects: int = KEPT_PROJECTS) -> None:
        self.alarm_store = alarm_store
        self.conf = conf
        self.clock = clock
        self.refresh = float(refresh)
        self.projects = int(projects)
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[str, _Kept] = collections.OrderedDict()
        self._rebuilt_at: dict[str, float] = {}  # the projects read whole lately
        self._counts = collections.Counter()

    def explain(self, alarm_id: str, project_id: str) -> dict:
        """The explanation of ``alarm_id`` (of ``project_id``); KeyError for an alarm the
        alarm database does not hold for that project."""
        with self._lock:
            entry = self._kept.pop(project_id, None) or _Kept()
            self._kept[project_id] = entry  # the most recently asked
            while len(self._kept) > self.projects:
                self._kept.popitem(last=False)
        with entry.lock:
            now = self.clock()
            if entry.at is None:
                self._may_rebuild(project_id, now)
                self._build(entry, project_id, now)
                done = "rebuilds"
            elif now - entry.at >= self.refresh or self._moved(entry.evaluator, alarm_id):
                entry.clock.set(max(now, entry.at))
                entry.tail.take(entry.clock())
                entry.evaluator.reload()  # the alarms as their owner last committed them
                entry.at = entry.clock()
                done = "refreshes"
            else:
                done = "reused"
            with self._lock:
                self._counts[done] += 1
            explanation = entry.evaluator.explain(alarm_id, now=entry.at)
            explanation["samples_at"] = entry.at
        return explanation

    def _may_rebuild(self, project_id: str, now: float) -> None:
        """Take the project's one whole read of :data:`REBUILD_SECONDS`, or raise
        :class:`ExplainLater` (its samples were dropped from what is kept soon after a
        read, by more projects asking than are kept, or another question reads them)."""
        with self._lock:
            for project, at in list(self._rebuilt_at.items()):
                if now - at >= REBUILD_SECONDS:
                    del self._rebuilt_at[project]
            last = self._rebuilt_at.get(project_id)
            if last is not None:
                self._counts["refused"] += 1
                raise ExplainLater(REBUILD_SECONDS - (now - last))
            self._rebuilt_at[project_id] = now

    def _moved(self, evaluator, alarm_id: str) -> bool:
        """Whether the alarm is new or its owner committed another state since the kept
        evaluator read it (one row read: the price of the ``state`` attribute)."""
        try:
            kept = evaluator.get(alarm_id)
        except KeyError:  # an alarm created since the last refresh
            return True
        stored = self.alarm_store.load_alarm(alarm_id)
        return stored is None or any(getattr(stored, f) != getattr(kept, f)
                                     for f in _STATE_FIELDS)

    def _build(self, entry: _Kept, project_id: str, now: float) -> None:
        from heat_alarming.engine.evaluator import Evaluator
        from heat_alarming.metering import ManualClock

        entry.clock = ManualClock(now)  # the store's and the evaluator's: one "now"
        store, _ = samples_at(None, entry.clock, project_id, self.conf)
        entry.tail = JournalTail(self.alarm_store, store, project_id)
        entry.tail.take(now)
        # never started: no round
        entry.evaluator = Evaluator(store, self.alarm_store, clock=entry.clock,
                                    project=project_id)
        entry.at = now

    def stats(self) -> dict:
        with self._lock:
            return {"rebuilds": self._counts["rebuilds"],
                    "refreshes": self._counts["refreshes"],
                    "reused": self._counts["reused"], "refused": self._counts["refused"],
                    "projects": len(self._kept)}


_STATE_FIELDS = ("state", "state_reason", "state_timestamp", "pending_state")
