"""PromQL alarms in the evaluator: answers of the real Prometheus, decided by the round's
state machine, fetched on a bounded pool that no project can hold up for the others.

The Prometheus is the test one (tools/ensure-prometheus.sh) scraping an exporter this
module runs; ``HostileProxy`` stands in front of it where one project's queries must
hang or fail while the others' are answered.
"""
from __future__ import annotations

import time
import uuid

import pytest

from heat_alarming.engine import AlarmError, AlarmStore, Evaluator
from heat_alarming.engine.promql_source import PromQLSource
from heat_alarming.metering import ManualClock, RollingStore
from heat_alarming.metering.collectors.prometheus import PrometheusClient
from tests.support.prometheus import scraped_exporter
from tests.support.promql import HostileProxy, decide

T0 = float(int(time.time()) // 60 * 60)


class World:
    """An evaluator whose PromQL source asks ``url``; ``project`` is a fresh one."""

    def __init__(self, url: str, interval: float = 60.0, database: str = "sqlite://",
                 **source_options) -> None:
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, 3600, clock=self.clock)
        client = PrometheusClient(url, timeout=source_options.get("timeout", 5.0),
                                  max_series=source_options.pop("max_series", 1000))
        self.source = PromQLSource(client, clock=self.clock, **source_options)
        self.evaluator = Evaluator(self.store, AlarmStore(database), promql=self.source,
                                   interval=interval)
        self.received: list[dict] = []
        self.evaluator.register_target("test", self.received.append)

    def alarm(self, project: str, query: str, threshold=50, op="gt", **fields):
        return self.evaluator.define({
            "name": fields.pop("name", "promql"), "project_id": project,
            "type": "prometheus",
            "prometheus_rule": {"query": query, "threshold": threshold,
                                "comparison_operator": op},
            "alarm_actions": ["inproc://test"], **fields})

    def state(self, alarm) -> tuple[str, str]:
        current = self.evaluator.get(alarm.alarm_id)
        return current.state, current.state_reason

    def close(self) -> None:
        self.evaluator.stop()


METRIC = "heat_alarming_promql_unit_load"


@pytest.fixture(scope="module")
def gauge(prometheus):
    """One exporter for the module (each test has projects of its own), scraped."""
    exporter, target = scraped_exporter(prometheus)
    yield exporter.gauge(METRIC, labels=("project", "server_group", "member"))
    target.remove()
    exporter.close()


@pytest.fixture
def project():
    return "p-" + uuid.uuid4().hex[:12]


@pytest.fixture
def world(prometheus):
    world = World(prometheus.url)
    yield world
    world.close()


def load(prometheus, gauge, project, value, members=("m1",), group="g"):
    """Set the members' load in ``project`` and wait until Prometheus has scraped it."""
    for member in members:
        gauge.labels(project=project, server_group=group, member=member).set(value)
    for member in members:
        prometheus.wait_for(f'{METRIC}{{project="{project}",member="{member}"}}', value)


QUERY = 'max(heat_alarming_promql_unit_load{server_group="g"})'
#: 100, through a selector (so the scoped query carries the project's matcher)
HUNDRED = "absent(heat_alarming_promql_nothing) * 100"


def test_the_alarm_follows_the_answer_of_the_real_prometheus(world, prometheus, gauge, project):
    alarm = world.alarm(project, QUERY)
    load(prometheus, gauge, project, 90.0)
    decide(world.evaluator, world.source)
    state, reason = world.state(alarm)
    assert state == "alarm", reason
    assert "most recent: 90.0" in reason
    world.evaluator.dispatcher.deliver_due()
    assert [p["current"] for p in world.received] == ["alarm"]
    load(prometheus, gauge, project, 10.0)
    world.clock.advance(60)
    decide(world.evaluator, world.source)
    assert world.state(alarm)[0] == "ok"


