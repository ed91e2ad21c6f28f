"""Read an alarm database: list alarms, show one, its history and its state.

``heat-alarming alarm list|show|history|state`` reads the database an evaluator
writes (``[heat_alarming] alarm_database``, or ``--alarm-database URL``), as
``openstack alarm list/show/state get`` and ``alarm-history show`` read Aodh's.
It only reads: a database that does not exist, or whose schema is not the one
this release writes, is refused with one line and left as it was (no file is
created, no migration runs). Times are ISO 8601 in UTC; ``--format json`` gives
the same fields to a program.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from heat_alarming.errors import CommandError

#: history rows read from the database per query (keyset pages, see --page-size)
HISTORY_PAGE = 500
STATE_NAMES = ("ok", "alarm", "insufficient data")


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is below the minimum of 1")
    return number


def _state(text: str) -> str:
    state = " ".join(text.replace("_", " ").split()).lower()
    if state not in STATE_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of ok, alarm, 'insufficient data'")
    return state


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--alarm-database", metavar="URL",
                        help="the alarm database: a SQLAlchemy URL "
                             "(postgresql+psycopg2://..., mysql+pymysql://...) or the path "
                             "of a SQLite file (default: [heat_alarming] alarm_database of "
                             "the --config-file files)")
    common.add_argument("-f", "--format", choices=("table", "json"), default="table",
                        help="table for a person (default), json for a program")
    # as the top-level commands take it (cli.py), also after the subcommand
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log at DEBUG level")
    commands = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND",
                                     dest="alarm_command", required=True)

    listing = commands.add_parser(
        "list", parents=[common], help="the alarms, one a line",
        description="The alarms, sorted by project, name and id.")
    listing.add_argument("--project", metavar="PROJECT",
                         help="only the alarms of this project id")
    listing.add_argument("--state", type=_state, metavar="STATE",
                         help="only the alarms in this state: ok, alarm or "
                              "'insufficient data' (also insufficient_data)")
    listing.set_defaults(alarm_run=_list)

    show = commands.add_parser(
        "show", parents=[common], help="every field of one alarm",
        description="Every field of one alarm: its definition and its state.")
    show.add_argument("alarm", metavar="ALARM", help="the alarm's id, or its name when no "
                                                     "other alarm has that name")
    show.set_defaults(alarm_run=_show)

    history = commands.add_parser(
        "history", parents=[common], help="one alarm's history, newest first",
        description="One alarm's history (state transitions and action outcomes), "
                    "newest first: every event unless --limit says how many.")
    history.add_argument("alarm", metavar="ALARM", help="the alarm's id or unique name")
    history.add_argument("--limit", type=_positive, metavar="N",
                         help="print at most N events (default: all)")
    history.add_argument("--marker", metavar="EVENT",
                         help="start just after this event id (the last one a previous "
                              "--limit printed)")
    history.add_argument("--page-size", type=_positive, default=HISTORY_PAGE, metavar="N",
                         help=f"events read per database query (default {HISTORY_PAGE})")
    history.set_defaults(alarm_run=_history)

    state = commands.add_parser(
        "state", parents=[common], help="one alarm's state, its reason and since when",
        description="One alarm's state, the reason for it and when it was entered.")
    state.add_argument("alarm", metavar="ALARM", help="the alarm's id or unique name")
    state.set_defaults(alarm_run=_state_of)


def run(args: argparse.Namespace, conf) -> int:
    from heat_alarming import opts

    spec, origin = args.alarm_database, None
    if spec is None:
        opts.register_opts(conf)
        spec, origin = conf[opts.GROUP].alarm_database, f"[{opts.GROUP}] alarm_database"
    import sqlalchemy as sa

    store, shown = open_store(spec, origin)
    try:
        args.alarm_run(store, shown, args)
    except sa.exc.DBAPIError as exc:  # the server went away, or a lock timed out
        raise CommandError(f"reading the alarm database {shown} failed: "
                           f"{first_line(exc.orig, sa.engine.make_url(store.url))}") from None
    finally:
        store.close()
    return 0


# -- opening the database, reading only ----------------------------------------
def open_store(spec: str, origin: str | None = None):
    """The :class:`AlarmStore` of ``spec`` (a URL or a SQLite path) and the URL to
    show (without its password); a :class:`CommandError` if it cannot be read.
    ``origin`` names where ``spec`` came from when it was not given on the command line
    (an option of the configuration), for the error about a missing file."""
    import sqlalchemy as sa

    from heat_alarming.engine.alarm_store import AlarmStore, database_url

    if not spec:
        raise CommandError("--alarm-database: no database given")
    try:
        url = sa.engine.make_url(database_url(spec))
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is no number
        raise CommandError(f"--alarm-database: {_masked(spec)!r} is neither a SQLAlchemy "
                           f"URL nor a file path") from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        _check_sqlite_file(url.database, shown, origin)
    try:
        store = AlarmStore(database_url(spec), read_only=True)
    except ImportError as exc:
        raise CommandError(f"the alarm database {shown} needs the module "
                           f"{exc.name or exc}, which is not installed") from None
    except (sa.exc.ArgumentError, ValueError, TypeError) as exc:
        raise CommandError(f"--alarm-database {shown}: {first_line(exc, url)}") from None
    try:
        _check_schema(store, shown, url)
    except BaseException:
        store.close()
        raise
    return store, shown


def _masked(spec: str) -> str:
    """``spec`` with any password of a URL-like text replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", spec)


