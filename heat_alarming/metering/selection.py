"""Many selectors resolved at once, and brought up to date from the rows that changed.

A selector is ``(meter, query, project_id)``; its rows are those of the
meter's series that satisfy every condition of the query (and belong to the
project, when one is given).  Resolving each selector by a pass over all the
meter's rows costs selectors x series; here the equality conditions do the
work instead:

* a full select (:func:`select`) sorts, once per (meter, field) that some
  selector's *key* (an eq condition on a text attribute) names, that column's
  codes over the meter's rows; each selector then finds its candidates by a
  binary search for its code, and its other conditions test only those;
* a reselect (:func:`reselect`) tests only the rows changed since the old
  selection's version (:meth:`SeriesIndex.changed_since`), each against only
  the selectors its key values can satisfy, plus the meter's selectors without
  a key.

Both give exactly what :meth:`SeriesIndex.select` gives per selector.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from heat_alarming.metering.index import SeriesIndex
from heat_alarming.metering.query import Condition, Query

#: a reselect tests changed rows one candidate query at a time; up to this many changed
#: rows, or a quarter of the index's rows if more, that costs less than a full select
RESELECT_FLOOR = 1024


class Selection(NamedTuple):
    """Series rows of many selectors: segment i is ``rows[starts[i]:starts[i]+lengths[i]]``."""

    rows: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    version: int


def scoped(query: Query, project_id: str | None) -> tuple:
    """A query's conditions, limited to one project when one is given."""
    if project_id is None:
        return query.conditions
    return query.conditions + (Condition("project_id", "eq", project_id),)


def _key_rank(term: Any) -> int:
    """How well a condition serves as a selector's key: lower is better, -1 not at all.

    Resource ids are nearly unique, metadata and users narrow well; projects and
    sources are shared by many series (every scoped selector names its project).
    """
    if not (isinstance(term, Condition) and term.op == "eq" and not term.numeric
            and isinstance(term.value, str)):
        return -1
    field = term.field
    if field == "resource_id":
        return 0
    if field.startswith("metadata."):
        return 1
    return {"user_id": 2, "project_id": 3, "source": 4}.get(field, -1)


def key_of(conditions: Sequence) -> int:
    """Position in ``conditions`` of the selector's key (-1: it has none)."""
    best, best_rank = -1, 99
    for i, term in enumerate(conditions):
        rank = _key_rank(term)
        if 0 <= rank < best_rank:
            best, best_rank = i, rank
    return best


class Selectors(Sequence):
    """A list of ``(meter, query, project_id)`` selectors, compiled once for
    :func:`select` and :func:`reselect`.

    It reads as the list it was built from (items are the triples, in order).
    Selectors that ask the same thing (same meter and scoped conditions) share
    one *query*: ``query_of[i]`` is selector i's.  Each query has at most one
    key, the eq condition on a text field that narrows best (:func:`key_of`).
    The reverse index (meter, field) -> key value -> queries, and the meter's
    queries without a key, are built on the first :func:`reselect` and kept.
    """

    def __init__(self, selectors: Iterable[tuple[str, Query, str | None]]) -> None:
        self._items = list(selectors)
        ids: dict[tuple, int] = {}
        query_of = np.empty(len(self._items), dtype=np.int64)
        #: per query: (meter, conditions), and the position of its key (-1: none)
        self.queries: list[tuple[str, tuple]] = []
        for i, (meter, query, project_id) in enumerate(self._items):
            asked = (meter, scoped(query, project_id))
            q = ids.get(asked)
            if q is None:
                q = ids[asked] = len(self.queries)
                self.queries.append(asked)
            query_of[i] = q
        self.query_of = query_of
        self.keys = [key_of(conditions) for _, conditions in self.queries]
        self._reverse: tuple[dict, dict] | None = None
        self._members: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        return self._items[i]

    def __iter__(self):
        return iter(self._items)

    def reverse(self) -> tuple[dict, dict]:
        """(``{(meter, field): {value: [query, ...]}}`` over keyed queries,
        ``{meter: [query, ...]}`` over the others)."""
        if self._reverse is None:
            by_value: dict[tuple[str, str], dict[str, list[int]]] = {}
            unkeyed: dict[str, list[int]] = {}
            for q, ((meter, conditions), k) in enumerate(zip(self.queries, self.keys)):
                if k < 0:
                    unkeyed.setdefault(meter, []).append(q)
                else:
                    key = conditions[k]
                    by_value.setdefault((meter, key.field), {}).setdefault(
                        key.value, []).append(q)
            self._reverse = by_value, unkeyed
        return self._reverse

    def members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(selectors ordered by query, where each query's run starts, its length)."""
        if self._members is None:
            order = np.argsort(self.query_of, kind="stable")
            counts = np.bincount(self.query_of, minlength=len(self.queries))
            self._members = order, np.cumsum(counts) - counts, counts
        return self._members


def _ranges(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(l, l + c) for l, c in zip(lo, counts)])``, without the loop."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(lo - (ends - counts), counts)


