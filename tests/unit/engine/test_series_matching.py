"""Alarms follow series that appear and disappear, without selecting everything again.

Issue 18, part 2: after one new series the round selected every alarm's series
again (19 s at 100,000 alarms).  A group now brings its selection up to date
from the series that changed, and says which of its columns changed; enabling
or disabling an alarm recompiles nothing.
"""
import numpy as np
import pytest

from heat_alarming.engine.alarm import ALARM, OK, UNKNOWN
from heat_alarming.engine.alarm_store import AlarmStore
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.rules import V_OK
from heat_alarming.engine.threshold import ThresholdGroup
from heat_alarming.metering import ManualClock, RollingStore

from .conftest import T0

PERIOD, RETENTION = 60, 600


class SmallWorld:
    """A store that forgets series after ten silent periods, and an evaluator over it."""

    def __init__(self):
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, RETENTION, clock=self.clock)
        self.alarm_store = AlarmStore("sqlite://")
        self.evaluator = Evaluator(self.store, self.alarm_store, clock=self.clock)
        self.period = 0

    def alarm(self, resource, **fields):
        return self.evaluator.define(dict({
            "name": f"cpu-{resource}", "project_id": "p",
            "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                               "comparison_operator": "gt", "statistic": "avg",
                               "period": PERIOD, "evaluation_periods": 1,
                               "query": [{"field": "resource_id", "op": "eq",
                                          "value": resource}]}}, **fields))

    def feed(self, values):
        """One period: a sample of each resource's value, then the round at its close."""
        start = T0 + self.period * PERIOD
        for resource, value in values.items():
            row = self.store.series_id("cpu_util", resource, "p")
            self.store.ingest_arrays(np.array([row]), np.array([start + 1.0]),
                                     np.array([float(value)]))
        self.period += 1
        self.clock.set(T0 + self.period * PERIOD + 0.5)
        return self.evaluator.evaluate()

    def state(self, alarm):
        return self.evaluator.get(alarm.alarm_id).state


@pytest.fixture
def small():
    world = SmallWorld()
    yield world
    world.alarm_store.close()


def test_a_series_that_appears_then_is_forgotten_changes_only_its_alarms_columns(small):
    alarms = [small.alarm(name) for name in ("vm-a", "vm-b", "vm-c")]
    group = ThresholdGroup(PERIOD, [a.rule for a in alarms], ["p"] * 3)
    small.feed({"vm-c": 90})
    group.selection(small.store)
    assert group.changed_columns.tolist() == [0, 1, 2], "the first select: every column"
    assert [group.matched(j) for j in range(3)] == [0, 0, 1]

    small.feed({"vm-a": 10, "vm-c": 90})
    group.selection(small.store)
    assert group.changed_columns.tolist() == [0], "vm-a appeared: the column of its alarm"
    assert [group.matched(j) for j in range(3)] == [1, 0, 1]

    small.feed({"vm-c": 90, "vm-d": 5})  # a series no alarm watches
    group.selection(small.store)
    assert group.changed_columns.tolist() == []

    while ("cpu_util", "vm-a", "p") in small.store.index.row_of:  # silent until forgotten
        small.feed({"vm-c": 90})
        assert small.period < 3 * RETENTION // PERIOD, "vm-a is never forgotten"
    group.selection(small.store)
    assert group.changed_columns.tolist() == [0], "vm-a was forgotten"
    assert [group.matched(j) for j in range(3)] == [0, 0, 1]


def test_the_verdicts_follow_a_series_that_appears_and_then_is_forgotten(small):
    a, b, c = (small.alarm(name) for name in ("vm-a", "vm-b", "vm-c"))
    small.feed({"vm-c": 90})
    assert [small.state(x) for x in (a, b, c)] == [UNKNOWN, UNKNOWN, ALARM]
    small.feed({"vm-a": 10, "vm-c": 90})
    assert [small.state(x) for x in (a, b, c)] == [OK, UNKNOWN, ALARM], \
        "the alarm whose series appeared has data"
    small.feed({"vm-a": 95, "vm-c": 90})
    assert small.state(a) == ALARM
    for _ in range(3 * RETENTION // PERIOD):
        small.feed({"vm-c": 90})
        assert small.state(c) == ALARM
    assert ("cpu_util", "vm-a", "p") not in small.store.index.row_of, "vm-a was forgotten"
    assert [small.state(x) for x in (a, b)] == [UNKNOWN, UNKNOWN], \
        "no datapoints: insufficient data, as for any silent series"
    small.feed({"vm-a": 10, "vm-c": 90})
    assert small.state(a) == OK, "a series of the same name comes back: data again"


def test_enabling_and_disabling_evaluates_or_skips_the_alarm_without_recompiling(
        small, monkeypatch):
    mine, other = small.alarm("vm-a"), small.alarm("vm-b")
    small.feed({"vm-a": 90, "vm-b": 90})
    assert [small.state(x) for x in (mine, other)] == [ALARM, ALARM]
    selects = []
    select_many = small.store.select_many
    monkeypatch.setattr(small.store, "select_many",
                        lambda selectors: selects.append(1) or select_many(selectors))

    small.evaluator.set_enabled(mine.alarm_id, False)
    small.feed({"vm-a": 10, "vm-b": 10})
    assert [small.state(x) for x in (mine, other)] == [ALARM, OK], "disabled: not decided"
    small.evaluator.set_enabled(mine.alarm_id, True)
    small.feed({"vm-a": 10, "vm-b": 10})
    assert [small.state(x) for x in (mine, other)] == [OK, OK], "enabled: decided again"
    assert selects == [], "no group was compiled (and selected) again"


def test_one_projects_series_churn_changes_only_its_own_alarms_columns():
    # project "busy" scales out and back and relabels its servers every period; the
    # alarms of project "calm" are matched and reduced as if nothing happened
    clock = ManualClock(T0)
    store = RollingStore(10, RETENTION, clock=clock)
    group_of = "metadata.user_metadata.server_group"
    rules, projects = [], []
    for project, count in (("busy", 3), ("calm", 3)):
        for i in range(count):
            alarm = Evaluator(store, clock=clock).define({
                "name": f"{project}-{i}", "project_id": project,
                "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                                   "period": PERIOD, "evaluation_periods": 1,
                                   "query": [{"field": group_of, "op": "eq",
                                              "value": f"g{i}"}]}})
            rules.append(alarm.rule)
            projects.append(project)
    group = ThresholdGroup(PERIOD, rules, projects)
    calm = [j for j, project in enumerate(projects) if project == "calm"]

    def sample(project, resource, label, value):
        return {"name": "cpu_util", "volume": value, "resource_id": resource,
                "project_id": project, "timestamp": clock() + 1.0,
                "resource_metadata": {"user_metadata": {"server_group": label}}}

    moved = set()
    for period in range(8):
        store.ingest([sample("calm", f"calm-{i}", f"g{i}", 10.0) for i in range(3)]
                     + [sample("busy", f"busy-{period}-{k}", f"g{(period + k) % 3}", 90.0)
                        for k in range(5)]  # new servers, labels moving between groups
                     + [sample("busy", "busy-old", f"g{period % 3}", 90.0)])
        clock.set(T0 + (period + 1) * PERIOD + 0.5)
        verdicts = group.evaluate(store, clock())
        if period:
            moved |= set(group.changed_columns.tolist())
            assert not moved & set(calm), period
            assert group.matched(calm[0]) == 1
        assert verdicts.verdict[calm].tolist() == [V_OK] * 3, period
    assert moved == {0, 1, 2}, "every one of busy's alarms saw its series change"
