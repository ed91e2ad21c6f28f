"""Explanations a worker gives of alarms another worker evaluates cost it little,
however often a project asks (heat-api resolves the ``explanation`` attribute on
every ``resource show``): a project's samples are read from the journal once, then
only what is new, at most once per refresh window, for that project only, with that
project's alarms only; and the answers follow the journal and the committed states."""
from __future__ import annotations

import threading

import pytest
from oslo_config import cfg

from heat_alarming import opts
from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.engine.alarm import AlarmError
from heat_alarming.engine.worker import Worker
from heat_alarming.explain_store import (
    REBUILD_SECONDS,
    REFRESH_SECONDS,
    ExplainLater,
    JournalExplainer,
)
from heat_alarming.metering import ManualClock, RollingStore, Sample
from tests.support.alarm_worlds import PERIOD, T0, threshold_alarm


class OtherWorker:
    """The worker that owns every project: it journals what is pushed. The explainer
    under test is another worker's, holding none of these samples."""

    def __init__(self, path):
        self.clock = ManualClock(T0)
        self.alarm_store = AlarmStore(f"sqlite:///{path}")
        store = RollingStore(10, 3600, clock=self.clock)
        self.evaluator = Evaluator(store, self.alarm_store, clock=self.clock)
        self.evaluator.register_target("test", lambda payload: None)
        self.worker = Worker(store, self.evaluator, worker_id="owner", join_grace=False,
                             clock=self.clock)
        self.worker.coordinate()

    def define(self, project, name):
        return self.evaluator.define(threshold_alarm(project, name))

    def push_period(self, project, value, period):
        start = T0 + period * PERIOD
        self.worker.push_samples(project, [
            Sample("cpu_util", value, f"{project}-vm", project_id=project,
                   timestamp=start + i * 10 + 0.5) for i in range(6)])


@pytest.fixture
def owner(tmp_path):
    made = OtherWorker(tmp_path / "alarms.sqlite")
    yield made
    made.alarm_store.close()


@pytest.fixture
def conf():
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], project="heat_alarming")
    return conf


def explainer(owner, conf, **kwargs):
    return JournalExplainer(owner.alarm_store, conf, owner.clock, **kwargs)


def values(explanation):
    return [p["value"] for p in explanation["periods"]]


def test_a_project_asking_again_and_again_is_answered_from_one_rebuild(owner, conf):
    alarm = owner.define("p1", "high")
    owner.push_period("p1", 70.0, 0)
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    answers = [other.explain(alarm.alarm_id, "p1") for _ in range(50)]
    assert other.stats() == {"rebuilds": 1, "refreshes": 0, "reused": 49, "refused": 0,
                             "projects": 1}
    assert all(a == answers[0] for a in answers)
    assert answers[0]["samples_at"] == T0 + PERIOD + 1
    assert values(answers[0])[-1] == pytest.approx(70.0)


def test_after_the_refresh_window_only_the_new_batches_are_read(owner, conf):
    alarm = owner.define("p1", "high")
    owner.push_period("p1", 70.0, 0)
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    first = other.explain(alarm.alarm_id, "p1")
    owner.push_period("p1", 20.0, 1)
    owner.clock.advance(REFRESH_SECONDS / 2)  # within the window: what is kept answers
    assert other.explain(alarm.alarm_id, "p1") == first
    owner.clock.set(T0 + 2 * PERIOD + 1)
    again = other.explain(alarm.alarm_id, "p1")
    assert other.stats() == {"rebuilds": 1, "refreshes": 1, "reused": 1, "refused": 0,
                             "projects": 1}
    assert again["samples_at"] == T0 + 2 * PERIOD + 1
    assert values(again)[-2:] == [pytest.approx(70.0), pytest.approx(20.0)]
    assert [p["samples"] for p in again["periods"]][-2:] == [6, 6]  # each sample once


def test_an_answer_never_tells_another_state_than_the_one_committed(owner, conf):
    alarm = owner.define("p1", "high")
    owner.push_period("p1", 70.0, 0)
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    assert other.explain(alarm.alarm_id, "p1")["state"] == "insufficient data"
    owner.evaluator.evaluate()  # the owner's round: to alarm
    owner.clock.advance(REFRESH_SECONDS / 2)  # within the window, yet the state moved
    explained = other.explain(alarm.alarm_id, "p1")
    assert explained["state"] == "alarm" and explained["summary"].startswith("alarm: ")
    assert other.stats()["refreshes"] == 1


