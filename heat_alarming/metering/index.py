"""The series index: series keys to rows, and columnar attributes for queries.

Each attribute a query may name (resource_id, project_id, user_id, source
and every flattened metadata key) is a column over series rows: a
dictionary-encoded text code and a numeric value.  A condition is then a
whole-array comparison over the rows of one meter, never a Python loop over
series.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from heat_alarming.metering.metadata import flatten_metadata
from heat_alarming.metering.query import COMPARE, Condition

SeriesKey = tuple[str, str, str]  # (meter, resource_id, project_id); project "" if none



def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, str)):
        try:
            return float(value)
        except (ValueError, OverflowError):  # not numeric text, an int beyond floats
            return np.nan
    return np.nan


class AttributeColumn:
    """One attribute over all series rows: text codes and numbers."""

    def __init__(self, capacity: int) -> None:
        self.codes = np.full(capacity, -1, dtype=np.int32)
        self.numbers = np.full(capacity, np.nan)
        self.texts: list[str] = []
        self.code_of: dict[str, int] = {}
        self._text_array: np.ndarray | None = None

    def grow(self, capacity: int) -> None:
        used = len(self.codes)
        codes = np.full(capacity, -1, dtype=np.int32)
        codes[:used] = self.codes
        numbers = np.full(capacity, np.nan)
        numbers[:used] = self.numbers
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
        self.codes[row] = code
        self.numbers[row] = _as_number(value)

    def clear(self, row: int | np.ndarray) -> None:
        self.codes[row] = -1
        self.numbers[row] = np.nan

    def compact(self) -> bool:
        """Forget texts no row uses any more (codes are renumbered); True if none is used."""
        used = np.unique(self.codes[self.codes >= 0])
        if used.size == len(self.texts):
            return used.size == 0
        renumber = np.full(len(self.texts) + 1, -1, dtype=np.int32)
        renumber[used] = np.arange(used.size, dtype=np.int32)
        self.codes = renumber[self.codes]  # code -1 reads the last slot: -1
        self.texts = [self.texts[i] for i in used.tolist()]
        self.code_of = {text: i for i, text in enumerate(self.texts)}
        self._text_array = None
        return used.size == 0

    def text_at(self, row: int) -> str | None:
        code = int(self.codes[row])
        return None if code < 0 else self.texts[code]

    def match(self, rows: np.ndarray, cond: Condition) -> np.ndarray:
        """Boolean mask over ``rows`` of the series that satisfy ``cond``."""
        if cond.numeric:
            numbers = self.numbers[rows]
            with np.errstate(invalid="ignore"):
                return COMPARE[cond.op](numbers, cond.value) & ~np.isnan(numbers)
        codes = self.codes[rows]
        present = codes >= 0
        if cond.op in ("eq", "ne"):
            code = self.code_of.get(cond.value, -2)
            return present & COMPARE[cond.op](codes, code)
        if self._text_array is None:
            self._text_array = np.array(self.texts + [""], dtype=str)
        # Compare every distinct text once, then look the answer up per row.
        passing = COMPARE[cond.op](self._text_array, cond.value)
        passing[-1] = False  # the slot that code -1 indexes
        return passing[codes]


class SeriesIndex:
    """Rows for series keys, per-meter row lists and attribute columns.

    Rows of series released (:meth:`release`) are reused by later series,
    but only after the next release (a quarantine): a selection computed
    before a release can never read a row that already holds another series
    (it reads an empty row), and ``version`` moves on every release so that
    selections are recomputed.
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
        self._flat_keys: list[tuple[str, ...]] = []
        self._key_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._meter_rows: dict[str, list[int]] = {}
        self._meter_arrays: dict[str, np.ndarray] = {}
        self._selection_cache: dict[tuple, np.ndarray] = {}
        self._free: list[int] = []  # released rows ready for reuse
        self._quarantined: list[int] = []  # released rows reusable after the next release
        self.series_of_project: dict[str, int] = {}
        self.live = np.zeros(capacity, dtype=bool)  # per row: holds a series now
        self.version = 0  # bumped whenever a selection could change

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
        self.capacity = capacity

    def _column(self, field: str) -> AttributeColumn:
        column = self.columns.get(field)
        if column is None:
            column = self.columns[field] = AttributeColumn(self.capacity)
        return column

    def add(self, key: SeriesKey, *, user_id: str | None, source: str,
            unit: str, type_: str, metadata: Mapping[str, Any]) -> int:
        """Register a new series and return its row (a released one when there is one)."""
        flat = flatten_metadata(metadata)  # first: nothing changes if it fails
        if self._free:
            row = self._free.pop()
            self.keys[row] = key
            self.attrs[row] = (type_, unit, user_id, source, metadata)
            self._flat_keys[row] = ()
        else:
            row = len(self.keys)
            if row >= self.capacity:
                self._grow(row + 1)
            self.keys.append(key)
            self.attrs.append((type_, unit, user_id, source, metadata))
            self._flat_keys.append(())
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
        self._changed()
        return row

    def release(self, rows: np.ndarray) -> None:
        """Forget the series of ``rows``; their rows become reusable after the next release."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self._free.extend(self._quarantined)
        self._quarantined = rows.tolist()
        if rows.size:
            meters = set()
            for row in self._quarantined:
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
                self._flat_keys[row] = ()
            for meter in meters:
                kept = np.setdiff1d(self.meter_rows(meter), rows, assume_unique=True)
                if kept.size:
                    self._meter_rows[meter] = kept.tolist()
                else:
                    del self._meter_rows[meter]
                self._meter_arrays.pop(meter, None)
            for name in list(self.columns):
                column = self.columns[name]
                column.clear(rows)
                if column.compact() and name not in self.ID_FIELDS:
                    del self.columns[name]
            self._key_tuples = {keys: keys for keys in self._flat_keys}
        self._changed()

    def update(self, row: int, *, user_id: str | None, source: str,
               unit: str, type_: str, metadata: Mapping[str, Any]) -> None:
        """Refresh a series' attributes from its newest sample."""
        flat = flatten_metadata(metadata)  # first: nothing changes if it fails
        self.columns["user_id"].set(row, user_id)
        self.columns["source"].set(row, source)
        self.attrs[row] = (type_, unit, user_id, source, metadata)
        self._set_flat(row, flat)
        self._changed()

    def set_metadata(self, row: int, metadata: Mapping[str, Any]) -> None:
        self._set_flat(row, flatten_metadata(metadata))

    def _set_flat(self, row: int, flat: dict[str, Any]) -> None:
        for gone in set(self._flat_keys[row]) - set(flat):
            self.columns["metadata." + gone].clear(row)
        for key, value in flat.items():
            self._column("metadata." + key).set(row, value)
        keys = tuple(flat)
        self._flat_keys[row] = self._key_tuples.setdefault(keys, keys)  # share equal tuples

    def _changed(self) -> None:
        self.version += 1
        self._selection_cache.clear()

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
        rows = self.meter_rows(meter)
        for cond in conditions:
            if rows.size == 0:
                break
            column = self.columns.get(cond.field)
            if column is None:
                rows = rows[:0]
                break
            rows = rows[column.match(rows, cond)]
        self._selection_cache[cache_key] = rows
        return rows
