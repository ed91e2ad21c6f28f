"""The bucket ring: per-series, per-time-bucket aggregates in numpy arrays.

Layout (time-major, so that retiring a bucket clears one contiguous row)::

                 series row ->   0      1      2    ...  capacity-1
    column 0  (bucket b0)     [ agg ][ agg ][ agg ] ...
    column 1  (bucket b0+1)   [ agg ][ agg ][ agg ] ...
      ...                        (ring: column = bucket mod n_buckets)
    column n-1

Every cell keeps count (uint32), sum, sum of squares, min, max, last (float64)
and when in its bucket the last sample fell, in 1/256ths of the resolution
(uint8): 45 bytes.  ``last`` is therefore the newest sample by timestamp to
within 1/256 of a bucket; samples closer together than that are ordered by
arrival (the later arrival wins).
``bucket_of_column`` says which absolute bucket (``floor(t / resolution)``)
each column holds now; a column whose bucket is not the one asked for reads
as empty, so a stale column can never leak into a result.  A cell whose
count is 0 is empty whatever its min, max and last hold: retiring a bucket
zeroes its counts, sums and sums of squares (so sums can be read without a
mask), and the other fields are reset when the cell is next written.

Every change to a column's cells (a merge, rows cleared) stamps the column
with the next number of :attr:`BucketRing.writes` (:attr:`BucketRing.written`),
so a reader that kept what it reduced from some buckets can tell which of them
changed since; a bucket retired is told by ``bucket_of_column`` instead.
"""
from __future__ import annotations

import numpy as np

FIELDS = ("count", "total", "sumsq", "vmin", "vmax", "last", "last_tick")
_DTYPES = {"count": np.uint32, "last_tick": np.uint8}
TICKS = 256  # a bucket's subdivisions for ordering "last"
CELL_BYTES = sum(np.dtype(_DTYPES.get(f, np.float64)).itemsize for f in FIELDS)


