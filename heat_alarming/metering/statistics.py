"""Statistics over periods: the names, the result type and the reductions.

Every reduction works on whole arrays of bucket cells gathered from the
ring: shape (periods, buckets per period, series).  Across several series a
period's value is over all samples of all series (Ceilometer's semantics:
a group's avg is sum of all samples over their count, not an avg of avgs).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

import numpy as np

from heat_alarming.metering.buckets import TICKS

#: Statistics answered exactly from bucket aggregates.
AGGREGATES = ("count", "avg", "sum", "min", "max", "std", "last")
_ALIASES = {"mean": "avg", "average": "avg", "samplecount": "count",
            "minimum": "min", "maximum": "max", "stddev": "std"}
_PERCENTILE = re.compile(r"^(?:p(\d{1,2}(?:\.\d+)?)|(\d{1,2})pct)$")


class StatisticsError(ValueError):
    """A statistics request is malformed; the message names the argument."""


def canonical_aggregate(name: str) -> str:
    """Canonical name of a statistic: ``avg``, ``std``, ``p95`` ...

    Accepts Gnocchi's ``mean`` and ``95pct`` spellings too.
    """
    if not isinstance(name, str):
        raise StatisticsError(f"aggregate: {name!r} is not a statistic name")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in AGGREGATES:
        return key
    match = _PERCENTILE.match(key)
    if match:
        q = float(match.group(1) or match.group(2))
        if 0 < q < 100:
            return f"p{q:g}"
    raise StatisticsError(
        f"aggregate: {name!r} is not one of {', '.join(AGGREGATES)} or pNN "
        "(a percentile between 0 and 100, e.g. p95)")


def percentile_of(name: str) -> float | None:
    return float(name[1:]) if name.startswith("p") else None


@dataclasses.dataclass
class Statistics:
    """Per-period statistics of one request.

    ``period_start``/``period_end`` are epoch seconds (aligned to the epoch);
    ``count`` is the number of samples in each period; ``values`` maps each
    requested statistic to one value per period (NaN where the period has no
    sample, or fewer than two for ``std``).  ``exact`` is False for periods
    where a percentile could only be computed from the raw values the
    bounded ring still holds.
    """

    meter: str
    period: int
    period_start: np.ndarray
    count: np.ndarray
    values: dict[str, np.ndarray]
    exact: np.ndarray
    series: int  # how many series matched

    @property
    def period_end(self) -> np.ndarray:
        return self.period_start + self.period

    def __len__(self) -> int:
        return int(self.period_start.size)

    def rows(self, include_empty: bool = False) -> list[dict]:
        """One dict per period, as Ceilometer's statistics API lists them."""
        out = []
        for i in range(len(self)):
            n = int(self.count[i])
            if n == 0 and not include_empty:
                continue
            row = {"period_start": float(self.period_start[i]),
                   "period_end": float(self.period_start[i] + self.period),
                   "period": self.period, "count": n}
            for name, values in self.values.items():
                value = values[i]
                if name == "count":
                    row[name] = int(value)
                else:
                    row[name] = None if np.isnan(value) else float(value)
            row["exact"] = bool(self.exact[i])
            out.append(row)
        return out


def segment_reduce(ufunc: np.ufunc, data: np.ndarray, starts: np.ndarray,
                   lengths: np.ndarray, empty: float) -> np.ndarray:
    """Reduce ``data`` (periods, nnz) along axis 1 by segments; empty ones get ``empty``."""
    if data.shape[1] == lengths.size and (lengths == 1).all():
        return data.astype(np.float64, copy=False)  # one series per segment: nothing to do
    out = np.full((data.shape[0], lengths.size), empty, dtype=np.float64)
    filled = lengths > 0
    if filled.any() and data.shape[1]:
        out[:, filled] = ufunc.reduceat(data, starts[filled], axis=1)
    return out


def _sum_buckets(cells: np.ndarray, n_periods: int, per_period: int, dtype) -> np.ndarray:
    """Sum each period's buckets: (periods * k, nnz) -> (periods, nnz)."""
    if per_period == 1:
        return cells
    return cells.reshape(n_periods, per_period, cells.shape[1]).sum(axis=1, dtype=dtype)