def _rest_shape(conditions: tuple, key: int) -> tuple | None:
    """The conditions besides the key, as (field, op, numeric) when every one can be
    decided for many queries at once (text eq/ne, numeric comparisons); else None."""
    shape = []
    for i, term in enumerate(conditions):
        if i == key:
            continue
        if not isinstance(term, Condition) or not (term.numeric or term.op in ("eq", "ne")):
            return None
        shape.append((term.field, term.op, term.numeric))
    return tuple(shape)


def _select_keyed(index: SeriesIndex, plan: Selectors, meter: str, field: str,
                  queries: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(query, row) pairs of keyed queries of one (meter, key field), sorted by row
    within each query."""
    rows = index.meter_rows(meter)
    column = index.column(field)
    none = np.zeros(0, dtype=np.int64)
    if column is None or rows.size == 0:
        return none, none
    codes = column.codes[rows]
    order = np.argsort(codes, kind="stable")  # stable: rows stay sorted within a code
    sorted_codes, sorted_rows = codes[order], rows[order]
    wanted = column.code_array(plan.queries[q][1][plan.keys[q]].value for q in queries)
    lo = np.searchsorted(sorted_codes, wanted, "left")
    counts = np.searchsorted(sorted_codes, wanted, "right") - lo
    pair_q = np.repeat(np.asarray(queries, dtype=np.int64), counts)
    pair_rows = sorted_rows[_ranges(lo, counts)]
    # the other conditions: queries of one shape at once, the rest one by one
    shapes: dict[tuple | None, list[int]] = {}
    for j, q in enumerate(queries):
        if counts[j]:
            shapes.setdefault(_rest_shape(plan.queries[q][1], plan.keys[q]), []).append(j)
    if list(shapes) == [()]:
        return pair_q, pair_rows
    keep = np.ones(pair_rows.size, dtype=bool)
    first = np.cumsum(counts) - counts
    for shape, members in shapes.items():
        if shape == ():
            continue
        members_arr = np.asarray(members, dtype=np.int64)
        at = _ranges(first[members_arr], counts[members_arr])
        if shape is None:
            for j in members:
                q = queries[j]
                conditions = plan.queries[q][1]
                span = slice(first[j], first[j] + counts[j])
                rest = conditions[:plan.keys[q]] + conditions[plan.keys[q] + 1:]
                kept = index.filter(pair_rows[span], rest)
                keep[span] = np.isin(pair_rows[span], kept, assume_unique=True)
            continue
        subset = pair_rows[at]
        which = np.repeat(np.arange(members_arr.size), counts[members_arr])
        passing = np.ones(subset.size, dtype=bool)
        for position, (name, op, numeric) in enumerate(shape):
            other = index.column(name)
            if other is None:
                passing[:] = False
                break
            terms = [_rest(plan, queries[j], position) for j in members]
            if numeric:
                values = np.fromiter((t.value for t in terms), dtype=np.float64,
                                     count=len(terms))
            else:
                values = other.code_array(t.value for t in terms)
            passing &= other.match_each(subset, op, numeric, values[which])
        keep[at] = passing
    return pair_q[keep], pair_rows[keep]


def _rest(plan: Selectors, q: int, position: int) -> Condition:
    """The ``position``-th condition of query ``q`` besides its key."""
    conditions, key = plan.queries[q][1], plan.keys[q]
    return conditions[position + (position >= key)]


def _pairs(plan: Selectors, pair_q: np.ndarray,
           pair_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Selector segments (rows, starts, lengths) from (query, row) pairs sorted by
    query, then row."""
    per_query = np.bincount(pair_q, minlength=len(plan.queries)).astype(np.int64)
    query_start = np.cumsum(per_query) - per_query
    lengths = per_query[plan.query_of]
    starts = np.cumsum(lengths) - lengths
    rows = pair_rows[_ranges(query_start[plan.query_of], lengths)]
    return rows.astype(np.int64, copy=False), starts, lengths


def select(index: SeriesIndex, plan: Selectors) -> Selection:
    """Every selector's rows, sorted within each segment, at the index's version."""
    groups: dict[tuple[str, str], list[int]] = {}
    found_q, found_rows = [], []
    for q, ((meter, conditions), key) in enumerate(zip(plan.queries, plan.keys)):
        if key < 0:
            rows = index.select(meter, conditions)
            found_q.append(np.full(rows.size, q, dtype=np.int64))
            found_rows.append(rows)
        else:
            groups.setdefault((meter, conditions[key].field), []).append(q)
    for (meter, field), queries in groups.items():
        pair_q, pair_rows = _select_keyed(index, plan, meter, field, queries)
        found_q.append(pair_q)
        found_rows.append(pair_rows)
    if found_q:
        pair_q, pair_rows = np.concatenate(found_q), np.concatenate(found_rows)
    else:
        pair_q = pair_rows = np.zeros(0, dtype=np.int64)
    order = np.argsort(pair_q, kind="stable")  # each query's rows came sorted, in one piece
    rows, starts, lengths = _pairs(plan, pair_q[order], pair_rows[order].astype(np.int64))
    return Selection(rows, starts, lengths, index.version)


def _matches(index: SeriesIndex, plan: Selectors,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, row) pairs: the live ``rows`` each query selects (only the queries a
    row's key values or meter can satisfy are tried)."""
    by_value, unkeyed = plan.reverse()
    rows = rows[index.live[rows]]
    meter_of: dict[str, list[int]] = {}
    keys = index.keys
    for row in rows.tolist():
        meter_of.setdefault(keys[row][0], []).append(row)
    found_q: list[np.ndarray] = []
    found_rows: list[np.ndarray] = []

    def test(q: int, candidates: np.ndarray) -> None:
        matched = index.filter(candidates, plan.queries[q][1])
        if matched.size:
            found_q.append(np.full(matched.size, q, dtype=np.int64))
            found_rows.append(matched)

    for meter, held in meter_of.items():
        held_rows = np.asarray(held, dtype=np.int64)
        for q in unkeyed.get(meter, ()):
            test(q, held_rows)
        for (key_meter, field), queries_of in by_value.items():
            if key_meter != meter:
                continue
            column = index.column(field)
            if column is None:
                continue
            codes = column.codes[held_rows]
            for code in np.unique(codes[codes > 0]).tolist():
                queries = queries_of.get(column.texts[code - 1])
                if queries:
                    candidates = held_rows[codes == code]
                    for q in queries:
                        test(q, candidates)
    if not found_q:
        none = np.zeros(0, dtype=np.int64)
        return none, none
    return np.concatenate(found_q), np.concatenate(found_rows)


def _member(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``values`` are in ``sorted_values`` (sorted, unique)."""
    if sorted_values.size == 0:
        return np.zeros(values.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return sorted_values[at] == values


def reselect(index: SeriesIndex, plan: Selectors,
             old: Selection) -> tuple[Selection, np.ndarray]:
    """``old`` (a selection of ``plan`` at an older version) brought to the index's
    version, and the segments whose rows changed (sorted; empty when none).

    A segment changed when it gained or lost a row, or holds a row released
    since (it may hold another series now).  Rows are tested only if they changed
    since ``old.version``; when more changed than :data:`RESELECT_FLOOR` or a
    quarter of the rows, this is a full :func:`select` and every segment is
    reported changed.
    """
    n_segments = len(plan)
    if old.version == index.version:
        return old, np.zeros(0, dtype=np.int64)
    changed, released = index.changed_since(old.version)
    if changed.size > max(RESELECT_FLOOR, index.n_rows // 4) or old.lengths.size != n_segments:
        return select(index, plan), np.arange(n_segments, dtype=np.int64)
    add_q, add_rows = _matches(index, plan, changed)
    # selectors of each matching query
    order, run_start, run_length = plan.members()
    per_pair = run_length[add_q]
    add_segments = order[_ranges(run_start[add_q], per_pair)]
    add_rows = np.repeat(add_rows, per_pair)
    # (segment, row) pairs as one sortable number
    width = max(index.n_rows, 1)
    segment_of = np.repeat(np.arange(n_segments, dtype=np.int64), old.lengths)
    old_keys = segment_of * width + old.rows
    touched = _member(changed, old.rows)
    removed, kept = old_keys[touched], old_keys[~touched]
    added = np.sort(add_segments * width + add_rows)
    if removed.size == 0 and added.size == 0:
        return old._replace(version=index.version), np.zeros(0, dtype=np.int64)
    keys = np.insert(kept, np.searchsorted(kept, added), added)
    segments = keys // width
    lengths = np.bincount(segments, minlength=n_segments).astype(np.int64)
    moved = np.setxor1d(removed, added, assume_unique=True)
    reused = removed[_member(released, removed % width)]
    changed_segments = np.unique(np.concatenate((moved // width, reused // width)))
    selection = Selection(keys % width, np.cumsum(lengths) - lengths, lengths, index.version)
    return selection, changed_segments
