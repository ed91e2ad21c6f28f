"""A small world for evaluator tests: a store, an evaluator and a way to feed periods."""
from __future__ import annotations

import pytest

from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.metering import ManualClock, RollingStore, Sample

T0 = 1_699_999_200.0  # a whole hour (UTC)
PERIOD = 60


class World:
    """Feeds one value per period (None: no sample) and evaluates at each close."""

    def __init__(self, alarm_store: AlarmStore) -> None:
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, 3600, clock=self.clock)
        self.evaluator = Evaluator(self.store, alarm_store)
        self.received: list[dict] = []
        self.evaluator.register_target("test", self.received.append)
        self.period_index = 0

    def alarm(self, rule: dict | None = None, **fields):
        base = {"meter_name": "cpu_util", "threshold": 50, "comparison_operator": "gt",
                "statistic": "avg", "period": PERIOD, "evaluation_periods": 3}
        base.update(rule or {})
        data = {"name": fields.pop("name", "cpu-high"), "threshold_rule": base,
                "alarm_actions": ["inproc://test"], "ok_actions": ["inproc://test"],
                "insufficient_data_actions": ["inproc://test"]}
        data.update(fields)
        return self.evaluator.define(data)

    def feed(self, *values, resource: str = "vm-1", samples: int = 6, project=None,
             metadata=None):
        """One period per value; each non-None value as ``samples`` samples; returns rounds."""
        rounds = []
        for value in values:
            start = T0 + self.period_index * PERIOD
            counts = samples if not isinstance(value, tuple) else value[1]
            value = value if not isinstance(value, tuple) else value[0]
            if value is not None:
                for i in range(counts):
                    self.store.add(Sample("cpu_util", float(value), resource,
                                          project_id=project, resource_metadata=metadata or {},
                                          timestamp=start + i * (PERIOD / counts) + 0.5))
            self.period_index += 1
            self.clock.set(T0 + self.period_index * PERIOD + 0.5)
            rounds.append(self.evaluator.evaluate())
        return rounds

    def feed_one(self, value: float, resource: str, *, period: int, metadata=None,
                 project=None, samples: int = 6) -> None:
        """``samples`` samples of one resource in period ``period`` (counted from T0)."""
        start = T0 + period * PERIOD
        for i in range(samples):
            self.store.add(Sample("cpu_util", float(value), resource, project_id=project,
                                  resource_metadata=metadata or {},
                                  timestamp=start + i * (PERIOD / samples) + 0.5))

    def close(self, period: int) -> list:
        """Evaluate just after period ``period`` closes."""
        self.period_index = period + 1
        self.clock.set(T0 + self.period_index * PERIOD + 0.5)
        return self.evaluator.evaluate()

    def delivered(self) -> list[dict]:
        self.evaluator.dispatcher.deliver_due()
        out, self.received[:] = list(self.received), []
        return out


@pytest.fixture
def world():
    alarm_store = AlarmStore("sqlite://")
    yield World(alarm_store)
    alarm_store.close()
