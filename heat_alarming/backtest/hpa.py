"""A model of Kubernetes' HorizontalPodAutoscaler (autoscaling/v2) on a demand trace.

Each member (pod) is one server; the demand is in percent of one server, and a
pod in service serves at most 100 of it. The model follows the controller's
documented algorithm and its defaults (Kubernetes' "Horizontal Pod Autoscaling"
page and ``pkg/apis/autoscaling/v2/defaults.go``):

* **Sync**: every ``sync_period`` (15 s, ``--horizontal-pod-autoscaler-sync-period``)
  from the trace's start. The controller reads the demand as metrics-server last
  saw it, ``metrics_delay`` earlier (15 s: metrics-server's default
  ``--metric-resolution``, the least a usage figure can be behind; 0 reads the
  demand of the very instant, which no real controller can). Until metrics-server
  has seen the trace's first row there is no usage, and the size stays.
* **Utilisation**: of the pods in service (ready), as the controller computes
  it, an integer percent of the request: ``floor(min(demand, 100 x ready) / ready)``.
* **Recommendation**: ``ceil(ready x utilisation / target)``, or no change when
  ``|utilisation / target - 1| <= tolerance`` (0.1). Pods still starting
  (``pod_start_seconds``, the group's ``resize_seconds``) are left out; when the
  ratio says "up" and some pods are starting, they count as using 0 % and the
  ratio is computed again over all pods: if it is then within the tolerance or
  says "down", nothing changes (the controller's damping of a scale-up).
* **Stabilisation**: the recommendation is kept between the lowest of the
  recommendations of the last ``scale_up.stabilization`` seconds (0: none) and
  the highest of those of the last ``scale_down.stabilization`` seconds (300),
  each window holding the recommendations made strictly after ``now - window``.
  At the trace's start no recommendation exists yet (as for a new HPA), so the
  first sync may scale down at once. Ratios are float64, as in the controller:
  55 % for a target of 50 is 1.1000000000000001, outside a 0.1 tolerance.
* **Rate**: scale-up at most the larger of +4 pods and +100 % per 15 s,
  scale-down at most -100 % per 15 s (counted from the size at the start of the
  policy's period, as the controller does), and always within
  ``[min_replicas, max_replicas]``.
* **Pods**: a new pod serves ``pod_start_seconds`` after the sync that created
  it; a scale-down removes starting pods first (newest first), then ready ones,
  which stop serving at once. With no replica at all the controller does nothing.

:func:`simulate` returns a :class:`~heat_alarming.backtest.report.Timeline` at
the trace's step: ``sizes`` are the pods in service at each row's start.
"""
from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from heat_alarming.backtest.report import Timeline

PODS, PERCENT = "pods", "percent"
MAX_CHANGE, MIN_CHANGE = "max", "min"


class HpaError(ValueError):
    """A model parameter or an input that cannot be simulated; names the field."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """At most ``value`` pods (or percent) of change per ``period`` seconds."""

    kind: str
    value: float
    period: float

    def __post_init__(self) -> None:
        if self.kind not in (PODS, PERCENT):
            raise HpaError(f"policy.kind: {self.kind!r} is not one of {PODS}, {PERCENT}")
        if not self.value >= 0 or not self.period > 0:
            raise HpaError(f"policy: value {self.value!r} must be >= 0 and period "
                           f"{self.period!r} > 0")


@dataclasses.dataclass(frozen=True)
class Rules:
    """One direction's behaviour: stabilisation window, policies, which policy wins."""

    stabilization: float
    policies: tuple[Policy, ...]
    select: str = MAX_CHANGE

    def __post_init__(self) -> None:
        if not self.stabilization >= 0:
            raise HpaError(f"rules.stabilization: {self.stabilization!r} is not >= 0")
        if self.select not in (MAX_CHANGE, MIN_CHANGE):
            raise HpaError(f"rules.select: {self.select!r} is not one of max, min")


#: Kubernetes' default behaviour (autoscaling/v2 defaults.go, and the docs' "Default Behavior")
SCALE_UP = Rules(0.0, (Policy(PERCENT, 100, 15.0), Policy(PODS, 4, 15.0)))
SCALE_DOWN = Rules(300.0, (Policy(PERCENT, 100, 15.0),))


