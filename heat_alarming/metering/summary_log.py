"""Warnings about many samples at once, at most one line per kind and interval.

A listener or a publisher that leaves samples out must say so without writing a
line per sample: :class:`SummaryLog` keeps a count per kind and logs it, with one
example, when the kind's last line is at least ``interval`` seconds old.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from heat_alarming.metering.clock import Clock, system_clock

#: seconds between two lines of one kind
LOG_INTERVAL = 60.0


class SummaryLog:
    """``note(kind, count, example)`` adds ``count`` to ``kind`` and, at most once per
    ``interval`` seconds of ``clock`` per kind, logs ``template`` at WARNING with
    ``n`` (the count since the last line), ``kind``, ``s`` (the interval) and
    ``example``, plus the ``fields`` given here.  Thread-safe."""

    def __init__(self, log: Any, template: str, *, clock: Clock = system_clock,
                 interval: float = LOG_INTERVAL, **fields: Any) -> None:
        self.log = log if log is not None else logging.getLogger(__name__)
        self.template = template
        self.clock = clock
        self.interval = interval
        self.fields = fields
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, kind: str, count: int, example: str) -> None:
        with self._lock:
            pending = self._pending.get(kind, 0) + count
            now = self.clock()
            if now - self._last.get(kind, -float("inf")) < self.interval:
                self._pending[kind] = pending
                return
            self._last[kind], self._pending[kind] = now, 0
        self.log.warning(self.template, {**self.fields, "n": pending, "kind": kind,
                                         "s": self.interval, "example": example})
