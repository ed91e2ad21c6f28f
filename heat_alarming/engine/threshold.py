"""Threshold rules of one period: their query, once per round, for all of them.

All threshold rules that share a period form one :class:`ThresholdGroup`.
A round asks the store for the group's statistics in one call (shape:
periods x rules); :func:`heat_alarming.engine.rules.threshold_verdicts`
decides every rule from them with numpy, and the caller turns the few
verdicts that change something into reasons and actions. The group keeps
its last window (:attr:`ThresholdGroup.last_window`), so that an
explanation reads the very arrays the round decided on.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from heat_alarming.engine.alarm import ThresholdRule
from heat_alarming.engine.rules import ThresholdSpec, Verdicts, threshold_verdicts
from heat_alarming.metering.selection import Selectors
from heat_alarming.metering.store import RollingStore, Selection


@dataclasses.dataclass(frozen=True)
class Window:
    """The statistics a round decided on: periods ``first`` .. ``first + len - 1``
    (index = start time / period), per period and rule."""

    first: int
    counts: np.ndarray
    values: dict[str, np.ndarray]


class ThresholdGroup:
    """Threshold rules of one period, compiled into arrays."""

    def __init__(self, period: int, rules: Sequence[ThresholdRule],
                 projects: Sequence[str | None]) -> None:
        self.period = int(period)
        self.rules = list(rules)
        self.spec = ThresholdSpec(self.rules)
        self.max_window = self.spec.max_window
        self.statistics = self.spec.statistics
        self.selectors = Selectors((r.meter_name, r.selector(), project)
                                   for r, project in zip(rules, projects))
        self._selection: Selection | None = None
        #: the columns whose series changed when :meth:`selection` last moved to a new
        #: index version (every column on the first select; sorted): what a cache of
        #: per-column statistics must drop when it sees a new ``selection.version``
        self.changed_columns = np.zeros(0, dtype=np.int64)
        #: the statistics of the last :meth:`evaluate` (None before the first)
        self.last_window: Window | None = None

    def selection(self, store: RollingStore) -> Selection:
        """The rules' series at the store's index version: selected in full once, then
        brought up to date from the series that changed (:meth:`RollingStore.reselect`)."""
        if self._selection is None:
            self._selection = store.select_many(self.selectors)
            self.changed_columns = np.arange(len(self.rules), dtype=np.int64)
        elif self._selection.version != store.index_version:
            self._selection, self.changed_columns = store.reselect(self._selection,
                                                                   self.selectors)
        return self._selection

    def matched(self, column: int) -> int | None:
        """Series rule ``column``'s query matched in the last :meth:`evaluate` (None:
        not evaluated yet)."""
        if self._selection is None:
            return None
        return int(self._selection.lengths[column])

    def closed_periods(self, now: float) -> tuple[int, int]:
        """(first period index, count) of the look-back window at ``now``."""
        current = math.floor(now / self.period)  # the period still filling
        return current - self.max_window, self.max_window

    def evaluate(self, store: RollingStore, now: float) -> Verdicts:
        first, n_periods = self.closed_periods(now)
        counts, values, _ = store.aggregate(self.selection(store), self.period, first,
                                            n_periods, self.statistics)
        self.last_window = Window(first, counts, values)
        return self.decide(counts, values)

    def decide(self, counts: np.ndarray, values: dict[str, np.ndarray]) -> Verdicts:
        """Verdicts from per-period counts and statistics, shape (periods, rules)
        (:func:`heat_alarming.engine.rules.threshold_verdicts`)."""
        return threshold_verdicts(self.spec, counts, values)


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
