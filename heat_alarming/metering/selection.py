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

import array
import bisect
import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from heat_alarming.metering.index import SeriesIndex
from heat_alarming.metering.query import Condition, Query

#: a reselect tests changed rows one candidate selector at a time; up to this many changed
#: rows, or a quarter of the index's rows if more, that costs less than a full select
RESELECT_FLOOR = 1024


class Selection(NamedTuple):
    """Series rows of many selectors: segment i is ``rows[starts[i]:starts[i]+lengths[i]]``."""

    rows: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    version: int


#: how well an eq condition's field serves as a selector's key: lower is better.  Resource
#: ids are nearly unique, metadata and users narrow well; projects and sources are shared
#: by many series (every scoped selector names its project)
_KEY_RANK = {"resource_id": 0, "user_id": 2, "project_id": 3, "source": 4}
_METADATA_RANK = 1


@functools.lru_cache(maxsize=4096)
def _project_condition(project_id: str) -> Condition:
    return Condition("project_id", "eq", project_id)


@functools.lru_cache(maxsize=4096)
def _project_only(project_id: str) -> tuple:
    """The project condition alone (what a one-resource scoped selector asks besides
    its key): one tuple per project, not one per selector."""
    return (_project_condition(project_id),)


def scoped(query: Query, project_id: str | None) -> tuple:
    """A query's conditions, limited to one project when one is given."""
    if project_id is None:
        return query.conditions
    return query.conditions + (_project_condition(project_id),)


def key_of(conditions: Sequence, best_rank: int = 99) -> int:
    """Position in ``conditions`` of the selector's key, the eq condition on a text
    field that narrows best (-1: none narrows better than ``best_rank``)."""
    best = -1
    for i, term in enumerate(conditions):
        if type(term) is not Condition or term.op != "eq" or term.numeric \
                or type(term.value) is not str:
            continue
        rank = _KEY_RANK.get(term.field)
        if rank is None:
            if not term.field.startswith("metadata."):
                continue
            rank = _METADATA_RANK
        if rank < best_rank:
            best, best_rank = i, rank
    return best


def _rest_shape(rest: tuple) -> tuple | None:
    """Conditions as (field, op, numeric) when every one can be decided for many
    selectors at once (text eq/ne, numeric comparisons); else None."""
    shape = []
    for term in rest:
        if type(term) is not Condition or not (term.numeric or term.op in ("eq", "ne")):
            return None
        shape.append((term.field, term.op, term.numeric))
    return tuple(shape)


class KeyGroup:
    """The selectors whose keys name one (meter, field): their key values, what else
    they ask (grouped by shape, see :func:`_rest_shape`), and the reverse map from a
    key value to its selectors."""

    def __init__(self, meter: str, field: str) -> None:
        self.meter, self.field = meter, field
        self.members = array.array("q")  # selectors (no int object each)
        self.values: list[str] = []   # their key values
        self.rests: list[tuple] = []  # their other conditions (shared tuples, mostly)
        # the reverse map: the key values' hashes, sorted, and the position in members of
        # each (no dict entry per selector, at a million selectors); None: to be sorted
        self._hashes: array.array | None = None
        self._positions: array.array | None = None

    def add(self, selector: int, value: str, rest: tuple) -> None:
        self.members.append(selector)
        self.values.append(value)
        self.rests.append(rest)
        self._hashes = None

    def seal(self) -> None:
        """Sort the reverse map (after the last :meth:`add`; else when first asked)."""
        hashes = np.fromiter(map(hash, self.values), dtype=np.int64, count=len(self.values))
        positions = np.argsort(hashes, kind="stable")  # stable: selectors in order
        # arrays of the standard library: bisect reads one element in tens of ns
        self._positions = array.array("q", positions.astype(np.int64).tobytes())
        self._hashes = array.array("q", hashes[positions].tobytes())

    def selectors_of(self, value: str) -> Sequence[int]:
        """The selectors whose key value is ``value``, in order."""
        if self._hashes is None:
            self.seal()
        h = hash(value)
        lo = bisect.bisect_left(self._hashes, h)
        hi = bisect.bisect_right(self._hashes, h, lo)
        values, members = self.values, self.members
        return [members[k] for k in self._positions[lo:hi] if values[k] == value]

    def shapes(self) -> dict[tuple | None, tuple[np.ndarray, np.ndarray, list[tuple]]]:
        """The members by the shape of their other conditions: shape -> (positions in
        :attr:`members`, the index of each one's rest among the distinct rests, the
        distinct rests).

        Most rests are shared tuples (one per project, :func:`_project_only`):
        they are told apart by identity with numpy, and each distinct one is
        looked at once, not once per selector.
        """
        ids = np.fromiter(map(id, self.rests), dtype=np.uint64, count=len(self.rests))
        _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        by_shape: dict[tuple | None, list[int]] = {}  # shape -> its distinct rests
        for d, j in enumerate(first.tolist()):
            rest = self.rests[j]
            by_shape.setdefault(_rest_shape(rest) if rest else (), []).append(d)
        out = {}
        local = np.zeros(first.size, dtype=np.int64)  # a distinct rest's index in its shape
        for shape, distinct in by_shape.items():
            local[distinct] = np.arange(len(distinct))
            positions = np.flatnonzero(np.isin(inverse, distinct))
            out[shape] = (positions, local[inverse[positions]],
                          [self.rests[int(first[d])] for d in distinct])
        return out


