"""Workers sharing one alarm database, without Heat: each project has one owner, a
joining worker waits out its grace, a dead worker's projects move with their windows
replayed from the journal exactly once and before any round evaluates them, a worker
that comes back takes its share again, and a snapshot's bookkeeping restores exactly
what the store held.

Each worker is what a process would hold: its own store, evaluator and alarm store
connection, on one alarm database (SQLite file, PostgreSQL, MariaDB). A worker
"dies" by no longer heartbeating (nothing of it is called again); time is a manual
clock shared by all, so who is alive is decided exactly as in production.
"""
from __future__ import annotations

import os

import pytest

from heat_alarming.engine import AlarmStore, Evaluator
from heat_alarming.engine.coordination import owner
from heat_alarming.engine.journal import SampleJournal
from heat_alarming.engine.worker import Bookkeeping, RecentIds, Worker
from heat_alarming.metering import ManualClock, RollingStore, Sample
from heat_alarming.metering.batch import SampleBatch, id_digests
from heat_alarming.metering.snapshot import restore_snapshot
from tests.support.databases import DATABASES, database_url

T0 = 1_767_225_600.0  # a whole hour
BEAT = 5.0
PROJECTS = [f"p{i}" for i in range(20)]


@pytest.fixture(params=DATABASES)
def url(request, tmp_path):
    return database_url(request.param, tmp_path, request)


