"""Series selection: Ceilometer/Aodh style queries and Heat's matching_metadata.

A query is a list of ``{"field", "op", "value"[, "type"]}`` items combined
with AND.  Fields are ``resource_id``, ``project_id``, ``user_id``, ``source``,
``metadata.*`` (any spelling Heat accepts for user tags) and ``timestamp``,
which narrows the time range instead of selecting series.  Operators are
eq, ne, lt, le, gt, ge.  Missing fields never match, ``ne`` included (the
SQL semantics of Ceilometer's SQL backend).
"""
from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.metadata import USER_TAG, canonical_query_field
from heat_alarming.metering.sample import to_epoch

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
#: each operator as the numpy function that applies it to whole arrays
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less,
           "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
_OP_ALIASES = {"=": "eq", "==": "eq", "!=": "ne", "<": "lt", "<=": "le",
               ">": "gt", ">=": "ge"}
ID_FIELDS = ("resource_id", "project_id", "user_id", "source")
_FIELD_ALIASES = {"resource": "resource_id", "project": "project_id",
                  "user": "user_id"}
VALUE_TYPES = ("", "string", "integer", "float", "boolean", "datetime")


#: text-only operators a Condition may carry besides OPERATORS (never a threshold's)
TEXT_OPERATORS = ("like",)


class QueryError(ValueError):
    """A query item is malformed; the message names the item and field."""


@dataclasses.dataclass(frozen=True, slots=True)  # one per alarm's rule: no __dict__ each
class Condition:
    """One comparison of a series attribute with a value.

    ``value`` is text for text comparisons and a float when ``numeric``;
    for ``like`` it is an SQL LIKE pattern (see :func:`like_matcher`).
    """

    field: str
    op: str
    value: Any
    numeric: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Present:
    """True where a series carries ``field``, false where it does not (never unknown)."""

    field: str


@dataclasses.dataclass(frozen=True, slots=True)
class AllOf:
    """True where every term is; false where any term is false."""

    terms: tuple


@dataclasses.dataclass(frozen=True, slots=True)
class AnyOf:
    """True where any term is; false where every term is false."""

    terms: tuple


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    """True where the term is false and false where it is true (unknown stays unknown)."""

    term: Any