class Selectors(Sequence):
    """A list of ``(meter, query, project_id)`` selectors, compiled once for
    :func:`select` and :func:`reselect`.

    It reads as the list it was built from (items are the triples, in order);
    :meth:`conditions` gives selector i's scoped conditions.  A selector with a
    key (:func:`key_of`) belongs to the :class:`KeyGroup` of its meter and key
    field; the others are listed per meter in :attr:`unkeyed`.  Building one
    costs a few Python operations per selector and allocates little (a
    million selectors are compiled at once).

    A list (or any iterable that is not a sequence) is copied; any other sequence is
    read where it is, and must not change: one that makes each triple when asked (as
    a threshold group's, from its rules) keeps no triple per selector.
    """

    def __init__(self, selectors: Iterable[tuple[str, Query, str | None]]) -> None:
        self._items = selectors if isinstance(selectors, Sequence) \
            and not isinstance(selectors, list) else list(selectors)
        self.groups: dict[tuple[str, str], KeyGroup] = {}
        self.unkeyed: dict[str, list[int]] = {}
        project_rank = _KEY_RANK["project_id"]
        group = None  # the last selector's: neighbours mostly share one
        for i, (meter, query, project_id) in enumerate(self._items):
            conditions = query.conditions
            scoped_by = None if project_id is None else _project_condition(project_id)
            # the scope is a key too, but any condition that narrows better is preferred
            k = key_of(conditions, 99 if scoped_by is None else project_rank)
            if k >= 0:
                key = conditions[k]
                if scoped_by is None:
                    rest = conditions[:k] + conditions[k + 1:]
                elif len(conditions) == 1:
                    rest = _project_only(project_id)
                else:
                    rest = conditions[:k] + conditions[k + 1:] + (scoped_by,)
            elif scoped_by is not None:
                key, rest = scoped_by, conditions
            else:
                self.unkeyed.setdefault(meter, []).append(i)
                continue
            if group is None or group.field != key.field or group.meter != meter:
                group = self.groups.get((meter, key.field))
                if group is None:
                    group = self.groups[(meter, key.field)] = KeyGroup(meter, key.field)
            group.add(i, key.value, rest)
        for group in self.groups.values():
            group.seal()
        self._shapes: dict[tuple[str, str], dict] = {}

    def conditions(self, i: int) -> tuple:
        """Selector i's conditions, scoped to its project."""
        _, query, project_id = self._items[i]
        return scoped(query, project_id)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        return self._items[i]

    def __iter__(self):
        return iter(self._items)

    def shapes(self, group: KeyGroup) -> dict:
        """:meth:`KeyGroup.shapes`, computed once."""
        shapes = self._shapes.get((group.meter, group.field))
        if shapes is None:
            shapes = self._shapes[(group.meter, group.field)] = group.shapes()
        return shapes


def _ranges(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(l, l + c) for l, c in zip(lo, counts)])``, without the loop."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(lo - (ends - counts), counts)


def _select_group(index: SeriesIndex, plan: Selectors,
                  group: KeyGroup) -> tuple[np.ndarray, np.ndarray]:
    """(selector, row) pairs of one key group, sorted by row within each selector."""
    rows = index.meter_rows(group.meter)
    column = index.column(group.field)
    none = np.zeros(0, dtype=np.int64)
    if column is None or rows.size == 0:
        return none, none
    codes = column.codes[rows]
    order = np.argsort(codes, kind="stable")  # stable: rows stay sorted within a code
    sorted_codes, sorted_rows = codes[order], rows[order]
    wanted = column.code_array(group.values)
    lo = np.searchsorted(sorted_codes, wanted, "left")
    counts = np.searchsorted(sorted_codes, wanted, "right") - lo
    members = np.asarray(group.members, dtype=np.int64)
    pair_selector = np.repeat(members, counts)
    pair_rows = sorted_rows[_ranges(lo, counts)]
    shapes = plan.shapes(group)
    if list(shapes) == [()]:
        return pair_selector, pair_rows
    # the other conditions: selectors of one shape at once, the rest one by one
    keep = np.ones(pair_rows.size, dtype=bool)
    first = np.cumsum(counts) - counts
    for shape, (positions, rest_of, rests) in shapes.items():
        if shape == ():
            continue
        if shape is None:
            for j in positions.tolist():
                span = slice(first[j], first[j] + counts[j])
                if counts[j]:
                    kept = index.filter(pair_rows[span], group.rests[j])
                    keep[span] = np.isin(pair_rows[span], kept, assume_unique=True)
            continue
        at = _ranges(first[positions], counts[positions])
        if at.size == 0:
            continue
        subset = pair_rows[at]
        # per candidate row: the distinct rest its selector asks
        which = np.repeat(rest_of, counts[positions])
        passing = np.ones(subset.size, dtype=bool)
        for k, (name, op, numeric) in enumerate(shape):
            other = index.column(name)
            if other is None:
                passing[:] = False
                break
            terms = [rest[k].value for rest in rests]
            if numeric:
                values = np.asarray(terms, dtype=np.float64)
            else:
                values = other.code_array(terms)
            passing &= other.match_each(subset, op, numeric, values[which])
        keep[at] = passing
    return pair_selector[keep], pair_rows[keep]


