"""Time constraints: is an alarm inside one of its evaluation windows now?

Same rule as Aodh: a constraint is open from each cron ``start`` (read in
the constraint's time zone, so DST moves the window with the wall clock) for
``duration`` seconds; an alarm without constraints is always open.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence

import croniter

from heat_alarming.engine.alarm import TimeConstraint

_UTC = dt.timezone.utc


def is_open(constraint: TimeConstraint, now: float) -> bool:
    """Whether ``now`` (epoch seconds) lies in one of the constraint's windows."""
    zone = zoneinfo.ZoneInfo(constraint.timezone) if constraint.timezone else _UTC
    local = dt.datetime.fromtimestamp(now, tz=_UTC).astimezone(zone)
    # croniter's get_prev skips a start that falls exactly on "now" (to the
    # minute), so ask from one second later.
    itr = croniter.croniter(constraint.start, local + dt.timedelta(seconds=1))
    latest = itr.get_prev(dt.datetime)
    elapsed = (local - latest).total_seconds()
    return 0 <= elapsed <= constraint.duration


def within(constraints: Sequence[TimeConstraint], now: float) -> bool:
    """True when there are no constraints or one of them is open."""
    return not constraints or any(is_open(c, now) for c in constraints)