@functools.lru_cache(maxsize=256)
def like_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of text against an SQL LIKE pattern: ``%`` any run, ``_`` one character,
    a backslash makes the next character literal; case-sensitive (PostgreSQL's LIKE).

    The pattern is cut at its ``%`` into pieces of fixed length, each found
    leftmost in turn (the first anchored at the start, the last at the end), so
    a test costs about text x pattern, with no backtracking however many ``%``
    the pattern holds.
    """
    pieces: list[list[str]] = [[]]  # per piece: regex fragments of one character each
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            pieces[-1].append(re.escape(char))
        elif char == "%":
            pieces.append([])
        elif char == "_":
            pieces[-1].append(".")
        else:
            pieces[-1].append(re.escape(char))
    compiled = [(re.compile("".join(p), re.DOTALL), len(p)) for p in pieces]

    def test(text: str) -> bool:
        if len(compiled) == 1:
            return compiled[0][0].fullmatch(text) is not None
        first, first_len = compiled[0]
        if first.match(text) is None:
            return False
        position = first_len
        last, last_len = compiled[-1]
        end = len(text) - last_len
        if end < position or last.fullmatch(text, end) is None:
            return False
        for piece, length in compiled[1:-1]:
            if length == 0:
                continue
            found = piece.search(text, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    return test


@dataclasses.dataclass(frozen=True, slots=True)  # as Condition
class Query:
    """A normalised query: series conditions plus optional time bounds."""

    conditions: tuple = ()  # Condition and the boolean terms above, all of them must hold
    start: float | None = None  # inclusive lower bound from timestamp ge/gt
    end: float | None = None    # exclusive upper bound from timestamp lt/le


def _coerce(where: str, value: Any, vtype: str) -> tuple[Any, bool]:
    """Return (value, numeric) for a query value of the given declared type."""
    if vtype in ("integer", "float"):
        try:
            return float(value), True
        except (TypeError, ValueError):
            article = "an" if vtype == "integer" else "a"
            raise QueryError(f"{where}.value: {value!r} is not {article} {vtype}") from None
    if vtype == "boolean":
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise QueryError(f"{where}.value: {value!r} is not a boolean")
        return (1.0 if text in ("true", "1") else 0.0), True
    if vtype == "datetime":
        raise QueryError(f"{where}.type: datetime is only valid for the timestamp field")
    if vtype == "" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), True
    if vtype == "" and isinstance(value, bool):
        return (1.0 if value else 0.0), True
    if value is None:
        raise QueryError(f"{where}.value: a value is required")
    return str(value), False


def _item(where: str, item: Mapping[str, Any]) -> Condition | tuple[str, float]:
    if not isinstance(item, Mapping):
        raise QueryError(f"{where}: must be a mapping with field, op and value")
    unknown = set(item) - {"field", "op", "value", "type"}
    if unknown:
        raise QueryError(f"{where}: unknown key(s) {sorted(unknown)}")
    field = item.get("field")
    if not isinstance(field, str) or not field:
        raise QueryError(f"{where}.field: a field name is required")
    op = item.get("op") or "eq"
    op = _OP_ALIASES.get(op, op)
    if op not in OPERATORS:
        raise QueryError(f"{where}.op: {item.get('op')!r} is not one of "
                         + ", ".join(OPERATORS))
    vtype = item.get("type") or ""
    if vtype not in VALUE_TYPES:
        raise QueryError(f"{where}.type: {vtype!r} is not one of "
                         + ", ".join(t for t in VALUE_TYPES if t))
    field = _FIELD_ALIASES.get(field, field)
    if field == "timestamp":
        if op in ("eq", "ne"):
            raise QueryError(f"{where}.op: timestamp accepts lt, le, gt, ge only")
        try:
            return op, to_epoch(item.get("value"))
        except (TypeError, ValueError):
            raise QueryError(f"{where}.value: {item.get('value')!r} is not a time") from None
    field = canonical_query_field(field)
    if field not in ID_FIELDS and not field.startswith("metadata."):
        raise QueryError(f"{where}.field: unknown field {item['field']!r}; use "
                         + ", ".join(ID_FIELDS) + ", metadata.* or timestamp")
    value, numeric = _coerce(where, item.get("value"), vtype)
    return Condition(field, op, value, numeric)


def matching_metadata_field(key: str) -> str:
    """The query field a matching_metadata key stands for.

    As in Heat's OS::Aodh::Alarm, every key names a user tag: a leading
    ``metadata.`` and then ``metering.`` or ``user_metadata.`` are stripped
    before the canonical user-tag prefix is put back.
    """
    if key.startswith("metadata."):
        key = key[len("metadata."):]
    for alias in ("metering.", "user_metadata."):
        if key.startswith(alias):
            key = key[len(alias):]
            break
    return "metadata." + USER_TAG + key


def build_query(query: Iterable[Mapping[str, Any]] | None = None,
                matching_metadata: Mapping[str, Any] | None = None) -> Query:
    """Normalise a query list and a matching_metadata map into one :class:`Query`.

    matching_metadata values are compared as text, as Heat does when it
    turns them into query items.
    """
    if isinstance(query, Query):
        return query
    conditions: list[Condition] = []
    start: float | None = None
    end: float | None = None
    if query is not None and (isinstance(query, (str, bytes, Mapping))
                              or not hasattr(query, "__iter__")):
        raise QueryError("query: must be a list of {field, op, value} items")
    for i, item in enumerate(query or ()):
        parsed = _item(f"query[{i}]", item)
        if isinstance(parsed, Condition):
            conditions.append(parsed)
            continue
        op, when = parsed
        if op in ("ge", "gt"):
            bound = when if op == "ge" else when + 1e-6
            start = bound if start is None else max(start, bound)
        else:
            bound = when if op == "lt" else when + 1e-6
            end = bound if end is None else min(end, bound)
    if matching_metadata is not None:
        if not isinstance(matching_metadata, Mapping):
            raise QueryError("matching_metadata: must be a mapping of key to value")
        for key, value in matching_metadata.items():
            if not isinstance(key, str) or not key:
                raise QueryError(f"matching_metadata: key {key!r} must be non-empty text")
            conditions.append(Condition(matching_metadata_field(key), "eq",
                                        str(value), False))
    return Query(tuple(conditions), start, end)
