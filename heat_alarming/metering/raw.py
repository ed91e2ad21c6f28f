"""Bounded raw-value rings, for statistics that need the samples themselves.

Percentiles cannot be rebuilt from bucket aggregates, so meters that are
tracked (``RollingStore.track_raw``) also keep each series' newest
``capacity`` raw (timestamp, value) pairs.  A percentile is exact while a
series has had at most ``capacity`` samples within the window asked for;
beyond that only the newest ones remain and the answer is flagged inexact.
"""
from __future__ import annotations

import numpy as np

#: raw samples kept per tracked series
CAPACITY = 512


class RawRing:
    """Per-series rings of raw samples for the tracked series only."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = int(capacity)
        self.slot_of_row = np.full(0, -1, dtype=np.int64)
        self.times = np.full((0, self.capacity), np.nan)
        self.values = np.zeros((0, self.capacity))
        self.written = np.zeros(0, dtype=np.int64)
        self.slots_in_use = 0
        self._free_slots: list[int] = []  # slots of released rows, reused first

    def ensure_rows(self, rows: int) -> None:
        if rows > self.slot_of_row.size:
            grown = np.full(max(rows, 2 * self.slot_of_row.size), -1, dtype=np.int64)
            grown[:self.slot_of_row.size] = self.slot_of_row
            self.slot_of_row = grown

    def track(self, rows: np.ndarray) -> None:
        """Give each untracked row a ring (its history starts now)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self.ensure_rows(int(rows.max()) + 1)
        new = rows[self.slot_of_row[rows] < 0]
        if new.size == 0:
            return
        if self._free_slots:
            reused = min(len(self._free_slots), new.size)
            slots = [self._free_slots.pop() for _ in range(reused)]
            self.slot_of_row[new[:reused]] = slots
            new = new[reused:]
            if new.size == 0:
                return
        need = self.slots_in_use + new.size
        if need > self.written.size:
            size = max(need, 2 * self.written.size, 16)
            times = np.full((size, self.capacity), np.nan)
            values = np.zeros((size, self.capacity))
            written = np.zeros(size, dtype=np.int64)
            times[:self.slots_in_use] = self.times[:self.slots_in_use]
            values[:self.slots_in_use] = self.values[:self.slots_in_use]
            written[:self.slots_in_use] = self.written[:self.slots_in_use]
            self.times, self.values, self.written = times, values, written
        self.slot_of_row[new] = np.arange(self.slots_in_use, need)
        self.slots_in_use = need

    def release(self, rows: np.ndarray) -> None:
        """Free the rings of ``rows`` (series forgotten); their slots serve new rows."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[rows < self.slot_of_row.size]
        slots = self.slot_of_row[rows]
        slots = slots[slots >= 0]
        self.slot_of_row[rows] = -1
        self.times[slots] = np.nan
        self.written[slots] = 0
        self._free_slots.extend(slots.tolist())

    def live_slots(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For ``rows``: their slots renumbered densely (-1: untracked) and the old
        slot of each new number, to copy a compact ring (snapshots)."""
        slots = self.slot_of_row[rows] if rows.size else np.zeros(0, dtype=np.int64)
        held = slots >= 0
        dense = np.full(rows.size, -1, dtype=np.int64)
        dense[held] = np.arange(int(held.sum()))
        return dense, slots[held]

    def append(self, rows: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """Append samples of tracked rows; untracked rows are ignored."""
        if self.slots_in_use == 0 or rows.size == 0:
            return
        slots = self.slot_of_row[rows]
        keep = slots >= 0
        if not keep.any():
            return
        slots, times, values = slots[keep], times[keep], values[keep]
        order = np.argsort(slots, kind="stable")
        slots, times, values = slots[order], times[order], values[order]
        first = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
        counts = np.diff(np.append(first, slots.size))
        rank = np.arange(slots.size) - np.repeat(first, counts)
        position = (self.written[slots] + rank) % self.capacity
        self.times[slots, position] = times
        self.values[slots, position] = values
        self.written[slots[first]] += counts

    def percentiles(self, rows: np.ndarray, segment_of_row: np.ndarray, n_segments: int,
                    start: float, period: float, n_periods: int,
                    quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """Percentiles per (period, segment) over the raw values of ``rows``.

        ``segment_of_row`` assigns each row to a query.  Returns values of
        shape (len(quantiles), n_periods, n_segments), NaN where no value
        lies in the period, and the number of raw values found per
        (period, segment), which the caller compares with the bucket counts
        to tell exact from bounded answers.  Interpolation is linear between
        closest ranks, as numpy's default and Gnocchi's ``NNpct``.
        """
        shape = (n_periods, n_segments)
        found = np.zeros(shape, dtype=np.int64)
        result = np.full((len(quantiles),) + shape, np.nan)
        if rows.size == 0 or self.slots_in_use == 0:
            return result, found
        slots = self.slot_of_row[rows] if rows.max() < self.slot_of_row.size \
            else np.full(rows.size, -1)
        tracked = slots >= 0
        slots, segments = slots[tracked], segment_of_row[tracked]
        times = self.times[slots]
        values = self.values[slots]
        with np.errstate(invalid="ignore"):
            period_idx = np.floor((times - start) / period)
        inside = (period_idx >= 0) & (period_idx < n_periods)
        group = (period_idx[inside].astype(np.int64) * n_segments
                 + np.broadcast_to(segments[:, None], times.shape)[inside])
        vals = values[inside]
        order = np.lexsort((vals, group))
        vals, group = vals[order], group[order]
        counts = np.bincount(group, minlength=n_periods * n_segments)
        found[:] = counts.reshape(shape)
        has = counts > 0
        base = (np.cumsum(counts) - counts)[has]
        n = counts[has]
        for i, q in enumerate(quantiles):
            pos = base + (n - 1) * (q / 100.0)
            lo = np.floor(pos).astype(np.int64)
            hi = np.ceil(pos).astype(np.int64)
            frac = pos - lo
            flat = result[i].reshape(-1)
            flat[has] = vals[lo] * (1.0 - frac) + vals[hi] * frac
        return result, found
