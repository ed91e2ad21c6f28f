"""Threshold rules evaluated on whole arrays, with Aodh's semantics.

All threshold rules that share a period form one :class:`ThresholdGroup`.
A round asks the store for the group's statistics in one call (shape:
periods x rules) and decides every rule with numpy: which periods are
datapoints, which breach, and what each rule's verdict is.  No Python runs
per rule; the caller turns the few verdicts that change something into
reasons and actions.

Semantics, per rule with N = evaluation_periods:

* Only closed periods are datapoints; a period with no sample is absent
  (Aodh reads only periods that have data).
* The look-back window is N + 1 closed periods (N + N with
  ``exclude_outliers``, so a count trend can be seen); the last N datapoints
  in it are evaluated, and fewer than N give ``insufficient data``.
* ``exclude_outliers`` drops datapoints whose sample count is outside the
  mean +- 2 standard deviations of the window's counts (as Aodh).
* All breaching -> alarm, none -> ok, a mix -> "mixed" with the trend of the
  most recent datapoint (the caller keeps the state, as Aodh).
* ``datapoints_to_alarm`` M: alarm when at least M of the N breach, else ok.
* ``missing_data``: ``missing`` is the above; ``ignore`` keeps the current
  state instead of going to insufficient data; ``breaching`` and
  ``not_breaching`` evaluate exactly the last N closed periods, an empty one
  counting as breaching or not.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from heat_alarming.engine.alarm import MISSING_DATA, ThresholdRule
from heat_alarming.metering.query import COMPARE, OPERATORS
from heat_alarming.metering.store import RollingStore, Selection

# verdicts
V_OK, V_ALARM, V_UNKNOWN, V_MIXED, V_KEEP = 0, 1, 2, 3, 4
_MISSING = {name: i for i, name in enumerate(MISSING_DATA)}


@dataclasses.dataclass
class Verdicts:
    """Per-rule results of one round, arrays aligned with the group's rules."""

    verdict: np.ndarray       # V_OK, V_ALARM, V_UNKNOWN, V_MIXED or V_KEEP
    trend: np.ndarray         # for V_MIXED: V_ALARM if the newest datapoint breaches
    points: np.ndarray        # datapoints evaluated
    outside: np.ndarray       # of which breaching
    most_recent: np.ndarray   # value of the newest evaluated datapoint (NaN: none)