def test_another_projects_series_are_invisible_to_the_query(world, prometheus, gauge, project):
    other = project + "-other"
    load(prometheus, gauge, other, 99.0)  # the same metric and group, another project
    load(prometheus, gauge, project, 20.0)
    alarm = world.alarm(project, QUERY)
    decide(world.evaluator, world.source)
    state, reason = world.state(alarm)
    assert state == "ok", reason
    assert "most recent: 20.0" in reason
    # naming the other project in the query only makes the selector match nothing
    sneaky = world.alarm(project, QUERY.replace('"g"', f'"g",project="{other}"'),
                         name="sneaky")
    decide(world.evaluator, world.source)
    answer = world.source.latest(sneaky.alarm_id)
    assert answer.ok and answer.values == (), "no series of either project"
    assert world.state(sneaky)[0] == "insufficient data"


def test_every_series_is_a_datapoint_all_breach_alarm_none_ok_a_mix_keeps_the_state(
        world, prometheus, gauge, project):
    per_member = f'heat_alarming_promql_unit_load{{server_group="mix-{project}"}}'
    alarm = world.alarm(project, per_member)
    members = ("a", "b")
    load(prometheus, gauge, project, 90.0, members, group=f"mix-{project}")
    decide(world.evaluator, world.source)
    assert world.state(alarm)[0] == "alarm"
    gauge.labels(project=project, server_group=f"mix-{project}", member="a").set(10.0)
    prometheus.wait_for(f'{METRIC}{{project="{project}",member="a"}}', 10.0)
    world.clock.advance(60)
    decide(world.evaluator, world.source)
    state, reason = world.state(alarm)
    assert state == "alarm", "a mix keeps the state"
    load(prometheus, gauge, project, 10.0, members, group=f"mix-{project}")
    world.clock.advance(60)
    decide(world.evaluator, world.source)
    state, reason = world.state(alarm)
    assert state == "ok" and "2 samples inside threshold" in reason, reason


def test_a_round_never_waits_for_a_query_and_decides_once_the_answer_is_in(
        prometheus, project):
    proxy = HostileProxy(prometheus.url)
    proxy.hold.add(f'project="{project}"')
    world = World(proxy.url, timeout=30.0)
    try:
        alarm = world.alarm(project, HUNDRED)
        began = time.monotonic()
        world.evaluator.evaluate()
        world.evaluator.evaluate()
        assert time.monotonic() - began < 1.0, "the rounds waited for Prometheus"
        assert world.state(alarm) == ("insufficient data", "Not evaluated yet")
        proxy.gate.set()
        decide(world.evaluator, world.source)
        assert world.state(alarm)[0] == "alarm"
    finally:
        world.close()
        proxy.close()


def test_one_projects_hanging_queries_hold_only_its_share_and_fail_with_the_reason(
        prometheus, project):
    slow, fast = project + "-slow", project + "-fast"
    proxy = HostileProxy(prometheus.url)
    proxy.hold.add(f'project="{slow}"')
    world = World(proxy.url, timeout=3.0, workers=3, per_project=2)
    source = world.source
    try:
        stuck = [world.alarm(slow, HUNDRED, name=f"slow-{i}") for i in range(5)]
        fine = world.alarm(fast, HUNDRED, name="fast")
        world.evaluator.evaluate()
        assert source.wait_idle(0.5) is False  # the slow project's queries hang
        world.evaluator.evaluate(periods=())
        assert world.state(fine)[0] == "alarm", "the other project was answered"
        assert proxy.held == 2, "the slow project holds at most its 2 threads"
        waits = [source.waiting(a.alarm_id)[1] for a in stuck[2:]]
        assert waits == ["queued behind 2 queries of the project in flight"] * 3, waits
        # the hung ones fail when their time is up, each with the reason
        deadline = time.monotonic() + 30
        while not (source.timed_out(stuck[0].alarm_id) or source.latest(stuck[0].alarm_id)):
            assert time.monotonic() < deadline, "the query never timed out"
            source.wait_idle(0.2)
        world.evaluator.evaluate(periods=())
        state, reason = world.state(stuck[0])
        assert state == "insufficient data"
        assert "time" in reason and "out" in reason or "within 3 s" in reason, reason
        assert world.state(fine)[0] == "alarm"
    finally:
        proxy.gate.set()
        world.close()
        proxy.close()


