"""Replay a trace through the real evaluator and a simulated group.

The live engine's pieces decide: :class:`heat_alarming.engine.evaluator.Evaluator`
over a :class:`heat_alarming.metering.store.RollingStore`, both on one
:class:`~heat_alarming.metering.clock.ManualClock` moved from event to event.
The scenario's alarms are defined as the template would define them; what
each round notifies (the evaluator's own decision, ``repeat_actions``
included) is handed to the :class:`~heat_alarming.backtest.group.SimulatedGroup`
``action_delay`` seconds later, with the signal details the live signaller
sends (the payload, ``value`` = the round's newest value, ``threshold``).

A demand trace drives the group's members: every ``tick`` seconds (the
greatest common divisor of the trace step and the alarms' periods, which is
also the store's resolution) each member in service ``member-0 ..`` reports
``min(100, demand / size)`` with the scenario's metadata, stamped in the
middle of the tick (as the demo pushes). A samples trace is ingested as
recorded, under the scenario's project.

Rounds run as the live evaluator's loop runs them: when a period closes, for
the alarms of that period (``evaluate_every=None``); or every
``evaluate_every`` seconds for all alarms (Aodh's fixed interval). At equal
times samples go in first, then due signals, then the round.

One :class:`Period` is recorded per trace step (demand) or per shortest
alarm period (samples), from the trace's start: the alarms' states and the
group's size at its end (after that instant's round and signals), the mean
member value (of a samples trace: of the samples of the scenario's meter that
carry its metadata) and the demand over it, and the group's outcomes within it.
"""
from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Mapping
from functools import reduce

import numpy as np

from heat_alarming.backtest.group import SIGNALLED, Outcome, SimulatedGroup
from heat_alarming.backtest.template import TARGET, Scenario, policy_of
from heat_alarming.backtest.trace import Trace
from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.metering.clock import ManualClock
from heat_alarming.metering.store import RESOLUTION, RETENTION, RollingStore

#: the in-memory alarm database of a replay (the evaluator keeps its state there)
ALARM_DATABASE = "sqlite://"
#: the share of one server a member can serve, in percent
MEMBER_CAPACITY = 100.0
#: event kinds, in the order they are handled at equal times
_SAMPLES, _SIGNAL, _ROUND, _RECORD = range(4)


@dataclasses.dataclass(frozen=True)
class Period:
    """One recorded step of the replay."""

    start: float
    end: float
    demand: float               # mean demand (percent of one server); nan for samples
    value: float                # mean member value of the scenario's meter; nan: none
    size: int                   # members in service at ``end``
    states: dict[str, str]      # alarm -> state at ``end``
    outcomes: tuple             # Outcomes of signals within (start, end]


@dataclasses.dataclass(frozen=True)
class StateChange:
    """An alarm's transition, as a round decided it."""

    at: float
    alarm: str
    previous: str
    current: str


@dataclasses.dataclass
class Result:
    scenario: Scenario
    periods: list[Period]
    transitions: list[StateChange]
    outcomes: list[Outcome]
    #: samples the store refused (a samples trace's rows outside the store's window)
    refused: int = 0
    rounds: int = 0

    def timeline(self):
        """The periods as a :class:`heat_alarming.backtest.report.Timeline`, one row per
        period: the members in service at its start (the size the period before ended
        with), the mean member value and the demand; ``scale_actions`` counts the
        signals that resized the group, ``flaps`` are the report's count."""
        from heat_alarming.backtest.report import Timeline, count_flaps
        periods = self.periods
        times = np.array([p.start for p in periods], dtype=float)
        sizes = np.array([self.scenario.group.desired_capacity]
                         + [p.size for p in periods[:-1]], dtype=np.int64)[:len(periods)]
        step = periods[0].end - periods[0].start if periods else 0.0
        return Timeline(times=times, sizes=sizes,
                        values=np.array([p.value for p in periods], dtype=float),
                        demand=np.array([p.demand for p in periods], dtype=float),
                        step=float(step),
                        scale_actions=sum(1 for o in self.outcomes if o.status == SIGNALLED),
                        flaps=count_flaps(times, sizes))


def replay(scenario: Scenario, trace: Trace, *, evaluate_every: float | None = None,
           action_delay: float = 0.0, clock: ManualClock | None = None) -> Result:
    """Replay ``trace`` against ``scenario``; see the module's docstring."""
    if evaluate_every is not None and not evaluate_every > 0:
        raise ValueError(f"evaluate_every: {evaluate_every!r} must be above 0")
    if not action_delay >= 0 or not math.isfinite(action_delay):
        raise ValueError(f"action_delay: {action_delay!r} must be 0 or more")
    return _Replay(scenario, trace, evaluate_every, float(action_delay), clock).run()


