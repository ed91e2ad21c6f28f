"""What a backtest saw, minute by minute, and the few figures that sum it up.

A :class:`Timeline` is one row per trace step (e.g. per minute) whatever model
produced it (our replay, the Kubernetes HPA model, the Aodh model), so the
three are summed up by the same arithmetic:

* ``sizes``: members in service at the row's start (after any change landing at
  that instant); a member still starting does not serve and is not counted.
* ``values``: the per-member metric of the row. For a demand trace that is
  :func:`member_load`, ``min(100, demand / size)``: the demand spread evenly
  over the members in service, each saturating at 100 % of one server; with no
  member in service it is NaN (nothing served the demand).
* ``scale_actions``: resizes the model made; ``flaps``: :func:`count_flaps`.

:func:`summarize` gives ``slo_violation_minutes`` (rows whose value does not
satisfy the :class:`Slo`, a NaN value included, times the step in minutes),
``instance_hours`` (the sum of the sizes times the step, in hours),
``scale_actions`` and ``flaps``.
"""
from __future__ import annotations

import dataclasses
import math
import operator
import re

import numpy as np

#: a size change reversing the previous one within this many seconds is a flap
FLAP_WINDOW = 600.0

#: the comparisons an SLO may use: the value must satisfy ``value OP bound``
SLO_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

_METER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-/]*")
_COMPARISON = re.compile(r"[<>=!]+")


class SloError(ValueError):
    """An SLO text that cannot be read; the message names the text and why."""


@dataclasses.dataclass(frozen=True)
class Slo:
    """A service level objective on a per-member metric: ``meter operator bound``.

    A row meets it when ``value operator bound`` holds; a NaN value never does.
    """

    meter: str
    operator: str
    bound: float

    def __post_init__(self) -> None:
        if self.operator not in SLO_OPERATORS:
            raise SloError(f"SLO {self}: operator {self.operator!r} is not one of "
                           + ", ".join(SLO_OPERATORS))

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Per value, whether it meets the objective (whole-array; NaN -> False)."""
        return SLO_OPERATORS[self.operator](np.asarray(values, dtype=np.float64), self.bound)

    def __str__(self) -> str:
        return f"{self.meter}{self.operator}{self.bound:g}"


def parse_slo(text: str) -> Slo:
    """``'cpu_util<80'`` -> ``Slo('cpu_util', '<', 80.0)``; operators <, <=, >, >=.

    Raises :class:`SloError` naming the text and the reason.
    """
    if not isinstance(text, str) or not text.strip():
        raise SloError(f"SLO {text!r}: is empty; write METER<BOUND, e.g. cpu_util<80")
    found = _COMPARISON.search(text)
    if found is None:
        raise SloError(f"SLO {text!r}: has no comparison; write METER<BOUND with one of "
                       + ", ".join(SLO_OPERATORS))
    op = found.group()
    if op not in SLO_OPERATORS:
        raise SloError(f"SLO {text!r}: {op!r} is not one of " + ", ".join(SLO_OPERATORS))
    meter, bound_text = text[:found.start()].strip(), text[found.end():].strip()
    if not meter:
        raise SloError(f"SLO {text!r}: names no meter before {op!r}")
    if not _METER.fullmatch(meter):
        raise SloError(f"SLO {text!r}: {meter!r} is not a meter name")
    try:
        bound = float(bound_text)
    except ValueError:
        raise SloError(f"SLO {text!r}: bound {bound_text!r} is not a number") from None
    if not math.isfinite(bound):
        raise SloError(f"SLO {text!r}: bound {bound_text!r} is not a finite number")
    return Slo(meter, op, bound)


def member_load(demand: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each member's load: ``min(100, demand / size)``, NaN where no member serves."""
    demand = np.asarray(demand, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        load = np.minimum(100.0, demand / sizes)
    return np.where(sizes > 0, load, np.nan)


def count_flaps(times: np.ndarray, sizes: np.ndarray, window: float = FLAP_WINDOW) -> int:
    """Size changes that reverse the direction of the previous change within ``window`` s.

    Up 1 -> 2 at minute 3 then down 2 -> 1 at minute 8 is one flap; a change
    11 minutes after the previous one, or in the same direction, is not.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    changes = np.flatnonzero(np.diff(sizes))
    if changes.size < 2:
        return 0
    direction = np.sign(np.diff(sizes)[changes])
    when = np.asarray(times, dtype=np.float64)[changes + 1]
    reversed_ = direction[1:] != direction[:-1]
    soon = np.diff(when) <= window
    return int(np.count_nonzero(reversed_ & soon))


@dataclasses.dataclass(frozen=True, eq=False)
class Timeline:
    """One row per step: the time, members in service, per-member value, demand.

    ``times`` are the rows' starts (epoch s, regular ``step``); ``demand`` is
    NaN for a samples trace, which has none.
    """

    times: np.ndarray
    sizes: np.ndarray
    values: np.ndarray
    demand: np.ndarray
    step: float
    scale_actions: int
    flaps: int

    def __post_init__(self) -> None:
        n = len(self.times)
        for name in ("sizes", "values", "demand"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"timeline.{name}: {len(getattr(self, name))} rows, "
                                 f"times has {n}")
        if not self.step > 0:
            raise ValueError(f"timeline.step: {self.step!r} is not a positive number of seconds")

    @classmethod
    def of_demand(cls, times: np.ndarray, demand: np.ndarray, sizes: np.ndarray, step: float,
                  scale_actions: int) -> Timeline:
        """A demand trace's timeline: values by :func:`member_load`, flaps counted."""
        times = np.asarray(times, dtype=np.float64)
        sizes = np.asarray(sizes, dtype=np.int64)
        return cls(times=times, sizes=sizes, values=member_load(demand, sizes),
                   demand=np.asarray(demand, dtype=np.float64), step=float(step),
                   scale_actions=int(scale_actions), flaps=count_flaps(times, sizes))


def summarize(timeline: Timeline, slo: Slo | None = None) -> dict:
    """``slo_violation_minutes`` (None without an SLO), ``instance_hours``,
    ``scale_actions``, ``flaps``, and the ``slo`` text."""
    minutes = None
    if slo is not None:
        broken = np.count_nonzero(~slo.holds(timeline.values))
        minutes = float(broken * timeline.step / 60.0)
    hours = float(np.sum(np.asarray(timeline.sizes, dtype=np.float64)) * timeline.step / 3600.0)
    return {"slo": None if slo is None else str(slo),
            "slo_violation_minutes": minutes,
            "instance_hours": hours,
            "scale_actions": int(timeline.scale_actions),
            "flaps": int(timeline.flaps)}
