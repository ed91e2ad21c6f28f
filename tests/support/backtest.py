"""Small backtest timelines and periods, built by hand for tests.

``Timeline`` and ``Period`` are the backtest's own classes
(:mod:`heat_alarming.backtest.report`, :mod:`heat_alarming.backtest.replay`).
"""
from __future__ import annotations

import numpy as np

from heat_alarming.backtest.replay import Period
from heat_alarming.backtest.report import Timeline

START = 1_700_000_040.0  # a minute boundary


def timeline(demand, sizes, step: float = 60.0, start: float = START) -> Timeline:
    """A timeline of ``demand`` (% of one server) served by ``sizes`` members, each member
    at ``min(100, demand / size)``."""
    demand = np.asarray(demand, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    return Timeline(times=start + step * np.arange(len(demand)), sizes=sizes,
                    values=np.minimum(100.0, demand / sizes), demand=demand, step=step,
                    scale_actions=int(np.count_nonzero(np.diff(sizes))), flaps=0)


def periods(states_by_alarm: dict[str, list[str]], period: float = 120.0,
            start: float = START) -> list[Period]:
    """Consecutive periods from ``start``, the i-th with each alarm's i-th state."""
    count = len(next(iter(states_by_alarm.values())))
    return [Period(start=start + i * period, end=start + (i + 1) * period, demand=0.0,
                   value=0.0, size=1,
                   states={name: states[i] for name, states in states_by_alarm.items()},
                   outcomes=()) for i in range(count)]
