"""One project's slow or dead action targets never delay another project's actions.

Library level: a real RollingStore, Evaluator, AlarmStore (SQLite and PostgreSQL) and
Dispatcher, real HTTP servers on 127.0.0.1 (tests/support/http_servers.py). Project A's
webhooks hang until the notifier's timeout; project B's in-process action and B's fast
webhook must arrive within BOUND of B's transition, far below A's timeout. Delivery times
are read from the records (time.time() when the target got the call), never from a
sleep. These tests post to loopback webhooks.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from heat_alarming.engine.alarm import Alarm
from heat_alarming.engine.alarm_store import AlarmStore, Notification
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.notifiers.dispatcher import Dispatcher
from heat_alarming.metering import ManualClock, RollingStore, Sample
from tests.support.databases import DATABASES, database_url
from tests.support.http_servers import Webhook, loopback_notifiers

T0 = 1_699_999_200.0
TIMEOUT = 3.0        # the notifier's timeout: how long each of A's calls hangs
BOUND = 1.0          # B's actions arrive within this of B's transition
A, B = "project-a", "project-b"


@pytest.fixture(params=DATABASES)
def alarm_store(request, tmp_path):
    store = AlarmStore(database_url(request.param, tmp_path, request))
    yield store
    store.close()


@pytest.fixture
def dead():
    """A webhook that answers nothing until the test ends: each call runs into TIMEOUT."""
    hook = Webhook()
    hook.gate = threading.Event()
    yield hook
    hook.close()


@pytest.fixture
def fast():
    hook = Webhook()
    yield hook
    hook.close()


class World:
    """An evaluator whose notifier times out after TIMEOUT, a recording inproc target."""

    def __init__(self, alarm_store: AlarmStore) -> None:
        self.clock = ManualClock(T0)
        self.store = RollingStore(10, 3600, clock=self.clock)
        manager = loopback_notifiers(timeout=TIMEOUT)
        self.dispatcher = Dispatcher(alarm_store, manager)
        self.evaluator = Evaluator(self.store, alarm_store, notifiers=manager,
                                   dispatcher=self.dispatcher)
        self.received: list[tuple[float, dict]] = []
        self.evaluator.register_target(
            "b-target", lambda payload: self.received.append((time.time(), payload)))

    def alarm(self, project: str, name: str, action: str) -> Alarm:
        return self.evaluator.define({
            "name": name, "project_id": project, "alarm_actions": [action],
            "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                               "comparison_operator": "gt", "period": 10,
                               "evaluation_periods": 1}})

    def high_cpu(self, project: str, at: float) -> None:
        self.store.add(Sample("cpu_util", 90.0, f"vm-{project}", project_id=project,
                              timestamp=at))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_project_whose_webhooks_hang_never_delays_another_projects_actions(
        alarm_store, dead, fast):
    world = World(alarm_store)
    for i in range(20):
        world.alarm(A, f"a-{i}", dead.url)
    world.alarm(B, "b-inproc", "inproc://b-target")
    world.alarm(B, "b-hook", fast.url)
    world.dispatcher.start()
    try:
        # A's 20 alarms fire first; their webhooks take threads and hang
        world.high_cpu(A, T0 + 1)
        world.clock.set(T0 + 10.5)
        assert len(world.evaluator.evaluate()) == 20
        wait_for(lambda: len(dead.requests) >= 2, 10, "A's webhooks to be called")
        # then B's alarms fire, while A's calls are still hanging
        world.high_cpu(B, T0 + 11)
        world.clock.set(T0 + 20.5)
        transition = time.time()
        assert {t["alarm_name"] for t in world.evaluator.evaluate()} == {"b-inproc", "b-hook"}
        wait_for(lambda: world.received and fast.requests, 6 * TIMEOUT, "B's actions")
        inproc_delay = world.received[0][0] - transition
        hook_delay = fast.requests[0]["at"] - transition
        assert inproc_delay < BOUND, f"B's in-process action waited {inproc_delay:.2f} s"
        assert hook_delay < BOUND, f"B's webhook waited {hook_delay:.2f} s"
        assert not any(r["body"]["alarm_name"].startswith("b-") for r in dead.requests)
        # A holds at most its share of the delivery threads, its rows stay queued
        assert len(dead.requests) <= world.dispatcher.workers_per_project
        assert alarm_store.pending_count() >= 20 - world.dispatcher.workers_per_project
    finally:
        dead.gate.set()
        world.dispatcher.stop()


def test_a_project_flooding_the_queue_never_fills_the_claim_batch(alarm_store, dead):
    """A's 1,000 due rows, all older than B's one, must not keep B's out of the claim."""
    alarm_store.save_alarms([
        Alarm.from_dict({"alarm_id": "alarm-a", "name": "a", "project_id": A,
                         "threshold_rule": {"meter_name": "m", "threshold": 1}}),
        Alarm.from_dict({"alarm_id": "alarm-b", "name": "b", "project_id": B,
                         "threshold_rule": {"meter_name": "m", "threshold": 1}})])
    flood = [Notification(str(uuid.uuid4()), "alarm-a", f"{dead.url}?{i}", {"n": i},
                          next_attempt=0.0, created=0.0) for i in range(1000)]
    alarm_store.commit_round([], [], flood)
    alarm_store.commit_round([], [], [Notification("b-key", "alarm-b", "inproc://b-target",
                                                   {"n": "b"}, next_attempt=1.0,
                                                   created=1.0)])
    received: list[float] = []
    manager = loopback_notifiers(timeout=TIMEOUT)
    manager.register_target("b-target", lambda payload: received.append(time.time()))
    dispatcher = Dispatcher(alarm_store, manager, clock=lambda: 10.0)
    queued = time.time()
    dispatcher.start()
    try:
        wait_for(lambda: received, 6 * TIMEOUT, "B's action")
        assert received[0] - queued < BOUND, f"B waited {received[0] - queued:.2f} s"
        assert len(dead.requests) <= dispatcher.workers_per_project
    finally:
        dead.gate.set()
        dispatcher.stop()


