"""Threshold rules of one period: their query, once per round, for all of them.

All threshold rules that share a period form one :class:`ThresholdGroup`.
A round asks the store for the group's statistics in one call (shape:
periods x rules) and decides every rule from them with numpy
(:mod:`heat_alarming.engine.rules`); the caller turns the few verdicts that
change something into reasons and actions.

Rounds are incremental: the group keeps its window's reduced periods
(:class:`heat_alarming.metering.reduced.ReducedPeriods`) and, per kept
period, which rules have a datapoint there and which breach. A round reduces
only the period that closed and any whose cells changed (a late sample),
decides the rules whose N newest periods all have data from those kept facts
(:func:`~heat_alarming.engine.rules.settled_verdicts`), and only the others
through the whole-window :func:`~heat_alarming.engine.rules.threshold_verdicts`.
Both give the verdicts a full reduction and decision of the window gives.
The group's last window stays readable (:meth:`ThresholdGroup.column_window`,
:attr:`ThresholdGroup.last_window`), so that an explanation reads the very
numbers the round decided on.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from heat_alarming.engine import rules as rules_mod
from heat_alarming.engine.alarm import ThresholdRule
from heat_alarming.engine.rules import ThresholdSpec, Verdicts, threshold_verdicts
from heat_alarming.metering.reduced import ReducedPeriods, keepable
from heat_alarming.metering.selection import Selectors
from heat_alarming.metering.store import RollingStore, Selection


@dataclasses.dataclass(frozen=True)
class Window:
    """The statistics a round decided on: periods ``first`` .. ``first + len - 1``
    (index = start time / period), per period and rule."""

    first: int
    counts: np.ndarray
    values: dict[str, np.ndarray]


class RuleSelectors(Sequence):
    """The ``(meter, query, project_id)`` selectors of rules, each made when read (the
    query is the one the rule keeps, :meth:`ThresholdRule.selector`): a group of a
    million rules holds no selector tuple per rule."""

    def __init__(self, rules: Sequence[ThresholdRule], projects: Sequence[str | None]) -> None:
        self._rules, self._projects = rules, projects  # read, never copied or changed

    def __len__(self) -> int:
        return len(self._rules)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rule = self._rules[i]
        return rule.meter_name, rule.selector(), self._projects[i]

    def __iter__(self):
        for rule, project in zip(self._rules, self._projects):
            yield rule.meter_name, rule.selector(), project


class ThresholdGroup:
    """Threshold rules of one period, compiled into arrays."""

    def __init__(self, period: int, rules: Sequence[ThresholdRule],
                 projects: Sequence[str | None]) -> None:
        self.period = int(period)
        self.rules = rules if type(rules) is list else list(rules)  # read, never changed
        self.spec = ThresholdSpec(self.rules)
        self.max_window = self.spec.max_window
        self.statistics = self.spec.statistics
        self.selectors = Selectors(RuleSelectors(self.rules, projects))
        self._selection: Selection | None = None
        self._selected_in: RollingStore | None = None
        # the window's periods kept between rounds (None: percentiles, read whole)
        self._kept = ReducedPeriods(self.period, self.statistics, self.max_window) \
            if keepable(self.statistics) and self.rules else None
        # per slot of the kept ring: each rule's value, datapoint and breach (the value
        # apart only when rules read different statistics, see _values)
        self._value = self._present = self._breach = np.zeros((0, 0))
        self._whole: Window | None = None  # the last window, when nothing is kept
        # the columns whose series changed when selection() last moved to a new index
        # version (None: every column, after a full select; see changed_columns)
        self._changed: np.ndarray | None = np.zeros(0, dtype=np.int64)
        # the columns changed since the kept periods were last read, over however many
        # selections (None: all of them, as before the first read)
        self._unread: np.ndarray | None = None

    def selection(self, store: RollingStore) -> Selection:
        """The rules' series at the store's index version: selected in full once, then
        brought up to date from the series that changed (:meth:`RollingStore.reselect`)."""
        if self._selection is None or store is not self._selected_in:
            self._selected_in = store  # versions count one store's index changes only
            self._selection = store.select_many(self.selectors)
            self._changed = None
            self._unread = None
        elif self._selection.version != store.index_version:
            self._selection, self._changed = store.reselect(self._selection, self.selectors)
            if self._unread is not None:
                self._unread = np.union1d(self._unread, self._changed)
        return self._selection

    @property
    def changed_columns(self) -> np.ndarray:
        """The columns whose series changed when :meth:`selection` last moved to a new
        index version (every column on the first select; sorted)."""
        if self._changed is None:  # not kept as an array: a million columns, all of them
            return np.arange(len(self.rules), dtype=np.int64)
        return self._changed

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

    @property
    def last_window(self) -> Window | None:
        """The statistics of the last :meth:`evaluate`, every rule (None before the
        first); a copy: for one rule, :meth:`column_window` costs less."""
        if self._kept is None or self._kept.first is None:
            return self._whole
        counts, values = self._kept.window()
        return Window(self._kept.first, counts, values)

    def column_window(self, column: int) -> Window | None:
        """Rule ``column``'s statistics in the last :meth:`evaluate`, shape (periods, 1)."""
        if self._kept is None or self._kept.first is None:
            whole = self._whole
            if whole is None:
                return None
            return Window(whole.first, whole.counts[:, column:column + 1],
                          {k: v[:, column:column + 1] for k, v in whole.values.items()})
        counts, values = self._kept.window(np.array([column]))
        return Window(self._kept.first, counts, values)

    def evaluate(self, store: RollingStore, now: float) -> Verdicts:
        first, n_periods = self.closed_periods(now)
        selection = self.selection(store)
        if self._kept is None:
            counts, values, _ = store.aggregate(selection, self.period, first, n_periods,
                                                self.statistics)
            self._whole = Window(first, counts, values)
            return self.decide(counts, values)
        try:
            self._kept.read(store, selection, first, self._unread)
            self._unread = np.zeros(0, dtype=np.int64)
            self._derive()
        except Exception:
            # half a read may have changed some slots: keep nothing rather than that
            self._kept = ReducedPeriods(self.period, self.statistics, self.max_window)
            self._unread = None
            raise
        return self._decide_kept()

    def _derive(self) -> None:
        """Each rule's value, datapoint and breach in the periods the last read
        reduced anew (:attr:`ReducedPeriods.fresh_periods` and ``fresh_segments``)."""
        kept, spec = self._kept, self.spec
        if self._present.shape != kept.counts.shape:
            self._value = np.full(kept.counts.shape if len(spec.statistics) > 1 else (0, 0),
                                  np.nan)
            self._present = np.zeros(kept.counts.shape, dtype=bool)
            self._breach = np.zeros(kept.counts.shape, dtype=bool)
        order = kept.order()
        if kept.fresh_periods.size:
            slots = order[kept.fresh_periods]
            value = rules_mod.datapoint_values(spec, {k: v[slots]
                                                      for k, v in kept.values.items()})
            if len(spec.statistics) > 1:
                self._value[slots] = value
            self._present[slots] = rules_mod.has_data(kept.counts[slots], value)
            self._breach[slots] = rules_mod.breaches(spec, value)
        columns = kept.fresh_segments
        if columns.size:
            part = spec.subset(columns)
            value = rules_mod.datapoint_values(part, {k: v[:, columns]
                                                      for k, v in kept.values.items()})
            if len(spec.statistics) > 1:
                self._value[:, columns] = value
            self._present[:, columns] = rules_mod.has_data(kept.counts[:, columns], value)
            self._breach[:, columns] = rules_mod.breaches(part, value)

    def _values(self) -> np.ndarray:
        """Each rule's value per slot of the kept ring: with one statistic for all
        rules, the kept statistic itself (:func:`rules.datapoint_values`), no copy."""
        statistics = self.spec.statistics
        return self._kept.values[statistics[0]] if len(statistics) == 1 else self._value

    def _decide_kept(self) -> Verdicts:
        """Settled rules from the kept facts, the others from their whole window."""
        kept, spec = self._kept, self.spec
        recent = kept.order()[-spec.longest_n:] if spec.longest_n else []
        newest = recent[-1] if len(recent) else 0
        settled, out = rules_mod.settled_verdicts(
            spec, [self._present[slot] for slot in recent],
            [self._breach[slot] for slot in recent], self._values()[newest].copy())
        rest = np.flatnonzero(~settled)
        if rest.size:
            everything = rest.size == len(spec)
            counts, values = kept.window(slice(None) if everything else rest)
            part = threshold_verdicts(spec if everything else spec.subset(rest),
                                      counts, values)
            for name in ("verdict", "trend", "points", "outside", "most_recent"):
                getattr(out, name)[rest] = getattr(part, name)
        return out

    def decide(self, counts: np.ndarray, values: dict[str, np.ndarray]) -> Verdicts:
        """Verdicts from per-period counts and statistics, shape (periods, rules)
        (:func:`heat_alarming.engine.rules.threshold_verdicts`)."""
        return threshold_verdicts(self.spec, counts, values)


def reason_data(state: str, points: int, outside: int, most_recent: float) -> dict:
    """Aodh's threshold reason_data for an ok/alarm verdict (that of :func:`reason_for`)."""
    if state == "ok":
        disposition, count = "inside", points - outside
    else:
        disposition, count = "outside", outside
    return {"type": "threshold", "disposition": disposition, "count": int(count),
            "most_recent": None if math.isnan(most_recent) else float(most_recent)}


def reason_for(state: str, transition: bool, points: int, outside: int,
               most_recent: float) -> tuple[str, dict]:
    """Aodh's threshold reason text and reason_data for an ok/alarm verdict."""
    data = reason_data(state, points, outside, most_recent)
    verb = "Transition to" if transition else "Remaining as"
    return (f"{verb} {state} due to {data['count']} samples {data['disposition']} "
            f"threshold, most recent: {data['most_recent']}", data)


def unknown_reason(evaluation_periods: int, most_recent: float) -> tuple[str, dict]:
    """Aodh's insufficient-data reason."""
    recent = None if math.isnan(most_recent) else float(most_recent)
    return (f"{evaluation_periods} datapoints are unknown",
            {"type": "threshold", "disposition": "unknown", "count": evaluation_periods,
             "most_recent": recent})