class Cluster:
    """Workers on one alarm database and one clock; closes what it opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clock = ManualClock(T0 - 2 * BEAT)
        self.alarm_stores: list[AlarmStore] = []

    def worker(self, name: str, *, join_grace: bool = True, store=None, **kwargs) -> Worker:
        alarm_store = AlarmStore(self.url)
        self.alarm_stores.append(alarm_store)
        store = store or RollingStore(10, 3600, clock=self.clock)
        evaluator = Evaluator(store, alarm_store, clock=self.clock)
        worker = Worker(store, evaluator, worker_id=name, heartbeat_interval=BEAT,
                        join_grace=join_grace, clock=self.clock, **kwargs)
        worker.coordinate()
        return worker

    def close(self) -> None:
        for alarm_store in self.alarm_stores:
            alarm_store.close()


@pytest.fixture
def cluster(url):
    cluster = Cluster(url)
    yield cluster
    cluster.close()


def define(worker: Worker) -> None:
    worker.evaluator.define_many(
        {"alarm_id": f"alarm-{p}", "name": f"cpu-{p}", "project_id": p,
         "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                            "comparison_operator": "gt", "period": 60,
                            "evaluation_periods": 2}}
        for p in PROJECTS)


def step(*workers: Worker) -> None:
    for worker in workers:
        worker.coordinate()


def minute(index: int, value: float = 90.0) -> list[Sample]:
    return [Sample("cpu_util", value, "vm", timestamp=T0 + index * 60 + s) for s in (5, 25, 45)]


def counts(worker: Worker, project: str, minutes: int) -> list[int]:
    stats = worker.store.statistics("cpu_util", period=60, start=T0, end=T0 + minutes * 60,
                                    aggregates=["count"], project_id=project)
    return stats.count.tolist()


def transitions(worker: Worker, alarm_id: str) -> list[str]:
    return [h.current for h in worker.evaluator.history(alarm_id) if h.type == "state transition"]


def owned_by(name: str, live=("w1", "w2")) -> str:
    return next(p for p in PROJECTS if owner(p, list(live)) == name)


def started(cluster: Cluster) -> tuple[Worker, Worker]:
    """Two workers past their joining grace, with the alarms defined."""
    w1, w2 = cluster.worker("w1"), cluster.worker("w2")
    define(w1)
    cluster.clock.set(T0)
    step(w1, w2)
    return w1, w2


def test_two_workers_split_the_projects_and_each_alarm_has_one_evaluator(cluster):
    w1, w2 = started(cluster)
    mine, theirs = w1.evaluator.evaluated_ids(), w2.evaluator.evaluated_ids()
    assert mine and theirs, "the projects are spread over both workers"
    assert not mine & theirs
    assert mine | theirs == {f"alarm-{p}" for p in PROJECTS}
    for p in PROJECTS:
        assert (f"alarm-{p}" in mine) == (owner(p, ["w1", "w2"]) == "w1")
    # a sample pushed to either worker reaches the owner only, once
    project = owned_by("w2")
    w1.push_samples(project, minute(0))
    w2.push_samples(project, minute(1))
    step(w1, w2)
    assert counts(w2, project, 2) == [3, 3] and len(w1.store) == 0


def test_a_joining_worker_evaluates_nothing_during_its_grace(cluster):
    w1 = cluster.worker("w1", join_grace=False)
    define(w1)
    step(w1)
    assert len(w1.evaluator.evaluated_ids()) == len(PROJECTS)
    w2 = cluster.worker("w2")
    share = {f"alarm-{p}" for p in PROJECTS if owner(p, ["w1", "w2"]) == "w2"}
    assert w2.evaluator.evaluated_ids() == set(), "not during its first two heartbeats"
    step(w1)
    assert not w1.evaluator.evaluated_ids() & share, "w1 saw it join and dropped its share"
    cluster.clock.advance(BEAT)
    step(w1, w2)
    assert w2.evaluator.evaluated_ids() == set()
    cluster.clock.advance(BEAT)
    step(w1, w2)
    assert w2.evaluator.evaluated_ids() == share


def test_a_joining_worker_publishes_only_once_its_tail_has_caught_up(cluster):
    w1 = cluster.worker("w1", join_grace=False)
    define(w1)
    project = owned_by("w2")
    cluster.clock.set(T0 + 170)
    for index in range(3):                       # one batch a sample: 9 batches
        for sample in minute(index):
            w1.push_samples(project, [sample])
    w2 = cluster.worker("w2")
    w2.tail_batches = 2                          # reads far shorter than the journal
    cluster.clock.set(T0 + 180.5)
    step(w1, w2)
    assert f"alarm-{project}" in w2.evaluator.evaluated_ids()
    assert counts(w2, project, 3) == [3, 3, 3], "the whole journal before publishing"
    w2.evaluator.evaluate()
    assert w2.evaluator.get(f"alarm-{project}").state == "alarm"


def test_a_dead_workers_projects_move_with_the_journal_replayed_once_before_any_round(
        cluster, monkeypatch):
    w1, w2 = started(cluster)
    project = owned_by("w2")
    alarm_id = f"alarm-{project}"
    cluster.clock.set(T0 + 50)
    w1.push_samples(project, minute(0))          # journalled by w1, tailed by w2
    step(w2)
    cluster.clock.set(T0 + 110)
    w2.push_samples(project, minute(1))          # ingested by w2 at once
    step(w2)                                     # w2's last heartbeat
    cluster.clock.set(T0 + 120.5)
    w2.evaluator.evaluate()
    assert w2.evaluator.get(alarm_id).state == "alarm"
    # w2 dies here. A spy on w1's store (the real store underneath) notes, at each
    # ingest of the project, whether w1's evaluator would already evaluate its alarm.
    evaluated_while_replaying = []
    ingest = w1.store.ingest_batch

    def spying(batch):
        if project in batch.projects():
            evaluated_while_replaying.append(alarm_id in w1.evaluator.evaluated_ids())
        return ingest(batch)
    monkeypatch.setattr(w1.store, "ingest_batch", spying)

    cluster.clock.set(T0 + 119.9)
    step(w1)
    assert alarm_id not in w1.evaluator.evaluated_ids(), "alive for two heartbeats"
    cluster.clock.set(T0 + 120.5)
    step(w1)
    assert alarm_id in w1.evaluator.evaluated_ids()
    assert w1.evaluator.evaluated_ids() == {f"alarm-{p}" for p in PROJECTS}
    assert evaluated_while_replaying == [False, False], "replayed, then published"
    assert counts(w1, project, 2) == [3, 3], "each journalled batch exactly once"
    assert w1.evaluator.evaluate() == [], "its first round sees the whole window"
    assert w1.evaluator.get(alarm_id).state == "alarm", "the state w2 committed"
    cluster.clock.set(T0 + 170)
    w1.push_samples(project, minute(2))
    step(w1)
    cluster.clock.set(T0 + 180.5)
    w1.evaluator.evaluate()
    assert counts(w1, project, 3) == [3, 3, 3]
    assert transitions(w1, alarm_id) == ["alarm"], "never through insufficient data"


def test_a_worker_that_comes_back_takes_its_share_again_each_sample_once(cluster):
    w1, w2 = started(cluster)
    project = owned_by("w2")
    cluster.clock.set(T0 + 50)
    w1.push_samples(project, minute(0))
    step(w1, w2)
    cluster.clock.set(T0 + 60 + 2 * BEAT + 1)    # w2 died after its heartbeat at T0+50
    step(w1)
    assert f"alarm-{project}" in w1.evaluator.evaluated_ids()
    w1.push_samples(project, minute(1))          # w1 owns it: ingested at once

    cluster.clock.set(T0 + 130)
    back = cluster.worker("w2")                  # restarted: empty store, join grace
    step(w1)
    assert f"alarm-{project}" not in w1.evaluator.evaluated_ids(), "w1 gives it back"
    assert counts(back, project, 2) == [3, 3], "replayed during the grace"
    assert back.evaluator.evaluated_ids() == set()
    cluster.clock.advance(2 * BEAT)
    step(w1, back)
    assert f"alarm-{project}" in back.evaluator.evaluated_ids()
    cluster.clock.set(T0 + 170)
    back.push_samples(project, minute(2))        # ingested by w2 at once
    step(w1, back)
    cluster.clock.set(T0 + 170 + 2 * BEAT + 1)   # w2 dies again: the project returns
    step(w1)
    assert f"alarm-{project}" in w1.evaluator.evaluated_ids()
    assert counts(w1, project, 3) == [3, 3, 3], "what w1 still held is not replayed"


def test_a_restored_snapshot_and_its_bookkeeping_count_each_batch_once(cluster, tmp_path):
    path = str(tmp_path / "store.snapshot")
    first = cluster.worker("w1", join_grace=False, snapshot_path=path)
    define(first)
    step(first)
    project = PROJECTS[0]
    journal = SampleJournal(first.alarm_store, clock=cluster.clock)
    cluster.clock.set(T0 + 110)
    first.push_samples(project, minute(0))       # ingested at once, not yet tailed past
    journal.append(project, SampleBatch.from_samples(
        minute(1), cluster.clock(), project))                # another worker's push
    assert first.snapshot() > 0                  # holds minute 0, and says so
    step(first)
    assert counts(first, project, 2) == [3, 3]
    # first crashes; the snapshot on disk is what it left
    store, extra = restore_snapshot(path, clock=cluster.clock)
    bookkeeping = Bookkeeping.from_extra(extra, path)
    assert bookkeeping.own_batches and project in bookkeeping.left
    again = cluster.worker("w1", join_grace=False, store=store, bookkeeping=bookkeeping,
                           snapshot_path=path)
    assert counts(again, project, 2) == [3, 3], "the journal added only what came after"
    assert again.journal_position == first.journal_position
    again.stop()                                 # the shutdown snapshot, once
    os.remove(path)
    again.stop()
    assert not os.path.exists(path), "a second stop writes no snapshot (nor leaves again)"


@pytest.mark.parametrize("extra", [{}, {"journal_position": "x", "own_batches": [],
                                        "left": {}, "owned": []},
                                   {"journal_position": 3, "own_batches": 7, "left": {},
                                    "owned": []}])
def test_a_snapshot_without_usable_bookkeeping_is_refused(extra, caplog):
    assert Bookkeeping.from_extra(extra, "some/path") is None
    assert "no usable journal position" in caplog.text


def test_the_bookkeeping_round_trips_and_owned_projects_count_as_left():
    book = Bookkeeping(12, {13: "p1", 14: "p2"}, {"p3": (4, frozenset({5}))})
    again = Bookkeeping.from_extra(book.to_extra(["p1"]))
    assert again.position == 12 and again.own_batches == {13: "p1", 14: "p2"}
    assert again.left == {"p3": (4, frozenset({5})), "p1": (12, frozenset({13}))}


# -- a message journalled twice -------------------------------------------------------
def ids_of(index: int) -> list[str]:
    return [f"msg-{index}-{s}" for s in (5, 25, 45)]


def test_a_message_journalled_by_two_workers_is_taken_once_by_its_owner(cluster):
    # a worker killed between journalling a notification and acknowledging it: the bus
    # hands the notification to another worker, which journals the same messages again
    w1, w2 = started(cluster)
    project = owned_by("w2")
    w1.push_samples(project, minute(0), ids_of(0))
    w1.push_samples(project, minute(0), ids_of(0))   # the redelivered copy
    w2.push_samples(project, minute(0), ids_of(0))   # ... or a copy the owner takes
    w2.push_samples(project, minute(1), ids_of(1))
    step(w1, w2)
    assert counts(w2, project, 2) == [3, 3]
    assert w2.duplicates == 6
    # samples without ids (signals) are never taken for copies of each other
    w1.push_samples(project, minute(1))
    step(w2)
    assert counts(w2, project, 2) == [3, 6]


def test_ids_are_compared_within_a_project_only(cluster):
    w1, w2 = started(cluster)
    a, b = owned_by("w2"), [p for p in PROJECTS if owner(p, ["w1", "w2"]) == "w2"][1]
    w1.push_samples(a, minute(0), ids_of(0))
    w1.push_samples(b, minute(0), ids_of(0))         # the same ids, another project
    step(w2)
    assert counts(w2, a, 1) == [3] and counts(w2, b, 1) == [3]


def test_a_take_over_replays_both_copies_and_takes_one(cluster):
    w1, w2 = started(cluster)
    project = owned_by("w2")
    w2.push_samples(project, minute(0), ids_of(0))
    w1.push_samples(project, minute(0), ids_of(0))   # journalled twice before w2 dies
    step(w2)
    assert counts(w2, project, 1) == [3]
    cluster.clock.set(T0 + 2.5 * BEAT)               # w2 silent for more than two beats
    step(w1)
    assert counts(w1, project, 1) == [3], "the survivor's replay takes the first copy"
    assert w1.duplicates == 3


def test_recent_ids_remember_a_bounded_number_per_project():
    recent = RecentIds(per_project=4)
    ids = id_digests([f"m{i}" for i in range(6)])
    assert recent.fresh("p", ids).all()
    assert recent.fresh("p", ids[2:]).sum() == 0, "the newest four are remembered"
    assert recent.fresh("p", ids[:2]).all(), "the oldest two were forgotten"
    again = id_digests(["x", "x", None, None])
    assert recent.fresh("p", again).tolist() == [True, False, True, True]
    recent.forget("p")
    assert recent.fresh("p", ids[5:]).all()
