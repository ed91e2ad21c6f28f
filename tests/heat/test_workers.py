"""Two workers share the alarm database: each alarm has one evaluator, samples find it,
and a dead worker's alarms move to the live one with their windows rebuilt; on SQLite,
PostgreSQL and MariaDB."""
import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine.coordination import owner
from heat_alarming.metering import ManualClock, Sample
from heat_alarming.resources.runtime import Runtime
from tests.support.databases import DATABASES, database_url

T0 = 1_767_225_600.0


@pytest.fixture(params=DATABASES)
def alarm_database(request, tmp_path):
    return database_url(request.param, tmp_path, request)


def workers(alarm_database):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", alarm_database, opts.GROUP)
    conf.set_override("heartbeat_interval", 5.0, opts.GROUP)
    clock = ManualClock(T0)
    return clock, [Runtime(conf, clock=clock, worker_id=name) for name in ("w1", "w2")]


def define(runtime, n=20):
    runtime.evaluator.define_many(
        {"alarm_id": f"alarm-p{i}", "name": f"cpu-p{i}", "project_id": f"p{i}",
         "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                            "comparison_operator": "gt", "period": 60}}
        for i in range(n))


def step(runtimes):
    for runtime in runtimes:
        runtime.coordinate()


def settled(clock, runtimes):
    """Let the joining grace (two heartbeats) pass, then coordinate."""
    clock.advance(10.0)
    step(runtimes)


def test_every_alarm_is_evaluated_by_exactly_one_worker(alarm_database):
    clock, (w1, w2) = workers(alarm_database)
    define(w1)
    step([w1, w2])
    assert w1.evaluator.evaluated_ids() == set(), "nothing before the joining grace"
    settled(clock, [w1, w2])
    mine, theirs = w1.evaluator.evaluated_ids(), w2.evaluator.evaluated_ids()
    assert mine and theirs, "the projects are spread over both workers"
    assert not mine & theirs
    assert mine | theirs == {f"alarm-p{i}" for i in range(20)}
    for i in range(20):
        expected = owner(f"p{i}", ["w1", "w2"])
        assert (f"alarm-p{i}" in mine) == (expected == "w1")


def test_samples_pushed_to_any_worker_reach_the_owner(alarm_database):
    clock, (w1, w2) = workers(alarm_database)
    define(w1)
    settled(clock, [w1, w2])
    start = clock()
    project = next(f"p{i}" for i in range(20) if owner(f"p{i}", ["w1", "w2"]) == "w1")
    w2.push_samples(project, [Sample("cpu_util", 90.0, "vm", timestamp=start + s)
                              for s in range(0, 60, 10)])
    assert len(w2.store) == 0, "w2 does not own the project: it only journals"
    step([w1])
    assert len(w1.store) == 1
    clock.set(start + 61)
    w1.evaluator.evaluate()
    w2.evaluator.evaluate()
    assert w1.evaluator.get(f"alarm-{project}").state == "alarm"


def test_a_dead_workers_alarms_move_within_two_heartbeats_with_their_windows(alarm_database):
    clock, (w1, w2) = workers(alarm_database)
    define(w1)
    settled(clock, [w1, w2])
    start = clock()
    project = next(f"p{i}" for i in range(20) if owner(f"p{i}", ["w1", "w2"]) == "w2")
    w1.push_samples(project, [Sample("cpu_util", 90.0, "vm", timestamp=start + s)
                              for s in range(0, 60, 10)])
    step([w2])
    assert len(w2.store) == 1 and len(w1.store) == 0
    # w2 dies: no more heartbeats. Two intervals later w1 sees it gone.
    clock.advance(5.0)
    step([w1])
    assert f"alarm-{project}" not in w1.evaluator.evaluated_ids(), "not yet: within 2 beats"
    clock.advance(5.1)
    step([w1])
    assert w1.evaluator.evaluated_ids() == {f"alarm-p{i}" for i in range(20)}
    assert len(w1.store) == 1, "the journal rebuilt the dead worker's windows"
    clock.set(start + 61)
    w1.evaluator.evaluate()
    assert w1.evaluator.get(f"alarm-{project}").state == "alarm"


def test_an_alarm_defined_on_one_worker_is_seen_by_the_other(alarm_database):
    clock, (w1, w2) = workers(alarm_database)
    step([w1, w2])
    define(w1, n=3)
    step([w2])
    assert {a.alarm_id for a in w2.evaluator.alarms()} == {"alarm-p0", "alarm-p1", "alarm-p2"}
    w1.evaluator.delete("alarm-p0")
    step([w2])
    assert "alarm-p0" not in {a.alarm_id for a in w2.evaluator.alarms()}


def test_a_project_that_leaves_and_comes_back_counts_each_sample_once(alarm_database):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("alarm_database", alarm_database, opts.GROUP)
    clock = ManualClock(T0)
    w1 = Runtime(conf, clock=clock, worker_id="w1")
    define(w1)
    settled(clock, [w1])
    project = next(f"p{i}" for i in range(20) if owner(f"p{i}", ["w1", "w2"]) == "w2")
    start = T0  # a whole hour: the periods counted below are the minutes pushed

    def push(runtime, minute):
        runtime.push_samples(project, [Sample("cpu_util", 90.0, "vm",
                                              timestamp=start + minute * 60 + s)
                                       for s in (5, 25, 45)])

    def counts(runtime):
        stats = runtime.store.statistics("cpu_util", period=60, start=start,
                                         end=start + 180, aggregates=["count"],
                                         project_id=project)
        return stats.count.tolist()

    push(w1, 0)                                   # w1 owns the project, ingests it
    step([w1])                                    # and its tail moves past that batch
    w2 = Runtime(conf, clock=clock, worker_id="w2")
    settled(clock, [w1, w2])                      # the project moves to w2
    assert f"alarm-{project}" in w2.evaluator.evaluated_ids()
    push(w1, 1)                                   # journaled; w2 tails it
    step([w1, w2])
    assert counts(w2) == [3, 3, 0]
    clock.advance(10.1)                           # w2 dies: the project comes back to w1
    step([w1])
    push(w1, 2)
    step([w1])
    assert f"alarm-{project}" in w1.evaluator.evaluated_ids()
    assert counts(w1) == [3, 3, 3], "what w1 already held is not replayed a second time"