def to_buckets(timestamps: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute bucket numbers and in-bucket offsets for epoch timestamps.

    ``floor(t * (1/resolution))`` can be one off where the reciprocal is
    inexact; the offsets show it (below 0 or not below the resolution) and
    only then are those entries corrected, so the result is exact.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    floors = np.floor(ts * (1.0 / resolution))
    offsets = ts - floors * resolution
    if offsets.size and (offsets.min() < 0 or offsets.max() >= resolution):
        low, high = offsets < 0, offsets >= resolution
        floors[low] -= 1
        floors[high] += 1
        offsets = ts - floors * resolution
    return floors.astype(np.int64), offsets


def to_ticks(offsets: np.ndarray, resolution: int) -> np.ndarray:
    """In-bucket offsets (seconds) as uint8 ticks of resolution/256."""
    ticks = (np.asarray(offsets) * (TICKS / resolution)).astype(np.int64)
    return np.clip(ticks, 0, TICKS - 1).astype(np.uint8)


def _ordered_bounds(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.searchsorted(times, edges)`` for sorted times, faster for regular series.

    A first guess interpolates each edge between the first and last time
    (exact for evenly spaced samples); guesses that do not bracket their
    edge are settled by binary search.  Binary search alone is slow here
    because its probes miss the cache on every step.
    """
    n = times.size
    span = times[-1] - times[0]
    if n < 1024 or span <= 0:
        return np.searchsorted(times, edges, side="left")
    guess = np.ceil((edges - times[0]) * ((n - 1) / span)).astype(np.int64)
    np.clip(guess, 0, n, out=guess)
    inner = np.minimum(guess, n - 1)
    ok = ((guess == 0) | (times[np.maximum(guess - 1, 0)] < edges)) & \
         ((guess == n) | (times[inner] >= edges))
    if not ok.all():
        bad = ~ok
        guess[bad] = np.searchsorted(times, edges[bad], side="left")
    return guess


class BucketRing:
    """Fixed-resolution ring of aggregate cells for a growing set of series."""

    def __init__(self, resolution: int, n_buckets: int, capacity: int = 1024) -> None:
        self.resolution = int(resolution)
        self.n_buckets = int(n_buckets)
        self.capacity = int(capacity)
        self.rows_in_use = 0
        self.head = -1  # newest absolute bucket number the ring holds
        self.bucket_of_column = np.full(self.n_buckets, -1, dtype=np.int64)
        #: changes made so far, and per column the number of the latest that touched it
        self.writes = 0
        self.written = np.zeros(self.n_buckets, dtype=np.int64)
        self._scratch_buffer = np.empty(0)
        for field in FIELDS:
            setattr(self, field, self._zeros(field, self.capacity))

    def _zeros(self, field: str, capacity: int) -> np.ndarray:
        # np.zeros maps fresh pages lazily: capacity not yet used costs no RAM.
        return np.zeros((self.n_buckets, capacity), dtype=_DTYPES.get(field, np.float64))

    def ensure_rows(self, rows: int) -> None:
        """Make room for ``rows`` series rows (capacity doubles)."""
        self.rows_in_use = max(self.rows_in_use, rows)
        if rows <= self.capacity:
            return
        capacity = self.capacity
        while capacity < rows:
            capacity *= 2
        for field in FIELDS:
            old = getattr(self, field)
            new = self._zeros(field, capacity)
            new[:, :self.capacity] = old
            setattr(self, field, new)
        self.capacity = capacity

    @property
    def oldest(self) -> int:
        """The oldest absolute bucket number still held (may be negative)."""
        return self.head - self.n_buckets + 1

    def advance(self, bucket: int) -> None:
        """Move the head forward to ``bucket``, retiring columns that fall out."""
        if bucket <= self.head:
            return
        first = max(self.head + 1, bucket - self.n_buckets + 1)
        fresh = np.arange(first, bucket + 1, dtype=np.int64)
        columns = fresh % self.n_buckets
        for field in ("count", "total", "sumsq"):  # zero sums too: reads need no mask
            getattr(self, field)[columns, :self.rows_in_use] = 0
        self.bucket_of_column[columns] = fresh
        self.head = int(bucket)
        # not stamped: a new bucket reads as empty before and after; a retired one
        # is no longer held, which readers see by bucket_of_column

    def touched(self, columns: np.ndarray | slice) -> None:
        """Stamp ``columns`` as changed (see :attr:`written`)."""
        self.writes += 1
        self.written[columns] = self.writes

    def clear_rows(self, rows: np.ndarray) -> None:
        """Empty every cell of ``rows`` (rows released for reuse by other series)."""
        if rows.size:
            for field in ("count", "total", "sumsq"):
                getattr(self, field)[:, rows] = 0
            self.touched(slice(None))

    def merge(self, rows: np.ndarray, times: np.ndarray, volumes: np.ndarray) -> None:
        """Fold samples into their cells.

        The caller has advanced the head and checked that every sample's
        bucket lies within the ring.  The batch is first reduced to one
        aggregate per touched cell, then each touched cell is merged with
        what it already holds.  A time-ordered batch of one series (a
        backfill, a replay) is cut into buckets by binary search; any other
        batch is grouped by cell with a stable sort.
        """
        if rows.size == 0:
            return
        if rows[0] == rows[-1] and rows.min() == rows.max() \
                and (times[1:] >= times[:-1]).all():
            reduced = self._reduce_ordered_series(int(rows[0]), times, volumes)
        else:
            reduced = self._reduce_by_cell(rows, times, volumes)
        self._merge_cells(*reduced)

    def _scratch(self, size: int) -> np.ndarray:
        """A reusable float buffer: a fresh one per batch costs page faults."""
        if self._scratch_buffer.size < size:
            self._scratch_buffer = np.empty(size)
        return self._scratch_buffer[:size]

    def _cell(self, buckets: np.ndarray, rows: np.ndarray | int) -> np.ndarray:
        return (buckets % self.n_buckets) * self.capacity + rows

    def _reduce_ordered_series(self, row: int, times: np.ndarray, volumes: np.ndarray):
        res = self.resolution
        first, last = bucket_of(times[0], res), bucket_of(times[-1], res)
        buckets = np.arange(first, last + 2, dtype=np.int64)
        bounds = _ordered_bounds(times, buckets * float(res))
        bounds[0], bounds[-1] = 0, times.size
        n = np.diff(bounds)
        held = n > 0
        starts, n, buckets = bounds[:-1][held], n[held].astype(np.uint32), buckets[:-1][held]
        ends = starts + n - 1
        s = np.add.reduceat(volumes, starts)
        sq = np.add.reduceat(np.square(volumes, out=self._scratch(volumes.size)), starts)
        lo = np.minimum.reduceat(volumes, starts)
        hi = np.maximum.reduceat(volumes, starts)
        last_tick = to_ticks(times[ends] - buckets * float(res), res)
        return self._cell(buckets, row), n, s, sq, lo, hi, last_tick, volumes[ends]

    def _reduce_by_cell(self, rows: np.ndarray, times: np.ndarray, volumes: np.ndarray):
        buckets, offsets = to_buckets(times, self.resolution)
        offsets = to_ticks(offsets, self.resolution)
        cells = self._cell(buckets, rows)
        if rows.size > 1 and not (cells[1:] >= cells[:-1]).all():
            order = np.argsort(cells, kind="stable")
            cells, offsets, volumes = cells[order], offsets[order], volumes[order]
        size = cells.size
        starts_mask = np.empty(size, dtype=bool)
        starts_mask[0] = True
        np.not_equal(cells[1:], cells[:-1], out=starts_mask[1:])
        starts = np.flatnonzero(starts_mask)
        cell = cells[starts]
        if starts.size == size:  # one sample per cell: nothing to reduce
            return (cell, np.ones(size, dtype=np.uint32), volumes, volumes * volumes,
                    volumes, volumes, offsets, volumes)
        n = np.diff(np.append(starts, size)).astype(np.uint32)
        s = np.add.reduceat(volumes, starts)
        sq = np.add.reduceat(volumes * volumes, starts)
        lo = np.minimum.reduceat(volumes, starts)
        hi = np.maximum.reduceat(volumes, starts)
        last_off = np.maximum.reduceat(offsets, starts)
        # the newest sample of each run; on a tie the one that came last
        newest = offsets == np.repeat(last_off, n)
        pick = np.maximum.reduceat(np.where(newest, np.arange(size), -1), starts)
        return cell, n, s, sq, lo, hi, last_off, volumes[pick]

    def _merge_cells(self, cell, n, s, sq, lo, hi, last_tick, last_val) -> None:
        count = self.count.reshape(-1)
        total = self.total.reshape(-1)
        sumsq = self.sumsq.reshape(-1)
        vmin = self.vmin.reshape(-1)
        vmax = self.vmax.reshape(-1)
        last = self.last.reshape(-1)
        held_tick = self.last_tick.reshape(-1)

        held = count[cell]
        fresh = held == 0
        count[cell] = held + n
        total[cell] = np.where(fresh, 0.0, total[cell]) + s
        sumsq[cell] = np.where(fresh, 0.0, sumsq[cell]) + sq
        vmin[cell] = np.where(fresh, lo, np.minimum(vmin[cell], lo))
        vmax[cell] = np.where(fresh, hi, np.maximum(vmax[cell], hi))
        newer = fresh | (last_tick >= held_tick[cell])
        last[cell[newer]] = last_val[newer]
        held_tick[cell[newer]] = last_tick[newer]
        self.touched(cell // self.capacity)

    def gather(self, field: str, first_bucket: int, n_buckets: int,
               rows: np.ndarray) -> np.ndarray:
        """``field`` for buckets ``first_bucket ..`` (ring order unwrapped) and ``rows``.

        Consecutive buckets are one or two slices of the ring and sorted
        contiguous rows are a slice, so the common case copies no more than
        it returns.
        """
        array = getattr(self, field)
        start = first_bucket % self.n_buckets
        if n_buckets <= self.n_buckets and start + n_buckets <= self.n_buckets:
            block = array[start:start + n_buckets]
        elif n_buckets <= self.n_buckets:
            block = np.concatenate((array[start:], array[:start + n_buckets - self.n_buckets]))
        else:
            columns, _ = self.window(first_bucket, n_buckets)
            block = array[columns]
        if rows.size and rows[-1] - rows[0] == rows.size - 1 and \
                (rows.size == 1 or (rows[1:] > rows[:-1]).all()):
            return block[:, rows[0]:rows[-1] + 1]
        return block.take(rows, axis=1)

    def window(self, first_bucket: int, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns for absolute buckets ``first_bucket ..`` and whether each is held."""
        wanted = first_bucket + np.arange(n_buckets, dtype=np.int64)
        columns = wanted % self.n_buckets
        return columns, self.bucket_of_column[columns] == wanted

    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in FIELDS)


def bucket_of(timestamp: float, resolution: int) -> int:
    """Scalar twin of :func:`to_buckets`, bit-for-bit the same bucket."""
    bucket = int(timestamp * (1.0 / resolution))
    if bucket * resolution > timestamp:
        bucket -= 1
    elif (bucket + 1) * resolution <= timestamp:
        bucket += 1
    return bucket
