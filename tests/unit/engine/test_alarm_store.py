"""The alarm store behaves the same on SQLite and on real PostgreSQL and MariaDB servers."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from heat_alarming.engine.alarm import ALARM, OK, Alarm
from heat_alarming.engine.alarm_store import (
    SAVE_BATCH,
    AlarmStore,
    HistoryEntry,
    Notification,
    UnknownMarker,
)
from heat_alarming.engine.notifiers import NotifierManager, NotifierSettings
from heat_alarming.engine.notifiers.destinations import DestinationPolicy
from heat_alarming.engine.notifiers.dispatcher import Dispatcher
from tests.support.databases import DATABASES, SCHEMA_HEAD, database_url
from tests.support.http_servers import Webhook, free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    return database_url(request.param, tmp_path, request)


@pytest.fixture
def alarm_store(database):
    store = AlarmStore(database)
    yield store
    store.close()


def make_alarm(**fields):
    data = {"name": "cpu-high", "project_id": "p1",
            "threshold_rule": {"meter_name": "cpu_util", "threshold": 75,
                               "comparison_operator": "gt", "evaluation_periods": 3,
                               "matching_metadata": {"server_group": "web"}},
            "alarm_actions": ["http://127.0.0.1:9/hook"],
            "time_constraints": [{"name": "office", "start": "0 9 * * 1-5",
                                  "duration": 3600, "timezone": "Europe/Paris"}]}
    data.update(fields)
    return Alarm.from_dict(data)


def entry(alarm_id, event, when, current=ALARM):
    return HistoryEntry(event, alarm_id, "state transition", when, OK, current,
                        f"reason {event}", {"type": "threshold", "count": 3}, "low")


def test_the_schema_is_created_by_migrations_and_upgrading_again_is_harmless(alarm_store):
    assert alarm_store.schema_version() == SCHEMA_HEAD
    alarm_store.upgrade()
    tables = set(sa.inspect(alarm_store.engine).get_table_names())
    assert {"ha_alarms", "ha_alarm_history", "ha_notifications"} <= tables


def test_alarms_round_trip_with_definition_and_state(alarm_store):
    threshold = make_alarm()
    threshold.state, threshold.state_reason, threshold.state_timestamp = ALARM, "why", 12.5
    alarm_store.save_alarm(threshold)
    combo = Alarm.from_dict({"name": "combo", "composite_rule": {
        "or": [{"alarm_id": threshold.alarm_id},
               {"meter_name": "mem", "threshold": 1, "comparison_operator": "lt"}]}})
    alarm_store.save_alarm(combo)
    loaded = {a.alarm_id: a for a in alarm_store.load_alarms()}
    again = loaded[threshold.alarm_id]
    assert again.definition() == threshold.definition()
    assert (again.state, again.state_reason, again.state_timestamp) == (ALARM, "why", 12.5)
    assert loaded[combo.alarm_id].definition() == combo.definition()
    threshold.description = "changed"
    alarm_store.save_alarm(threshold)
    assert len(alarm_store.load_alarms()) == 2


def test_many_alarms_are_saved_in_batches_of_one_transaction_all_or_none(alarm_store):
    many = [make_alarm(alarm_id=f"a{i:05d}", name=f"n{i}") for i in range(SAVE_BATCH + 2)]
    alarm_store.save_alarms(many[:3])
    for alarm in many[:3]:
        alarm.description = "redefined"
    alarm_store.save_alarms(many)  # three redefinitions, then more than a batch of new
    loaded = sorted(alarm_store.load_alarms(), key=lambda a: a.alarm_id)
    assert [a.definition() for a in loaded] == [a.definition() for a in many]
    clash = [make_alarm(alarm_id=f"b{i:05d}") for i in range(SAVE_BATCH + 1)]
    clash.append(make_alarm(alarm_id=clash[0].alarm_id))  # its batch fails, the last
    with pytest.raises(sa.exc.IntegrityError):
        alarm_store.save_alarms(clash)
    assert len(alarm_store.load_alarms()) == len(many), "no batch of it was kept"


def test_a_round_is_written_all_or_nothing(alarm_store):
    alarm = make_alarm()
    alarm_store.save_alarm(alarm)
    alarm_store.commit_round([], [entry(alarm.alarm_id, "e1", 1.0)], [])
    alarm.state = ALARM
    note = Notification("e2", alarm.alarm_id, "log://", {"current": ALARM}, 0.0, 0.0)
    with pytest.raises(sa.exc.IntegrityError):  # e1 again: the history insert fails
        alarm_store.commit_round([alarm], [entry(alarm.alarm_id, "e1", 2.0)], [note])
    (stored,) = alarm_store.load_alarms()
    assert stored.state != ALARM, "the state update was rolled back with the history"
    assert alarm_store.pending_count() == 0


def test_history_is_newest_first_limited_and_pruned(alarm_store):
    for i in range(5):
        alarm_store.record([entry("a1", f"e{i}", float(i))])
    alarm_store.record([entry("a2", "other", 9.0)])
    assert [h.event_id for h in alarm_store.history("a1", limit=3)] == ["e4", "e3", "e2"]
    assert alarm_store.history("a1")[0].reason_data == {"type": "threshold", "count": 3}
    assert alarm_store.prune_history(older_than=3.0) == 3
    assert [h.event_id for h in alarm_store.history("a1")] == ["e4", "e3"]


def test_history_pages_by_marker_without_repeats_or_gaps(alarm_store):
    # two events share a timestamp: the row id orders them, so no page splits them wrongly
    for i, when in enumerate([1.0, 2.0, 2.0, 3.0, 4.0]):
        alarm_store.record([entry("a1", f"e{i}", when)])
    alarm_store.record([entry("a2", "other", 2.0)])
    pages, marker = [], None
    while True:
        page = alarm_store.history("a1", limit=2, marker=marker)
        if not page:
            break
        pages.append([h.event_id for h in page])
        marker = page[-1].event_id
    assert pages == [["e4", "e3"], ["e2", "e1"], ["e0"]]
    # an event recorded meanwhile, newer than every page, does not shift a later page
    alarm_store.record([entry("a1", "e5", 5.0)])
    assert [h.event_id for h in alarm_store.history("a1", limit=2, marker="e3")] == ["e2", "e1"]


def test_a_history_marker_of_another_alarm_is_refused(alarm_store):
    alarm_store.record([entry("a1", "e0", 1.0), entry("a2", "theirs", 1.0)])
    with pytest.raises(UnknownMarker, match="'theirs': no such event in the history of alarm a1"):
        alarm_store.history("a1", marker="theirs")


def test_notifications_wait_retry_and_go(alarm_store):
    notes = [Notification(f"k{i}", "a1", "log://", {"n": i}, next_attempt=float(i),
                          created=0.0) for i in range(3)]
    alarm_store.commit_round([], [], notes)
    due = alarm_store.due_notifications(1.5)
    assert [n.idempotency_key for n in due] == ["k0", "k1"]
    alarm_store.notification_retry(due[0].id, 1, 10.0, "HTTP 503")
    assert [n.idempotency_key for n in alarm_store.due_notifications(5.0)] == ["k1", "k2"]
    assert alarm_store.next_notification_time() == 1.0
    alarm_store.notification_delivered(due[1].id)
    assert alarm_store.pending_count() == 2
    assert alarm_store.due_notifications(1e9, skip=[due[0].id])[0].idempotency_key == "k2"


def test_deleting_an_alarm_removes_its_history_and_notifications(alarm_store):
    alarm = make_alarm()
    alarm_store.save_alarm(alarm)
    alarm_store.commit_round([], [entry(alarm.alarm_id, "e1", 1.0)], [
        Notification("k", alarm.alarm_id, "log://", {}, 0.0, 0.0)])
    assert alarm_store.delete_alarm(alarm.alarm_id)
    assert alarm_store.load_alarms() == [] and alarm_store.history(alarm.alarm_id) == []
    assert alarm_store.pending_count() == 0


CHILD = textwrap.dedent("""
    import sys
    from heat_alarming.engine.alarm_store import AlarmStore
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.engine.notifiers import NotifierManager, NotifierSettings
    from heat_alarming.engine.notifiers.destinations import DestinationPolicy
    from heat_alarming.metering import ManualClock, RollingStore
    import numpy as np
    url, action = sys.argv[1], sys.argv[2]
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    # its webhook is on this host, which the default destination policy refuses
    evaluator = Evaluator(store, AlarmStore(url), notifiers=NotifierManager(NotifierSettings(
        policy=DestinationPolicy(allow_loopback=True))))
    rows = np.array([store.series_id("cpu", f"vm{i}") for i in range(300)])
    for i in range(300):
        evaluator.define({"alarm_id": f"alarm-{i:03d}", "name": f"a{i}",
                          "alarm_actions": [action], "ok_actions": [action],
                          "threshold_rule": {"meter_name": "cpu", "threshold": 50,
                                             "comparison_operator": "gt", "period": 60,
                                             "query": [{"field": "resource_id", "op": "eq",
                                                        "value": f"vm{i}"}]}})
    print("defined", flush=True)
    k = 0
    while True:
        value = 80.0 if k % 2 else 20.0
        store.ingest_arrays(rows, np.full(rows.size, clock() + 1.0), np.full(rows.size, value))
        clock.advance(60)
        evaluator.evaluate()
        k += 1
        print("round", k, flush=True)
