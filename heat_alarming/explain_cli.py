"""Explain why an alarm is in its state: the facts of its latest round, from the database.

``heat-alarming explain ALARM --alarm-database URL [--snapshot PATH] [--at TIME]``
builds an evaluator over the alarm database (read only: nothing is created, migrated
or decided) and a store of samples, and prints ``Evaluator.explain``'s answer: one
sentence, then the rule, the query and the series it matched (or the nearest ones),
each period's value and sample count, recently refused samples, the verdict and what
became of the last action. The samples are those of a heat-engine worker's snapshot
(``--snapshot``, a ``<snapshot_path>.<n>`` file of ``[heat_alarming]``); without one
the store is empty, and the output says so. ``--journal`` adds the alarm's project's
samples from the database's sample journal (where every pushed or listened sample is
kept for the store's retention): after the snapshot's journal position, or all of them
without a snapshot, so that no sample counts twice. ``--at`` evaluates as at another time
than now (a snapshot copied from a worker an hour ago, say). ``--format json`` prints
the explanation itself, with ``samples`` saying where they came from.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import time

from heat_alarming import explain_text
from heat_alarming.errors import CommandError


def moment(text: str) -> float:
    """``--at``: epoch seconds, or ISO 8601 (UTC unless it names another offset)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None:
        try:
            parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")
                                               .replace("z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither ISO 8601 (2026-12-02T18:30:00Z) nor epoch "
                "seconds") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        value = parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time after 1970")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alarm", metavar="ALARM",
                        help="the alarm's id, or its name when no other alarm has that name")
    parser.add_argument("--alarm-database", metavar="URL",
                        help="the alarm database: a SQLAlchemy URL or the path of a SQLite "
                             "file (default: [heat_alarming] alarm_database of the "
                             "--config-file files)")
    parser.add_argument("--snapshot", metavar="PATH",
                        help="a heat-engine worker's store snapshot (<snapshot_path>.<n>): "
                             "the samples to explain the alarm with (default: none, an "
                             "empty store)")
    parser.add_argument("--journal", action="store_true",
                        help="also take the alarm's project's samples from the alarm "
                             "database's sample journal (after the snapshot's journal "
                             "position, or all of them without --snapshot)")
    parser.add_argument("--at", metavar="TIME", type=moment,
                        help="explain as at this time: ISO 8601 (UTC unless it says "
                             "otherwise) or epoch seconds (default: now)")
    parser.add_argument("-f", "--format", choices=("table", "json"), default="table",
                        help="table for a person (default), json for a program")


def run(args: argparse.Namespace, conf) -> int:
    import sqlalchemy as sa

    from heat_alarming import opts
    from heat_alarming.alarm_cli import find_alarm, first_line, open_store

    spec, origin = args.alarm_database, None
    if spec is None:
        opts.register_opts(conf)
        spec, origin = conf[opts.GROUP].alarm_database, f"[{opts.GROUP}] alarm_database"
    alarm_store, shown = open_store(spec, origin)
    try:
        alarm = find_alarm(alarm_store, shown, args.alarm)
        if not hasattr(alarm, "definition"):  # stored, but its definition cannot be read
            raise CommandError(f"alarm {alarm.alarm_id}: its stored definition cannot be "
                               f"read ({alarm.error}), so nothing can be explained")
        at = time.time() if args.at is None else args.at
        explanation, source = explain(alarm_store, alarm.alarm_id, alarm.project_id, at,
                                      args.snapshot, conf, journal=args.journal)
    except sa.exc.DBAPIError as exc:  # the server went away, or a lock timed out
        raise CommandError(f"reading the alarm database {shown} failed: "
                           f"{first_line(exc.orig, sa.engine.make_url(alarm_store.url))}"
                           ) from None
    finally:
        alarm_store.close()
    if args.format == "json":
        print(json.dumps(dict(explanation, samples=source), indent=2, ensure_ascii=False))
    else:
        print(explain_text.render(explanation, notes=source_notes(source)), end="")
    return 0


def explain(alarm_store, alarm_id: str, project_id: str, at: float,
            snapshot: str | None, conf, journal: bool = False) -> tuple[dict, dict]:
    """``Evaluator.explain`` of one alarm as at ``at``, over ``alarm_store`` and the
    samples of ``snapshot`` (None: none) and, with ``journal``, of the sample journal;
    with where the samples came from: ``{"snapshot", "series", "at", "newest_bucket",
    "owned_by_snapshot", "journal"}`` (``journal``: None, or the batches and samples
    taken from it)."""
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.metering import ManualClock

    clock = ManualClock(at)  # the store's and the evaluator's: one "now"
    store, source = samples_at(snapshot, clock, project_id, conf)
    extra = source.pop("extra")
    source["journal"] = replay_journal(alarm_store, store, project_id, at, snapshot,
                                       extra) if journal else None
    source["series"] = len(store)
    evaluator = Evaluator(store, alarm_store, clock=clock)  # never started: no round
    try:
        explanation = evaluator.explain(alarm_id, now=at)
    except KeyError:
        raise CommandError(f"alarm {alarm_id} is not one the evaluator can read "
                           "back from the alarm database") from None
    return explanation, source


def samples_at(snapshot: str | None, clock, project_id: str,
               conf) -> tuple[object, dict]:
    """The store to explain with: ``snapshot`` restored (a :class:`CommandError` naming
    the file if it cannot be read), or an empty store configured as heat-engine's."""
    from heat_alarming.metering.snapshot import SnapshotError, read_snapshot
    from heat_alarming.metering.store import RollingStore
    from heat_alarming.metering.store_conf import store_from_conf

    if snapshot is None:
        store = store_from_conf(conf, clock=clock)
        return store, {"snapshot": None, "series": 0, "at": clock(), "newest_bucket": None,
                       "owned_by_snapshot": None, "extra": None}
    if not os.path.isfile(snapshot):
        raise CommandError(f"--snapshot {snapshot}: no such file")
    try:
        meta, arrays = read_snapshot(snapshot)
        extra = meta.get("extra", {})
        if not isinstance(extra, dict):
            raise SnapshotError(f"{snapshot}: extra is not a mapping")
        store = RollingStore.from_state(meta, arrays, clock=clock)
    except SnapshotError as exc:
        raise CommandError(f"--snapshot {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CommandError(f"--snapshot {snapshot}: not a store snapshot this release "
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
        raise CommandError(f"--journal: the snapshot {snapshot} records no journal "
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


def source_notes(source: dict) -> list[str]:
    """Lines saying where the samples came from, what that leaves out, and when."""
    evaluated = f"evaluated by this command as at {explain_text.iso(source['at'])}"
    journal = source.get("journal")
    taken = journal and (f"{journal['samples']} samples in {journal['batches']} batches "
                         "of the sample journal")
    if source["snapshot"] is None and journal is not None:
        return [f"samples: {taken} ({source['series']} series)", evaluated]
    if source["snapshot"] is None:
        return ["samples: none (no --snapshot or --journal given): the store is empty, "
                "so the query matches no series and every period is empty; give a "
                "worker's snapshot or --journal to see the samples", evaluated]
    notes = [f"samples: snapshot {source['snapshot']} (newest bucket "
             f"{explain_text.iso(source['newest_bucket']) or 'none'})"
             + (f" and {taken}" if journal is not None else "")
             + f": {source['series']} series", evaluated]
    if source["owned_by_snapshot"] is False and journal is None:
        notes.append("the snapshot's worker did not own the alarm's project: it holds "
                     "none of its samples (use the snapshot of the worker that does)")
    return notes
