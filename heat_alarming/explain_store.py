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

import os


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
    evaluator = Evaluator(store, alarm_store, clock=clock)  # never started: no round
    return evaluator.explain(alarm_id, now=at), source


def samples_at(snapshot: str | None, clock, project_id: str,
               conf) -> tuple[object, dict]:
    """The store to explain with: ``snapshot`` restored (a :class:`SamplesError` naming
    the file if it cannot be read), or an empty store configured as heat-engine's."""
    from heat_alarming.metering.snapshot import SnapshotError, read_snapshot
    from heat_alarming.metering.store import RollingStore
    from heat_alarming.metering.store_conf import store_from_conf

    if snapshot is None:
        store = store_from_conf(conf, clock=clock)
        return store, {"snapshot": None, "series": 0, "at": clock(), "newest_bucket": None,
                       "owned_by_snapshot": None, "extra": None}
    if not os.path.isfile(snapshot):
        raise SamplesError(f"--snapshot {snapshot}: no such file")
    try:
        meta, arrays = read_snapshot(snapshot)
        extra = meta.get("extra", {})
        if not isinstance(extra, dict):
            raise SnapshotError(f"{snapshot}: extra is not a mapping")
        store = RollingStore.from_state(meta, arrays, clock=clock)
    except SnapshotError as exc:
        raise SamplesError(f"--snapshot {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SamplesError(f"--snapshot {snapshot}: not a store snapshot this release "
                           f"can read ({type(exc).__name__}: {exc})") from None
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
    import numpy as np

    from heat_alarming.engine.journal import SampleJournal

    after, held = _journal_start(snapshot, extra, project_id)
    journal = SampleJournal(alarm_store)
    oldest = at - store.retention
    seen = np.empty(0, dtype=np.uint64)  # a message journalled twice counts once
    batches = samples = 0
    while True:
        page = journal.read(after, [project_id], since=oldest, limit=JOURNAL_PAGE)
        for batch_id, _, rows in page:
            after = batch_id
            if batch_id in held or not len(rows):
                continue
            keep = (rows.timestamps >= oldest) & (rows.timestamps <= at)
            if rows.ids is not None:  # 0: a sample without a message id
                keep &= (rows.ids == 0) | ~np.isin(rows.ids, seen)
                seen = np.union1d(seen, rows.ids[keep & (rows.ids != 0)])
            if not keep.any():
                continue
            taken = store.ingest_batch(rows if keep.all() else rows.take(keep))
            batches += 1
            samples += taken.accepted
        if len(page) < JOURNAL_PAGE:
            return {"batches": batches, "samples": samples}