def test_one_claim_takes_every_projects_oldest_rows_before_anyones_next(alarm_store):
    alarm_store.save_alarms([Alarm.from_dict({
        "alarm_id": f"alarm-{p}", "name": p, "project_id": p,
        "threshold_rule": {"meter_name": "m", "threshold": 1}}) for p in "abc"])
    rows = [Notification(str(uuid.uuid4()), "alarm-a", "http://127.0.0.1:9/a", {},
                         next_attempt=float(i), created=0.0) for i in range(500)]
    rows += [Notification(str(uuid.uuid4()), f"alarm-{p}", f"http://127.0.0.1:9/{p}", {},
                          next_attempt=600.0, created=0.0) for p in "bc"]
    rows += [Notification(str(uuid.uuid4()), "alarm-c", "inproc://c", {},
                          next_attempt=700.0, created=0.0)]
    alarm_store.commit_round([], [], rows)
    claimed = alarm_store.claim_notifications(1000.0, 120.0, limit=6, per_project=2)
    by_lane = sorted((n.project_id, n.in_process) for n in claimed)
    assert by_lane == [("a", False), ("a", False), ("b", False), ("c", False),
                       ("c", True)], "two of a's 500, then everybody else's"
    # a second deliverer sharing the store claims only what the first did not
    again = alarm_store.claim_notifications(1000.0, 120.0, limit=6, per_project=2)
    assert {n.id for n in again}.isdisjoint(n.id for n in claimed)
    assert [n.project_id for n in again] == ["a", "a"]


def test_dispatchers_of_several_workers_deliver_each_notification_once(alarm_store, fast):
    url = alarm_store.url
    stores = [alarm_store] + [AlarmStore(url) for _ in range(2)]
    projects = [f"p{i}" for i in range(5)]
    alarm_store.save_alarms([Alarm.from_dict({
        "alarm_id": f"alarm-{p}", "name": p, "project_id": p,
        "threshold_rule": {"meter_name": "m", "threshold": 1}}) for p in projects])
    keys = [f"{p}-{i}" for p in projects for i in range(12)]
    alarm_store.commit_round([], [], [Notification(key, f"alarm-{key.split('-')[0]}",
                                                   fast.url, {}, next_attempt=0.0,
                                                   created=0.0) for key in keys])
    dispatchers = [Dispatcher(store, loopback_notifiers(), poll_interval=0.05).start()
                   for store in stores]
    try:
        wait_for(lambda: alarm_store.pending_count() == 0, 60, "every delivery")
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        for store in stores[1:]:
            store.close()
    delivered = sorted(r["headers"]["X-Idempotency-Key"] for r in fast.requests)
    assert delivered == sorted(keys)