@dataclasses.dataclass(frozen=True)
class Hpa:
    """One HPA: replica bounds, the target utilisation (percent) and its behaviour."""

    min_replicas: int
    max_replicas: int
    target: float
    #: --horizontal-pod-autoscaler-tolerance
    tolerance: float = 0.1
    #: --horizontal-pod-autoscaler-sync-period
    sync_period: float = 15.0
    #: seconds from a pod's creation to its serving (and counting in the metrics)
    pod_start_seconds: float = 0.0
    #: how old the usage the controller reads is (metrics-server's --metric-resolution)
    metrics_delay: float = 15.0
    scale_up: Rules = SCALE_UP
    scale_down: Rules = SCALE_DOWN

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise HpaError(f"hpa.min_replicas: {self.min_replicas!r} must be between 0 and "
                           f"max_replicas ({self.max_replicas!r})")
        if not self.target > 0:
            raise HpaError(f"hpa.target: {self.target!r} is not a positive utilisation")
        if not self.tolerance >= 0:
            raise HpaError(f"hpa.tolerance: {self.tolerance!r} is not >= 0")
        if not self.sync_period > 0:
            raise HpaError(f"hpa.sync_period: {self.sync_period!r} is not > 0")
        if not self.pod_start_seconds >= 0:
            raise HpaError(f"hpa.pod_start_seconds: {self.pod_start_seconds!r} is not >= 0")
        if not self.metrics_delay >= 0:
            raise HpaError(f"hpa.metrics_delay: {self.metrics_delay!r} is not >= 0")

    @classmethod
    def for_group(cls, group, target: float, **behaviour) -> Hpa:
        """An HPA with a group's bounds and its ``resize_seconds`` as the pod start delay."""
        return cls(min_replicas=int(group.min_size), max_replicas=int(group.max_size),
                   target=float(target), pod_start_seconds=float(group.resize_seconds),
                   **behaviour)


def recommend(ready: int, starting: int, served: float, target: float,
              tolerance: float) -> int:
    """The controller's replica count for one sync, before stabilisation and rate limits.

    ``served`` is the load the ready pods carry (percent of one server, at most
    ``100 x ready``). No ready pod (no metrics) or a ratio within the tolerance:
    the current count, ``ready + starting``.
    """
    current = ready + starting
    if ready == 0:
        return current
    ratio = math.floor(served / ready) / target
    if starting == 0 or ratio <= 1.0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    # scaling up with pods still starting: they count as using 0 %
    new_ratio = math.floor(served / current) / target
    if abs(1.0 - new_ratio) <= tolerance or new_ratio < 1.0:
        return current
    return max(current, math.ceil(new_ratio * current))


def _period_change(events: collections.deque, now: float, period: float) -> int:
    """Pods changed by ``events`` (time, count) strictly after ``now - period``."""
    cutoff = now - period
    return sum(count for at, count in events if at > cutoff)


def _limit(rules: Rules, current: int, ups: collections.deque, downs: collections.deque,
           now: float, up: bool) -> int:
    """The furthest one direction's policies allow from ``current`` at ``now``."""
    proposals = []
    for policy in rules.policies:
        start = current - _period_change(ups, now, policy.period) \
            + _period_change(downs, now, policy.period)
        if policy.kind == PODS:
            proposals.append(start + policy.value if up else start - policy.value)
        elif up:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    if not proposals:
        return current
    largest_change = max if up else min
    pick = largest_change if rules.select == MAX_CHANGE else (min if up else max)
    return int(pick(proposals))


def simulate(times: np.ndarray, demand: np.ndarray, group, target: float,
             step: float | None = None, **behaviour) -> Timeline:
    """The HPA's timeline on a demand trace, for a GroupSpec-like ``group``
    (``min_size``, ``max_size``, ``desired_capacity``, ``resize_seconds``)."""
    return run(Hpa.for_group(group, target, **behaviour), times, demand,
               int(group.desired_capacity), step)