def select(index: SeriesIndex, plan: Selectors) -> Selection:
    """Every selector's rows, sorted within each segment, at the index's version."""
    found_selector, found_rows = [], []
    for meter, members in plan.unkeyed.items():
        for i in members:
            rows = index.select(meter, plan.conditions(i))
            found_selector.append(np.full(rows.size, i, dtype=np.int64))
            found_rows.append(rows)
    for group in plan.groups.values():
        pair_selector, pair_rows = _select_group(index, plan, group)
        found_selector.append(pair_selector)
        found_rows.append(pair_rows)
    if found_selector:
        pair_selector = np.concatenate(found_selector)
        pair_rows = np.concatenate(found_rows).astype(np.int64, copy=False)
    else:
        pair_selector = pair_rows = np.zeros(0, dtype=np.int64)
    # each selector's rows came sorted, in one piece: a stable sort by selector is enough
    order = np.argsort(pair_selector, kind="stable")
    lengths = np.bincount(pair_selector, minlength=len(plan)).astype(np.int64)
    return Selection(pair_rows[order], np.cumsum(lengths) - lengths, lengths, index.version)


def _matches(index: SeriesIndex, plan: Selectors,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(selector, row) pairs: the live ``rows`` each selector selects (only the
    selectors a row's key values or meter can satisfy are tried)."""
    rows = rows[index.live[rows]]
    meter_of: dict[str, list[int]] = {}
    keys = index.keys
    for row in rows.tolist():
        meter_of.setdefault(keys[row][0], []).append(row)
    found_selector: list[np.ndarray] = []
    found_rows: list[np.ndarray] = []

    def test(i: int, candidates: np.ndarray) -> None:
        matched = index.filter(candidates, plan.conditions(i))
        if matched.size:
            found_selector.append(np.full(matched.size, i, dtype=np.int64))
            found_rows.append(matched)

    by_meter: dict[str, list[KeyGroup]] = {}
    for group in plan.groups.values():
        by_meter.setdefault(group.meter, []).append(group)
    for meter, held in meter_of.items():
        held_rows = np.asarray(held, dtype=np.int64)
        for i in plan.unkeyed.get(meter, ()):
            test(i, held_rows)
        for group in by_meter.get(meter, ()):
            column = index.column(group.field)
            if column is None:
                continue
            codes = column.codes[held_rows]
            for code in np.unique(codes[codes > 0]).tolist():
                selectors = group.selectors_of(column.texts[code - 1])
                if selectors:
                    candidates = held_rows[codes == code]
                    for i in selectors:
                        test(i, candidates)
    if not found_selector:
        none = np.zeros(0, dtype=np.int64)
        return none, none
    return np.concatenate(found_selector), np.concatenate(found_rows)


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
    add_segments, add_rows = _matches(index, plan, changed)
    touched = _member(changed, old.rows)
    if add_rows.size == 0 and not touched.any():  # the usual case: no watched series
        return old._replace(version=index.version), np.zeros(0, dtype=np.int64)
    # (segment, row) pairs as one sortable number
    width = max(index.n_rows, 1)
    segment_of = np.repeat(np.arange(n_segments, dtype=np.int64), old.lengths)
    old_keys = segment_of * width + old.rows
    removed, kept = old_keys[touched], old_keys[~touched]
    added = np.sort(add_segments * width + add_rows)
    keys = np.insert(kept, np.searchsorted(kept, added), added)
    segments = keys // width
    lengths = np.bincount(segments, minlength=n_segments).astype(np.int64)
    moved = np.setxor1d(removed, added, assume_unique=True)
    reused = removed[_member(released, removed % width)]
    changed_segments = np.unique(np.concatenate((moved // width, reused // width)))
    selection = Selection(keys % width, np.cumsum(lengths) - lengths, lengths, index.version)
    return selection, changed_segments
