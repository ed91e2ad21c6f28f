"""The series index: series keys to rows, and columnar attributes for queries.

Each attribute a query may name (resource_id, project_id, user_id, source
and every flattened metadata key) is a column over series rows: a
dictionary-encoded text code and a numeric value.  A condition is then a
whole-array comparison over the rows of one meter, never a Python loop over
series.  A metadata key's column is built the first time a query names it
(one pass over the rows' flattened metadata) and kept up to date from then on.
"""
from __future__ import annotations

import difflib
import itertools
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from heat_alarming.metering.metadata import flatten_metadata
from heat_alarming.metering.query import (
    COMPARE,
    AllOf,
    AnyOf,
    Condition,
    Not,
    Present,
    like_matcher,
)

SeriesKey = tuple[str, str, str]  # (meter, resource_id, project_id); project "" if none

# A column is compacted once the codes dropped since its last compaction (a row's
# text overwritten or cleared) reach half its texts and at least this many: the
# texts no row uses are then fewer than the used ones plus this floor, and each
# whole-array compaction is paid for by as many dropped codes.
COMPACT_FLOOR = 64


def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, str)):
        try:
            return float(value)
        except (ValueError, OverflowError):  # not numeric text, an int beyond floats
            return np.nan
    return np.nan


def _one_copy(metadata: Mapping[str, Any], flat: dict[str, Any]) -> Mapping[str, Any]:
    """The metadata to keep for a series, equal to ``metadata``.

    Flat metadata (no nested map, no list, no alias key) flattens to an equal
    dict whose keys are interned: that one dict serves both the comparison
    with later samples and the columns, so the metadata is held once.  Other
    metadata is kept as a copy whose keys are interned too (shared with every
    series that uses the same names; the values are the flat dict's own).
    """
    return flat if flat == metadata else _interned(metadata)