def test_a_failing_query_fails_its_alarm_alone_with_the_reason(prometheus, project):
    bad, good = project + "-bad", project + "-good"
    proxy = HostileProxy(prometheus.url)
    proxy.fail.add(f'project="{bad}"')
    world = World(proxy.url)
    try:
        broken = world.alarm(bad, HUNDRED, name="bad")
        fine = world.alarm(good, HUNDRED, name="good")
        decide(world.evaluator, world.source)
        state, reason = world.state(broken)
        assert state == "insufficient data"
        assert "the query failed" in reason and "500" in reason, reason
        assert world.state(fine)[0] == "alarm"
    finally:
        world.close()
        proxy.close()


def test_an_answer_too_old_is_not_used(prometheus, project):
    proxy = HostileProxy(prometheus.url)
    world = World(proxy.url)
    try:
        alarm = world.alarm(project, HUNDRED)
        decide(world.evaluator, world.source)
        assert world.state(alarm)[0] == "alarm"
        proxy.hold.add(f'project="{project}"')  # Prometheus stops answering
        world.clock.advance(world.source.max_age + 1)
        world.evaluator.evaluate()
        state, reason = world.state(alarm)
        assert state == "insufficient data"
        assert "the newest answer from Prometheus is" in reason, reason
        assert "answers are used for 150 s" in reason
    finally:
        proxy.gate.set()
        world.close()
        proxy.close()


def test_an_answer_beyond_the_series_bound_fails_the_alarm(prometheus, project):
    world = World(prometheus.url, max_series=1)
    try:
        alarm = world.alarm(project, 'label_replace(vector(1), "x", "1", "", "") or '
                                     'label_replace(vector(2), "x", "2", "", "")')
        decide(world.evaluator, world.source)
        state, reason = world.state(alarm)
        assert state == "insufficient data" and "the query failed" in reason, reason
    finally:
        world.close()


def test_a_promql_alarm_needs_a_prometheus_and_a_scopable_query(prometheus, project):
    evaluator = Evaluator(RollingStore(10, 3600), AlarmStore("sqlite://"))
    rule = {"query": "up", "threshold": 1}
    with pytest.raises(AlarmError, match="prometheus_url"):
        evaluator.define({"project_id": project, "type": "prometheus",
                          "prometheus_rule": rule})
    world = World(prometheus.url)
    try:
        with pytest.raises(AlarmError, match="prometheus_rule.query: unknown function"):
            world.alarm(project, "info(up)")
        with pytest.raises(AlarmError, match="project_id"):
            world.alarm(None, "up")
        with pytest.raises(AlarmError, match="prometheus_rule.threshold"):
            world.alarm(project, "up", threshold="high")
    finally:
        world.close()


def committed_state(world, alarm, expected, timeout=10.0):
    """The state the evaluator's loop committed for ``alarm``, once it is ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        stored = world.evaluator.alarm_store.load_alarm(alarm.alarm_id)
        if stored.state == expected or time.monotonic() > deadline:
            return stored.state, stored.state_reason
        world.source.wait_idle(0.05)
        time.sleep(0.05)  # between reads of the committed fact


def test_the_running_loop_decides_as_soon_as_an_answer_arrives(prometheus, project,
                                                              tmp_path):
    """With an hour between full rounds, a new alarm is still decided at once: its
    definition wakes the loop, which sends the query, and the answer wakes it again."""
    # a SQLite file: the loop's and the dispatcher's threads share it
    world = World(prometheus.url, interval=3600.0,
                  database=str(tmp_path / "alarms.sqlite"))
    try:
        world.evaluator.start()
        alarm = world.alarm(project, HUNDRED)
        state, reason = committed_state(world, alarm, "alarm")
        assert state == "alarm", reason
        world.evaluator.dispatcher.deliver_due()
        assert [p["current"] for p in world.received] == ["alarm"]
        assert world.source.queries == 1, "one query, no round re-sent it"
    finally:
        world.close()