def test_each_project_is_explained_with_its_own_samples(owner, conf):
    one, two = owner.define("p1", "high"), owner.define("p2", "high")
    owner.push_period("p1", 70.0, 0)
    owner.push_period("p2", 30.0, 0)
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    assert values(other.explain(one.alarm_id, "p1"))[-1] == pytest.approx(70.0)
    assert values(other.explain(two.alarm_id, "p2"))[-1] == pytest.approx(30.0)
    assert other.stats()["rebuilds"] == 2


def test_an_alarm_is_not_explained_through_another_projects_rebuild(owner, conf):
    one, two = owner.define("p1", "high"), owner.define("p2", "high")
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    other.explain(one.alarm_id, "p1")
    with pytest.raises(KeyError):
        other.explain(two.alarm_id, "p1")


def test_an_alarm_created_since_the_rebuild_is_explained_at_once(owner, conf):
    first = owner.define("p1", "high")
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    other.explain(first.alarm_id, "p1")
    later = owner.define("p1", "later")
    assert other.explain(later.alarm_id, "p1")["alarm_id"] == later.alarm_id
    assert (other.stats()["rebuilds"], other.stats()["refreshes"]) == (1, 1)


def test_only_the_most_recently_asked_projects_are_kept(owner, conf):
    alarms = [owner.define(f"p{i}", "high") for i in range(5)]
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf, projects=2)
    for alarm in alarms:
        other.explain(alarm.alarm_id, alarm.project_id)
    assert other.stats()["projects"] == 2
    other.explain(alarms[-1].alarm_id, alarms[-1].project_id)  # kept: reused
    assert (other.stats()["rebuilds"], other.stats()["reused"]) == (5, 1)


def test_a_project_pushed_out_is_read_whole_again_only_after_the_rebuild_interval(
        owner, conf):
    # more projects asking in turn than are kept cannot make every question a whole read
    alarms = [owner.define(f"p{i}", "high") for i in range(3)]
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf, projects=2)
    for alarm in alarms:
        other.explain(alarm.alarm_id, alarm.project_id)  # p0 is pushed out by p2
    with pytest.raises(ExplainLater, match=r"ask again in 30 s"):
        other.explain(alarms[0].alarm_id, "p0")
    owner.clock.advance(REBUILD_SECONDS)
    assert other.explain(alarms[0].alarm_id, "p0")["alarm_id"] == alarms[0].alarm_id
    assert (other.stats()["rebuilds"], other.stats()["refused"]) == (4, 1)


def test_a_message_journalled_twice_counts_once(owner, conf):
    alarm = owner.define("p1", "high")
    again = [Sample("cpu_util", 70.0, "vm", project_id="p1", timestamp=T0 + 5.0 + 10 * i)
             for i in range(6)]
    ids = [f"message-{i}" for i in range(6)]
    owner.worker.push_samples("p1", again, message_ids=ids)
    owner.worker.push_samples("p1", again, message_ids=ids)  # a redelivery: journalled again
    owner.clock.set(T0 + PERIOD + 1)
    explained = explainer(owner, conf).explain(alarm.alarm_id, "p1")
    assert explained["periods"][-1]["samples"] == 6


def test_questions_asked_together_share_the_one_rebuild(owner, conf):
    alarm = owner.define("p1", "high")
    owner.push_period("p1", 70.0, 0)
    owner.clock.set(T0 + PERIOD + 1)
    other = explainer(owner, conf)
    go = threading.Barrier(8)
    answers = []

    def ask():
        go.wait()
        answers.append(other.explain(alarm.alarm_id, "p1"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8
    assert other.stats()["rebuilds"] == 1


def test_an_evaluator_of_one_project_reads_and_takes_that_projects_alarms_only(owner):
    owner.define("p1", "high")
    for i in range(30):
        owner.define("p2", f"other-{i}")
    store = RollingStore(10, 3600, clock=owner.clock)
    scoped = Evaluator(store, owner.alarm_store, clock=owner.clock, project="p1")
    assert [a.project_id for a in scoped.alarms()] == ["p1"]
    with pytest.raises(AlarmError, match="project_id: this evaluator holds the alarms of "
                                         "project p1 only"):
        scoped.define(threshold_alarm("p2", "sneaked"))
