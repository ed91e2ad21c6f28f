"""Injectable clocks: the store and the evaluator ask a clock for "now".

Production code uses :func:`system_clock`; tests and the backtest pass a
:class:`ManualClock` so that every decision is deterministic.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: A clock is any callable returning seconds since the epoch (UTC) as float.
Clock = Callable[[], float]


def system_clock() -> float:
    """Wall-clock time in seconds since the epoch."""
    return time.time()


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: float = 1_699_999_200.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = float(now)