""")


def test_sigkill_mid_round_keeps_every_alarm_state_and_queued_notification(database):
    port = free_port()
    action = f"http://127.0.0.1:{port}/hook"  # down while the child runs
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, database, action],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while sum(1 for line in lines if line.startswith("round")) < 3:
            line = child.stdout.readline()
            assert line, "the child died on its own"
            lines.append(line)
        time.sleep(0.05)  # somewhere inside the next round
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()

    store = AlarmStore(database)
    alarms = store.load_alarms()
    assert len(alarms) == 300, "every alarm is still defined"
    queued = store.due_notifications(1e18, limit=100_000)
    keys = {n.idempotency_key for n in queued}
    transitions = 0
    for alarm in alarms:
        history = store.history(alarm.alarm_id, limit=1000)
        transitions += len(history)
        assert history, f"{alarm.alarm_id} made at least one transition"
        assert alarm.state == history[0].current, "state and history agree: whole rounds"
        assert {h.event_id for h in history} <= keys, "each transition's notification queued"
    assert len(queued) == transitions
    rounds = transitions // 300
    assert transitions % 300 == 0 and rounds >= 3, "rounds are committed whole"

    hook = Webhook(port=port)
    try:
        dispatcher = Dispatcher(store, NotifierManager(NotifierSettings(
            policy=DestinationPolicy(allow_loopback=True))), workers=8)
        while dispatcher.deliver_due():
            pass
        assert len(hook.requests) == transitions and store.pending_count() == 0
    finally:
        hook.close()
        store.close()


def test_an_evaluator_runs_on_each_database(database):
    from heat_alarming.engine.evaluator import Evaluator
    from heat_alarming.metering import ManualClock, RollingStore, Sample
    clock = ManualClock(1_699_999_200.0)
    store = RollingStore(10, 3600, clock=clock)
    evaluator = Evaluator(store, AlarmStore(database))
    alarm = evaluator.define({"name": "x", "threshold_rule": {
        "meter_name": "m", "threshold": 1, "comparison_operator": "gt", "period": 60}})
    store.add(Sample("m", 5.0, "r", timestamp=clock() + 1))
    clock.advance(61)
    evaluator.evaluate()
    (record,) = evaluator.history(alarm.alarm_id)
    assert record.current == ALARM
    assert AlarmStore(database).load_alarms()[0].state == ALARM


def test_an_in_memory_store_is_one_database_that_threads_take_turns_on():
    """``sqlite://`` lives in one connection: a thread writing and one reading at the
    same time each finish their transaction (they once shared it mid-transaction)."""
    import threading

    store = AlarmStore("sqlite://")
    errors = []

    def write():
        try:
            for k in range(200):
                store.save_alarms([make_alarm(alarm_id=f"a{k}")])
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    seen = 0
    while writer.is_alive():
        seen = len(store.load_alarms())
    writer.join()
    assert errors == []
    assert seen <= 200 and len(store.load_alarms()) == 200
    store.close()
