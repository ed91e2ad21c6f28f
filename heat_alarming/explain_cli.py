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
    from heat_alarming.explain_store import SamplesError, explain

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
        try:
            explanation, source = explain(alarm_store, alarm.alarm_id, alarm.project_id,
                                          at, args.snapshot, conf, journal=args.journal)
        except SamplesError as exc:
            raise CommandError(str(exc)) from None
        except KeyError:
            raise CommandError(f"alarm {alarm.alarm_id} is not one an evaluator can read "
                               "back from the alarm database") from None
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