def _interned(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {sys.intern(key) if type(key) is str else key:
            _interned(value) if isinstance(value, Mapping) else value
            for key, value in metadata.items()}


class AttributeColumn:
    """One attribute over all series rows: text codes and numbers.

    ``codes`` holds 1 + the text's number, 0 where a row lacks the attribute,
    so both arrays start as ``np.zeros``: a column costs memory only for the
    pages of rows that carry it, not for the whole capacity.  ``numbers``
    holds the value as a number (NaN if it is not one) where a code is set.

    Texts no row uses any more (a series' value replaced, or the series
    forgotten) are dropped by :meth:`compact`, which :meth:`set` and
    :meth:`clear` run once the codes dropped since the last compaction reach
    half the texts (and :data:`COMPACT_FLOOR`): a column holds fewer than
    ``max(2 x texts in use, texts in use + COMPACT_FLOOR)`` texts, however
    often a live series' value changes.  Compaction renumbers codes; a
    condition is turned into codes at match time, so it selects the same
    rows, and the index's callers move its version on every change anyway.
    """

    def __init__(self, capacity: int) -> None:
        self.codes = np.zeros(capacity, dtype=np.int32)
        self.numbers = np.zeros(capacity)
        self.texts: list[str] = []
        self.code_of: dict[str, int] = {}
        self._text_array: np.ndarray | None = None
        self._dropped = 0  # codes overwritten or cleared since the last compaction

    def grow(self, capacity: int) -> None:
        held = np.flatnonzero(self.codes)
        used = int(held[-1]) + 1 if held.size else 0  # copy no page of absent rows
        codes = np.zeros(capacity, dtype=np.int32)
        codes[:used] = self.codes[:used]
        numbers = np.zeros(capacity)
        numbers[:used] = self.numbers[:used]
        self.codes, self.numbers = codes, numbers

    def set(self, row: int, value: Any) -> None:
        if value is None:
            self.clear(row)
            return
        text = value if isinstance(value, str) else str(value)
        code = self.code_of.get(text)
        if code is None:
            code = self.code_of[text] = len(self.texts)
            self.texts.append(text)
            self._text_array = None
        old = self.codes[row]
        self.codes[row] = code + 1
        self.numbers[row] = _as_number(value)
        if old and old != code + 1:
            self._drop(1)

    def clear(self, row: int | np.ndarray) -> None:
        dropped = int(np.count_nonzero(self.codes[row]))
        self.codes[row] = 0
        self.numbers[row] = 0.0
        if dropped:
            self._drop(dropped)

    def _drop(self, n: int) -> None:
        self._dropped += n
        if self._dropped >= max(COMPACT_FLOOR, len(self.texts) // 2):
            self.compact()

    @property
    def n_texts(self) -> int:
        """Distinct texts held (some may be unused until the next compaction)."""
        return len(self.texts)

    def compact(self) -> bool:
        """Forget texts no row uses any more (codes are renumbered); True if none is used."""
        self._dropped = 0
        held = np.flatnonzero(self.codes)
        codes = self.codes[held]
        used = np.flatnonzero(np.bincount(codes, minlength=len(self.texts) + 1)[1:]) + 1
        if used.size == len(self.texts):
            return used.size == 0
        renumber = np.zeros(len(self.texts) + 1, dtype=np.int32)
        renumber[used] = np.arange(1, used.size + 1, dtype=np.int32)
        self.codes[held] = renumber[codes]  # in place: absent rows stay untouched
        self.texts = [self.texts[i - 1] for i in used.tolist()]
        self.code_of = {text: i for i, text in enumerate(self.texts)}
        self._text_array = None
        return used.size == 0

    def present(self, rows: np.ndarray) -> np.ndarray:
        """Boolean mask over ``rows`` of the series that carry the attribute."""
        return self.codes[rows] > 0

    def comparable(self, rows: np.ndarray, cond: Condition) -> np.ndarray:
        """Where ``cond`` is true or false (not unknown): the attribute is there, and
        is a number for a numeric comparison."""
        present = self.codes[rows] > 0
        if cond.numeric:
            return present & ~np.isnan(self.numbers[rows])
        return present

    def text_at(self, row: int) -> str | None:
        code = int(self.codes[row])
        return None if code == 0 else self.texts[code - 1]

    def match(self, rows: np.ndarray, cond: Condition) -> np.ndarray:
        """Boolean mask over ``rows`` of the series that satisfy ``cond``."""
        codes = self.codes[rows]
        present = codes > 0
        if cond.numeric:
            numbers = self.numbers[rows]
            with np.errstate(invalid="ignore"):
                return COMPARE[cond.op](numbers, cond.value) & ~np.isnan(numbers) & present
        if cond.op in ("eq", "ne"):
            code = self.code_of.get(cond.value, -2) + 1
            return present & COMPARE[cond.op](codes, code)
        if cond.op == "like":
            # every distinct text once, then looked up per row
            test = like_matcher(cond.value)
            passing = np.fromiter((test(t) for t in self.texts), dtype=bool,
                                  count=len(self.texts))
            return np.concatenate(([False], passing))[codes]
        if self._text_array is None:
            self._text_array = np.array([""] + self.texts, dtype=str)
        # Compare every distinct text once, then look the answer up per row.
        passing = COMPARE[cond.op](self._text_array, cond.value)
        passing[0] = False  # the slot that code 0 (absent) indexes
        return passing[codes]

    def code_array(self, texts: Iterable[str]) -> np.ndarray:
        """Each text's code as ``codes`` holds it (1 + its number); -1 for a text no
        row holds (so that it equals no row's code, absent rows included)."""
        texts = list(texts)
        return np.fromiter(map(self.code_of.get, texts, itertools.repeat(-2, len(texts))),
                           dtype=np.int64, count=len(texts)) + 1

    def match_each(self, rows: np.ndarray, op: str, numeric: bool,
                   values: np.ndarray) -> np.ndarray:
        """Boolean mask: ``rows[i]`` satisfies ``op`` against ``values[i]``, as
        :meth:`match` decides one condition; ``values`` are codes (:meth:`code_array`)
        for a text eq/ne, numbers for a numeric comparison (no other op)."""
        codes = self.codes[rows]
        present = codes > 0
        if numeric:
            numbers = self.numbers[rows]
            with np.errstate(invalid="ignore"):
                return COMPARE[op](numbers, values) & ~np.isnan(numbers) & present
        if op not in ("eq", "ne"):
            raise ValueError(f"match_each: text {op!r} is compared one condition at a time")
        return present & COMPARE[op](codes, values)


class SeriesIndex:
    """Rows for series keys, per-meter row lists and attribute columns.

    Rows of series released (:meth:`release`) are reused by later series,
    but only after the next release (a quarantine): a selection computed
    before a release can never read a row that already holds another series
    (it reads an empty row), and ``version`` moves on every release so that
    selections are recomputed.

    Every row records the version of its last change (added, released, its
    attributes or metadata updated) and of its last release:
    :meth:`changed_since` lists the rows whose selection may differ from an
    older version's, so that a selection is brought up to date by testing
    those rows alone (:func:`heat_alarming.metering.selection.reselect`).
    """

    ID_FIELDS = ("resource_id", "project_id", "user_id", "source")

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.row_of: dict[SeriesKey, int] = {}
        self.keys: list[SeriesKey] = []
        # per row: (type, unit, user_id, source, metadata) of the newest sample
        self.attrs: list[tuple] = []
        self.columns: dict[str, AttributeColumn] = {
            f: AttributeColumn(capacity) for f in self.ID_FIELDS}
        # per row: the flattened metadata; a metadata column exists only once a query
        # names its key, so keys nobody asks about cost no column (and no capacity-sized
        # arrays) however many distinct ones samples carry
        self._flat: list[dict[str, Any]] = []
        self._meter_rows: dict[str, list[int]] = {}
        self._meter_arrays: dict[str, np.ndarray] = {}
        self._selection_cache: dict[tuple, np.ndarray] = {}
        self._free: list[int] = []  # released rows ready for reuse
        self._quarantined: list[int] = []  # released rows reusable after the next release
        self.series_of_project: dict[str, int] = {}
        self.live = np.zeros(capacity, dtype=bool)  # per row: holds a series now
        self.version = 0  # bumped whenever a selection could change
        # per row: the version of its last change and of its last release (0: none)
        self._changed_at = np.zeros(capacity, dtype=np.int64)
        self._released_at = np.zeros(capacity, dtype=np.int64)

    def __len__(self) -> int:
        """Number of live series."""
        return len(self.row_of)

    @property
    def n_rows(self) -> int:
        """Rows ever handed out (live, released and quarantined): arrays cover these."""
        return len(self.keys)

    def live_rows(self) -> np.ndarray:
        """Rows (sorted) that hold a series."""
        return np.flatnonzero(self.live[:self.n_rows])

    def _grow(self, rows: int) -> None:
        capacity = self.capacity
        while capacity < rows:
            capacity *= 2
        for column in self.columns.values():
            column.grow(capacity)
        live = np.zeros(capacity, dtype=bool)
        live[:self.capacity] = self.live
        self.live = live
        for name in ("_changed_at", "_released_at"):
            grown = np.zeros(capacity, dtype=np.int64)
            grown[:self.capacity] = getattr(self, name)
            setattr(self, name, grown)
        self.capacity = capacity

    def column(self, field: str) -> AttributeColumn | None:
        """The column of a query field (None: no such field); a metadata column is
        built on first use.  Its arrays cover :attr:`n_rows` rows at least."""
        return self._column(field)

    def _column(self, field: str) -> AttributeColumn | None:
        """The column a query names; a metadata column is built on first use."""
        column = self.columns.get(field)
        if column is None and field.startswith("metadata."):
            key = field[len("metadata."):]
            column = self.columns[field] = AttributeColumn(self.capacity)
            for row, flat in enumerate(self._flat):
                if key in flat:
                    column.set(row, flat[key])
        return column

    def add(self, key: SeriesKey, *, user_id: str | None, source: str,
            unit: str, type_: str, metadata: Mapping[str, Any]) -> int:
        """Register a new series and return its row (a released one when there is one)."""
        flat = flatten_metadata(metadata)  # first: nothing changes if it fails
        metadata = _one_copy(metadata, flat)
        if self._free:
            row = self._free.pop()
            self.keys[row] = key
            self.attrs[row] = (type_, unit, user_id, source, metadata)
            self._flat[row] = {}
        else:
            row = len(self.keys)
            if row >= self.capacity:
                self._grow(row + 1)
            self.keys.append(key)
            self.attrs.append((type_, unit, user_id, source, metadata))
            self._flat.append({})
        self.row_of[key] = row
        self.live[row] = True
        meter, resource_id, project_id = key
        self.series_of_project[project_id] = self.series_of_project.get(project_id, 0) + 1
        self.columns["resource_id"].set(row, resource_id)
        self.columns["project_id"].set(row, project_id or None)
        self.columns["source"].set(row, source)
        self.columns["user_id"].set(row, user_id)
        self._meter_rows.setdefault(meter, []).append(row)
        self._meter_arrays.pop(meter, None)
        self._set_flat(row, flat)
        self._changed(row)
        return row

    def release(self, rows: np.ndarray) -> None:
        """Forget the series of ``rows``; their rows become reusable after the next release."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self._free.extend(self._quarantined)
        self._quarantined = rows.tolist()
        if rows.size:
            meters, carried = set(), {name: rows for name in self.ID_FIELDS}
            for row in self._quarantined:
                for flat_key in self._flat[row]:
                    if "metadata." + flat_key in self.columns:
                        carried.setdefault("metadata." + flat_key, []).append(row)
                key = self.keys[row]
                del self.row_of[key]
                meters.add(key[0])
                project = key[2]
                left = self.series_of_project[project] - 1
                if left:
                    self.series_of_project[project] = left
                else:
                    del self.series_of_project[project]
                self.keys[row] = None
                self.attrs[row] = None
                self.live[row] = False
                self._flat[row] = {}
            for meter in meters:
                kept = np.setdiff1d(self.meter_rows(meter), rows, assume_unique=True)
                if kept.size:
                    self._meter_rows[meter] = kept.tolist()
                else:
                    del self._meter_rows[meter]
                self._meter_arrays.pop(meter, None)
            # only the columns these rows carry: touching the others would map their pages
            for name, held in carried.items():
                column = self.columns[name]
                column.clear(np.asarray(held, dtype=np.int64))
                if column.compact() and name not in self.ID_FIELDS:
                    del self.columns[name]
        if rows.size:  # a sweep that forgets nothing changes no selection
            self._changed(rows)
            self._released_at[rows] = self.version

    def update(self, row: int, *, user_id: str | None, source: str,
               unit: str, type_: str, metadata: Mapping[str, Any]) -> None:
        """Refresh a series' attributes from its newest sample."""
        flat = flatten_metadata(metadata)  # first: nothing changes if it fails
        metadata = _one_copy(metadata, flat)
        self.columns["user_id"].set(row, user_id)
        self.columns["source"].set(row, source)
        self.attrs[row] = (type_, unit, user_id, source, metadata)
        self._set_flat(row, flat)
        self._changed(row)

    def set_metadata(self, row: int, metadata: Mapping[str, Any]) -> None:
        self._set_flat(row, flatten_metadata(metadata))
        self._changed(row)

    def texts_held(self) -> dict[str, int]:
        """Distinct texts each attribute column holds (a measure of its memory)."""
        return {name: column.n_texts for name, column in self.columns.items()}

    def _set_flat(self, row: int, flat: dict[str, Any]) -> None:
        columns = self.columns
        for gone in self._flat[row].keys() - flat.keys():
            column = columns.get("metadata." + gone)
            if column is not None:
                column.clear(row)
        for key, value in flat.items():
            column = columns.get("metadata." + key)
            if column is not None:
                column.set(row, value)
        self._flat[row] = flat

    def _changed(self, rows: int | np.ndarray) -> None:
        self.version += 1
        self._changed_at[rows] = self.version
        self._selection_cache.clear()

    def changed_since(self, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows changed after ``version``, rows released after it), both sorted.

        A row's membership of any selection computed at ``version`` can differ
        now only if it is among the first; a released row among the second may
        hold another series now (its statistics are not the old ones).
        """
        n = self.n_rows
        return (np.flatnonzero(self._changed_at[:n] > version),
                np.flatnonzero(self._released_at[:n] > version))

    def filter(self, rows: np.ndarray, conditions: Sequence) -> np.ndarray:
        """The ``rows`` (kept in order) that satisfy every condition, as :meth:`select`
        decides them over a meter's rows."""
        for cond in conditions:
            if rows.size == 0:
                break
            if not isinstance(cond, Condition):
                rows = rows[self._truth(rows, cond)[0]]
                continue
            column = self._column(cond.field)
            if column is None:
                return rows[:0]
            rows = rows[column.match(rows, cond)]
        return rows

    def meter_rows(self, meter: str) -> np.ndarray:
        rows = self._meter_arrays.get(meter)
        if rows is None:
            # sorted: reused rows join a meter's list out of order
            rows = np.sort(np.asarray(self._meter_rows.get(meter, ()), dtype=np.int64))
            self._meter_arrays[meter] = rows
        return rows

    def meters(self) -> list[str]:
        return sorted(self._meter_rows)

    def select(self, meter: str, conditions: Iterable[Condition]) -> np.ndarray:
        """Rows (sorted) of ``meter``'s series that satisfy every condition."""
        conditions = tuple(conditions)
        cache_key = (meter, conditions)
        rows = self._selection_cache.get(cache_key)
        if rows is not None:
            return rows
        rows = self.filter(self.meter_rows(meter), conditions)
        self._selection_cache[cache_key] = rows
        return rows

    def failing(self, rows: np.ndarray, conditions: Sequence) -> np.ndarray:
        """Which of ``conditions`` each of ``rows`` does not satisfy: shape (rows,
        conditions), true where the term is false or unknown."""
        out = np.zeros((rows.size, len(conditions)), dtype=bool)
        for j, term in enumerate(conditions):
            out[:, j] = ~self._truth(rows, term)[0]
        return out

    def difference(self, row: int, term) -> dict[str, Any]:
        """How the series of ``row`` stands to a term it fails: the field, what the term
        asks, the series' value there (None: it has none), and for a metadata field the
        series' keys spelt like it (a key written another way)."""
        if not isinstance(term, Condition):
            return {"term": repr(term)}
        field = term.field
        if field.startswith("metadata."):
            name = field[len("metadata."):]
            flat = self._flat[row]
            has = flat.get(name)
            tail = name.rsplit(".", 1)[-1]
            alike = [k for k in flat if k != name and k.rsplit(".", 1)[-1] == tail]
            alike += [k for k in difflib.get_close_matches(name, list(flat), 3, 0.75)
                      if k != name and k not in alike]
            similar = {k: flat[k] for k in alike[:3]}
        else:
            column = self.columns.get(field)
            has = column.text_at(row) if column is not None else None
            similar = {}
        out = {"field": field, "op": term.op, "wants": term.value,
               "has": None if has is None else str(has)}
        if similar:
            out["similar_keys"] = {k: str(v) for k, v in similar.items()}
        return out

    def _truth(self, rows: np.ndarray, term) -> tuple[np.ndarray, np.ndarray]:
        """(true, false) masks of a term over ``rows``, in SQL's three-valued logic:
        where neither holds, the term is unknown (a comparison with an attribute
        the series lacks), and a negation leaves it unknown."""
        if isinstance(term, Condition):
            column = self._column(term.field)
            if column is None:
                nothing = np.zeros(rows.size, dtype=bool)
                return nothing, nothing
            true = column.match(rows, term)
            return true, column.comparable(rows, term) & ~true
        if isinstance(term, Present):
            column = self._column(term.field)
            there = column.present(rows) if column is not None else np.zeros(rows.size, bool)
            return there, ~there
        if isinstance(term, Not):
            true, false = self._truth(rows, term.term)
            return false, true
        if isinstance(term, (AllOf, AnyOf)):
            every = isinstance(term, AllOf)
            true = np.full(rows.size, every)
            false = np.full(rows.size, not every)
            for sub in term.terms:
                sub_true, sub_false = self._truth(rows, sub)
                if every:
                    true &= sub_true
                    false |= sub_false
                else:
                    true |= sub_true
                    false &= sub_false
            return true, false
        raise TypeError(f"not a query term: {term!r}")
