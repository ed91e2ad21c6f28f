"""An evaluator on a real alarm database (SQLite, PostgreSQL or MariaDB) with a manual clock.

``AlarmWorld`` feeds one value per 60 s period to the alarms of any project and
evaluates at each close (tests/support/databases.py gives its database).
"""
from __future__ import annotations

from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.metering import ManualClock, RollingStore, Sample

T0 = 1_699_999_200.0  # a whole hour (UTC)
PERIOD = 60


def threshold_alarm(project: str, name: str, **fields) -> dict:
    """cpu_util of ``project`` above 50 over one period, acting on inproc://test."""
    rule = {"meter_name": "cpu_util", "threshold": 50, "comparison_operator": "gt",
            "statistic": "avg", "period": PERIOD, "evaluation_periods": 1}
    rule.update(fields.pop("rule", {}))
    data = {"name": name, "project_id": project, "threshold_rule": rule,
            "alarm_actions": ["inproc://test"], "ok_actions": ["inproc://test"]}
    data.update(fields)
    return data


class AlarmWorld:
    """A store, an evaluator on ``url`` and a way to feed periods project by project."""

    def __init__(self, url: str, store_class=RollingStore, limits=None):
        self.url = url
        self.clock = ManualClock(T0)
        self.store = store_class(10, 3600, clock=self.clock)
        self.alarm_store = AlarmStore(url)
        extra = {} if limits is None else {"limits": limits}
        self.evaluator = Evaluator(self.store, self.alarm_store, **extra)
        self.received: list[dict] = []
        self.evaluator.register_target("test", self.received.append)
        self.period_index = 0

    def feed(self, values: dict[str, float | None]) -> list:
        """One period: each project's cpu_util at its value (None: no sample); one round."""
        start = T0 + self.period_index * PERIOD
        for project, value in values.items():
            if value is not None:
                for i in range(6):
                    self.store.add(Sample("cpu_util", float(value), f"{project}-vm",
                                          project_id=project, timestamp=start + i * 10 + 0.5))
        self.period_index += 1
        self.clock.set(T0 + self.period_index * PERIOD + 0.5)
        return self.evaluator.evaluate()

    def committed(self, alarm_id: str):
        """The alarm as the database holds it (read through a second connection)."""
        reader = AlarmStore(self.url, upgrade=False)
        try:
            return reader.load_alarm(alarm_id)
        finally:
            reader.close()

    def close(self) -> None:
        self.alarm_store.close()