def _whole(what: str, seconds: float) -> int:
    if not float(seconds).is_integer() or seconds < 1:
        raise ValueError(f"{what}: {seconds:g} s is not a whole number of seconds")
    return int(seconds)


class _Replay:
    def __init__(self, scenario: Scenario, trace: Trace, evaluate_every: float | None,
                 action_delay: float, clock: ManualClock | None) -> None:
        self.scenario, self.trace = scenario, trace
        self.evaluate_every, self.action_delay = evaluate_every, action_delay
        built = {name: Alarm.from_dict(d) for name, d in scenario.alarms.items()}
        rules = [r for a in built.values() for r in a.threshold_rules()]
        periods = sorted({r.period for r in rules})
        if not periods:
            raise ValueError("the scenario's alarms measure no meter")
        if trace.kind == "demand":
            self.step = float(trace.step)
            self.tick = reduce(math.gcd, periods, _whole("trace step", self.step))
            resolution = self.tick
            self.first = float(trace.times[0])
            self.n_records = len(trace.times)
        else:
            if not trace.samples:
                raise ValueError("the samples trace holds no sample")
            self.step = float(periods[0])
            resolution = reduce(math.gcd, periods, RESOLUTION)
            self.first = math.floor(trace.start / self.step) * self.step
            self.n_records = int((trace.end - self.first) // self.step) + 1
        self.end = self.first + self.n_records * self.step
        # what the rules read back, and at least the live store's default window (its
        # sweeps, every quarter retention, make the evaluator select its series afresh)
        reach = max(RETENTION, max((r.look_back + 1) * r.period for r in rules))
        retention = (reach // resolution + 2) * resolution
        self.clock = clock if clock is not None else ManualClock(self.first)
        self.clock.set(self.first)
        self.store = RollingStore(resolution, retention, max_clock_skew=0, clock=self.clock)
        # each round's notifications go straight to the target below (no queue, no
        # dispatcher): the group hears them before the clock moves on
        self.evaluator = Evaluator(self.store, AlarmStore(ALARM_DATABASE), clock=self.clock,
                                   period_close_delay=0.0, notify_inline=True)
        self.evaluator.register_target(TARGET, self._notified)
        self.evaluator.define_many(list(scenario.alarms.values()))
        self.periods = periods
        # per alarm id: its resource name, threshold and the policies each state signals
        self.names = {a.alarm_id: name for name, a in built.items()}
        self.thresholds = {a.alarm_id: getattr(a.rule, "threshold", None)
                           for a in built.values()}
        self.group = SimulatedGroup(scenario.group, self.first)
        self.pending: list[tuple[float, int, str, dict]] = []
        self.sent = 0
        self.transitions: list[StateChange] = []
        self.records: list[Period] = []
        self.sums = np.zeros(self.n_records)
        self.counts = np.zeros(self.n_records)
        self.refused = 0
        self.rounds = 0
        self.recorded_outcomes = 0  # outcomes already given to a period

    # -- events ------------------------------------------------------------------
    def _round_times(self) -> list[tuple[float, tuple[int, ...] | None]]:
        if self.evaluate_every is not None:
            n = int((self.end - self.first) // self.evaluate_every)
            return [(self.first + k * self.evaluate_every, None) for k in range(1, n + 1)]
        closes: dict[float, list[int]] = {}
        for p in self.periods:
            k = math.floor(self.first / p) + 1
            while k * p <= self.end:
                closes.setdefault(float(k * p), []).append(p)
                k += 1
        return [(t, tuple(ps)) for t, ps in sorted(closes.items())]

    def run(self) -> Result:
        rounds = self._round_times()
        feed = self._demand_feed() if self.trace.kind == "demand" else self._samples_feed()
        record_ends = [self.first + (r + 1) * self.step for r in range(self.n_records)]
        i_round = i_record = 0
        next_feed = next(feed, None)
        while i_record < len(record_ends):
            candidates = [(record_ends[i_record], _RECORD)]
            if next_feed is not None:
                candidates.append((next_feed, _SAMPLES))
            if self.pending:
                candidates.append((self.pending[0][0], _SIGNAL))
            if i_round < len(rounds):
                candidates.append((rounds[i_round][0], _ROUND))
            at, kind = min(candidates)
            self.clock.set(at)
            if kind == _SAMPLES:
                next_feed = next(feed, None)  # ingests the batch of ``at``
            elif kind == _SIGNAL:
                _, _, policy, details = heapq.heappop(self.pending)
                self.group.signal(self.scenario.policies[policy], at, details)
            elif kind == _ROUND:
                self._round(at, rounds[i_round][1])
                i_round += 1
            else:
                self._record(i_record, at)
                i_record += 1
        return Result(self.scenario, self.records, self.transitions, list(self.group.outcomes),
                      refused=self.refused, rounds=self.rounds)

    def _demand_feed(self):
        """Yields the time of its next tick; ingests that tick when resumed."""
        trace, scenario, tick = self.trace, self.scenario, self.tick
        ticks_per_row = int(self.step) // tick

        def member(k: int) -> int:
            return self.store.series_id(scenario.meter, f"member-{k}", scenario.project_id,
                                        metadata=scenario.metadata)

        series = np.zeros(0, dtype=np.int64)  # the members' series, registered when needed
        for row, demand in enumerate(trace.demand.tolist()):
            for t in range(ticks_per_row):
                stamp = self.first + row * self.step + (t + 0.5) * tick
                yield stamp
                size = self.group.size(stamp)
                if size <= 0:
                    continue
                value = min(MEMBER_CAPACITY, demand / size)
                if series.size < size:
                    series = np.r_[series, [member(k) for k in range(series.size, size)]]
                done = self.store.ingest_arrays(series[:size], np.full(size, stamp),
                                                np.full(size, value))
                if done.rejected:
                    # a member out of service for a retention: the store forgot its series
                    series[:size] = [member(k) for k in range(size)]
                    done = self.store.ingest_arrays(series[:size], np.full(size, stamp),
                                                    np.full(size, value))
                self.refused += len(done.rejected)
                self.sums[row] += value * done.accepted
                self.counts[row] += done.accepted

    def _samples_feed(self):
        """Yields the time of its next batch (the samples of one timestamp); ingests it
        when resumed."""
        samples, scenario = self.trace.samples, self.scenario
        stamps = np.array([float(s.timestamp) for s in samples])
        starts = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1]])
        bounds = np.r_[starts, len(samples)]
        rows = np.minimum(((stamps - self.first) // self.step).astype(np.int64),
                          self.n_records - 1)
        wanted = scenario.metadata.items()  # the group's samples carry its metadata
        mine = np.array([s.name == scenario.meter and all(
            str(s.resource_metadata.get(k)) == str(v) for k, v in wanted) for s in samples])
        volumes = np.array([float(s.volume) for s in samples])
        np.add.at(self.sums, rows[mine], volumes[mine])
        np.add.at(self.counts, rows[mine], 1)
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            yield float(stamps[lo])
            batch = [dataclasses.replace(s, project_id=scenario.project_id)
                     for s in samples[lo:hi]]
            self.refused += len(self.store.ingest(batch).rejected)

    def _round(self, at: float, periods: tuple[int, ...] | None) -> None:
        results = self.evaluator.evaluate(at, periods=periods)
        self.rounds += 1
        for result in results:
            alarm_id = result["alarm_id"]
            if result["transition"]:
                self.transitions.append(StateChange(at, self.names.get(alarm_id, alarm_id),
                                                    result["previous"], result["current"]))

    def _notified(self, payload: dict) -> None:
        """An action of a round (the evaluator's inproc target): the policy hears it
        ``action_delay`` later."""
        policy = policy_of(payload["action"])
        if policy not in self.scenario.policies:
            return
        self.sent += 1
        details = _details(payload, self.thresholds.get(payload["alarm_id"]))
        heapq.heappush(self.pending, (self.clock() + self.action_delay, self.sent, policy,
                                      details))

    def _record(self, index: int, at: float) -> None:
        start = self.first + index * self.step
        demand = float("nan")
        if self.trace.kind == "demand":
            demand = float(self.trace.demand[index])
        value = self.sums[index] / self.counts[index] if self.counts[index] else float("nan")
        states = {name: self.evaluator.get(alarm_id).state
                  for alarm_id, name in self.names.items()}
        every = self.group.outcomes  # in time order; those up to ``at`` are this period's
        outcomes = tuple(every[self.recorded_outcomes:])
        self.recorded_outcomes = len(every)
        self.records.append(Period(start, at, demand, float(value), self.group.size(at),
                                   states, outcomes))


def _details(payload: Mapping, threshold: float | None) -> dict:
    """The signal details of a notification, as the live signaller sends them."""
    details = {k: payload.get(k) for k in ("alarm_id", "alarm_name", "severity", "previous",
                                           "current", "reason", "reason_data")}
    details["value"] = (payload.get("reason_data") or {}).get("most_recent")
    details["threshold"] = threshold
    return details