class ThresholdGroup:
    """Threshold rules of one period, compiled into arrays."""

    def __init__(self, period: int, rules: Sequence[ThresholdRule],
                 projects: Sequence[str | None]) -> None:
        self.period = int(period)
        self.rules = list(rules)
        n_rules = len(self.rules)
        self.threshold = np.array([r.threshold for r in rules], dtype=np.float64)
        self.op = np.array([OPERATORS.index(r.comparison_operator) for r in rules],
                           dtype=np.int8)
        self.n = np.array([r.evaluation_periods for r in rules], dtype=np.int64)
        self.m = np.array([r.datapoints_to_alarm or 0 for r in rules], dtype=np.int64)
        self.missing = np.array([_MISSING[r.missing_data] for r in rules], dtype=np.int8)
        self.outliers = np.array([r.exclude_outliers for r in rules], dtype=bool)
        self.window = np.array([r.look_back for r in rules], dtype=np.int64)
        self.max_window = int(self.window.max()) if n_rules else 0
        self.statistics = sorted({r.statistic for r in rules})
        self.stat_index = np.array([self.statistics.index(r.statistic) for r in rules],
                                   dtype=np.int64)
        self.selectors = [(r.meter_name, r.selector(), project)
                          for r, project in zip(rules, projects)]
        self._selection: Selection | None = None
        self._ops_used = [(code, COMPARE[name], self.op == code)
                          for code, name in enumerate(OPERATORS) if (self.op == code).any()]
        self._any_fill = bool((self.missing >= _MISSING["breaching"]).any())
        self._any_m = bool((self.m > 0).any())

    def selection(self, store: RollingStore) -> Selection:
        if self._selection is None or self._selection.version != store.index_version:
            self._selection = store.select_many(self.selectors)
        return self._selection

    def closed_periods(self, now: float) -> tuple[int, int]:
        """(first period index, count) of the look-back window at ``now``."""
        current = math.floor(now / self.period)  # the period still filling
        return current - self.max_window, self.max_window

    def evaluate(self, store: RollingStore, now: float) -> Verdicts:
        first, n_periods = self.closed_periods(now)
        counts, values, _ = store.aggregate(self.selection(store), self.period, first,
                                            n_periods, self.statistics)
        return self.decide(counts, values)

    def decide(self, counts: np.ndarray, values: dict[str, np.ndarray]) -> Verdicts:
        """Verdicts from per-period counts and statistics, shape (periods, rules).

        The period axis is short (N + 1 or 2N), so it is walked with a loop
        of whole-row operations; every operation spans all rules at once.
        """
        n_periods, n_rules = counts.shape
        rules = np.arange(n_rules)
        if len(self.statistics) == 1:
            value = values[self.statistics[0]]
        else:
            stacked = np.stack([values[s] for s in self.statistics])
            value = stacked[self.stat_index, :, rules].T
        in_window = self._window_mask(n_periods)
        present = (counts > 0) & ~np.isnan(value)
        if in_window is not None:
            present &= in_window
        if self.outliers.any():
            present &= ~self._outliers(counts, present)

        with np.errstate(invalid="ignore"):
            if len(self._ops_used) == 1:
                breach = self._ops_used[0][1](value, self.threshold)
            else:
                breach = np.zeros(value.shape, dtype=bool)
                for _, compare, columns in self._ops_used:
                    breach[:, columns] = compare(value[:, columns], self.threshold[columns])

        # walk back from the newest period: the newest N present periods are judged
        selected = np.empty_like(present)
        seen = np.zeros(n_rules, dtype=np.int64)
        for p in range(n_periods - 1, -1, -1):
            seen += present[p]
            selected[p] = present[p] & (seen <= self.n)
        if self._any_fill:
            fill = self.missing >= _MISSING["breaching"]
            last_n = np.arange(n_periods)[:, None] >= (n_periods - self.n)[None, :]
            selected[:, fill] = last_n[:, fill]
            filled = np.where(present, breach, (self.missing == _MISSING["breaching"])[None, :])
            breach[:, fill] = filled[:, fill]
        judged_breach = selected & breach
        points = selected.sum(axis=0)
        outside = judged_breach.sum(axis=0)

        # the newest judged period, and the newest one that has a value
        newest = np.zeros(n_rules, dtype=np.int64)
        newest_real = np.full(n_rules, -1, dtype=np.int64)
        for p in range(n_periods):
            newest[selected[p]] = p
            newest_real[selected[p] & present[p]] = p
        most_recent = np.where(newest_real >= 0, value[np.maximum(newest_real, 0), rules],
                               np.nan)
        trend = np.where(breach[newest, rules], V_ALARM, V_OK).astype(np.int8)

        verdict = np.where(outside == points, V_ALARM,
                           np.where(outside == 0, V_OK, V_MIXED)).astype(np.int8)
        if self._any_m:
            use_m = self.m > 0
            verdict[use_m] = np.where(outside[use_m] >= self.m[use_m], V_ALARM, V_OK)
        insufficient = points < self.n
        if insufficient.any():
            verdict[insufficient] = np.where(
                self.missing[insufficient] == _MISSING["ignore"], V_KEEP, V_UNKNOWN)
        return Verdicts(verdict, trend, points, outside, most_recent)

    def _window_mask(self, n_periods: int) -> np.ndarray | None:
        """Which periods lie in each rule's own look-back window (None: all of them)."""
        if (self.window >= n_periods).all():
            return None
        return np.arange(n_periods)[:, None] >= (n_periods - self.window)[None, :]

    def _outliers(self, counts: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Datapoints whose sample count is beyond mean +- 2 sigma of the window's counts."""
        k = present.sum(axis=0)
        c = np.where(present, counts, 0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = c.sum(axis=0) / k
            var = np.where(present, (counts - mean[None, :]) ** 2, 0.0).sum(axis=0) / k
        sigma = np.sqrt(var)
        lower, upper = mean - 2 * sigma, mean + 2 * sigma
        weak = present & ((counts < lower[None, :]) | (counts > upper[None, :]))
        return weak & self.outliers[None, :]


def reason_for(state: str, transition: bool, points: int, outside: int,
               most_recent: float) -> tuple[str, dict]:
    """Aodh's threshold reason text and reason_data for an ok/alarm verdict."""
    if state == "ok":
        disposition, count = "inside", points - outside
    else:
        disposition, count = "outside", outside
    recent = None if math.isnan(most_recent) else float(most_recent)
    data = {"type": "threshold", "disposition": disposition, "count": int(count),
            "most_recent": recent}
    verb = "Transition to" if transition else "Remaining as"
    return (f"{verb} {state} due to {int(count)} samples {disposition} threshold, "
            f"most recent: {recent}", data)


def unknown_reason(evaluation_periods: int, most_recent: float) -> tuple[str, dict]:
    """Aodh's insufficient-data reason."""
    recent = None if math.isnan(most_recent) else float(most_recent)
    return (f"{evaluation_periods} datapoints are unknown",
            {"type": "threshold", "disposition": "unknown", "count": evaluation_periods,
             "most_recent": recent})
