"""How an alarm's explanation reads as text: what both explain commands print.

An explanation is the mapping ``Evaluator.explain`` returns (docs/explain.md):
``summary`` (one sentence) first, then facts, some of them mappings (``rule``,
``query``, ``series``, ``last_action``) and some lists of rows (``periods``,
``rejected``, a composite's ``leaves``). :func:`facts` flattens the first kind into
``field.sub`` rows and :func:`sections` gives each list of rows its own table,
wherever it sits (``series.nearest`` too), so that a field the engine adds later
is printed without this module knowing it. Times (epoch seconds under the names in
:data:`TIME_FIELDS`) read as ISO 8601 in UTC, to the millisecond.

Standard library only: the ``openstack`` CLI plugin uses it too, where neither Heat
nor the engine is installed.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

#: fields whose numbers are epoch seconds, wherever they are in an explanation
TIME_FIELDS = frozenset({"evaluated_at", "start", "end", "time", "timestamp", "since",
                         "until", "arrived", "pending_since", "state_timestamp",
                         "samples_at"})


def iso(timestamp: Any) -> Any:
    """Epoch seconds as ISO 8601 in UTC to the millisecond; anything else as it is."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) \
            or not math.isfinite(timestamp):
        return timestamp
    try:
        moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return timestamp
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readable(value: Any, field: str = "") -> Any:
    """``value`` with the times under :data:`TIME_FIELDS` (at any depth) as ISO 8601."""
    if field in TIME_FIELDS:
        return iso(value)
    if isinstance(value, Mapping):
        return {k: readable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [readable(v, field) for v in value]
    return value


#: the most items of a list a table cell shows (``series.ids`` of a thousand servers)
CELL_ITEMS = 10


def cell(value: Any) -> str:
    """One value as a table cell: ``-`` for none, JSON for what has parts (a long list
    cut at :data:`CELL_ITEMS` items, saying how many more there are)."""
    if isinstance(value, (list, tuple)) and len(value) > CELL_ITEMS:
        shown = json.dumps(list(value[:CELL_ITEMS]), sort_keys=True, ensure_ascii=False)
        return f"{shown[:-1]}, ...] ({len(value) - CELL_ITEMS} more)"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return " ".join(str(value).split())


def _is_rows(value: Any) -> bool:
    """A list of mappings (``periods``, ``rejected``, ``leaves``): a table of its own."""
    return isinstance(value, (list, tuple)) and bool(value) \
        and all(isinstance(v, Mapping) for v in value)


def _walk(value: Mapping, prefix: str = "",
          depth: int = 0) -> Iterator[tuple[str, Any, bool]]:
    """``(field, value, is_rows)`` for each fact of ``value``: a top-level mapping
    (``rule``) is entered, a deeper one (``rule.matching_metadata``, whose keys hold
    dots themselves) is one value."""
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item and depth == 0:
            yield from _walk(item, name + ".", depth + 1)
        else:
            yield name, readable(item, str(key)), _is_rows(item)


def facts(explanation: Mapping) -> list[tuple[str, Any]]:
    """``(field, value)`` of every fact but the summary and the lists of rows, mappings
    flattened (``rule.threshold``); times as ISO 8601."""
    return [(name, value) for name, value, rows in _walk(explanation)
            if not rows and name != "summary"]


def sections(explanation: Mapping) -> list[tuple[str, list[str], list[list[Any]]]]:
    """``(title, columns, rows)`` of each list of rows (``periods``, ``rejected``,
    ``series.nearest``, ``leaves``), in the explanation's order; a row's columns are the
    union of its rows' keys, in the order first seen, and times read as ISO 8601."""
    found = []
    for name, value, rows in _walk(explanation):
        if not rows:
            continue
        columns: list[str] = []
        for row in value:
            columns += [str(k) for k in row if str(k) not in columns]
        found.append((name, columns, [[row.get(c) for c in columns] for row in value]))
    return found


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A plain table's lines: upper-case headers, a rule of dashes, one line a row."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return [line([c.upper() for c in columns]), line(["-" * w for w in widths]),
            *[line(row) for row in cells]]


def render(explanation: Mapping, notes: Sequence[str] = ()) -> str:
    """The whole explanation for a person: the summary sentence, ``notes`` (where the
    facts come from), the facts as a field/value table, then each list of rows as a
    table titled with its field and its length."""
    out = [str(explanation.get("summary") or "(no summary)")]
    if notes:
        out += [""] + list(notes)
    out += [""] + table(("field", "value"), facts(explanation))
    for title, columns, rows in sections(explanation):
        out += ["", f"{title} ({len(rows)}):"] + table(columns, rows)
    return "\n".join(out) + "\n"


def period_line(period: Mapping) -> str:
    """One period as a line: its start and end, value, samples, and what marks it."""
    flags = [name for name in ("empty", "late", "outlier", "breach") if period.get(name)]
    if "judged" in period and not period.get("judged"):
        flags.append("not judged")
    return (f"{iso(period.get('start'))} .. {iso(period.get('end'))}  "
            f"value {cell(period.get('value'))}  samples {cell(period.get('samples'))}"
            + (f"  [{', '.join(flags)}]" if flags else ""))