def reduce_cells(cells: dict[str, np.ndarray], valid: np.ndarray,
                 per_period: int, starts: np.ndarray, lengths: np.ndarray,
                 wanted: Iterable[str], bucket_times: np.ndarray,
                 resolution: int) -> tuple[np.ndarray, dict]:
    """Period values for every segment (query) from gathered cells.

    ``cells[field]`` has shape (buckets, nnz) where the nnz columns are the
    concatenated series rows of all segments; ``valid`` marks the buckets the
    ring still holds; ``bucket_times`` are the buckets' start times and
    ``resolution`` their width.
    Returns counts (periods, segments) and a dict of value arrays.
    """
    wanted = set(wanted)
    n_buckets, nnz = cells["count"].shape
    n_periods = n_buckets // per_period
    count = cells["count"]
    if not valid.all():
        count = count * valid[:, None]
    has = count > 0

    def per_period_sum(values: np.ndarray) -> np.ndarray:
        # sums and sums of squares of empty cells are zero (the ring zeroes them
        # when it retires a bucket); only buckets the ring no longer holds need a mask
        if not valid.all():
            values = values * valid[:, None]
        return _sum_buckets(values, n_periods, per_period, np.float64)

    per_period_count = _sum_buckets(count, n_periods, per_period, np.int64)
    counts = segment_reduce(np.add, per_period_count, starts, lengths, 0.0)
    values: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if wanted & {"sum", "avg", "std"}:
            total = segment_reduce(np.add, per_period_sum(cells["total"]), starts, lengths, 0.0)
            if "sum" in wanted:
                values["sum"] = np.where(counts > 0, total, np.nan)
            if "avg" in wanted:
                values["avg"] = total / counts
            if "std" in wanted:
                sumsq = segment_reduce(np.add, per_period_sum(cells["sumsq"]),
                                       starts, lengths, 0.0)
                # sample standard deviation (ddof=1), as Gnocchi; NaN below two samples
                var = (sumsq - total * total / counts) / (counts - 1)
                values["std"] = np.where(counts > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
        if "count" in wanted:
            values["count"] = counts.astype(np.int64)
        for name, field, ufunc, empty in (("min", "vmin", np.minimum, np.inf),
                                          ("max", "vmax", np.maximum, -np.inf)):
            if name in wanted:
                cell = np.where(has, cells[field], empty).reshape(n_periods, per_period, nnz)
                reduced = segment_reduce(ufunc, ufunc.reduce(cell, axis=1), starts, lengths, empty)
                values[name] = np.where(counts > 0, reduced, np.nan)
        if "last" in wanted:
            values["last"] = _last(cells, has, bucket_times, resolution / TICKS,
                                   n_periods, per_period, starts, lengths)
    return counts, values


def _last(cells: dict[str, np.ndarray], has: np.ndarray, bucket_times: np.ndarray,
          tick: float, n_periods: int, per_period: int, starts: np.ndarray,
          lengths: np.ndarray) -> np.ndarray:
    """The value of the newest sample per period and segment."""
    nnz = has.shape[1]
    when = np.where(has, bucket_times[:, None] + cells["last_tick"] * tick, -np.inf)
    when = when.reshape(n_periods, per_period, nnz)
    pick = when.argmax(axis=1)  # newest bucket per period and series
    newest = np.take_along_axis(when, pick[:, None, :], axis=1)[:, 0, :]
    last = np.take_along_axis(cells["last"].reshape(n_periods, per_period, nnz),
                              pick[:, None, :], axis=1)[:, 0, :]
    best = segment_reduce(np.maximum, newest, starts, lengths, -np.inf)
    is_best = newest == np.repeat(best, lengths, axis=1)
    column = np.where(is_best, np.arange(nnz), -1)
    chosen = segment_reduce(np.maximum, column.astype(np.float64), starts, lengths, -1)
    chosen = chosen.astype(np.int64)
    out = np.full(chosen.shape, np.nan)
    ok = (chosen >= 0) & np.isfinite(best)
    period_idx = np.nonzero(ok)[0]
    out[ok] = last[period_idx, chosen[ok]]
    return out


def split_segments(row_sets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate row sets; return (rows, starts, lengths)."""
    lengths = np.fromiter((r.size for r in row_sets), dtype=np.int64, count=len(row_sets))
    starts = np.cumsum(lengths) - lengths
    rows = np.concatenate(row_sets) if row_sets else np.zeros(0, dtype=np.int64)
    return rows.astype(np.int64, copy=False), starts, lengths