def _check_sqlite_file(path: str | None, shown: str, origin: str | None) -> None:
    """A SQLite alarm database is an existing file holding the alarm tables; looked at
    through a read-only connection, so that nothing is created or changed."""
    if not path or path == ":memory:":
        raise CommandError(f"{shown} is an in-memory database: it holds no alarms")
    if not os.path.isfile(path):
        where = f" ({origin})" if origin else ""
        raise CommandError(f"no alarm database at {path}{where}: the file does not exist")
    try:
        connection = sqlite3.connect(
            f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CommandError(f"cannot open the alarm database {path}: {exc}") from None
    try:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:  # "file is not a database"
        raise CommandError(f"cannot read the alarm database {path}: {exc}") from None
    finally:
        connection.close()
    if "ha_alembic_version" not in tables:
        raise CommandError(_no_schema(shown))


def _no_schema(shown: str) -> str:
    return (f"{shown} holds no alarm tables: it is not an alarm database, or its "
            f"schema was never created (heat-engine creates it when it loads heat-alarming)")


def _check_schema(store, shown: str, url) -> None:
    """Connect (one line if the server cannot be reached) and compare the schema's
    version with this release's."""
    import sqlalchemy as sa
    from alembic.script import ScriptDirectory

    from heat_alarming.engine.alarm_store import MIGRATIONS

    try:
        with store.engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise CommandError(f"cannot connect to the alarm database {shown}: "
                           f"{first_line(exc.orig, url)}") from None
    version = store.schema_version()
    if version is None:
        raise CommandError(_no_schema(shown))
    scripts = ScriptDirectory(MIGRATIONS)
    head = scripts.get_current_head()
    if version == head:
        return
    known = {script.revision for script in scripts.walk_revisions()}
    if version in known:
        raise CommandError(f"{shown} has schema version {version}, older than this "
                           f"release's {head}: heat-engine upgrades it when it loads "
                           f"this release of heat-alarming")
    raise CommandError(f"{shown} has schema version {version}, which this release does "
                       f"not know (a newer heat-alarming wrote it)")


def first_line(exc: BaseException, url) -> str:
    """An error's first line, with the URL's password (should the driver quote the URL)
    masked."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


# -- finding an alarm -------------------------------------------------------------
def _every_alarm(store) -> list:
    """Every stored alarm, sorted by project, name and id; one whose definition cannot
    be read back comes as an :class:`InvalidAlarm` (with the error)."""
    invalid: list = []
    alarms = store.load_alarms(invalid)
    return sorted(alarms + invalid, key=lambda a: (a.project_id or "", _name(a), a.alarm_id))


def _name(alarm) -> str:
    return getattr(alarm, "name", "")


def find_alarm(store, shown: str, wanted: str):
    """The alarm whose id is ``wanted``, else the one alarm named so."""
    try:
        alarm = store.load_alarm(wanted)
    except Exception:  # stored but unreadable: found below, as an InvalidAlarm
        alarm = None
    if alarm is not None:
        return alarm
    every = _every_alarm(store)
    found = ([a for a in every if a.alarm_id == wanted]
             or [a for a in every if _name(a) == wanted])
    if not found:
        raise CommandError(f"no alarm {wanted} in {shown}")
    if len(found) > 1:
        raise CommandError(f"{len(found)} alarms are named {wanted} in {shown}: "
                           f"give the id of one")
    return found[0]


# -- the subcommands -----------------------------------------------------------------
LIST_COLUMNS = ("id", "name", "project", "type", "state", "enabled", "state timestamp")


def _list(store, shown: str, args: argparse.Namespace) -> None:
    rows = []
    for alarm in _every_alarm(store):
        if args.project is not None and alarm.project_id != args.project:
            continue
        if args.state is not None and alarm.state != args.state:
            continue
        rows.append({"id": alarm.alarm_id, "name": _name(alarm) or None,
                     "project": alarm.project_id,
                     "type": getattr(alarm, "type", "invalid"),
                     "state": alarm.state, "enabled": getattr(alarm, "enabled", None),
                     "state timestamp": iso(alarm.state_timestamp)})
    if args.format == "json":
        _print_json([{k.replace(" ", "_"): v for k, v in row.items()} for row in rows])
    else:
        _print_table(LIST_COLUMNS, [[row[c] for c in LIST_COLUMNS] for row in rows])


def alarm_fields(alarm) -> dict[str, Any]:
    """Every field of an alarm (its definition, then its state), times in ISO 8601."""
    state = {"state": alarm.state, "state_reason": alarm.state_reason,
             "state_timestamp": iso(alarm.state_timestamp),
             "pending_state": alarm.pending_state, "pending_since": iso(alarm.pending_since)}
    if not hasattr(alarm, "definition"):  # stored, but its definition cannot be read
        return {"alarm_id": alarm.alarm_id, "project_id": alarm.project_id,
                "error": alarm.error, **state}
    fields = alarm.definition()
    return {**fields, **state}


def _show(store, shown: str, args: argparse.Namespace) -> None:
    fields = alarm_fields(find_alarm(store, shown, args.alarm))
    if args.format == "json":
        _print_json(fields)
        return
    rows = []
    for key, value in fields.items():
        if isinstance(value, dict) and value:  # a rule: one row per field of it
            rows.extend([f"{key}.{sub}", item] for sub, item in value.items())
        else:
            rows.append([key, value])
    _print_table(("field", "value"), rows)


HISTORY_COLUMNS = ("event id", "timestamp", "type", "previous", "current", "severity",
                   "reason")


def _history(store, shown: str, args: argparse.Namespace) -> None:
    alarm = find_alarm(store, shown, args.alarm)
    events = [{"event_id": h.event_id, "timestamp": iso(h.timestamp), "type": h.type,
               "previous": h.previous, "current": h.current, "severity": h.severity,
               "reason": h.reason, "reason_data": h.reason_data}
              for h in history_pages(store, alarm.alarm_id, args.marker, args.page_size,
                                     args.limit)]
    if args.format == "json":
        _print_json(events)
    else:
        _print_table(HISTORY_COLUMNS, [[e[c.replace(" ", "_")] for c in HISTORY_COLUMNS]
                                       for e in events])


def history_pages(store, alarm_id: str, marker: str | None, page_size: int,
                  limit: int | None) -> Iterator:
    """An alarm's history newest first, after ``marker``, read ``page_size`` events a
    query (each page starts after the last event of the one before), at most ``limit``
    events (None: all)."""
    from heat_alarming.engine.alarm_store import UnknownMarker

    given = marker
    remaining = limit
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        try:
            page = store.history(alarm_id, size, marker)
        except UnknownMarker:
            if marker == given:
                raise CommandError(f"--marker {given}: alarm {alarm_id} has no event "
                                   f"with that id") from None
            raise CommandError(f"event {marker} of alarm {alarm_id} was pruned while its "
                               f"history was read: run the command again") from None
        yield from page
        if len(page) < size:
            return
        marker = page[-1].event_id
        if remaining is not None:
            remaining -= len(page)


def _state_of(store, shown: str, args: argparse.Namespace) -> None:
    fields = alarm_fields(find_alarm(store, shown, args.alarm))
    state = {key: fields[key] for key in ("alarm_id", "state", "state_reason",
                                          "state_timestamp", "pending_state",
                                          "pending_since")}
    if args.format == "json":
        _print_json(state)
    else:
        _print_table(("field", "value"), [list(item) for item in state.items()])


# -- output ------------------------------------------------------------------------------
def iso(timestamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC, to the millisecond (None stays None)."""
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return " ".join(str(value).split()) if "\n" in str(value) else str(value)


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    print(line([c.upper() for c in columns]))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
