"""Period statistics kept between reads: a read reduces only what changed.

An evaluator asks every round for the statistics of the same selection over
its last W closed periods, and all of them but the newest were reduced in an
earlier round. :class:`ReducedPeriods` keeps each period's per-segment counts
and statistics in a ring of W slots (slot = period index mod W), each with
the store's :attr:`~heat_alarming.metering.store.RollingStore.write_count`
at the moment it was reduced. A read reduces again only

* the periods it does not hold yet (the one that just closed),
* the periods whose buckets changed since they were reduced
  (:meth:`~heat_alarming.metering.store.RollingStore.period_marks`): a late
  sample, a bucket retired or rows cleared, and
* for a new selection, the segments the caller says changed, in every
  period (all of them when the caller does not say).

Each period's statistics depend on that period's buckets alone, so what a
read returns is bit for bit what reducing the whole window at once returns
(:meth:`~heat_alarming.metering.store.RollingStore.aggregate`). Percentiles
are read from raw values that a newer sample may push out of their bounded
ring, which no write mark of a period shows: they cannot be kept, and a read
of them is refused (the caller reduces the whole window instead).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heat_alarming.metering.store import RollingStore, Selection

_NEVER = np.iinfo(np.int64).min  # the period index of a slot that holds none


def keepable(statistics: Sequence[str]) -> bool:
    """Whether periods of these statistics can be kept between reads (no percentile)."""
    return not any(s.startswith("p") for s in statistics)


def subselection(selection: Selection, segments: np.ndarray) -> Selection:
    """The segments ``segments`` (sorted indices) of ``selection`` alone, in that order."""
    lengths = selection.lengths[segments]
    starts = np.cumsum(lengths) - lengths
    total = int(lengths.sum())
    # each picked row's position in the selection: its segment's start + its offset
    offsets = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    rows = selection.rows[np.repeat(selection.starts[segments], lengths) + offsets]
    return Selection(rows, starts, lengths, selection.version)


class ReducedPeriods:
    """The statistics of one selection's last ``n_periods`` periods of ``period``
    seconds, kept between reads (see the module's docstring).

    After :meth:`read`, :attr:`counts` and :attr:`values` (shape slots x segments)
    hold the window's periods in ring order; :meth:`order` gives the slots in period
    order, :meth:`window` copies the window out in period order. :attr:`fresh_periods`
    (positions in the window) and :attr:`fresh_segments` say what the last read
    reduced anew, so that whatever the caller derives from the kept periods is
    derived again for those alone.
    """

    def __init__(self, period: int, statistics: Sequence[str], n_periods: int) -> None:
        if not keepable(statistics):
            raise ValueError("statistics: percentiles cannot be kept between reads")
        self.period = int(period)
        self.statistics = list(statistics)
        self.n_periods = int(n_periods)
        self.first: int | None = None  # the first period of the last read
        self.counts = np.zeros((self.n_periods, 0))
        self.values: dict[str, np.ndarray] = {}
        self.fresh_periods = np.zeros(0, dtype=np.int64)
        self.fresh_segments = np.zeros(0, dtype=np.int64)
        self._period = np.full(self.n_periods, _NEVER, dtype=np.int64)  # held, per slot
        self._mark = np.zeros(self.n_periods, dtype=np.int64)  # write count when reduced
        self._selection: Selection | None = None
        self._store: RollingStore | None = None

    def order(self) -> np.ndarray:
        """The slots of the last read's periods, oldest first."""
        return (self.first + np.arange(self.n_periods, dtype=np.int64)) % self.n_periods

    def window(self, segments: np.ndarray | slice = slice(None)
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Counts and statistics of the last read, in period order: (periods, segments)."""
        order = self.order()
        counts = self.counts[:, segments][order]  # the columns first: fewer to reorder
        return counts, {k: v[:, segments][order] for k, v in self.values.items()}

    def read(self, store: RollingStore, selection: Selection, first: int,
             changed: np.ndarray | None = None) -> None:
        """Bring the window ``first .. first + n_periods - 1`` up to date for ``selection``.

        ``changed``: when ``selection`` replaces the selection of the last read, the
        segments whose rows differ (None: unknown, every segment is reduced again).
        """
        n, n_segments = self.n_periods, selection.lengths.size
        with store.lock:  # the marks and the reductions see the same cells
            marks = store.period_marks(self.period, first, n)
            count_now = store.write_count
            wanted = first + np.arange(n, dtype=np.int64)
            slots = wanted % n
            segments = np.zeros(0, dtype=np.int64)
            if store is not self._store:  # marks count one store's writes only
                self._reset(n_segments)
                self._store = store
            elif selection is not self._selection:
                if (self._selection is None or changed is None
                        or self.counts.shape[1] != n_segments):
                    self._reset(n_segments)
                else:
                    segments = np.asarray(changed, dtype=np.int64)
            stale = (self._period[slots] != wanted) | (marks > self._mark[slots])
            fresh = np.flatnonzero(stale)
            for start, length in _runs(fresh):
                self._reduce(store, selection, first + start, length, slots[start:start + length])
            kept = np.flatnonzero(~stale)
            if segments.size and kept.size:
                self._reduce_segments(store, selection, first, slots, segments)
            self._period[slots], self._mark[slots[fresh]] = wanted, count_now
            self._selection, self.first = selection, first
            self.fresh_periods, self.fresh_segments = fresh, segments

    def _reset(self, n_segments: int) -> None:
        shape = (self.n_periods, n_segments)
        self.counts = np.zeros(shape)
        self.values = {s: np.full(shape, np.nan) for s in self.statistics}
        self._period[:] = _NEVER

    def _reduce(self, store: RollingStore, selection: Selection, first: int, length: int,
                slots: np.ndarray) -> None:
        counts, values, _ = store.aggregate(selection, self.period, first, length,
                                            self.statistics)
        self.counts[slots] = counts
        for name in self.statistics:
            self.values[name][slots] = values[name]

    def _reduce_segments(self, store: RollingStore, selection: Selection, first: int,
                         slots: np.ndarray, segments: np.ndarray) -> None:
        """Every period again, for ``segments`` only (their rows changed)."""
        part = subselection(selection, segments)
        counts, values, _ = store.aggregate(part, self.period, first, self.n_periods,
                                            self.statistics)
        self.counts[np.ix_(slots, segments)] = counts
        for name in self.statistics:
            self.values[name][np.ix_(slots, segments)] = values[name]


def _runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of consecutive numbers in sorted ``positions``."""
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [positions.size]))
    return [(int(positions[a]), int(b - a)) for a, b in zip(starts, ends)]