def run(hpa: Hpa, times: np.ndarray, demand: np.ndarray, initial: int,
        step: float | None = None) -> Timeline:
    """Sync ``hpa`` over the trace from ``initial`` ready pods; one timeline row per step."""
    times = np.asarray(times, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    if times.ndim != 1 or times.size == 0 or demand.shape != times.shape:
        raise HpaError(f"trace: {times.size} times and {demand.size} demand values; "
                       "one demand per time, at least one row")
    if step is None:
        if times.size < 2:
            raise HpaError("trace.step: a one-row trace needs its step given")
        step = float(times[1] - times[0])
    if not step > 0:
        raise HpaError(f"trace.step: {step!r} is not a positive number of seconds")
    if initial < 0:
        raise HpaError(f"group.desired_capacity: {initial!r} is negative")
    syncs = np.arange(times[0], times[-1] + step, hpa.sync_period)
    # the row of what metrics-server saw last: the demand ``metrics_delay`` before
    rows = np.clip(np.searchsorted(times, syncs - hpa.metrics_delay, side="right") - 1, 0,
                   times.size - 1)
    sync_demand = demand[rows]
    # before metrics-server has seen the trace's first row there is no usage to read
    sync_demand[syncs - hpa.metrics_delay < times[0]] = np.nan

    ready, starting = initial, []  # starting: the times the starting pods will serve
    became_ready, stopped = [], []  # when pods started, and ready pods stopped, serving
    recommendations: collections.deque = collections.deque()  # (time, replicas)
    ups: collections.deque = collections.deque()  # (time, pods added)
    downs: collections.deque = collections.deque()  # (time, pods removed)
    keep = max(hpa.scale_up.stabilization, hpa.scale_down.stabilization)
    keep_events = max([p.period for p in hpa.scale_up.policies + hpa.scale_down.policies],
                      default=0.0)
    actions = 0
    for now, load in zip(syncs.tolist(), sync_demand.tolist()):
        while starting and starting[0] <= now:
            became_ready.append(starting.pop(0))
            ready += 1
        current = ready + len(starting)
        if current == 0:
            continue  # Kubernetes: scaling is disabled at 0 replicas
        if load != load:  # NaN: no metrics yet, and the controller leaves the size
            continue
        if current > hpa.max_replicas:
            desired = hpa.max_replicas
        elif current < hpa.min_replicas:
            desired = hpa.min_replicas
        else:
            raw = recommend(ready, len(starting), min(load, 100.0 * ready), hpa.target,
                            hpa.tolerance)
            desired = _normalize(hpa, now, current, raw, recommendations, ups, downs)
            recommendations.append((now, raw))
        while recommendations and recommendations[0][0] <= now - keep:
            recommendations.popleft()
        for events in (ups, downs):
            while events and events[0][0] <= now - keep_events:
                events.popleft()
        if desired == current:
            continue
        actions += 1
        if desired > current:
            ups.append((now, desired - current))
            starting.extend([now + hpa.pod_start_seconds] * (desired - current))
        else:
            downs.append((now, current - desired))
            gone = current - desired
            while gone and starting:
                starting.pop()
                gone -= 1
            stopped.extend([now] * gone)
            ready -= gone
    became_ready.extend(starting)  # pods that would serve after the last sync
    sizes = _in_service(times, initial, became_ready, stopped)
    return Timeline.of_demand(times, demand, sizes, step, actions)


def _normalize(hpa: Hpa, now: float, current: int, raw: int,
               recommendations: collections.deque, ups: collections.deque,
               downs: collections.deque) -> int:
    """Stabilise ``raw`` over the windows, then bound it by the rate policies and
    the replica bounds (the controller's normalizeDesiredReplicasWithBehaviors)."""
    lowest = highest = raw
    for at, value in recommendations:
        if at > now - hpa.scale_up.stabilization:
            lowest = min(lowest, value)
        if at > now - hpa.scale_down.stabilization:
            highest = max(highest, value)
    desired = min(max(current, lowest), highest)
    if desired > current:
        limit = max(_limit(hpa.scale_up, current, ups, downs, now, up=True), current)
        return min(desired, hpa.max_replicas, limit)
    if desired < current:
        limit = min(_limit(hpa.scale_down, current, ups, downs, now, up=False), current)
        return max(desired, hpa.min_replicas, limit)
    return desired


def _in_service(times: np.ndarray, initial: int, became_ready: list,
                stopped: list) -> np.ndarray:
    """Pods serving at each time (whole-array over the start and stop instants)."""
    starts = np.sort(np.asarray(became_ready, dtype=np.float64))
    stops = np.sort(np.asarray(stopped, dtype=np.float64))
    return (initial + np.searchsorted(starts, times, side="right")
            - np.searchsorted(stops, times, side="right")).astype(np.int64)

